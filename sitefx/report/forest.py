"""The forest plot of a fit, in the meta-analytic convention (metafor, R ``forestplot``).

Up to :data:`~sitefx.report.numbers.NAMED_SITES` sites, a labelled row per site: the raw
estimate with its 95% confidence interval (a square sized by the site's weight) and the
shrunken 95% posterior interval, with text columns on the right (the shrunken effect and its
interval, the pooling factor, the site's size); with nesting levels, a block per group with
its average as a diamond. At the bottom, the average effect ``mu`` as a diamond, the 95%
predictive interval of a new site as a bar, the between-site SDs and I². Above
``NAMED_SITES`` sites, a caterpillar plot of fixed size without names (see
:mod:`sitefx.report.plots`). Colours are the Okabe-Ito palette, safe for colour-blind readers.
"""

import re
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import offset_copy

from sitefx.estimands import nesting_levels
from sitefx.report.numbers import NAMED_SITES, decimals, number, percent, plural, site_nouns
from sitefx.report.plots import (
    OKABE_ITO,
    PREDICTIVE_COLOR,
    SHRUNK_COLOR,
    SHRUNK_MEAN_COLOR,
    UNNAMED_SIZE,
    Z_95,
    effect_label,
    line_width,
    plot_label,
    unnamed_sites,
)
from sitefx.report.tables import Results

# The palette of every plot (plots.OKABE_ITO); raw estimates are black squares, as in metafor.
RAW_COLOR = OKABE_ITO["black"]
AVERAGE_COLOR = "#333333"
GROUP_COLOR = OKABE_ITO["bluish green"]
NULL_COLOR = "0.45"
CATERPILLAR_RAW = "0.5"  # a caterpillar's raw estimates: light points
SORTS = ("data", "raw", "shrunken", "name", "group")
ORDERS = {  # how an unnamed site axis says the sites are ordered, top down
    "data": "in data order",
    "raw": "by raw estimate",
    "shrunken": "by shrunken effect",
    "name": "by name",
    "group": "by shrunken effect",
}
WIDTH = 10.0  # inches of a forest plot with named sites
ROW_INCHES = 0.22  # height of a row of a forest plot with named sites
COLUMN_GAP = 8  # points between the plot and its first text column


def forest_plot(
    tree: xr.DataTree,
    *,
    sort: Literal["data", "raw", "shrunken", "name", "group"] | None = None,
    group: str | None = None,
    panels: bool | None = None,
    title: str | None = None,
    units: str | None = None,
    unit_name: str | None = None,
    null: float = 0.0,
    results: Results | None = None,
) -> Figure:
    """Plot each site's raw and shrunken effect, then ``mu``, a new site's effect and I².

    Up to :data:`~sitefx.report.numbers.NAMED_SITES` sites, a labelled row per site, as
    metafor's forest plots: the raw estimate +- 1.96 SE, a square whose area is the site's
    number of people (or, without it, its weight ``1 / (SE² + tau²)``), and the shrunken 95%
    posterior interval; on the right, the shrunken effect with its 95% interval, the pooling
    factor and the number of people (when the data give it). A solid line marks the null
    effect, a dashed one the average effect ``mu``. At the bottom, ``mu`` as a diamond (its
    95% interval), the 95% predictive interval of a new site as a bar, the posterior medians
    of the between-site SDs (``tau``, and ``tau_<level>`` with nesting levels) and I². With
    nesting levels, the sites come in a block per group (groups in natural order of their
    names), each ending in a diamond of its group's average effect (``theta_<level>``).
    The figure grows with the rows, so 80 sites stay legible.

    Above ``NAMED_SITES`` sites, a caterpillar plot of fixed size: each site's shrunken
    interval as one unlabelled line, its raw estimate as a light point, over bands of the 95%
    intervals of ``mu`` and of a new site; the axis says how many sites, in what order, and
    that each site's numbers are in ``sites.csv``. Every value drawn is the one in the fit's
    tables (``results``, computed if not given).

    I² is Higgins & Thompson's (2002) share of the variance of a site's raw estimate that is
    between sites, as metafor reports it: ``tau² / (tau² + s²)``, ``s²`` the typical
    within-site variance of the raw SEs (:func:`i_squared`), ``tau²`` the squared posterior
    median of ``tau`` (with nesting levels, the sum of the squared medians of ``tau`` and
    each ``tau_<level>``; with moderators, the residual ``tau``). For individual records the
    raw SEs are those of each site's own estimate, from its records alone.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as :meth:`sitefx.SiteEffects.fit` makes it (``fit.posterior_``) or
        :func:`~sitefx.report.read_fit` reads it.
    sort : {"data", "raw", "shrunken", "name", "group"}, optional
        Site order, top down: as in the data, by raw estimate, by shrunken estimate, by name
        (natural order: "school 2" before "school 10"), or by ``group`` (then by shrunken
        estimate within a group). By default as in the data, or by shrunken estimate above
        ``NAMED_SITES`` sites. In blocks, the order within each block.
    group : str, optional
        An upper nesting level (e.g. ``"district"``) to group the sites by; the default with
        ``sort="group"`` or ``panels`` is the outermost level.
    panels : bool, optional
        One block per group, each ending in its group's average effect; above
        ``NAMED_SITES`` sites, one block of lines per group in a single panel, each with its
        group's average effect (and its name, if the block is tall enough). By default, when
        the fit has nesting levels.
    title : str, optional
        The figure's title; by default ``"<Unit> effects: raw vs shrunken"``.
    units : str, optional
        The effects' units on the x axis; by default the fit's (``units`` in ``study.toml``).
    unit_name : str, optional
        What a site is called, e.g. ``"school"`` (in "new school"); by default the name of
        the fit's site column.
    null : float, default 0.0
        The effect drawn as the null line.
    results : Results, optional
        The fit's tables, if already computed; every value drawn is the one in them.

    Returns
    -------
    matplotlib.figure.Figure
        The forest plot: one labelled row per site (taller with more sites), or above
        ``NAMED_SITES`` sites a figure of fixed size.

    Raises
    ------
    ValueError
        If ``sort`` is not one of the choices, or grouping is asked of a fit without that
        nesting level.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> figure = forest_plot(fit.posterior_, sort="shrunken")
    >>> figure.get_suptitle(), [label.get_text() for label in figure.axes[-1].get_yticklabels()]
    ... # doctest: +NORMALIZE_WHITESPACE
    ('School effects: raw vs shrunken',
     ['average effect (mu)', 'new school (95% predictive interval)',
      'tau (SD of school effects), median', 'I² (share of variance between schools)'])
    """
    n_sites = tree["posterior"].sizes["site"]
    named = n_sites <= NAMED_SITES
    sort = sort or ("data" if named else "shrunken")
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}; got '{sort}'")
    results = results or Results(tree)
    levels = nesting_levels(tree)
    panels = bool(levels) if panels is None else panels
    groups = _groups(tree, group) if group or panels or sort == "group" else None
    order = _order(results.sites, sort, groups)
    if panels:
        blocks = [(name, order[groups[order] == name]) for name in dict.fromkeys(groups[order])]
    else:
        blocks = [(None, order)]
    level = group or (levels[0] if groups is not None else None)
    unit = plot_label(unit_name or site_nouns(tree)[0])
    population = _population_table(tree, results, unit)
    if named:
        fig, axes = _labelled_forest(results, blocks, level, population, unit)
    else:
        in_groups = f"by {level}, then " if panels or sort == "group" else ""
        fig, axes = _caterpillar(results, blocks, level, in_groups + ORDERS[sort], population)
    mu = results.estimands.set_index("estimand").at["mu", "mean"]
    for ax in axes:
        ax.axvline(null, color=NULL_COLOR, lw=1.0, zorder=0)
        ax.axvline(mu, color=AVERAGE_COLOR, lw=0.8, ls="--", zorder=0)
        ax.grid(axis="x", color="0.93")
    axes[-1].set_xlabel(effect_label(tree, units))
    default_title = f"{unit[:1].upper()}{unit[1:]} effects: raw vs shrunken"
    fig.suptitle(plot_label(title or default_title, 100), fontsize=11)
    handles = _legend(results.sites, unit, level if blocks[0][0] is not None else None, null, named)
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=4 if named else 3,
        fontsize=8,
        frameon=False,
    )
    return fig


def i_squared(se: np.ndarray, tau: float) -> float:
    """Return I²: the share of the variance of a site's raw estimate that is between sites.

    ``tau² / (tau² + s²)`` (Higgins & Thompson 2002), as metafor's ``rma`` reports it, with
    ``s²`` the typical within-site variance ``(k - 1) Σw / ((Σw)² - Σw²)``, ``w = 1 / SE²``
    over the ``k`` sites.

    Parameters
    ----------
    se : numpy.ndarray
        Each site's standard error of its raw estimate.
    tau : float
        The SD of the site effects.

    Returns
    -------
    float
        I², from 0 to 1; NaN with fewer than two sites.

    Examples
    --------
    Five sites with the same SE: ``s²`` is that SE squared.

    >>> i_squared(np.full(5, 2.0), 2.0)
    0.5
    """
    weights = 1.0 / np.asarray(se, float) ** 2
    if len(weights) < 2:
        return float("nan")
    total = weights.sum()
    typical = (len(weights) - 1) * total / (total**2 - (weights**2).sum())
    return float(tau**2 / (tau**2 + typical))


def _natural_key(text: str) -> list:
    """Return a sort key of a name in which runs of digits are numbers ("2" before "10")."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _natural_order(names: np.ndarray) -> np.ndarray:
    return np.array(sorted(range(len(names)), key=lambda j: _natural_key(names[j])), dtype=int)


def _order(sites: pd.DataFrame, sort: str, groups: np.ndarray | None) -> np.ndarray:
    """Return the site rows in ``sort`` order, top down.

    With groups, the groups come in natural order of their names, each in ``sort`` order.
    """
    if sort == "data":
        order = np.arange(len(sites))
    elif sort == "name":
        order = _natural_order(sites["site"].to_numpy().astype(str))
    else:  # by raw estimate, or by shrunken effect (within groups too)
        column = "raw_estimate" if sort == "raw" else "mean"
        order = np.argsort(sites[column].to_numpy(), kind="stable")
    if groups is None:
        return order
    names = np.array(list(dict.fromkeys(groups)))
    rank = dict(zip(names[_natural_order(names)], range(len(names)), strict=True))
    return order[np.argsort([rank[name] for name in groups[order]], kind="stable")]


def _groups(tree: xr.DataTree, group: str | None) -> np.ndarray:
    levels = nesting_levels(tree)
    if not levels:
        raise ValueError("grouping the sites needs an upper nesting level (fit with levels)")
    name = group or levels[0]
    if name not in levels:
        raise ValueError(f"no nesting level '{name}'; this fit has {', '.join(levels)}")
    return tree["constant_data"][f"site_{name}"].values.astype(str)


def _interval(mean: float, low: float, high: float, places: int) -> str:
    """Return ``"mean [low, high]"`` with ``places`` decimals."""
    return f"{number(mean, places)} [{number(low, places)}, {number(high, places)}]"


def _site_table(results: Results, places: int) -> pd.DataFrame:
    """Return what each site's row draws and says, in the site table's order.

    The intervals have ``places`` decimals, one number for the column to align.
    """
    sites = results.sites
    n = sites["n"].to_numpy(float)
    if np.isfinite(n).all():
        weight = n
    else:
        tau = results.estimands.set_index("estimand").at["tau", "q50"]
        weight = 1.0 / (sites["raw_se"].to_numpy() ** 2 + tau**2)
    return pd.DataFrame(
        {
            "label": [plot_label(site) for site in sites["site"].astype(str)],
            "raw": sites["raw_estimate"],
            "raw_half": Z_95 * sites["raw_se"],
            "mean": sites["mean"],
            "low": sites["q2.5"],
            "high": sites["q97.5"],
            "square": 8 + 64 * weight / weight.max(),  # area in points²
            "interval": [
                _interval(*values, places)
                for values in sites[["mean", "q2.5", "q97.5"]].itertuples(index=False)
            ],
            "pooling": [percent(share) for share in sites["pooling_factor"]],
            "n": [number(count, 0) for count in n],
        }
    )


def _population_table(tree: xr.DataTree, results: Results, unit: str) -> pd.DataFrame:
    """Return the rows below the sites: ``mu``, a new site, the between-site SDs and I²."""
    rows = results.estimands.set_index("estimand")
    sds = ["tau", *(f"tau_{level}" for level in nesting_levels(tree))]
    heterogeneity = np.sqrt(sum(rows.at[name, "q50"] ** 2 for name in sds))
    share = i_squared(results.sites["raw_se"].to_numpy(), heterogeneity)
    student_t = tree.attrs.get("site_dist") == "student-t"  # tau scales a t, not an SD
    between = {
        "tau": f"{'scale' if student_t else 'SD'} of {unit}",
        **{f"tau_{level}": f"SD of {level}" for level in nesting_levels(tree)},
    }
    table = [
        ("average effect (mu)", "diamond", "mu", "mean"),
        (f"new {unit} (95% predictive interval)", "bar", "theta_new", "mean"),
        *((f"{name} ({between[name]} effects), median", "", name, "q50") for name in sds),
    ]
    return pd.DataFrame(
        [
            {
                "label": label,
                "mark": mark,
                "mean": rows.at[name, "mean"],
                "low": rows.at[name, "q2.5"],
                "high": rows.at[name, "q97.5"],
                "text": _interval(
                    *rows.loc[name, [center, "q2.5", "q97.5"]], decimals(rows.at[name, "sd"])
                ),
            }
            for label, mark, name, center in table
        ]
        + [
            {
                "label": f"I² (share of variance between {plural(unit)})",
                "mark": "",
                "text": percent(share),
            }
        ]
    )


def _labelled_forest(
    results: Results,
    blocks: list[tuple[str | None, np.ndarray]],
    level: str | None,
    population: pd.DataFrame,
    unit: str,
) -> tuple[Figure, np.ndarray]:
    """Return a forest plot with a labelled row per site: a panel per block, then ``mu``'s.

    A block of a group ends in a row of its group's average effect, a diamond.
    """
    places = decimals(results.sites["sd"].min())  # the most any site's SD warrants
    table = _site_table(results, places)
    heights = [len(rows) + (1 if name is not None else 0) for name, rows in blocks]
    heights.append(len(population))
    n_rows = sum(heights) + 1.5 * sum(name is not None for name, _ in blocks)  # with titles
    font = 8 if n_rows <= 44 else 7
    fig = Figure(figsize=(WIDTH, max(4.0, ROW_INCHES * n_rows + 2.2)), layout="constrained")
    axes = fig.subplots(
        len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights, "hspace": 0.01}
    )
    columns = _columns(table)
    summary = results.summary.set_index("parameter")
    for ax, (name, rows) in zip(axes, blocks, strict=False):
        y = np.arange(len(rows))[::-1] + (0.0 if name is None else 1.0)
        shown = table.iloc[rows]
        _site_marks(ax, shown, y)
        labels, cells = list(shown["label"]), shown[[key for key, _, _ in columns]].to_numpy()
        if name is not None:
            row = summary.loc[f"theta_{level}[{name}]"]
            _diamond(ax, row["mean"], row["q2.5"], row["q97.5"], 0.0, GROUP_COLOR)
            y, labels = np.append(y, 0.0), [*labels, f"{level} average"]
            cells = [*cells, [_interval(*row[["mean", "q2.5", "q97.5"]], places)]]
            title = plot_label(f"{level} {name}", 80)
            ax.set_title(title, fontsize=font + 1, loc="left", fontweight="bold")
        ax.set_yticks(y, labels, fontsize=font)
        ax.set_ylim(-0.6, len(y) - 0.4)
        _text_columns(ax, y, cells, columns, font, header=ax is axes[0])
    corner = offset_copy(axes[0].transAxes, fig=fig, x=-4, y=3, units="points")
    axes[0].text(
        0.0, 1.0, unit, transform=corner, ha="right", va="bottom", fontsize=font, fontweight="bold"
    )
    _population_rows(axes[-1], population, font, columns[:1], header=False)
    return fig, axes


def _columns(table: pd.DataFrame) -> list[tuple[str, str, float]]:
    """Return the text columns right of the plot: (key, header, right edge in points).

    The key names a column of :func:`_site_table`; ``n`` is shown when the data give it.
    """
    columns = [
        ("interval", "shrunken\n[95% interval]", COLUMN_GAP + 100),
        ("pooling", "pooling", COLUMN_GAP + 145),
    ]
    if (table["n"] != "").all():
        columns.append(("n", "n", COLUMN_GAP + 185))
    return columns


def _text_columns(
    ax: Axes,
    y: np.ndarray,
    cells: list,
    columns: list[tuple[str, str, float]],
    font: int,
    *,
    header: bool,
) -> None:
    """Write each row's cells right of the plot, right-aligned in columns, with headers."""
    for j, (_, heading, edge) in enumerate(columns):
        at = offset_copy(ax.get_yaxis_transform(), fig=ax.figure, x=edge, units="points")
        for row, texts in zip(y, cells, strict=True):
            if j < len(texts) and texts[j]:
                ax.text(1.0, row, texts[j], transform=at, ha="right", va="center", fontsize=font)
        if header:
            top = offset_copy(ax.transAxes, fig=ax.figure, x=edge, y=3, units="points")
            ax.text(
                1.0,
                1.0,
                heading,
                transform=top,
                ha="right",
                va="bottom",
                fontsize=font,
                fontweight="bold",
            )


def _site_marks(ax: Axes, table: pd.DataFrame, y: np.ndarray) -> None:
    """Draw the raw estimates (squares, 95% CIs) over the shrunken 95% intervals."""
    raw, half = table["raw"].to_numpy(), table["raw_half"].to_numpy()
    ax.hlines(y + 0.17, raw - half, raw + half, color=RAW_COLOR, lw=0.9)
    ax.scatter(raw, y + 0.17, marker="s", s=table["square"], color=RAW_COLOR, lw=0, zorder=3)
    mean, low, high = (table[column].to_numpy() for column in ("mean", "low", "high"))
    ax.errorbar(
        mean, y - 0.17, xerr=[mean - low, high - mean], fmt="o", color=SHRUNK_COLOR, ms=3.5, lw=1.8
    )


def _diamond(ax: Axes, mean: float, low: float, high: float, y: float, color: str) -> None:
    """Draw a diamond over a 95% interval, widest at the mean."""
    ax.fill([low, mean, high, mean], [y, y + 0.32, y, y - 0.32], color=color, lw=0, zorder=3)


def _population_rows(
    ax: Axes, population: pd.DataFrame, font: int, columns: list, *, header: bool
) -> None:
    """Draw ``mu``'s diamond, a new site's predictive bar, and the SDs' and I²'s rows."""
    y = np.arange(len(population))[::-1].astype(float)
    for row, (mark, mean, low, high) in zip(
        y, population[["mark", "mean", "low", "high"]].itertuples(index=False), strict=True
    ):
        if mark == "diamond":
            _diamond(ax, mean, low, high, row, AVERAGE_COLOR)
        elif mark == "bar":
            ax.add_patch(
                Rectangle((low, row - 0.14), high - low, 0.28, color=PREDICTIVE_COLOR, lw=0)
            )
            ax.vlines(mean, row - 0.3, row + 0.3, color=PREDICTIVE_COLOR, lw=1.5)
    ax.set_yticks(y, population["label"], fontsize=font)
    ax.set_ylim(-0.6, len(y) - 0.4)
    _text_columns(ax, y, [[text] for text in population["text"]], columns, font, header=header)


def _legend(sites: pd.DataFrame, unit: str, level: str | None, null: float, named: bool) -> list:
    """Return the legend's entries: one per kind of mark."""
    sized = "area: people" if np.isfinite(sites["n"].to_numpy(float)).all() else "area: weight"
    entries = [
        Line2D(
            [],
            [],
            marker="s",
            color=RAW_COLOR,
            lw=0.9,
            ms=5,
            label=f"raw estimate, 95% CI ({sized})",
        )
        if named
        else Line2D([], [], marker=".", color=CATERPILLAR_RAW, lw=0, label="raw estimate"),
        Line2D(
            [],
            [],
            marker="o",
            color=SHRUNK_COLOR,
            lw=1.8,
            ms=3.5,
            label="shrunken (posterior), 95% interval",
        ),
        Line2D(
            [],
            [],
            marker="D",
            color=AVERAGE_COLOR,
            lw=0,
            ms=6,
            label="average effect (mu), 95% interval",
        ),
        Patch(color=PREDICTIVE_COLOR, label=f"new {unit}, 95% predictive interval"),
    ]
    if level is not None and named:
        entries.append(
            Line2D(
                [],
                [],
                marker="D",
                color=GROUP_COLOR,
                lw=0,
                ms=6,
                label=f"{level} average, 95% interval",
            )
        )
    elif level is not None:
        entries.append(
            Line2D([], [], color=GROUP_COLOR, lw=1.2, ls="--", label=f"{level}'s average effect")
        )
    entries += [
        Line2D([], [], color=NULL_COLOR, lw=1.0, label=f"null effect ({null:g})"),
        Line2D([], [], color=AVERAGE_COLOR, lw=0.8, ls="--", label="mu (posterior mean)"),
    ]
    return entries


def _caterpillar(
    results: Results,
    blocks: list[tuple[str | None, np.ndarray]],
    level: str | None,
    order: str,
    population: pd.DataFrame,
) -> tuple[Figure, np.ndarray]:
    """Return a forest plot of unnamed sites: a line per site, top down, then ``mu``'s panel.

    The blocks' sites follow each other; with groups, each block gets its group's average
    effect, and its name when it is tall enough to read.
    """
    rows = np.concatenate([block for _, block in blocks])
    fig = Figure(figsize=UNNAMED_SIZE, layout="constrained")
    axes = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [8.0, 2.2], "hspace": 0.02}
    )
    ax = axes[0]
    for mark, color in [("bar", PREDICTIVE_COLOR), ("diamond", AVERAGE_COLOR)]:
        low, high = population.set_index("mark").loc[mark, ["low", "high"]]
        ax.axvspan(low, high, color=color, alpha=0.1, lw=0, zorder=0)
    y = np.arange(len(rows))[::-1].astype(float)
    sites = results.sites
    raw = sites["raw_estimate"].to_numpy()[rows]
    ax.plot(raw, y, ".", color=CATERPILLAR_RAW, ms=2.5, alpha=0.5)
    mean, low, high = (sites[column].to_numpy()[rows] for column in ("mean", "q2.5", "q97.5"))
    ax.errorbar(
        mean,
        y,
        xerr=[mean - low, high - mean],
        fmt="o",
        color=SHRUNK_COLOR,
        mfc=SHRUNK_MEAN_COLOR,
        mec=SHRUNK_MEAN_COLOR,
        ms=1.5,
        lw=line_width(len(rows)),
    )
    unnamed_sites(ax, len(rows), order)
    if blocks[0][0] is not None:
        _group_blocks(ax, results, blocks, level)
    _population_rows(
        axes[-1],
        population,
        8,
        [("text", "estimate\n[95% interval]", COLUMN_GAP + 100)],
        header=True,
    )
    return fig, axes


def _group_blocks(
    ax: Axes, results: Results, blocks: list[tuple[str, np.ndarray]], level: str
) -> None:
    """Mark each group's block of rows: its average effect, a rule between blocks, its name."""
    sizes = np.array([len(rows) for _, rows in blocks])
    top = sizes.sum() - 0.5 - np.concatenate([[0], np.cumsum(sizes)[:-1]])
    bottom = top - sizes
    summary = results.summary.set_index("parameter")
    effects = [summary.at[f"theta_{level}[{name}]", "mean"] for name, _ in blocks]
    ax.vlines(
        effects,
        bottom,
        top,
        color=GROUP_COLOR,
        lw=1.2,
        ls="--",
        zorder=3,  # over the sites' intervals, which would hide it
        label=f"{level}'s average effect",
    )
    ax.hlines(bottom[:-1], 0, 1, transform=ax.get_yaxis_transform(), color="0.8", lw=0.5)
    tall = sizes >= sizes.sum() / 40  # a name needs about a fortieth of the panel's height
    names = [plot_label(name) for (name, _), shown in zip(blocks, tall, strict=True) if shown]
    ax.set_yticks((top + bottom)[tall] / 2, names, fontsize=7)
