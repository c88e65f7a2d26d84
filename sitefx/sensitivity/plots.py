"""Plots of the sensitivity tables: the prior grid and each site's influence."""

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sitefx.report.plots import POOLED_COLOR, PREDICTIVE_COLOR, SHRUNK_COLOR


def prior_grid_plot(table: pd.DataFrame, *, units: str = "") -> Figure:
    """Plot ``mu`` and ``tau`` (posterior mean and 95% interval) under each pair of priors.

    Rows whose conclusion about ``mu`` differs from the first (the model's own priors) are
    orange.

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`PriorGrid.table <sitefx.sensitivity.PriorGrid>` (or the ``prior_grid.csv``
        that ``sitefx sensitivity`` writes).
    units : str, default ""
        The effects' units, for the axis labels.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, ``mu`` and ``tau``, one row per pair of priors.

    Examples
    --------
    >>> import sitefx
    >>> from sitefx.sensitivity import prior_grid
    >>> grid = prior_grid(sitefx.SiteEffects(seed=1), sitefx.load("studies/eight_schools"),
    ...                   alt_tau=["half-cauchy(5)"], alt_mu=[])
    >>> len(prior_grid_plot(grid.table).axes)
    2
    """
    labels = ("mu ~ " + table["prior_mu"] + ", tau ~ " + table["prior_tau"]).tolist()
    y = np.arange(len(table))[::-1]
    colors = np.where(table["flipped"], PREDICTIVE_COLOR, SHRUNK_COLOR)
    fig = Figure(figsize=(9.0, max(2.8, 0.3 * len(table) + 1.3)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, name in zip(axes, ("mu", "tau"), strict=True):
        mean = table[f"{name}_mean"].to_numpy()
        low, high = table[f"{name}_q2.5"].to_numpy(), table[f"{name}_q97.5"].to_numpy()
        ax.errorbar(mean, y, xerr=[mean - low, high - mean], fmt="none", ecolor=colors, lw=1.6)
        ax.scatter(mean, y, color=colors, s=18, zorder=3)
        ax.axvline(mean[0], color=POOLED_COLOR, lw=0.8, ls=":")
        ax.set_xlabel(f"{name}{f' ({units})' if units else ''}")
        ax.grid(axis="x", color="0.93")
    axes[0].axvline(0.0, color="0.75", lw=0.8, zorder=0)
    axes[0].set_yticks(y, labels, fontsize=8)
    fig.suptitle(
        "Posterior under other priors (orange: the conclusion about mu changes)", fontsize=10
    )
    return fig


def influence_plot(table: pd.DataFrame) -> Figure:
    """Plot each site's influence on ``mu`` and ``tau``.

    That is, how far ``mu``'s mean moves without the site (in posterior SDs) and how much
    ``tau``'s mean changes (relative); sites are ordered by their influence on ``mu``.

    Parameters
    ----------
    table : pandas.DataFrame
        The table of :func:`~sitefx.sensitivity.leave_one_site_out` (``site``,
        ``mu_shift``, ...).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, one row per site.

    Examples
    --------
    >>> import sitefx
    >>> from sitefx.sensitivity import leave_one_site_out
    >>> model = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> influence_plot(leave_one_site_out(model)).axes[0].get_xlabel()
    'change in mu without the site (posterior SDs)'
    """
    order = np.argsort(np.abs(table["mu_shift"].to_numpy()))
    y = np.arange(len(table))
    sites = table["site"].astype(str).to_numpy()[order]
    font = 9 if len(table) <= 40 else 7
    fig = Figure(figsize=(8.5, max(2.8, 0.22 * len(table) + 1.3)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, column, label in [
        (axes[0], "mu_shift", "change in mu without the site (posterior SDs)"),
        (axes[1], "tau_shift", "relative change in tau without the site"),
    ]:
        values = table[column].to_numpy()[order]
        ax.hlines(y, 0.0, values, color=SHRUNK_COLOR, lw=1.4)
        ax.scatter(values, y, color=SHRUNK_COLOR, s=16, zorder=3)
        ax.axvline(0.0, color="0.6", lw=0.8)
        ax.set_xlabel(label, fontsize=9)
        ax.grid(axis="x", color="0.93")
    axes[0].set_yticks(y, sites, fontsize=font)
    fig.suptitle("Leave one site out: influence on the average effect and its spread", fontsize=10)
    return fig
