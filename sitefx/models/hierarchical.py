"""Hierarchical models of site-varying treatment effects, as plain numpyro functions.

Each model takes arrays and a :class:`~sitefx.models.priors.Priors` and names its sites after
the output contract: ``mu`` (average effect), ``tau`` (cross-site SD), ``theta`` (site
effects). Site effects are sampled non-centred (``theta = mu + tau * z``), which removes the
funnel between ``tau`` and ``theta`` that makes centred samplers diverge when sites carry
little information.
"""

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.infer.reparam import LocScaleReparam

from sitefx.data.schema import Level
from sitefx.data.statistics import SiteStatistics
from sitefx.models.collapsed import collapsed_log_likelihood, scale_with_theta
from sitefx.models.priors import VECTOR_FAMILIES, Prior, Priors


def normal_normal(
    estimate: jnp.ndarray | None,
    se: jnp.ndarray,
    moderators: jnp.ndarray | None = None,
    *,
    priors: Priors,
    site_df: float | None = None,
    levels: Sequence[Level] = (),
) -> None:
    """Rubin's normal-normal model for site summaries, with optional meta-regression.

    ``estimate_j ~ N(theta_j, se_j)``, ``theta_j ~ N(mu + w_j gamma, tau)``. Moderators ``w``
    should be centred, so that ``mu`` is the average effect at average moderator values and
    ``tau`` the residual cross-site SD.

    Upper nesting levels (multilevel meta-analysis, e.g. studies within districts) add one
    effect per group: ``theta_j ~ N(mu + w_j gamma + u_district[j], tau)`` with
    ``u_district ~ N(0, tau_district)``; ``theta_district = mu + u_district`` is each
    district's average effect.

    Robust variant: site effects are Student-t, ``theta_j ~ t_nu(mu + w_j gamma, tau)``, so an
    outlying site pulls less on the others; ``nu`` is learned when ``priors.nu`` is set, or
    fixed at ``site_df``.

    Sample sites: ``mu``, ``tau``, ``theta`` (with its non-centred ``theta_decentered``),
    ``gamma`` with moderators (and the horseshoe's own sites, see :func:`coefficients`),
    ``nu`` when learned, ``tau_<level>`` and ``theta_<level>`` per nesting level, and the
    observed ``estimate``.

    Parameters
    ----------
    estimate : array, shape (n_sites,), or None
        Each site's estimated effect; None to sample them (prior predictive).
    se : array, shape (n_sites,)
        Their standard errors, taken as known.
    moderators : array, shape (n_sites, n_moderators), optional
        Centred site-level moderators ``w``; None or no columns: no meta-regression.
    priors : Priors
        Priors of ``mu``, ``tau`` and, as needed, ``gamma``, ``nu`` and ``levels``.
    site_df : float, optional
        Fixed degrees of freedom of Student-t site effects (used when ``priors.nu`` is None);
        None (and no ``priors.nu``) gives normal site effects.
    levels : sequence of Level, default ()
        Upper nesting levels, outermost first; ``priors.levels`` needs ``tau_<level>`` for
        each.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from numpyro.infer import Predictive
    >>> from sitefx.models.priors import Prior, Priors
    >>> priors = Priors(mu=Prior("normal", (0, 1)), tau=Prior("half-normal", (1,)))
    >>> draws = Predictive(normal_normal, num_samples=3)(
    ...     jax.random.key(0), None, np.ones(4), priors=priors)
    >>> draws["theta"].shape
    (3, 4)
    """
    mu = numpyro.sample("mu", priors.mu.distribution())
    tau = numpyro.sample("tau", priors.tau.distribution())
    location = mu
    if moderators is not None and moderators.shape[1]:
        information = jnp.sum(1.0 / (se**2 + tau**2))  # about a standardized slope
        gamma = coefficients(
            "gamma", "moderator", priors.gamma, jnp.std(moderators, axis=0), information
        )
        location = mu + moderators @ gamma
    if levels:
        location = location + level_effects(levels, priors, {"tau": mu})[:, 0]
    nu = numpyro.sample("nu", priors.nu.distribution()) if priors.nu is not None else site_df
    site_distribution = (
        dist.Normal(location, tau) if nu is None else dist.StudentT(nu, location, tau)
    )
    with numpyro.plate("site", se.shape[0]):
        reparam = LocScaleReparam(centered=0, shape_params=() if nu is None else ("df",))
        with numpyro.handlers.reparam(config={"theta": reparam}):
            theta = numpyro.sample("theta", site_distribution)
        numpyro.sample("estimate", dist.Normal(theta, se), obs=estimate)


def binomial_arms(
    events_treated: jnp.ndarray | None,
    n_treated: jnp.ndarray,
    events_control: jnp.ndarray | None,
    n_control: jnp.ndarray,
    *,
    priors: Priors,
) -> None:
    """Binary outcomes from per-site, per-arm counts, on the log-odds scale.

    ``events_control_j ~ Binomial(n_control_j, logit^-1(alpha_j))``,
    ``events_treated_j ~ Binomial(n_treated_j, logit^-1(alpha_j + theta_j))``, with control
    log-odds ``alpha_j ~ N(alpha_mean, alpha_sd)`` and log odds ratios ``theta_j ~ N(mu, tau)``.
    ``risk_difference`` is each site's treated minus control risk.

    Parameters
    ----------
    events_treated : array of int, shape (n_sites,), or None
        Events in each site's treated arm; None to sample them.
    n_treated : array of int, shape (n_sites,)
        People in each site's treated arm.
    events_control : array of int, shape (n_sites,), or None
        Events in each site's control arm; None to sample them.
    n_control : array of int, shape (n_sites,)
        People in each site's control arm.
    priors : Priors
        Priors of ``mu``, ``tau``, ``alpha_mean`` and ``alpha_sd`` (log-odds scale).

    Examples
    --------
    >>> import jax, numpy as np
    >>> from numpyro.infer import Predictive
    >>> from sitefx.models.priors import Prior, Priors
    >>> p = Priors(mu=Prior("normal", (0, 1)), tau=Prior("half-normal", (1,)),
    ...            alpha_mean=Prior("normal", (0, 1)), alpha_sd=Prior("half-normal", (1,)))
    >>> n = np.array([20, 30])
    >>> draws = Predictive(binomial_arms, num_samples=2)(
    ...     jax.random.key(0), None, n, None, n, priors=p)
    >>> draws["events_treated"].shape, draws["risk_difference"].shape
    ((2, 2), (2, 2))
    """
    mu = numpyro.sample("mu", priors.mu.distribution())
    tau = numpyro.sample("tau", priors.tau.distribution())
    alpha_mean = numpyro.sample("alpha_mean", priors.alpha_mean.distribution())
    alpha_sd = numpyro.sample("alpha_sd", priors.alpha_sd.distribution())
    centred = {"alpha": LocScaleReparam(centered=0), "theta": LocScaleReparam(centered=0)}
    with numpyro.plate("site", n_treated.shape[0]), numpyro.handlers.reparam(config=centred):
        alpha = numpyro.sample("alpha", dist.Normal(alpha_mean, alpha_sd))
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("events_control", dist.Binomial(n_control, logits=alpha), obs=events_control)
        numpyro.sample(
            "events_treated", dist.Binomial(n_treated, logits=alpha + theta), obs=events_treated
        )
    numpyro.deterministic("risk_difference", jax.nn.sigmoid(alpha + theta) - jax.nn.sigmoid(alpha))


def varying_intercepts_and_effects(
    outcome: jnp.ndarray | None,
    treatment: jnp.ndarray,
    site_index: jnp.ndarray,
    covariates: jnp.ndarray,
    *,
    n_sites: int,
    priors: Priors,
    moderators: jnp.ndarray | None = None,
    cluster_index: jnp.ndarray | None = None,
    n_clusters: int = 0,
    family: str = "gaussian",
    levels: Sequence[Level] = (),
    site_df: float | None = None,
    trials: jnp.ndarray | None = None,
) -> None:
    """Individual records with a site intercept and a site treatment effect.

    ``y_ij ~ N(alpha_j + theta_j T_ij + x_ij beta, sigma)`` with
    ``(alpha_j, theta_j) ~ MVN(m_j, diag(alpha_sd, tau) R diag(alpha_sd, tau))``,
    ``R`` a 2x2 correlation matrix with off-diagonal ``rho``, and
    ``m_j = (alpha_mean + w_j gamma_alpha, mu + w_j gamma)`` with site-level moderators ``w``.
    Covariates and moderators should be centred, so that ``alpha_mean`` is the control mean
    and ``mu`` the average effect at average values. Records clustered in sites (``cluster_index``
    into ``n_clusters`` clusters, e.g. classrooms) get random intercepts
    ``c_k ~ N(0, cluster_sd)``. Upper nesting ``levels`` (districts above schools) add group
    effects to both means, with SDs ``alpha_sd_<level>`` and ``tau_<level>``.

    ``family="binomial"``: a binary outcome with ``logit P(y_ij = 1)`` equal to the same linear
    predictor (no ``sigma``; intercepts and effects independent, as ``priors.rho`` is None), and
    ``risk_difference`` per site at average covariate values. With ``trials``, each row is a
    pattern of records that share site, arm, covariates and cluster, and ``outcome`` counts
    their events: the binomial likelihood equals the records' Bernoulli likelihood up to the
    binomial coefficients (a constant), so the posterior is the same.

    This is the per-record ("naive") path, kept for non-Gaussian extensions and as the
    benchmark baseline; :func:`varying_intercepts_and_effects_collapsed` samples the same
    posterior from per-site sufficient statistics.

    Parameters
    ----------
    outcome : array, shape (n_records,), or None
        Each record's outcome (0/1 for ``family="binomial"``); None to sample it.
    treatment : array, shape (n_records,)
        1 for treated, 0 for control.
    site_index : array of int, shape (n_records,)
        Each record's site, in ``range(n_sites)``.
    covariates : array, shape (n_records, n_covariates)
        Centred person-level covariates ``x`` (n_covariates may be 0).
    n_sites : int
        Number of sites.
    priors : Priors
        Priors of ``mu``, ``tau``, ``alpha_mean``, ``alpha_sd`` and, as the model needs them,
        ``beta``, ``sigma``, ``rho``, ``gamma``, ``gamma_alpha``, ``cluster_sd``, ``nu`` and
        ``levels``.
    moderators : array, shape (n_sites, n_moderators), optional
        Centred site-level moderators ``w``; None: none.
    cluster_index : array of int, shape (n_records,), optional
        Each record's cluster, in ``range(n_clusters)``; None: no cluster intercepts.
    n_clusters : int, default 0
        Number of clusters (with ``cluster_index``).
    family : {"gaussian", "binomial"}, default "gaussian"
        The outcome's distribution.
    levels : sequence of Level, default ()
        Upper nesting levels, outermost first.
    site_df : float, optional
        Fixed degrees of freedom of Student-t site effects (when ``priors.nu`` is None).
    trials : array, shape (n_records,), optional
        ``family="binomial"``: the records in each row (a covariate pattern), ``outcome``
        their events, and ``covariates`` centred at the records' mean; None: one record per
        row.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from numpyro.infer import Predictive
    >>> from sitefx.models.priors import Prior, Priors
    >>> p = Priors(mu=Prior("normal", (0, 1)), tau=Prior("half-normal", (1,)),
    ...            alpha_mean=Prior("normal", (0, 1)), alpha_sd=Prior("half-normal", (1,)),
    ...            beta=Prior("normal", (0, 1)), sigma=Prior("exponential", (1,)),
    ...            rho=Prior("lkj", (2,)))
    >>> draws = Predictive(varying_intercepts_and_effects, num_samples=2)(
    ...     jax.random.key(0), None, np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]),
    ...     np.zeros((4, 0)), n_sites=2, priors=p)
    >>> draws["theta"].shape, draws["outcome"].shape
    ((2, 2), (2, 4))
    """
    moderators = jnp.zeros((n_sites, 0)) if moderators is None else moderators
    if trials is None:
        covariate_sd, n_records = jnp.std(covariates, axis=0), covariates.shape[0]
    else:  # over the records counted: the covariates are centred at their mean
        n_records = jnp.sum(trials)
        covariate_sd = jnp.sqrt(trials @ covariates**2 / n_records)
    population = _site_population(
        priors,
        covariate_sd,
        n_records,
        moderators.shape[1],
        clustered=cluster_index is not None,
    )
    scale_tril = robust_scale_tril(population.scale_tril, n_sites, priors, site_df)
    with numpyro.plate("site", n_sites):
        z = numpyro.sample("site_z", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    effects = population.site_means(moderators, levels, priors) + jnp.einsum(
        "...ab,...b->...a", scale_tril, z
    )
    alpha = numpyro.deterministic("alpha", effects[:, 0])
    theta = numpyro.deterministic("theta", effects[:, 1])
    linear_predictor = (
        alpha[site_index] + theta[site_index] * treatment + covariates @ population.beta
    )
    if cluster_index is not None:
        with numpyro.plate("cluster", n_clusters):
            cluster_z = numpyro.sample("cluster_z", dist.Normal(0.0, 1.0))
        linear_predictor = linear_predictor + population.cluster_sd * cluster_z[cluster_index]
    if family == "gaussian":
        gaussian_records_likelihood(outcome, linear_predictor, population.sigma)
        return
    likelihood = (
        dist.BernoulliLogits(linear_predictor)
        if trials is None
        else dist.BinomialLogits(linear_predictor, total_count=trials)
    )
    with numpyro.plate("record", linear_predictor.shape[0]):
        numpyro.sample("outcome", likelihood, obs=outcome)
    numpyro.deterministic("risk_difference", jax.nn.sigmoid(alpha + theta) - jax.nn.sigmoid(alpha))


def varying_intercepts_and_effects_collapsed(
    stats: SiteStatistics,
    *,
    priors: Priors,
    moderators: jnp.ndarray | None = None,
    levels: Sequence[Level] = (),
    site_df: float | None = None,
) -> None:
    """Fit varying intercepts and effects from sufficient statistics, effects integrated out.

    The same model as :func:`varying_intercepts_and_effects`, with the site (and cluster)
    effects integrated out (:func:`~sitefx.models.collapsed.collapsed_log_likelihood`).
    Gaussian outcomes only. The posterior of the population parameters is identical to that
    of :func:`varying_intercepts_and_effects`; site effects are drawn afterwards with
    :func:`sitefx.infer.sufficient.draw_site_effects`. Each evaluation costs O(sites + clusters),
    not O(records). The likelihood enters as the factor ``outcome``; with nesting levels the
    deterministic ``site_level_effect`` keeps each site's level effects for those draws.

    Parameters
    ----------
    stats : SiteStatistics
        The records' sufficient statistics, covariates centred.
    priors : Priors
        As for :func:`varying_intercepts_and_effects` (Gaussian: ``sigma`` and ``rho`` set).
    moderators : array, shape (n_sites, n_moderators), optional
        Centred site-level moderators; None: none.
    levels : sequence of Level, default ()
        Upper nesting levels, outermost first.
    site_df : float, optional
        Fixed degrees of freedom of Student-t site effects (when ``priors.nu`` is None).

    Examples
    --------
    >>> import jax, numpy as np
    >>> from numpyro.infer import Predictive
    >>> from sitefx.data.statistics import SiteStatistics
    >>> from sitefx.models.priors import Prior, Priors
    >>> p = Priors(mu=Prior("normal", (0, 1)), tau=Prior("half-normal", (1,)),
    ...            alpha_mean=Prior("normal", (0, 1)), alpha_sd=Prior("half-normal", (1,)),
    ...            sigma=Prior("exponential", (1,)), rho=Prior("lkj", (2,)))
    >>> stats = SiteStatistics.from_arrays(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0, 1]),
    ...                                    np.array([0, 0, 1, 1]), np.zeros((4, 0)), n_sites=2)
    >>> draws = Predictive(varying_intercepts_and_effects_collapsed, num_samples=3)(
    ...     jax.random.key(0), stats, priors=p)
    >>> draws["mu"].shape, "theta" in draws  # site effects: drawn after the fit
    ((3,), False)
    """
    moderators = jnp.zeros((stats.n.shape[0], 0)) if moderators is None else moderators
    n_records = jnp.sum(stats.n)  # not stats.n_records: an int, and the sampler traces n
    population = _site_population(
        priors,
        jnp.sqrt(jnp.diag(stats.xx) / n_records),  # covariates are centred
        n_records,
        moderators.shape[1],
        clustered=stats.clusters is not None,
    )
    numpyro.factor(
        "outcome",
        collapsed_log_likelihood(
            stats,
            mean=population.site_means(moderators, levels, priors, record=True),
            scale_tril=robust_scale_tril(population.scale_tril, stats.n.shape[0], priors, site_df),
            sigma=population.sigma,
            beta=population.beta,
            cluster_sd=population.cluster_sd,
        ),
    )


def coefficients(
    name: str, dim: str, prior: Prior, column_sd: jnp.ndarray, information: jnp.ndarray
) -> jnp.ndarray:
    """Sample regression coefficients ``name`` over the plate ``dim``, one per column.

    Most priors are applied to each coefficient independently. The regularized horseshoe
    (Piironen & Vehtari 2017) acts on the coefficients of standardized columns,
    ``b_k = z_k g lambda~_k`` with ``lambda~_k^2 = c^2 lambda_k^2 / (c^2 + g^2 lambda_k^2)``,
    then ``name = b / column_sd``. It also records the shrinkage factors
    ``kappa_<name> = 1 / (1 + information g^2 lambda~_k^2)``: 0 for a coefficient left alone,
    1 for one shrunk to zero; ``information`` is the data's precision about a standardized
    coefficient (``n / sigma^2`` for covariates). Its funnel-shaped posterior needs small
    steps: use ``target_accept`` 0.99.

    Parameters
    ----------
    name : str
        The sample site, e.g. ``"beta"`` or ``"gamma"``.
    dim : str
        The plate's name, e.g. ``"covariate"`` or ``"moderator"``.
    prior : Prior
        The prior of each coefficient, or a horseshoe over all of them.
    column_sd : array, shape (n_columns,)
        Each column's SD (the horseshoe standardizes with it; its length sets the plate).
    information : array
        The data's precision about a standardized coefficient (horseshoe only).

    Returns
    -------
    array, shape (n_columns,)
        The coefficients, on the columns' own scale.

    Examples
    --------
    >>> import numpy as np
    >>> from numpyro import handlers
    >>> with handlers.seed(rng_seed=0):
    ...     beta = coefficients("beta", "covariate", Prior.parse("normal(0, 1)"),
    ...                         np.array([1.0, 2.0, 0.5]), 100.0)
    >>> beta.shape
    (3,)
    """
    if prior.family not in VECTOR_FAMILIES:
        with numpyro.plate(dim, column_sd.shape[0]):
            return numpyro.sample(name, prior.distribution())
    scale_global, slab_scale, slab_df = prior.params
    global_scale = numpyro.sample(f"{name}_global", dist.HalfCauchy(scale_global))
    slab = numpyro.sample(
        f"{name}_slab", dist.InverseGamma(slab_df / 2, slab_df * slab_scale**2 / 2)
    )  # c^2
    with numpyro.plate(dim, column_sd.shape[0]):
        local = numpyro.sample(f"{name}_local", dist.HalfCauchy(1.0))
        z = numpyro.sample(f"{name}_z", dist.Normal(0.0, 1.0))
    local_sq = slab * local**2 / (slab + global_scale**2 * local**2)
    numpyro.deterministic(f"kappa_{name}", 1 / (1 + information * global_scale**2 * local_sq))
    return numpyro.deterministic(name, z * global_scale * jnp.sqrt(local_sq) / column_sd)


class _Population(NamedTuple):
    mean: jnp.ndarray  # (alpha_mean, mu)
    scale_tril: jnp.ndarray  # Cholesky factor of the site effects' covariance
    sigma: jnp.ndarray
    beta: jnp.ndarray  # (n_covariates,), empty without covariates
    gamma: jnp.ndarray  # (n_moderators, 2): moderator slopes of (alpha, theta)
    cluster_sd: jnp.ndarray  # 0 without clusters

    def site_means(
        self,
        moderators: jnp.ndarray,
        levels: Sequence[Level] = (),
        priors: Priors | None = None,
        *,
        record: bool = False,
    ) -> jnp.ndarray:
        """Return the means ``m_j`` the sites' (intercept, effect) pairs vary around.

        ``m_j = mean + w_j gamma`` plus the effects of the site's groups at upper nesting
        levels, shape (n_sites, 2); ``record`` keeps the level effects as the deterministic
        ``site_level_effect`` (for drawing the site effects after a collapsed fit).
        """
        means = self.mean + moderators @ self.gamma
        if not levels:
            return means
        parts = {"alpha_sd": self.mean[0], "tau": self.mean[1]}
        upper = level_effects(levels, priors, parts)
        if record:
            numpyro.deterministic("site_level_effect", upper)
        return means + upper


def robust_scale_tril(
    scale_tril: jnp.ndarray, n_sites: int, priors: Priors, site_df: float | None
) -> jnp.ndarray:
    """Give records Student-t site effects, as a scale mixture of normals.

    ``theta_j``'s deviation is normal with variance ``tau^2 / w_j``, ``w_j ~ gamma(nu / 2, nu /
    2)`` (a scale mixture, so the site effects can still be integrated out given ``w``);
    ``nu`` is learned (``priors.nu``) or ``site_df``. Samples ``nu`` (when learned) and
    ``site_weight``, and records ``theta_scale = 1 / sqrt(w)``.

    Parameters
    ----------
    scale_tril : array, shape (2, 2)
        Cholesky factor of the covariance of (intercept, effect).
    n_sites : int
        Number of sites.
    priors : Priors
        ``priors.nu`` is the prior of ``nu``, or None.
    site_df : float, optional
        Fixed degrees of freedom when ``priors.nu`` is None; both None: normal site effects.

    Returns
    -------
    array, shape (2, 2) or (n_sites, 2, 2)
        ``scale_tril`` unchanged for normal site effects, else one factor per site.

    Examples
    --------
    >>> import numpy as np
    >>> from numpyro import handlers
    >>> priors = Priors(mu=Prior.parse("normal(0, 1)"), tau=Prior.parse("half-normal(1)"))
    >>> robust_scale_tril(np.eye(2), 3, priors, None).shape  # normal site effects
    (2, 2)
    >>> with handlers.seed(rng_seed=0):
    ...     robust_scale_tril(np.eye(2), 3, priors, 4.0).shape
    (3, 2, 2)
    """
    if priors.nu is None and site_df is None:
        return scale_tril
    nu = numpyro.sample("nu", priors.nu.distribution()) if priors.nu is not None else site_df
    with numpyro.plate("site", n_sites):
        weight = numpyro.sample("site_weight", dist.Gamma(nu / 2, nu / 2))
    theta_scale = numpyro.deterministic("theta_scale", 1 / jnp.sqrt(weight))
    return scale_with_theta(scale_tril, theta_scale)


def level_effects(
    levels: Sequence[Level], priors: Priors, parts: dict[str, jnp.ndarray]
) -> jnp.ndarray:
    """Sample the groups' effects at the upper nesting levels and sum them for each site.

    For each level and part, ``<sd>_<level>`` is sampled and the groups' effects non-centred
    (``<sd>_<level>_z``); ``theta_<level>`` records each group's average effect.

    Parameters
    ----------
    levels : sequence of Level
        The upper nesting levels (districts above schools), outermost first.
    priors : Priors
        ``priors.levels`` holds the prior of each ``<sd>_<level>``.
    parts : dict of str to array
        Maps an SD's name to the population mean it varies around: ``{"tau": mu}`` for
        effects, and ``"alpha_sd": alpha_mean`` too for records' intercepts.

    Returns
    -------
    array, shape (n_sites, len(parts))
        Each site's summed group effects (deviations from the mean), one column per part.

    Examples
    --------
    >>> import numpy as np
    >>> from numpyro import handlers
    >>> from sitefx.data.schema import Level
    >>> district = Level("district", ("a", "b"), np.array([0, 0, 1]))
    >>> priors = Priors(mu=Prior.parse("normal(0, 1)"), tau=Prior.parse("half-normal(1)"),
    ...                 levels={"tau_district": Prior.parse("half-normal(1)")})
    >>> with handlers.seed(rng_seed=0), handlers.trace() as trace:
    ...     effects = level_effects([district], priors, {"tau": 0.0})
    >>> effects.shape, trace["theta_district"]["value"].shape
    ((3, 1), (2,))
    """
    total = 0.0
    for level in levels:
        offsets = []
        for sd_name, mean in parts.items():
            name = f"{sd_name}_{level.name}"
            sd = numpyro.sample(name, priors.levels[name].distribution())
            with numpyro.plate(level.name, len(level.groups)):
                z = numpyro.sample(f"{name}_z", dist.Normal(0.0, 1.0))
            if sd_name == "tau":
                numpyro.deterministic(f"theta_{level.name}", mean + sd * z)
            offsets.append(sd * z)
        total = total + jnp.stack(offsets, axis=-1)[level.index]
    return total


def _site_population(
    priors: Priors,
    covariate_sd: jnp.ndarray,
    n_records: int,
    n_moderators: int = 0,
    *,
    clustered: bool = False,
) -> _Population:
    """Sample the parameters shared by every site (the records models' top level).

    ``covariate_sd`` (one SD per covariate column) and ``n_records`` scale a horseshoe prior
    on the covariates.
    """
    mu = numpyro.sample("mu", priors.mu.distribution())
    tau = numpyro.sample("tau", priors.tau.distribution())
    alpha_mean = numpyro.sample("alpha_mean", priors.alpha_mean.distribution())
    alpha_sd = numpyro.sample("alpha_sd", priors.alpha_sd.distribution())
    corr_cholesky = jnp.eye(2)  # binary outcomes: independent intercepts and effects
    if priors.rho is not None:
        corr_cholesky = numpyro.sample("corr_cholesky", priors.rho.distribution())
        numpyro.deterministic("rho", corr_cholesky[1, 0])
    # Binary outcomes have no residual SD; 2 is the logit's pseudo-SD for the horseshoe.
    sigma = 2.0 if priors.sigma is None else numpyro.sample("sigma", priors.sigma.distribution())
    beta = jnp.zeros(0)
    if len(covariate_sd):
        beta = coefficients("beta", "covariate", priors.beta, covariate_sd, n_records / sigma**2)
    gamma = jnp.zeros((0, 2))
    if n_moderators:
        with numpyro.plate("moderator", n_moderators):
            gamma_alpha = numpyro.sample("gamma_alpha", priors.gamma_alpha.distribution())
            gamma = jnp.stack(
                [gamma_alpha, numpyro.sample("gamma", priors.gamma.distribution())], -1
            )
    cluster_sd = (
        numpyro.sample("cluster_sd", priors.cluster_sd.distribution()) if clustered else 0.0
    )
    return _Population(
        mean=jnp.stack([alpha_mean, mu]),
        scale_tril=jnp.stack([alpha_sd, tau])[:, None] * corr_cholesky,
        sigma=sigma,
        beta=beta,
        gamma=gamma,
        cluster_sd=cluster_sd,
    )


def gaussian_records_likelihood(
    outcome: jnp.ndarray | None, linear_predictor: jnp.ndarray, sigma: jnp.ndarray
) -> None:
    """Add the per-record normal likelihood of the outcome (the naive, row-by-row path).

    Parameters
    ----------
    outcome : array, shape (n_records,), or None
        The observed outcome; None to sample it.
    linear_predictor : array, shape (n_records,)
        Each record's mean.
    sigma : array
        The residual SD.

    Examples
    --------
    >>> import numpy as np
    >>> from numpyro import handlers
    >>> with handlers.seed(rng_seed=0), handlers.trace() as trace:
    ...     gaussian_records_likelihood(None, np.zeros(5), 1.0)
    >>> trace["outcome"]["value"].shape
    (5,)
    """
    with numpyro.plate("record", linear_predictor.shape[0]):
        numpyro.sample("outcome", dist.Normal(linear_predictor, sigma), obs=outcome)
