"""Records read out of core (:mod:`sitefx.data.partitioned`): summed, or counted.

Gaussian records: the same collapsed model as in memory
(:func:`sitefx.families.records.collapsed_model`), from per-site (and per-cluster) sums read
partition by partition, with the same options: moderators, nesting levels, clusters,
Student-t site effects and the horseshoe on the covariates. Binary records: the models of
binary records in memory, from their counts per site, arm, covariate pattern and cluster.
"""

import dataclasses
from collections.abc import Callable

import numpy as np
import xarray as xr

from sitefx.data.statistics import PatternCounts, RecordStatistics
from sitefx.errors import SitefxInputError
from sitefx.families.arms import ArmCounts
from sitefx.families.records import BinaryRecords, collapsed_model, gaussian_record_priors
from sitefx.families.registry import Family, Model, Shrinkage, register
from sitefx.models.priors import Priors, slope_prior


class OutOfCore(Family):
    """What the families of records read out of core share: their records cannot be simulated.

    Examples
    --------
    >>> Statistics().simulation_obstacle(None, robust=False)
    'records summed per site (out of core)'
    """

    def simulation_obstacle(self, data: object, *, robust: bool) -> str:
        """Return why the data cannot be simulated: the records are not in memory."""
        return self.description

    def simulate(
        self,
        data: object,
        priors: Priors,
        draw: Callable[..., np.ndarray | float],
        rng: np.random.Generator,
        *,
        site_df: float | None,
        robust: bool,
    ) -> tuple[object, dict[str, np.ndarray]]:
        """Refuse: see :meth:`simulation_obstacle`."""
        raise SitefxInputError(self.simulation_obstacle(data, robust=robust))


class Statistics(OutOfCore):
    """The collapsed Gaussian family of out-of-core records (see the module docstring).

    Examples
    --------
    >>> Statistics().check(None, robust=True, horseshoe=True)  # every option: no error
    """

    name = "statistics"
    description = "records summed per site (out of core)"
    data_kind = "statistics"
    shrinkable = "beta"
    compares_site_distributions = False
    effect_sizes = True

    def matches(self, data: object) -> bool:
        """Return whether ``data`` is :class:`RecordStatistics`."""
        return isinstance(data, RecordStatistics)

    def check(self, data: RecordStatistics, *, robust: bool, horseshoe: bool) -> None:
        """Allow every option: Student-t site effects and the horseshoe on covariates."""

    def data_scale(self, data: RecordStatistics) -> float:
        """Return ``S``, the outcome's SD over all records (1 for a constant outcome)."""
        return data.outcome_total_sd or 1.0

    def default_priors(self, data: RecordStatistics, *, robust: bool) -> Priors:
        """Return the Gaussian records' priors, from the sums' moments."""
        return gaussian_record_priors(
            self.data_scale(data),
            data.outcome_mean,
            data.covariate_sd,
            robust=robust,
            moderators=data.moderators,
            clustered=data.stats.clusters is not None,
            levels=data.levels,
        )

    def shrinkage(self, data: RecordStatistics) -> Shrinkage:
        """Return the covariates, which the horseshoe may shrink."""
        return Shrinkage(len(data.covariate_names), data.n_records, self.data_scale(data))

    def exact_obstacle(self, data: RecordStatistics, priors: Priors, *, robust: bool) -> str:
        """Return why the exact method does not apply: it needs site summaries."""
        return self.description

    def model(
        self, data: RecordStatistics, priors: Priors, *, collapse: bool, site_df: float | None
    ) -> Model:
        """Return the collapsed model on the summed statistics, moderators centred."""
        moderators = data.moderators - data.moderators.mean(axis=0)
        return collapsed_model(data.stats, priors, moderators, data.levels, site_df)

    def data_groups(self, data: RecordStatistics) -> tuple[dict, dict, dict]:
        """Return per-site, per-arm means as observed; sizes and raw effects as constant."""
        raw = data.raw_site_effects()
        observed = {"mean_treated": data.arm_mean[:, 1], "mean_control": data.arm_mean[:, 0]}
        constant = {
            "n_treated": data.arm_n[:, 1],
            "n_control": data.arm_n[:, 0],
            "covariate_mean": data.covariate_mean,
            "n": raw.n,
            "raw_estimate": raw.estimate,
            "raw_se": raw.se,
        }
        coords = {"covariate": np.array(data.covariate_names, dtype=str)}
        return observed, constant, coords

    def per_site_obstacle(self, tree: xr.DataTree, data: RecordStatistics | None) -> str:
        """Return why sums have no per-site likelihood here: not implemented yet."""
        return "records summed out of core"

    def site_log_likelihood(self, tree: xr.DataTree, data: RecordStatistics | None) -> np.ndarray:
        """Refuse: see :meth:`per_site_obstacle`."""
        raise SitefxInputError(f"no per-site likelihood for {self.description}")


class BinaryPatterns(OutOfCore, BinaryRecords):
    """Binary records counted by pattern out of core (:class:`PatternCounts`).

    The models of in-memory binary records: through the arm counts when only site and arm
    matter, else the logit model with one binomial row per pattern (the same posterior).

    Examples
    --------
    >>> import numpy as np
    >>> from sitefx.data.schema import DataAccounting
    >>> counts = PatternCounts(site=("a", "b"), site_index=np.array([0, 0, 1, 1]),
    ...                        treatment=np.array([0, 1, 0, 1]), outcome=np.array([1.0, 3, 2, 2]),
    ...                        trials=np.array([4.0, 4, 5, 5]), covariates=np.zeros((4, 0)),
    ...                        covariate_names=(), accounting=DataAccounting(rows_read=18))
    >>> family = BinaryPatterns()
    >>> priors = family.default_priors(counts, robust=False)
    >>> family.model(counts, priors, collapse=True, site_df=None).name
    'binomial_arms'
    """

    name = "binary patterns"
    description = "binary records counted by pattern (out of core)"
    data_kind = "statistics"

    def matches(self, data: object) -> bool:
        """Return whether ``data`` is :class:`PatternCounts`."""
        return isinstance(data, PatternCounts)

    def default_priors(self, data: PatternCounts, *, robust: bool) -> Priors:
        """Return the binary records' priors, covariate slopes from the records' SDs."""
        priors = super().default_priors(data, robust=robust)
        return dataclasses.replace(priors, beta=slope_prior(1.0, data.covariate_sd))

    def shrinkage(self, data: PatternCounts) -> Shrinkage:
        """Return the covariates, with the logit's pseudo-SD at the records' event rate."""
        rate = np.clip(data.outcome.sum() / data.trials.sum(), 0.01, 0.99)
        return Shrinkage(
            len(data.covariate_names), data.n_records, 1.0 / np.sqrt(rate * (1 - rate))
        )

    def model(
        self, data: PatternCounts, priors: Priors, *, collapse: bool, site_df: float | None
    ) -> Model:
        """Return the arm-count model, or the logit model with one binomial row per pattern."""
        model = super().model(data, priors, collapse=collapse, site_df=site_df)
        if model.name == "binomial_arms":
            return model
        counted = {"covariates": data.covariates - data.covariate_mean, "trials": data.trials}
        return model._replace(arguments=model.arguments | counted, name="per_pattern_logit")

    def data_groups(self, data: PatternCounts) -> tuple[dict, dict, dict]:
        """Return the events per arm as observed; arm sizes, raw effects, covariate means."""
        observed, constant, _ = ArmCounts().data_groups(data.arm_counts())
        constant |= {"covariate_mean": data.covariate_mean, "n": data.raw_site_effects().n}
        return observed, constant, {"covariate": np.array(data.covariate_names, dtype=str)}


register(Statistics())
register(BinaryPatterns())
