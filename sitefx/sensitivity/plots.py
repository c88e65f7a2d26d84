"""Plots of the sensitivity tables: the prior grid and each site's influence."""

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sitefx.report.plots import POOLED_COLOR, PREDICTIVE_COLOR, SHRUNK_COLOR


def prior_grid_plot(table: pd.DataFrame, *, units: str = "") -> Figure:
    """Plot ``mu`` (posterior mean and 95% interval) under each pair of priors.

    Small multiples: one panel per prior of ``tau`` (titled with it and ``tau``'s posterior
    mean and 95% interval under the model's prior of ``mu``), one row per prior of ``mu``,
    on a shared axis; each row ends with ``P``, the posterior probability that ``mu`` is
    above the threshold. Rows whose conclusion about ``mu`` differs from the first (the
    model's own priors, a diamond) are vermillion.

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
        One panel per prior of ``tau`` (up to three a row), one row per prior of ``mu``.

    Examples
    --------
    >>> import sitefx
    >>> from sitefx.sensitivity import prior_grid
    >>> grid = prior_grid(sitefx.SiteEffects(seed=1), sitefx.load("studies/eight_schools"),
    ...                   alt_tau=["half-cauchy(5)"], alt_mu=[])
    >>> [ax.get_title().splitlines()[0] for ax in prior_grid_plot(grid.table).axes]
    ['tau ~ half-normal(11)', 'tau ~ half-cauchy(5)']
    """
    tau_priors = list(dict.fromkeys(table["prior_tau"]))
    mu_priors = list(dict.fromkeys(table["prior_mu"]))
    columns = min(len(tau_priors), GRID_COLUMNS)
    rows = -(-len(tau_priors) // columns)
    height = max(1.6, 0.32 * len(mu_priors) + 0.9)
    width = max(6.5, 3.6 * columns + 1.4)  # the title's lines fit 6.5 inches
    fig = Figure(figsize=(width, height * rows + 1.2), layout="constrained")
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, tau_prior in zip(axes, tau_priors, strict=False):
        _prior_grid_panel(ax, table, tau_prior, mu_priors)
    for ax in axes[len(tau_priors) :]:
        ax.set_visible(False)
    axes[0].set_yticks(-np.arange(len(mu_priors)), [f"mu ~ {prior}" for prior in mu_priors])
    axes[0].set_ylim(-len(mu_priors) + 0.4, 0.6)
    low, high = table["mu_q2.5"].min(), table["mu_q97.5"].max()
    axes[0].set_xlim(low - 0.05 * (high - low), high + 0.22 * (high - low))  # room for P
    fig.supxlabel(f"mu{f' ({units})' if units else ''}: mean, 95% interval", fontsize=9)
    fig.suptitle(
        "Average effect mu under other priors\ndiamond: the model's priors; vermillion: the "
        "conclusion about mu changes\nP: the probability that mu is above the threshold",
        fontsize=9,
    )
    return fig


GRID_COLUMNS = 3  # panels per row of the prior grid plot


def _prior_grid_panel(ax: Axes, table: pd.DataFrame, tau_prior: str, mu_priors: list[str]):
    """Draw ``mu`` under each prior of ``mu`` with this prior of ``tau``, one row each."""
    panel = table[table["prior_tau"] == tau_prior]
    y = -panel["prior_mu"].map(mu_priors.index).to_numpy()
    mean = panel["mu_mean"].to_numpy()
    colors = np.where(panel["flipped"], PREDICTIVE_COLOR, SHRUNK_COLOR)
    ax.hlines(y, panel["mu_q2.5"], panel["mu_q97.5"], colors=colors, lw=1.8)
    own = panel.index == table.index[0]
    for marker, rows in (("D", own), ("o", ~own)):
        ax.scatter(mean[rows], y[rows], color=colors[rows], marker=marker, s=26, zorder=3)
    for row, prob in zip(y, panel["prob_mu_above"], strict=True):
        ax.text(
            0.98,
            row,
            f"P {prob:.3f}",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=7,
            color="0.3",
        )
    ax.axvline(table["mu_mean"].iloc[0], color=POOLED_COLOR, lw=0.8, ls=":")
    ax.axvline(0.0, color="0.6", lw=0.8)
    tau = panel.iloc[0]  # under the model's prior of mu, when the grid has it
    interval = f"{tau['tau_q2.5']:.2g} to {tau['tau_q97.5']:.2g}"
    ax.set_title(f"tau ~ {tau_prior}\ntau {tau['tau_mean']:.2g} ({interval})", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", color="0.93")


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
