"""Unbalanced repeated measures: the long-format growth model (:mod:`sitefx.models.growth`).

Persons scored at different waves (missed waves, irregular times) are fitted on their scores
with their own levels and growth integrated out; the sites' effects of treatment on growth
are ``theta_j ~ N(mu, tau)``, as in the other families; baseline covariates shift each
person's level (``beta``, the covariates centred). Balanced waves are fitted as growth
rates by the records family instead (:func:`sitefx.data.validate.growth_records`). With an
interruption in each person's line (a comparative interrupted time series, observational),
the sites' effects ``theta_j ~ N(mu, tau)`` are the treated persons' step at the
interruption beyond the comparison persons'.

JAX and numpyro are imported by the methods that run them.
"""

import dataclasses
from collections.abc import Callable

import numpy as np
import xarray as xr

from sitefx.data.panel import GrowthPanel
from sitefx.errors import SitefxInputError
from sitefx.families.registry import Family, Model, register
from sitefx.models.priors import Prior, Priors, round_scale, slope_prior


class LongGrowth(Family):
    """Unbalanced waves as scores over time (see the module docstring).

    Examples
    --------
    >>> import sitefx
    >>> from sitefx.testing import simulate_growth_frame
    >>> frame, _ = simulate_growth_frame(3, 10, seed=1)
    >>> study = sitefx.load(frame, site="school", outcome="score", treatment="treated",
    ...                     wave="year", person="pupil")
    >>> LongGrowth().matches(study.data)
    True
    """

    name = "long growth"
    description = "unbalanced repeated measures (long-format growth)"
    data_kind = "growth"
    shrinkable = None
    compares_site_distributions = False
    effect_sizes = True

    def matches(self, data: object) -> bool:
        """Return whether ``data`` is a :class:`~sitefx.data.panel.GrowthPanel`."""
        return isinstance(data, GrowthPanel)

    def check(self, data: GrowthPanel, *, robust: bool, horseshoe: bool) -> None:
        """Refuse Student-t site effects and the horseshoe: not in this model yet."""
        if robust:
            raise SitefxInputError(
                "Student-t site effects (--site-dist student-t) are not available for "
                f"{self.description} yet"
            )
        if horseshoe:
            raise SitefxInputError(
                "the horseshoe (--covariate-prior horseshoe) is not available for "
                f"{self.description} yet"
            )

    def data_scale(self, data: GrowthPanel) -> float:
        """Return ``S = sd(scores)`` (1 for constant scores)."""
        return float(np.std(data.outcome, ddof=1)) or 1.0

    def default_priors(self, data: GrowthPanel, *, robust: bool) -> Priors:
        """Return priors on the scores' scale ``S`` and the growth scale ``G``.

        ``G = S / sd(times)``: a change of ``S`` over one SD of the times. Levels as the
        records' intercepts (``alpha_mean ~ normal(mean score, 2.5 S)``,
        ``alpha_sd ~ half-normal(S)``), the level effect ``normal(0, 2.5 S)``; growth and
        the effects on it as the records' effects on ``G`` (``mu``, ``growth_mean ~
        normal(0, 2.5 G)``, ``tau``, ``growth_sd ~ half-normal(G)``); persons' SDs
        ``half-normal(S)`` (level) and ``half-normal(G)`` (growth), their correlation
        ``lkj(2)``; ``sigma ~ exponential(1 / S)``; covariates' coefficients on the level
        ``beta ~ normal(0, 2.5 S / smallest covariate SD)``, as the records'. A comparative
        interrupted time series has its effects on the scores' scale (``mu``, ``shift_mean``,
        ``level_difference ~ normal(0, 2.5 S)``, ``tau``, ``shift_sd ~ half-normal(S)``) and
        ``trend_difference ~ normal(0, 2.5 G)``, in place of ``level_effect``.
        """
        scale = self.data_scale(data)
        growth = scale / (float(np.std(data.time, ddof=1)) or 1.0)

        def normal(centre: float, spread: float) -> Prior:
            return Prior("normal", (round_scale(centre) if centre else 0.0, round_scale(spread)))

        def half_normal(spread: float) -> Prior:
            return Prior("half-normal", (round_scale(spread),))

        shared = Priors(
            mu=normal(0.0, 2.5 * growth),
            tau=half_normal(growth),
            alpha_mean=normal(float(np.mean(data.outcome)), 2.5 * scale),
            alpha_sd=half_normal(scale),
            growth_mean=normal(0.0, 2.5 * growth),
            growth_sd=half_normal(growth),
            level_effect=normal(0.0, 2.5 * scale),
            person_sd=half_normal(scale),
            person_growth_sd=half_normal(growth),
            person_rho=Prior("lkj", (2.0,)),
            sigma=Prior("exponential", (round_scale(1.0 / scale),)),
            beta=slope_prior(scale, data.covariates),
        )
        if not data.interrupted:
            return shared
        return dataclasses.replace(
            shared,
            mu=normal(0.0, 2.5 * scale),
            tau=half_normal(scale),
            level_effect=None,
            shift_mean=normal(0.0, 2.5 * scale),
            shift_sd=half_normal(scale),
            level_difference=normal(0.0, 2.5 * scale),
            trend_difference=normal(0.0, 2.5 * growth),
        )

    def vary_level_effect(self, data: GrowthPanel, priors: Priors) -> Priors:
        """Return ``priors`` for site-varying effects on the level.

        ``level_effect_mean`` takes ``level_effect``'s prior, ``level_effect_sd ~
        half-normal(S)`` as ``alpha_sd``. An interrupted time series has no effect on the
        level (its arms differ by ``level_difference``) and refuses.
        """
        if data.interrupted:
            raise SitefxInputError(
                "--level-effect varying is for growth; a comparative interrupted time series "
                f"('{data.interruption_name}') has its effects at the interruption (theta, "
                "varying across sites) and one level_difference between the arms: leave out "
                "--level-effect"
            )
        return dataclasses.replace(
            priors,
            level_effect=None,
            level_effect_mean=priors.level_effect,
            level_effect_sd=Prior("half-normal", (round_scale(self.data_scale(data)),)),
        )

    def shrinkage(self, data: GrowthPanel) -> None:
        """Return None: no coefficients to shrink."""
        return None

    def exact_obstacle(self, data: GrowthPanel, priors: Priors, *, robust: bool) -> str:
        """Return why the exact method does not apply: it needs site summaries."""
        return self.description

    def model(
        self, data: GrowthPanel, priors: Priors, *, collapse: bool, site_df: float | None
    ) -> Model:
        """Return the model on persons' sufficient statistics, their effects integrated out.

        Covariates are centred: ``alpha_mean`` is the control level of a person with the mean
        covariates.
        """
        from sitefx.models.growth import long_growth

        arguments = {
            "stats": data.person_statistics(),
            "treatment": data.treatment.astype(float),
            "site_index": data.site_index,
            "n_sites": data.n_sites,
            "priors": priors,
            "covariates": data.covariates - data.covariates.mean(axis=0),
        }
        # The chains start at the prior medians: the levels' prior sits at the mean score
        # (e.g. 250), far outside numpyro's default starting box (-2, 2).
        return Model(long_growth, arguments, "long_growth", init="median")

    def data_groups(self, data: GrowthPanel) -> tuple[dict, dict, dict]:
        """Return the scores as observed; times, persons, arms and sites per score as constant.

        ``wave_centre`` is the time the levels (``alpha``, ``level_effect``) refer to,
        ``covariate_mean`` the persons' mean covariates (the model centres them),
        ``interruption`` (interrupted series) the time each score's person's line breaks.
        """
        raw = data.raw_site_effects()
        people = np.bincount(
            2 * data.site_index + data.treatment, minlength=2 * data.n_sites
        ).reshape(-1, 2)
        constant = {
            "wave": data.time,
            "person_index": data.person_index,
            "treatment": data.treatment[data.person_index],
            "site_index": data.site_index[data.person_index],
            "wave_centre": np.float64(data.centre),
            "covariate_mean": data.covariates.mean(axis=0),
            "n": people.sum(axis=1),
            "n_treated": people[:, 1],
            "n_control": people[:, 0],
            "raw_estimate": raw.estimate,
            "raw_se": raw.se,
        }
        if data.interrupted:
            constant["interruption"] = data.interruption[data.person_index]
        coords = {"covariate": np.array(data.covariate_names, dtype=str)}
        return {"outcome": data.outcome}, constant, coords

    def simulation_obstacle(self, data: GrowthPanel, *, robust: bool) -> str:
        """Return why :meth:`simulate` does not apply: not written for this model yet."""
        return self.description

    def simulate(
        self,
        data: GrowthPanel,
        priors: Priors,
        draw: Callable[..., np.ndarray | float],
        rng: np.random.Generator,
        *,
        site_df: float | None,
        robust: bool,
    ) -> tuple[GrowthPanel, dict[str, np.ndarray]]:
        """Refuse: see :meth:`simulation_obstacle`."""
        raise SitefxInputError(f"no simulation of {self.simulation_obstacle(data, robust=robust)}")

    def per_site_obstacle(self, tree: xr.DataTree, data: GrowthPanel | None) -> str:
        """Return why there is no per-site likelihood: the site effects are not integrated out."""
        return self.description

    def site_log_likelihood(self, tree: xr.DataTree, data: GrowthPanel | None) -> np.ndarray:
        """Refuse: see :meth:`per_site_obstacle`."""
        raise SitefxInputError(f"no per-site likelihood for {self.description}")


register(LongGrowth())
