"""Per-draw log densities of a fit: the top-level priors and each site's likelihood.

They are what power-scaling (:mod:`sitefx.sensitivity.power`) and PSIS leave-one-site-out
(:mod:`sitefx.sensitivity.influence`) reweight. Each site's likelihood is its *marginal*
likelihood given the population parameters, with its own effect ``theta_j`` integrated out:
each model family computes it (``site_log_likelihood`` of :mod:`sitefx.families`; e.g. for
site summaries ``N(y_j | m_j, sqrt(tau^2 + se_j^2))``). Leaving a site's marginal likelihood
out is leaving the site out.
"""

import xarray as xr

from sitefx.backend import double_precision
from sitefx.data.schema import StudyData
from sitefx.errors import SitefxInputError
from sitefx.families import family_of_fit
from sitefx.models.priors import Prior

# Priors power-scaling leaves alone: vector priors and the correlation's LKJ prior.
UNSCALED_FAMILIES = ("horseshoe", "lkj", "flat")


def log_prior(tree: xr.DataTree) -> xr.Dataset:
    """Compute ``log p(parameter)`` per draw for each top-level parameter with a scalar prior.

    The parameters are ``mu``, ``tau``, ``gamma``, ``nu``, ``tau_<level>``, ..., each with the
    prior spec stored in the fit (its ``prior_<name>`` attribute). Flat priors add nothing and
    are left out, as are the vector priors and the correlation's LKJ prior
    (``UNSCALED_FAMILIES``), which power-scaling leaves alone. A parameter with one iid
    prior per element (``gamma``, one element per moderator) gets the sum over its elements.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit: its ``posterior`` group and ``prior_*`` attributes are read.

    Returns
    -------
    xarray.Dataset
        One variable per parameter, dims (chain, draw): its log prior density at each draw.

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
        density = prior.log_density(draws.values)
        extra = tuple(range(2, draws.ndim))  # iid elements (gamma per moderator): summed
        variables[name] = (("chain", "draw"), density.sum(axis=extra))
    return xr.Dataset(variables, coords={dim: posterior[dim] for dim in ("chain", "draw")})


@double_precision
def site_log_likelihood(tree: xr.DataTree, data: StudyData | None = None) -> xr.DataArray:
    """Compute each site's marginal log-likelihood per draw.

    The likelihood of site ``j``'s data given the population parameters, its own effect
    ``theta_j`` integrated out (see the module docstring); each model family computes it.
    Site summaries need only the fit; Gaussian individual records need their ``data`` too
    (the file keeps no covariates): each site's term of the collapsed likelihood, with its
    effects and classrooms integrated out.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.
    data : StudyData, optional
        The data it was fitted to; needed for individual records, unused for site summaries.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, site), with the fit's ``site`` labels: ``log p(y_j | draw)``.

    Raises
    ------
    SitefxInputError
        When the fit has no per-site likelihood (see :func:`per_site_obstacle`).

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
    values = family_of_fit(tree, data).site_log_likelihood(tree, data)
    return xr.DataArray(
        values, dims=("chain", "draw", "site"), coords={"site": posterior["site"].values}
    )


def per_site_obstacle(tree: xr.DataTree, data: StudyData | None) -> str | None:
    """Return why the fit's sites have no per-site likelihood here, or None if they do.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.
    data : StudyData, optional
        Its data (records need them: the fit keeps no covariates).

    Returns
    -------
    str or None
        What stands in the way (historical borrowing, binary records with more than site
        and arm, Gaussian records with nesting levels or Student-t site effects, records
        given without their ``data``, records summed out of core), or
        None when :func:`site_log_likelihood` can compute the sites' likelihoods.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> per_site_obstacle(fit.posterior_, None) is None
    True
    """
    if "borrowing" in tree.attrs:
        return "historical borrowing (the borrowed prior is not a stored prior spec)"
    return family_of_fit(tree, data).per_site_obstacle(tree, data)


@double_precision
def with_log_densities(tree: xr.DataTree, data: StudyData | None = None) -> xr.DataTree:
    """Return a copy of ``tree`` with ``log_prior`` and ``log_likelihood`` groups.

    The groups have ArviZ's names, for :func:`arviz_stats.psense` and
    :func:`arviz_stats.loo`; ``tree`` itself is left unchanged.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.
    data : StudyData, optional
        The data it was fitted to; needed for individual records (see
        :func:`site_log_likelihood`).

    Returns
    -------
    xarray.DataTree
        The copy, with ``log_prior`` (:func:`log_prior`: one variable per scaled parameter,
        dims (chain, draw)) and ``log_likelihood`` (variable ``site_marginal``: each site's
        marginal log-likelihood, dims (chain, draw, site)).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> scaled = with_log_densities(fit.posterior_)
    >>> sorted(scaled["log_prior"].data_vars), scaled["log_likelihood"]["site_marginal"].dims
    (['mu', 'tau'], ('chain', 'draw', 'site'))
    """
    result = tree.copy()
    result["log_prior"] = xr.DataTree(log_prior(tree))
    likelihood = site_log_likelihood(tree, data).to_dataset(name="site_marginal")
    result["log_likelihood"] = xr.DataTree(likelihood)
    return result
