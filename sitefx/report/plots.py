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
from sitefx.statistics import array_stats

OKABE_ITO = {  # the colour-blind-safe palette of Okabe & Ito (2008), which every plot uses
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
RAW_COLOR = "0.45"
SHRUNK_COLOR = OKABE_ITO["blue"]
SHRUNK_MEAN_COLOR = "#00304d"  # a caterpillar's posterior means: a darker shade of their blue
POOLED_COLOR = OKABE_ITO["black"]
PREDICTIVE_COLOR = OKABE_ITO["vermillion"]
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

    Up to :data:`ARROW_SITES` sites, an arrow goes from each site's raw estimate (top) to its
    posterior mean (bottom). With more sites, arrows would cross into a tangle, so each site
    is a point at its raw estimate (x) and shrunken effect (y), with a line from the
    identity line (no pooling: the raw estimate kept) down or up to it, and the average
    effect ``mu`` as a horizontal line (complete pooling). Marker area grows with the site's
    number of people (or its precision, when the data do not give sizes).

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
        One panel, with a line at the posterior mean of ``mu``.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> shrinkage_plot(fit.posterior_).axes[0].get_yticklabels()[0].get_text()
    'raw estimate'
    """
    results = results or Results(tree)
    constant = tree["constant_data"]
    raw = constant["raw_estimate"].values
    shrunk = results.sites["mean"].to_numpy()
    people = people_per_site(constant.to_dataset())
    weight = people if people is not None else 1.0 / constant["raw_se"].values ** 2
    mu = results.estimands.set_index("estimand").at["mu", "mean"]
    if len(raw) <= ARROW_SITES:
        fig = _shrinkage_arrows(raw, shrunk, 20 + 180 * weight / weight.max(), mu)
        fig.axes[0].set_xlabel(effect_label(tree))
    else:
        fig = _shrinkage_scatter(raw, shrunk, 8 + 80 * weight / weight.max(), mu)
        fig.axes[0].set_xlabel(f"raw estimate: {effect_label(tree)}")
        fig.axes[0].set_ylabel("shrunken effect (posterior mean)")
    sized = "people" if people is not None else "precision (1 / SE²)"
    fig.axes[0].set_title(
        plot_label(title or f"Shrinkage toward the average (marker area: {sized})", 100),
        fontsize=11,
    )
    return fig


ARROW_SITES = 30  # above, the shrinkage plot is a scatter of shrunken against raw estimates


def _shrinkage_arrows(raw: np.ndarray, shrunk: np.ndarray, size: np.ndarray, mu: float) -> Figure:
    """Return arrows from each raw estimate (top row) to its shrunken effect (bottom row)."""
    fig = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = fig.subplots()
    stop = 0.88  # arrow heads end just above the shrunken markers
    ax.quiver(  # one arrow per site, drawn as a single artist
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
    ax.axvline(mu, color=POOLED_COLOR, lw=0.8, ls=":")
    ax.set_yticks([1.0, 0.0], ["raw estimate", "shrunken"])
    ax.set_ylim(-0.35, 1.35)
    ax.grid(axis="x", color="0.93")
    return fig


def _shrinkage_scatter(raw: np.ndarray, shrunk: np.ndarray, size: np.ndarray, mu: float) -> Figure:
    """Return each site's shrunken effect against its raw estimate, on equal axes."""
    fig = Figure(figsize=(6.5, 6.0), layout="constrained")
    ax = fig.subplots()
    low, high = min(raw.min(), shrunk.min()), max(raw.max(), shrunk.max())
    limits = (low - 0.05 * (high - low), high + 0.05 * (high - low))
    ax.plot(limits, limits, color=RAW_COLOR, lw=1.0, ls="--", label="no pooling (raw kept)")
    ax.axhline(mu, color=POOLED_COLOR, lw=0.8, ls=":", label="complete pooling (mu)")
    ax.vlines(raw, raw, shrunk, color=SHRUNK_COLOR, lw=0.6, alpha=0.45)  # each site's move
    ax.scatter(
        raw,
        shrunk,
        s=size,
        color=SHRUNK_COLOR,
        alpha=0.7,
        lw=0,
        zorder=3,
        label="site: raw estimate, shrunken effect",
    )
    ax.set_xlim(limits)
    ax.set_ylim(limits)
    ax.set_aspect("equal")
    ax.grid(color="0.93")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


def prior_posterior_plot(tree: xr.DataTree, *, results: Results | None = None) -> Figure:
    """Plot the prior density against the posterior density of ``mu`` and ``tau``.

    Both are curves: the prior from its closed form (none for a flat prior), the posterior
    exact where the fit holds the exact posterior (its ``exact`` group) and otherwise a
    kernel density estimate of the draws (bounded at 0 for ``tau``): how much the data, not
    the prior, determined them.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as :meth:`sitefx.SiteEffects.fit` makes it (``fit.posterior_``) or
        :func:`~sitefx.report.read_fit` reads it.
    results : Results, optional
        The fit's tables, if already computed (their exact posterior is used).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, ``mu`` and ``tau``, titled with their priors.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> figure = prior_posterior_plot(fit.posterior_)
    >>> [ax.get_title() for ax in figure.axes]
    ['mu ~ normal(0, 28)', 'tau ~ half-normal(11)']
    >>> figure.axes[0].lines[0].get_label()
    'posterior (exact)'
    """
    exact = (results or Results(tree)).exact
    fig = Figure(figsize=(8.5, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, name in zip(axes, ("mu", "tau"), strict=True):
        if exact is not None:
            grid = _density_grid(exact.quantile(name, [0.001, 0.999]), positive=name == "tau")
            density, method = exact.pdf(name, grid), "exact"
        else:
            draws = _sample(tree, name)
            limits = (0.0, draws.max()) if name == "tau" else None
            grid, density, _ = array_stats.kde(draws, custom_lims=limits)
            method = "kernel density of the draws"
        ax.fill_between(grid, density, color=SHRUNK_COLOR, alpha=0.2, lw=0)
        ax.plot(grid, density, color=SHRUNK_COLOR, lw=1.8, label=f"posterior ({method})")
        spec = str(tree.attrs.get(f"prior_{name}", ""))
        prior = Prior.parse(spec) if spec else None
        if prior is not None and prior.family != "flat":
            prior_density = np.exp(prior.log_density(grid))
            ax.plot(grid, prior_density, color=PRIOR_COLOR, lw=1.4, ls="--", label="prior")
        ax.set_title(f"{name} ~ {spec}" if spec else name, fontsize=10)
        ax.set_xlabel(effect_label(tree) if name == "mu" else "cross-site SD (tau)")
        ax.set_ylim(0.0, 1.08 * density.max())
        ax.set_yticks([])
    axes[0].set_ylabel("density")
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="outside lower center",
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    return fig


def _density_grid(span: np.ndarray, *, positive: bool) -> np.ndarray:
    """Return 400 points over ``span`` padded by a fifth; for a positive parameter from ~0."""
    low, high = span
    pad = 0.2 * (high - low)
    return np.linspace(max(low - pad, 1e-6 * high) if positive else low - pad, high + pad, 400)


def rank_plot(tree: xr.DataTree, *, results: Results | None = None) -> Figure:
    """Plot each site's posterior rank (1 = largest effect): mean and 95% interval.

    Sites are in order of mean rank, rank 1 at the top. Wide intervals say the data cannot
    order the sites. Up to :data:`~sitefx.report.numbers.NAMED_SITES` sites each row is
    named (rows narrower and names smaller above 40 sites); above, the rows are unlabelled
    thin lines and the figure keeps a fixed size, as the forest plot's.

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
    n_sites = len(sites)
    y = np.arange(n_sites)
    named = n_sites <= NAMED_SITES
    few = n_sites <= 40
    row = 0.22 if few else 0.14  # inches per site; 7-point names fit 0.14
    size = (6.5, max(3.0, row * n_sites + 1.2)) if named else UNNAMED_SIZE
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    ax.errorbar(
        mean[order],
        y,
        # A discrete rank's mean can lie beyond its quantile (98% of draws 1, 2% 5: mean 1.08).
        xerr=np.maximum([mean[order] - low[order], high[order] - mean[order]], 0.0),
        fmt="o",
        color=SHRUNK_COLOR,
        mfc=SHRUNK_MEAN_COLOR,
        mec=SHRUNK_MEAN_COLOR,
        ms=4 if few else 2.5 if named else 1.5,
        lw=1.4 if few else 0.9 if named else line_width(n_sites),
    )
    if named:
        ax.set_yticks(y, [plot_label(site) for site in sites[order]], fontsize=9 if few else 7)
        ax.set_ylim(-0.7, n_sites - 0.3)
    else:
        unnamed_sites(ax, n_sites, "by mean rank")
    ax.set_xlim(0.5, n_sites + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rank (1 = largest effect)")
    ax.set_title("Posterior ranks: mean and 95% interval", fontsize=11)
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
