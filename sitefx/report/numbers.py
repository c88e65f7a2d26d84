"""How numbers are shown: one function per kind of number, used by the printed summary, the
report's tables and its sentences, so that a quantity shown twice is shown the same way.

* An effect (or any value on the effects' scale) is rounded to the precision its posterior
  SD warrants, two significant digits of the SD (:func:`decimals`): ``7.7`` for a mean with
  SD 4.6. The same quantity gets the same decimals in every table and sentence.
* A value from draws carries its Monte-Carlo standard error, ``7.69 ± 0.07`` in tables
  (:func:`with_mcse`); exact values have none.
* A probability is a percentage with one decimal, ``95.3%``; two decimals where one would
  round onto a decision line it is not on (``94.96%``, not ``95.0%``); never 0% or 100% from
  draws (:func:`probability`). A share of sites is a whole percentage (:func:`percent`).

Examples
--------
>>> decimals(4.64), number(16.8362, decimals(4.64)), with_mcse(7.689, 0.073, 1)
(1, '16.8', '7.7 ± 0.07')
>>> probability(0.9526), probability(0.9496), probability(0.99991, 0.0001), percent(0.899)
('95.3%', '94.96%', '>99.9%', '90%')
"""

import numpy as np
import pandas as pd

from sitefx.statistics import CONFIDENT, mcse_name

DEFAULT_DECIMALS = 2  # where a value has no SD to size it by
MAX_DECIMALS = 8
LINES = (100 * CONFIDENT, 100 * (1 - CONFIDENT))  # decision lines, in percent


def decimals(sd: float) -> int:
    """Decimals that show two significant digits of a posterior SD (0 for SDs of 10 and
    more; :data:`DEFAULT_DECIMALS` when the SD is missing or 0)."""
    if not (np.isfinite(sd) and sd > 0):
        return DEFAULT_DECIMALS
    return int(np.clip(1 - np.floor(np.log10(sd)), 0, MAX_DECIMALS))


def number(value: float, places: int) -> str:
    """A number with ``places`` decimals and thousands separators; blank if missing."""
    if not np.isfinite(value):
        return ""
    text = f"{value:,.{places}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text.replace(",", "")) == 0 else text


def with_mcse(value: float, mcse: float, places: int) -> str:
    """A value from draws with its Monte-Carlo standard error (one significant digit), or
    just the value when it is exact (MCSE 0) or has none."""
    text = number(value, places)
    if not text or not (np.isfinite(mcse) and mcse > 0):
        return text
    return f"{text} ± {mcse:.1g}"


def probability(prob: float, mcse: float = 0.0) -> str:
    """A posterior probability as a percentage (see the module's description), with ``±``
    its MCSE in percentage points when it comes from draws."""
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
    """A share (of sites, of the way to the average) as a whole percentage."""
    return "" if not np.isfinite(share) else f"{100 * share:.0f}%"


def display_table(
    table: pd.DataFrame,
    *,
    probabilities: tuple[str, ...] = (),
    percents: tuple[str, ...] = (),
    fixed: dict[str, int] | None = None,
    percent_rows: pd.Series | None = None,
) -> pd.DataFrame:
    """A table for people: numbers rounded to the precision their row's posterior SD
    warrants, with ``± MCSE`` where they come from draws; ``probabilities`` and ``percents``
    columns (and every number of ``percent_rows``) as percentages, ``fixed`` columns with
    their own decimals; the ``mcse_*`` columns folded in; blanks for missing values."""
    fixed = fixed or {}
    mcse_columns = [c for c in table.columns if c.startswith("mcse_")]
    shown = table.drop(columns=mcse_columns).astype(object)
    zero = pd.Series(0.0, index=table.index)
    for i in table.index:
        places = decimals(table.at[i, "sd"]) if "sd" in table else DEFAULT_DECIMALS
        as_percent = percent_rows is not None and bool(percent_rows[i])
        for column in shown.columns:
            value = table.at[i, column]
            if not isinstance(value, float | np.floating):
                continue
            mcse = float(table.get(mcse_name(column), zero)[i])
            if column in probabilities:
                shown.at[i, column] = probability(value, mcse)
            elif column in percents or as_percent:
                shown.at[i, column] = percent(value)
            elif column in fixed:
                shown.at[i, column] = with_mcse(value, mcse, fixed[column])
            else:
                shown.at[i, column] = with_mcse(value, mcse, places)
    return shown


def summary_text(table: pd.DataFrame) -> str:
    """The summary table as aligned text for a terminal: each row at its own precision,
    the MCSE of the mean (blank when exact), R-hat and ESS (blank when exact)."""
    shown = pd.DataFrame({"parameter": table["parameter"]})
    for column in ("mean", "sd", "q2.5", "q50", "q97.5"):
        shown[column] = [
            number(value, decimals(sd))
            for value, sd in zip(table[column], table["sd"], strict=True)
        ]
    exact = (table["mcse_mean"] == 0).all()
    if not exact:
        shown["mcse"] = [
            "" if not mcse > 0 else f"{mcse:.1g}" for mcse in table["mcse_mean"].fillna(0.0)
        ]
        shown["r_hat"] = table["r_hat"].map(lambda v: "" if np.isnan(v) else f"{v:.3f}")
        for column in ("ess_bulk", "ess_tail"):
            shown[column] = table[column].map(lambda v: "" if np.isnan(v) else f"{v:.0f}")
    text = shown.to_string(index=False)
    return text + ("\n(exact values: no Monte-Carlo error)" if exact else "")
