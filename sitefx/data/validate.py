"""Turn a pandas DataFrame plus column roles into validated canonical data.

Each check raises :class:`~sitefx.errors.StudyDataError` naming the column and the offending
rows (index labels of the frame; the file adapters number data rows from 1) or sites. Rows are
dropped only when an explicit option asks for it, with a :class:`~sitefx.errors.DataDropWarning`
and an entry in the data accounting.
"""

import dataclasses
import re
import unicodedata
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sitefx.data.labels import clashes, normalize
from sitefx.data.panel import GrowthPanel
from sitefx.data.schema import (
    ArmSummaries,
    DataAccounting,
    Drop,
    IndividualRecords,
    Level,
    SiteSummaries,
)
from sitefx.errors import DataDropWarning, DataReadWarning, StudyDataError, describe_labels

MIN_PER_ARM = 2
# Larger values overflow when squared (variances, sums of squares), and standard errors below
# its inverse underflow: refused, not mis-fitted.
MAX_ABS_VALUE = 1e150
ROW_BLOCK = 65536  # rows copied at a time when columns are stacked
# Why text is not a number, for the message: each pattern must match every non-number.
HINTS = (
    (r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?", "thousands separators? write 1234.5, not 1,234.5"),
    (r"[-+]?\d+,\d+", "decimal commas? write 0.5, not 0,5"),
    (r"true|false|yes|no", "true/false is not a number: code it 1/0"),
    (r"#.*", "spreadsheet error values: fix the formulas, or leave missing values empty"),
    (r"[-.?]+|n\.a\.?", "write a missing value as an empty cell or NA"),
    (r"[-+]?[\d.]+\s*%", "percentages: write 12 or 0.12, without %"),
)
BOOLEANS = {"true": 1, "false": 0}
FAMILIES = ("gaussian", "binomial")


def site_summaries(
    frame: pd.DataFrame,
    *,
    site: str,
    estimate: str,
    se: str,
    n: str | None = None,
    moderators: Sequence[str] = (),
    levels: Sequence[str] = (),
    drop_missing: bool = False,
    units: str = "",
) -> SiteSummaries:
    """Validate one-row-per-site summaries (estimate and standard error per site).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per site; its index labels name the rows in messages.
    site : str
        Column of site ids; each site once.
    estimate : str
        Column of the sites' estimated treatment effects (in the outcome's units).
    se : str
        Column of their standard errors (> 0).
    n : str, optional
        Column of the sites' sample sizes (positive counts), kept for reports.
    moderators : sequence of str, default ()
        Numeric site-level columns (meta-regression of the site effects).
    levels : sequence of str, default ()
        Columns of upper nesting levels, outermost first (e.g. ``["district"]`` when sites
        are schools or studies within districts); each inner group must lie within one outer
        group.
    drop_missing : bool, default False
        Drop rows with a missing or non-finite value in a used column (with a
        :class:`~sitefx.errors.DataDropWarning`, and reported) instead of refusing them.
    units : str, default ""
        The effects' units, for reports (e.g. ``"SAT-V points"``).

    Returns
    -------
    SiteSummaries
        The sites in order of appearance, their estimates, standard errors and the rest, with
        the data accounting (rows read, rows dropped and why).

    Raises
    ------
    StudyDataError
        If a column is missing or not numeric, a value is missing (without
        ``drop_missing``), a standard error is not > 0 or too small to square, a count is not
        positive, a site repeats, levels do not nest, or fewer than 2 sites remain.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"school": ["A", "B"], "effect": [28.0, 8.0], "se": [15.0, 10.0]})
    >>> site_summaries(frame, site="school", estimate="effect", se="se").site
    ('A', 'B')
    """
    numeric = [estimate, se, *([n] if n else []), *moderators]
    require_columns(frame, [site, *numeric, *levels])
    values = {column: numeric_column(frame, column) for column in numeric}
    sites = as_labels(frame[site])
    keep, drops = finite_rows(frame, sites, site, values, drop_missing=drop_missing)
    groups = {level: as_labels(frame[level]) for level in levels}
    for level, labels in groups.items():
        keep &= _present(frame, level, labels.notna().to_numpy(), keep, drop_missing, drops)
    sites, values = sites[keep], {column: value[keep] for column, value in values.items()}

    bad_se = values[se] <= 0
    if bad_se.any():
        raise StudyDataError(
            f"column '{se}' must be > 0 (a standard error); got "
            f"{describe_labels(values[se][bad_se])} at sites {describe_labels(sites[bad_se])}"
        )
    tiny = values[se] < 1 / MAX_ABS_VALUE  # its square, the variance, would be 0
    if tiny.any():
        raise StudyDataError(
            f"column '{se}' has standard errors too small to compute with "
            f"({describe_labels(values[se][tiny])} at sites {describe_labels(sites[tiny])}); "
            f"rescale the estimates and standard errors, e.g. to thousandths"
        )
    if n is not None and (values[n] <= 0).any():
        raise StudyDataError(
            f"column '{n}' must be a positive count; sites {describe_labels(sites[values[n] <= 0])}"
        )
    _require_unique_sites(sites, site)
    require_sites(len(sites), site)
    return SiteSummaries(
        site=tuple(sites),
        estimate=values[estimate],
        se=values[se],
        n=values[n] if n else None,
        moderators=_columns(values, moderators, len(sites)),
        moderator_names=tuple(moderators),
        levels=_nesting({level: labels[keep] for level, labels in groups.items()}),
        accounting=DataAccounting(rows_read=len(frame), drops=tuple(drops)),
        units=units,
    )


def _nesting(groups: Mapping[str, pd.Series]) -> tuple[Level, ...]:
    """Return the levels from each site's group labels (outermost first).

    Each group must lie within one group of the level above it.
    """
    levels = []
    outer = None
    for name, labels in groups.items():
        if outer is not None:
            parents = pd.Series(outer.to_numpy()).groupby(labels.to_numpy()).nunique()
            split = parents.index[parents > 1]
            if len(split):
                raise StudyDataError(
                    f"levels must be nested: groups {describe_labels(split)} of '{name}' lie in "
                    f"more than one group of '{outer.name}'; give them ids unique across "
                    f"'{outer.name}' or check the data"
                )
        names, index = _factorize(labels)
        if len(names) < 2:
            raise StudyDataError(
                f"level '{name}' needs at least 2 groups to estimate its variation; got "
                f"{describe_labels(names)}"
            )
        if len(names) == len(labels):
            raise StudyDataError(
                f"level '{name}' has one site per group, so it cannot be told apart from the "
                f"sites; a level groups several sites (e.g. schools within districts)"
            )
        levels.append(Level(name=name, groups=names, index=index))
        outer = labels.rename(name)
    return tuple(levels)


def arm_summaries(
    frame: pd.DataFrame,
    *,
    site: str,
    events_treated: str,
    n_treated: str,
    events_control: str,
    n_control: str,
    drop_missing: bool = False,
) -> ArmSummaries:
    """Validate one-row-per-site counts of a binary outcome in each arm.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per site; its index labels name the rows in messages.
    site : str
        Column of site ids; each site once.
    events_treated, n_treated : str
        Columns of the number of events (e.g. students passing) and of participants in the
        treated arm: whole counts with ``0 <= events <= n`` and ``n > 0``.
    events_control, n_control : str
        The same for the control arm.
    drop_missing : bool, default False
        Drop rows with a missing or non-finite count (with a
        :class:`~sitefx.errors.DataDropWarning`, and reported) instead of refusing them.

    Returns
    -------
    ArmSummaries
        The sites in order of appearance and their counts as integers, with the data
        accounting.

    Raises
    ------
    StudyDataError
        If a column is missing, a count is missing (without ``drop_missing``), negative, not
        whole or above its arm's size, a site repeats, or fewer than 2 sites remain.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"school": ["A", "B"], "pass_t": [30, 12], "n_t": [50, 20],
    ...                       "pass_c": [25, 9], "n_c": [50, 21]})
    >>> arm_summaries(frame, site="school", events_treated="pass_t", n_treated="n_t",
    ...               events_control="pass_c", n_control="n_c").n_sites
    2
    """
    counts = [events_treated, n_treated, events_control, n_control]
    require_columns(frame, [site, *counts])
    values = {column: numeric_column(frame, column) for column in counts}
    sites = as_labels(frame[site])
    keep, drops = finite_rows(frame, sites, site, values, drop_missing=drop_missing)
    sites, values = sites[keep], {column: value[keep] for column, value in values.items()}
    for column, value in values.items():
        bad = (value < 0) | (value != np.round(value))
        if bad.any():
            raise StudyDataError(
                f"column '{column}' must hold whole counts >= 0; "
                f"sites {describe_labels(sites[bad])}"
            )
    for events, n in [(events_treated, n_treated), (events_control, n_control)]:
        bad = (values[n] <= 0) | (values[events] > values[n])
        if bad.any():
            raise StudyDataError(
                f"need 0 <= '{events}' <= '{n}' and '{n}' > 0; sites {describe_labels(sites[bad])}"
            )
    _require_unique_sites(sites, site)
    require_sites(len(sites), site)
    whole = {column: value.astype(np.int64) for column, value in values.items()}
    return ArmSummaries(
        site=tuple(sites),
        events_treated=whole[events_treated],
        n_treated=whole[n_treated],
        events_control=whole[events_control],
        n_control=whole[n_control],
        accounting=DataAccounting(rows_read=len(frame), drops=tuple(drops)),
    )


def individual_records(
    frame: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    site: str,
    covariates: Sequence[str] = (),
    moderators: Sequence[str] = (),
    levels: Sequence[str] = (),
    cluster: str | None = None,
    treatment_levels: Mapping[object, int] | None = None,
    family: str = "gaussian",
    drop_missing: bool = False,
    drop_incomplete_sites: bool = False,
    units: str = "",
) -> IndividualRecords:
    """Validate one-row-per-person data (individual participant data).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per person; its index labels name the rows in messages.
    outcome : str
        Numeric outcome column (0/1 or true/false with ``family="binomial"``).
    treatment : str
        Treatment column, coded 0/1 or boolean (1 or true: treated), or two levels read with
        ``treatment_levels``.
    site : str
        Column of site ids.
    covariates : sequence of str, default ()
        Numeric person-level covariates (e.g. a pretest), adjusted for within sites.
    moderators : sequence of str, default ()
        Site-level columns (meta-regression of the site effects); each must hold one value
        per site.
    levels : sequence of str
        Columns of upper nesting levels above the sites, outermost first (e.g.
        ``["district"]``); each holds one value per site.
    cluster : str, optional
        Column of clusters nested in sites (e.g. classrooms), modelled with random intercepts.
    treatment_levels : mapping, optional
        How to read a treatment column that is not 0/1 or boolean, e.g.
        ``{"small": 1, "regular": 0}``. Every value must be covered.
    family : {"gaussian", "binomial"}
        ``binomial`` for a binary outcome coded 0/1 (or true/false).
    drop_missing : bool
        Drop rows with a missing or non-finite outcome, treatment, site or covariate
        (reported) instead of refusing them.
    drop_incomplete_sites : bool
        Drop sites with fewer than two records in either arm (reported) instead of refusing.
    units : str, default ""
        The outcome's units, for reports.

    Returns
    -------
    IndividualRecords
        The records kept, each site's index into the site ids (in order of appearance), the
        covariates, site-level moderators and levels, and the data accounting; with
        ``family="gaussian"`` also the outcome's SD pooled within arms (:func:`pooled_sd`).

    Raises
    ------
    StudyDataError
        If a column is missing or not numeric, a value is missing (without
        ``drop_missing``), the treatment is not binary, a site-level column varies within a
        site, a site has fewer than 2 records in an arm (without ``drop_incomplete_sites``),
        the outcome is constant, or fewer than 2 sites remain.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6, 7, 9], "t": [0, 0, 1, 1] * 2,
    ...                       "school": ["a"] * 4 + ["b"] * 4})
    >>> individual_records(frame, outcome="y", treatment="t", site="school").n_sites
    2
    """
    covariates, moderators = list(covariates), list(moderators)
    numeric = [outcome, *covariates, *moderators]
    require_columns(frame, [treatment, site, *numeric, *levels, *([cluster] if cluster else [])])
    if family not in FAMILIES:
        raise StudyDataError(f"family must be one of {', '.join(FAMILIES)}; got '{family}'")
    values = {
        column: numeric_column(frame, column, booleans=family == "binomial" and column == outcome)
        for column in numeric
    }
    values[treatment] = treatment_column(frame, treatment, treatment_levels)
    if family == "binomial":
        require_binary(frame, outcome, values[outcome])
    sites = as_labels(frame[site])
    ids = {
        column: as_labels(frame[column]) for column in [*([cluster] if cluster else []), *levels]
    }
    keep, drops = finite_rows(frame, sites, site, values, drop_missing=drop_missing, ids=ids)
    if not keep.all():  # (else no copies of every column)
        sites, values = sites[keep], {column: value[keep] for column, value in values.items()}
    rows = frame.index[keep]

    site_codes, site_labels = pd.factorize(sites, sort=True)
    cells = np.bincount(
        2 * site_codes + values[treatment].astype(int), minlength=2 * len(site_labels)
    )
    arm_counts = pd.DataFrame(cells.reshape(-1, 2), index=site_labels, columns=[0, 1])
    incomplete = arm_counts.index[(arm_counts < MIN_PER_ARM).any(axis=1)]
    if len(incomplete):
        detail = describe_labels(
            f"{name} ({arm_counts.at[name, 0]} control, {arm_counts.at[name, 1]} treated)"
            for name in incomplete
        )
        if not drop_incomplete_sites:
            raise StudyDataError(
                f"{len(incomplete)} site(s) in column '{site}' have fewer than {MIN_PER_ARM} "
                f"records in an arm of '{treatment}': {detail}; pass drop_incomplete_sites "
                f"(CLI: --drop-incomplete-sites) to drop them"
            )
        warnings.warn(
            f"dropped {len(incomplete)} site(s) with fewer than {MIN_PER_ARM} records in an arm "
            f"of '{treatment}': {detail}",
            DataDropWarning,
            stacklevel=2,
        )
        in_incomplete = sites.isin(incomplete).to_numpy()
        drops.append(
            Drop(
                reason=f"fewer than {MIN_PER_ARM} records in an arm of '{treatment}'",
                rows=tuple(map(str, rows[in_incomplete])),
                sites=tuple(incomplete),
            )
        )
        sites, rows = sites[~in_incomplete], rows[~in_incomplete]
        values = {column: value[~in_incomplete] for column, value in values.items()}
        keep[keep] = ~in_incomplete

    site_names, site_index = _factorize(sites)
    require_sites(len(site_names), site)
    _require_variation(values[outcome], outcome)
    labels = {level: ids[level].to_numpy()[keep] for level in levels}
    site_moderators, site_levels = site_columns(
        values | labels, moderators, levels, site_index, site_names
    )
    return IndividualRecords(
        outcome=values[outcome],
        treatment=values[treatment].astype(np.int8),
        site_index=site_index,
        site=site_names,
        covariates=_columns(values, covariates, len(sites)),
        covariate_names=tuple(covariates),
        moderators=site_moderators,
        moderator_names=tuple(moderators),
        levels=site_levels,
        cluster=ids[cluster].to_numpy(dtype=str)[keep] if cluster else None,
        family=family,
        accounting=DataAccounting(rows_read=len(frame), drops=tuple(drops)),
        units=units,
        outcome_sd=pooled_sd(values[outcome], values[treatment]) if family == "gaussian" else None,
    )


def require_binary(frame: pd.DataFrame, column: str, values: np.ndarray) -> None:
    """Refuse an outcome with a value other than 0 and 1 (missing values are checked later).

    Parameters
    ----------
    frame : pandas.DataFrame
        The data as read (its index numbers the rows in messages).
    column : str
        The outcome column, for messages.
    values : ndarray of float
        The column as numbers (:func:`numeric_column` with ``booleans``).

    Raises
    ------
    StudyDataError
        Naming the values and the rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> frame = pd.DataFrame({"passed": [0, 1, 2]})
    >>> require_binary(frame, "passed", frame["passed"].to_numpy(dtype=float))
    Traceback (most recent call last):
    ...
    sitefx.errors.StudyDataError: column 'passed' must be a binary outcome coded 0/1 for ...
    """
    not_binary = np.isfinite(values) & ~np.isin(values, [0, 1])
    if not_binary.any():
        found = (f"{value:g}" for value in np.unique(values[not_binary]))
        rows = frame.index[not_binary]
        raise StudyDataError(
            f"column '{column}' must be a binary outcome coded 0/1 for family binomial; "
            f"values {describe_labels(found)} at rows {describe_labels(rows)}"
        )


def pooled_sd(outcome: np.ndarray, treatment: np.ndarray) -> float:
    """Return the outcome's SD pooled within the arms (the denominator of a standardized effect).

    Parameters
    ----------
    outcome : numpy.ndarray
        The outcome, shape ``(n,)``.
    treatment : numpy.ndarray
        Each record's arm, shape ``(n,)``; every distinct value is an arm.

    Returns
    -------
    float
        ``sqrt(sum of squared deviations from the arm means / (n - number of arms))``.

    Examples
    --------
    >>> import numpy as np
    >>> pooled_sd(np.array([1.0, 3.0, 10.0, 12.0]), np.array([0, 0, 1, 1]))
    1.4142135623730951
    """
    arms = pd.Series(outcome).groupby(np.asarray(treatment))
    squares = ((outcome - arms.transform("mean").to_numpy()) ** 2).sum()
    return float(np.sqrt(squares / (len(outcome) - arms.ngroups)))


def growth_records(
    frame: pd.DataFrame,
    *,
    person: str,
    wave: str,
    outcome: str,
    treatment: str,
    site: str,
    covariates: Sequence[str] = (),
    moderators: Sequence[str] = (),
    levels: Sequence[str] = (),
    cluster: str | None = None,
    interruption: str | None = None,
    drop_missing: bool = False,
    units: str = "",
    **options: object,
) -> IndividualRecords | GrowthPanel:
    """Repeated measures (one row per person and wave): growth rates, or the long scores.

    Balanced waves (every person measured at every wave): each person's outcome becomes the
    least-squares slope of ``outcome`` on ``wave``, the change per unit of ``wave`` (with two
    waves, the gain score, so the treatment effect is a difference in differences). Every
    slope then has the same sampling variance and the individual-records model fitted to the
    slopes is the slopes-as-outcomes growth model. It equals the full growth model on the long
    data when starting levels and growth are uncorrelated (at person and site level); when
    they correlate, starting levels carry some information about growth that this model does
    not use: it stays consistent, and is slightly less precise (checked against lme4, see
    tests/reference).

    Unbalanced waves (persons missing waves, or scored at their own times): the scores stay
    long, a :class:`~sitefx.data.panel.GrowthPanel` fitted by the long-format growth model
    (:mod:`sitefx.families.growth`), which integrates out each person's level and growth;
    persons scored once are kept, and covariates (baseline values) shift each person's level.
    That model takes no moderators, levels or cluster yet: with any of them, persons missing
    waves are refused, or dropped with ``drop_missing`` (and the complete persons' growth
    rates fitted). Site, treatment,
    covariates (baseline values), moderators and cluster must be constant within a person.

    With ``interruption`` (a comparative interrupted time series, observational), the scores
    stay long whether balanced or not, each person's line breaking at their interruption
    time: the effect is the treated persons' step off their trend there, beyond the
    comparison persons' step. Every site then needs two persons in each arm scored at two or
    more times before their interruption and once or more after it.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per person and wave (long format).
    person : str
        Column of person ids.
    wave : str
        Numeric column of measurement times (e.g. year 0, 1, 2); its unit is the unit of the
        growth rate.
    outcome : str
        Numeric outcome column, measured at each wave.
    treatment, site : str
        Treatment (coded as for :func:`individual_records`) and site columns.
    covariates, moderators, levels : sequence of str, default ()
        As for :func:`individual_records`; covariates are baseline values.
    cluster : str, optional
        Column of clusters nested in sites (e.g. classrooms).
    interruption : str, optional
        Numeric column, constant within a person, of the time (in the units of ``wave``) at
        which the person's line is interrupted: the programme began in the person's unit
        or, for a comparison person, in the units they are compared with. Scores at that
        time or later are after the interruption. A comparison person without one (missing)
        takes their site's treated persons' time when they share one (reported with a
        :class:`~sitefx.errors.DataReadWarning`).
    drop_missing : bool, default False
        Drop rows with a missing outcome or wave (reported) instead of refusing them, and
        persons with a missing covariate; with moderators, levels or a cluster, also the
        persons not measured at every wave.
    units : str, default ""
        The growth rate's units; by default ``"change in '<outcome>' per unit of '<wave>'"``.
    **options : object
        Further options of :func:`individual_records` (``treatment_levels``,
        ``drop_incomplete_sites``, ...).

    Returns
    -------
    IndividualRecords or GrowthPanel
        Balanced: one record per person whose outcome is the growth rate, with the data
        accounting counting the long rows (dropped persons as their rows), and
        ``outcome_sd`` the outcome's SD pooled within arms at the first wave. Unbalanced: the
        scores, times, and each person's site and arm; ``outcome_sd`` pooled over each
        person's first score.

    Raises
    ------
    StudyDataError
        If a person has two rows for a wave, a person-level column varies within a person,
        there are fewer than 2 waves, a person misses a wave when moderators, levels or a
        cluster are given (without ``drop_missing``), a site of unbalanced data
        has fewer than 2 persons scored twice or more in an arm, or
        :func:`individual_records` refuses the slopes (or the persons).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3, 4, 4] * 2, "year": [0, 1] * 8,
    ...                       "score": [10, 12, 11, 12, 9, 13, 10, 15] * 2, "t": [0] * 4 + [1] * 4
    ...                       + [0] * 4 + [1] * 4, "school": ["a"] * 8 + ["b"] * 8})
    >>> frame["id"] = frame["id"].astype(str) + frame["school"]
    >>> data = growth_records(frame, person="id", wave="year", outcome="score", treatment="t",
    ...                       site="school")
    >>> data.outcome.tolist(), data.n_records
    ([2.0, 1.0, 4.0, 5.0, 2.0, 1.0, 4.0, 5.0], 8)
    """
    constant = [site, treatment, *covariates, *moderators, *levels]
    constant += [cluster] if cluster else []
    constant += [interruption] if interruption else []
    require_columns(frame, [person, wave, outcome, *constant])
    people = as_labels(frame[person])
    times = numeric_column(frame, wave)
    values = {outcome: numeric_column(frame, outcome), wave: times}
    breaks = None
    if interruption:  # a comparison person's may be missing: their site's (_interruption_times)
        breaks = numeric_column(frame, interruption)
        breaks = pd.Series(np.where(np.isfinite(breaks), breaks, np.nan), index=frame.index)
    keep, drops = finite_rows(frame, people, person, values, drop_missing=drop_missing)
    long = pd.DataFrame({"person": people, "wave": times, "y": values[outcome]})[keep]
    repeated = long.duplicated(["person", "wave"], keep=False)
    if repeated.any():
        raise StudyDataError(
            f"persons {describe_labels(pd.unique(long['person'][repeated]))} have more than one "
            f"row for a value of '{wave}'"
        )
    for column in constant:
        varying = frame.loc[keep, column].groupby(people[keep]).nunique(dropna=False) > 1
        if varying.any():
            raise StudyDataError(
                f"column '{column}' must be constant within each person (a person-level or "
                f"baseline value); it varies for persons {describe_labels(varying.index[varying])}"
            )
    all_waves = np.sort(long["wave"].unique())
    if len(all_waves) < 2:
        raise StudyDataError(f"column '{wave}' needs at least 2 waves; got {len(all_waves)}")
    counts = long.groupby("person")["wave"].nunique()
    incomplete = counts.index[counts < len(all_waves)]
    extras = [*moderators, *levels, *([cluster] if cluster else [])]
    if interruption and extras:
        raise StudyDataError(
            f"a comparative interrupted time series (interruption column '{interruption}') "
            f"takes no moderators, nesting levels or clusters yet (given: {', '.join(extras)}): "
            "leave them out"
        )
    if len(incomplete) or interruption:
        waves = describe_labels(f"{w:g}" for w in all_waves)
        detail = f"persons {describe_labels(incomplete)} lack some of the waves {waves}"
        if not extras:
            columns = [site, treatment, *covariates]
            persons = frame.loc[keep].groupby(people[keep], sort=False)[columns].first()
            starts = (
                breaks[keep].groupby(people[keep], sort=False).first() if interruption else None
            )
            return _growth_panel(
                long,
                persons,
                DataAccounting(rows_read=len(frame), drops=tuple(drops)),
                people,
                outcome=outcome,
                # an interrupted series' effect is a step in the scores: their own units
                units=units
                or ("" if interruption else f"change in '{outcome}' per unit of '{wave}'"),
                wave=wave,
                interruption=(interruption, starts) if interruption else None,
                drop_missing=drop_missing,
                **options,
            )
        if not drop_missing:
            raise StudyDataError(
                f"{detail}; the long growth model for unbalanced waves takes no moderators, "
                f"nesting levels or clusters yet (given: {', '.join(extras)}): "
                f"leave them out, or pass drop_missing (CLI: --drop-missing) to drop these "
                f"persons"
            )
        warnings.warn(f"dropped {len(incomplete)} {detail}", DataDropWarning, stacklevel=2)
        gone = people.isin(incomplete).to_numpy() & keep
        drops.append(
            Drop(
                reason=f"person not measured at every wave of '{wave}'",
                rows=tuple(map(str, frame.index[gone])),
            )
        )
        keep &= ~gone
        long = long[~long["person"].isin(incomplete)]
    centred = long["wave"] - long["wave"].mean()  # balanced: the same mean for everyone
    by_person = long["person"]  # persons (and so sites) keep their order in the data
    slope = (centred * long["y"]).groupby(by_person, sort=False).sum() / (
        (centred**2).groupby(by_person, sort=False).sum()
    )
    first = frame.loc[keep].groupby(people[keep], sort=False)[constant].first()
    per_person = first.loc[slope.index].assign(**{outcome: slope.to_numpy()})
    per_person.index = "person " + per_person.index.astype(str)
    records = individual_records(
        per_person,
        outcome=outcome,
        treatment=treatment,
        site=site,
        covariates=covariates,
        moderators=moderators,
        levels=levels,
        cluster=cluster,
        drop_missing=drop_missing,
        **options,
    )
    accounting = DataAccounting(
        rows_read=len(frame), drops=(*drops, *_person_rows(records.accounting.drops, people))
    )
    baseline = long[long["wave"] == all_waves[0]]
    arm = first[treatment].loc[baseline["person"]].to_numpy()
    return dataclasses.replace(
        records,
        accounting=accounting,
        units=units or f"change in '{outcome}' per unit of '{wave}'",
        outcome_sd=pooled_sd(baseline["y"].to_numpy(), arm),
    )


def _growth_panel(
    long: pd.DataFrame,
    persons: pd.DataFrame,
    accounting: DataAccounting,
    people: pd.Series,
    *,
    outcome: str,
    units: str,
    wave: str,
    interruption: tuple[str, pd.Series] | None,
    drop_missing: bool,
    **options: object,
) -> GrowthPanel:
    """Validate the persons of unbalanced repeated measures and keep the scores long.

    ``long`` holds the kept rows' person, wave and score (``y``); ``persons`` each person's
    site, treatment and covariate columns; ``interruption``, for an interrupted series, the
    interruption column's name and each person's value of it (indexed by person). Persons
    are validated as one record each, their mean score as ``outcome``
    (:func:`individual_records`: treatment coding, sites, covariates, persons per arm), then
    every site needs two persons in each arm who inform its own estimate of the effect
    (:meth:`~sitefx.data.panel.GrowthPanel.informative_persons`); with
    ``drop_incomplete_sites`` the others are dropped and the rest validated again.
    """
    site, treatment, *covariates = persons.columns
    per_person = persons.assign(**{outcome: long.groupby("person", sort=False)["y"].mean()})
    per_person.index = "person " + per_person.index.astype(str)
    records = individual_records(
        per_person,
        outcome=outcome,
        site=site,
        treatment=treatment,
        covariates=covariates,
        drop_missing=drop_missing,
        **options,
    )
    dropped = [row for drop in records.accounting.drops for row in drop.rows]
    ids = persons.index[~per_person.index.isin(dropped)]
    long = long[long["person"].isin(ids)]
    position = pd.Series(np.arange(len(ids)), index=ids)
    panel = GrowthPanel(
        outcome=long["y"].to_numpy(dtype=float),
        time=long["wave"].to_numpy(dtype=float),
        person_index=position.loc[long["person"]].to_numpy(),
        treatment=records.treatment,
        site_index=records.site_index,
        site=records.site,
        covariates=records.covariates,
        covariate_names=records.covariate_names,
        accounting=DataAccounting(
            rows_read=accounting.rows_read,
            drops=(*accounting.drops, *_person_rows(records.accounting.drops, people)),
        ),
        units=units,
        wave=wave,
        interruption=None
        if interruption is None
        else _interruption_times(records, ids, *interruption),
        interruption_name=interruption[0] if interruption else "interruption",
    )
    informative = panel.informative_persons()
    cells = np.bincount(
        2 * panel.site_index[informative] + panel.treatment[informative],
        minlength=2 * panel.n_sites,
    ).reshape(-1, 2)
    short = np.flatnonzero((cells < MIN_PER_ARM).any(axis=1))
    if len(short):
        detail = describe_labels(
            f"{panel.site[j]} ({cells[j, 0]} control, {cells[j, 1]} treated)" for j in short
        )
        scored = (
            f"scored at two or more values of '{wave}' before their '{interruption[0]}' and "
            "once or more after it"
            if interruption
            else f"scored at two or more values of '{wave}'"
        )
        reason = f"fewer than {MIN_PER_ARM} persons {scored} in an arm of '{treatment}'"
        if not options.get("drop_incomplete_sites"):
            raise StudyDataError(
                f"{len(short)} site(s) in column '{site}' have {reason}: {detail}; pass "
                f"drop_incomplete_sites (CLI: --drop-incomplete-sites) to drop them"
            )
        message = f"dropped {len(short)} site(s) with {reason}: {detail}"
        warnings.warn(message, DataDropWarning, stacklevel=3)
        leaving = long["person"].isin(ids[np.isin(panel.site_index, short)])
        drop = Drop(
            reason=reason,
            rows=tuple(map(str, long.index[leaving])),
            sites=tuple(panel.site[j] for j in short),
        )
        staying = ids[~np.isin(panel.site_index, short)]
        return _growth_panel(
            long[~leaving],
            persons.loc[staying],
            panel.accounting.including(drop),
            people,
            outcome=outcome,
            units=units,
            wave=wave,
            interruption=interruption,
            drop_missing=drop_missing,
            **options,
        )
    first = long.sort_values("wave", kind="stable").drop_duplicates("person")
    arm = panel.treatment[position.loc[first["person"]].to_numpy()]
    return dataclasses.replace(panel, outcome_sd=pooled_sd(first["y"].to_numpy(), arm))


def _interruption_times(
    persons: IndividualRecords, ids: pd.Index, column: str, starts: pd.Series
) -> np.ndarray:
    """Return each person's interruption time, a comparison person's missing one filled in.

    ``persons`` are the validated persons (one record each), ``ids`` their ids in the same
    order, ``starts`` each person's value of the interruption ``column`` (NaN where
    missing), by person id. A comparison person without one takes the time at which their
    site's treated persons' lines break, when those all break at one time (reported with a
    :class:`~sitefx.errors.DataReadWarning`); a treated person without one, or a comparison
    person in a site whose treated persons break at different times, is refused.
    """
    times = starts.loc[ids].to_numpy(dtype=float)
    missing = np.isnan(times)
    if not missing.any():
        return times
    treated = missing & (persons.treatment == 1)
    if treated.any():
        raise StudyDataError(
            f"column '{column}' is missing for treated persons {describe_labels(ids[treated])}: "
            "a treated person's line breaks when their programme began; give that time"
        )
    filled, notes, ambiguous = times.copy(), [], []
    for j in np.unique(persons.site_index[missing]):
        site_times = np.unique(times[(persons.site_index == j) & (persons.treatment == 1)])
        gaps = missing & (persons.site_index == j)
        if len(site_times) == 1:
            filled[gaps] = site_times[0]
            notes.append(f"{persons.site[j]} {site_times[0]:g} ({gaps.sum()})")
        elif len(site_times) > 1:
            ambiguous.append(persons.site[j])
    if ambiguous:
        raise StudyDataError(
            f"column '{column}' is missing for comparison persons in sites "
            f"{describe_labels(ambiguous)}, whose treated persons began at different times: "
            "give each comparison person the time to compare them at"
        )
    warnings.warn(
        f"comparison persons without a '{column}' take their site's treated persons' time "
        f"(site, time, persons): {describe_labels(notes)}",
        DataReadWarning,
        stacklevel=4,
    )
    return filled


def _person_rows(drops: Sequence[Drop], people: pd.Series) -> list[Drop]:
    """Person-level drops (rows labelled 'person <id>') as the data rows of those persons."""
    converted = []
    for drop in drops:
        ids = {row.removeprefix("person ") for row in drop.rows}
        rows = people.index[people.isin(ids).to_numpy()]
        converted.append(dataclasses.replace(drop, rows=tuple(map(str, rows))))
    return converted


def site_columns(
    values: Mapping[str, np.ndarray],
    moderators: Sequence[str],
    levels: Sequence[str],
    site_index: np.ndarray,
    site_names: Sequence[str],
) -> tuple[np.ndarray, tuple[Level, ...]]:
    """Return the site-level columns of records: moderators and nesting levels.

    Parameters
    ----------
    values : mapping of str to ndarray
        Each moderator's numbers and each level's labels, one per record (or per distinct
        combination of site and values), by column name.
    moderators, levels : sequence of str
        The moderator and level columns, levels outermost first.
    site_index : ndarray of int
        Each value's site, in ``range(len(site_names))``, every site present.
    site_names : sequence of str
        The sites, for messages.

    Returns
    -------
    moderators : ndarray of float, shape (n_sites, n_moderators)
    levels : tuple of Level

    Raises
    ------
    StudyDataError
        If a column varies within a site (naming the column and the sites) or the levels do
        not nest.

    Examples
    --------
    >>> import numpy as np
    >>> values = {"size": np.array([10.0, 10, 20]), "district": np.array(["n", "n", "s"])}
    >>> site_columns(values, ["size"], [], np.array([0, 0, 1]), ["a", "b"])[0].tolist()
    [[10.0], [20.0]]
    >>> values["size"][1] = 11.0
    >>> site_columns(values, ["size"], [], np.array([0, 0, 1]), ["a", "b"])
    Traceback (most recent call last):
    ...
    sitefx.errors.StudyDataError: column 'size' must be a site-level ... within sites a
    """
    per_site = _site_level(values, [*moderators, *levels], site_index, site_names)
    groups = {level: pd.Series(per_site[level], name=level) for level in levels}
    return _columns(per_site, moderators, len(site_names)), _nesting(groups)


def _site_level(
    values: Mapping[str, np.ndarray],
    columns: Sequence[str],
    site_index: np.ndarray,
    site_names: Sequence[str],
) -> dict[str, np.ndarray]:
    """One value per site of each site-level column; refuse a column that varies in a site."""
    per_site = {}
    for column in columns:
        grouped = pd.Series(values[column]).groupby(site_index)
        varying = np.flatnonzero(grouped.nunique().to_numpy() > 1)
        if len(varying):
            raise StudyDataError(
                f"column '{column}' must be a site-level characteristic with one value per "
                f"site; it varies within sites "
                f"{describe_labels(site_names[i] for i in varying)}"
            )
        per_site[column] = grouped.first().to_numpy()
    return per_site


def _columns(values: Mapping[str, np.ndarray], names: Sequence[str], n_rows: int) -> np.ndarray:
    """Return the named columns side by side, shape (n_rows, len(names)), rows contiguous.

    Filled a block of rows at a time: ``np.column_stack`` of a million rows writes each column
    across the whole array, several times slower.
    """
    stacked = np.empty((n_rows, len(names)))
    for start in range(0, n_rows, ROW_BLOCK):
        rows = slice(start, start + ROW_BLOCK)
        stacked[rows] = np.array([values[name][rows] for name in names]).T
    return stacked


def require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Refuse data lacking one of ``columns`` or holding two columns of one name.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data as read.
    columns : sequence of str
        The columns the roles name.

    Raises
    ------
    StudyDataError
        Naming the missing or repeated columns, and the columns the data has.

    Examples
    --------
    >>> import pandas as pd
    >>> require_columns(pd.DataFrame(columns=["school", "y"]), ["school", "se"])
    Traceback (most recent call last):
    ...
    sitefx.errors.StudyDataError: missing column(s) 'se'; the data has 'school', 'y'
    """
    twice = frame.columns[frame.columns.duplicated()].intersection(columns)
    if len(twice):
        raise StudyDataError(f"the data has two columns named {describe_labels(map(repr, twice))}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise StudyDataError(
            f"missing column(s) {', '.join(map(repr, missing))}; the data has "
            f"{describe_labels(map(repr, frame.columns), limit=20)}"
        )


def numeric_column(frame: pd.DataFrame, column: str, *, booleans: bool = False) -> np.ndarray:
    """Return the column as floats; dates are refused.

    Typed booleans are 0/1; text is a number only if it reads as one (``TRUE`` does not,
    unless ``booleans``: a binary outcome).

    Parameters
    ----------
    frame : pandas.DataFrame
        The data as read.
    column : str
        The column.
    booleans : bool
        Read ``TRUE``/``FALSE`` text as 1/0.

    Returns
    -------
    ndarray of float

    Raises
    ------
    StudyDataError
        For text that is not a number, or dates, naming the rows.

    Examples
    --------
    >>> import pandas as pd
    >>> numeric_column(pd.DataFrame({"y": ["1.5", "2"]}), "y").tolist()
    [1.5, 2.0]
    """
    raw = frame[column]
    if isinstance(raw.dtype, pd.CategoricalDtype):
        raw = raw.astype(object)
    if pd.api.types.is_bool_dtype(raw):
        return raw.to_numpy(dtype=float)
    if pd.api.types.is_integer_dtype(raw) or pd.api.types.is_float_dtype(raw):
        values = raw.to_numpy(dtype=float, na_value=np.nan)  # numbers already
    elif pd.api.types.is_object_dtype(raw) or pd.api.types.is_string_dtype(raw):
        values = _text_as_numbers(frame, column, raw, booleans=booleans)
    else:
        raise StudyDataError(f"column '{column}' must be numeric; it holds {raw.dtype} values")
    huge = np.abs(values) > MAX_ABS_VALUE
    if huge.any():
        huge &= np.isfinite(values)  # inf: a missing value
    if huge.any():
        raise StudyDataError(
            f"column '{column}' has values too large to compute with ({values[huge][0]:g} at "
            f"rows {describe_labels(frame.index[huge])}); rescale it, e.g. to thousands"
        )
    return values


def _text_as_numbers(
    frame: pd.DataFrame, column: str, raw: pd.Series, *, booleans: bool
) -> np.ndarray:
    """Return text (or mixed) values read as numbers; refuse any that do not read as one."""
    converted = pd.to_numeric(_booleans_as_numbers(raw) if booleans else raw, errors="coerce")
    not_numeric = converted.isna() & raw.notna()
    if not_numeric.any():
        bad = _distinct(raw[not_numeric], limit=5)
        raise StudyDataError(
            f"column '{column}' must be numeric; non-numeric values "
            f"{describe_labels(map(repr, bad))} at rows "
            f"{describe_labels(frame.index[not_numeric.to_numpy()])}{_hint(bad)}"
        )
    return converted.to_numpy(dtype=float)


def _distinct(values: pd.Series, limit: int | None = None) -> list[object]:
    """Return the distinct values in order of appearance (at most ``limit``).

    They are compared as printed, so that lists or arrays from a Parquet file can be shown too.
    """
    shown: dict[str, object] = {}
    for value in values:
        shown.setdefault(repr(value), value)
        if len(shown) == limit:
            break
    return list(shown.values())


def _hint(bad: list[object]) -> str:
    """Return a likely reason the values ``bad`` are not numbers, as `` (...)``, or ``""``."""
    texts = [str(value).strip().lower() for value in bad]
    for pattern, hint in HINTS:
        if all(re.fullmatch(pattern, text) for text in texts):
            return f" ({hint})"
    return ""


def _booleans_as_numbers(raw: pd.Series) -> pd.Series:
    """Text ``true``/``false`` (any case) as 1/0; everything else as it is."""
    if not (pd.api.types.is_object_dtype(raw) or pd.api.types.is_string_dtype(raw)):
        return raw
    return raw.map(
        lambda value: (
            BOOLEANS.get(value.strip().lower(), value) if isinstance(value, str) else value
        )
    )


def _require_variation(outcome: np.ndarray, column: str) -> None:
    if outcome.size and np.ptp(outcome) == 0:
        raise StudyDataError(
            f"column '{column}' is constant (every value is {outcome[0]:g}): there is no "
            f"variation for a treatment to explain"
        )


def treatment_column(
    frame: pd.DataFrame, column: str, levels: Mapping[object, int] | None
) -> np.ndarray:
    """Return the treatment column as 0/1.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data as read.
    column : str
        The treatment column.
    levels : mapping of value to 0 or 1, optional
        Which value means treated (1) and which control (0); without it the column must
        hold 0 and 1 (or booleans).

    Returns
    -------
    ndarray
        Missing values stay missing; they are refused or dropped later.

    Raises
    ------
    StudyDataError
        For values that are neither arm.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"arm": ["tutoring", "control", "tutoring"]})
    >>> [int(t) for t in treatment_column(frame, "arm", {"tutoring": 1, "control": 0})]
    [1, 0, 1]
    """
    raw = frame[column]
    if levels is not None:
        if sorted(set(levels.values())) != [0, 1]:
            raise StudyDataError(
                f"treatment_levels for '{column}' must map one value to 1 and one to 0; "
                f"got {dict(levels)}"
            )
        mapped = as_labels(raw).map({str(key): value for key, value in levels.items()})
        unmapped = mapped.isna() & raw.notna()
        if unmapped.any():
            raise StudyDataError(
                f"column '{column}' has values not in treatment_levels {dict(levels)}: "
                f"{describe_labels(map(repr, _distinct(raw[unmapped])))} at rows "
                f"{describe_labels(frame.index[unmapped.to_numpy()])}"
            )
        return mapped.to_numpy(dtype=float)
    if pd.api.types.is_bool_dtype(raw):
        return raw.to_numpy(dtype=float)
    converted = pd.to_numeric(_booleans_as_numbers(raw), errors="coerce")
    invalid = raw.notna() & ~converted.isin([0, 1])
    if invalid.any():
        found = describe_labels(map(repr, _distinct(raw.dropna())))
        raise StudyDataError(
            f"column '{column}' must be a binary treatment coded 0/1 or true/false; found values "
            f"{found} (bad rows {describe_labels(frame.index[invalid.to_numpy()])}); give "
            f"treatment_levels (CLI: --treatment-levels TREATED,CONTROL) to map two levels"
        )
    return converted.to_numpy(dtype=float)


def as_labels(column: pd.Series) -> pd.Series:
    """Return the values as id strings (see :mod:`sitefx.data.labels`).

    In Unicode NFC, without surrounding spaces or invisible characters; missing stays missing,
    and a blank id is missing. Integral floats print as ints, so a site id stored as 28.0 (a
    side effect of missing values) reads "28", as the user wrote it. Two spellings of one id
    (``"A"`` and ``"A "``) are an error.

    Parameters
    ----------
    column : pandas.Series
        Ids as read.

    Returns
    -------
    pandas.Series
        Of str, missing values kept.

    Examples
    --------
    >>> import pandas as pd
    >>> as_labels(pd.Series([28.0, 3.0])).tolist()
    ['28', '3']
    """
    if pd.api.types.is_float_dtype(column):
        finite = column.dropna()
        if (finite == finite.round()).all():
            column = column.astype("Int64")
    present = column.notna().to_numpy()
    text = column[present].astype(str)
    codes, spellings = pd.factorize(text)  # (a dict lookup per row is slow for millions)
    normal = {spelling: normalize(spelling) for spelling in spellings}
    for pair in clashes(spelling for spelling, label in normal.items() if label):
        same_look = len({unicodedata.normalize("NFC", spelling) for spelling in pair}) == 1
        show = ascii if same_look else repr  # 'É' and 'E\u0301' print alike
        first, second = (
            f"{show(spelling)} (rows {describe_labels(text.index[text == spelling], limit=3)})"
            for spelling in pair
        )
        raise StudyDataError(
            f"column '{column.name}' spells one id two ways: {first} and {second} differ only "
            f"in spaces, invisible characters or Unicode form; write each id one way"
        )
    labels = np.full(len(column), np.nan, dtype=object)
    labels[present] = np.array([normal[spelling] or np.nan for spelling in spellings])[codes]
    return pd.Series(labels, index=column.index, name=column.name)


def finite_rows(
    frame: pd.DataFrame,
    sites: pd.Series,
    site_column: str,
    values: Mapping[str, np.ndarray],
    *,
    drop_missing: bool,
    ids: Mapping[str, pd.Series] | None = None,
) -> tuple[np.ndarray, list[Drop]]:
    """Return the rows whose site, values and ids are present and finite.

    The rest are refused or, with ``drop_missing``, dropped and reported.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data as read.
    sites : pandas.Series
        The site ids (:func:`as_labels`).
    site_column : str
        The site column, for messages.
    values : mapping of str to ndarray
        The numeric columns the model uses, by column name.
    drop_missing : bool
        Drop rows with missing values (reported) instead of refusing them.
    ids : mapping of str to pandas.Series, optional
        Further id columns (clusters, nesting levels; :func:`as_labels`), checked last.

    Returns
    -------
    keep : ndarray of bool
        The rows kept.
    drops : list of Drop
        The rows dropped, by reason.

    Raises
    ------
    StudyDataError
        For missing values without ``drop_missing``, or infinite values, naming the rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> frame = pd.DataFrame({"school": ["a", "b"], "y": [1.0, np.inf]})
    >>> finite_rows(frame, frame["school"], "school", {"y": frame["y"].to_numpy()},
    ...             drop_missing=False)
    Traceback (most recent call last):
    ...
    sitefx.errors.StudyDataError: ...
    """
    keep = np.ones(len(frame), dtype=bool)
    drops: list[Drop] = []
    keep &= _present(frame, site_column, sites.notna().to_numpy(), keep, drop_missing, drops)
    for column, value in values.items():
        keep &= _present(frame, column, np.isfinite(value), keep, drop_missing, drops)
    for column, labels in (ids or {}).items():
        keep &= _present(frame, column, labels.notna().to_numpy(), keep, drop_missing, drops)
    return keep, drops


def _present(
    frame: pd.DataFrame,
    column: str,
    ok: np.ndarray,
    keep: np.ndarray,
    drop_missing: bool,
    drops: list[Drop],
) -> np.ndarray:
    """Check one column; record the rows it drops (those not already dropped)."""
    bad = ~ok & keep
    if bad.any():
        rows = frame.index[bad]
        if not drop_missing:
            raise StudyDataError(
                f"column '{column}' has {bad.sum()} missing or non-finite values at rows "
                f"{describe_labels(rows)}; fix them or pass drop_missing (CLI: --drop-missing)"
            )
        drops.append(
            Drop(reason=f"missing or non-finite value in '{column}'", rows=tuple(map(str, rows)))
        )
        warnings.warn(
            f"dropped {bad.sum()} rows with a missing or non-finite '{column}' "
            f"(rows {describe_labels(rows)})",
            DataDropWarning,
            stacklevel=3,
        )
    return ok


def _factorize(sites: pd.Series) -> tuple[tuple[str, ...], np.ndarray]:
    codes, names = pd.factorize(sites, sort=False)
    return tuple(str(name) for name in names), codes.astype(np.int32)


def _require_unique_sites(sites: pd.Series, column: str) -> None:
    duplicated = sites[sites.duplicated(keep=False)]
    if len(duplicated):
        raise StudyDataError(
            f"column '{column}' must name each site once in site summaries; repeated: "
            f"{describe_labels(pd.unique(duplicated))}"
        )


def require_sites(n_sites: int, column: str) -> None:
    """Refuse fewer than two sites: nothing can be said about how effects vary.

    Parameters
    ----------
    n_sites : int
        Sites left after validation.
    column : str
        The site column, for the message.

    Raises
    ------
    StudyDataError
        With fewer than two sites.

    Examples
    --------
    >>> require_sites(8, "school")
    """
    if n_sites < 2:
        raise StudyDataError(
            f"need at least 2 sites in column '{column}' to estimate how effects vary; "
            f"got {n_sites}"
        )
