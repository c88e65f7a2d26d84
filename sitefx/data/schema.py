"""Canonical, validated study data: the one form every model reads.

Two shapes exist. :class:`SiteSummaries` holds one estimate and standard error per site
(meta-analysis, or a trial reported by site). :class:`IndividualRecords` holds one row per
person (individual participant data, "IPD"). Both carry a :class:`DataAccounting` that says
how many rows were read, used and dropped, and why. Build them with
:func:`sitefx.data.validate.site_summaries` and :func:`sitefx.data.validate.individual_records`,
which check everything the models assume.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Drop:
    """Rows (and the sites they belong to) removed for one reason."""

    reason: str
    rows: tuple[str, ...]
    sites: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"reason": self.reason, "rows": list(self.rows), "sites": list(self.sites)}


@dataclass(frozen=True)
class DataAccounting:
    """What happened to every row of the input between reading and fitting."""

    rows_read: int
    drops: tuple[Drop, ...] = ()

    @property
    def rows_dropped(self) -> int:
        return sum(len(drop.rows) for drop in self.drops)

    @property
    def rows_used(self) -> int:
        return self.rows_read - self.rows_dropped

    def including(self, drop: Drop) -> "DataAccounting":
        """This accounting with ``drop``'s rows also read (and dropped, listed first).

        Examples
        --------
        >>> DataAccounting(rows_read=3).including(Drop("empty row", ("2",))).rows_used
        3
        """
        return DataAccounting(rows_read=self.rows_read + len(drop.rows), drops=(drop, *self.drops))

    def to_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_used": self.rows_used,
            "rows_dropped": self.rows_dropped,
            "drops": [drop.to_dict() for drop in self.drops],
        }

    def __str__(self) -> str:
        lines = [f"rows read {self.rows_read}, used {self.rows_used}, dropped {self.rows_dropped}"]
        for drop in self.drops:
            where = f" (sites: {', '.join(drop.sites)})" if drop.sites else ""
            lines.append(f"  dropped {len(drop.rows)} rows: {drop.reason}{where}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Level:
    """An upper nesting level above the sites, e.g. the districts that hold the schools.

    Attributes
    ----------
    name : str
        The level's name (its column), e.g. ``"district"``.
    groups : tuple of str
        The level's groups (e.g. district names), in order of first appearance.
    index : ndarray of int, shape (n_sites,)
        Position in ``groups`` of each site's group.
    """

    name: str
    groups: tuple[str, ...]
    index: np.ndarray

    def subset(self, keep: np.ndarray) -> "Level":
        """The level for the sites ``keep`` (boolean, per site); empty groups disappear."""
        used, index = np.unique(self.index[keep], return_inverse=True)
        return Level(self.name, tuple(self.groups[g] for g in used), index)


@dataclass(frozen=True, kw_only=True)
class SiteSummaries:
    """One treatment-effect estimate and its standard error per site.

    Attributes
    ----------
    site : tuple of str
        Site names, unique, in the order used for the ``site`` coordinate.
    estimate, se : ndarray of float, shape (n_sites,)
        Estimated effect and its standard error (finite, ``se > 0``).
    n : ndarray of float or None
        Number of people per site, when known (used for person-weighted averages).
    moderators : ndarray of float, shape (n_sites, n_moderators)
        Site-level characteristics that may explain effect differences (meta-regression).
    moderator_names : tuple of str
    levels : tuple of Level
        Upper nesting levels (outermost first), e.g. districts above schools; each adds a
        level of variation in the effects (a three-level model).
    accounting : DataAccounting
    units : str
        Units of the effects, for labels (e.g. ``"SAT points"``).
    """

    kind: Literal["summaries"] = field(default="summaries", init=False)
    site: tuple[str, ...]
    estimate: np.ndarray
    se: np.ndarray
    n: np.ndarray | None = None
    moderators: np.ndarray | None = None
    moderator_names: tuple[str, ...] = ()
    levels: tuple[Level, ...] = ()
    accounting: DataAccounting
    units: str = ""

    def __post_init__(self) -> None:
        if self.moderators is None:  # no moderators: an (n_sites, 0) matrix
            object.__setattr__(self, "moderators", np.zeros((len(self.site), 0)))

    @property
    def n_sites(self) -> int:
        return len(self.site)

    def raw_site_effects(self) -> "SiteSummaries":
        """Return the summaries themselves: they are the raw per-site estimates.

        Every kind of data has this method (records and arm counts compute theirs).

        Returns
        -------
        SiteSummaries
        """
        return self

    def subset(self, keep: np.ndarray) -> "SiteSummaries":
        """The summaries of the sites ``keep`` (boolean, per site), e.g. to leave one out.

        Examples
        --------
        >>> import numpy as np
        >>> data = SiteSummaries(site=("a", "b", "c"), estimate=np.zeros(3), se=np.ones(3),
        ...                      accounting=DataAccounting(rows_read=3))
        >>> data.subset(np.array([True, False, True])).site
        ('a', 'c')
        """
        return dataclasses.replace(
            self,
            site=tuple(site for site, kept in zip(self.site, keep, strict=True) if kept),
            estimate=self.estimate[keep],
            se=self.se[keep],
            n=None if self.n is None else self.n[keep],
            moderators=self.moderators[keep],
            levels=tuple(level.subset(keep) for level in self.levels),
        )


@dataclass(frozen=True, kw_only=True)
class IndividualRecords:
    """One row per person: outcome, binary treatment, site, optional covariates and cluster.

    Attributes
    ----------
    outcome : ndarray of float, shape (n_records,)
    treatment : ndarray of int8, shape (n_records,)
        1 for treated, 0 for control.
    site_index : ndarray of int, shape (n_records,)
        Position of each record's site in ``site``.
    site : tuple of str
        Site names, in order of first appearance.
    covariates : ndarray of float, shape (n_records, n_covariates)
    covariate_names : tuple of str
    moderators : ndarray of float, shape (n_sites, n_moderators)
        Site-level characteristics that may explain effect differences (one row per site).
    moderator_names : tuple of str
    levels : tuple of Level
        Upper nesting levels above the sites (districts above schools), outermost first.
    cluster : ndarray of str or None
        Cluster (e.g. classroom) of each record, when given. Clusters are nested in sites:
        the same cluster id in two sites names two clusters.
    family : {"gaussian", "binomial"}
        The outcome's distribution: continuous, or binary (0/1, modelled on the log-odds
        scale).
    accounting : DataAccounting
    units : str
    outcome_sd : float or None
        The outcome's SD pooled within the two arms (for growth: at the first wave), which
        turns effects into standardized effect sizes; None for binary outcomes.
    """

    kind: Literal["individual"] = field(default="individual", init=False)
    outcome: np.ndarray
    treatment: np.ndarray
    site_index: np.ndarray
    site: tuple[str, ...]
    covariates: np.ndarray
    covariate_names: tuple[str, ...] = ()
    moderators: np.ndarray | None = None
    moderator_names: tuple[str, ...] = ()
    levels: tuple[Level, ...] = ()
    cluster: np.ndarray | None = None
    family: Literal["gaussian", "binomial"] = "gaussian"
    accounting: DataAccounting
    units: str = ""
    outcome_sd: float | None = None

    def __post_init__(self) -> None:
        if self.moderators is None:  # no moderators: an (n_sites, 0) matrix
            object.__setattr__(self, "moderators", np.zeros((len(self.site), 0)))

    @property
    def n_sites(self) -> int:
        return len(self.site)

    @property
    def n_records(self) -> int:
        return len(self.outcome)

    def subset(self, keep: np.ndarray) -> "IndividualRecords":
        """The records of the sites ``keep`` (boolean, per site), e.g. to leave one out.

        Examples
        --------
        >>> from sitefx.testing import simulate_records
        >>> data, _ = simulate_records(4, 40, seed=0)
        >>> data.subset(np.array([True, False, True, True])).n_sites
        3
        """
        rows = keep[self.site_index]
        new_index = np.cumsum(keep) - 1  # the kept sites' new positions
        return dataclasses.replace(
            self,
            outcome=self.outcome[rows],
            treatment=self.treatment[rows],
            site_index=new_index[self.site_index[rows]],
            site=tuple(site for site, kept in zip(self.site, keep, strict=True) if kept),
            covariates=self.covariates[rows],
            moderators=self.moderators[keep],
            levels=tuple(level.subset(keep) for level in self.levels),
            cluster=None if self.cluster is None else self.cluster[rows],
        )

    def arm_counts(self) -> "ArmSummaries":
        """Events and people per site and arm, for a binary outcome."""
        cell = self.site_index * 2 + self.treatment
        events = np.bincount(cell, weights=self.outcome, minlength=2 * self.n_sites)
        people = np.bincount(cell, minlength=2 * self.n_sites)
        return ArmSummaries(
            site=self.site,
            events_treated=events[1::2].astype(np.int64),
            n_treated=people[1::2],
            events_control=events[0::2].astype(np.int64),
            n_control=people[0::2],
            accounting=self.accounting,
        )

    def raw_site_effects(self) -> SiteSummaries:
        """Unpooled per-site effects: treated minus control mean, with the Welch standard error
        (binary outcomes: the log odds ratio, see :meth:`ArmSummaries.raw_site_effects`).

        These are what a separate analysis of each site would report; the forest plot draws
        them beside the shrunken estimates.
        """
        if self.family == "binomial":
            return self.arm_counts().raw_site_effects()
        n_sites = self.n_sites
        cell = (self.site_index, self.treatment)
        counts = np.zeros((n_sites, 2))
        sums = np.zeros((n_sites, 2))
        squares = np.zeros((n_sites, 2))
        np.add.at(counts, cell, 1.0)
        np.add.at(sums, cell, self.outcome)
        means = sums / counts
        np.add.at(squares, cell, (self.outcome - means[cell]) ** 2)
        variances = squares / (counts - 1)
        estimate = means[:, 1] - means[:, 0]
        se = np.sqrt(np.sum(variances / counts, axis=1))
        return SiteSummaries(
            site=self.site,
            estimate=estimate,
            se=se,
            n=counts.sum(axis=1),
            accounting=DataAccounting(rows_read=n_sites),
            units=self.units,
        )


@dataclass(frozen=True, kw_only=True)
class ArmSummaries:
    """Binary outcomes summarized per site and arm: events and people, treated and control.

    Attributes
    ----------
    site : tuple of str
    events_treated, n_treated, events_control, n_control : ndarray of int, shape (n_sites,)
        Counts (``0 <= events <= n``, ``n > 0``).
    accounting : DataAccounting
    units : str
    """

    kind: Literal["arms"] = field(default="arms", init=False)
    site: tuple[str, ...]
    events_treated: np.ndarray
    n_treated: np.ndarray
    events_control: np.ndarray
    n_control: np.ndarray
    accounting: DataAccounting
    units: str = "log odds ratio"

    @property
    def n_sites(self) -> int:
        return len(self.site)

    def raw_site_effects(self) -> SiteSummaries:
        """Per-site log odds ratios with their Woolf standard errors (0.5 added to every cell
        of a site with an empty cell), as a separate analysis of each site would report."""
        cells = np.stack(
            [
                self.events_treated,
                self.n_treated - self.events_treated,
                self.events_control,
                self.n_control - self.events_control,
            ]
        )
        cells = cells + 0.5 * (cells == 0).any(axis=0)
        estimate = np.log(cells[0] / cells[1]) - np.log(cells[2] / cells[3])
        return SiteSummaries(
            site=self.site,
            estimate=estimate,
            se=np.sqrt(np.sum(1.0 / cells, axis=0)),
            n=self.n_treated + self.n_control,
            accounting=DataAccounting(rows_read=self.n_sites),
            units=self.units,
        )


StudyData = SiteSummaries | IndividualRecords | ArmSummaries
