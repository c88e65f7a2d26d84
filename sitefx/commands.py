"""The command line's commands, run once their arguments have parsed (:mod:`sitefx.cli`).

What ``sitefx fit``, ``report``, ``sensitivity``, ``calibrate`` and ``fit-many`` do; the
libraries they need are imported with this module, never for ``--help``.
"""

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from sitefx.batch import fit_many, jobs_for
from sitefx.bias import bias_sentences, bias_table, write_bias
from sitefx.bias.models import check_cuts
from sitefx.calibration import calibrate, check_replicates
from sitefx.cli import EXIT_DIAGNOSTICS
from sitefx.data.adapters import Roles, Study, load, load_historical
from sitefx.data.partitioned import load_statistics, out_of_core
from sitefx.data.sources import input_files
from sitefx.design.assurance import (
    Costs,
    Criterion,
    Learned,
    Trial,
    analysis_priors,
    check_probability,
    design_sentences,
    design_table,
    whole_numbers,
    write_design,
)
from sitefx.errors import (
    PriorSpecError,
    SamplingWarning,
    SitefxInputError,
)
from sitefx.estimands import check_outcome_sd, check_threshold
from sitefx.estimator import (
    OUTPUT_FILES,
    SOURCES,
    SiteEffects,
    data_sources,
    open_fit,
    saved_study,
)
from sitefx.historical import describe as describe_borrowing
from sitefx.models.priors import PRIOR_FLAGS, given_prior
from sitefx.parallel import Workers
from sitefx.progress import attached, phase, status_line
from sitefx.report import headline_sentences, summary_text, write_report
from sitefx.report.document import describe_method
from sitefx.report.folders import (
    MANIFEST,
    check_destination,
    output_folder,
    read_fit,
    report_folder,
    write_csv,
)
from sitefx.report.numbers import site_nouns
from sitefx.report.sensitivity import describe_sensitivity, sensitivity_warnings
from sitefx.report.tables import draws_table
from sitefx.sensitivity.files import write_sensitivity
from sitefx.spec import ModelSpec
from sitefx.streams import check_seed

# The ModelSpec settings each of which a flag of the same name gives (--site-dist: site_dist).
SPEC_FLAGS = (
    "chains",
    "draws",
    "warmup",
    "target_accept",
    "max_tree_depth",
    "seed",
    "method",
    "site_dist",
    "site_df",
    "covariate_prior",
    "horseshoe_p0",
    "slab_scale",
    "slab_df",
    "level_effect",
    "borrow",
    "borrow_weight",
    "threshold",
    "outcome_sd",
)
# Settings that only mean something with another's value: changing it drops them.
DEPENDENT_SETTINGS = {
    "site_dist": ("site_df",),
    "covariate_prior": ("horseshoe_p0", "slab_scale", "slab_df"),
}
OBSERVATIONAL = (
    "OBSERVATIONAL: treatment was not randomized; effects are comparisons adjusted for the "
    "covariates given, and causal only if those remove all confounding"
)
OBSERVATIONAL_STEPS = (  # a comparative interrupted time series
    "OBSERVATIONAL: treatment was not randomized; effects compare steps off each unit's trend "
    "at the interruption, and are causal only if, without the programme, the adopting units "
    "would have stepped as the comparison units did"
)


def run_fit(args: argparse.Namespace) -> int:
    """Run ``sitefx fit``: load SOURCE, fit it, print the summary and save the fit to ``--out``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`~sitefx.cli.build_parser`), already checked by
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

    >>> from sitefx.cli import build_parser
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
    with phase(f"writing {args.out}", enabled=attached(args.quiet)):
        fit.save(
            args.out,
            command=_command(),
            inputs=_inputs(fit.posterior_.attrs[SOURCES]),
            forest=_forest(args),
        )
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
        The parsed command line (:func:`~sitefx.cli.build_parser`), already checked by
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
    with (
        output_folder(
            args.out, command=_command(), inputs=_inputs(fit.posterior_.attrs[SOURCES])
        ) as folder,
        status_line(enabled=attached(args.quiet)) as progress,
    ):
        fit.write_files(folder)
        paths = write_sensitivity(
            fit,
            folder,
            alt_tau=args.alt_tau,
            alt_mu=args.alt_mu,
            workers=_workers(args),
            progress=progress,
        )
    for line in describe_sensitivity(args.out):
        say(line)
    say(f"wrote {args.out}: " + ", ".join(path.name for path in paths.values()))
    problems = sensitivity_warnings(args.out)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return _gate(args, fit.warnings_ + problems)


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
        The parsed command line (:func:`~sitefx.cli.build_parser`), already checked by
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
    >>> from sitefx.cli import build_parser
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
    with (
        output_folder(args.out, command=_command(), inputs=inputs) as folder,
        status_line(enabled=attached(args.quiet)) as progress,
    ):
        table = fit_many(
            jobs,
            _model(args, Roles.from_mapping(roles)),
            folder,
            workers=_workers(args),
            progress=progress,
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
        The parsed command line (:func:`~sitefx.cli.build_parser`), already checked by
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
    with status_line(enabled=attached(args.quiet)) as progress:
        result = calibrate(
            model,
            study.data,
            replicates=args.replicates,
            seed=args.spec.seed,
            workers=_workers(args),
            progress=progress,
        )
    summary = result.summary()
    names = ["calibration_summary.csv", "calibration_ranks.csv", "calibration.png"]
    inputs = _inputs(data_sources(study, model.historical))
    with output_folder(args.out, command=_command(), inputs=inputs) as folder:
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
    """Load the study the flags name, with their column roles.

    For a saved fit (``refit``, or a fit's folder as SOURCE), its data with its roles, the
    given ones changed.
    """
    roles = _roles(args)
    data = getattr(args, "data", None)
    if args.saved is not None:
        if data is None:
            return saved_study(args.saved, **roles)
        roles = dataclasses.asdict((args.spec.roles or Roles()).updated(**roles))
    source = data or args.source
    engine = args.engine or ("dask" if _saved_kind(args) == "statistics" else "auto")
    if out_of_core(source, engine):
        return load_statistics(source, Roles.from_mapping(roles))
    return load(source, **roles)


def _model(args: argparse.Namespace, roles: Roles) -> SiteEffects:
    """Return the (unfitted) model the flags describe.

    ``roles`` are the columns historical data files are read with.
    """
    if args.historical:
        historical = load_historical(args.historical, roles)
    elif args.saved is not None and "borrowing" in args.saved.attrs:
        historical = saved_study(args.saved, "historical")
    else:
        historical = None
    return SiteEffects.from_spec(args.spec, historical=historical)


def _spec(args: argparse.Namespace) -> ModelSpec:
    """Return the model the flags describe, checked: all but the historical data (no file read).

    For a saved fit, its spec with the flags given changed; a setting that depends on one
    changed (``--site-df`` on ``--site-dist``, the horseshoe's on ``--covariate-prior``) is
    dropped unless given too.
    """
    given = {name: getattr(args, name) for name in SPEC_FLAGS if getattr(args, name) is not None}
    saved = ModelSpec() if args.saved is None else ModelSpec.from_tree(args.saved)
    for setting, dependents in DEPENDENT_SETTINGS.items():
        if setting in given:
            given |= {name: None for name in dependents if name not in given}
    return saved.replace(
        **given, priors={**saved.priors, **_priors(args)}, progress=attached(args.quiet)
    )


def _saved_fit(args: argparse.Namespace) -> xr.DataTree | None:
    """Return the saved fit that SOURCE names, if it is one (``refit`` needs one)."""
    if "source" not in args or not (Path(args.source) / MANIFEST).is_file():
        if args.command == "refit":
            raise SitefxInputError(
                f"{args.source}: not a saved fit (a folder written by 'sitefx fit'); to fit "
                f"data, use 'sitefx fit'"
            )
        return None
    return read_fit(args.source)


def _saved_kind(args: argparse.Namespace) -> str | None:
    """Return the data kind of the saved fit being refitted (None: not a refit)."""
    return None if args.saved is None else args.saved.attrs["data_kind"]


def _workers(args: argparse.Namespace) -> Workers:
    """Where a command's many fits run (``--workers``, ``--scheduler``)."""
    return Workers(n=args.workers, address=args.scheduler)


def check_flags(args: argparse.Namespace) -> None:
    """Refuse bad or conflicting flags before any data is read.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`~sitefx.cli.build_parser`).

    Raises
    ------
    SitefxInputError
        Whose message names the flag: an unusable ``--out``, a bad threshold, outcome SD,
        prior, model or sampler setting, worker count or number of replicates, or
        ``--borrow`` without ``--historical``.

    Examples
    --------
    >>> from sitefx.cli import build_parser
    >>> flags = ["--site-dist", "student-t", "--site-df", "inf"]
    >>> check_flags(build_parser().parse_args(["fit", "study", "--out", "o", *flags]))
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: site_df (--site-df) must be > 0 and finite; got inf
    """
    if args.out is not None:
        check_destination(args.out)  # a file, foreign files, or an unwritable place
    if "null" in args and args.null is not None and not math.isfinite(args.null):
        raise SitefxInputError(f"--null must be a finite effect; got {args.null}")
    if args.command == "draws":
        return
    if args.command == "bias":
        args.cuts = check_cuts(args.cuts)
        return
    if args.command == "design":
        _check_design(args)
        return
    if args.command == "report":
        if args.threshold is not None:
            check_threshold(args.threshold)
        if args.outcome_sd is not None:
            check_outcome_sd(args.outcome_sd)
        return
    args.saved = _saved_fit(args)
    borrows = args.historical or (args.saved is not None and "borrowing" in args.saved.attrs)
    if (args.borrow is not None or args.borrow_weight is not None) and not borrows:
        raise SitefxInputError("--borrow and --borrow-weight need --historical SOURCE")
    args.spec = _spec(args)  # checked once, here; the commands use it
    if "workers" in args:
        _workers(args)
    if "replicates" in args:
        check_replicates(args.replicates)
    for flag in ("alt_tau", "alt_mu"):
        for spec in getattr(args, flag, None) or ():
            _check_prior(f"--{flag.replace('_', '-')}", spec)


def _check_prior(flag: str, spec: str) -> None:
    """Refuse a prior specification that does not read, naming its flag."""
    try:
        given_prior(spec)
    except PriorSpecError as error:
        raise PriorSpecError(f"{flag}: {error}") from error


def _fit(args: argparse.Namespace) -> tuple[SiteEffects, Callable[..., None]]:
    """Load the study, fit it and print what a fit prints; return the fit and the printer."""
    show = attached(args.quiet)
    with phase(f"reading {args.source}", enabled=show) as notes:
        study = _study(args)
        notes.append(f"{study.data.accounting.rows_read:,} rows, {study.data.n_sites:,} sites")
    data = study.data
    say = (lambda *_: None) if args.quiet else print
    say(f"{study.title}: {data.n_sites} sites, {data.kind} data")
    if study.observational:
        say(OBSERVATIONAL_STEPS if study.roles.interruption else OBSERVATIONAL)
    say(str(data.accounting))
    model = _model(args, study.roles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # reported below, once
        with phase("fitting", enabled=show) as notes:
            fit = model.fit(study)
            notes.append(json.loads(fit.posterior_.attrs["sampler"])["method"])
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
        The parsed command line (:func:`~sitefx.cli.build_parser`), already checked by
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
    >>> from sitefx.cli import build_parser
    >>> run_report(build_parser().parse_args(["report", "studies/eight_schools"]))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: studies/eight_schools/posterior.nc: no such file; run ...
    """
    tree = read_fit(args.fit_dir)  # complete, unedited, and a sitefx fit
    recomputed = args.threshold is not None or args.outcome_sd is not None
    out = report_folder(args.out or args.fit_dir, recomputed=recomputed)
    check_destination(out)
    formats = ("html", "md") if args.format == "both" else (args.format,)
    with _saved_fit_output(args, out) as folder:
        paths = write_report(
            tree,
            folder,
            threshold=args.threshold,
            outcome_sd=args.outcome_sd,
            formats=formats,
            sensitivity_dir=args.fit_dir,
            forest=_forest(args),
        )
    print(f"wrote {out}: " + ", ".join(path.name for path in paths.values()))
    return 0


def run_draws(args: argparse.Namespace) -> int:
    """Run ``sitefx draws``: write the posterior draws of the fit in FIT_DIR as a table.

    The table (:func:`~sitefx.report.tables.draws_table`) goes to ``draws.csv`` or
    ``draws.parquet`` in ``--out``, by default the fit's own folder (its manifest lists it).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`~sitefx.cli.build_parser`).

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
    >>> import tempfile
    >>> from sitefx.cli import build_parser
    >>> folder = tempfile.mkdtemp()
    >>> _ = SiteEffects(seed=1).fit(load("studies/eight_schools")).save(folder)
    >>> run_draws(build_parser().parse_args(["draws", folder, "--long"]))  # doctest: +ELLIPSIS
    wrote .../draws.csv: 44,000 rows, 5 columns
    0
    """
    tree = read_fit(args.fit_dir)
    out = args.out or args.fit_dir
    table = draws_table(tree, long=args.long)
    name = f"draws.{args.format}"
    with _saved_fit_output(args, out) as folder:
        if args.format == "csv":
            write_csv(table, folder / name)
        else:
            table.to_parquet(folder / name, index=False)
    print(f"wrote {Path(out) / name}: {len(table):,} rows, {table.shape[1]} columns")
    return 0


def run_bias(args: argparse.Namespace) -> int:
    """Run ``sitefx bias``: small-study and publication bias of the fit in FIT_DIR.

    Fits the bias models (:func:`~sitefx.bias.write_bias`) with the fit's priors, chains,
    draws and seed; writes ``bias.csv``, ``funnel.png``, ``funnel_contour.png`` and
    ``bias.nc`` to ``--out``, by default the fit's own folder; prints the table and what it
    says.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`~sitefx.cli.build_parser`), already checked by
        :func:`check_flags`.

    Returns
    -------
    int
        The exit status, 0.

    Raises
    ------
    SitefxInputError
        If FIT_DIR is not a complete, unedited sitefx fit of study summaries, or ``--out``
        cannot be used.

    Examples
    --------
    >>> from sitefx.cli import build_parser
    >>> run_bias(build_parser().parse_args(["bias", "studies/eight_schools"]))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: studies/eight_schools/posterior.nc: no such file; run ...
    """
    fit = open_fit(args.fit_dir)
    out = args.out or args.fit_dir
    with _saved_fit_output(args, out) as folder:
        result, paths = write_bias(fit, folder, cuts=args.cuts)
    print(bias_table(result).to_string(index=False, float_format=lambda value: f"{value:.3g}"))
    print("\n".join(bias_sentences(result)))
    print(f"wrote {out}: " + ", ".join(path.name for path in paths.values()))
    return 0


def run_design(args: argparse.Namespace) -> int:
    """Run ``sitefx design``: the assurance, power and MDES of the next trial.

    The designs are every number of sites in ``--sites`` with every number of students per
    arm in ``--per-arm`` (:func:`~sitefx.design.assurance.design_table`), from the posterior
    of the fit in FIT_DIR; ``design.csv``, ``assurance.png`` and ``design.json`` go to
    ``--out``, by default the fit's own folder. Prints the table and what it says.

    Parameters
    ----------
    args : argparse.Namespace
        The flags of ``sitefx design``, checked (:func:`check_flags`): its lists of sites
        and of students per arm read, its success criterion made.

    Returns
    -------
    int
        0: the designs are written.

    Raises
    ------
    SitefxInputError
        If FIT_DIR is not a complete, unedited sitefx fit, its effects are not in (or cannot
        be turned into) outcome SDs, the ICC is neither given nor learned, or ``--out``
        cannot be used.

    Examples
    --------
    >>> from sitefx.cli import build_parser
    >>> flags = ["--sites", "10", "--per-arm", "20", "--icc", "0.2"]
    >>> run_design(build_parser().parse_args(["design", "studies/eight_schools", *flags]))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: studies/eight_schools/posterior.nc: no such file; run ...
    """
    ess = None
    if args.historical is not None:  # the MAP prior of earlier studies (checked)
        tree = None
        columns = Roles(site=args.site, estimate=args.estimate, se=args.se, n=args.n)
        history = load_historical(args.historical, columns).data
        learned, ess = Learned.from_history(
            history, given_prior(args.prior_tau), outcome_sd=args.outcome_sd or 1.0, seed=args.seed
        )
    elif args.fit_dir is None:  # priors alone (checked by _check_design)
        tree = None
        learned = Learned.from_priors(
            given_prior(args.prior_mu), given_prior(args.prior_tau), seed=args.seed
        )
    else:
        tree = open_fit(args.fit_dir).posterior_
        learned = Learned.from_tree(tree, args.outcome_sd)
    icc = args.icc if args.icc is not None else learned.icc
    if icc is None:
        raise SitefxInputError(
            "no student records to learn the intraclass correlation from: give it with --icc "
            "(e.g. 0.15, a common value for achievement in schools)"
        )
    table = design_table(
        learned, _trials(args, icc), args.criterion, replicates=args.replicates, seed=args.seed
    )
    many = "sites" if tree is None else site_nouns(tree)[1]
    noun = "sites" if many == "studies" else many  # a meta-analysis pools studies, not sites
    sentences = design_sentences(table, args.criterion, target=args.target, sites_noun=noun)
    if ess is not None:
        sentences.insert(
            0,
            f"The earlier studies' meta-analytic-predictive prior of the average effect is "
            f"worth about {ess:,.0f} students (its effective sample size).",
        )
    if args.costs is not None:
        table["cost"] = args.costs.of(table, args.design)
        sentences.append(
            args.costs.sentence(table, args.design, target=args.target, sites_noun=noun)
        )
    settings = {
        **dataclasses.asdict(args.criterion),
        "design": args.design,
        "icc": icc,
        "r2": args.r2,
        "target": args.target,
        "replicates": args.replicates,
        "seed": args.seed,
        "analysis_priors": analysis_priors().as_strings(),
    }
    out = args.out or args.fit_dir
    written = (
        output_folder(out, command=_command()) if tree is None else _saved_fit_output(args, out)
    )
    with written as folder:
        paths = write_design(table, folder, settings=settings, sentences=sentences)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.3g}"))
    print("\n".join(sentences))
    print(f"wrote {out}: " + ", ".join(path.name for path in paths.values()))
    return 0


def _check_historical_columns(args: argparse.Namespace) -> None:
    """Check the flags naming the columns of a ``--historical`` data file."""
    columns = {"--site": args.site, "--estimate": args.estimate, "--se": args.se}
    given = [flag for flag, column in {**columns, "--n": args.n}.items() if column is not None]
    a_file = args.historical is not None and not Path(args.historical).is_dir()
    if given and not a_file:
        raise SitefxInputError(
            f"{', '.join(given)}: only for a --historical data file (a study folder names its "
            "own columns)"
        )
    if a_file and None in columns.values():
        raise SitefxInputError(
            f"--historical {args.historical}: name its columns of study ids, effects and SEs "
            "with --site, --estimate and --se"
        )


def _check_design(args: argparse.Namespace) -> None:
    """Check the flags of ``sitefx design``; read its lists and its success criterion."""
    priors = {"--prior-mu": args.prior_mu, "--prior-tau": args.prior_tau}
    if args.fit_dir is not None and (args.historical or any(priors.values())):
        raise SitefxInputError(
            "--prior-mu, --prior-tau and --historical are for a design without a fit (DIR)"
        )
    if args.fit_dir is None:
        needed = {"--prior-tau": args.prior_tau, "--out": args.out}
        if args.historical is None:
            needed["--prior-mu"] = args.prior_mu
        elif args.prior_mu is not None:
            raise SitefxInputError("give --prior-mu or --historical, not both")
        if missing := [flag for flag, value in needed.items() if value is None]:
            raise SitefxInputError(
                f"sitefx design needs a saved fit (DIR) or, without one, {' and '.join(missing)}"
            )
    _check_historical_columns(args)
    for flag, spec in priors.items():
        if spec is not None:
            _check_prior(flag, spec)
    args.sites = whole_numbers(args.sites, "--sites")
    args.per_arm = whole_numbers(args.per_arm, "--per-arm")
    args.criterion = Criterion(args.criterion, args.delta, args.prob, args.alpha)
    check_probability(args.target, "target (--target)")
    given = {"site": args.cost_site, "student": args.cost_student, "budget": args.budget}
    given = {name: value for name, value in given.items() if value is not None}
    args.costs = Costs(**given) if given else None
    check_replicates(args.replicates)
    check_seed(args.seed)
    if args.outcome_sd is not None:
        check_outcome_sd(args.outcome_sd)
    _trials(args, 0.0 if args.icc is None else args.icc)  # the designs' values, checked


def _trials(args: argparse.Namespace, icc: float) -> list[Trial]:
    """Return the designs of ``sitefx design``: every ``--sites`` with every ``--per-arm``."""
    return [
        Trial(args.design, sites=sites, per_arm=per_arm, icc=icc, r2=args.r2)
        for per_arm in args.per_arm
        for sites in args.sites
    ]


def _saved_fit_output(
    args: argparse.Namespace, out: str | Path
) -> contextlib.AbstractContextManager[Path]:
    """Open ``out`` for a command that reads the saved fit in FIT_DIR (report, draws).

    Into the fit's own folder, its files are kept and its manifest gets this command too;
    elsewhere, ``out`` is written as a folder of its own (:func:`output_folder`).
    """
    same = Path(out).resolve() == Path(args.fit_dir).resolve()
    return output_folder(out, command=_command(), keep=same)


def _forest(args: argparse.Namespace) -> dict[str, object]:
    """Return the forest plot's options the flags give (``--null``, ``--unit-name``, ...)."""
    given = {name: getattr(args, name) for name in ("null", "unit_name", "title", "units")}
    return {name: value for name, value in given.items() if value is not None}


def _command() -> list[str]:
    """Return the command line that is running, for the output folder's manifest."""
    return ["sitefx", *sys.argv[1:]]


def _inputs(sources: dict | str) -> list[dict]:
    """Return the files a fitting command read, from its data sources (a fit's attribute).

    Each as recorded, with its size and SHA-256, when it was read: the manifest takes them
    as they are (:func:`~sitefx.report.folders.output_folder`), reading no file again.
    """
    if isinstance(sources, str):
        sources = json.loads(sources)
    return [file for record in sources.values() for file in record["files"]]


def _priors(args: argparse.Namespace) -> dict[str, str]:
    """Return the priors the flags give, by parameter.

    From ``--prior NAME=SPEC`` (repeatable) and ``--prior-mu``, ``--prior-tau``,
    ``--prior-nu``; each parameter's at most once.
    """
    priors = {}
    for spec in args.prior or ():
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


COMMANDS = {
    "fit": run_fit,
    "refit": run_fit,
    "report": run_report,
    "draws": run_draws,
    "bias": run_bias,
    "design": run_design,
    "sensitivity": run_sensitivity,
    "calibrate": run_calibrate,
    "fit-many": run_fit_many,
}
