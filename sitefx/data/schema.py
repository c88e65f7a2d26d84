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
    """Rows (and the sites they belong to) removed for one reason.

    Attributes
    ----------
    reason : str
        Why the rows were dropped, in words (e.g. ``"missing value in 'score'"``).
    rows : tuple of str
        The dropped rows, as the input names them (data rows numbered from 1 by the file
        adapters, or a frame's index labels).
    sites : tuple of str, default ()
        The sites the rows belonged to, when known (e.g. a whole site dropped).

    Examples
    --------
    >>> Drop("missing outcome", ("4", "9"), sites=("school 2",)).to_dict()
    {'reason': 'missing outcome', 'rows': ['4', '9'], 'sites': ['school 2']}
    """

    reason: str
    rows: tuple[str, ...]
    sites: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Return the drop as plain JSON-ready values (tuples become lists).

        Returns
        -------
        dict
            Keys ``reason``, ``rows`` and ``sites``.
        """
        return {"reason": self.reason, "rows": list(self.rows), "sites": list(self.sites)}


@dataclass(frozen=True)
class DataAccounting:
    """What happened to every row of the input between reading and fitting.

    Attributes
    ----------
    rows_read : int
        Rows read from the input (empty rows the reader skipped included, once dropped).
    drops : tuple of Drop, default ()
        The rows removed, one entry per reason; ``rows_read`` minus their rows were used.

    Examples
    --------
    >>> accounting = DataAccounting(rows_read=10, drops=(Drop("missing se", ("3", "7")),))
    >>> accounting.rows_used, accounting.rows_dropped
    (8, 2)
    >>> print(accounting)
    rows read 10, used 8, dropped 2
      dropped 2 rows: missing se
    """

    rows_read: int
    drops: tuple[Drop, ...] = ()

    @property
    def rows_dropped(self) -> int:
        """Number of rows dropped, over every reason."""
        return sum(len(drop.rows) for drop in self.drops)

    @property
    def rows_used(self) -> int:
        """Number of rows that reach the model: read minus dropped."""
        return self.rows_read - self.rows_dropped

    def including(self, drop: Drop) -> "DataAccounting":
        """Return this accounting with ``drop``'s rows also read, and dropped.

        For rows a reader skipped before the accounting was made (e.g. empty rows): they
        count as read, and ``drop`` is listed before the other drops.

        Parameters
        ----------
        drop : Drop
            The extra rows and why they were dropped.

        Returns
        -------
        DataAccounting
            A new accounting; ``rows_used`` is unchanged.

        Examples
        --------
        >>> DataAccounting(rows_read=3).including(Drop("empty row", ("2",))).rows_used
        3
        """
        return DataAccounting(rows_read=self.rows_read + len(drop.rows), drops=(drop, *self.drops))

    def to_dict(self) -> dict:
        """Return the accounting as plain JSON-ready values (stored with every fit).

        Returns
        -------
        dict
            ``rows_read``, ``rows_used``, ``rows_dropped`` and ``drops`` (a list of
            :meth:`Drop.to_dict`).
        """
        return {
            "rows_read": self.rows_read,
            "rows_used": self.rows_used,
            "rows_dropped": self.rows_dropped,
            "drops": [drop.to_dict() for drop in self.drops],
        }

    def __str__(self) -> str:
        """Return the accounting as lines of text: totals, then one line per drop."""
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

    Examples
    --------
    >>> import numpy as np
    >>> level = Level("district", ("north", "south"), np.array([0, 0, 1]))
    >>> level.subset(np.array([True, True, False])).groups
    ('north',)
    """

    name: str
    groups: tuple[str, ...]
    index: np.ndarray

    def subset(self, keep: np.ndarray) -> "Level":
        """Return the level for a subset of the sites; groups left empty disappear.

        Parameters
        ----------
        keep : ndarray of bool, shape (n_sites,)
            Which sites to keep.

        Returns
        -------
        Level
            The same level over the kept sites, its groups renumbered in their order.
        """
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
    n : ndarray of float, shape (n_sites,), optional
        Number of people per site, when known (used for person-weighted averages).
    moderators : ndarray of float, shape (n_sites, n_moderators), optional
        Site-level characteristics that may explain effect differences (meta-regression);
        None (the default) becomes an (n_sites, 0) matrix.
    moderator_names : tuple of str, default ()
        Names of the moderator columns, in order.
    levels : tuple of Level, default ()
        Upper nesting levels (outermost first), e.g. districts above schools; each adds a
        level of variation in the effects (a three-level model).
    accounting : DataAccounting
        What happened to the input rows (read, used, dropped and why).
    units : str, default ""
        Units of the effects, for labels (e.g. ``"SAT points"``).
    kind : {"summaries"}
        The data kind, fixed (not a parameter): tells the three kinds of data apart.

    Examples
    --------
    >>> import numpy as np
    >>> data = SiteSummaries(site=("A", "B"), estimate=np.array([28.0, 8.0]),
    ...                      se=np.array([15.0, 10.0]), accounting=DataAccounting(rows_read=2))
    >>> data.n_sites, data.moderators.shape
    (2, (2, 0))
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
        """Store missing moderators as an (n_sites, 0) matrix."""
        if self.moderators is None:  # no moderators: an (n_sites, 0) matrix
            object.__setattr__(self, "moderators", np.zeros((len(self.site), 0)))

    @property
    def n_sites(self) -> int:
        """Number of sites."""
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
        """Return the summaries of a subset of the sites, e.g. to leave one out.

        Parameters
        ----------
        keep : ndarray of bool, shape (n_sites,)
            Which sites to keep.

        Returns
        -------
        SiteSummaries
            The kept sites, in their order, with their moderators and nesting levels; the
            accounting is unchanged.

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
        Each person's outcome (0/1 for a binary outcome), in the outcome's units.
    treatment : ndarray of int8, shape (n_records,)
        1 for treated, 0 for control.
    site_index : ndarray of int, shape (n_records,)
        Position of each record's site in ``site``.
    site : tuple of str
        Site names, in order of first appearance.
    covariates : ndarray of float, shape (n_records, n_covariates)
        Person-level covariates (n_covariates may be 0).
    covariate_names : tuple of str, default ()
        Names of the covariate columns, in order.
    moderators : ndarray of float, shape (n_sites, n_moderators), optional
        Site-level characteristics that may explain effect differences (one row per site);
        None (the default) becomes an (n_sites, 0) matrix.
    moderator_names : tuple of str, default ()
        Names of the moderator columns, in order.
    levels : tuple of Level, default ()
        Upper nesting levels above the sites (districts above schools), outermost first.
    cluster : ndarray of str, shape (n_records,), optional
        Cluster (e.g. classroom) of each record, when given. Clusters are nested in sites:
        the same cluster id in two sites names two clusters.
    family : {"gaussian", "binomial"}, default "gaussian"
        The outcome's distribution: continuous, or binary (0/1, modelled on the log-odds
        scale).
    accounting : DataAccounting
        What happened to the input rows (read, used, dropped and why).
    units : str, default ""
        Units of the outcome and effects, for labels.
    outcome_sd : float, optional
        The outcome's SD pooled within the two arms (for growth: at the first wave), which
        turns effects into standardized effect sizes; None for binary outcomes.
    kind : {"individual"}
        The data kind, fixed (not a parameter): tells the three kinds of data apart.

    Examples
    --------
    >>> from sitefx.testing import simulate_records
    >>> data, _ = simulate_records(4, 40, seed=0)
    >>> data.n_sites, data.family
    (4, 'gaussian')
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
        """Store missing moderators as an (n_sites, 0) matrix."""
        if self.moderators is None:  # no moderators: an (n_sites, 0) matrix
            object.__setattr__(self, "moderators", np.zeros((len(self.site), 0)))

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return len(self.site)

    @property
    def n_records(self) -> int:
        """Number of records (people)."""
        return len(self.outcome)

    def subset(self, keep: np.ndarray) -> "IndividualRecords":
        """Return the records of a subset of the sites, e.g. to leave one out.

        Parameters
        ----------
        keep : ndarray of bool, shape (n_sites,)
            Which sites to keep.

        Returns
        -------
        IndividualRecords
            The records of the kept sites, their site indices renumbered; moderators,
            nesting levels and clusters follow. The accounting is unchanged.

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
        """Count events and people per site and arm, for a binary outcome.

        Returns
        -------
        ArmSummaries
            Events (sum of the 0/1 outcome) and people in each arm of each site, with this
            data's accounting.
        """
        return ArmSummaries.of_rows(self, np.ones(self.n_records))

    def raw_site_effects(self) -> SiteSummaries:
        """Estimate each site's effect on its own, without pooling.

        Treated minus control mean, with the Welch standard error (binary outcomes: the log
        odds ratio, see :meth:`ArmSummaries.raw_site_effects`). These are what a separate
        analysis of each site would report; the forest plot draws them beside the shrunken
        estimates.

        Returns
        -------
        SiteSummaries
            One estimate and standard error per site, ``n`` the site's records, in this
            data's units.
        """
        if self.family == "binomial":
            return self.arm_counts().raw_site_effects()
        n_sites = self.n_sites
        cell = self.site_index * 2 + self.treatment  # (site, arm) as one number

        def by_cell(values: np.ndarray | None = None) -> np.ndarray:
            return np.bincount(cell, values, minlength=2 * n_sites).reshape(n_sites, 2)

        counts = by_cell().astype(float)
        means = by_cell(self.outcome) / counts
        variances = by_cell((self.outcome - means.ravel()[cell]) ** 2) / (counts - 1)
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
        Site names, unique, in the order used for the ``site`` coordinate.
    events_treated, n_treated, events_control, n_control : ndarray of int, shape (n_sites,)
        Counts (``0 <= events <= n``, ``n > 0``).
    accounting : DataAccounting
        What happened to the input rows (read, used, dropped and why).
    units : str, default "log odds ratio"
        Units of the effects, for labels.
    kind : {"arms"}
        The data kind, fixed (not a parameter): tells the three kinds of data apart.

    Examples
    --------
    >>> import numpy as np
    >>> arms = ArmSummaries(site=("a", "b"), events_treated=np.array([12, 0]),
    ...                     n_treated=np.array([20, 15]), events_control=np.array([8, 3]),
    ...                     n_control=np.array([20, 15]), accounting=DataAccounting(rows_read=2))
    >>> arms.raw_site_effects().estimate.round(3).tolist()
    [0.811, -2.161]
    """

    kind: Literal["arms"] = field(default="arms", init=False)
    site: tuple[str, ...]
    events_treated: np.ndarray
    n_treated: np.ndarray
    events_control: np.ndarray
    n_control: np.ndarray
    accounting: DataAccounting
    units: str = "log odds ratio"

    @classmethod
    def of_rows(cls, rows: "IndividualRecords", people: np.ndarray) -> "ArmSummaries":
        """Count the events and people per site and arm of binary rows.

        Parameters
        ----------
        rows : IndividualRecords or PatternCounts
            Binary records (``outcome`` 0/1), or patterns (``outcome`` their events); their
            ``site``, ``site_index``, ``treatment`` and ``accounting`` are used.
        people : ndarray, shape (n_rows,)
            The records each row stands for: ones, or each pattern's records.

        Returns
        -------
        ArmSummaries

        Examples
        --------
        >>> from sitefx.testing import simulate_binary_records
        >>> data, _ = simulate_binary_records(3, 60, seed=0)
        >>> counts = ArmSummaries.of_rows(data, np.ones(data.n_records))
        >>> int(counts.n_treated.sum() + counts.n_control.sum())
        60
        """
        cell = rows.site_index * 2 + rows.treatment
        events = np.bincount(cell, weights=rows.outcome, minlength=2 * rows.n_sites)
        people = np.bincount(cell, weights=people, minlength=2 * rows.n_sites)
        return cls(
            site=rows.site,
            events_treated=events[1::2].astype(np.int64),
            n_treated=people[1::2].astype(np.int64),
            events_control=events[0::2].astype(np.int64),
            n_control=people[0::2].astype(np.int64),
            accounting=rows.accounting,
        )

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return len(self.site)

    def raw_site_effects(self) -> SiteSummaries:
        """Estimate each site's log odds ratio on its own, without pooling.

        Woolf standard errors; 0.5 is added to every cell of a site with an empty cell. This
        is what a separate analysis of each site would report.

        Returns
        -------
        SiteSummaries
            One log odds ratio and standard error per site, ``n`` the site's people.
        """
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
