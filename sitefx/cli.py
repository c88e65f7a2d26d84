"""Command line: ``sitefx fit SOURCE --out DIR``.

This module parses the command line and imports nothing heavy: ``sitefx --help``,
``--version`` and argument errors answer at once. Each command's work, and the libraries it
needs, are in :mod:`sitefx.commands`, imported only once the arguments have parsed.

Exit codes: 0 success; 2 bad input (a short message, no traceback); 3 a diagnostic failed
under ``--strict`` (the files are written all the same); 1 anything else (e.g. refits that
failed on every try, named).
"""

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import version

from sitefx import backend
from sitefx.errors import (
    DataDropWarning,
    DataReadWarning,
    IgnoredOptionWarning,
    SitefxInputError,
)
from sitefx.parallel import TaskFailedError

EXIT_BAD_INPUT = 2
EXIT_DIAGNOSTICS = 3


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``sitefx`` command line.

    The commands are ``fit``, ``refit``, ``sensitivity``, ``fit-many``, ``calibrate``,
    ``report``, ``draws``, ``bias``, ``design`` and ``cache``;
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
    fit = _fit_command(
        commands,
        "fit",
        help="fit a study and write posterior.nc, summary.csv and forest.png",
        description="Fit site-varying treatment effects. SOURCE is a study folder (data + "
        "study.toml) or a data file (.csv, .csv.gz, .parquet, .dta, .sav); flags override "
        "study.toml.",
    )
    refit = _fit_command(
        commands,
        "refit",
        help="fit a saved fit again, changing only the flags given",
        description="Fit the data of the saved fit in SOURCE (a folder written by 'sitefx "
        "fit') again, with its settings, priors and column roles except those the flags "
        "change, e.g. 'sitefx refit out/es --prior-tau \"half-cauchy(5)\" --out out/es_hc'. "
        "The data are read again from the files the fit read, which must be unchanged; "
        "--data reads them from elsewhere. 'sitefx sensitivity' and 'sitefx calibrate' also "
        "take a saved fit's folder as SOURCE.",
    )
    refit.add_argument(
        "--data",
        metavar="SOURCE",
        help="the data to fit (default: the files the saved fit read, checked unchanged)",
    )
    _forest_options(fit)
    _forest_options(refit)
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

    document = _saved_fit_command(
        commands,
        "report",
        help="write report.html and report.md from a saved fit",
        description="Build a self-contained HTML page and a Markdown report (headline "
        "sentences, estimands, plots, a row per site, data accounting, priors, diagnostics, "
        "software versions) from DIR/posterior.nc, written by 'sitefx fit'.",
    )
    document.add_argument(
        "--format",
        choices=["html", "md", "both"],
        default="both",
        help="report format(s) (default both)",
    )
    _estimand_options(document)
    _forest_options(document)

    export = _saved_fit_command(
        commands,
        "draws",
        help="write a saved fit's posterior draws as a table (CSV or Parquet)",
        description="Write every posterior draw of DIR/posterior.nc as a table, in the R "
        "posterior package's layout: one row per draw with .chain, .iteration and .draw, "
        "one column per parameter (mu, tau, theta[A], ... as in summary.csv); with --long, "
        "one row per draw and parameter. Writes draws.csv or draws.parquet.",
    )
    export.add_argument(
        "--format",
        choices=["csv", "parquet"],
        default="csv",
        help="file format (default csv)",
    )
    export.add_argument(
        "--long",
        action="store_true",
        help="one row per draw and parameter (.chain, .iteration, .draw, parameter, value)",
    )

    bias = _saved_fit_command(
        commands,
        "bias",
        help="small-study and publication bias of a saved fit of study summaries",
        description="Fit four models to the studies of DIR (no bias, a step-function "
        "selection model on one-sided p-values, PET and PEESE) and average them by stacking; "
        "print what they say and write bias.csv (one row per model), funnel.png, "
        "funnel_contour.png and bias.nc.",
    )
    bias.add_argument(
        "--cuts",
        default="0.025,0.05,0.5",
        metavar="P,P",
        help="one-sided p-value cut points of the selection model (default 0.025,0.05,0.5)",
    )

    _design_command(commands)

    cache = commands.add_parser(
        "cache",
        help="show or clear sitefx's cache of compiled samplers",
        description="sitefx keeps the samplers JAX compiles in a cache folder, so that a fit "
        "of a design seen before starts without compiling: SITEFX_CACHE_DIR if set, else "
        "the user's cache folder ($XDG_CACHE_HOME/sitefx or ~/.cache/sitefx on Linux). "
        "'info' prints the folder and its size; 'clear' deletes it (it fills again as fits "
        "run).",
    )
    cache.add_argument("action", metavar="ACTION", choices=["info", "clear"], help="info or clear")
    return parser


def _design_command(commands: argparse._SubParsersAction) -> None:
    """Add ``sitefx design``: the assurance of the next trial from a saved fit."""
    design = commands.add_parser(
        "design",
        help="assurance, power and MDES of the next trial, from a saved fit or from priors",
        description="Simulate trials of each design (J sites x n students per arm) from the "
        "posterior of DIR's mu and tau, in outcome SDs (or from --prior-mu and --prior-tau "
        "without a fit), analyse each and count successes: the assurance, beside the power at "
        "fixed effects and the classical MDES. Prints the table and what it says; writes "
        "design.csv, assurance.png and design.json.",
    )
    design.add_argument(
        "fit_dir", metavar="DIR", nargs="?", help="folder of a saved fit (or give the priors)"
    )
    design.add_argument("--out", metavar="DIR", help="where to write (default: DIR)")
    design.add_argument(
        "--prior-mu", metavar="SPEC", help="without a fit: the average effect, in outcome SDs"
    )
    design.add_argument(
        "--prior-tau", metavar="SPEC", help="without a fit: the SD of the sites' effects"
    )
    design.add_argument(
        "--historical",
        metavar="SOURCE",
        help="without a fit: earlier studies (a study folder of summaries, or a data file "
        "with --estimate and --se), whose MAP prior gives mu (with --prior-tau)",
    )
    columns = {"--site": "study ids", "--estimate": "effects", "--se": "SEs", "--n": "sizes"}
    for flag, column in columns.items():
        design.add_argument(flag, metavar="COL", help=f"--historical FILE: the column of {column}")
    design.add_argument("--sites", required=True, metavar="J,J", help="sites in the trial")
    design.add_argument("--per-arm", required=True, metavar="N,N", help="students per arm")
    design.add_argument(
        "--design",
        choices=["multisite", "cluster"],
        default="multisite",
        help="students randomized within sites, or whole sites (default multisite)",
    )
    design.add_argument(
        "--icc", type=float, metavar="X", help="intraclass correlation (default: the fit's)"
    )
    design.add_argument(
        "--r2", type=float, default=0.0, metavar="X", help="covariates' within-site R2 (0)"
    )
    design.add_argument(
        "--outcome-sd", type=float, metavar="SD", help="the outcome's SD (default: the fit's)"
    )
    design.add_argument(
        "--criterion",
        choices=["posterior", "interval", "test"],
        default="posterior",
        help="what counts as success (default posterior)",
    )
    design.add_argument(
        "--delta", type=float, default=0.0, metavar="D", help="posterior: effect to exceed (0)"
    )
    design.add_argument(
        "--prob", type=float, default=0.95, metavar="P", help="posterior: probability (0.95)"
    )
    design.add_argument(
        "--alpha", type=float, default=0.05, metavar="A", help="test: two-sided level (0.05)"
    )
    design.add_argument(
        "--target", type=float, default=0.8, metavar="A", help="assurance wanted (0.8)"
    )
    design.add_argument(
        "--replicates", type=int, default=4000, help="simulated trials per design (4000)"
    )
    design.add_argument("--seed", type=int, default=0, help="0 to 2**63 - 1 (default 0)")
    costs = design.add_argument_group("costs (a cost column and the cheapest design)")
    costs.add_argument("--cost-site", type=float, metavar="C", help="cost of enrolling a site")
    costs.add_argument("--cost-student", type=float, metavar="C", help="cost of a student")
    costs.add_argument("--budget", type=float, metavar="B", help="the most the trial may cost")


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
    """Add the column roles, priors, model, borrowing, estimand and inference options.

    Their defaults are None, "not given": the defaults are :class:`sitefx.spec.ModelSpec`'s
    (the help texts say them), and a refit keeps the saved fit's setting for a flag not given.
    """
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
        "effects on growth per unit of it (balanced: growth rates, 2 waves: gain scores, "
        "DiD; unbalanced: the long-format growth model)",
    )
    roles.add_argument("--person", metavar="COL", help="individual records: person id (waves)")
    roles.add_argument(
        "--interruption",
        metavar="COL",
        help="repeated measures: numeric column of each person's interruption time (when the "
        "programme began, in units of --wave): a comparative interrupted time series "
        "(observational); effects are steps off the trend there, net of the comparison arm's",
    )
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
        help="prior of any other parameter, e.g. 'tau_district=half-normal(0.3)', "
        "'gamma=normal(0, 1)', 'cluster_sd=half-normal(20)'; repeatable",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--site-dist",
        choices=["normal", "student-t"],
        help="distribution of site effects (default normal); student-t resists outlying sites",
    )
    model.add_argument("--site-df", type=float, help="fixed Student-t degrees of freedom")
    model.add_argument(
        "--covariate-prior",
        choices=["normal", "horseshoe"],
        help="normal (default) or horseshoe: regularized horseshoe on the covariates (records) "
        "or moderators (summaries), for many columns of which few matter; reports kappa "
        "shrinkage factors",
    )
    model.add_argument(
        "--horseshoe-p0", type=float, metavar="P0", help="expected number of relevant columns"
    )
    model.add_argument("--slab-scale", type=float, help="horseshoe slab scale, per column SD")
    model.add_argument("--slab-df", type=float, help="horseshoe slab df (default 4)")
    model.add_argument(
        "--level-effect",
        choices=["common", "varying"],
        help="unbalanced repeated measures: one treatment effect on the level for all sites "
        "(common, default) or one per site (varying)",
    )
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
        help="dask: sum Gaussian records per site partition by partition (out of core); "
        "auto (default): dask for a glob, a folder of Parquet files or files over 2 GiB",
    )
    sampler = parser.add_argument_group("inference")
    sampler.add_argument(
        "--method",
        choices=["auto", "exact", "nuts"],
        help="exact: quadrature, no MCMC (site summaries, normal or flat mu prior); "
        "nuts: MCMC; auto (default): exact where it applies",
    )
    sampler.add_argument("--seed", type=int, help="0 to 2**63 - 1 (default 0)")
    sampler.add_argument("--chains", type=int, help="chains (default 4; at most 1000)")
    sampler.add_argument(
        "--draws",
        type=int,
        help="kept draws per chain (default 1000; chains x draws at most 10 million)",
    )
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


def _forest_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of the forest plot a command writes."""
    group = parser.add_argument_group("forest plot")
    group.add_argument(
        "--null", type=float, metavar="C", help="the effect drawn as the null line (default 0)"
    )
    group.add_argument(
        "--unit-name",
        metavar="NAME",
        help="what a site is called, as in 'new school' (default: the site column's name)",
    )
    group.add_argument(
        "--title", metavar="TEXT", help="the plot's title (default: the study's title)"
    )
    group.add_argument(
        "--units",
        metavar="TEXT",
        help="the effects' units on the axis, e.g. 'SAT points' (default: study.toml's units)",
    )


def _saved_fit_command(
    commands: argparse._SubParsersAction, name: str, **texts: str
) -> argparse.ArgumentParser:
    """Add a command that reads a saved fit: its DIR argument and ``--out``."""
    parser = commands.add_parser(name, **texts)
    parser.add_argument("fit_dir", metavar="DIR", help="folder of a saved fit")
    parser.add_argument("--out", metavar="DIR", help="where to write (default: DIR)")
    return parser


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
    if args.command == "cache":
        return run_cache(args.action)
    try:
        with warnings.catch_warnings():
            for category in (DataDropWarning, DataReadWarning, IgnoredOptionWarning):
                warnings.simplefilter("always", category)
            warnings.showwarning = _warning_printer()
            from sitefx import commands  # the heavy libraries, only now

            commands.check_flags(args)
            return commands.COMMANDS[args.command](args)
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


def run_cache(action: str) -> int:
    """Print the cache folder and its size (``info``), or delete it (``clear``).

    Parameters
    ----------
    action : {"info", "clear"}
        What to do.

    Returns
    -------
    int
        0.

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ["SITEFX_CACHE_DIR"] = tempfile.mkdtemp()
    >>> run_cache("clear")  # doctest: +ELLIPSIS
    cleared .../tmp... (0.0 MB)
    0
    >>> del os.environ["SITEFX_CACHE_DIR"]
    """
    if action == "clear":
        folder, size = backend.clear_cache()
        print(f"cleared {folder} ({size / 1e6:.1f} MB)")
    else:
        print(f"{backend.cache_dir()} ({backend.cache_size() / 1e6:.1f} MB)")
    return 0


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
