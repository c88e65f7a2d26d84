"""Quantities evaluators report, computed from posterior draws."""

from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy import stats

from sitefx.errors import SitefxInputError


def variance_explained(gamma: np.ndarray, moderators: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Share of the cross-site variance of true effects that the moderators explain, per draw.

    ``var_j(w_j gamma) / (var_j(w_j gamma) + tau^2)``: the variance of the effects' predicted
    part across these sites over that plus the residual variance.

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
    seed: int,
    df: np.ndarray | float | None = None,
    upper_tau: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Draws of the effect in a new site from the same population: ``N(mu, tau)``, or
    Student-t with ``df`` degrees of freedom (per draw or fixed) for robust models.

    With upper nesting levels (``upper_tau``: the SDs ``tau_<level>``), the new site is in
    new groups at every level, so each level adds its own normal variation.

    Examples
    --------
    >>> import numpy as np
    >>> new_site_effect(np.zeros((2, 3)), np.ones((2, 3)), seed=0).shape
    (2, 3)
    """
    rng = np.random.default_rng(seed)
    location = mu + sum(sd * rng.standard_normal(np.shape(mu)) for sd in upper_tau)
    if df is None:
        return location + tau * rng.standard_normal(np.shape(mu))
    return location + tau * rng.standard_t(np.broadcast_to(df, np.shape(mu)))


# --- Estimands from draws shaped (chain, draw, ...) ------------------------------------------
# Each function below is the numpy core of one quantity in the ``estimands`` group that
# :func:`estimands` builds from a fit.


def weighted_average(theta: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Average effect over these sites, per draw: site-weighted (each site counts once) or
    weighted, e.g. by the number of people (person-weighted).

    These are finite-population averages, over the sites in the study; ``mu`` is the
    super-population average over the population of sites they stand for.

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
    """Share of these sites whose effect exceeds ``threshold``, per draw.

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
    """Share of the population of sites whose effect exceeds ``threshold``, per draw.

    ``location`` holds the population mean of the effects (shape (chain, draw)), or the
    mean at each study site's moderator values (shape (chain, draw, site)), whose shares are
    averaged over the sites; ``scale`` is the SD of effects around it. Site effects are
    normal, or Student-t with ``df`` degrees of freedom.

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
    (given ``tau``): 0 keeps the raw estimate, 1 replaces it with the mean. Shape (site,).

    Examples
    --------
    >>> import numpy as np
    >>> pooling_factor(np.array([1.0, 2.0]), np.ones((1, 1))).tolist()
    [0.5, 0.8]
    """
    tau2 = np.asarray(tau, dtype=float)[..., None] ** 2
    return (se**2 / (se**2 + tau2)).mean(axis=tuple(range(np.ndim(tau))))


def variance_reduction(theta: np.ndarray, se: np.ndarray) -> np.ndarray:
    """``1 - posterior variance / sampling variance`` of each site's effect, shape (site,).

    How much of the raw estimate's uncertainty pooling removed. In the normal-normal model
    with ``mu`` and ``tau`` known it equals the pooling factor; with them uncertain, it is
    smaller.

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(0).normal(0.0, [0.5, 0.8], size=(2, 50000, 2))
    >>> variance_reduction(draws, np.ones(2)).round(2).tolist()
    [0.75, 0.36]
    """
    return 1.0 - theta.reshape(-1, theta.shape[-1]).var(axis=0, ddof=1) / se**2


def gelman_pardoe_pooling(deviation: np.ndarray) -> float:
    """Gelman & Pardoe's (2006) pooling factor of the site level.

    ``lambda = 1 - V_j(E[e_j]) / E[V_j(e_j)]``, with ``e_j`` the site effects' deviations
    from their predicted means (draws shaped (chain, draw, site)), ``V_j`` the variance
    across sites and ``E`` the posterior mean. Near 0: little pooling (the site effects are
    well estimated); near 1: complete pooling. Below 0.5, the sites' data dominate.

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
    """Each site's rank in each draw, 1 for the largest effect, same shape as ``theta``.

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
    """Triple-goal site effects (Shen & Louis 1998), shape (site,).

    Posterior means rank the sites well but are under-dispersed: their histogram is
    narrower than the true effects'. The triple-goal estimates keep the sites' order from
    the posterior mean ranks and take their values from the estimated distribution of the
    effects, ``G(t) = mean_j P(theta_j <= t | data)``:
    ``theta_j = G^-1((2 R_j - 1) / (2 K))``, with ``R_j`` the rank (from the smallest) of
    site ``j``'s posterior mean rank among the ``K`` sites. So the histogram, the ranks and
    the individual site effects are each well estimated. ``ranks`` are the draws'
    :func:`posterior_ranks`, when already computed.

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
    """Every estimand of a fit, as the ``estimands`` group of its DataTree.

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

    Per site: ``prob_above`` (``P(theta_j > threshold)``), ``pooling_factor``,
    ``variance_reduction``, ``triple_goal``; and ``gelman_pardoe_pooling``, the site level's
    pooling factor. Attributes: ``threshold`` and, when known, ``outcome_sd`` (the SD that
    turns effects into effect sizes).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> result = estimands(fit.posterior_, threshold=5.0)
    >>> result["prob_above"].sel(site="A").round(1).item()  # P(effect in school A > 5)
    0.8
    """
    threshold = check_threshold(threshold)
    posterior = tree["posterior"].to_dataset()
    constant = tree["constant_data"].to_dataset()
    theta = posterior["theta"].transpose("chain", "draw", "site")
    values = theta.values
    mu, tau = posterior["mu"].values, posterior["tau"].values
    se = constant["raw_se"].values
    sample, per_site = ("chain", "draw"), ("chain", "draw", "site")

    predicted = predicted_site_means(tree)
    levels = nesting_levels(tree)
    scale2 = tau**2 + sum(posterior[f"tau_{level}"].values ** 2 for level in levels)
    df = posterior["nu"].values if "nu" in posterior else tree.attrs.get("site_df")
    # with moderators, the population is one of sites like these (the sites' moderator values)
    location = mu if moderated_sites(tree) is None else predicted_site_means(tree, levels=False)

    ranks = posterior_ranks(values)
    variables = {
        "mu_sites": (sample, weighted_average(values)),
        "sd_sites": (sample, values.std(axis=-1, ddof=1)),
        "share_above": (sample, share_above(values, threshold)),
        "population_share_above": (
            sample,
            population_share_above(location, np.sqrt(scale2), threshold, df=df),
        ),
        "rank": (per_site, ranks),
        "prob_above": ("site", (values > threshold).mean(axis=(0, 1))),
        "pooling_factor": ("site", pooling_factor(se, tau)),
        "variance_reduction": ("site", variance_reduction(values, se)),
        "triple_goal": ("site", triple_goal(values, ranks)),
        "gelman_pardoe_pooling": ((), gelman_pardoe_pooling(values - predicted)),
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


def stored_estimands(tree: xr.DataTree) -> xr.Dataset:
    """The estimands stored with a fit, or computed now (threshold 0) for a file saved
    before sitefx stored them."""
    if "estimands" in tree.children:
        return tree["estimands"].to_dataset()
    return estimands(tree)


def moderated_sites(tree: xr.DataTree) -> np.ndarray | None:
    """The centred moderator values of the sites, shape (site, moderator), if the model has
    moderators."""
    constant = tree["constant_data"]
    if "moderators" not in constant or "gamma" not in tree["posterior"]:
        return None
    moderators = constant["moderators"].values
    return moderators - moderators.mean(axis=0)


def _group_offsets(tree: xr.DataTree, level: str) -> np.ndarray:
    """Each site's group effect at ``level`` minus ``mu``, draws shaped (chain, draw, site)."""
    posterior = tree["posterior"]
    effect = posterior[f"theta_{level}"].sel({level: tree["constant_data"][f"site_{level}"]})
    return (effect - posterior["mu"]).transpose("chain", "draw", "site").values


def predicted_site_means(tree: xr.DataTree, *, levels: bool = True) -> np.ndarray:
    """The mean each site's effect varies around, draws shaped (chain, draw, site):
    ``mu``, plus ``w_j gamma`` with moderators, plus (with ``levels``) the site's group
    effects at upper nesting levels (its district's deviation from ``mu``)."""
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
    """The effect threshold as a float; a clear error unless it is a finite number."""
    if not isinstance(threshold, int | float) or not np.isfinite(threshold):
        raise SitefxInputError(f"the threshold must be a finite number; got {threshold}")
    return float(threshold)


def nesting_levels(tree: xr.DataTree) -> list[str]:
    """Names of the upper nesting levels of a fit (``district``, ...)."""
    posterior = tree["posterior"]
    return [name for name in posterior.dims if f"theta_{name}" in posterior]


def people_per_site(constant: xr.Dataset) -> np.ndarray | None:
    """Number of people per site, when the data give it."""
    if "n" in constant:
        return constant["n"].values.astype(float)
    if "n_treated" in constant:
        return (constant["n_treated"] + constant["n_control"]).values.astype(float)
    return None
