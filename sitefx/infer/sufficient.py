"""Exact draws of the site effects that the collapsed model integrated out.

The collapsed model (:mod:`sitefx.models.collapsed`) samples only the population parameters;
given each of their draws, the site effects ``(alpha_j, theta_j)`` are normal
(:func:`~sitefx.models.collapsed.conditional_site_effects`) and are drawn here.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from sitefx.backend import double_precision
from sitefx.data.statistics import SiteStatistics
from sitefx.models.collapsed import conditional_site_effects, scale_with_theta

# The population parameters each draw of the site effects is conditional on (and, when the
# fit has them, the effects of upper nesting levels and Student-t scales).
_PARAMETERS = ("alpha_mean", "mu", "alpha_sd", "tau", "rho", "sigma", "beta", "cluster_sd")
_PARAMETERS += ("gamma_alpha", "gamma")
_OPTIONAL = ("site_level_effect", "theta_scale")


@double_precision
def draw_site_effects(
    stats: SiteStatistics,
    draws: dict[str, np.ndarray],
    *,
    rng: np.random.Generator,
    moderators: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``(alpha_j, theta_j)`` exactly, given each posterior draw of the rest.

    For each draw of the population parameters, the site effects are normal
    (:func:`~sitefx.models.collapsed.conditional_site_effects`); one draw is taken from each.
    Runs in float64.

    Parameters
    ----------
    stats : SiteStatistics
        The records' sufficient statistics the collapsed model was fitted to.
    draws : dict of str to ndarray
        Posterior draws, each shaped (chains, draws, ...): ``alpha_mean``, ``mu``,
        ``alpha_sd``, ``tau``, ``rho``, ``sigma`` and, when present, ``beta``,
        ``cluster_sd``, ``gamma_alpha`` and ``gamma`` (with ``moderators``),
        ``site_level_effect`` (upper nesting levels) and ``theta_scale`` (Student-t site
        effects).
    rng : numpy.random.Generator
        Source of the draws' noise: the fit's ``site_effects`` stream
        (:mod:`sitefx.streams`).
    moderators : ndarray, shape (n_sites, n_moderators), optional
        The centred site-level moderators; None: none.

    Returns
    -------
    alpha, theta : ndarray, shape (chains, draws, n_sites)
        Draws of the site intercepts and site effects.

    Examples
    --------
    >>> from sitefx.data.statistics import SiteStatistics
    >>> stats = SiteStatistics.from_arrays(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0, 1]),
    ...                                    np.array([0, 0, 1, 1]), np.zeros((4, 0)), n_sites=2)
    >>> values = {"alpha_mean": 2.0, "mu": 1.0, "alpha_sd": 1.0, "tau": 0.5, "rho": 0.0,
    ...           "sigma": 1.0}
    >>> draws = {name: np.full((2, 3), value) for name, value in values.items()}
    >>> alpha, theta = draw_site_effects(stats, draws, rng=np.random.default_rng(0))
    >>> alpha.shape, theta.shape
    ((2, 3, 2), (2, 3, 2))
    """
    shape = draws["mu"].shape
    n_draws, n_sites = int(np.prod(shape)), stats.n.shape[0]
    flat = {
        name: np.reshape(value, (n_draws, *np.shape(value)[2:])) for name, value in draws.items()
    }
    moderators = np.zeros((n_sites, 0)) if moderators is None else moderators
    flat.setdefault("beta", np.zeros((n_draws, stats.xx.shape[0])))
    flat.setdefault("cluster_sd", np.zeros(n_draws))
    for name in ("gamma_alpha", "gamma"):
        flat.setdefault(name, np.zeros((n_draws, moderators.shape[1])))
    needed = [*_PARAMETERS, *(name for name in _OPTIONAL if name in flat)]
    params = {name: flat[name] for name in needed}
    mean, l0, l11 = (np.asarray(value) for value in _conditionals(stats, moderators, params))
    z0, z1 = rng.standard_normal((2, n_draws, n_sites))
    alpha = mean[..., 0] + l0[..., 0] * z0
    theta = mean[..., 1] + l0[..., 1] * z0 + l11 * z1
    return alpha.reshape(*shape, -1), theta.reshape(*shape, -1)


@jax.jit
def _conditionals(
    stats: SiteStatistics, moderators: jnp.ndarray, params: dict[str, jnp.ndarray]
) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Apply :func:`_cholesky_of_conditional` to each draw, one at a time in a compiled loop.

    The data are arguments, not constants, and one draw at a time is both the smallest
    program to compile and the fastest per draw (``vmap`` batches the clusters' scatter-adds
    badly on CPU).
    """
    return jax.lax.map(functools.partial(_cholesky_of_conditional, stats, moderators), params)


def _cholesky_of_conditional(
    stats: SiteStatistics, moderators: jnp.ndarray, p: dict[str, jnp.ndarray]
) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Return each site's conditional mean and the Cholesky factor of its covariance.

    For one draw ``p`` of the population parameters: the mean, shape (n_sites, 2), the first
    column ``(l00, l10)`` of the factor, shape (n_sites, 2), and ``l11``, shape (n_sites,).
    """
    sd_a, sd_t, rho = p["alpha_sd"], p["tau"], p["rho"]
    scale_tril = jnp.array([[sd_a, 0.0], [rho * sd_t, sd_t * jnp.sqrt(1 - rho**2)]])
    if "theta_scale" in p:  # Student-t effects: each site's own scale for theta
        scale_tril = scale_with_theta(scale_tril, p["theta_scale"])
    cond = conditional_site_effects(
        stats,
        mean=jnp.stack([p["alpha_mean"], p["mu"]])
        + moderators @ jnp.stack([p["gamma_alpha"], p["gamma"]], axis=-1)
        + p.get("site_level_effect", 0.0),
        scale_tril=scale_tril,
        sigma=p["sigma"],
        beta=p["beta"],
        cluster_sd=p["cluster_sd"],
    )
    w00, w01, w11 = cond.cov
    l00 = jnp.sqrt(w00)
    l10 = w01 / l00
    l11 = jnp.sqrt(jnp.maximum(w11 - l10**2, 0.0))
    return cond.mean, jnp.stack([l00, l10], -1), l11
