"""Show numbers one way everywhere: one function per kind of number.

They are used by the printed summary, the report's tables and its sentences, so that a
quantity shown twice is shown the same way.

* An effect (or any value on the effects' scale) is rounded to the precision its posterior
  SD warrants, two significant digits of the SD (:func:`decimals`): ``7.7`` for a mean with
  SD 4.6. The same quantity gets the same decimals in every table and sentence.
* A value from draws carries its Monte-Carlo standard error, ``7.69 ± 0.07`` in tables
  (:func:`with_mcse`); exact values have none.
* A probability is a percentage with one decimal, ``95.3%``; two decimals where one would
  round onto a decision line it is not on (``94.96%``, not ``95.0%``); never 0% or 100% from
  draws (:func:`probability`). A share of sites is a whole percentage (:func:`percent`).
* A count (rows, draws, effective sample sizes) is a whole number with thousands separators,
  ``4,000`` (:func:`count`).
* Up to :data:`NAMED_SITES` sites, every site is shown by name: a row each in the printed
  summary, a labelled row in the plots. A parameter with more rows prints its first and last
  :data:`SHOWN_ENDS` (:func:`summary_text`); every row is in the CSV files.

Examples
--------
>>> decimals(4.64), number(16.8362, decimals(4.64)), with_mcse(7.689, 0.073, 1)
(1, '16.8', '7.7 ± 0.07')
>>> probability(0.9526), probability(0.9496), probability(0.99991, 0.0001), percent(0.899)
('95.3%', '94.96%', '>99.9%', '90%')
"""

import numpy as np
import pandas as pd
import xarray as xr

from sitefx.statistics import CONFIDENT, mcse_name

DEFAULT_DECIMALS = 2  # where a value has no SD to size it by
MAX_DECIMALS = 8
LINES = (100 * CONFIDENT, 100 * (1 - CONFIDENT))  # decision lines, in percent
NAMED_SITES = 100  # up to this many sites, printed tables and plots name every site
SHOWN_ENDS = 10  # rows printed at each end of a parameter with more than NAMED_SITES rows


def decimals(sd: float) -> int:
    """Return the decimals that show two significant digits of a posterior SD.

    Parameters
    ----------
    sd : float
        The posterior SD of the quantity (or of its row's quantity), in its units.

    Returns
    -------
    int
        From 0 (SDs of 10 and more) to :data:`MAX_DECIMALS`; :data:`DEFAULT_DECIMALS` when
        the SD is missing or 0.

    Examples
    --------
    >>> decimals(4.64), decimals(0.046), decimals(120.0), decimals(float("nan"))
    (1, 3, 0, 2)
    """
    if not (np.isfinite(sd) and sd > 0):
        return DEFAULT_DECIMALS
    return int(np.clip(1 - np.floor(np.log10(sd)), 0, MAX_DECIMALS))


def number(value: float, places: int) -> str:
    """Return a number with ``places`` decimals and thousands separators.

    Parameters
    ----------
    value : float
        The number.
    places : int
        Decimals to show (see :func:`decimals`).

    Returns
    -------
    str
        The number; ``""`` if it is missing or not finite; a negative number that rounds to
        0 shows as ``0``, not ``-0``.

    Examples
    --------
    >>> number(12345.678, 1), number(-0.004, 2), number(float("nan"), 2)
    ('12,345.7', '0.00', '')
    """
    if not np.isfinite(value):
        return ""
    text = f"{value:,.{places}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text.replace(",", "")) == 0 else text


def with_mcse(value: float, mcse: float, places: int) -> str:
    """Return a value from draws with its Monte-Carlo standard error.

    Parameters
    ----------
    value : float
        The value.
    mcse : float
        Its MCSE; 0 (exact) or NaN (none) shows the value alone.
    places : int
        Decimals of the value.

    Returns
    -------
    str
        ``"<value> ± <mcse>"``, the MCSE to one significant digit; ``""`` if the value is
        missing.

    Examples
    --------
    >>> with_mcse(7.689, 0.073, 1), with_mcse(7.689, 0.0, 1)
    ('7.7 ± 0.07', '7.7')
    """
    text = number(value, places)
    if not text or not (np.isfinite(mcse) and mcse > 0):
        return text
    return f"{text} ± {mcse:.1g}"


def probability(prob: float, mcse: float = 0.0) -> str:
    """Return a posterior probability as a percentage.

    One decimal, or up to four where one would round onto a decision line (5% or 95%) the
    probability is not on; ``>99.9%`` and ``<0.1%`` at the ends.

    Parameters
    ----------
    prob : float
        The probability, from 0 to 1.
    mcse : float, default 0.0
        Its MCSE, shown as ``± <percentage points>`` when it comes from draws (> 0).

    Returns
    -------
    str
        The percentage; ``""`` if the probability is missing.

    Examples
    --------
    >>> probability(0.9496), probability(0.731, 0.004), probability(0.0001)
    ('94.96%', '73.1% ± 0.4', '<0.1%')
    """
    if not np.isfinite(prob):
        return ""
    percent_value = 100 * prob
    if percent_value >= 99.95 or percent_value < 0.05:  # a bound: no MCSE to add
        return ">99.9%" if percent_value >= 99.95 else "<0.1%"
    else:
        places = 1
        while places < 4 and any(
            round(percent_value, places) == line != percent_value for line in LINES
        ):
            places += 1
        text = f"{percent_value:.{places}f}%"
    if np.isfinite(mcse) and mcse > 0:
        text += f" ± {100 * mcse:.1g}"
    return text


def percent(share: float) -> str:
    """Return a share (of sites, of the way to the average) as a whole percentage.

    Parameters
    ----------
    share : float
        The share, from 0 to 1 (e.g. a pooling factor).

    Returns
    -------
    str
        E.g. ``"90%"``; ``""`` if the share is missing.

    Examples
    --------
    >>> percent(0.899), percent(float("nan"))
    ('90%', '')
    """
    return "" if not np.isfinite(share) else f"{100 * share:.0f}%"


def count(value: float) -> str:
    """Return a count (rows, draws, an effective sample size) as a whole number.

    Parameters
    ----------
    value : float
        The count; an ESS is rounded to the nearest whole number.

    Returns
    -------
    str
        With thousands separators; ``""`` if the count is missing.

    Examples
    --------
    >>> count(4000), count(3742.6), count(float("nan"))
    ('4,000', '3,743', '')
    """
    return number(value, 0)


def site_nouns(tree: xr.DataTree) -> tuple[str, str]:
    """Return what a site is called in a study (its id column, e.g. "school"), and its plural.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit; its ``site_label`` attribute is the name of the site column.

    Returns
    -------
    tuple of str
        The noun and its plural; ``("site", "sites")`` without a ``site_label``.

    Examples
    --------
    >>> tree = xr.DataTree(); tree.attrs["site_label"] = "study"
    >>> site_nouns(tree), site_nouns(xr.DataTree())
    (('study', 'studies'), ('site', 'sites'))
    """
    one = str(tree.attrs.get("site_label") or "site").replace("_", " ")
    return one, plural(one)


def plural(noun: str) -> str:
    """Return the plural of an English noun that names a site: schools, studies, classes.

    Parameters
    ----------
    noun : str
        A regular noun.

    Returns
    -------
    str
        Its plural by the regular rules (``-ies``, ``-es``, ``-s``).

    Examples
    --------
    >>> plural("school"), plural("study"), plural("class"), plural("day")
    ('schools', 'studies', 'classes', 'days')
    """
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def display_table(
    table: pd.DataFrame,
    *,
    probabilities: tuple[str, ...] = (),
    percents: tuple[str, ...] = (),
    counts: tuple[str, ...] = (),
    fixed: dict[str, int] | None = None,
    percent_rows: pd.Series | None = None,
) -> pd.DataFrame:
    """Return a table for people: every number as text at the precision it warrants.

    Parameters
    ----------
    table : pandas.DataFrame
        Statistics with their ``mcse_<column>`` columns; each row's numbers are rounded by
        its ``sd`` column (:func:`decimals`), or to :data:`DEFAULT_DECIMALS` without one.
        Columns that are not floats (ids, counts) are left as they are.
    probabilities : tuple of str, default ()
        Columns of probabilities, shown by :func:`probability`.
    percents : tuple of str, default ()
        Columns of shares, shown by :func:`percent`.
    counts : tuple of str, default ()
        Columns of counts (people, effective sample sizes), shown by :func:`count`.
    fixed : dict of str to int, optional
        Columns shown with their own number of decimals.
    percent_rows : pandas.Series of bool, optional
        Rows (by ``table``'s index) whose numbers are all shares, shown by :func:`percent`.

    Returns
    -------
    pandas.DataFrame
        ``table`` without its ``mcse_*`` columns, each number as text with ``± MCSE``
        where it comes from draws; blanks for missing values.

    Examples
    --------
    >>> table = pd.DataFrame({"parameter": ["mu"], "mean": [7.689], "sd": [4.64],
    ...                       "mcse_mean": [0.073], "prob_above": [0.9496]})
    >>> display_table(table, probabilities=("prob_above",)).iloc[0].tolist()
    ['mu', '7.7 ± 0.07', '4.6', '94.96%']
    """
    fixed = fixed or {}
    mcse_columns = [c for c in table.columns if c.startswith("mcse_")]
    shown = table.drop(columns=mcse_columns).astype(object)
    row_places = (
        [decimals(sd) for sd in table["sd"]] if "sd" in table else [DEFAULT_DECIMALS] * len(table)
    )
    as_percent = (
        percent_rows.loc[table.index].to_numpy(bool)
        if percent_rows is not None
        else np.zeros(len(table), bool)
    )
    zero = np.zeros(len(table))
    for column in shown.columns:
        mcses = table[mcse_name(column)].to_numpy(float) if mcse_name(column) in table else zero
        cells = []
        for value, mcse, places, share in zip(
            table[column].to_numpy(), mcses, row_places, as_percent, strict=True
        ):
            if not isinstance(value, float | np.floating):
                cells.append(value)
            elif column in probabilities:
                cells.append(probability(value, mcse))
            elif column in percents or share:
                cells.append(percent(value))
            elif column in counts:
                cells.append(count(value))
            else:
                cells.append(with_mcse(value, mcse, fixed.get(column, places)))
        shown[column] = pd.Series(cells, index=shown.index, dtype=object)
    return shown


def summary_text(table: pd.DataFrame) -> str:
    """Return the summary table as aligned text for a terminal.

    Parameters
    ----------
    table : pandas.DataFrame
        The fit's summary (:meth:`sitefx.SiteEffects.summary`): ``parameter``, ``mean``,
        ``sd``, the quantiles and ``mcse_mean``, and for draws also ``r_hat``, ``ess_bulk``
        and ``ess_tail``.

    Returns
    -------
    str
        One line per row, each at its own precision; for draws also the MCSE of the mean,
        R-hat and ESS; for an exact fit a closing note that there is no Monte-Carlo error.
        A parameter with more than :data:`NAMED_SITES` rows (``theta`` of a thousand sites)
        shows its first and last :data:`SHOWN_ENDS`, and a line saying how many more rows
        ``summary.csv`` holds.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> print(summary_text(fit.summary().head(2)))
    parameter mean  sd q2.5 q50 q97.5
           mu  7.6 4.6 -1.4 7.6  16.8
          tau  5.0 3.9  0.2 4.2  14.5
    (exact values: no Monte-Carlo error)
    """
    exact = (table["mcse_mean"] == 0).all()
    printed, notes = _printed_rows(table["parameter"])
    table = table[printed]
    shown = pd.DataFrame({"parameter": table["parameter"]})
    for column in ("mean", "sd", "q2.5", "q50", "q97.5"):
        shown[column] = [
            number(value, decimals(sd))
            for value, sd in zip(table[column], table["sd"], strict=True)
        ]
    if not exact:
        shown["mcse"] = [
            "" if not mcse > 0 else f"{mcse:.1g}" for mcse in table["mcse_mean"].fillna(0.0)
        ]
        shown["r_hat"] = table["r_hat"].map(lambda v: "" if np.isnan(v) else f"{v:.3f}")
        for column in ("ess_bulk", "ess_tail"):
            shown[column] = table[column].map(count)
    lines = shown.to_string(index=False).splitlines()
    for row, note in sorted(notes.items(), reverse=True):
        lines.insert(1 + row, note)  # below the header and the rows before it
    return "\n".join(lines) + ("\n(exact values: no Monte-Carlo error)" if exact else "")


def _printed_rows(parameters: pd.Series) -> tuple[np.ndarray, dict[int, str]]:
    """Return which summary rows to print, and notes for the rows left out, by printed row.

    A parameter with more than :data:`NAMED_SITES` rows keeps its first and last
    :data:`SHOWN_ENDS`; a note, after the first ones, says how many rows it leaves out.
    """
    names = parameters.str.extract(r"^(.+?)\[", expand=False).to_numpy()
    printed = np.ones(len(parameters), bool)
    left_out = {}
    for name, count in pd.Series(names).value_counts().items():
        if count > NAMED_SITES:
            rows = np.flatnonzero(names == name)[SHOWN_ENDS:-SHOWN_ENDS]
            printed[rows] = False
            left_out[rows[0]] = (
                f"... {len(rows):,} more rows of {name}: every row is in summary.csv"
            )
    return printed, {int(printed[:row].sum()): note for row, note in left_out.items()}
