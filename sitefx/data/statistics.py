"""Sufficient statistics of Gaussian individual records: the data of the collapsed model.

For ``y_ij = alpha_j + theta_j T_ij + x_ij beta + e_ij`` with ``e ~ N(0, sigma)`` and site
effects ``b_j = (alpha_j, theta_j) ~ N(m, Sigma)``, everything the likelihood needs is, per
site, ``n_j``, ``Z'Z``, ``Z'X`` and ``Z'y`` for ``Z = [1, T]``, plus the pooled ``X'X``, ``X'y``
and ``y'y``. They are computed once in O(N P); afterwards each likelihood evaluation
(:func:`sitefx.models.collapsed.collapsed_log_likelihood`) costs O(J P), whatever the number of
students. Clusters nested in sites (classrooms in schools) add per-cluster sums.

:class:`RecordStatistics` is a whole study of records reduced to these sums, e.g. read out of
core from partitioned files (:mod:`sitefx.data.partitioned`).
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from sitefx.data.schema import DataAccounting, IndividualRecords, SiteSummaries


@dataclass(frozen=True)
class ClusterStatistics:
    """Per-cluster sums for random cluster intercepts (clusters nested in sites).

    Attributes
    ----------
    site : ndarray of int (n_clusters,)
        The site of each cluster.
    n, treated, y : ndarray (n_clusters,)
        Records, treated records and the sum of the outcome in each cluster.
    x : ndarray (n_clusters, n_covariates)
        Sums of the covariates in each cluster.
    """

    site: np.ndarray
    n: np.ndarray
    treated: np.ndarray
    y: np.ndarray
    x: np.ndarray

    @classmethod
    def from_arrays(
        cls,
        outcome: np.ndarray,
        treatment: np.ndarray,
        site_index: np.ndarray,
        covariates: np.ndarray,
        cluster: np.ndarray,
    ) -> "ClusterStatistics":
        """Sum the records of each (site, cluster) pair.

        Examples
        --------
        >>> import numpy as np
        >>> stats = ClusterStatistics.from_arrays(
        ...     np.array([1.0, 2, 3, 4]), np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]),
        ...     np.zeros((4, 0)), np.array(["a", "b", "a", "a"]))
        >>> stats.site.tolist(), stats.n.tolist(), stats.y.tolist()
        ([0, 0, 1], [1.0, 1.0, 2.0], [1.0, 2.0, 7.0])
        """
        keys = pd.MultiIndex.from_arrays([site_index, cluster])
        codes, unique = pd.factorize(keys, sort=True)
        n_clusters = len(unique)
        indicator = _indicator(codes, n_clusters)
        sums = indicator @ np.column_stack([np.ones(len(outcome)), treatment, outcome])
        return cls(
            site=np.asarray(unique.get_level_values(0), dtype=np.int32),
            n=sums[:, 0],
            treated=sums[:, 1],
            y=sums[:, 2],
            x=indicator @ covariates,
        )


def _indicator(index: np.ndarray, n_groups: int) -> sparse.csr_array:
    """The sparse (n_groups, n_records) matrix that sums records by group."""
    n_records = len(index)
    return sparse.csr_array(
        (np.ones(n_records), (index, np.arange(n_records))), shape=(n_groups, n_records)
    )


@dataclass(frozen=True)
class SiteStatistics:
    """Sufficient statistics of Gaussian records for the design ``[1, T]`` + covariates.

    Attributes
    ----------
    n : ndarray (n_sites,)
    zz : ndarray (n_sites, 2, 2)
        ``Z_j'Z_j`` with ``Z = [1, T]``.
    zx : ndarray (n_sites, 2, n_covariates)
    zy : ndarray (n_sites, 2)
    xx : ndarray (n_covariates, n_covariates)
    xy : ndarray (n_covariates,)
    yy : float
    clusters : ClusterStatistics or None
        Per-cluster sums, when records are clustered within sites.
    site_xx, site_xy, site_yy : ndarray or None
        ``X_j'X_j``, ``X_j'y_j`` and ``y_j'y_j`` per site, only when asked for (``per_site``):
        they split the likelihood into one term per site (for leave-one-site-out).
    """

    n: np.ndarray
    zz: np.ndarray
    zx: np.ndarray
    zy: np.ndarray
    xx: np.ndarray
    xy: np.ndarray
    yy: float
    clusters: ClusterStatistics | None = None
    site_xx: np.ndarray | None = None
    site_xy: np.ndarray | None = None
    site_yy: np.ndarray | None = None

    @property
    def n_records(self) -> int:
        return int(self.n.sum())

    @classmethod
    def from_arrays(
        cls,
        outcome: np.ndarray,
        treatment: np.ndarray,
        site_index: np.ndarray,
        covariates: np.ndarray,
        *,
        n_sites: int,
        cluster: np.ndarray | None = None,
        per_site: bool = False,
    ) -> "SiteStatistics":
        """Compute the statistics in one vectorized pass over the records (with
        ``per_site``, also each site's ``X'X``, ``X'y`` and ``y'y``).

        Examples
        --------
        >>> import numpy as np
        >>> stats = SiteStatistics.from_arrays(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0, 1]),
        ...                                    np.array([0, 0, 1, 1]), np.zeros((4, 0)), n_sites=2)
        >>> stats.zy.tolist()
        [[3.0, 2.0], [7.0, 4.0]]
        """
        treatment = np.asarray(treatment, dtype=float)
        # One sparse site-indicator product sums every per-row feature by site.
        indicator = _indicator(site_index, n_sites)
        sums = indicator @ np.column_stack(
            [np.ones(len(outcome)), treatment, outcome, treatment * outcome]
        )
        n, treated = sums[:, 0], sums[:, 1]  # T is 0/1, so sum T = sum T^2
        zx = np.stack([indicator @ covariates, indicator @ (treatment[:, None] * covariates)], 1)
        return cls(
            n=n,
            zz=np.stack([np.stack([n, treated], -1), np.stack([treated, treated], -1)], -2),
            zx=zx,
            zy=sums[:, 2:4],
            xx=covariates.T @ covariates,
            xy=covariates.T @ outcome,
            yy=float(outcome @ outcome),
            clusters=None
            if cluster is None
            else ClusterStatistics.from_arrays(outcome, treatment, site_index, covariates, cluster),
            **(_per_site_products(outcome, covariates, indicator) if per_site else {}),
        )

    @classmethod
    def from_records(
        cls, records: IndividualRecords, covariates: np.ndarray, *, per_site: bool = False
    ) -> "SiteStatistics":
        """Statistics of ``records`` with the (already centred) ``covariates``."""
        return cls.from_arrays(
            records.outcome,
            records.treatment,
            records.site_index,
            covariates,
            n_sites=records.n_sites,
            cluster=records.cluster,
            per_site=per_site,
        )


def _per_site_products(
    outcome: np.ndarray, covariates: np.ndarray, indicator: sparse.csr_array
) -> dict[str, np.ndarray]:
    """Each site's ``X'X``, ``X'y`` and ``y'y``."""
    cross = covariates[:, :, None] * covariates[:, None, :]
    n_covariates = covariates.shape[1]
    site_xx = (indicator @ cross.reshape(len(outcome), -1)).reshape(-1, n_covariates, n_covariates)
    return {
        "site_xx": site_xx,
        "site_xy": indicator @ (covariates * outcome[:, None]),
        "site_yy": indicator @ outcome**2,
    }


@dataclass(frozen=True, kw_only=True)
class RecordStatistics:
    """Gaussian individual records reduced to per-site sufficient statistics.

    Attributes
    ----------
    site : tuple of str
    stats : SiteStatistics
        With the covariates centred and each site's ``X'X``, ``X'y``, ``y'y``.
    arm_n, arm_mean, arm_variance : ndarray, shape (n_sites, 2)
        People, outcome mean and variance (``ddof=1``) per site and arm (control, treated).
    covariate_names : tuple of str
    covariate_mean, covariate_sd : ndarray, shape (n_covariates,)
    outcome_mean, outcome_total_sd : float
        The outcome's mean and SD over all records (they scale the default priors).
    outcome_sd : float
        The outcome's SD pooled within the two arms (effect sizes).
    accounting : DataAccounting
    units : str
    """

    kind: Literal["statistics"] = field(default="statistics", init=False)
    site: tuple[str, ...]
    stats: SiteStatistics
    arm_n: np.ndarray
    arm_mean: np.ndarray
    arm_variance: np.ndarray
    covariate_names: tuple[str, ...]
    covariate_mean: np.ndarray
    covariate_sd: np.ndarray
    outcome_mean: float
    outcome_total_sd: float
    outcome_sd: float
    accounting: DataAccounting
    units: str = ""
    family: str = "gaussian"

    @property
    def n_sites(self) -> int:
        return len(self.site)

    @property
    def n_records(self) -> int:
        return int(self.arm_n.sum())

    def raw_site_effects(self) -> SiteSummaries:
        """Treated minus control mean per site, with the Welch standard error (as
        :meth:`IndividualRecords.raw_site_effects`)."""
        return SiteSummaries(
            site=self.site,
            estimate=self.arm_mean[:, 1] - self.arm_mean[:, 0],
            se=np.sqrt(np.sum(self.arm_variance / self.arm_n, axis=1)),
            n=self.arm_n.sum(axis=1),
            accounting=DataAccounting(rows_read=self.n_sites),
            units=self.units,
        )
