"""Quantities evaluators report, from posterior draws and exactly where possible.

Each is computed from posterior draws, and exactly from the quadrature posterior where it
exists (site summaries fitted by the exact method, :mod:`sitefx.infer.exact`).
"""

from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy import special, stats

from sitefx.errors import check_finite
from sitefx.infer.exact import ExactPosterior
from sitefx.infer.quadrature import Mixture


def variance_explained(gamma: np.ndarray, moderators: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Share of the cross-site variance of true effects that the moderators explain, per draw.

    ``var_j(w_j gamma) / (var_j(w_j gamma) + tau^2)``: the variance of the effects' predicted
    part across these sites over that plus the residual variance.

    Parameters
    ----------
    gamma : ndarray, shape (chain, draw, moderator)
        Draws of the moderators' coefficients.
    moderators : ndarray, shape (site, moderator)
        The sites' moderator values ``w_j`` (centred here).
    tau : ndarray, shape (chain, draw)
        Draws of the residual SD of the true effects across sites.

    Returns
    -------
    ndarray, shape (chain, draw)
        The share explained, from 0 to 1.

    Examples
    --------
    >>> import numpy as np
    >>> share = variance_explained(np.ones((1, 1, 1)), np.array([[0.0], [2.0]]), np.ones((1, 1)))
    >>> share.round(2).tolist()
    [[0.67]]
    """
    predicted = np.einsum("cdm,jm->cdj", gamma, moderators - moderators.mean(axis=0))
    explained = predicted.var(axis=-1, ddof=1)
    return explained / (explained + tau**2)


def new_site_effect(
    mu: np.ndarray,
    tau: np.ndarray,
    *,
    rng: np.random.Generator,
    df: np.ndarray | float | None = None,
    upper_tau: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Draw the effect in a new site from the same population, one per posterior draw.

    ``N(mu, tau)``, or Student-t with ``df`` degrees of freedom (per draw or fixed) for
    robust models, scaled by ``tau``. With upper nesting levels (``upper_tau``: the SDs
    ``tau_<level>``), the new site is in new groups at every level, so each level adds its
    own normal variation.

    Parameters
    ----------
    mu : ndarray, shape (chain, draw)
        Draws of the population mean of the effects.
    tau : ndarray, shape (chain, draw)
        Draws of the SD of the site effects around it.
    rng : numpy.random.Generator
        The noise's source. It should be the fit's ``new_site`` stream
        (:mod:`sitefx.streams`), so this noise is independent of every other draw.
    df : ndarray or float, optional
        Degrees of freedom of Student-t site effects, per draw (shape of ``mu``) or fixed;
        None (the default) for normal site effects.
    upper_tau : sequence of ndarray, default ()
        Draws of the SDs ``tau_<level>`` of the upper nesting levels, each shaped as ``mu``.

    Returns
    -------
    ndarray
        One new site's effect per draw, shape of ``mu``.

    Examples
    --------
    >>> import numpy as np
    >>> new_site_effect(np.zeros((2, 3)), np.ones((2, 3)), rng=np.random.default_rng(0)).shape
    (2, 3)
    """
    location = mu + sum(sd * rng.standard_normal(np.shape(mu)) for sd in upper_tau)
    if df is None:
        return location + tau * rng.standard_normal(np.shape(mu))
    return location + tau * rng.standard_t(np.broadcast_to(df, np.shape(mu)))


# --- Estimands from draws shaped (chain, draw, ...) ------------------------------------------
# Each function below is the numpy core of one quantity in the ``estimands`` group that
# :func:`estimands` builds from a fit.


def weighted_average(theta: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Average the effects over these sites, per draw.

    Site-weighted (each site counts once) or weighted, e.g. by the number of people
    (person-weighted). These are finite-population averages, over the sites in the study;
    ``mu`` is the super-population average over the population of sites they stand for.

    Parameters
    ----------
    theta : ndarray, shape (chain, draw, site)
        Draws of the site effects.
    weights : ndarray, shape (site,), optional
        Non-negative weights, e.g. people per site (normalized here); None (the default)
        weights the sites equally.

    Returns
    -------
    ndarray, shape (chain, draw)
        The average effect, in the effects' units.

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.array([[[1.0, 3.0]]])
    >>> weighted_average(theta).tolist(), weighted_average(theta, np.array([3, 1])).tolist()
    ([[2.0]], [[1.5]])
    """
    if weights is None:
        return theta.mean(axis=-1)
    return theta @ (weights / weights.sum())


def share_above(theta: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Compute the share of these sites whose effect exceeds ``threshold``, per draw.

    Parameters
    ----------
    theta : ndarray, shape (chain, draw, site)
        Draws of the site effects.
    threshold : float, default 0.0
        The effect to exceed, in the effects' units.

    Returns
    -------
    ndarray, shape (chain, draw)
        The share of sites, from 0 to 1.

    Examples
    --------
    >>> import numpy as np
    >>> share_above(np.array([[[-1.0, 0.5, 2.0, 3.0]]]), 1.0).tolist()
    [[0.5]]
    """
    return (theta > threshold).mean(axis=-1)


def population_share_above(
    location: np.ndarray,
    scale: np.ndarray,
    threshold: float = 0.0,
    *,
    df: np.ndarray | float | None = None,
) -> np.ndarray:
    """Compute the share of the population of sites whose effect exceeds ``threshold``.

    One share per draw. Site effects are normal around ``location`` with SD ``scale``, or
    Student-t with ``df`` degrees of freedom.

    Parameters
    ----------
    location : ndarray, shape (chain, draw) or (chain, draw, site)
        Draws of the population mean of the effects, or of the mean at each study site's
        moderator values, whose shares are then averaged over the sites.
    scale : ndarray, shape (chain, draw)
        Draws of the SD of the effects around it (all levels' variation together).
    threshold : float, default 0.0
        The effect to exceed, in the effects' units.
    df : ndarray or float, optional
        Degrees of freedom of Student-t site effects, per draw (shape of ``scale``) or
        fixed; None (the default) for normal site effects.

    Returns
    -------
    ndarray, shape (chain, draw)
        The share of the population of sites, from 0 to 1.

    Examples
    --------
    >>> import numpy as np
    >>> population_share_above(np.zeros((1, 1)), np.ones((1, 1)), 1.0).round(4).tolist()
    [[0.1587]]
    """
    location = np.asarray(location, dtype=float)
    scale = np.asarray(scale, dtype=float)
    if location.ndim == scale.ndim:  # one population mean: a single "site"
        location = location[..., None]
    z = (location - threshold) / scale[..., None]
    if df is None:
        share = stats.norm.cdf(z)
    else:
        share = stats.t.cdf(z, np.broadcast_to(df, scale.shape)[..., None])
    return share.mean(axis=-1)


def pooling_factor(se: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Each site's pooling factor ``se_j^2 / (se_j^2 + tau^2)``, averaged over the draws.

    The weight the model puts on the population mean when estimating site ``j``'s effect
    (given ``tau``): 0 keeps the raw estimate, 1 replaces it with the mean.

    Parameters
    ----------
    se : ndarray, shape (site,)
        The sites' standard errors.
    tau : ndarray
        Draws of the cross-site SD, any shape (usually (chain, draw)).

    Returns
    -------
    ndarray, shape (site,)
        Each site's pooling factor, from 0 to 1.

    Examples
    --------
    >>> import numpy as np
    >>> pooling_factor(np.array([1.0, 2.0]), np.ones((1, 1))).tolist()
    [0.5, 0.8]
    """
    tau2 = np.asarray(tau, dtype=float)[..., None] ** 2
    return (se**2 / (se**2 + tau2)).mean(axis=tuple(range(np.ndim(tau))))


def variance_reduction(theta: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Compute ``1 - posterior variance / sampling variance`` of each site's effect.

    How much of the raw estimate's uncertainty pooling removed. In the normal-normal model
    with ``mu`` and ``tau`` known it equals the pooling factor; with them uncertain, it is
    smaller.

    Parameters
    ----------
    theta : ndarray, shape (chain, draw, site)
        Draws of the site effects.
    se : ndarray, shape (site,)
        The sites' standard errors.

    Returns
    -------
    ndarray, shape (site,)
        The variance reduction of each site (at most 1; negative if the posterior is wider
        than the raw estimate).

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(0).normal(0.0, [0.5, 0.8], size=(2, 50000, 2))
    >>> variance_reduction(draws, np.ones(2)).round(2).tolist()
    [0.75, 0.36]
    """
    return 1.0 - theta.reshape(-1, theta.shape[-1]).var(axis=0, ddof=1) / se**2


def gelman_pardoe_pooling(deviation: np.ndarray) -> float:
    """Compute Gelman & Pardoe's (2006) pooling factor of the site level.

    ``lambda = 1 - V_j(E[e_j]) / E[V_j(e_j)]``, with ``e_j`` the site effects' deviations
    from their predicted means (draws shaped (chain, draw, site)), ``V_j`` the variance
    across sites and ``E`` the posterior mean. Near 0: little pooling (the site effects are
    well estimated); near 1: complete pooling. Below 0.5, the sites' data dominate.

    Parameters
    ----------
    deviation : ndarray, shape (chain, draw, site)
        Draws of ``e_j``: each site's effect minus its predicted mean (e.g. ``theta`` minus
        :func:`predicted_site_means`).

    Returns
    -------
    float
        The pooling factor ``lambda``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> means = np.array([-1.0, 0.0, 1.0])
    >>> e = means + rng.normal(0.0, 1.0, size=(1, 100000, 3))
    >>> round(gelman_pardoe_pooling(e), 2)  # v / (V(means) + v) = 1 / 2
    0.5
    """
    flat = deviation.reshape(-1, deviation.shape[-1])
    between = flat.mean(axis=0).var(ddof=1)
    return float(1.0 - between / flat.var(axis=1, ddof=1).mean())


def posterior_ranks(theta: np.ndarray) -> np.ndarray:
    """Rank the sites in each draw, 1 for the largest effect.

    Parameters
    ----------
    theta : ndarray, shape (..., site)
        Draws of the site effects, e.g. shape (chain, draw, site).

    Returns
    -------
    ndarray of int32
        Each site's rank, from 1 to the number of sites, same shape as ``theta``.

    Examples
    --------
    >>> import numpy as np
    >>> posterior_ranks(np.array([[[0.2, 0.9, -0.1]]])).tolist()
    [[[2, 1, 3]]]
    """
    n_sites = theta.shape[-1]
    ranks = np.empty(theta.shape, dtype=np.int32)
    from_largest = np.arange(n_sites, 0, -1, dtype=np.int32)  # the smallest effect: rank K
    np.put_along_axis(ranks, theta.argsort(axis=-1), from_largest, axis=-1)
    return ranks


def triple_goal(theta: np.ndarray, ranks: np.ndarray | None = None) -> np.ndarray:
    """Compute triple-goal site effects (Shen & Louis 1998).

    Posterior means rank the sites well but are under-dispersed: their histogram is
    narrower than the true effects'. The triple-goal estimates keep the sites' order from
    the posterior mean ranks and take their values from the estimated distribution of the
    effects, ``G(t) = mean_j P(theta_j <= t | data)``:
    ``theta_j = G^-1((2 R_j - 1) / (2 K))``, with ``R_j`` the rank (from the smallest) of
    site ``j``'s posterior mean rank among the ``K`` sites. So the histogram, the ranks and
    the individual site effects are each well estimated.

    Parameters
    ----------
    theta : ndarray, shape (chain, draw, site)
        Draws of the site effects.
    ranks : ndarray, shape (chain, draw, site), optional
        The draws' :func:`posterior_ranks`, when already computed.

    Returns
    -------
    ndarray, shape (site,)
        The triple-goal estimate of each site's effect.

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(2).normal([-1.0, 0.0, 1.0], 1.0, size=(4, 1000, 3))
    >>> triple_goal(draws).round(1).tolist()
    [-1.3, 0.0, 1.3]
    """
    n_sites = theta.shape[-1]
    ranks = posterior_ranks(theta) if ranks is None else ranks
    mean_rank = ranks.reshape(-1, n_sites).mean(axis=0)  # 1 for the largest
    from_smallest = (-mean_rank).argsort(kind="stable").argsort()  # 0 for the smallest
    # G^-1 at (2 R - 1) / 2K: quantiles of all draws pooled (G is their empirical CDF),
    # interpolated linearly as numpy.quantile does, from one sort (many quantiles at once
    # are faster this way)
    pooled = np.sort(theta, axis=None)
    position = (2 * from_smallest + 1) / (2 * n_sites) * (pooled.size - 1)
    return np.interp(position, np.arange(pooled.size), pooled)


def estimands(tree: xr.DataTree, *, threshold: float = 0.0) -> xr.Dataset:
    """Compute every estimand of a fit, as the ``estimands`` group of its DataTree.

    Draws (dims ``chain``, ``draw``):

    - ``mu_sites``: average effect over these sites, each site counted once
      (finite-population; ``mu`` is the super-population average);
    - ``mu_persons``: average over these sites' people (person-weighted; needs the
      number of people per site);
    - ``sd_sites``: SD of the effects across these sites (``tau`` is the population's);
    - ``share_above``: share of these sites with an effect above ``threshold``;
    - ``population_share_above``: share of the population of sites above it;
    - ``risk_difference_sites``: binary outcomes, the average risk difference over these
      sites;
    - ``rank`` (and ``site``): each site's rank, 1 for the largest effect.

    Attributes: ``threshold`` and, when known, ``outcome_sd`` (the SD that turns effects into
    effect sizes). A fit's stored group adds the per-site values of its tables
    (``prob_above``, ``pooling_factor``, ``variance_reduction``, ``triple_goal``,
    ``gelman_pardoe_pooling``: see :meth:`sitefx.report.Results.estimand_group`).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit: its ``posterior`` (``theta``, ``mu``, ``tau``, ...) and ``constant_data``
        groups and attributes.
    threshold : float, default 0.0
        The effect that ``share_above`` and ``population_share_above`` count sites above, in
        the effects' units.

    Returns
    -------
    xarray.Dataset
        The variables and attributes above, with the fit's ``chain``, ``draw`` and ``site``
        coordinates.

    Raises
    ------
    SitefxInputError
        Unless ``threshold`` is a finite number.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> result = estimands(fit.posterior_, threshold=5.0)
    >>> float((result["share_above"] <= 1).mean()), result["rank"].dims
    (1.0, ('chain', 'draw', 'site'))
    """
    threshold = check_threshold(threshold)
    posterior = tree["posterior"].to_dataset()
    constant = tree["constant_data"].to_dataset()
    theta = posterior["theta"].transpose("chain", "draw", "site")
    values = theta.values
    mu, tau = posterior["mu"].values, posterior["tau"].values
    sample, per_site = ("chain", "draw"), ("chain", "draw", "site")

    levels = nesting_levels(tree)
    scale2 = tau**2 + sum(posterior[f"tau_{level}"].values ** 2 for level in levels)
    df = posterior["nu"].values if "nu" in posterior else tree.attrs.get("site_df")
    # with moderators, the population is one of sites like these (the sites' moderator values)
    location = mu if moderated_sites(tree) is None else predicted_site_means(tree, levels=False)

    variables = {
        "mu_sites": (sample, weighted_average(values)),
        "sd_sites": (sample, values.std(axis=-1, ddof=1)),
        "share_above": (sample, share_above(values, threshold)),
        "population_share_above": (
            sample,
            population_share_above(location, np.sqrt(scale2), threshold, df=df),
        ),
        "rank": (per_site, posterior_ranks(values)),
    }
    people = people_per_site(constant)
    if people is not None:
        variables["mu_persons"] = (sample, weighted_average(values, people))
    if "risk_difference" in posterior:  # binary outcomes: the effect on the probability scale
        risk = posterior["risk_difference"].transpose(*per_site).values
        variables["risk_difference_sites"] = (sample, weighted_average(risk))
    attrs = {"threshold": float(threshold)}
    if "outcome_sd" in tree.attrs:
        attrs["outcome_sd"] = float(tree.attrs["outcome_sd"])
    return xr.Dataset(variables, coords=theta.coords, attrs=attrs)


# --- The same estimands computed exactly from the quadrature posterior ----------------------
# For site summaries fitted by the exact method (:mod:`sitefx.infer.exact`): each function is
# the exact counterpart of a draw-based one above, computed from the mixture of normals over
# the grid of tau (and prior components). Given a node, the site effects are jointly normal
# (:meth:`~sitefx.infer.exact.ExactPosterior.theta_conditional`), which makes averages,
# probabilities, mean ranks and the site level's pooling closed-form per node.

EXACT_PAIR_WORK = 2e7  # (terms x sites^2) beyond which mean ranks and triple-goal use draws
PAIR_CHUNK = 2e7  # elements of a (nodes, sites, sites) block computed at once


def exact_prob_above(exact: ExactPosterior, threshold: float) -> np.ndarray:
    """Compute ``P(theta_j > threshold)`` for each site, exactly.

    Parameters
    ----------
    exact : ExactPosterior
        The quadrature posterior of a fit.
    threshold : float
        The effect to exceed, in the effects' units.

    Returns
    -------
    ndarray, shape (site,)
        The posterior probabilities.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> exact_prob_above(fit.exact_, 0.0).round(2).tolist()
    [0.95, 0.92, 0.85, 0.91, 0.84, 0.87, 0.96, 0.9]
    """
    return 1.0 - exact.cdf("theta", threshold)


def exact_pooling_factor(exact: ExactPosterior) -> np.ndarray:
    """Compute the posterior mean of each site's pooling factor ``se_j^2 / (se_j^2 + tau^2)``.

    The exact counterpart of :func:`pooling_factor`.

    Parameters
    ----------
    exact : ExactPosterior
        The quadrature posterior of a fit.

    Returns
    -------
    ndarray, shape (site,)
        Each site's pooling factor, from 0 to 1.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> exact_pooling_factor(fit.exact_).round(2).tolist()
    [0.88, 0.79, 0.89, 0.81, 0.76, 0.81, 0.79, 0.91]
    """
    return exact.weight @ (exact.se**2 / (exact.se**2 + exact.tau[:, None] ** 2))


def exact_variance_reduction(exact: ExactPosterior) -> np.ndarray:
    """Compute ``1 - Var(theta_j | y) / se_j^2`` for each site, exactly.

    The exact counterpart of :func:`variance_reduction`.

    Parameters
    ----------
    exact : ExactPosterior
        The quadrature posterior of a fit.

    Returns
    -------
    ndarray, shape (site,)
        The variance reduction of each site.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> exact_variance_reduction(fit.exact_).round(2).tolist()
    [0.77, 0.67, 0.82, 0.7, 0.58, 0.69, 0.62, 0.85]
    """
    return 1.0 - exact.sd("theta") ** 2 / exact.se**2


def exact_share_above_mean(exact: ExactPosterior, threshold: float) -> float:
    """Compute the posterior mean of the share of these sites above ``threshold``.

    The exact counterpart of the mean of :func:`share_above`: the average over the sites of
    ``P(theta_j > threshold)``.

    Parameters
    ----------
    exact : ExactPosterior
        The quadrature posterior of a fit.
    threshold : float
        The effect to exceed, in the effects' units.

    Returns
    -------
    float
        The expected share of sites, from 0 to 1.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> round(exact_share_above_mean(fit.exact_, 0.0), 3)
    0.899
    """
    return float(np.mean(exact_prob_above(exact, threshold)))


def exact_population_share_mean(exact: ExactPosterior, threshold: float) -> float:
    """Compute the posterior mean of the share of the population of sites above ``threshold``.

    The exact counterpart of the mean of :func:`population_share_above`: the probability
    that a new site (at each study site's moderator values, averaged) is above it.

    Parameters
    ----------
    exact : ExactPosterior
        The quadrature posterior of a fit.
    threshold : float
        The effect to exceed, in the effects' units.

    Returns
    -------
    float
        The expected share of the population of sites, from 0 to 1.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> round(exact_population_share_mean(fit.exact_, 0.0), 3)
    0.876
    """
    cov = exact.coefficient_cov
    means = exact.coefficient_mean @ exact.design.T  # (nodes, components, sites)
    variances = np.einsum("ja,kcab,jb->kcj", exact.design, cov, exact.design)
    variances = variances + exact.tau[:, None, None] ** 2
    joint = (exact.weight[:, None] * exact.component_weight)[..., None]
    below = special.ndtr((threshold - means) / np.sqrt(variances))
    return float(1.0 - np.mean(np.sum(joint * below, axis=(0, 1))))


def _pruned_nodes(exact: ExactPosterior) -> tuple[np.ndarray, np.ndarray]:
    """Find the mixture terms holding all but 1e-12 of the mass, with their weights.

    Returns the terms' indices (node, component) and renormalized weights; the rest cannot
    move a probability at the printed precision.
    """
    joint = exact.weight[:, None] * exact.component_weight
    order = np.argsort(joint, axis=None)
    keep = np.cumsum(joint.ravel()[order]) >= 1e-12
    nodes, components = np.unravel_index(order[keep], joint.shape)
    weight = joint[nodes, components]
    return np.stack([nodes, components], axis=1), weight / weight.sum()


def exact_mean_rank(exact: ExactPosterior) -> np.ndarray | None:
    """Compute each site's posterior mean rank (1 for the largest effect), exactly.

    ``1 + sum_k P(theta_k > theta_j)``, with each pair's probability in closed form given a
    term of the mixture; None when that is too much work (many sites: more than
    ``EXACT_PAIR_WORK`` terms x sites^2), so the ranks' draws are used instead.

    Parameters
    ----------
    exact : ExactPosterior
        The quadrature posterior of a fit.

    Returns
    -------
    ndarray, shape (site,), or None
        The mean ranks, from 1 to the number of sites.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> exact_mean_rank(fit.exact_).round(1).tolist()
    [3.7, 4.5, 4.9, 4.6, 5.3, 5.0, 3.7, 4.4]
    """
    terms, weight = _pruned_nodes(exact)
    n_sites = len(exact.se)
    if len(terms) * n_sites**2 > EXACT_PAIR_WORK:
        return None
    means, own, loading = exact.theta_conditional()
    cov = exact.coefficient_cov
    total = np.zeros(n_sites)
    chunk = max(1, int(PAIR_CHUNK // n_sites**2))
    for start in range(0, len(terms), chunk):
        node, component = terms[start : start + chunk].T
        # theta_k - theta_j given the term: normal, with variance v_j + v_k + d C d'
        # (d = L_k - L_j, the difference of the two sites' loadings on the coefficients)
        difference = loading[node][:, None, :, :] - loading[node][:, :, None, :]
        shared = np.einsum("njka,nab,njkb->njk", difference, cov[node, component], difference)
        variance = own[node, 0][:, :, None] + own[node, 0][:, None, :] + shared
        gap = means[node, component][:, None, :] - means[node, component][:, :, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            above = special.ndtr(gap / np.sqrt(variance))  # [n, j, k]: P(theta_k > theta_j)
        above = np.where(variance > 0, above, 0.5)  # two effects equal given the term
        above[:, np.arange(n_sites), np.arange(n_sites)] = 0.0
        total += weight[start : start + chunk] @ above.sum(axis=2)
    return 1.0 + total


def exact_triple_goal(exact: ExactPosterior, mean_rank: np.ndarray) -> np.ndarray | None:
    """Compute triple-goal estimates (see :func:`triple_goal`) exactly.

    From the exact distribution of the effects ``G(t) = mean_j P(theta_j <= t)`` and the
    exact mean ranks; None when too much work (many sites, as :func:`exact_mean_rank`).

    Parameters
    ----------
    exact : ExactPosterior
        The quadrature posterior of a fit.
    mean_rank : ndarray, shape (site,)
        The sites' posterior mean ranks (:func:`exact_mean_rank`), 1 for the largest.

    Returns
    -------
    ndarray, shape (site,), or None
        The triple-goal estimate of each site's effect.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> exact_triple_goal(fit.exact_, exact_mean_rank(fit.exact_)).round(1).tolist()
    [17.4, 8.5, 4.9, 6.7, -1.8, 2.5, 12.8, 10.4]
    """
    terms, weight = _pruned_nodes(exact)
    n_sites = len(exact.se)
    if len(terms) * n_sites**2 > EXACT_PAIR_WORK:
        return None
    theta = exact.mixture("theta")
    component = terms[:, 0] * exact.component_weight.shape[1] + terms[:, 1]
    from_smallest = (-mean_rank).argsort(kind="stable").argsort()
    probs = (2 * from_smallest + 1) / (2 * n_sites)
    pooled = Mixture(
        np.repeat(weight / n_sites, n_sites),
        theta.mean[component].ravel(),
        theta.variance[component].ravel(),
    )
    return pooled.quantile(probs)


def exact_gelman_pardoe(exact: ExactPosterior) -> float:
    """Compute Gelman & Pardoe's pooling factor of the site level exactly.

    The exact counterpart of :func:`gelman_pardoe_pooling`: with ``e_j = theta_j - x_j b``
    (normal given a node), ``1 - V_j(E[e_j]) / E[V_j(e_j)]`` with
    ``E[e'He] = tr(H Cov e) + E[e]'H E[e]``, ``H`` the centring matrix.

    Parameters
    ----------
    exact : ExactPosterior
        The quadrature posterior of a fit.

    Returns
    -------
    float
        The pooling factor ``lambda``: near 0 little pooling, near 1 complete pooling.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> round(exact_gelman_pardoe(fit.exact_), 3)
    0.912
    """
    means, own, loading = exact.theta_conditional()
    n_sites = len(exact.se)
    residual = means - exact.coefficient_mean @ exact.design.T  # E[e | node, component]
    spread = loading - exact.design  # e = residual + (L - X)(b - E b) + noise
    centred = spread - spread.mean(axis=1, keepdims=True)
    quadratic = np.einsum("kja,kjb->kab", centred, spread)  # (L - X)' H (L - X)
    trace = np.einsum("kab,kcba->kc", quadratic, exact.coefficient_cov)
    centred_residual = residual - residual.mean(axis=2, keepdims=True)
    within = (own[:, :, :].sum(axis=2) * (1 - 1 / n_sites) + trace) + np.sum(
        centred_residual**2, axis=2
    )
    joint = exact.weight[:, None] * exact.component_weight
    expected_variance = np.sum(joint * within) / (n_sites - 1)
    expected = np.tensordot(joint, residual, axes=([0, 1], [0, 1]))
    return float(1.0 - expected.var(ddof=1) / expected_variance)


def stored_estimands(tree: xr.DataTree) -> xr.Dataset:
    """Return the estimands stored with a fit, or compute them for an older file.

    A file saved before sitefx stored them gets them computed now, with threshold 0.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.

    Returns
    -------
    xarray.Dataset
        Its ``estimands`` group (see :func:`estimands`).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> stored_estimands(fit.posterior_)["rank"].dims
    ('chain', 'draw', 'site')
    """
    if "estimands" in tree.children:
        return tree["estimands"].to_dataset()
    return estimands(tree)


def moderated_sites(tree: xr.DataTree) -> np.ndarray | None:
    """Return the sites' centred moderator values, if the model has moderators.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.

    Returns
    -------
    ndarray, shape (site, moderator), or None
        Each site's moderator values minus their mean over the sites; None without
        moderators.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> moderated_sites(fit.posterior_) is None
    True
    """
    constant = tree["constant_data"]
    if "moderators" not in constant or "gamma" not in tree["posterior"]:
        return None
    moderators = constant["moderators"].values
    return moderators - moderators.mean(axis=0)


def _group_offsets(tree: xr.DataTree, level: str) -> np.ndarray:
    """Return each site's group effect at ``level`` minus ``mu``, shaped (chain, draw, site)."""
    posterior = tree["posterior"]
    effect = posterior[f"theta_{level}"].sel({level: tree["constant_data"][f"site_{level}"]})
    return (effect - posterior["mu"]).transpose("chain", "draw", "site").values


def predicted_site_means(tree: xr.DataTree, *, levels: bool = True) -> np.ndarray:
    """Compute the mean each site's effect varies around, per draw.

    ``mu``, plus ``w_j gamma`` with moderators, plus (with ``levels``) the site's group
    effects at upper nesting levels (its district's deviation from ``mu``).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.
    levels : bool, default True
        Add the group effects of upper nesting levels; without them, the mean of a site
        like this one in a new group.

    Returns
    -------
    ndarray, shape (chain, draw, site)
        The predicted means, in the effects' units.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> predicted_site_means(fit.posterior_).shape
    (4, 1000, 8)
    """
    posterior = tree["posterior"]
    mu = posterior["mu"].transpose("chain", "draw").values
    predicted = np.repeat(mu[..., None], posterior.sizes["site"], axis=-1)
    moderators = moderated_sites(tree)
    if moderators is not None:
        gamma = posterior["gamma"].transpose("chain", "draw", "moderator").values
        predicted += np.einsum("cdm,jm->cdj", gamma, moderators)
    for level in nesting_levels(tree) if levels else ():
        predicted += _group_offsets(tree, level)
    return predicted


def check_threshold(threshold: float) -> float:
    """Return the effect threshold as a float; a clear error unless it is a finite number.

    Parameters
    ----------
    threshold : float
        The user's threshold (``--threshold``), in the effects' units.

    Returns
    -------
    float
        ``threshold`` as a float.

    Raises
    ------
    SitefxInputError
        Unless ``threshold`` is a finite number.

    Examples
    --------
    >>> check_threshold(5)
    5.0
    """
    return check_finite(threshold, "threshold (--threshold)")


def check_outcome_sd(outcome_sd: float) -> float:
    """Return the outcome SD (for effect sizes) as a float; a clear error unless finite and > 0.

    Parameters
    ----------
    outcome_sd : float
        The user's outcome SD (``--outcome-sd``): the SD that turns effects into effect
        sizes, in the outcome's units.

    Returns
    -------
    float
        ``outcome_sd`` as a float.

    Raises
    ------
    SitefxInputError
        Unless ``outcome_sd`` is a finite number above 0.

    Examples
    --------
    >>> check_outcome_sd(15)
    15.0
    """
    return check_finite(outcome_sd, "outcome_sd (--outcome-sd)", positive=True)


def nesting_levels(tree: xr.DataTree) -> list[str]:
    """Return the names of the upper nesting levels of a fit (``district``, ...).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.

    Returns
    -------
    list of str
        The levels with group effects ``theta_<level>`` in the posterior; empty without
        nesting.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> nesting_levels(fit.posterior_)
    []
    """
    posterior = tree["posterior"]
    return [name for name in posterior.dims if f"theta_{name}" in posterior]


def people_per_site(constant: xr.Dataset) -> np.ndarray | None:
    """Return the number of people per site, when the data give it.

    Parameters
    ----------
    constant : xarray.Dataset
        A fit's ``constant_data`` group, with ``n`` or ``n_treated`` and ``n_control`` per
        site.

    Returns
    -------
    ndarray of float, shape (site,), or None
        ``n``, or ``n_treated + n_control``; None when the data give neither.

    Examples
    --------
    >>> import xarray as xr
    >>> constant = xr.Dataset({"n_treated": ("site", [10, 12]), "n_control": ("site", [9, 14])})
    >>> people_per_site(constant).tolist()
    [19.0, 26.0]
    """
    if "n" in constant:
        return constant["n"].values.astype(float)
    if "n_treated" in constant:
        return (constant["n_treated"] + constant["n_control"]).values.astype(float)
    return None
