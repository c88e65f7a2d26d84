"""The forest plot of a fit: each site's raw and shrunken effect, the average and a new site's.

Up to :data:`~sitefx.report.numbers.NAMED_SITES` sites, a labelled row per site; above, a
caterpillar plot of fixed size (see :mod:`sitefx.report.plots`).
"""

from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sitefx.estimands import nesting_levels
from sitefx.report.numbers import NAMED_SITES
from sitefx.report.plots import (
    POOLED_COLOR,
    PREDICTIVE_COLOR,
    RAW_COLOR,
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

SORTS = ("data", "raw", "shrunken", "name", "group")
ORDERS = {  # how an unnamed site axis says the sites are ordered, top down
    "data": "in data order",
    "raw": "by raw estimate",
    "shrunken": "by shrunken effect",
    "name": "by name",
    "group": "by shrunken effect",
}


def forest_plot(
    tree: xr.DataTree,
    *,
    sort: Literal["data", "raw", "shrunken", "name", "group"] | None = None,
    group: str | None = None,
    panels: bool = False,
    title: str | None = None,
    results: Results | None = None,
) -> Figure:
    """Plot each site's raw estimate and shrunken interval, then ``mu`` and a new site's.

    Up to :data:`~sitefx.report.numbers.NAMED_SITES` sites, a labelled row per site: raw
    estimate +- 1.96 SE and the shrunken 95% posterior interval; the figure grows with the
    number of sites, so 80 sites stay legible. With more sites, a caterpillar plot of fixed
    size: each site's shrunken interval as one unlabelled line, its raw estimate as a light
    point, over bands of the 95% intervals of ``mu`` and of a new site; the axis says how
    many sites, in what order, and that each site's numbers are in ``sites.csv``. Below
    either, the average effect ``mu`` and the 95% predictive interval for a new site. Every
    value drawn is the one in the fit's tables (``results``, computed if not given).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as :meth:`sitefx.SiteEffects.fit` makes it (``fit.posterior_``) or
        :func:`~sitefx.report.read_fit` reads it.
    sort : {"data", "raw", "shrunken", "name", "group"}, optional
        Site order: as in the data, by raw estimate, by shrunken estimate, by name, or by
        ``group`` (then by shrunken estimate within a group). By default as in the data, or
        by shrunken estimate above ``NAMED_SITES`` sites.
    group : str, optional
        An upper nesting level (e.g. ``"district"``) to group the sites by; the default with
        ``sort="group"`` or ``panels`` is the outermost level.
    panels : bool, default False
        One panel per group, each with its group's average effect; above ``NAMED_SITES``
        sites, one block of lines per group in a single panel, each with its group's
        average effect (and its name, if the block is tall enough).
    title : str, optional
        The figure's title; by default ``"Site effects: raw vs shrunken"``.
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
        If ``sort`` is not one of the choices.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> forest_plot(fit.posterior_, sort="shrunken").get_suptitle()
    'Site effects: raw vs shrunken'
    """
    sites = tree["posterior"]["site"].values.astype(str)
    named = len(sites) <= NAMED_SITES
    sort = sort or ("data" if named else "shrunken")
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}; got '{sort}'")
    results = results or Results(tree)
    raw = tree["constant_data"]["raw_estimate"].values
    theta_mean = results.sites["mean"].to_numpy()
    groups = _groups(tree, group) if group or panels or sort == "group" else None
    order = {
        "data": np.arange(len(sites)),
        "raw": np.argsort(raw, kind="stable"),
        "shrunken": np.argsort(theta_mean, kind="stable"),
        "name": np.argsort(_name_keys(sites), kind="stable"),
        "group": np.lexsort((theta_mean, groups)) if groups is not None else None,
    }[sort]
    if panels:
        blocks = [(name, order[groups[order] == name]) for name in dict.fromkeys(groups[order])]
    else:
        blocks = [(None, order)]
    level = group or (nesting_levels(tree)[0] if groups is not None else None)
    if named:
        fig, axes = _labelled_forest(tree, results, blocks, level)
    else:
        in_groups = f"by {level}, then " if panels or sort == "group" else ""
        fig, axes = _caterpillar(tree, results, blocks, level, in_groups + ORDERS[sort])
    estimand_rows = results.estimands.set_index("estimand")
    for ax in axes:
        ax.axvline(0.0, color="0.75", lw=0.8, zorder=0)
        ax.axvline(estimand_rows.at["mu", "mean"], color=POOLED_COLOR, lw=0.8, ls=":", zorder=0)
        ax.grid(axis="x", color="0.93")
    axes[-1].set_xlabel(effect_label(tree))
    fig.suptitle(plot_label(title or "Site effects: raw vs shrunken", 100), fontsize=11)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return fig


def _name_keys(names: np.ndarray) -> np.ndarray:
    """Return sort keys for site names: numbers when every name is one (2 before 10)."""
    try:
        return names.astype(float)
    except ValueError:
        return names


def _groups(tree: xr.DataTree, group: str | None) -> np.ndarray:
    levels = nesting_levels(tree)
    if not levels:
        raise ValueError("grouping the sites needs an upper nesting level (fit with levels)")
    name = group or levels[0]
    if name not in levels:
        raise ValueError(f"no nesting level '{name}'; this fit has {', '.join(levels)}")
    return tree["constant_data"][f"site_{name}"].values.astype(str)


def _labelled_forest(
    tree: xr.DataTree,
    results: Results,
    blocks: list[tuple[str | None, np.ndarray]],
    level: str | None,
) -> tuple[Figure, np.ndarray]:
    """Return a forest plot with a labelled row per site: a panel per block, then ``mu``'s."""
    heights = [len(rows) + (1 if name else 0) for name, rows in blocks] + [2.6]
    n_rows = sum(heights)
    font = 9 if n_rows <= 44 else 7
    fig = Figure(figsize=(7.5, max(3.5, 0.24 * n_rows + 1.6)), layout="constrained")
    axes = fig.subplots(
        len(heights),
        1,
        sharex=True,
        gridspec_kw={"height_ratios": heights, "hspace": 0.02},
    )
    summary = results.summary.set_index("parameter")
    for ax, (name, rows) in zip(axes, blocks, strict=False):
        _site_rows(ax, tree, results.sites, rows, font=font)
        if name is not None:
            effect = summary.at[f"theta_{level}[{name}]", "mean"]
            label = f"{level}'s average effect" if ax is axes[0] else None
            ax.axvline(effect, color=SHRUNK_COLOR, lw=0.8, ls="--", zorder=0, label=label)
            ax.set_title(plot_label(f"{level} {name}", 80), fontsize=font + 1, loc="left")
    _population_rows(axes[-1], results.estimands.set_index("estimand"), font=font)
    return fig, axes


def _caterpillar(
    tree: xr.DataTree,
    results: Results,
    blocks: list[tuple[str | None, np.ndarray]],
    level: str | None,
    order: str,
) -> tuple[Figure, np.ndarray]:
    """Return a forest plot of unnamed sites: a line per site, top down, then ``mu``'s panel.

    The blocks' sites follow each other; with groups, each block gets its group's average
    effect, and its name when it is tall enough to read.
    """
    rows = np.concatenate([block for _, block in blocks])
    fig = Figure(figsize=UNNAMED_SIZE, layout="constrained")
    axes = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [8.0, 1.3], "hspace": 0.02}
    )
    ax = axes[0]
    estimand_rows = results.estimands.set_index("estimand")
    for name, color in [("theta_new", PREDICTIVE_COLOR), ("mu", POOLED_COLOR)]:
        low, high = estimand_rows.loc[name, ["q2.5", "q97.5"]]
        ax.axvspan(low, high, color=color, alpha=0.1, lw=0, zorder=0)
    y = np.arange(len(rows))[::-1].astype(float)
    raw = tree["constant_data"]["raw_estimate"].values[rows]
    ax.plot(raw, y, ".", color=RAW_COLOR, ms=2.5, alpha=0.5, label="raw estimate")
    mean, low, high = (
        results.sites[column].to_numpy()[rows] for column in ("mean", "q2.5", "q97.5")
    )
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
        label="shrunken (posterior), 95% interval",
    )
    unnamed_sites(ax, len(rows), order)
    if blocks[0][0] is not None:
        _group_blocks(ax, results, blocks, level)
    _population_rows(axes[-1], estimand_rows, font=9)
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
        color=SHRUNK_MEAN_COLOR,
        lw=1.0,
        ls="--",
        zorder=3,  # over the sites' intervals, which would hide it
        label=f"{level}'s average effect",
    )
    ax.hlines(bottom[:-1], 0, 1, transform=ax.get_yaxis_transform(), color="0.8", lw=0.5)
    tall = sizes >= sizes.sum() / 40  # a name needs about a fortieth of the panel's height
    names = [plot_label(name) for (name, _), shown in zip(blocks, tall, strict=True) if shown]
    ax.set_yticks((top + bottom)[tall] / 2, names, fontsize=7)


def _site_rows(ax: Axes, tree: xr.DataTree, sites: pd.DataFrame, rows: np.ndarray, *, font: int):
    """Draw raw and shrunken intervals of the sites ``rows`` (of the site table), top down."""
    constant = tree["constant_data"]
    raw = constant["raw_estimate"].values[rows]
    raw_half = Z_95 * constant["raw_se"].values[rows]
    mean, low, high = (sites[column].to_numpy()[rows] for column in ("mean", "q2.5", "q97.5"))
    y = np.arange(len(rows))[::-1].astype(float)
    first = ax is ax.figure.axes[0]
    ax.errorbar(
        raw,
        y + 0.18,
        xerr=raw_half,
        fmt="o",
        mfc="white",
        color=RAW_COLOR,
        ms=4,
        lw=1,
        label="raw estimate, 95% CI" if first else None,
    )
    ax.errorbar(
        mean,
        y - 0.18,
        xerr=[mean - low, high - mean],
        fmt="o",
        color=SHRUNK_COLOR,
        ms=4,
        lw=1.8,
        label="shrunken (posterior), 95% interval" if first else None,
    )
    sites = tree["posterior"]["site"].values.astype(str)[rows]
    ax.set_yticks(y, [plot_label(site) for site in sites], fontsize=font)
    ax.set_ylim(-0.7, len(rows) - 0.3)


def _population_rows(ax: Axes, estimand_rows: pd.DataFrame, *, font: int) -> None:
    """Draw the average effect and a new site's effect, with their 95% intervals."""
    for row, name, color, label in [
        (1.0, "mu", POOLED_COLOR, "average effect (mu)"),
        (0.0, "theta_new", PREDICTIVE_COLOR, "effect in a new site"),
    ]:
        mean, lo, hi = (estimand_rows.at[name, column] for column in ("mean", "q2.5", "q97.5"))
        ax.errorbar(
            mean,
            row,
            xerr=[[mean - lo], [hi - mean]],
            fmt="D",
            color=color,
            ms=6,
            lw=2.2,
            label=f"{label}, 95% interval",
        )
    ax.set_yticks([1.0, 0.0], ["average (mu)", "new site"], fontsize=font)
    ax.set_ylim(-0.6, 1.6)
