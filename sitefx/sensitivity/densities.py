"""Per-draw log densities of a fit: the top-level priors and each site's likelihood.

They are what power-scaling (:mod:`sitefx.sensitivity.power`) and PSIS leave-one-site-out
(:mod:`sitefx.sensitivity.influence`) reweight. Each site's likelihood is its *marginal*
likelihood given the population parameters, with its own effect ``theta_j`` integrated out:
``p(y_j | mu, tau, ...) = N(y_j | m_j, sqrt(tau^2 + se_j^2))`` for normal site effects (``m_j``
the site's predicted mean: ``mu`` plus moderators and upper-level group effects), by
quadrature over the Student-t's normal scale mixture for Student-t site effects. Leaving a
site's marginal likelihood out is leaving the site out.
"""

import numpy as np
import xarray as xr
from scipy import special, stats

from sitefx.errors import SitefxInputError
from sitefx.estimands import predicted_site_means
from sitefx.models.priors import Prior

MIXTURE_NODES = 64
# Priors power-scaling leaves alone: vector priors and the correlation's LKJ prior.
UNSCALED_FAMILIES = ("horseshoe", "lkj", "flat")


def log_prior(tree: xr.DataTree) -> xr.Dataset:
    """``log p(parameter)`` per draw for each top-level parameter with a scalar prior
    (``mu``, ``tau``, ``gamma``, ``nu``, ``tau_<level>``, ...), from the prior specs stored
    in the fit. Flat priors add nothing and are left out.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> sorted(log_prior(fit.posterior_).data_vars)
    ['mu', 'tau']
    """
    posterior = tree["posterior"]
    variables = {}
    for key, spec in tree.attrs.items():
        name = key.removeprefix("prior_")
        if not key.startswith("prior_") or name not in posterior:
            continue
        prior = Prior.parse(spec)
        if prior.family in UNSCALED_FAMILIES:
            continue
        draws = posterior[name]
        density = np.asarray(prior.distribution().log_prob(draws.values))
        extra = tuple(range(2, draws.ndim))  # iid elements (gamma per moderator): summed
        variables[name] = (("chain", "draw"), density.sum(axis=extra))
    return xr.Dataset(variables, coords={dim: posterior[dim] for dim in ("chain", "draw")})


def site_log_likelihood(tree: xr.DataTree) -> xr.DataArray:
    """Each site's marginal log-likelihood per draw, dims (chain, draw, site), for fits of
    site summaries.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> site_log_likelihood(fit.posterior_).dims
    ('chain', 'draw', 'site')
    """
    if tree.attrs.get("data_kind") != "summaries":
        raise SitefxInputError(
            "per-site likelihoods (power-scaling, PSIS leave-one-site-out) are available for "
            "site summaries so far; use the prior grid or refits for other data"
        )
    if "borrowing" in tree.attrs:
        raise SitefxInputError(
            "power-scaling and leave-one-site-out do not support historical borrowing: the "
            "borrowed prior is not a stored prior spec"
        )
    posterior, constant = tree["posterior"], tree["constant_data"]
    estimate, se = constant["raw_estimate"].values, constant["se"].values
    mean = predicted_site_means(tree)
    tau = posterior["tau"].transpose("chain", "draw").values[..., None]
    if "nu" in posterior or "site_df" in tree.attrs:
        df = posterior["nu"].values[..., None] if "nu" in posterior else tree.attrs["site_df"]
        values = _student_t_marginal(estimate, se, mean, tau, df)
    else:
        values = stats.norm.logpdf(estimate, mean, np.sqrt(tau**2 + se**2))
    return xr.DataArray(
        values, dims=("chain", "draw", "site"), coords={"site": posterior["site"].values}
    )


def _student_t_marginal(estimate, se, mean, tau, df) -> np.ndarray:
    """``log int N(y | theta, se) t_df(theta | mean, tau) dtheta``.

    The Student-t is a scale mixture, ``theta ~ N(mean, tau / sqrt(w))`` with
    ``w ~ gamma(df / 2, rate df / 2)``, so the marginal is ``E_w N(y | mean, sqrt(tau^2 / w +
    se^2))``: Gauss-Legendre quadrature over the quantiles of ``w``, where the integrand is
    smooth whatever the ratio of ``tau`` to ``se``.
    """
    nodes, weights = _gauss_legendre_unit(MIXTURE_NODES)
    df = np.broadcast_to(df, np.shape(tau))[..., None]
    w = stats.gamma.ppf(nodes, df / 2, scale=2 / df)  # (chain, draw, 1, node)
    sd = np.sqrt(tau[..., None] ** 2 / w + se[..., None] ** 2)
    log_normal = stats.norm.logpdf(estimate[..., None], mean[..., None], sd)
    return special.logsumexp(log_normal, b=weights, axis=-1)


def _gauss_legendre_unit(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on (0, 1)."""
    nodes, weights = special.roots_legendre(n)
    return (nodes + 1) / 2, weights / 2


def with_log_densities(tree: xr.DataTree) -> xr.DataTree:
    """A copy of ``tree`` with ``log_prior`` and ``log_likelihood`` groups (ArviZ's names),
    for :func:`arviz_stats.psense` and :func:`arviz_stats.loo`."""
    result = tree.copy()
    result["log_prior"] = xr.DataTree(log_prior(tree))
    likelihood = site_log_likelihood(tree).to_dataset(name="estimate")
    result["log_likelihood"] = xr.DataTree(likelihood)
    return result
