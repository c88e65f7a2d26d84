"""What the families share to write a fit's ArviZ groups (``Family.predictive_groups``).

Replicated data come from the posterior's draws and, where every prior can be drawn, the
same replication from draws of the priors; each family supplies its replication and its
per-site likelihood. The groups and their meanings are in ``docs/datatree.md``.
"""

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import xarray as xr

from sitefx import streams
from sitefx.estimands import moderated_sites, nesting_levels
from sitefx.models.priors import Prior, Priors

# Variables drawn from the priors, and their dims beyond (chain, draw).
PRIOR_DIMS = {
    "mu": (),
    "tau": (),
    "gamma": ("moderator",),
    "alpha_mean": (),
    "alpha_sd": (),
    "gamma_alpha": ("moderator",),
    "rho": (),
    "sigma": (),
    "beta": ("covariate",),
    "cluster_sd": (),
    "alpha": ("site",),
    "theta": ("site",),
}


def draws_dataset(
    tree: xr.DataTree, variables: Mapping[str, tuple[tuple, np.ndarray]]
) -> xr.Dataset:
    """Return draws shaped (chain, draw, ...) as a Dataset with the posterior's coordinates.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit.
    variables : mapping of str to (tuple of str, ndarray)
        Each variable's dims beyond (chain, draw), and its values.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(method="exact", seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> draws_dataset(fit.posterior_, {"x": (("site",), np.zeros((4, 1000, 8)))})["x"].dims
    ('chain', 'draw', 'site')
    """
    posterior = tree["posterior"]
    dims = {"chain", "draw"}.union(*(extra for extra, _ in variables.values()))
    coords = {dim: posterior[dim].values for dim in dims if dim in posterior.coords}
    data = {name: (("chain", "draw", *extra), value) for name, (extra, value) in variables.items()}
    return xr.Dataset(data, coords)


def posterior_draws(tree: xr.DataTree, names: Iterable[str]) -> dict[str, np.ndarray]:
    """Return the posterior's draws of ``names`` (those it has), shaped (chain, draw, ...).

    Parameters
    ----------
    tree : xarray.DataTree
        The fit.
    names : iterable of str
        Parameter names.

    Returns
    -------
    dict of str to ndarray

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(method="exact", seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> {name: v.shape for name, v in posterior_draws(fit.posterior_, ["mu", "beta"]).items()}
    {'mu': (4, 1000)}
    """
    posterior = tree["posterior"]
    return {
        name: posterior[name].transpose("chain", "draw", ...).values
        for name in names
        if name in posterior
    }


def prior_drawable(tree: xr.DataTree, priors: Iterable[Prior | None]) -> bool:
    """Return whether the prior groups can be drawn for the fit ``tree``.

    Not with Student-t site effects, nesting levels or historical borrowing, nor when one
    of ``priors`` (those the model uses) is flat or a horseshoe.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit.
    priors : iterable of Prior or None
        The priors the model uses (None: unused, ignored).

    Returns
    -------
    bool

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(method="exact", seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> prior_drawable(fit.posterior_, [Prior("flat", ())])
    False
    """
    robust = "nu" in tree["posterior"] or "site_df" in tree.attrs
    if robust or "borrowing" in tree.attrs or nesting_levels(tree):
        return False
    return all(prior.family not in ("flat", "horseshoe") for prior in priors if prior is not None)


def prior_site_draws(
    tree: xr.DataTree, priors: Priors, rng: np.random.Generator, *, intercepts: bool
) -> dict[str, np.ndarray]:
    """Draw the population parameters from the priors, then each site's effect given them.

    ``theta_j ~ N(mu + w_j gamma, tau)``; with ``intercepts``, also the site intercepts
    ``alpha_j ~ N(alpha_mean + w_j gamma_alpha, alpha_sd)``, correlated with the effects by
    ``rho`` (an LKJ(eta) prior on a 2x2 correlation: ``(rho + 1) / 2 ~ beta(eta, eta)``),
    and the record-level ``sigma``, ``beta`` and ``cluster_sd`` the posterior has.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit: the draws are shaped as its posterior's.
    priors : Priors
        The fit's priors (check :func:`prior_drawable` first).
    rng : numpy.random.Generator
        The fit's ``predictive`` stream.
    intercepts : bool
        Draw site intercepts too (arm counts and records).

    Returns
    -------
    dict of str to ndarray
        Draws shaped (chain, draw, ...), dims as in :data:`PRIOR_DIMS`.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(method="exact", seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> draws = prior_site_draws(fit.posterior_, fit.priors_, np.random.default_rng(0),
    ...                          intercepts=False)
    >>> sorted(draws), draws["theta"].shape
    (['mu', 'tau', 'theta'], (4, 1000, 8))
    """
    posterior = tree["posterior"]
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    sites = (*shape, posterior.sizes["site"])
    draws = {"mu": priors.mu.sample(rng, shape), "tau": priors.tau.sample(rng, shape)}
    moderators = moderated_sites(tree)
    theta_mean = np.repeat(draws["mu"][..., None], sites[-1], axis=-1)
    if moderators is not None:
        draws["gamma"] = priors.gamma.sample(rng, (*shape, moderators.shape[1]))
        theta_mean += np.einsum("cdm,jm->cdj", draws["gamma"], moderators)
    z = rng.standard_normal(sites)
    if intercepts:
        draws["alpha_mean"] = priors.alpha_mean.sample(rng, shape)
        draws["alpha_sd"] = priors.alpha_sd.sample(rng, shape)
        alpha_mean = np.repeat(draws["alpha_mean"][..., None], sites[-1], axis=-1)
        if moderators is not None:
            draws["gamma_alpha"] = priors.gamma_alpha.sample(rng, (*shape, moderators.shape[1]))
            alpha_mean += np.einsum("cdm,jm->cdj", draws["gamma_alpha"], moderators)
        z_alpha = rng.standard_normal(sites)
        draws["alpha"] = alpha_mean + draws["alpha_sd"][..., None] * z_alpha
        if "rho" in posterior and priors.rho is not None:
            eta = priors.rho.params[0]
            draws["rho"] = 2 * rng.beta(eta, eta, shape) - 1
            rho = draws["rho"][..., None]
            z = rho * z_alpha + np.sqrt(1 - rho**2) * z
        for name in ("sigma", "cluster_sd"):
            if name in posterior:
                draws[name] = getattr(priors, name).sample(rng, shape)
        if "beta" in posterior:
            draws["beta"] = priors.beta.sample(rng, (*shape, posterior.sizes["covariate"]))
    draws["theta"] = theta_mean + draws["tau"][..., None] * z
    return draws


def predictive_groups(
    tree: xr.DataTree,
    replicate: Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, np.ndarray]],
    *,
    likelihood: Callable[[], np.ndarray] | None,
    priors: Priors,
    used: Iterable[Prior | None],
    seed: int,
    intercepts: bool,
) -> dict[str, xr.Dataset]:
    """Return the ArviZ groups from a family's replication and per-site likelihood.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit.
    replicate : callable
        ``replicate(draws, rng)`` returns replicated data by ``observed_data`` name, each
        shaped (chain, draw, site), given parameter draws (posterior or prior).
    likelihood : callable or None
        Returns each site's log-likelihood (chain, draw, site); None, or a fit with
        historical borrowing: no ``log_likelihood``.
    priors : Priors
        The fit's priors.
    used : iterable of Prior or None
        Those the model uses: the prior groups are drawn when :func:`prior_drawable`.
    seed : int
        The fit's seed: the draws come from its ``predictive`` stream.
    intercepts : bool
        The model has site intercepts (:func:`prior_site_draws`).

    Returns
    -------
    dict of str to xarray.Dataset
        ``posterior_predictive``, and ``log_likelihood``, ``prior``, ``prior_predictive``
        when they can be computed.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(method="exact", seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> same = lambda draws, rng: {"estimate": draws["theta"]}
    >>> groups = predictive_groups(fit.posterior_, same, likelihood=None, priors=fit.priors_,
    ...                            used=[Prior("flat", ())], seed=1, intercepts=False)
    >>> list(groups), groups["posterior_predictive"]["estimate"].dims
    (['posterior_predictive'], ('chain', 'draw', 'site'))
    """
    rng = streams.rng(seed, "predictive")

    def at_sites(values: dict[str, np.ndarray]) -> xr.Dataset:
        return draws_dataset(tree, {name: (("site",), value) for name, value in values.items()})

    groups = {"posterior_predictive": at_sites(replicate(posterior_draws(tree, PRIOR_DIMS), rng))}
    if likelihood is not None and "borrowing" not in tree.attrs:
        groups["log_likelihood"] = at_sites({"site_marginal": likelihood()})
    if prior_drawable(tree, used):
        draws = prior_site_draws(tree, priors, rng, intercepts=intercepts)
        groups["prior"] = draws_dataset(
            tree, {name: (PRIOR_DIMS[name], value) for name, value in draws.items()}
        )
        groups["prior_predictive"] = at_sites(replicate(draws, rng))
    return groups
