"""Figures of a meta-regression: the sites' effects against each moderator.

Like the plots of :mod:`sitefx.report.plots`, each function takes the fit's DataTree and
returns a matplotlib Figure made without pyplot.
"""

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from sitefx.report.plots import RAW_COLOR, SHRUNK_COLOR, plot_label

MODERATOR_COLUMNS = 3  # panels per row of a moderator plot


def moderator_plot(tree: xr.DataTree, moderator: str | None = None) -> Figure:
    """Plot the sites' raw effects against a moderator, with the posterior regression line.

    A bubble plot per moderator: each site's raw estimate against its moderator value, the
    bubble's area proportional to its precision (1 / SE²). The line is the posterior mean
    of ``mu + gamma * (w - mean w)``, the effect the meta-regression predicts at moderator
    value ``w`` (the model centres each moderator at its mean across sites, so ``mu`` is
    the effect at the average; the other moderators are at their averages), in a band of
    its 95% posterior interval (from the draws). The raw estimates are not adjusted for the
    other moderators.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit with moderators (``sitefx fit ... --moderators``), as
        :meth:`sitefx.SiteEffects.fit` makes it (``fit.posterior_``) or
        :func:`~sitefx.report.read_fit` reads it.
    moderator : str, optional
        The moderator to plot; by default one panel per moderator.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per moderator plotted (up to three a row), titled with its name.

    Raises
    ------
    ValueError
        If the fit has no moderators, or none named ``moderator``.

    Examples
    --------
    >>> import sitefx
    >>> study = sitefx.load("studies/teacher_expectancy", moderators=["weeks"])
    >>> fit = sitefx.SiteEffects(seed=1).fit(study)
    >>> moderator_plot(fit.posterior_).axes[0].get_xlabel()
    'weeks'
    """
    constant = tree["constant_data"]
    if "moderators" not in constant:
        raise ValueError("the fit has no moderators (fit with --moderators)")
    names = constant["moderator"].values.astype(str).tolist()
    if moderator is not None and moderator not in names:
        raise ValueError(f"no moderator '{moderator}'; this fit has {', '.join(names)}")
    shown = names if moderator is None else [moderator]
    columns = min(len(shown), MODERATOR_COLUMNS)
    rows = -(-len(shown) // columns)
    width = 6.5 if columns == 1 else 4.2 * columns
    fig = Figure(figsize=(width, 0.5 + 4.0 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False, sharey=True).ravel()
    raw = constant["raw_estimate"].values
    precision = 1.0 / constant["raw_se"].values ** 2
    area = 10 + 290 * precision / precision.max()
    mu = tree["posterior"]["mu"].values.ravel()
    for ax, name in zip(axes, shown, strict=False):
        values = constant["moderators"].sel(moderator=name).values
        gamma = tree["posterior"]["gamma"].sel(moderator=name).values.ravel()
        grid = np.linspace(values.min(), values.max(), 200)
        lines = mu[:, None] + gamma[:, None] * (grid - values.mean())  # (draw, grid)
        low, high = np.quantile(lines, [0.025, 0.975], axis=0)
        ax.fill_between(grid, low, high, color=SHRUNK_COLOR, alpha=0.2, lw=0, label="95% interval")
        ax.plot(
            grid,
            lines.mean(axis=0),
            color=SHRUNK_COLOR,
            lw=2.0,
            label="mu + gamma (w - mean w), posterior mean",
        )
        ax.scatter(
            values,
            raw,
            s=area,
            facecolor="white",
            edgecolor=RAW_COLOR,
            alpha=0.9,
            zorder=3,
            label="raw estimate (area ∝ 1 / SE²)",
        )
        ax.axhline(0.0, color="0.75", lw=0.8, zorder=0)
        ax.set_xlabel(plot_label(name))
        ax.set_title(plot_label(f"effect by {name}", 80), fontsize=10)
        ax.grid(color="0.93")
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    units = plot_label(tree.attrs.get("units", ""))
    axes[0].set_ylabel(f"treatment effect{f' ({units})' if units else ''}")
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="outside lower center",
        ncol=2 if columns == 1 else 3,  # one panel is too narrow for the three in a row
        fontsize=8,
        frameon=False,
    )
    return fig
