"""Funnel plots: each study's estimate against its standard error (smaller SEs on top).

Without small-study effects the studies scatter symmetrically around the average effect,
more widely at the bottom. The plain funnel draws the region ``mu +- 1.96 SE`` where 95% of
studies would fall around the posterior mean of ``mu`` (no heterogeneity); the
contour-enhanced funnel (Peters et al. 2008) shades, around 0, where a study would be
significant at two-sided 10%, 5% and 1%: studies missing from the white (non-significant)
region and crowding into the shaded ones point to publication bias rather than to other
small-study effects.
"""

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

# Okabe-Ito colours
STUDY_COLOR = "#0072B2"  # blue
MU_COLOR = "#D55E00"  # vermillion
LEVELS = (0.10, 0.05, 0.01)  # two-sided significance of the shaded contours
SHADES = ("#E8E8E8", "#C8C8C8", "#A0A0A0")  # lighter to darker: p < .10, < .05, < .01


def funnel_plot(
    estimate: np.ndarray,
    se: np.ndarray,
    mu: float,
    *,
    contours: bool = False,
    units: str = "effect",
) -> Figure:
    """Return a funnel plot of the studies, with a vertical line at the posterior mean of mu.

    Parameters
    ----------
    estimate, se : ndarray, shape (n_studies,)
        The studies' estimates and standard errors.
    mu : float
        The average effect to mark (posterior mean of ``mu``).
    contours : bool, default False
        Shade where a study is significant at two-sided 10%, 5% and 1% (contour-enhanced);
        otherwise outline ``mu +- 1.96 SE``.
    units : str, default "effect"
        Label of the estimate axis.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; save it with ``savefig``.

    Examples
    --------
    >>> figure = funnel_plot(np.array([0.1, 0.3, -0.2]), np.array([0.1, 0.2, 0.3]), 0.1,
    ...                      contours=True)
    >>> bool(figure.axes[0].yaxis_inverted())
    True
    """
    estimate, se = np.asarray(estimate, float), np.asarray(se, float)
    figure = Figure(figsize=(8.0, 5.0), layout="constrained")
    ax = figure.add_subplot()
    top = 1.1 * se.max()
    grid = np.linspace(0.0, top, 200)
    reach = max(np.abs(estimate).max(), stats.norm.isf(min(LEVELS) / 2) * top, abs(mu))
    if contours:  # paint the darkest region, then narrower and lighter ones over it
        ax.fill_betweenx(grid, -1.1 * reach, 1.1 * reach, color=SHADES[2], lw=0, label="p < .01")
        bands = zip(
            LEVELS[::-1],
            ("white", *SHADES[:2])[::-1],
            ("p > .10", ".05-.10", ".01-.05")[::-1],
            strict=True,
        )
        for level, color, label in bands:
            half_width = stats.norm.isf(level / 2) * grid
            outline = {"edgecolor": "0.6", "lw": 0.5} if color == "white" else {"lw": 0}
            ax.fill_betweenx(grid, -half_width, half_width, facecolor=color, label=label, **outline)
    else:
        half_width = stats.norm.isf(0.025) * grid
        ax.plot(mu - half_width, grid, color="0.4", lw=1, ls="--", label="mu ± 1.96 SE")
        ax.plot(mu + half_width, grid, color="0.4", lw=1, ls="--")
    ax.scatter(
        estimate, se, s=28, color=STUDY_COLOR, edgecolor="white", lw=0.5, zorder=3, label="studies"
    )
    ax.axvline(mu, color=MU_COLOR, lw=1.5, label=f"posterior mean of mu ({mu:.2f})")
    ax.set_ylim(top, 0.0)
    ax.set_xlim(-reach * 1.1 if contours else None, reach * 1.1 if contours else None)
    ax.set_xlabel(units)
    ax.set_ylabel("standard error")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.set_title("Contour-enhanced funnel plot" if contours else "Funnel plot", fontsize=11)
    return figure
