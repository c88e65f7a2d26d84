"""Gaussian records summed per site out of core (:mod:`sitefx.data.partitioned`).

The same collapsed model as in-memory Gaussian records
(:func:`sitefx.families.records.collapsed_model`), from per-site (and per-cluster) sums read
partition by partition, with the same options: moderators, nesting levels, clusters,
Student-t site effects and the horseshoe on the covariates.
"""

from collections.abc import Callable

import numpy as np
import xarray as xr

from sitefx.data.statistics import RecordStatistics
from sitefx.errors import SitefxInputError
from sitefx.families.records import collapsed_model, gaussian_record_priors
from sitefx.families.registry import Family, Model, Shrinkage, register
from sitefx.models.priors import Priors


class Statistics(Family):
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

    def simulation_obstacle(self, data: RecordStatistics, *, robust: bool) -> str:
        """Return why sums cannot be simulated: the records are not in memory."""
        return "records summed out of core"

    def simulate(
        self,
        data: RecordStatistics,
        priors: Priors,
        draw: Callable[..., np.ndarray | float],
        rng: np.random.Generator,
        *,
        site_df: float | None,
        robust: bool,
    ) -> tuple[RecordStatistics, dict[str, np.ndarray]]:
        """Refuse: see :meth:`simulation_obstacle`."""
        raise SitefxInputError(self.simulation_obstacle(data, robust=robust))

    def per_site_obstacle(self, tree: xr.DataTree, data: RecordStatistics | None) -> str:
        """Return why sums have no per-site likelihood here: not implemented yet."""
        return "records summed out of core"

    def site_log_likelihood(self, tree: xr.DataTree, data: RecordStatistics | None) -> np.ndarray:
        """Refuse: see :meth:`per_site_obstacle`."""
        raise SitefxInputError(f"no per-site likelihood for {self.description}")


register(Statistics())
