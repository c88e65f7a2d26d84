"""Per-draw log densities of a fit: the top-level priors and each site's likelihood.

They are what power-scaling (:mod:`sitefx.sensitivity.power`) and PSIS leave-one-site-out
(:mod:`sitefx.sensitivity.influence`) reweight. Each site's likelihood is its *marginal*
likelihood given the population parameters, with its own effect ``theta_j`` integrated out:
``p(y_j | mu, tau, ...) = N(y_j | m_j, sqrt(tau^2 + se_j^2))`` for normal site effects (``m_j``
the site's predicted mean: ``mu`` plus moderators and upper-level group effects), by
quadrature over the Student-t's normal scale mixture for Student-t site effects. Leaving a
site's marginal likelihood out is leaving the site out.
"""

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy import special, stats

from sitefx.backend import double_precision
from sitefx.data.schema import IndividualRecords, StudyData
from sitefx.data.statistics import SiteStatistics
from sitefx.errors import SitefxInputError
from sitefx.estimands import predicted_site_means
from sitefx.models.collapsed import collapsed_log_likelihood
from sitefx.models.priors import Prior

MIXTURE_NODES = 64
# Priors power-scaling leaves alone: vector priors and the correlation's LKJ prior.
UNSCALED_FAMILIES = ("horseshoe", "lkj", "flat")


@double_precision
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


@double_precision
def site_log_likelihood(tree: xr.DataTree, data: StudyData | None = None) -> xr.DataArray:
    """Each site's marginal log-likelihood per draw, dims (chain, draw, site).

    Site summaries need only the fit; Gaussian individual records need their ``data`` too
    (the file keeps no covariates): each site's term of the collapsed likelihood, with its
    effects and classrooms integrated out.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> site_log_likelihood(fit.posterior_).dims
    ('chain', 'draw', 'site')
    """
    obstacle = per_site_obstacle(tree, data)
    if obstacle is not None:
        raise SitefxInputError(
            f"per-site likelihoods (power-scaling, PSIS leave-one-site-out) are not available "
            f"for {obstacle}; the prior grid works for every model"
        )
    posterior = tree["posterior"]
    if tree.attrs["data_kind"] == "individual":
        values = _records_site_log_likelihood(tree, data)
    else:
        constant = tree["constant_data"]
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


def per_site_obstacle(tree: xr.DataTree, data: StudyData | None) -> str | None:
    """Why the fit's sites have no per-site likelihood here, or None if they do."""
    kind = tree.attrs.get("data_kind")
    robust = "nu" in tree["posterior"] or "site_df" in tree.attrs
    if "borrowing" in tree.attrs:
        return "historical borrowing (the borrowed prior is not a stored prior spec)"
    if kind == "summaries":
        return None
    if kind == "statistics":
        return "records summed out of core"
    if kind != "individual" or not isinstance(data, IndividualRecords):
        return "arm counts" if kind == "arms" else "records without their data (pass data=)"
    if data.family != "gaussian":
        return "binary records"
    if data.levels or robust:
        return "records with nesting levels or Student-t site effects"
    return None


def _records_site_log_likelihood(tree: xr.DataTree, data: IndividualRecords) -> np.ndarray:
    """Each site's collapsed log-likelihood per draw, shape (chain, draw, site)."""
    covariates = data.covariates - data.covariates.mean(axis=0)
    moderators = jnp.asarray(data.moderators - data.moderators.mean(axis=0))
    site_stats = SiteStatistics.from_records(data, covariates, per_site=True)
    posterior = tree["posterior"]
    shape = posterior["mu"].shape

    def flat(name: str, dim: str | None = None) -> jnp.ndarray:
        if name not in posterior:
            return jnp.zeros((int(np.prod(shape)), 0) if dim else (int(np.prod(shape)),))
        values = posterior[name].transpose("chain", "draw", *([dim] if dim else [])).values
        return jnp.asarray(values.reshape(int(np.prod(shape)), *values.shape[2:]))

    alpha_sd, tau, rho = flat("alpha_sd"), flat("tau"), flat("rho")
    scale_tril = jnp.stack(
        [
            jnp.stack([alpha_sd, jnp.zeros_like(tau)], -1),
            jnp.stack([tau * rho, tau * jnp.sqrt(1 - rho**2)], -1),
        ],
        -2,
    )
    slopes = jnp.stack([flat("gamma_alpha", "moderator"), flat("gamma", "moderator")], -1)
    means = jnp.stack([flat("alpha_mean"), flat("mu")], -1)[:, None, :] + jnp.einsum(
        "jm,smk->sjk", moderators, slopes
    )
    cluster_sd = flat("cluster_sd") if "cluster_sd" in posterior else jnp.zeros(tau.shape)

    @jax.jit
    def per_site(mean, tril, sigma, beta, cluster):
        return collapsed_log_likelihood(
            site_stats,
            mean=mean,
            scale_tril=tril,
            sigma=sigma,
            beta=beta,
            cluster_sd=cluster,
            per_site=True,
        )

    terms = jax.lax.map(
        lambda args: per_site(*args),
        (means, scale_tril, flat("sigma"), flat("beta", "covariate"), cluster_sd),
        batch_size=256,
    )
    return np.asarray(terms).reshape(*shape, data.n_sites)


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


@double_precision
def with_log_densities(tree: xr.DataTree, data: StudyData | None = None) -> xr.DataTree:
    """A copy of ``tree`` with ``log_prior`` and ``log_likelihood`` groups (ArviZ's names),
    for :func:`arviz_stats.psense` and :func:`arviz_stats.loo` (``data``: for records)."""
    result = tree.copy()
    result["log_prior"] = xr.DataTree(log_prior(tree))
    likelihood = site_log_likelihood(tree, data).to_dataset(name="site_marginal")
    result["log_likelihood"] = xr.DataTree(likelihood)
    return result
