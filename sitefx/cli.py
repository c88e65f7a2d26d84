"""Command line: ``sitefx fit SOURCE --out DIR``.

Exit codes: 0 success; 2 bad input (a short message, no traceback); 3 a diagnostic failed
under ``--strict`` (the files are written all the same); 1 anything else (e.g. refits that
failed on every try, named).
"""

import argparse
import dataclasses
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

from sitefx.batch import fit_many, jobs_for
from sitefx.calibration import calibrate, check_replicates
from sitefx.data.adapters import Roles, Study, load
from sitefx.data.partitioned import load_statistics, out_of_core
from sitefx.data.schema import SiteSummaries
from sitefx.errors import (
    DataDropWarning,
    DataReadWarning,
    IgnoredOptionWarning,
    PriorSpecError,
    SamplingWarning,
    SitefxInputError,
)
from sitefx.estimands import check_outcome_sd, check_threshold
from sitefx.estimator import OUTPUT_FILES, SiteEffects
from sitefx.historical import describe as describe_borrowing
from sitefx.models.priors import given_prior
from sitefx.parallel import TaskFailedError, Workers
from sitefx.report import headline_sentences, summary_text, write_report
from sitefx.report.document import describe_method
from sitefx.report.folders import (
    MANIFEST,
    check_destination,
    input_files,
    output_folder,
    read_fit,
    write_csv,
)
from sitefx.report.sensitivity import describe_sensitivity, sensitivity_warnings
from sitefx.sensitivity.files import write_sensitivity
from sitefx.spec import PRIOR_FLAGS, ModelSpec

EXIT_BAD_INPUT = 2
EXIT_DIAGNOSTICS = 3
OBSERVATIONAL = (
    "OBSERVATIONAL: treatment was not randomized; effects are comparisons adjusted for the "
    "covariates given, and causal only if those remove all confounding"
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``sitefx`` command line.

    The commands are ``fit``, ``sensitivity``, ``fit-many``, ``calibrate`` and ``report``;
    ``sitefx COMMAND --help`` lists each one's flags.

    Returns
    -------
    argparse.ArgumentParser
        The parser; ``args.command`` names the command given.

    Examples
    --------
    >>> args = build_parser().parse_args(
    ...     ["fit", "studies/eight_schools", "--out", "out/es", "--prior-tau", "half-cauchy(5)"]
    ... )
    >>> args.command, args.source, args.out, args.prior_tau
    ('fit', 'studies/eight_schools', 'out/es', 'half-cauchy(5)')
    """
    parser = argparse.ArgumentParser(
        prog="sitefx",
        description="Bayesian hierarchical models of site-varying treatment effects.",
    )
    parser.add_argument("--version", action="version", version=f"sitefx {version('sitefx')}")
    commands = parser.add_subparsers(dest="command", required=True)
    _fit_command(
        commands,
        "fit",
        help="fit a study and write posterior.nc, summary.csv and forest.png",
        description="Fit site-varying treatment effects. SOURCE is a study folder (data + "
        "study.toml) or a data file (.csv, .csv.gz, .parquet, .dta, .sav); flags override "
        "study.toml.",
    )
    sensitivity = _fit_command(
        commands,
        "sensitivity",
        help="prior grid, power-scaling and leave-one-site-out for a study",
        description="Fit the model (as 'sitefx fit', same flags), then refit it under a grid "
        "of priors for mu and tau, compute power-scaling sensitivity, and leave each site out "
        "(site summaries). Writes the fit, the sensitivity tables and plots to DIR; "
        "'sitefx report DIR' then includes them.",
    )
    _add_worker_options(sensitivity)
    grid = sensitivity.add_argument_group("sensitivity")
    grid.add_argument(
        "--alt-tau",
        metavar="SPEC",
        action="append",
        help="an alternative tau prior for the grid (repeatable; default: a standard set)",
    )
    grid.add_argument(
        "--alt-mu",
        metavar="SPEC",
        action="append",
        help="an alternative mu prior for the grid (repeatable; default: a standard set)",
    )

    batch = commands.add_parser(
        "fit-many",
        help="fit several studies or outcomes and gather their headline numbers",
        description="Fit each SOURCE (and, with --outcomes, each outcome column of it) with "
        "the same flags as 'sitefx fit'; write each fit to DIR/<name>[-<outcome>]/ and one "
        "row per fit to DIR/overview.csv.",
    )
    batch.add_argument("sources", metavar="SOURCE", nargs="+")
    batch.add_argument("--out", required=True, metavar="DIR", help="output folder")
    batch.add_argument(
        "--outcomes", metavar="A,B", help="individual records: fit each of these outcome columns"
    )
    _add_fit_options(batch)
    _add_worker_options(batch)

    calibration = _fit_command(
        commands,
        "calibrate",
        help="simulation-based calibration of the model on a study's design",
        description="Draw parameters from the priors, simulate data of the study's design, "
        "refit, and check that true values rank uniformly among the posterior draws and that "
        "50/90/95%% intervals cover them as often as they claim (Talts et al. 2018). Takes the "
        "same flags as 'sitefx fit'; writes calibration_summary.csv, calibration_ranks.csv "
        "and calibration.png to DIR.",
    )
    calibration.add_argument_group("calibration").add_argument(
        "--replicates", type=int, default=100, help="simulated data sets (default 100)"
    )
    _add_worker_options(calibration)

    document = commands.add_parser(
        "report",
        help="write report.html and report.md from a saved fit",
        description="Build a self-contained HTML page and a Markdown report (headline "
        "sentences, estimands, plots, a row per site, data accounting, priors, diagnostics, "
        "software versions) from DIR/posterior.nc, written by 'sitefx fit'.",
    )
    document.add_argument("fit_dir", metavar="DIR", help="folder of a saved fit")
    document.add_argument("--out", metavar="DIR", help="where to write (default: DIR)")
    document.add_argument(
        "--format",
        choices=["html", "md", "both"],
        default="both",
        help="report format(s) (default both)",
    )
    _estimand_options(document)
    return parser


def _fit_command(commands, name: str, **texts: str) -> argparse.ArgumentParser:
    """Add a command that loads SOURCE and fits it: the fit flags and ``--out DIR``."""
    parser = commands.add_parser(name, **texts)
    parser.add_argument("source", metavar="SOURCE")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _add_fit_options(parser)
    return parser


def _add_worker_options(parser: argparse.ArgumentParser) -> None:
    """Add the flags saying where the many fits of a command run (dask.distributed)."""
    group = parser.add_argument_group("parallel fits")
    group.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run the refits on a local dask cluster of N worker processes (default 1: here; "
        "at most 256)",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the refits on an existing dask cluster, e.g. tcp://10.0.0.5:8786",
    )


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    """Add the column roles, priors, model, borrowing, estimand and inference options."""
    roles = parser.add_argument_group("column roles")
    roles.add_argument("--site", metavar="COL", help="site id column")
    roles.add_argument("--estimate", metavar="COL", help="site summaries: effect estimate")
    roles.add_argument("--se", metavar="COL", help="site summaries: standard error")
    roles.add_argument("--n", metavar="COL", help="site summaries: number of people")
    roles.add_argument(
        "--moderators", metavar="A,B", help="site-level columns that may explain effect differences"
    )
    for arm in ("treated", "control"):
        roles.add_argument(f"--events-{arm}", metavar="COL", help=f"arm counts: events, {arm}")
        roles.add_argument(f"--n-{arm}", metavar="COL", help=f"arm counts: people, {arm}")
    roles.add_argument(
        "--levels",
        metavar="A,B",
        help="upper nesting levels above --site, outermost first (e.g. 'district'): a "
        "multilevel model with tau_<level>",
    )
    roles.add_argument("--outcome", metavar="COL", help="individual records: outcome")
    roles.add_argument("--treatment", metavar="COL", help="individual records: 0/1 treatment")
    roles.add_argument("--covariates", metavar="A,B", help="individual records: covariates")
    roles.add_argument(
        "--wave",
        metavar="COL",
        help="individual records: repeated measures over this numeric column (with --person); "
        "each person's growth per unit of it becomes the outcome (2 waves: gain scores, DiD)",
    )
    roles.add_argument("--person", metavar="COL", help="individual records: person id (waves)")
    roles.add_argument(
        "--family",
        choices=["gaussian", "binomial"],
        help="individual records: outcome distribution; binomial for a 0/1 outcome (log odds)",
    )
    roles.add_argument(
        "--cluster", metavar="COL", help="individual records: cluster (e.g. classroom) in a site"
    )
    roles.add_argument(
        "--treatment-levels",
        metavar="TREATED,CONTROL",
        help="read a two-level treatment column, e.g. 'small,regular'",
    )
    roles.add_argument(
        "--drop-missing",
        action="store_true",
        default=None,
        help="drop rows with missing values (reported) instead of stopping",
    )
    roles.add_argument(
        "--drop-incomplete-sites",
        action="store_true",
        default=None,
        help="drop sites with < 2 records in an arm (reported) instead of stopping",
    )

    priors = parser.add_argument_group("priors (defaults scale to the data; printed with each fit)")
    priors.add_argument("--prior-mu", metavar="SPEC", help="e.g. 'normal(0, 10)'")
    priors.add_argument(
        "--prior-tau",
        metavar="SPEC",
        help="half-normal(s), half-cauchy(s), half-t(df,s), exponential(rate), uniform(0,u), "
        "inv-gamma(a,b)",
    )
    priors.add_argument(
        "--prior",
        metavar="NAME=SPEC",
        action="append",
        default=[],
        help="prior of any other parameter, e.g. 'tau_district=half-normal(0.3)', "
        "'gamma=normal(0, 1)', 'cluster_sd=half-normal(20)'; repeatable",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--site-dist",
        choices=["normal", "student-t"],
        default="normal",
        help="distribution of site effects; student-t resists outlying sites",
    )
    model.add_argument("--site-df", type=float, help="fixed Student-t degrees of freedom")
    model.add_argument(
        "--covariate-prior",
        choices=["normal", "horseshoe"],
        default="normal",
        help="horseshoe: regularized horseshoe on the covariates (records) or moderators "
        "(summaries), for many columns of which few matter; reports kappa shrinkage factors",
    )
    model.add_argument(
        "--horseshoe-p0", type=float, metavar="P0", help="expected number of relevant columns"
    )
    model.add_argument("--slab-scale", type=float, help="horseshoe slab scale, per column SD")
    model.add_argument("--slab-df", type=float, help="horseshoe slab df (default 4)")
    model.add_argument(
        "--prior-nu", metavar="SPEC", help="Student-t df prior, default gamma(2,0.1)"
    )

    history = parser.add_argument_group("historical borrowing (for mu)")
    history.add_argument(
        "--historical",
        metavar="SOURCE",
        help="summaries of earlier studies (estimate + SE): a study folder, or a data file "
        "with the same --site/--estimate/--se columns as the current summaries",
    )
    history.add_argument(
        "--borrow",
        choices=["map", "power"],
        help="map: robust meta-analytic-predictive prior (default with --historical); "
        "power: power prior",
    )
    history.add_argument(
        "--borrow-weight",
        type=float,
        metavar="W",
        help="map: weight of the vague component (0.2); power: fixed a0 (learned if omitted)",
    )

    report = parser.add_argument_group("estimands")
    _estimand_options(report)

    parser.add_argument_group("reading").add_argument(
        "--engine",
        choices=["auto", "memory", "dask"],
        default="auto",
        help="dask: sum Gaussian records per site partition by partition (out of core); "
        "auto (default): dask for a glob, a folder of Parquet files or files over 2 GiB",
    )
    sampler = parser.add_argument_group("inference")
    sampler.add_argument(
        "--method",
        choices=["auto", "exact", "nuts"],
        default="auto",
        help="exact: quadrature, no MCMC (site summaries, normal or flat mu prior); "
        "nuts: MCMC; auto (default): exact where it applies",
    )
    sampler.add_argument("--seed", type=int, default=0, help="0 to 2**63 - 1 (default 0)")
    sampler.add_argument("--chains", type=int, default=4, help="chains (default 4; at most 1000)")
    sampler.add_argument(
        "--draws",
        type=int,
        default=1000,
        help="kept draws per chain (default 1000; chains x draws at most 10 million)",
    )
    # NUTS only (None: not given, so the exact method can say it ignores what was given)
    sampler.add_argument("--warmup", type=int, help="NUTS warm-up draws per chain (1000)")
    sampler.add_argument(
        "--target-accept", type=float, help="NUTS target acceptance (0.95; 0.99 with horseshoe)"
    )
    sampler.add_argument("--max-tree-depth", type=int, help="NUTS maximum tree depth (10; 1-20)")
    sampler.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    sampler.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 3 when a diagnostic fails (divergences, R-hat > 1.01, low ESS "
        "or E-BFMI, tree depth; for sensitivity also Pareto k > 0.7); files are still written",
    )


def _estimand_options(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--threshold",
        type=float,
        metavar="C",
        help="effect that counts as a benefit, for P(effect > C) and shares of sites (0)",
    )
    group.add_argument(
        "--outcome-sd",
        type=float,
        metavar="SD",
        help="outcome SD, to report effect sizes (records: pooled within arms by default)",
    )


def run_fit(args: argparse.Namespace) -> int:
    """Run ``sitefx fit``: load SOURCE, fit it, print the summary and save the fit to ``--out``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`), already checked by
        :func:`check_flags`.

    Returns
    -------
    int
        The exit status: 0, or 3 under ``--strict`` when a diagnostic failed (the files are
        written all the same).

    Raises
    ------
    SitefxInputError
        If ``--out`` cannot be used, or the data or options are invalid.

    Examples
    --------
    ``--out`` is checked before any work starts:

    >>> run_fit(build_parser().parse_args(["fit", "studies/eight_schools", "--out",
    ...                                    "studies/eight_schools"]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: --out studies/eight_schools: the folder holds files ...

    A fit of the eight schools (about 2 seconds, saving the plots):

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:  # doctest: +SKIP
    ...     run_fit(build_parser().parse_args(["fit", "studies/eight_schools", "--out",
    ...                                        f"{out}/fit", "--quiet"]))
    0
    """
    check_destination(args.out)
    fit, say = _fit(args)
    fit.save(args.out, command=_command(), inputs=_inputs(args))
    say(f"wrote {args.out}: " + ", ".join(OUTPUT_FILES.values()) + f", {MANIFEST}")
    return _gate(args, fit.warnings_)


def run_sensitivity(args: argparse.Namespace) -> int:
    """Run ``sitefx sensitivity``: fit as ``sitefx fit``, then write the sensitivity analyses.

    The fit's files and those of :func:`~sitefx.sensitivity.files.write_sensitivity` go to
    ``--out``, written all or nothing; the sensitivity results are summarized in plain
    language and failed diagnostics printed as warnings.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`), already checked by
        :func:`check_flags`.

    Returns
    -------
    int
        The exit status: 0, or 3 under ``--strict`` when a diagnostic of the fit or of the
        sensitivity analyses failed.

    Examples
    --------
    The refits take minutes, so this is not run as a test:

    >>> main(["sensitivity", "studies/eight_schools", "--out", "out/es"])  # doctest: +SKIP
    0
    """
    check_destination(args.out)
    fit, say = _fit(args)
    with output_folder(args.out, command=_command(), inputs=_inputs(args)) as folder:
        fit.write_files(folder)
        paths = write_sensitivity(
            fit,
            folder,
            tau_priors=args.alt_tau,
            mu_priors=args.alt_mu,
            workers=_workers(args),
            progress=_progress(args),
        )
    for line in describe_sensitivity(args.out):
        say(line)
    say(f"wrote {args.out}: " + ", ".join(path.name for path in paths.values()))
    problems = sensitivity_warnings(args.out)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return _gate(args, fit.warnings_ + problems)


def _progress(args: argparse.Namespace) -> Callable[[str], None] | None:
    """Return where long work reports its steps: standard error, unless ``--quiet``."""
    return None if args.quiet else lambda text: print(text, file=sys.stderr)


def _gate(args: argparse.Namespace, problems: list[str]) -> int:
    """Return exit status 3 under ``--strict`` when a diagnostic failed (already printed)."""
    if args.strict and problems:
        print(
            f"sitefx: {len(problems)} diagnostic(s) failed under --strict; the files are "
            f"in {args.out} for inspection",
            file=sys.stderr,
        )
        return EXIT_DIAGNOSTICS
    return 0


def run_fit_many(args: argparse.Namespace) -> int:
    """Run ``sitefx fit-many``: fit each SOURCE (and each of ``--outcomes``) alike.

    Each fit goes to ``--out/<name>[-<outcome>]/`` and one row per fit to
    ``--out/overview.csv`` (see :func:`~sitefx.batch.fit_many`), which is also printed.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`), already checked by
        :func:`check_flags`.

    Returns
    -------
    int
        The exit status: 0, or 3 under ``--strict`` when a fit had sampler warnings.

    Raises
    ------
    SitefxInputError
        If both ``--outcome`` and ``--outcomes`` are given, two fits would share a folder,
        or ``--out`` cannot be used.
    TaskFailedError
        If fits failed, naming them.

    Examples
    --------
    >>> same = ["studies/eight_schools", "studies/eight_schools/"]
    >>> run_fit_many(build_parser().parse_args(["fit-many", *same, "--out", "o"]))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: two jobs would share a folder: ['eight_schools', ...]
    """
    outcomes = [name.strip() for name in (args.outcomes or "").split(",") if name.strip()]
    if outcomes and args.outcome:
        raise SitefxInputError("give either --outcome or --outcomes, not both")
    roles = _roles(args)
    jobs = jobs_for(args.sources, outcomes, {k: v for k, v in roles.items() if v not in (None, ())})
    check_destination(args.out)
    inputs = [path for source in args.sources for path in input_files(source)]
    with output_folder(args.out, command=_command(), inputs=inputs) as folder:
        table = fit_many(
            jobs,
            _model(args, Roles.from_mapping(roles)),
            folder,
            workers=_workers(args),
            progress=_progress(args),
        )
    shown = table.drop(columns=["source", "folder"])
    print(shown.to_string(index=False, float_format=lambda value: f"{value:.3g}"))
    print(f"wrote {Path(args.out) / 'overview.csv'} and a folder per fit")
    return _gate(
        args, [f"{row.label}: sampler warnings" for row in table.itertuples() if row.warnings]
    )


def run_calibrate(args: argparse.Namespace) -> int:
    """Run ``sitefx calibrate``: simulation-based calibration of the model on the study's design.

    Writes ``calibration_summary.csv``, ``calibration_ranks.csv`` and ``calibration.png`` to
    ``--out`` and prints the summary and what it means (see :func:`sitefx.calibration.calibrate`).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`), already checked by
        :func:`check_flags`.

    Returns
    -------
    int
        The exit status, 0.

    Examples
    --------
    With 100 refits this takes minutes, so it is not run as a test:

    >>> main(["calibrate", "studies/eight_schools", "--out", "out/calibration"])  # doctest: +SKIP
    0
    """
    check_destination(args.out)
    study = _study(args)
    model = _model(args, study.roles)
    result = calibrate(
        model,
        study.data,
        replicates=args.replicates,
        seed=args.seed,
        workers=_workers(args),
        progress=_progress(args),
    )
    summary = result.summary()
    names = ["calibration_summary.csv", "calibration_ranks.csv", "calibration.png"]
    with output_folder(args.out, command=_command(), inputs=_inputs(args)) as folder:
        write_csv(summary, folder / names[0])
        write_csv(result.ranks, folder / names[1])
        result.plot().savefig(folder / names[2], dpi=130)
    shown = summary.drop(columns=["verdict"])
    print(shown.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    print("\n".join(result.explain()))
    print(f"wrote {args.out}: " + ", ".join(names))
    return 0


def _roles(args: argparse.Namespace) -> dict[str, object]:
    """Return the column roles the flags give."""
    levels = None
    if args.treatment_levels:
        names = [name.strip() for name in args.treatment_levels.split(",")]
        if len(names) != 2:
            raise SitefxInputError("--treatment-levels takes TREATED,CONTROL, e.g. 'small,regular'")
        levels = {names[0]: 1, names[1]: 0}
    roles = {f.name: getattr(args, f.name) for f in dataclasses.fields(Roles) if f.name in args}
    return roles | {"treatment_levels": levels}


def _study(args: argparse.Namespace) -> Study:
    """Load the study the flags name, with their column roles."""
    roles = _roles(args)
    if out_of_core(args.source, args.engine):
        return load_statistics(args.source, Roles.from_mapping(roles))
    return load(args.source, **roles)


def _model(args: argparse.Namespace, roles: Roles) -> SiteEffects:
    """Return the (unfitted) model the flags describe.

    ``roles`` are the columns historical data files are read with.
    """
    historical = _historical(args.historical, roles) if args.historical else None
    return SiteEffects.from_spec(args.spec, historical=historical)


def _spec(args: argparse.Namespace) -> ModelSpec:
    """Return the model the flags describe, checked: all but the historical data (no file read)."""
    return ModelSpec(
        priors=_priors(args),
        chains=args.chains,
        draws=args.draws,
        warmup=args.warmup,
        target_accept=args.target_accept,
        max_tree_depth=args.max_tree_depth,
        seed=args.seed,
        progress=not args.quiet and sys.stderr.isatty(),
        method=args.method,
        site_dist=args.site_dist,
        site_df=args.site_df,
        covariate_prior=args.covariate_prior,
        p0=args.horseshoe_p0,
        slab_scale=args.slab_scale,
        slab_df=args.slab_df,
        borrow=args.borrow,
        borrow_weight=args.borrow_weight,
        threshold=0.0 if args.threshold is None else args.threshold,
        outcome_sd=args.outcome_sd,
    )


def _workers(args: argparse.Namespace) -> Workers:
    """Where a command's many fits run (``--workers``, ``--scheduler``)."""
    return Workers(n=args.workers, address=args.scheduler)


def check_flags(args: argparse.Namespace) -> None:
    """Refuse bad or conflicting flags before any data is read.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`).

    Raises
    ------
    SitefxInputError
        Whose message names the flag: an unusable ``--out``, a bad threshold, outcome SD,
        prior, model or sampler setting, worker count or number of replicates, or
        ``--borrow`` without ``--historical``.

    Examples
    --------
    >>> flags = ["--site-dist", "student-t", "--site-df", "inf"]
    >>> check_flags(build_parser().parse_args(["fit", "study", "--out", "o", *flags]))
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: site_df (--site-df) must be > 0 and finite; got inf
    """
    if args.out is not None:
        check_destination(args.out)  # a file, foreign files, or an unwritable place
    if args.command == "report":
        if args.threshold is not None:
            check_threshold(args.threshold)
        if args.outcome_sd is not None:
            check_outcome_sd(args.outcome_sd)
        return
    if (args.borrow is not None or args.borrow_weight is not None) and not args.historical:
        raise SitefxInputError("--borrow and --borrow-weight need --historical SOURCE")
    args.spec = _spec(args)  # checked once, here; the commands use it
    if "workers" in args:
        _workers(args)
    if "replicates" in args:
        check_replicates(args.replicates)
    for flag in ("alt_tau", "alt_mu"):
        for spec in getattr(args, flag, None) or ():
            try:
                given_prior(spec)
            except PriorSpecError as error:
                raise PriorSpecError(f"--{flag.replace('_', '-')}: {error}") from error


def _fit(args: argparse.Namespace) -> tuple[SiteEffects, Callable[..., None]]:
    """Load the study, fit it and print what a fit prints; return the fit and the printer."""
    study = _study(args)
    data = study.data
    say = (lambda *_: None) if args.quiet else print
    say(f"{study.title}: {data.n_sites} sites, {data.kind} data")
    if study.observational:
        say(OBSERVATIONAL)
    say(str(data.accounting))
    model = _model(args, study.roles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # reported below, once
        fit = model.fit(study)
    say("priors:\n" + fit.priors_.describe())
    say(describe_method(json.loads(fit.posterior_.attrs["sampler"])))
    if "borrowing" in fit.posterior_.attrs:
        say(describe_borrowing(json.loads(fit.posterior_.attrs["borrowing"])))
    table = fit.summary()
    intercepts = table["parameter"].str.startswith("alpha[")
    say(summary_text(table[~intercepts]))
    if intercepts.any():
        say(f"(site intercepts alpha[...]: see {OUTPUT_FILES['summary']})")
    for problem in fit.warnings_:
        print(f"warning: {problem}", file=sys.stderr)
    say("\n".join(headline_sentences(fit.posterior_, fit._results)))
    return fit, say


def run_report(args: argparse.Namespace) -> int:
    """Run ``sitefx report``: write the report of the fit in FIT_DIR.

    The report (see :func:`~sitefx.report.write_report`) goes to ``--out``, by default into
    the fit's own folder; sensitivity files in FIT_DIR add a "Sensitivity" section.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`build_parser`), already checked by
        :func:`check_flags`.

    Returns
    -------
    int
        The exit status, 0.

    Raises
    ------
    SitefxInputError
        If FIT_DIR is not a complete, unedited sitefx fit, or ``--out`` cannot be used.

    Examples
    --------
    >>> run_report(build_parser().parse_args(["report", "studies/eight_schools"]))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: studies/eight_schools/posterior.nc: no such file; run ...
    """
    tree = read_fit(args.fit_dir)  # complete, unedited, and a sitefx fit
    out = args.out or args.fit_dir
    check_destination(out)
    formats = ("html", "md") if args.format == "both" else (args.format,)
    same = Path(out).resolve() == Path(args.fit_dir).resolve()
    with output_folder(out, command=_command(), keep=same) as folder:
        paths = write_report(
            tree,
            folder,
            threshold=args.threshold,
            outcome_sd=args.outcome_sd,
            formats=formats,
            sensitivity_dir=args.fit_dir,
        )
    print(f"wrote {out}: " + ", ".join(path.name for path in paths.values()))
    return 0


def _command() -> list[str]:
    """Return the command line that is running, for the output folder's manifest."""
    return ["sitefx", *sys.argv[1:]]


def _inputs(args: argparse.Namespace) -> list[Path]:
    """Return the files a fitting command read: its source's and the historical data's."""
    sources = [args.source] + ([args.historical] if args.historical else [])
    return [path for source in sources for path in input_files(source)]


def _historical(source: str, roles: Roles) -> SiteSummaries:
    """Load the historical summaries.

    A study folder as it describes itself, or a data file read with the current summaries'
    site, estimate and SE columns.
    """
    if Path(source).is_dir():
        return load(source).data
    if roles.kind != "summaries":
        raise SitefxInputError(
            "--historical needs a study folder (data + study.toml naming its estimate and se) "
            "unless the current data are site summaries with the same columns"
        )
    return load(source, site=roles.site, estimate=roles.estimate, se=roles.se).data


def _priors(args: argparse.Namespace) -> dict[str, str]:
    """Return the priors the flags give, by parameter.

    From ``--prior NAME=SPEC`` (repeatable) and ``--prior-mu``, ``--prior-tau``,
    ``--prior-nu``; each parameter's at most once.
    """
    priors = {}
    for spec in args.prior:
        name, equals, prior = spec.partition("=")
        name = name.strip()
        if not equals or not name:
            raise SitefxInputError(
                f"--prior takes NAME=SPEC, e.g. 'gamma=normal(0, 1)'; got '{spec}'"
            )
        if name in priors:
            raise SitefxInputError(f"--prior gives the prior of {name} twice; give it once")
        priors[name] = prior
    for name in PRIOR_FLAGS:
        spec = getattr(args, f"prior_{name}")
        if spec is not None and name in priors:
            raise SitefxInputError(
                f"--prior {name}=... and --prior-{name} both give the prior of {name}; give one"
            )
        if spec is not None:
            priors[name] = spec
    return priors


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sitefx`` command line.

    Flags are checked before any data is read. Data-drop, data-read and ignored-option
    warnings are printed as one line each on standard error, each text once.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``sitefx``; by default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 success; 2 bad input (a one-line message on standard error, no
        traceback); 3 a diagnostic failed under ``--strict``; 1 failed refits (named) or an
        output that cannot be written. Any other error is a bug and keeps its traceback.

    Examples
    --------
    A bad ``--out`` is a one-line message on standard error and exit status 2:

    >>> main(["fit", "studies/eight_schools", "--out", "studies/eight_schools"])
    2
    """
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            for category in (DataDropWarning, DataReadWarning, IgnoredOptionWarning):
                warnings.simplefilter("always", category)
            warnings.showwarning = _warning_printer()
            check_flags(args)
            return COMMANDS[args.command](args)
    except SitefxInputError as error:
        print(f"sitefx: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TaskFailedError as error:  # the failed items are named; no traceback
        print(f"sitefx: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:  # a full disk, a permission: nothing half-written is left
        print(f"sitefx: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1


COMMANDS = {
    "fit": run_fit,
    "report": run_report,
    "sensitivity": run_sensitivity,
    "calibrate": run_calibrate,
    "fit-many": run_fit_many,
}


def _warning_printer() -> Callable[..., None]:
    """Return a warning printer: one line each on standard error, each text once.

    Refits, e.g. of a sensitivity grid, would repeat what the first fit said.
    """
    shown = set()

    def show(message, *_args, **_kwargs) -> None:
        line = f"warning: {message}"
        if line not in shown:
            shown.add(line)
            print(line, file=sys.stderr)

    return show


if __name__ == "__main__":
    sys.exit(main())
