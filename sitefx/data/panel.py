"""Unbalanced repeated measures: one row per person and wave, kept in long format.

:class:`GrowthPanel` holds what :func:`sitefx.data.validate.growth_records` returns when
persons are measured at different waves (missed waves, irregular times): the scores and
their times, and each person's site and arm. The long-format growth model
(:mod:`sitefx.families.growth`) reads it through :meth:`GrowthPanel.person_statistics`.
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

    def person_statistics(self) -> dict[str, np.ndarray]:
        """Return each person's sufficient statistics, with time centred at :attr:`centre`.

        With ``Z_i = [1, t]`` the rows of person ``i`` (``t`` centred) and ``y_i`` their
        scores, the Gaussian likelihood of the person depends on the data only through these.

        Returns
        -------
        dict of str to ndarray
            ``n`` (scores, shape (n_persons,)), ``zz`` (``Z_i' Z_i``, (n_persons, 2, 2)),
            ``zy`` (``Z_i' y_i``, (n_persons, 2)) and ``yy`` (``y_i' y_i``).

        Examples
        --------
        >>> panel = GrowthPanel(outcome=np.array([1.0, 3]), time=np.array([0.0, 2]),
        ...                     person_index=np.array([0, 0]), treatment=np.array([0]),
        ...                     site_index=np.array([0]), site=("a",),
        ...                     accounting=DataAccounting(rows_read=2))
        >>> panel.person_statistics()["zy"].tolist()
        [[4.0, 2.0]]
        """
        t, y = self.time - self.centre, self.outcome

        def per_person(values: np.ndarray) -> np.ndarray:
            return np.bincount(self.person_index, values, minlength=self.n_persons)

        n, st, stt = per_person(np.ones_like(t)), per_person(t), per_person(t * t)
        zz = np.stack([np.stack([n, st], -1), np.stack([st, stt], -1)], -2)
        zy = np.stack([per_person(y), per_person(t * y)], -1)
        return {"n": n, "zz": zz, "zy": zy, "yy": per_person(y * y)}

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

    def raw_site_effects(self) -> SiteSummaries:
        """Estimate each site's effect on growth on its own, without pooling.

        The treated minus control mean of the persons' least-squares growth
        (:meth:`person_slopes`), with the Welch standard error, from persons scored at two
        or more times; for the forest plot beside the model's estimates.

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
