"""Individual records: one row per person, with site intercepts and site treatment effects.

Gaussian outcomes (:class:`GaussianRecords`) are fitted by default through per-site
sufficient statistics with the site effects integrated out
(:func:`~sitefx.models.hierarchical.varying_intercepts_and_effects_collapsed`), the site
effects drawn afterwards; binary outcomes (:class:`BinaryRecords`) on the logit scale, through
their arm counts when nothing but site and arm matters. ``collapse=False`` samples the
per-record model (:func:`~sitefx.models.hierarchical.varying_intercepts_and_effects`).

JAX and the numpyro models are imported by the methods that run them, so that choosing a
family, which every fit does, loads neither.
"""

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from sitefx import streams
from sitefx.backend import double_precision
from sitefx.data.schema import IndividualRecords
from sitefx.data.statistics import SiteStatistics, column_sd
from sitefx.errors import SitefxInputError
from sitefx.families.arms import (
    ARM_PARAMETERS,
    LOG_ODDS_PRIORS,
    ArmCounts,
    arm_groups,
    arm_marginal,
    site_intercepts_and_effects,
)
from sitefx.families.predictive import posterior_draws, predictive_groups
from sitefx.families.registry import Family, Model, Shrinkage, register
from sitefx.models.priors import Prior, Priors, level_priors, round_scale, slope_prior


class Records(Family):
    """What Gaussian and binary individual records share (see the module docstring).

    Examples
    --------
    >>> from sitefx.testing import simulate_records
    >>> data, _ = simulate_records(4, 80, seed=1)
    >>> GaussianRecords().matches(data), BinaryRecords().matches(data)
    (True, False)
    """

    name = "records"
    description = "individual records"
    data_kind = "individual"
    shrinkable = "beta"
    compares_site_distributions = False
    effect_sizes = True
    outcome_family = ""  # "gaussian" or "binomial"

    def matches(self, data: object) -> bool:
        """Return whether ``data`` is :class:`IndividualRecords` of this outcome family."""
        return isinstance(data, IndividualRecords) and data.family == self.outcome_family

    def check(self, data: IndividualRecords, *, robust: bool, horseshoe: bool) -> None:
        """Allow every option: Student-t site effects and the horseshoe on covariates."""

    def exact_obstacle(self, data: IndividualRecords, priors: Priors, *, robust: bool) -> str:
        """Return why the exact method does not apply: it needs site summaries."""
        return self.description

    def model(
        self, data: IndividualRecords, priors: Priors, *, collapse: bool, site_df: float | None
    ) -> Model:
        """Return the per-record model with centred covariates and moderators."""
        from sitefx.models.hierarchical import varying_intercepts_and_effects

        cluster_index, n_clusters = None, 0
        if data.cluster is not None:
            cluster_index, unique = pd.factorize(
                pd.MultiIndex.from_arrays([data.site_index, data.cluster])
            )
            n_clusters = len(unique)
        arguments = {
            "outcome": data.outcome,
            "treatment": data.treatment.astype(float),
            "site_index": data.site_index,
            "covariates": data.covariates - data.covariates.mean(axis=0),
            "n_sites": data.n_sites,
            "priors": priors,
            "moderators": data.moderators - data.moderators.mean(axis=0),
            "cluster_index": cluster_index,
            "n_clusters": n_clusters,
            "family": data.family,
            "levels": data.levels,
            "site_df": site_df,
        }
        name = "per_record" if data.family == "gaussian" else "per_record_logit"
        return Model(varying_intercepts_and_effects, arguments, name)

    def data_groups(self, data: IndividualRecords) -> tuple[dict, dict, dict]:
        """Return the outcome as observed; treatment, sites and covariate means as constant.

        Record-level covariates stay in the user's data file; the fit keeps their means,
        since the model centres them (``alpha_mean`` is the control mean at these values).
        """
        raw = data.raw_site_effects()
        people = arm_sizes(data)
        constant = {
            "treatment": data.treatment,
            "site_index": data.site_index,
            "covariate_mean": data.covariates.mean(axis=0),
            "n": raw.n,
            "n_treated": people[:, 1],
            "n_control": people[:, 0],
            "raw_estimate": raw.estimate,
            "raw_se": raw.se,
        }
        coords = {"covariate": np.array(data.covariate_names, dtype=str)}
        return {"outcome": data.outcome, **self.site_outcomes(data)}, constant, coords

    def site_outcomes(self, data: IndividualRecords) -> dict[str, np.ndarray]:
        """Return the per-site summaries of the outcome that the predictive checks replicate.

        Parameters
        ----------
        data : IndividualRecords
            The records.

        Returns
        -------
        dict of str to ndarray, shape (n_sites,)
            By ``observed_data`` name: arm means (Gaussian) or events per arm (binary).
        """
        raise NotImplementedError

    def simulation_obstacle(self, data: IndividualRecords, *, robust: bool) -> str | None:
        """Return what the simulator does not cover: nesting, moderators, Student-t."""
        obstacles = []
        if data.levels or data.moderators.shape[1]:
            obstacles.append("records with nesting levels or moderators")
        if robust:
            obstacles.append("Student-t site effects on records")
        return ", ".join(obstacles) or None

    def simulate(
        self,
        data: IndividualRecords,
        priors: Priors,
        draw: Callable[..., np.ndarray | float],
        rng: np.random.Generator,
        *,
        site_df: float | None,
        robust: bool,
    ) -> tuple[IndividualRecords, dict[str, np.ndarray]]:
        """Return outcomes drawn given site effects, covariates and clusters from the priors."""
        truth, alpha = site_intercepts_and_effects(priors, draw, rng, data.n_sites)
        predictor = alpha[data.site_index] + truth["theta"][data.site_index] * data.treatment
        if data.covariates.shape[1]:
            beta = draw(priors.beta, data.covariates.shape[1])
            predictor = predictor + (data.covariates - data.covariates.mean(axis=0)) @ beta
        if data.cluster is not None:  # classroom intercepts, clusters nested in sites
            cluster, clusters = pd.factorize(
                pd.MultiIndex.from_arrays([data.site_index, data.cluster])
            )
            predictor = (
                predictor + (draw(priors.cluster_sd) * rng.standard_normal(len(clusters)))[cluster]
            )
        outcome = self.draw_outcome(predictor, priors, draw, rng)
        return dataclasses.replace(data, outcome=outcome), truth

    def draw_outcome(
        self,
        predictor: np.ndarray,
        priors: Priors,
        draw: Callable[..., np.ndarray | float],
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Return outcomes drawn given the linear predictor.

        Parameters
        ----------
        predictor : ndarray, shape (n_records,)
            The linear predictor of each record.
        priors : Priors
            The priors (e.g. of ``sigma``).
        draw : callable
            ``draw(prior, size=None)`` draws from a prior.
        rng : numpy.random.Generator
            The replicate's stream.

        Returns
        -------
        ndarray, shape (n_records,)
        """
        raise NotImplementedError

    def per_site_obstacle(self, tree: xr.DataTree, data: IndividualRecords | None) -> str | None:
        """Return why there is no per-site likelihood here, or None."""
        if not self.matches(data):
            return "records without their data (pass data=)"
        return None

    def site_log_likelihood(self, tree: xr.DataTree, data: IndividualRecords | None) -> np.ndarray:
        """Refuse: see :meth:`per_site_obstacle`."""
        raise SitefxInputError(f"no per-site likelihood for {self.name}")


class GaussianRecords(Records):
    """Continuous outcomes (see the module docstring).

    Examples
    --------
    >>> from sitefx.testing import simulate_records
    >>> data, _ = simulate_records(4, 80, seed=1)
    >>> GaussianRecords().model(data, GaussianRecords().default_priors(data, robust=False),
    ...                         collapse=True, site_df=None).name
    'collapsed_sufficient_statistics'
    """

    name = "gaussian records"
    outcome_family = "gaussian"

    def data_scale(self, data: IndividualRecords) -> float:
        """Return ``S = sd(outcome)`` (1 for a constant outcome)."""
        return float(np.std(data.outcome, ddof=1)) or 1.0

    def default_priors(self, data: IndividualRecords, *, robust: bool) -> Priors:
        """Return priors on the outcome's scale (see :mod:`sitefx.models.priors`)."""
        return gaussian_record_priors(
            self.data_scale(data),
            float(np.mean(data.outcome)),
            column_sd(data.covariates),
            robust=robust,
            moderators=data.moderators,
            clustered=data.cluster is not None,
            levels=data.levels,
        )

    def shrinkage(self, data: IndividualRecords) -> Shrinkage:
        """Return the covariates, which the horseshoe may shrink."""
        return Shrinkage(data.covariates.shape[1], data.n_records, self.data_scale(data))

    def model(
        self, data: IndividualRecords, priors: Priors, *, collapse: bool, site_df: float | None
    ) -> Model:
        """Return the collapsed model on sufficient statistics.

        Or, not ``collapse``, the per-record model; the collapsed model's site effects are
        drawn afterwards.
        """
        if not collapse:
            return super().model(data, priors, collapse=collapse, site_df=site_df)
        covariates = data.covariates - data.covariates.mean(axis=0)
        moderators = data.moderators - data.moderators.mean(axis=0)
        return collapsed_model(
            SiteStatistics.from_records(data, covariates), priors, moderators, data.levels, site_df
        )

    def draw_outcome(self, predictor, priors, draw, rng) -> np.ndarray:
        """Return normal outcomes around the predictor, with SD ``sigma`` from its prior."""
        return rng.normal(predictor, draw(priors.sigma))

    def per_site_obstacle(self, tree: xr.DataTree, data: IndividualRecords | None) -> str | None:
        """Return why there is no per-site likelihood here, or None.

        Nesting levels, Student-t site effects, or no data given.
        """
        robust = "nu" in tree["posterior"] or "site_df" in tree.attrs
        if self.matches(data) and (data.levels or robust):
            return "records with nesting levels or Student-t site effects"
        return super().per_site_obstacle(tree, data)

    @double_precision
    def site_log_likelihood(self, tree: xr.DataTree, data: IndividualRecords) -> np.ndarray:
        """Return each site's collapsed log-likelihood per draw, shape (chain, draw, site).

        Each site's term of the collapsed likelihood, with its effects and classrooms
        integrated out (the fit keeps no covariates, so ``data`` is needed).
        """
        import jax.numpy as jnp

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

        arguments = (means, scale_tril, flat("sigma"), flat("beta", "covariate"), cluster_sd)
        terms = _site_terms()(site_stats, *arguments)
        return np.asarray(terms).reshape(*shape, data.n_sites)

    def site_outcomes(self, data: IndividualRecords) -> dict[str, np.ndarray]:
        """Return each site's mean outcome in each arm."""
        sums = np.bincount(2 * data.site_index + data.treatment, data.outcome, 2 * data.n_sites)
        means = sums.reshape(data.n_sites, 2) / arm_sizes(data)
        return {"mean_treated": means[:, 1], "mean_control": means[:, 0]}

    def predictive_groups(
        self, tree: xr.DataTree, data: IndividualRecords, priors: Priors, seed: int
    ) -> dict[str, xr.Dataset]:
        """Return the groups ArviZ's LOO, predictive checks and prior plots read.

        - ``log_likelihood``: ``site_marginal``, each site's collapsed log-likelihood
          (:meth:`site_log_likelihood`), unless :meth:`per_site_obstacle` says otherwise.
        - ``posterior_predictive``: ``mean_treated`` and ``mean_control``, each site's
          replicated arm means (not per-record outcomes, which would make the file as big
          as draws times records), given each draw's ``alpha_j``, ``theta_j``, ``beta``,
          ``sigma`` and, with clusters, new cluster intercepts ``N(0, cluster_sd)``.
        - ``prior`` and ``prior_predictive``: the same from draws of the priors, when every
          prior can be drawn (not flat or horseshoe) and without nesting levels or
          Student-t site effects.
        """
        used = [priors.mu, priors.tau, priors.alpha_mean, priors.alpha_sd, priors.sigma]
        used += [priors.beta] if data.covariates.shape[1] else []
        used += [priors.gamma, priors.gamma_alpha] if data.moderators.shape[1] else []
        used += [priors.cluster_sd] if data.cluster is not None else []
        no_likelihood = self.per_site_obstacle(tree, data) is not None
        return predictive_groups(
            tree,
            replicate_arm_means(data),
            likelihood=None if no_likelihood else lambda: self.site_log_likelihood(tree, data),
            priors=priors,
            used=used,
            seed=seed,
            intercepts=True,
        )


class BinaryRecords(Records):
    """Binary outcomes on the logit scale (see the module docstring).

    Examples
    --------
    >>> from sitefx.testing import simulate_binary_records
    >>> data, _ = simulate_binary_records(4, 200, seed=1)
    >>> BinaryRecords().model(data, BinaryRecords().default_priors(data, robust=False),
    ...                       collapse=True, site_df=None).name  # through the arm counts
    'binomial_arms'
    """

    name = "binary records"
    outcome_family = "binomial"
    effect_sizes = False  # log odds ratios

    def data_scale(self, data: IndividualRecords) -> float:
        """Return 1: the log-odds scale."""
        return 1.0

    def default_priors(self, data: IndividualRecords, *, robust: bool) -> Priors:
        """Return the log-odds priors, slopes with ``S = 1`` and no ``rho``."""
        return Priors(
            **LOG_ODDS_PRIORS,
            beta=slope_prior(1.0, data.covariates),
            gamma=slope_prior(1.0, data.moderators),
            gamma_alpha=slope_prior(1.0, data.moderators),
            cluster_sd=None if data.cluster is None else Prior("half-normal", (1.0,)),
            levels=level_priors(data.levels, 1.0, ("tau", "alpha_sd")),
            nu=Prior("gamma", (2.0, 0.1)) if robust else None,
        )

    def shrinkage(self, data: IndividualRecords) -> Shrinkage:
        """Return the covariates, with Piironen & Vehtari's pseudo-SD for the logit."""
        rate = np.clip(np.mean(data.outcome), 0.01, 0.99)
        return Shrinkage(data.covariates.shape[1], data.n_records, 1.0 / np.sqrt(rate * (1 - rate)))

    def model(
        self, data: IndividualRecords, priors: Priors, *, collapse: bool, site_df: float | None
    ) -> Model:
        """Return the arm-count model when only site and arm matter, else the logit model.

        Arm counts are sufficient then: the same posterior, faster.
        """
        extra = data.covariates.shape[1] or data.moderators.shape[1] or data.cluster is not None
        if collapse and not (extra or data.levels):
            return ArmCounts().model(data.arm_counts(), priors, collapse=True, site_df=site_df)
        return super().model(data, priors, collapse=collapse, site_df=site_df)

    def per_site_obstacle(self, tree: xr.DataTree, data: IndividualRecords | None) -> str | None:
        """Return why there is no per-site likelihood, or None.

        Binary records have one when only site and arm matter (:func:`through_arms`).
        """
        if self.matches(data) and not through_arms(tree, data):
            return "binary records with covariates, moderators, clusters, nesting or Student-t"
        return super().per_site_obstacle(tree, data)

    def site_log_likelihood(self, tree: xr.DataTree, data: IndividualRecords) -> np.ndarray:
        """Return each site's likelihood of its 0/1 records, ``alpha_j``, ``theta_j`` out.

        The arm counts' marginal (:func:`~sitefx.families.arms.arm_marginal`) without the
        binomial coefficients: the records' own likelihood, shape (chain, draw, site).
        """
        counts = data.arm_counts()
        return arm_marginal(
            counts.events_treated,
            counts.n_treated,
            counts.events_control,
            counts.n_control,
            posterior_draws(tree, ARM_PARAMETERS),
            coefficient=False,
        )

    def site_outcomes(self, data: IndividualRecords) -> dict[str, np.ndarray]:
        """Return each site's events in each arm."""
        counts = data.arm_counts()
        return {"events_treated": counts.events_treated, "events_control": counts.events_control}

    def predictive_groups(
        self, tree: xr.DataTree, data: IndividualRecords, priors: Priors, seed: int
    ) -> dict[str, xr.Dataset]:
        """Return the arm counts' groups when only site and arm matter, else none.

        As :meth:`~sitefx.families.arms.ArmCounts.predictive_groups`: replicated events per
        arm and site, the records' per-site likelihood, prior draws. With covariates,
        moderators, clusters, nesting or Student-t effects, no groups are written yet.
        """
        if not through_arms(tree, data):
            return {}
        return arm_groups(tree, priors, seed, lambda: self.site_log_likelihood(tree, data))

    def draw_outcome(self, predictor, priors, draw, rng) -> np.ndarray:
        """Return 0/1 outcomes with ``logit P(y = 1)`` the predictor."""
        return rng.binomial(1, special.expit(predictor)).astype(float)


def through_arms(tree: xr.DataTree, data: IndividualRecords) -> bool:
    """Return whether only site and arm matter in a fit of binary records.

    No covariates, moderators, clusters or nesting levels, normal site effects without a
    correlation: then the arm counts are sufficient and the model is
    :func:`~sitefx.models.hierarchical.binomial_arms`, whichever way it was sampled.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit.
    data : IndividualRecords
        Its binary records.

    Returns
    -------
    bool
        True when the arm counts are sufficient.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=5).fit(sitefx.load("studies/reading_pass"))
    >>> through_arms(fit.posterior_, fit.data_)
    True
    """
    posterior = tree["posterior"]
    extra = data.covariates.shape[1] or data.moderators.shape[1] or data.cluster is not None
    robust = "nu" in posterior or "site_df" in tree.attrs
    return not (extra or data.levels or robust or "rho" in posterior)


def arm_sizes(data: IndividualRecords) -> np.ndarray:
    """Return the records in each arm of each site.

    Parameters
    ----------
    data : IndividualRecords
        The records (their sites and treatment).

    Returns
    -------
    ndarray of int, shape (n_sites, 2)
        Control, then treated.

    Examples
    --------
    >>> from sitefx.testing import simulate_records
    >>> data, _ = simulate_records(4, 80, seed=1)
    >>> int(arm_sizes(data).sum())
    80
    """
    cell = 2 * data.site_index + data.treatment
    return np.bincount(cell, minlength=2 * data.n_sites).reshape(data.n_sites, 2)


def replicate_arm_means(
    data: IndividualRecords,
) -> Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, np.ndarray]]:
    """Return the replication of each site's arm means given draws of the parameters.

    Parameters
    ----------
    data : IndividualRecords
        Gaussian records.

    Returns
    -------
    callable
        ``replicate(draws, rng)``: per draw, each arm's mean of replicated outcomes,
        ``alpha_j (+ theta_j) + xbar_arm beta + cluster + N(0, sigma / sqrt(n_arm))``, with
        new cluster intercepts ``N(0, cluster_sd)`` weighted by the arm's records in each.

    Examples
    --------
    >>> from sitefx.testing import simulate_records
    >>> data, _ = simulate_records(4, 80, seed=1)
    >>> draws = {"alpha": np.zeros((1, 2, 4)), "theta": np.ones((1, 2, 4)),
    ...          "sigma": np.full((1, 2), 1e-12)}
    >>> means = replicate_arm_means(data)(draws, np.random.default_rng(0))
    >>> means["mean_treated"].round(6).tolist()
    [[[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]]
    """
    cell = 2 * data.site_index + data.treatment
    people = arm_sizes(data).ravel()
    covariates = data.covariates - data.covariates.mean(axis=0)
    sums = np.zeros((2 * data.n_sites, covariates.shape[1]))
    np.add.at(sums, cell, covariates)
    covariate_means = (sums / people[:, None]).reshape(data.n_sites, 2, -1)
    if data.cluster is not None:
        cluster, clusters = pd.factorize(pd.MultiIndex.from_arrays([data.site_index, data.cluster]))
        weights = np.zeros((2 * data.n_sites, len(clusters)))
        np.add.at(weights, (cell, cluster), 1.0)
        weights = (weights / people[:, None]).reshape(data.n_sites, 2, -1)

    def replicate(draws: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
        means = draws["alpha"][..., None] + np.stack(
            [np.zeros_like(draws["theta"]), draws["theta"]], axis=-1
        )  # (chain, draw, site, arm)
        if "beta" in draws:
            means = means + np.einsum("cdp,jkp->cdjk", draws["beta"], covariate_means)
        if "cluster_sd" in draws:
            shape = (*draws["cluster_sd"].shape, weights.shape[-1])
            intercepts = draws["cluster_sd"][..., None] * rng.standard_normal(shape)
            means = means + np.einsum("cdl,jkl->cdjk", intercepts, weights)
        noise = rng.standard_normal(means.shape) / np.sqrt(people.reshape(data.n_sites, 2))
        means = means + draws["sigma"][..., None, None] * noise
        return {"mean_treated": means[..., 1], "mean_control": means[..., 0]}

    return replicate


@functools.cache
def _site_terms() -> Callable:
    """Return the compiled per-site collapsed likelihood over draws.

    One program for every fit: the statistics are arguments (pytrees), so that it compiles
    once per shape of data and draws, not once per fit.
    """
    import jax

    from sitefx.models.collapsed import collapsed_log_likelihood

    def terms(site_stats, means, scale_tril, sigma, beta, cluster_sd):
        names = ("mean", "scale_tril", "sigma", "beta", "cluster_sd")

        def one(draw):
            return collapsed_log_likelihood(
                site_stats, **dict(zip(names, draw, strict=True)), per_site=True
            )

        return jax.lax.map(one, (means, scale_tril, sigma, beta, cluster_sd), batch_size=256)

    return jax.jit(terms)


def gaussian_record_priors(
    scale: float,
    outcome_mean: float,
    covariates: np.ndarray,
    *,
    robust: bool,
    moderators: np.ndarray | None = None,
    clustered: bool = False,
    levels: tuple = (),
) -> Priors:
    """Return the priors of a model of Gaussian records, on the outcome's scale ``S``.

    ``mu ~ normal(0, 2.5 S)``, ``tau ~ half-normal(S)``, the intercepts' mean around the
    outcome's mean and their SD like ``tau``, covariate slopes, ``sigma ~ exponential(1 / S)``
    and ``rho ~ lkj(2)``; as the data need them, moderator slopes, ``cluster_sd ~
    half-normal(S)`` and both SDs at each nesting level (see :mod:`sitefx.models.priors`).

    Parameters
    ----------
    scale : float
        ``S``, the outcome's SD.
    outcome_mean : float
        The outcome's mean (the intercepts' prior location).
    covariates : ndarray
        The covariate columns, or only their SDs.
    robust : bool
        Student-t site effects with learned degrees of freedom: add ``nu``'s prior.
    moderators : ndarray, shape (n_sites, n_moderators), optional
        Site-level moderators (their SDs scale the slopes' priors).
    clustered : bool, default False
        Records clustered within sites: add ``cluster_sd``'s prior.
    levels : tuple of Level, default ()
        Upper nesting levels.

    Returns
    -------
    Priors

    Examples
    --------
    >>> import numpy as np
    >>> print(gaussian_record_priors(10.0, 50.0, np.zeros((0,)), robust=False).alpha_mean)
    normal(50, 25)
    """
    return Priors(
        mu=Prior("normal", (0.0, round_scale(2.5 * scale))),
        tau=Prior("half-normal", (round_scale(scale),)),
        alpha_mean=Prior("normal", (round_scale(outcome_mean), round_scale(2.5 * scale))),
        alpha_sd=Prior("half-normal", (round_scale(scale),)),
        beta=slope_prior(scale, covariates),
        sigma=Prior("exponential", (round_scale(1.0 / scale),)),
        rho=Prior("lkj", (2.0,)),
        nu=Prior("gamma", (2.0, 0.1)) if robust else None,
        gamma=None if moderators is None else slope_prior(scale, moderators),
        gamma_alpha=None if moderators is None else slope_prior(scale, moderators),
        cluster_sd=Prior("half-normal", (round_scale(scale),)) if clustered else None,
        levels=level_priors(levels, scale, ("tau", "alpha_sd")),
    )


def collapsed_model(
    stats: SiteStatistics,
    priors: Priors,
    moderators: np.ndarray,
    levels: tuple = (),
    site_df: float | None = None,
) -> Model:
    """Return the collapsed model of Gaussian records and the draws of its site effects.

    Parameters
    ----------
    stats : SiteStatistics
        The records' sufficient statistics (covariates centred).
    priors : Priors
        The model's priors.
    moderators : ndarray, shape (n_sites, n_moderators)
        Centred site-level moderators.
    levels : tuple of Level
        Upper nesting levels.
    site_df : float, optional
        Fixed degrees of freedom of Student-t site effects.

    Returns
    -------
    Model
        Whose ``complete`` draws ``alpha`` and ``theta`` exactly given each draw (the fit's
        ``site_effects`` stream, :mod:`sitefx.streams`).

    Examples
    --------
    >>> import numpy as np
    >>> from sitefx.testing import simulate_records
    >>> data, _ = simulate_records(4, 80, seed=1)
    >>> stats = SiteStatistics.from_records(data, np.zeros((data.n_records, 0)))
    >>> priors = GaussianRecords().default_priors(data, robust=False)
    >>> collapsed_model(stats, priors, np.zeros((4, 0))).complete is not None
    True
    """
    from sitefx.infer.sufficient import draw_site_effects
    from sitefx.models.hierarchical import varying_intercepts_and_effects_collapsed

    arguments = {
        "stats": stats,
        "priors": priors,
        "moderators": moderators,
        "levels": levels,
        "site_df": site_df,
    }

    def draw_effects(draws: dict, seed: int) -> None:
        draws["alpha"], draws["theta"] = draw_site_effects(
            stats, draws, rng=streams.rng(seed, "site_effects"), moderators=moderators
        )

    return Model(
        varying_intercepts_and_effects_collapsed,
        arguments,
        "collapsed_sufficient_statistics",
        draw_effects,
    )


register(GaussianRecords())
register(BinaryRecords())
