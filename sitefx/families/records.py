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
from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from sitefx import streams
from sitefx.data.schema import IndividualRecords
from sitefx.data.statistics import SiteStatistics, column_sd
from sitefx.errors import SitefxInputError
from sitefx.families.arms import LOG_ODDS_PRIORS, ArmCounts, site_intercepts_and_effects
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
        constant = {
            "treatment": data.treatment,
            "site_index": data.site_index,
            "covariate_mean": data.covariates.mean(axis=0),
            "n": raw.n,
            "raw_estimate": raw.estimate,
            "raw_se": raw.se,
        }
        coords = {"covariate": np.array(data.covariate_names, dtype=str)}
        return {"outcome": data.outcome}, constant, coords

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
        scale = self.data_scale(data)
        shared = gaussian_record_priors(
            scale, float(np.mean(data.outcome)), column_sd(data.covariates), robust=robust
        )
        return dataclasses.replace(
            shared,
            gamma=slope_prior(scale, data.moderators),
            gamma_alpha=slope_prior(scale, data.moderators),
            cluster_sd=None
            if data.cluster is None
            else Prior("half-normal", (round_scale(scale),)),
            levels=level_priors(data.levels, scale, ("tau", "alpha_sd")),
        )

    def shrinkage(self, data: IndividualRecords) -> Shrinkage:
        """Return the covariates, which the horseshoe may shrink."""
        return Shrinkage(data.covariates, data.n_records, self.data_scale(data))

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

    def site_log_likelihood(self, tree: xr.DataTree, data: IndividualRecords) -> np.ndarray:
        """Return each site's collapsed log-likelihood per draw, shape (chain, draw, site).

        Each site's term of the collapsed likelihood, with its effects and classrooms
        integrated out (the fit keeps no covariates, so ``data`` is needed).
        """
        import jax
        import jax.numpy as jnp

        from sitefx.models.collapsed import collapsed_log_likelihood

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
        return Shrinkage(data.covariates, data.n_records, 1.0 / np.sqrt(rate * (1 - rate)))

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
        """Return why there is no per-site likelihood: not implemented for binary records."""
        return "binary records" if self.matches(data) else super().per_site_obstacle(tree, data)

    def draw_outcome(self, predictor, priors, draw, rng) -> np.ndarray:
        """Return 0/1 outcomes with ``logit P(y = 1)`` the predictor."""
        return rng.binomial(1, special.expit(predictor)).astype(float)


def gaussian_record_priors(
    scale: float, outcome_mean: float, covariates: np.ndarray, *, robust: bool
) -> Priors:
    """Return the priors every model of Gaussian records has, on the outcome's scale ``S``.

    ``mu ~ normal(0, 2.5 S)``, ``tau ~ half-normal(S)``, the intercepts' mean around the
    outcome's mean and their SD like ``tau``, covariate slopes, ``sigma ~ exponential(1 / S)``
    and ``rho ~ lkj(2)`` (see :mod:`sitefx.models.priors`).

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
