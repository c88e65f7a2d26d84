"""Plots of a fit: forest, shrinkage, prior vs posterior, ranks, predictive distribution.

Each function takes the fit's DataTree and returns a matplotlib Figure (save it as PNG or
SVG): the forest plot (in :mod:`sitefx.report.forest`), the shrinkage of each site's
estimate, prior against posterior, the sites' ranks, and the predictive distribution of site
effects. Figures are made without pyplot, so none stays open in a global registry: save
them, or show them in a notebook.

Up to :data:`~sitefx.report.numbers.NAMED_SITES` sites, the forest and rank plots give each
site a labelled row and grow with the sites. Above, they draw every site as one line of a
figure of fixed size, without names (a caterpillar plot), as a plot of a thousand names is
unreadable and its text layout costs more than the fit: each site's numbers are in
``sites.csv``. Each of their marks is drawn by one call for all sites.
"""

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats

from sitefx.estimands import people_per_site
from sitefx.models.priors import Prior
from sitefx.report.numbers import NAMED_SITES
from sitefx.report.tables import Results

RAW_COLOR = "0.45"
SHRUNK_COLOR = "#1f5fa8"
SHRUNK_MEAN_COLOR = "#0b2545"  # a caterpillar's posterior means, on their blue intervals
POOLED_COLOR = "black"
PREDICTIVE_COLOR = "#c25400"
PRIOR_COLOR = "0.35"
Z_95 = 1.959963984540054
UNNAMED_SIZE = (7.5, 7.5)  # inches of a forest or rank plot of more than NAMED_SITES sites
LABEL_LIMIT = 40  # characters of a site, group or study name shown in a plot


def plot_label(text: object, limit: int = LABEL_LIMIT) -> str:
    """Return a user-supplied name as a plot shows it: on one line, at most ``limit`` characters.

    A name of a million characters must not stall the layout.

    Parameters
    ----------
    text : object
        A site, group or study name (shown with ``str``).
    limit : int, default 40
        The most characters shown; a longer name is cut, ending in ``…``.

    Returns
    -------
    str
        The name with each run of whitespace (line breaks too) one space, cut to ``limit``.

    Examples
    --------
    >>> plot_label("Oak Hill Elementary"), plot_label("x" * 100, 10)
    ('Oak Hill Elementary', 'xxxxxxxxx…')
    """
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def effect_label(tree: xr.DataTree, units: str | None = None) -> str:
    """Return the label of an axis of effects: ``"treatment effect (<units>)"``.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit; its ``units`` attribute (from ``study.toml``) names the effects' units.
    units : str, optional
        Units to name instead of the fit's; ``""`` names none.

    Returns
    -------
    str
        The label, without parentheses when there are no units.

    Examples
    --------
    >>> import xarray as xr
    >>> tree = xr.DataTree(); tree.attrs["units"] = "SAT-V points"
    >>> effect_label(tree), effect_label(tree, units="")
    ('treatment effect (SAT-V points)', 'treatment effect')
    """
    units = plot_label(tree.attrs.get("units", "") if units is None else units)
    return f"treatment effect{f' ({units})' if units else ''}"


def _site_draws(tree: xr.DataTree) -> np.ndarray:
    """Return the site effects' draws, shape (site, sample)."""
    theta = tree["posterior"]["theta"].transpose("site", "chain", "draw").values
    return theta.reshape(theta.shape[0], -1)


def _sample(tree: xr.DataTree, name: str) -> np.ndarray:
    return tree["posterior"][name].values.ravel()


def line_width(n_sites: int) -> float:
    """Return the width (points) of a site's line when the sites share a panel of fixed size.

    Parameters
    ----------
    n_sites : int
        The sites drawn in the panel.

    Returns
    -------
    float
        250 points shared among the sites, from 0.3 to 1.5 points.

    Examples
    --------
    >>> line_width(100), line_width(10_000)
    (1.5, 0.3)
    """
    return float(np.clip(250 / n_sites, 0.3, 1.5))


def unnamed_sites(ax: Axes, n_sites: int, order: str) -> None:
    """Say on the site axis how many sites it shows, in what order, and where their numbers are.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        A panel of one unnamed row per site, top down.
    n_sites : int
        The sites it shows.
    order : str
        How they are ordered, e.g. ``"by shrunken effect"``.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> unnamed_sites(ax, 1000, "by shrunken effect")
    >>> print(ax.get_ylabel())
    1,000 sites, by shrunken effect (each site's numbers: sites.csv)
    """
    ax.set_yticks([])
    ax.set_ylabel(f"{n_sites:,} sites, {order} (each site's numbers: sites.csv)", fontsize=9)
    ax.set_ylim(-0.5, n_sites - 0.5)


def shrinkage_plot(
    tree: xr.DataTree, *, title: str | None = None, results: Results | None = None
) -> Figure:
    """Plot how far each site's estimate moved toward the average.

    An arrow goes from each site's raw estimate (top) to its posterior mean (bottom); marker
    area grows with the site's number of people (or its precision, when the data do not give
    sizes).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as :meth:`sitefx.SiteEffects.fit` makes it (``fit.posterior_``) or
        :func:`~sitefx.report.read_fit` reads it.
    title : str, optional
        The plot's title; by default it says what the marker area shows.
    results : Results, optional
        The fit's tables, if already computed; every value drawn is the one in them.

    Returns
    -------
    matplotlib.figure.Figure
        One panel, with a vertical line at the posterior mean of ``mu``.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> len(shrinkage_plot(fit.posterior_).axes)
    1
    """
    results = results or Results(tree)
    constant = tree["constant_data"]
    raw = constant["raw_estimate"].values
    shrunk = results.sites["mean"].to_numpy()
    people = people_per_site(constant.to_dataset())
    weight = people if people is not None else 1.0 / constant["raw_se"].values ** 2
    size = 20 + 180 * weight / weight.max()
    fig = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = fig.subplots()
    stop = 0.88  # arrow heads end just above the shrunken markers
    ax.quiver(  # one arrow per site, drawn as a single artist (fast for 1,000 sites)
        raw,
        np.ones_like(raw),
        shrunk - raw,
        -stop * np.ones_like(raw),
        angles="xy",
        scale_units="xy",
        scale=1.0,
        color=SHRUNK_COLOR,
        alpha=0.6,
        width=0.0025,
        headwidth=5,
        headlength=7,
    )
    ax.scatter(raw, np.ones_like(raw), s=size, facecolor="white", edgecolor=RAW_COLOR, zorder=3)
    ax.scatter(shrunk, np.zeros_like(shrunk), s=size, color=SHRUNK_COLOR, alpha=0.8, zorder=3)
    mu = results.estimands.set_index("estimand").at["mu", "mean"]
    ax.axvline(mu, color=POOLED_COLOR, lw=0.8, ls=":")
    ax.set_yticks([1.0, 0.0], ["raw estimate", "shrunken"])
    ax.set_ylim(-0.35, 1.35)
    ax.set_xlabel(effect_label(tree))
    sized = "people" if people is not None else "precision (1 / SE²)"
    ax.set_title(title or f"Shrinkage toward the average (marker area: {sized})", fontsize=11)
    ax.grid(axis="x", color="0.93")
    return fig


def prior_posterior_plot(tree: xr.DataTree) -> Figure:
    """Plot the prior density against the posterior draws of ``mu`` and ``tau``.

    The prior is a line, the posterior a histogram: how much the data, not the prior,
    determined them.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as :meth:`sitefx.SiteEffects.fit` makes it (``fit.posterior_``) or
        :func:`~sitefx.report.read_fit` reads it.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, ``mu`` and ``tau``, titled with their priors.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> [ax.get_title() for ax in prior_posterior_plot(fit.posterior_).axes]
    ['mu ~ normal(0, 28)', 'tau ~ half-normal(11)']
    """
    fig = Figure(figsize=(8.5, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, name in zip(axes, ("mu", "tau"), strict=True):
        draws = _sample(tree, name)
        low, high = np.quantile(draws, [0.001, 0.995])
        pad = 0.25 * (high - low)
        grid = np.linspace(
            max(low - pad, 1e-6 * high) if name == "tau" else low - pad, high + pad, 400
        )
        ax.hist(
            draws,
            bins=60,
            range=(grid[0], grid[-1]),
            density=True,
            color=SHRUNK_COLOR,
            alpha=0.45,
            label="posterior",
        )
        spec = str(tree.attrs.get(f"prior_{name}", ""))
        prior = Prior.parse(spec) if spec else None
        if prior is not None and prior.family != "flat":
            density = np.exp(prior.log_density(grid))
            ax.plot(grid, density, color=PRIOR_COLOR, lw=1.6, label="prior")
        ax.set_title(f"{name} ~ {spec}" if spec else name, fontsize=10)
        ax.set_xlabel(effect_label(tree) if name == "mu" else "cross-site SD")
        ax.set_yticks([])
    axes[0].legend(fontsize=8, frameon=False)
    return fig


def rank_plot(tree: xr.DataTree, *, results: Results | None = None) -> Figure:
    """Plot each site's posterior rank (1 = largest effect): mean and 95% interval.

    Sites are in order of mean rank. Wide intervals say the data cannot order the sites.
    Above :data:`~sitefx.report.numbers.NAMED_SITES` sites the rows are unlabelled and the
    figure keeps a fixed size, as the forest plot's.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as :meth:`sitefx.SiteEffects.fit` makes it (``fit.posterior_``) or
        :func:`~sitefx.report.read_fit` reads it.
    results : Results, optional
        The fit's tables, if already computed; every value drawn is the one in them.

    Returns
    -------
    matplotlib.figure.Figure
        One panel, one row per site (labelled up to ``NAMED_SITES`` sites).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> rank_plot(fit.posterior_).axes[0].get_xlabel()
    'rank (1 = largest effect)'
    """
    table = (results or Results(tree)).sites
    mean, low, high = (table[c].to_numpy() for c in ("rank_mean", "rank_q2.5", "rank_q97.5"))
    order = np.argsort(mean, kind="stable")[::-1]
    sites = table["site"].to_numpy().astype(str)
    y = np.arange(len(sites))
    named = len(sites) <= NAMED_SITES
    size = (6.5, max(3.0, 0.22 * len(sites) + 1.2)) if named else UNNAMED_SIZE
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    ax.errorbar(
        mean[order],
        y,
        xerr=[mean[order] - low[order], high[order] - mean[order]],
        fmt="o",
        color=SHRUNK_COLOR,
        ms=4 if named else 1.5,
        lw=1.4 if named else line_width(len(sites)),
    )
    if named:
        font = 9 if len(sites) <= 40 else 7
        ax.set_yticks(y, [plot_label(site) for site in sites[order]], fontsize=font)
    else:
        unnamed_sites(ax, len(sites), "by mean rank")
    ax.set_xlim(0.5, len(sites) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rank (1 = largest effect)")
    ax.set_title("Posterior ranks, 95% intervals", fontsize=11)
    ax.grid(axis="x", color="0.93")
    return fig


def predictive_plot(tree: xr.DataTree, *, results: Results | None = None) -> Figure:
    """Plot the predictive distribution of a new site's effect over the sites' estimates.

    The density of a new site's effect is drawn over the sites' raw and shrunken estimates:
    what range of effects to expect in other sites.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as :meth:`sitefx.SiteEffects.fit` makes it (``fit.posterior_``) or
        :func:`~sitefx.report.read_fit` reads it.
    results : Results, optional
        The fit's tables, if already computed; every value drawn is the one in them.

    Returns
    -------
    matplotlib.figure.Figure
        One panel: the predictive density (exact, or from draws) and the estimates.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> predictive_plot(fit.posterior_).axes[0].get_ylabel()
    'density'
    """
    results = results or Results(tree)
    raw = tree["constant_data"]["raw_estimate"].values
    shrunk = results.sites["mean"].to_numpy()
    if results.exact is not None:  # the exact density
        low, high = results.exact.quantile("theta_new", [0.005, 0.995])
    else:
        new = _sample(tree, "theta_new")
        low, high = np.quantile(new, [0.005, 0.995])
    span = np.concatenate([[low, high], raw])
    grid = np.linspace(span.min(), span.max(), 400)
    if results.exact is not None:
        density = results.exact.pdf("theta_new", grid)
    else:
        density = stats.gaussian_kde(new)(grid)
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(grid, density, color=PREDICTIVE_COLOR, alpha=0.25, lw=0)
    ax.plot(grid, density, color=PREDICTIVE_COLOR, lw=1.5, label="effect in a new site")
    for values, height, color, label in [
        (raw, -0.06, RAW_COLOR, "raw site estimates"),
        (shrunk, -0.14, SHRUNK_COLOR, "shrunken site estimates"),
    ]:
        y = np.full_like(values, height * density.max())
        ax.plot(values, y, "|", color=color, ms=12, mew=1.5, label=label)
    ax.axhline(0.0, color="0.8", lw=0.8)
    ax.set_xlabel(effect_label(tree))
    ax.set_ylabel("density")
    ax.set_yticks([])
    ax.set_title("Predictive distribution of site effects", fontsize=11)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    return fig


# The forest plot is in its own module, which uses this one's helpers; importable from here too.
from sitefx.report.forest import forest_plot as forest_plot  # noqa: E402
