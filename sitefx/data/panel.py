"""Unbalanced repeated measures: one row per person and wave, kept in long format.

:class:`GrowthPanel` holds what :func:`sitefx.data.validate.growth_records` returns when
persons are measured at different waves (missed waves, irregular times), or when each
person's line has an interruption (a comparative interrupted time series): the scores and
their times, and each person's site, arm and, for interrupted series, the time of the
interruption. The long-format growth model (:mod:`sitefx.families.growth`) reads it through
:meth:`GrowthPanel.person_statistics`.
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from sitefx.data.schema import DataAccounting, IndividualRecords, SiteSummaries


@dataclass(frozen=True, kw_only=True)
class GrowthPanel:
    """Scores of persons at waves that differ between persons, with sites and arms.

    Attributes
    ----------
    outcome : ndarray of float, shape (n_records,)
        Each score (one row per person and wave).
    time : ndarray of float, shape (n_records,)
        Each score's wave (its time, e.g. years since the study began).
    person_index : ndarray of int, shape (n_records,)
        Position of each score's person (0 to ``n_persons - 1``).
    treatment : ndarray of int8, shape (n_persons,)
        1 for treated persons, 0 for control.
    site_index : ndarray of int, shape (n_persons,)
        Position of each person's site in ``site``.
    site : tuple of str
        Site names, in order of first appearance.
    accounting : DataAccounting
        What happened to the input rows.
    units : str, default ""
        Units of the growth rate (the effects), for labels.
    wave : str, default "wave"
        The wave column's name, for describing the time the levels refer to.
    outcome_sd : float, optional
        The SD of each person's first score, pooled within the arms (the denominator of
        standardized effects: a change in growth times a unit of ``wave`` over it).
    covariates : ndarray of float, shape (n_persons, n_covariates), optional
        Each person's baseline covariates; by default none (``n_covariates`` 0).
    covariate_names : tuple of str, default ()
        Their column names.
    interruption : ndarray of float, shape (n_persons,), optional
        For a comparative interrupted time series, the time at which each person's line is
        interrupted (the programme began in their unit, or, for comparison persons, in the
        units they are compared with): scores at that time or later are after it. None
        (the default) for growth without interruption.
    interruption_name : str, default "interruption"
        The interruption column's name, for messages.
    kind : {"growth"}
        The data kind, fixed (not a parameter).

    Examples
    --------
    >>> import numpy as np
    >>> panel = GrowthPanel(outcome=np.array([1.0, 2, 5, 1, 3]), time=np.array([0.0, 1, 2, 0, 2]),
    ...                     person_index=np.array([0, 0, 0, 1, 1]), treatment=np.array([0, 1]),
    ...                     site_index=np.array([0, 0]), site=("a",),
    ...                     accounting=DataAccounting(rows_read=5))
    >>> panel.n_persons, panel.n_records, panel.centre
    (2, 5, 1.0)
    """

    kind: Literal["growth"] = field(default="growth", init=False)
    outcome: np.ndarray
    time: np.ndarray
    person_index: np.ndarray
    treatment: np.ndarray
    site_index: np.ndarray
    site: tuple[str, ...]
    accounting: DataAccounting
    units: str = ""
    wave: str = "wave"
    outcome_sd: float | None = None
    covariates: np.ndarray | None = None
    covariate_names: tuple[str, ...] = ()
    interruption: np.ndarray | None = None
    interruption_name: str = "interruption"

    def __post_init__(self) -> None:
        """Give a panel without covariates an empty (n_persons, 0) matrix of them."""
        if self.covariates is None:
            object.__setattr__(self, "covariates", np.zeros((self.n_persons, 0)))

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return len(self.site)

    @property
    def n_persons(self) -> int:
        """Number of persons."""
        return len(self.treatment)

    @property
    def n_records(self) -> int:
        """Number of scores (rows)."""
        return len(self.outcome)

    @property
    def centre(self) -> float:
        """The time the model's levels refer to: the mean time of all scores."""
        return float(np.mean(self.time))

    @property
    def interrupted(self) -> bool:
        """Whether the persons' lines are interrupted (a comparative interrupted time series)."""
        return self.interruption is not None

    def after(self) -> np.ndarray:
        """Return 1.0 for each score at or after its person's interruption, else 0.0.

        Returns
        -------
        ndarray of float, shape (n_records,)
            All zeros without an interruption.

        Examples
        --------
        >>> panel = GrowthPanel(outcome=np.zeros(3), time=np.array([0.0, 1, 2]),
        ...                     person_index=np.zeros(3, int), treatment=np.array([1]),
        ...                     site_index=np.array([0]), site=("a",),
        ...                     accounting=DataAccounting(rows_read=3),
        ...                     interruption=np.array([1.0]))
        >>> panel.after().tolist()
        [0.0, 1.0, 1.0]
        """
        if self.interruption is None:
            return np.zeros(self.n_records)
        return (self.time >= self.interruption[self.person_index]).astype(float)

    def person_statistics(self) -> dict[str, np.ndarray]:
        """Return each person's sufficient statistics, with time centred at :attr:`centre`.

        The rows of person ``i`` in the model's design are ``X_i = [1, t]`` (``t`` centred)
        or, for an interrupted series, ``X_i = [1, t, a]`` with ``a`` 1 at or after the
        interruption (:meth:`after`); with ``y_i`` their scores, the Gaussian likelihood of
        the person depends on the data only through these.

        Returns
        -------
        dict of str to ndarray
            ``n`` (scores, shape (n_persons,)), ``xx`` (``X_i' X_i``, (n_persons, k, k)),
            ``xy`` (``X_i' y_i``, (n_persons, k)) and ``yy`` (``y_i' y_i``), ``k`` 2 or 3.

        Examples
        --------
        >>> panel = GrowthPanel(outcome=np.array([1.0, 3]), time=np.array([0.0, 2]),
        ...                     person_index=np.array([0, 0]), treatment=np.array([0]),
        ...                     site_index=np.array([0]), site=("a",),
        ...                     accounting=DataAccounting(rows_read=2))
        >>> panel.person_statistics()["xy"].tolist()
        [[4.0, 2.0]]
        """
        design = [np.ones(self.n_records), self.time - self.centre]
        design += [self.after()] if self.interrupted else []
        x = np.stack(design, -1)

        def per_person(values: np.ndarray) -> np.ndarray:
            """Sum ``values`` (n_records, ...) over each person's scores."""
            columns = values.reshape(self.n_records, -1).T
            sums = [np.bincount(self.person_index, c, minlength=self.n_persons) for c in columns]
            return np.stack(sums, -1).reshape(self.n_persons, *values.shape[1:])

        y = self.outcome
        return {
            "n": per_person(np.ones(self.n_records)),
            "xx": per_person(x[:, :, None] * x[:, None, :]),
            "xy": per_person(x * y[:, None]),
            "yy": per_person(y * y),
        }

    def person_slopes(self) -> pd.Series:
        """Return the least-squares growth of each person scored at two or more times.

        Returns
        -------
        pandas.Series
            Slope of score on time, indexed by person position; persons with one time are
            left out.

        Examples
        --------
        >>> panel = GrowthPanel(outcome=np.array([1.0, 3, 7]), time=np.array([0.0, 2, 1]),
        ...                     person_index=np.array([0, 0, 1]), treatment=np.array([0, 1]),
        ...                     site_index=np.array([0, 0]), site=("a",),
        ...                     accounting=DataAccounting(rows_read=3))
        >>> panel.person_slopes().to_dict()
        {0: 1.0}
        """
        scores = pd.DataFrame({"t": self.time, "y": self.outcome})
        by_person = scores.groupby(self.person_index)
        t = scores["t"] - by_person["t"].transform("mean")
        y = scores["y"] - by_person["y"].transform("mean")
        sxx = (t * t).groupby(self.person_index).sum()
        slopes = (t * y).groupby(self.person_index).sum() / sxx
        return slopes[sxx > 0]

    def informative_persons(self) -> np.ndarray:
        """Return the positions of the persons who inform their site's own estimate.

        For growth, the persons scored at two or more times (they have a slope); for an
        interrupted series, those scored at two or more times before their interruption
        (a trend to step off) and once or more after it.

        Returns
        -------
        ndarray of int

        Examples
        --------
        >>> panel = GrowthPanel(outcome=np.zeros(5), time=np.array([0.0, 1, 2, 0, 2]),
        ...                     person_index=np.array([0, 0, 0, 1, 1]), treatment=np.array([0, 1]),
        ...                     site_index=np.array([0, 0]), site=("a",),
        ...                     accounting=DataAccounting(rows_read=5),
        ...                     interruption=np.array([2.0, 2.0]))
        >>> panel.informative_persons().tolist()
        [0]
        """
        if not self.interrupted:
            return self.person_slopes().index.to_numpy()
        after = self.after().astype(bool)
        scores = pd.DataFrame({"person": self.person_index, "time": self.time})
        before = scores[~after].groupby("person")["time"].nunique()
        later = np.bincount(self.person_index[after], minlength=self.n_persons)
        persons = before.index[before >= 2].to_numpy()
        return persons[later[persons] > 0]

    def raw_site_effects(self) -> SiteSummaries:
        """Estimate each site's effect on growth on its own, without pooling.

        The treated minus control mean of the persons' least-squares growth
        (:meth:`person_slopes`), with the Welch standard error, from persons scored at two
        or more times; for the forest plot beside the model's estimates.

        For an interrupted series, each site's own comparative interrupted time series
        instead (:meth:`interrupted_site_effects`).

        Returns
        -------
        SiteSummaries
            One estimate and standard error per site, ``n`` the persons with a slope.

        Examples
        --------
        >>> panel = GrowthPanel(outcome=np.array([0.0, 1, 0, 2, 0, 3, 0, 5]),
        ...                     time=np.array([0.0, 1] * 4), person_index=np.repeat(range(4), 2),
        ...                     treatment=np.array([0, 0, 1, 1]), site_index=np.zeros(4, int),
        ...                     site=("a",), accounting=DataAccounting(rows_read=8))
        >>> panel.raw_site_effects().estimate.tolist()
        [2.5]
        """
        if self.interrupted:
            return self.interrupted_site_effects()
        slopes = self.person_slopes()
        persons = slopes.index.to_numpy()
        return IndividualRecords(
            outcome=slopes.to_numpy(),
            treatment=self.treatment[persons],
            site_index=self.site_index[persons],
            site=self.site,
            covariates=np.zeros((len(persons), 0)),  # unadjusted, as raw estimates are
            accounting=self.accounting,
            units=self.units,
        ).raw_site_effects()

    def interrupted_site_effects(self) -> SiteSummaries:
        """Estimate each site's step at the interruption on its own, by least squares.

        In each site, the scores are regressed on the time, the step at the interruption
        and both times the arm, with each person's own intercept (the within-person
        regression): the coefficient of arm x step is the treated persons' step off their
        trend beyond the comparison persons' step, the site's comparative interrupted time
        series. Its standard error is robust to each person's scores being correlated
        (clustered by person, with the small-sample factor ``G / (G - 1) (N - 1) / (N - K)``
        of ``G`` persons, ``N`` scores and ``K = 4`` coefficients).

        Returns
        -------
        SiteSummaries
            One estimate and standard error per site, ``n`` its persons.

        Examples
        --------
        Two comparison and two treated persons, the treated stepping up by 3 beyond the
        comparison persons' 1:

        >>> time = np.tile([0.0, 1, 2, 3], 4)
        >>> step = np.repeat([1.0, 1, 4, 4], 4) * (time >= 2)
        >>> panel = GrowthPanel(outcome=np.repeat([0.0, 1, 2, 3], 4) + time + step, time=time,
        ...                     person_index=np.repeat(range(4), 4),
        ...                     treatment=np.array([0, 0, 1, 1]), site_index=np.zeros(4, int),
        ...                     site=("a",), accounting=DataAccounting(rows_read=16),
        ...                     interruption=np.full(4, 2.0))
        >>> round(float(panel.raw_site_effects().estimate[0]), 6)
        3.0
        """
        arm = self.treatment[self.person_index].astype(float)
        after = self.after()
        columns = np.stack([self.time, after, arm * self.time, arm * after], -1)
        within = pd.DataFrame(np.column_stack([self.outcome, columns]))
        within = (within - within.groupby(self.person_index).transform("mean")).to_numpy()
        estimate, se = np.full(self.n_sites, np.nan), np.full(self.n_sites, np.nan)
        site_of_score = self.site_index[self.person_index]
        for j in range(self.n_sites):
            rows = site_of_score == j
            y, x = within[rows, 0], within[rows, 1:]
            bread = np.linalg.pinv(x.T @ x)
            coefficients = bread @ x.T @ y
            scores = pd.DataFrame(x * (y - x @ coefficients)[:, None])
            per_person = scores.groupby(self.person_index[rows]).sum().to_numpy()
            n_persons, n_scores, k = len(per_person), len(y), x.shape[1]
            factor = n_persons / (n_persons - 1) * (n_scores - 1) / (n_scores - k)
            covariance = factor * bread @ per_person.T @ per_person @ bread
            estimate[j], se[j] = coefficients[-1], np.sqrt(covariance[-1, -1])
        return SiteSummaries(
            site=self.site,
            estimate=estimate,
            se=se,
            n=np.bincount(self.site_index, minlength=self.n_sites),
            accounting=self.accounting,
            units=self.units,
        )
