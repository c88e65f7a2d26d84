"""Sufficient statistics of Gaussian individual records: the data of the collapsed model.

For ``y_ij = alpha_j + theta_j T_ij + x_ij beta + e_ij`` with ``e ~ N(0, sigma)`` and site
effects ``b_j = (alpha_j, theta_j) ~ N(m, Sigma)``, everything the likelihood needs is, per
site, ``n_j``, ``Z'Z``, ``Z'X`` and ``Z'y`` for ``Z = [1, T]``, plus the pooled ``X'X``, ``X'y``
and ``y'y``. They are computed once in O(N P); afterwards each likelihood evaluation
(:func:`sitefx.models.collapsed.collapsed_log_likelihood`) costs O(J P), whatever the number of
students. Clusters nested in sites (classrooms in schools) add per-cluster sums.

:class:`RecordStatistics` is a whole study of records reduced to these sums, e.g. read out of
core from partitioned files (:mod:`sitefx.data.partitioned`). Binary records reduce exactly to
:class:`PatternCounts`: records and events per site, arm, covariate pattern and cluster.
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from sitefx.data.schema import (
    ArmSummaries,
    DataAccounting,
    IndividualRecords,
    Level,
    SiteSummaries,
)

ROW_BLOCK = 65536  # rows at a time for sums over the rows without temporary copies


@dataclass(frozen=True)
class ClusterStatistics:
    """Per-cluster sums for random cluster intercepts (clusters nested in sites).

    Attributes
    ----------
    site : ndarray of int, shape (n_clusters,)
        The site (its position in the data's ``site``) of each cluster, in ascending order:
        each site's clusters are consecutive, so sums by site are sorted segment sums.
    n, treated, y : ndarray of float, shape (n_clusters,)
        Records, treated records and the sum of the outcome in each cluster.
    x : ndarray of float, shape (n_clusters, n_covariates)
        Sums of the covariates in each cluster.

    Examples
    --------
    >>> import numpy as np
    >>> stats = ClusterStatistics.from_arrays(
    ...     np.array([1.0, 2, 3]), np.array([0, 1, 1]), np.array([0, 0, 1]),
    ...     np.zeros((3, 0)), np.array(["a", "a", "a"]))
    >>> stats.site.tolist(), stats.treated.tolist()
    ([0, 1], [1.0, 1.0])
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

        Clusters are nested in sites: the same cluster id in two sites is two clusters.

        Parameters
        ----------
        outcome : ndarray of float, shape (n_records,)
            Each record's outcome.
        treatment : ndarray, shape (n_records,)
            1 for treated, 0 for control.
        site_index : ndarray of int, shape (n_records,)
            Position of each record's site.
        covariates : ndarray of float, shape (n_records, n_covariates)
            The covariates (already centred, as the model uses them).
        cluster : ndarray, shape (n_records,)
            Each record's cluster id within its site.

        Returns
        -------
        ClusterStatistics
            One entry per (site, cluster) pair, sorted by site and then cluster id.

        Examples
        --------
        >>> import numpy as np
        >>> stats = ClusterStatistics.from_arrays(
        ...     np.array([1.0, 2, 3, 4]), np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]),
        ...     np.zeros((4, 0)), np.array(["a", "b", "a", "a"]))
        >>> stats.site.tolist(), stats.n.tolist(), stats.y.tolist()
        ([0, 0, 1], [1.0, 1.0, 2.0], [1.0, 2.0, 7.0])
        """
        cluster_code, cluster_ids = pd.factorize(cluster, sort=True)
        # one number per (site, cluster) pair, in the order of site and then cluster id
        pair = site_index.astype(np.int64) * len(cluster_ids) + cluster_code
        pairs, codes = np.unique(pair, return_inverse=True)
        indicator = _indicator(codes, len(pairs))
        sums = indicator @ np.column_stack([np.ones(len(outcome)), treatment, outcome])
        return cls(
            site=(pairs // len(cluster_ids)).astype(np.int32),
            n=sums[:, 0],
            treated=sums[:, 1],
            y=sums[:, 2],
            x=indicator @ covariates,
        )


def column_sd(columns: np.ndarray) -> np.ndarray:
    """Return each column's SD (``ddof=1``), a block of rows at a time.

    As ``np.std(columns, axis=0, ddof=1)`` to rounding, without its two temporary copies of
    the columns (for a million records, the first costs more than the arithmetic).

    Parameters
    ----------
    columns : ndarray, shape (n_rows, n_columns)
        The columns, at least two rows.

    Returns
    -------
    ndarray, shape (n_columns,)

    Examples
    --------
    >>> import numpy as np
    >>> column_sd(np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 0.0]])).tolist()
    [2.0, 0.0]
    """
    mean = columns.mean(axis=0)
    squares = np.zeros(columns.shape[1])
    for start in range(0, len(columns), ROW_BLOCK):
        centred = columns[start : start + ROW_BLOCK] - mean
        squares += np.einsum("ij,ij->j", centred, centred)
    return np.sqrt(squares / (len(columns) - 1))


def _indicator(
    index: np.ndarray, n_groups: int, weights: np.ndarray | None = None
) -> sparse.csr_array:
    """Return the sparse (n_groups, n_records) matrix that sums records (times weights) by group."""
    n_records = len(index)
    weights = np.ones(n_records) if weights is None else weights
    return sparse.csr_array((weights, (index, np.arange(n_records))), shape=(n_groups, n_records))


@dataclass(frozen=True)
class SiteStatistics:
    """Sufficient statistics of Gaussian records for the design ``[1, T]`` + covariates.

    Attributes
    ----------
    n : ndarray of float, shape (n_sites,)
        Records per site.
    zz : ndarray, shape (n_sites, 2, 2)
        ``Z_j'Z_j`` with ``Z = [1, T]``: records and treated records per site.
    zx : ndarray, shape (n_sites, 2, n_covariates)
        ``Z_j'X_j``: sums of the covariates over the site's records and its treated records.
    zy : ndarray, shape (n_sites, 2)
        ``Z_j'y_j``: sums of the outcome over the site's records and its treated records.
    xx : ndarray, shape (n_covariates, n_covariates)
        ``X'X``, pooled over the sites.
    xy : ndarray, shape (n_covariates,)
        ``X'y``, pooled over the sites.
    yy : float
        ``y'y``, pooled over the sites.
    clusters : ClusterStatistics, optional
        Per-cluster sums, when records are clustered within sites.
    site_xx, site_xy, site_yy : ndarray, optional
        ``X_j'X_j``, ``X_j'y_j`` and ``y_j'y_j`` per site, only when asked for (``per_site``):
        they split the likelihood into one term per site (for leave-one-site-out).

    Examples
    --------
    >>> import numpy as np
    >>> stats = SiteStatistics.from_arrays(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0, 1]),
    ...                                    np.array([0, 0, 1, 1]), np.zeros((4, 0)), n_sites=2)
    >>> stats.n_records, stats.zz[0].tolist(), stats.yy
    (4, [[2.0, 1.0], [1.0, 1.0]], 30.0)
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
        """Number of records, over all sites."""
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
        """Compute the statistics in one vectorized pass over the records.

        Parameters
        ----------
        outcome : ndarray of float, shape (n_records,)
            Each record's outcome.
        treatment : ndarray, shape (n_records,)
            1 for treated, 0 for control.
        site_index : ndarray of int, shape (n_records,)
            Position of each record's site, in ``range(n_sites)``.
        covariates : ndarray of float, shape (n_records, n_covariates)
            The covariates as the model uses them (centred); n_covariates may be 0.
        n_sites : int
            Number of sites (a site without records gets zeros).
        cluster : ndarray, shape (n_records,), optional
            Each record's cluster id within its site; adds :class:`ClusterStatistics`.
        per_site : bool, default False
            Also keep each site's ``X'X``, ``X'y`` and ``y'y`` (for per-site likelihoods).

        Returns
        -------
        SiteStatistics
            The sums; ``site_xx``, ``site_xy``, ``site_yy`` only with ``per_site``.

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
        treated_indicator = _indicator(site_index, n_sites, treatment)  # sums T x by site
        zx = np.stack([indicator @ covariates, treated_indicator @ covariates], 1)
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
        """Compute the statistics of individual records.

        Parameters
        ----------
        records : IndividualRecords
            Gaussian records; their outcome, treatment, sites and clusters are used.
        covariates : ndarray of float, shape (n_records, n_covariates)
            The covariates as the model uses them, already centred (they replace
            ``records.covariates``).
        per_site : bool, default False
            Also keep each site's ``X'X``, ``X'y`` and ``y'y`` (for per-site likelihoods).

        Returns
        -------
        SiteStatistics
            As :meth:`from_arrays`, for all of ``records``' sites.

        Examples
        --------
        >>> from sitefx.testing import simulate_records
        >>> records, _ = simulate_records(3, 20, seed=0)
        >>> stats = SiteStatistics.from_records(records, records.covariates)
        >>> stats.n_records == records.n_records, stats.zz.shape
        (True, (3, 2, 2))
        """
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
    """Return each site's ``X'X``, ``X'y`` and ``y'y``."""
    cross = covariates[:, :, None] * covariates[:, None, :]
    n_covariates = covariates.shape[1]
    n_sites = indicator.shape[0]  # (reshape cannot infer a size from no covariates)
    site_xx = (indicator @ cross.reshape(len(outcome), -1)).reshape(
        n_sites, n_covariates, n_covariates
    )
    return {
        "site_xx": site_xx,
        "site_xy": indicator @ (covariates * outcome[:, None]),
        "site_yy": indicator @ outcome**2,
    }


class _Sites:
    """What records reduced out of core share: their sites and site-level moderators."""

    site: tuple[str, ...]
    moderators: np.ndarray | None

    def __post_init__(self) -> None:
        """Store missing moderators as an (n_sites, 0) matrix."""
        if self.moderators is None:
            object.__setattr__(self, "moderators", np.zeros((len(self.site), 0)))

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return len(self.site)


@dataclass(frozen=True, kw_only=True)
class RecordStatistics(_Sites):
    """Gaussian individual records reduced to per-site sufficient statistics.

    Attributes
    ----------
    site : tuple of str
        Site names, in order of first appearance.
    stats : SiteStatistics
        With the covariates centred and each site's ``X'X``, ``X'y``, ``y'y``; with
        per-cluster sums when the records are clustered within sites.
    arm_n, arm_mean, arm_variance : ndarray, shape (n_sites, 2)
        People, outcome mean and variance (``ddof=1``) per site and arm (control, treated).
    covariate_names : tuple of str
        Names of the covariate columns, in order.
    covariate_mean, covariate_sd : ndarray, shape (n_covariates,)
        Each covariate's mean (subtracted to centre it) and SD over all records.
    outcome_mean, outcome_total_sd : float
        The outcome's mean and SD over all records (they scale the default priors).
    outcome_sd : float
        The outcome's SD pooled within the two arms (effect sizes).
    accounting : DataAccounting
        What happened to the input rows (read, used, dropped and why).
    moderators : ndarray of float, shape (n_sites, n_moderators), optional
        Site-level moderators (not centred); None: no moderators.
    moderator_names : tuple of str, default ()
        Names of the moderator columns, in order.
    levels : tuple of Level, default ()
        Upper nesting levels above the sites, outermost first.
    units : str, default ""
        Units of the outcome and effects, for labels.
    family : str, default "gaussian"
        The outcome's family; only Gaussian records reduce to these statistics.
    kind : {"statistics"}
        The data kind, fixed (not a parameter).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from sitefx.data.partitioned import record_statistics
    >>> frame = pd.DataFrame({"school": list("aabbaabb"), "score": [1.0, 2, 3, 4, 2, 5, 1, 6],
    ...                       "small": [0, 1] * 4})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     frame.to_csv(Path(folder) / "scores.csv", index=False)
    ...     data = record_statistics(Path(folder) / "*.csv", site="school", outcome="score",
    ...                              treatment="small")
    >>> data.arm_n.tolist(), data.raw_site_effects().estimate.tolist()
    ([[2.0, 2.0], [2.0, 2.0]], [2.0, 3.0])
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
    moderators: np.ndarray | None = None
    moderator_names: tuple[str, ...] = ()
    levels: tuple[Level, ...] = ()
    units: str = ""
    family: str = "gaussian"

    @property
    def n_records(self) -> int:
        """Number of records, over all sites and arms."""
        return int(self.arm_n.sum())

    def raw_site_effects(self) -> SiteSummaries:
        """Estimate each site's effect on its own, without pooling.

        Treated minus control mean per site, with the Welch standard error (as
        :meth:`IndividualRecords.raw_site_effects`).

        Returns
        -------
        SiteSummaries
            One estimate and standard error per site, ``n`` the site's records.
        """
        return SiteSummaries(
            site=self.site,
            estimate=self.arm_mean[:, 1] - self.arm_mean[:, 0],
            se=np.sqrt(np.sum(self.arm_variance / self.arm_n, axis=1)),
            n=self.arm_n.sum(axis=1),
            accounting=DataAccounting(rows_read=self.n_sites),
            units=self.units,
        )


@dataclass(frozen=True, kw_only=True)
class PatternCounts(_Sites):
    """Binary individual records counted per site, arm, covariate pattern (and cluster).

    Records that share their site, arm, covariate values and cluster share their probability
    of an event, so their Bernoulli likelihood is the binomial likelihood of their count of
    events, up to the binomial coefficient (a constant): the counts are sufficient, and exact.
    The attributes mirror :class:`~sitefx.data.schema.IndividualRecords`, one row per pattern.

    Attributes
    ----------
    site : tuple of str
        Site names, in order of first appearance.
    site_index, treatment : ndarray of int, shape (n_patterns,)
        Each pattern's site and arm (1 treated, 0 control).
    outcome : ndarray of float, shape (n_patterns,)
        Events (records with outcome 1) in each pattern.
    trials : ndarray of float, shape (n_patterns,)
        Records in each pattern.
    covariates : ndarray of float, shape (n_patterns, n_covariates)
        Each pattern's covariate values (not centred).
    covariate_names : tuple of str
        Names of the covariate columns, in order.
    cluster : ndarray of str, shape (n_patterns,), optional
        Each pattern's cluster within its site.
    moderators : ndarray of float, shape (n_sites, n_moderators), optional
        Site-level moderators; None: none.
    moderator_names : tuple of str, default ()
        Names of the moderator columns.
    levels : tuple of Level, default ()
        Upper nesting levels above the sites, outermost first.
    accounting : DataAccounting
        What happened to the input rows (read, used, dropped and why).
    units : str, default ""
        Units of the outcome, for labels (as binary individual records).
    family : str, default "binomial"
        The outcome's family.
    kind : {"statistics"}
        The data kind, fixed: records reduced out of core.

    Examples
    --------
    >>> import numpy as np
    >>> counts = PatternCounts(site=("a", "b"), site_index=np.array([0, 0, 1, 1]),
    ...                        treatment=np.array([0, 1, 0, 1]), outcome=np.array([1.0, 3, 2, 2]),
    ...                        trials=np.array([4.0, 4, 5, 5]), covariates=np.zeros((4, 0)),
    ...                        covariate_names=(), accounting=DataAccounting(rows_read=18))
    >>> counts.n_records, counts.arm_counts().events_treated.tolist()
    (18, [3, 2])
    """

    kind: Literal["statistics"] = field(default="statistics", init=False)
    site: tuple[str, ...]
    site_index: np.ndarray
    treatment: np.ndarray
    outcome: np.ndarray
    trials: np.ndarray
    covariates: np.ndarray
    covariate_names: tuple[str, ...]
    cluster: np.ndarray | None = None
    moderators: np.ndarray | None = None
    moderator_names: tuple[str, ...] = ()
    levels: tuple[Level, ...] = ()
    accounting: DataAccounting
    units: str = ""
    family: str = "binomial"

    @property
    def n_records(self) -> int:
        """Number of records, over all patterns."""
        return int(self.trials.sum())

    @property
    def covariate_mean(self) -> np.ndarray:
        """Each covariate's mean over the records, shape (n_covariates,)."""
        return self.trials @ self.covariates / self.trials.sum()

    @property
    def covariate_sd(self) -> np.ndarray:
        """Each covariate's SD (``ddof=1``) over the records, shape (n_covariates,)."""
        squares = self.trials @ (self.covariates - self.covariate_mean) ** 2
        return np.sqrt(squares / (self.trials.sum() - 1))

    def arm_counts(self) -> ArmSummaries:
        """Count events and records per site and arm.

        Returns
        -------
        ArmSummaries
            As :meth:`IndividualRecords.arm_counts` on the records counted.
        """
        return ArmSummaries.of_rows(self, self.trials)

    def raw_site_effects(self) -> SiteSummaries:
        """Estimate each site's log odds ratio on its own, from its arm counts.

        Returns
        -------
        SiteSummaries
            As :meth:`ArmSummaries.raw_site_effects`.
        """
        return self.arm_counts().raw_site_effects()
