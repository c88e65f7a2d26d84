"""The report of a saved fit: one self-contained HTML page and a Markdown file.

Headline sentences in plain language, the estimands, the plots, a row per site, the data
accounting, the priors, how the posterior was computed, diagnostics and software versions:
everything a school leader or a reviewer needs, from ``posterior.nc`` alone.
"""

import base64
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from sitefx.estimands import nesting_levels
from sitefx.historical import describe as describe_borrowing
from sitefx.report import numbers, plots
from sitefx.report.bias import FILES as BIAS_FILES
from sitefx.report.bias import describe_bias
from sitefx.report.design import FILES as DESIGN_FILES
from sitefx.report.design import describe_design
from sitefx.report.figures import moderator_plot
from sitefx.report.folders import write_csv, write_figure
from sitefx.report.forest import forest_plot
from sitefx.report.sensitivity import FILES as SENSITIVITY_FILES
from sitefx.report.sensitivity import (
    LEAVE_ONE_OUT_COLUMNS,
    POWER_SCALING_COLUMNS,
    describe_sensitivity,
)
from sitefx.report.tables import Results

FORMATS = ("html", "md")
OBSERVATIONAL = (
    "Observational study: treatment was not randomized. The effects are comparisons adjusted "
    "for the covariates given, and causal only if those remove all confounding."
)
OBSERVATIONAL_STEPS = (  # a comparative interrupted time series
    "Observational study: treatment was not randomized. The effects compare steps off each "
    "unit's trend at the interruption, and are causal only if, without the programme, the "
    "adopting units would have stepped as the comparison units did."
)


@dataclass(frozen=True)
class Section:
    """A titled part of the report: paragraphs, then tables, then figures.

    Attributes
    ----------
    title : str
        The section's heading.
    paragraphs : sequence of str, default ()
        Plain text (escaped when rendered), one paragraph each.
    tables : sequence of pandas.DataFrame, default ()
        Tables already formatted for people (see :func:`~sitefx.report.numbers.display_table`).
    figures : sequence of str, default ()
        File stems of figures in ``figures/`` (e.g. ``"forest"``).
    alert : bool, default False
        Whether the section is a warning, shown in a box before everything else.

    Examples
    --------
    >>> Section("Data", paragraphs=["8 schools read, none dropped."]).paragraphs
    ['8 schools read, none dropped.']
    """

    title: str
    paragraphs: Sequence[str] = ()
    tables: Sequence[pd.DataFrame] = ()
    figures: Sequence[str] = ()
    alert: bool = False


def headline_sentences(tree: xr.DataTree, results: Results | None = None) -> list[str]:
    """Return the headline numbers as plain-language sentences.

    Each number is shown as the tables show it: the average effect and its interval, the
    probability it is above the threshold, how much effects vary across sites, which sites
    are above the threshold, and how exact the numbers are.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (``fit.posterior_``, or :func:`~sitefx.report.read_fit`).
    results : Results, optional
        The fit's tables, if already computed.

    Returns
    -------
    list of str
        The sentences, in the order the report shows them.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> print(headline_sentences(fit.posterior_)[0])  # doctest: +NORMALIZE_WHITESPACE
    Across schools like these, the average effect was 7.6 SAT-V points (95% interval -1.4
    to 16.8); the probability that it is above 0 is 95.2%.
    """
    return list(_sentences(results or Results(tree)).values())


# The headline sentences that make the report's opening paragraph: what was found, how sure,
# how much sites differ (at every level: "spread:district"), and for a study that was not
# randomized, that it was not.
SUMMARY = ("average", "new_site", "spread", "share", "observational")


def _sentences(results: Results) -> dict[str, str]:
    """Return the headline sentences by topic (see :data:`SUMMARY`), in the order they read.

    From the fit's estimand and site tables.
    """
    tree = results.tree
    table = results.estimands.set_index("estimand")
    sites = results.sites
    one, many = numbers.site_nouns(tree)
    units = f" {tree.attrs['units']}" if tree.attrs.get("units") else ""
    threshold = results.threshold

    def cell(name: str, column: str) -> str:
        return numbers.number(table.at[name, column], numbers.decimals(table.at[name, "sd"]))

    def interval(name: str) -> str:
        return f"95% interval {cell(name, 'q2.5')} to {cell(name, 'q97.5')}"

    def value(name: str) -> str:
        return f"{cell(name, 'mean')}{units} ({interval(name)})"

    def chance(name: str, column: str = "prob_positive") -> str:
        return numbers.probability(table.at[name, column], table.at[name, f"mcse_{column}"])

    sentences = {
        "average": f"Across {many} like these, the average effect was {value('mu')}; the "
        f"probability that it is above 0 is {chance('mu')}."
    }
    these = f"Over these {len(sites)} {many}, the average effect was {value('mu_sites')}"
    if "mu_persons" in table.index:
        these += f"; weighted by their numbers of people, {value('mu_persons')}"
    sentences["these"] = these + "."
    if "risk_difference_sites" in table.index:
        risk = table.loc["risk_difference_sites"]
        points = [numbers.number(100 * risk[c], 1) for c in ("mean", "q2.5", "q97.5")]
        sentences["risk_difference"] = (
            f"On the probability scale, treatment changed the chance of the outcome by "
            f"{points[0]} percentage points on average over these {many} (95% interval "
            f"{points[1]} to {points[2]})."
        )
    sentences["new_site"] = (
        f"In a new {one} we expect an effect of {cell('theta_new', 'mean')}{units}, but it "
        f"could plausibly be anywhere from {cell('theta_new', 'q2.5')} to "
        f"{cell('theta_new', 'q97.5')} (95% interval); the probability that it is above 0 is "
        f"{chance('theta_new')}."
    )
    spread = f"Effects varied across {many}"
    levels = nesting_levels(tree)
    if levels:
        spread += f" in the same {levels[-1]}"
    spread_of = {
        name: f"{cell(name, 'q50')}{units} (posterior median; {interval(name)})"
        for name in ["tau", *(f"tau_{level}" for level in levels)]
    }
    sentences["spread"] = f"{spread} with a standard deviation of {spread_of['tau']}."
    for level in levels:
        sentences[f"spread:{level}"] = (
            f"Average effects varied across {level}s with a standard deviation of "
            f"{spread_of[f'tau_{level}']}."
        )
    share = table.loc["share_above"]
    sentences["share"] = (
        f"An estimated {numbers.percent(share['mean'])} of these {many} (95% interval "
        f"{numbers.percent(share['q2.5'])} to {numbers.percent(share['q97.5'])}) had an effect "
        f"above {threshold:g}{units}."
    )
    sentences |= _site_conclusions(sites, one, many, threshold)
    pooled = sites.set_index("site")["pooling_factor"]
    sentences["pooling"] = (
        f"Because each {one}'s own estimate is noisy, the model moved it toward the average: "
        f"from {numbers.percent(pooled.min())} of the way ({_named(one, pooled.idxmin())}) to "
        f"{numbers.percent(pooled.max())} ({_named(one, pooled.idxmax())})."
    )
    if "es_mean" in table.columns:
        mu = table.loc["mu"]
        sentences["effect_size"] = (
            f"In standard deviations of the outcome, the average effect was "
            f"{numbers.number(mu['es_mean'], 2)} (95% interval {numbers.number(mu['es_q2.5'], 2)}"
            f" to {numbers.number(mu['es_q97.5'], 2)})."
        )
    sentences["precision"] = _precision_note(results, many)
    if int(tree.attrs.get("observational", 0)):
        interrupted = "interruption" in tree.get("constant_data", {})
        sentences["observational"] = OBSERVATIONAL_STEPS if interrupted else OBSERVATIONAL
    return sentences


def _named(one: str, site: str) -> str:
    """Return a site by name, with its noun unless the name starts with it ('school 12')."""
    return site if site.lower().startswith(one.lower()) else f"{one} {site}"


def _site_conclusions(sites: pd.DataFrame, one: str, many: str, threshold: float) -> dict[str, str]:
    """Say which sites have at least a 95% probability of an effect above the threshold.

    And which are too close to that line to call (their probability comes from draws).
    """
    above = sites.loc[sites["conclusion"] == "above", "site"].tolist()
    borderline = sites.loc[sites["conclusion"] == "borderline", "site"].tolist()
    lines = {
        "sites_above": f"{many.capitalize()} with at least a 95% probability of an effect above "
        f"{threshold:g}: {_names(above)}."
        if above
        else f"No single {one} has a 95% probability of an effect above {threshold:g}: each "
        f"{one}'s own data are too few to be sure on their own."
    }
    if borderline:
        lines["borderline"] = (
            f"Too close to the 95% or 5% line to call from these draws (within two Monte-Carlo "
            f"errors; more draws would decide): {_names(borderline)}."
        )
    return lines


def _precision_note(results: Results, many: str) -> str:
    """Say how exact the numbers above are."""
    draws = results.tree["posterior"].sizes["chain"] * results.tree["posterior"].sizes["draw"]
    if results.exact is not None:
        return (
            f"These numbers are exact (computed by quadrature), except the 95% interval of "
            f"the share of {many}, which comes from {draws:,} draws."
        )
    return (
        f"These numbers come from {draws:,} posterior draws; the tables give each one's "
        f"Monte-Carlo error (±)."
    )


def write_report(
    tree: xr.DataTree,
    out_dir: str | Path,
    *,
    threshold: float | None = None,
    outcome_sd: float | None = None,
    formats: Sequence[str] = FORMATS,
    sensitivity_dir: str | Path | None = None,
    results: Results | None = None,
    forest: Mapping[str, object] | None = None,
) -> dict[str, Path]:
    """Write a fit's report: ``report.html``, ``report.md``, and the tables as CSV.

    ``report.html`` is self-contained (plots embedded); ``report.md`` shows the plots from
    ``figures/`` (each as PNG and SVG). ``estimands.csv`` and ``sites.csv`` are written
    beside them.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (``fit.posterior_``, or :func:`~sitefx.report.read_fit`).
    out_dir : str or pathlib.Path
        The folder to write into; created if missing, files of the same names replaced.
    threshold : float, optional
        The effect that counts as a benefit, in the outcome's units (default: the fit's).
    outcome_sd : float, optional
        The outcome's SD, for effect sizes (default: the fit's own, if any).
    formats : sequence of {"html", "md"}, default ("html", "md")
        Which reports to write.
    sensitivity_dir : str or pathlib.Path, optional
        A folder written by ``sitefx sensitivity``, whose prior grid, power-scaling and
        leave-one-site-out results become a "Sensitivity" section, by ``sitefx bias``,
        whose models become a section on small-study and publication bias, and by
        ``sitefx design``, whose designs become a section on the next trial.
    results : Results, optional
        The fit's tables, when already computed (then ``threshold`` and ``outcome_sd`` are
        not used).
    forest : mapping, optional
        Options of the forest plot (:func:`~sitefx.report.forest_plot`), e.g.
        ``{"null": 0.1, "unit_name": "school"}``.

    Returns
    -------
    dict of str to pathlib.Path
        The files written: ``"estimands"``, ``"sites"``, and ``"html"`` and ``"md"`` as
        asked.

    Raises
    ------
    ValueError
        If ``formats`` is empty or names an unknown format.

    Examples
    --------
    Rendering the five figures (six with moderators) takes a few seconds, so this is not
    run as a test:

    >>> import sitefx, tempfile
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> with tempfile.TemporaryDirectory() as out:  # doctest: +SKIP
    ...     print(sorted(write_report(fit.posterior_, out, formats=["md"])))
    ['estimands', 'md', 'sites']
    """
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"report formats are {', '.join(FORMATS)}; got {', '.join(formats)}")
    results = results or Results(tree, threshold=threshold, outcome_sd=outcome_sd)
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    paths = {
        "estimands": out / "estimands.csv",
        "sites": out / "sites.csv",
    }
    write_csv(results.estimands, paths["estimands"])
    write_csv(results.sites, paths["sites"])
    images = {}
    for stem, figure in _figures(results, forest or {}).items():
        for suffix in ("png", "svg"):
            write_figure(figure, out / "figures" / f"{stem}.{suffix}", dpi=130)
        images[stem] = (out / "figures" / f"{stem}.png").read_bytes()
    sections = _sections(results)
    if sensitivity_dir is not None:
        extra, pictures = _sensitivity(Path(sensitivity_dir))
        bias, funnel = _bias(Path(sensitivity_dir))
        design, curves = _design(Path(sensitivity_dir))
        extra, pictures = extra + bias + design, pictures | funnel | curves
        sections[-2:-2] = extra  # before "All parameters" and "Software"
        for stem, picture in pictures.items():
            (out / "figures" / f"{stem}.png").write_bytes(picture)
        images |= pictures
    title = str(tree.attrs.get("study_title") or tree.attrs.get("study") or "sitefx report")
    if "html" in formats:
        paths["html"] = out / "report.html"
        paths["html"].write_text(_html(title, sections, images), encoding="utf-8")
    if "md" in formats:
        paths["md"] = out / "report.md"
        paths["md"].write_text(_markdown(title, sections), encoding="utf-8")
    return paths


def _figures(results: Results, forest: Mapping[str, object]) -> dict[str, Figure]:
    tree = results.tree
    return {
        "forest": forest_plot(tree, results=results, **{"sort": "shrunken"} | dict(forest)),
        "predictive": plots.predictive_plot(tree, results=results),
        "shrinkage": plots.shrinkage_plot(tree, results=results),
        "ranks": plots.rank_plot(tree, results=results),
        "prior_posterior": plots.prior_posterior_plot(tree, results=results),
    } | ({"moderators": moderator_plot(tree)} if _moderated(tree) else {})


def _moderated(tree: xr.DataTree) -> bool:
    """Whether the fit is a meta-regression: its sites have moderators."""
    return "moderators" in tree["constant_data"]


SHARE_ROWS = ("share_above", "population_share_above", "variance_explained")


def _sections(results: Results) -> list[Section]:
    tree, threshold = results.tree, results.threshold
    estimand_rows, sites = results.estimands, results.sites
    one, many = numbers.site_nouns(tree)
    units = f" Effects are in {tree.attrs['units']}." if tree.attrs.get("units") else ""
    sentences = _sentences(results)
    brief = [key for key in sentences if key.partition(":")[0] in SUMMARY]
    shown = estimand_rows.drop(columns=[] if threshold else ["prob_above", "mcse_prob_above"])
    shown = shown.assign(meaning=[_quantity(text, one, many) for text in shown["meaning"]])
    warnings = _warning_lines(tree)
    moderators = _moderator_sentences(results)
    return [
        *([Section("Warnings", warnings, alert=True)] if warnings else []),
        Section("In brief", [" ".join(text for key, text in sentences.items() if key in brief)]),
        *([Section("Moderators", [" ".join(moderators)])] if moderators else []),
        Section(
            "More results in words",
            [text for key, text in sentences.items() if key not in brief],
        ),
        Section(
            "Estimates",
            [
                "Means, SDs and 95% intervals of the posterior; shares of "
                f"{many} in %."
                + units
                + (" Effect sizes are in SDs of the outcome." if "es_mean" in estimand_rows else "")
                + MCSE_NOTE
            ],
            [
                _for_people(
                    numbers.display_table(
                        shown.drop(columns="estimand"),
                        probabilities=("prob_positive", "prob_above"),
                        percent_rows=shown["estimand"].isin(SHARE_ROWS),
                        fixed={"es_mean": 2, "es_q2.5": 2, "es_q97.5": 2},
                    ),
                    _headers(one, threshold),
                )
            ],
            ["forest", "predictive"] + (["moderators"] if _moderated(tree) else []),
        ),
        Section(
            f"Each {one}",
            [
                f"Raw estimate and SE, the shrunken effect, P(effect > {threshold:g}) and the "
                f"conclusion it supports, the pooling factor (the weight on the average: "
                f"0% keeps the raw estimate, 100% replaces it), the share of the raw estimate's "
                f"variance that pooling removed, the rank (1 = largest effect) with its 95% "
                f"interval, and the triple-goal estimate (Shen & Louis 1998), whose spread "
                f"across {many} is not narrowed by shrinkage." + units + MCSE_NOTE
            ],
            [
                _for_people(
                    numbers.display_table(
                        sites,
                        probabilities=("prob_above",),
                        percents=("pooling_factor", "variance_reduction"),
                        counts=("n",),
                        fixed={"rank_mean": 1, "rank_q2.5": 0, "rank_q97.5": 0},
                    ),
                    _headers(one, threshold),
                )
            ],
            ["shrinkage", "ranks"],
        ),
        Section("Model and priors", _model_lines(tree), [], ["prior_posterior"]),
        Section("Data", _data_lines(tree)),
        Section("Diagnostics", _diagnostic_lines(tree)),
        Section(
            "All parameters",
            [],
            [
                _for_people(
                    numbers.display_table(
                        results.summary, fixed={"r_hat": 3}, counts=("ess_bulk", "ess_tail")
                    ),
                    _headers(one, threshold),
                )
            ],
        ),
        Section("Software", _software_lines(tree)),
    ]


# Each interval's lower column, shown as "<lower> to <upper>" under the lower one's header
INTERVALS = {"q2.5": "q97.5", "es_q2.5": "es_q97.5", "rank_q2.5": "rank_q97.5"}


def _headers(one: str, threshold: float) -> dict[str, str]:
    """Return the report's header of each table column (the CSV files keep the column names).

    Columns not named here (nesting levels) are shown with spaces for underscores, their
    first letter upper case.
    """
    return {
        "meaning": "Quantity",
        "parameter": "Parameter",
        "site": one.capitalize(),
        "n": "People",
        "raw_estimate": "Raw estimate",
        "raw_se": "Raw SE",
        "mean": "Posterior mean",
        "sd": "Posterior SD",
        "q2.5": "95% interval",
        "q50": "Median",
        "prob_positive": "P(effect\N{NO-BREAK SPACE}>\N{NO-BREAK SPACE}0)",
        "prob_above": f"P(effect\N{NO-BREAK SPACE}>\N{NO-BREAK SPACE}{threshold:g})",
        "conclusion": "Conclusion",
        "pooling_factor": "Pooling toward the average",
        "variance_reduction": "Variance removed by pooling",
        "rank_mean": "Mean rank",
        "rank_q2.5": "Rank, 95% interval",
        "triple_goal": "Triple-goal estimate",
        "es_mean": "Effect size",
        "es_q2.5": "Effect size, 95% interval",
        "r_hat": "R-hat",
        "ess_bulk": "Bulk ESS",
        "ess_tail": "Tail ESS",
    }


def _for_people(table: pd.DataFrame, headers: dict[str, str]) -> pd.DataFrame:
    """Return a table for people under the headers people read (:func:`_headers`).

    ``table`` is text (:func:`~sitefx.report.numbers.display_table`); each interval becomes
    one column, and columns without a value (``n`` when the data do not give it) are left out.
    """
    shown = table.loc[:, (table != "").any()].copy()
    for lower, upper in INTERVALS.items():
        if lower in shown and upper in shown:
            shown[lower] = [
                f"{low} to {high}" if low and high else ""
                for low, high in zip(shown[lower], shown.pop(upper), strict=True)
            ]
    return shown.rename(
        columns=lambda column: headers.get(column) or _first_upper(column.replace("_", " "))
    )


def _quantity(meaning: str, one: str, many: str) -> str:
    """Return an estimand's meaning in the study's words: 'Effect in a new school'."""
    return _first_upper(re.sub(r"\bsite(s?)\b", lambda match: many if match[1] else one, meaning))


def _first_upper(text: str) -> str:
    """Return text with its first letter upper case, the others as they are ('LEA code')."""
    return text[:1].upper() + text[1:]


def _moderator_sentences(results: Results) -> list[str]:
    """Say how each moderator changed the effect, and how much of the spread they explain."""
    summary = results.summary.set_index("parameter")
    table = results.estimands.set_index("estimand")
    units = f" {results.tree.attrs['units']}" if results.tree.attrs.get("units") else ""
    one, many = numbers.site_nouns(results.tree)
    sentences = []
    for parameter in summary.index[summary.index.str.startswith("gamma[")]:
        row = summary.loc[parameter]
        low, mean, high = (
            numbers.number(row[column], numbers.decimals(row["sd"]))
            for column in ("q2.5", "mean", "q97.5")
        )
        sentences.append(
            f"Each one-unit increase in {parameter[len('gamma[') : -1]} changed the effect by "
            f"{mean}{units} (95% interval {low} to {high})."
        )
    if "variance_explained" in table.index:
        share = table.loc["variance_explained"]
        sentences.append(
            f"Together, the moderators explain {numbers.percent(share['mean'])} (95% interval "
            f"{numbers.percent(share['q2.5'])} to {numbers.percent(share['q97.5'])}) of the "
            f"variation in effects between {many}."
        )
    if sentences:
        sentences.append(
            f"The average effects above are those of a {one} at the moderators' means."
        )
    return sentences


MCSE_NOTE = (
    " A value with ± comes from posterior draws: ± is its Monte-Carlo standard error; values "
    "without it are exact."
)


def _sensitivity(directory: Path) -> tuple[list[Section], dict[str, bytes]]:
    """Return the "Sensitivity" section from the files of ``sitefx sensitivity``, and plots."""
    lines = describe_sensitivity(directory)
    if not lines:
        return [], {}
    tables = []
    for key, columns in SENSITIVITY_TABLES.items():
        path = directory / SENSITIVITY_FILES[key]
        if path.is_file():
            table = pd.read_csv(path, keep_default_na=False)[columns]
            tables.append(
                numbers.display_table(table, probabilities=("prob_mu_above", "prob_mu_positive"))
            )
    images = {
        stem: (directory / SENSITIVITY_FILES[key]).read_bytes()
        for stem, key in (("prior_grid", "prior_grid_plot"), ("influence", "influence_plot"))
        if (directory / SENSITIVITY_FILES[key]).is_file()
    }
    return [Section("Sensitivity", lines, tables, list(images))], images


def _bias(directory: Path) -> tuple[list[Section], dict[str, bytes]]:
    """Return the bias section from the files of ``sitefx bias``, and its funnel plot."""
    return _saved_section(
        "Small-study and publication bias",
        describe_bias(directory),
        BIAS_NOTE,
        directory / BIAS_FILES["table"],
        {"funnel_contour": directory / BIAS_FILES["funnel_contour"]},
    )


def _design(directory: Path) -> tuple[list[Section], dict[str, bytes]]:
    """Return the section on the next trial from the files of ``sitefx design``, and its figure."""
    return _saved_section(
        "Designing the next trial",
        describe_design(directory),
        DESIGN_NOTE,
        directory / DESIGN_FILES["table"],
        {"assurance": directory / DESIGN_FILES["figure"]},
        probabilities=("assurance", "power"),
        fixed={"assurance_mcse": 3, "power_mcse": 3},
    )


def _saved_section(
    title: str,
    sentences: list[str],
    note: str,
    table: Path,
    figures: dict[str, Path],
    **display: object,
) -> tuple[list[Section], dict[str, bytes]]:
    """Return the section of a command's files in a folder, and its figures.

    Its sentences, a note, one table (shown by :func:`~sitefx.report.numbers.display_table`
    with ``display``) and figures; none without sentences (the command wrote nothing there).
    """
    if not sentences:
        return [], {}
    shown = numbers.display_table(pd.read_csv(table, keep_default_na=False), **display)
    images = {stem: path.read_bytes() for stem, path in figures.items()}
    return [Section(title, [*sentences, note], [shown], list(images))], images


DESIGN_NOTE = (
    "Assurance: the share of simulated trials that succeed, the average effect and the SD of "
    "the sites' effects drawn from this fit's posterior (in outcome SDs); power: the same with "
    "them fixed at the fit's estimates; mdes: the smallest effect a two-sided test detects "
    "with 80% power (Dong and Maynard 2013)."
)


BIAS_NOTE = (
    "Models: none (no bias), step (studies published with a probability that depends on "
    "their one-sided p-value), pet and peese (the effect extrapolated to a study without "
    "sampling error, along SE or its square); the weights are stacking weights of their "
    "leave-one-out predictions, not probabilities that a model is true. The funnel plot "
    "shows each study's estimate against its SE, shaded where it is significant."
)


SENSITIVITY_TABLES = {
    "prior_grid": [
        "prior_mu",
        "prior_tau",
        "mu_mean",
        "mu_q2.5",
        "mu_q97.5",
        "tau_q50",
        "prob_mu_above",
        "conclusion",
        "flipped",
        "sites_flipped",
    ],
    "power_scaling": POWER_SCALING_COLUMNS,
    "leave_one_out": LEAVE_ONE_OUT_COLUMNS,
    "comparison": ["model", "elpd", "se", "elpd_diff", "dse", "p", "weight"],
}


def describe_method(sampler: dict) -> str:
    """Return one line on how the posterior was computed.

    Parameters
    ----------
    sampler : dict
        A fit's ``sampler`` attribute, decoded: ``method`` (``"exact"`` or NUTS), with
        ``grid_nodes`` and ``error_estimate`` for the exact method, ``model``, ``warmup``
        and ``target_accept`` for NUTS, and ``chains`` and ``draws``.

    Returns
    -------
    str
        E.g. ``"method: NUTS (noncentered), 4 chains x 1000 draws after 1000 warm-up,
        target_accept 0.95"``.

    Examples
    --------
    >>> describe_method({"method": "exact", "grid_nodes": 512, "error_estimate": 4.5e-11,
    ...                  "chains": 4, "draws": 1000})  # doctest: +ELLIPSIS
    'method: exact (quadrature over tau, 512 nodes, error < 4e-11 ...), 4,000 independent draws'
    """
    if sampler["method"] == "exact":
        return (
            f"method: exact (quadrature over tau, {sampler['grid_nodes']} nodes, error < "
            f"{max(sampler['error_estimate'], 1e-15):.0e} posterior SD), "
            f"{numbers.count(sampler['chains'] * sampler['draws'])} independent draws"
        )
    model = sampler["model"].replace("_", " ")
    return (
        f"method: NUTS ({model}), {sampler['chains']} chains x {sampler['draws']} draws "
        f"after {sampler['warmup']} warm-up, target_accept {sampler['target_accept']}"
    )


def _model_lines(tree: xr.DataTree) -> list[str]:
    attrs = tree.attrs
    priors = [
        f"{key[len('prior_') :]} ~ {value}"
        for key, value in attrs.items()
        if key.startswith("prior_")
    ]
    lines = [
        f"Design: {attrs['study_design']}." if attrs.get("study_design") else "",
        f"Data: {attrs.get('data_kind', '')}; site effects {attrs.get('site_dist', 'normal')}"
        + (f" with {attrs['site_df']:g} degrees of freedom" if "site_df" in attrs else "")
        + ".",
        "Priors: " + "; ".join(priors) + ".",
        describe_method(json.loads(attrs["sampler"])) + ".",
    ]
    if "borrowing" in attrs:
        lines.append(describe_borrowing(json.loads(attrs["borrowing"])) + ".")
    constant = tree.get("constant_data", {})
    if "interruption" in constant:  # a comparative interrupted time series
        lines.append(
            f"Comparative interrupted time series: effects (mu, theta) are the adopting units' "
            f"step off their own trend at the interruption, beyond the comparison units' step "
            f"(shift); the arms may differ before it in level and trend (level_difference, "
            f"trend_difference, at time {float(constant['wave_centre']):.4g})."
        )
    elif "wave_centre" in constant:  # the long-format growth model
        centre = float(constant["wave_centre"])
        level_effect = (
            "the treatment's effects on them, varying across sites (level_effect_site ~ "
            "N(level_effect_mean, level_effect_sd))"
            if "level_effect_site" in tree["posterior"]
            else "the treatment's effect on them, one for all sites (level_effect)"
        )
        covariates = (
            "; baseline covariates shift each person's level (beta), centred at their means"
            if constant["covariate_mean"].size
            else ""
        )
        lines.append(
            f"Scores over time: effects (mu, theta) are on growth per unit of time; levels "
            f"(alpha) and {level_effect} are at time {centre:.4g}, the mean time of the "
            f"scores{covariates}."
        )
    return [line for line in lines if line]


def _data_lines(tree: xr.DataTree) -> list[str]:
    accounting = json.loads(tree.attrs["data_accounting"])
    return [
        f"Rows read {numbers.count(accounting['rows_read'])}, used "
        f"{numbers.count(accounting['rows_used'])}, dropped "
        f"{numbers.count(accounting['rows_dropped'])}.",
        *_drop_lines(accounting),
    ]


def _drop_lines(accounting: dict) -> list[str]:
    """Say which rows were dropped and why, one line per reason."""
    lines = []
    for drop in accounting["drops"]:
        where = f" (sites: {', '.join(drop['sites'])})" if drop.get("sites") else ""
        lines.append(f"Dropped {_rows(len(drop['rows']))}: {drop['reason']}{where}.")
    return lines


def _rows(count: int) -> str:
    return f"{numbers.count(count)} row" + ("" if count == 1 else "s")


def _warning_lines(tree: xr.DataTree) -> list[str]:
    """Return what a reader must know before the results: sampler problems, dropped rows."""
    problems = json.loads(tree.attrs.get("diagnostics", "[]"))
    lines = [f"Sampler: {problem}." for problem in problems]
    accounting = json.loads(tree.attrs["data_accounting"])
    if accounting["rows_dropped"]:
        lines.append(
            f"{_rows(accounting['rows_dropped'])} of {numbers.count(accounting['rows_read'])} "
            f"were dropped; the results use the other {numbers.count(accounting['rows_used'])}."
        )
    return lines + _drop_lines(accounting)


def _diagnostic_lines(tree: xr.DataTree) -> list[str]:
    problems = json.loads(tree.attrs.get("diagnostics", "[]"))
    sampler = json.loads(tree.attrs["sampler"])
    if sampler["method"] == "exact":
        return ["Exact posterior (quadrature): independent draws, no chains to diagnose."]
    if not problems:
        return [
            "No problems: no divergent transitions, every R-hat at most 1.01, every bulk and "
            "tail ESS at least 400."
        ]
    return ["The sampler's problems are listed under Warnings at the top of this report."]


def _software_lines(tree: xr.DataTree) -> list[str]:
    versions = json.loads(tree.attrs.get("software", "{}")) or {
        "sitefx": tree.attrs.get("sitefx_version", "?")
    }
    return [", ".join(f"{name} {number}" for name, number in versions.items()) + "."]


def _names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _html(title: str, sections: Sequence[Section], images: dict[str, bytes]) -> str:
    """Return the self-contained page, rendered by Jinja2 with autoescaping on.

    Every text that came from the user's data (site names, columns, titles, units) is
    escaped, in text and in attributes alike.
    """
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    parts = [
        {
            "title": section.title,
            "alert": section.alert,
            "paragraphs": section.paragraphs,
            "tables": [
                {
                    "columns": [str(c) for c in table.columns],
                    "rows": table.to_numpy().tolist(),
                    "wide": len(table.columns) > WIDE_TABLE,
                }
                for table in section.tables
            ],
            "figures": [
                {
                    "alt": f"{stem.replace('_', ' ')} plot",
                    "data": base64.b64encode(images[stem]).decode("ascii"),
                }
                for stem in section.figures
            ],
        }
        for section in sections
    ]
    return environment.from_string(HTML_PAGE).render(title=title, sections=parts)


WIDE_TABLE = 9  # columns; a wider table is printed on a landscape page

# Readable from a phone (400 px) to a desktop: text in lines of at most ~75 characters, a
# wide table scrolls sideways in its own box, never the page; printed on A4 or Letter without
# scroll boxes (wide tables on landscape pages), figures and table rows kept whole.
HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       font-size: 1.0625rem; line-height: 1.55; color: #1b1b1b; background: #fff;
       max-width: 72rem; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.75rem 0 1rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd; margin-top: 2rem; }
h1, h2, p { max-width: 44rem; overflow-wrap: anywhere; }
h1 + section:not(.alert) > p:first-of-type, .alert + section > p:first-of-type {
  font-size: 1.125rem; }
section.alert { border: 2px solid #b54708; border-left-width: 0.5rem; background: #fff8ed;
                border-radius: 0.25rem; padding: 0.25rem 1rem; margin: 1rem 0 1.5rem;
                max-width: 44rem; }
section.alert h2 { border: none; margin-top: 0.5rem; color: #7a2e0e; }
.table { overflow-x: auto; max-width: 100%; margin: 0.5rem 0 1rem;
         -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { padding: 0.2rem 0.5rem; text-align: right; border-bottom: 1px solid #e5e5e5;
         vertical-align: top; }
th { background: #f4f6f9; font-weight: 600; white-space: normal; min-width: 4.5rem; }
td:first-child, th:first-child { text-align: left; }
td { white-space: nowrap; }
td:first-child, td.text { white-space: normal; max-width: 22rem; overflow-wrap: anywhere; }
td.text { min-width: 9rem; }
td.text { text-align: left; }
td:first-child, th:first-child { position: sticky; left: 0; background: #fff; }
th:first-child { background: #f4f6f9; }
figure { margin: 1rem 0; }
img { display: block; max-width: 100%; height: auto; }
@media (max-width: 600px) {
  body { font-size: 1rem; padding: 0.5rem 0.75rem 2rem; }
  h1 { font-size: 1.35rem; }
  table { font-size: 0.8rem; }
}
@media print {
  @page { margin: 15mm 12mm; }
  @page wide { size: landscape; }
  .table.wide { page: wide; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  h1, h2, p, section.alert { max-width: none; }
  h2 { break-after: avoid; }
  .table { overflow: visible; }
  td:first-child, th:first-child { position: static; }
  table { font-size: 7pt; width: 100%; }
  td, th { white-space: normal; min-width: 0; padding: 0.1rem 0.25rem; }
  thead { display: table-header-group; }
  tr, figure, img, section.alert { break-inside: avoid; }
  img { max-height: 24cm; width: auto; }
}
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% for section in sections %}<section{% if section.alert %} class="alert" role="alert"\
{% endif %}><h2>{{ section.title }}</h2>
{% for text in section.paragraphs %}<p>{{ text }}</p>
{% endfor %}{% for table in section.tables %}<div class="table{% if table.wide %} wide\
{% endif %}"><table>
<thead><tr>{% for column in table.columns %}<th scope="col">{{ column }}</th>{% endfor %}</tr>\
</thead>
<tbody>{% for row in table.rows %}<tr>{% for cell in row %}<td{% if cell is string and \
cell|length > 40 %} class="text"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table></div>
{% endfor %}{% for figure in section.figures %}<figure><img alt="{{ figure.alt }}" \
src="data:image/png;base64,{{ figure.data }}"></figure>
{% endfor %}</section>
{% endfor %}</body>
</html>
"""


def _markdown(title: str, sections: Sequence[Section]) -> str:
    """Return the Markdown report; every user-supplied text escaped (:func:`_markdown_text`).

    A warning section is a block quote, its heading in bold.
    """
    lines = [f"# {_markdown_text(title)}", ""]
    for section in sections:
        if section.alert:
            quoted = [f"**{_markdown_text(section.title)}**"]
            quoted += [_markdown_text(text) for text in section.paragraphs]
            lines += ["\n>\n".join(f"> {text}" for text in quoted), ""]
            continue
        lines += [f"## {_markdown_text(section.title)}", ""]
        for text in section.paragraphs:
            lines += [_markdown_text(text), ""]
        for table in section.tables:
            lines += [_markdown_table(table), ""]
        for stem in section.figures:
            lines += [f"![{stem.replace('_', ' ')} plot](figures/{stem}.png)", ""]
    return "\n".join(lines)


def _markdown_table(table: pd.DataFrame) -> str:
    def row(cells: Sequence[object]) -> str:
        return "| " + " | ".join(_markdown_text(str(cell)) for cell in cells) + " |"

    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    return "\n".join([row(table.columns), rule, *(row(values) for values in table.to_numpy())])


MARKDOWN_SPECIAL = "\\`*_[]|#"


def _markdown_text(text: str) -> str:
    """Return text as Markdown shows it literally.

    HTML's ``<``, ``>`` and ``&`` become entities (a name cannot become a tag) and Markdown's
    own marks are backslash-escaped (nor a link, nor emphasis, nor a table cell's end); line
    breaks become spaces.
    """
    text = html.escape(" ".join(str(text).splitlines()), quote=False)
    return "".join(f"\\{char}" if char in MARKDOWN_SPECIAL else char for char in text)
