"""The exceptions and warnings sitefx raises, and the checks of single numbers.

Every problem with a user's input raises a subclass of :class:`SitefxInputError`, whose
message names the column and the offending rows or sites, or the option (with its
command-line flag). The CLI turns these into a short message and exit code 2; anything else
is a bug and keeps its traceback.
"""

import difflib
import math
from collections.abc import Iterable
from numbers import Integral, Real

# Characters that break a line, escaped in messages (an id may hold a newline).
LINE_BREAKS = {
    code: repr(chr(code))[1:-1]
    for code in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]
    if chr(code) != "\t"
}


class SitefxInputError(ValueError):
    """Base class for every error caused by the user's input (data, options, priors).

    The message is one line: line breaks and control characters that come from the input
    (ids, column names, values) are shown escaped.

    Examples
    --------
    >>> print(SitefxInputError("repeated: North" + chr(10) + "Campus"))
    repeated: North\\nCampus
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(str(message).translate(LINE_BREAKS), *args)


class StudyDataError(SitefxInputError):
    """The data cannot be used as given: a missing column, a bad value, too few sites, ..."""


class PriorSpecError(SitefxInputError):
    """A prior specification string or object is malformed or has the wrong support."""


class DataDropWarning(UserWarning):
    """Rows or sites were dropped because an explicit option asked for it."""


class DataReadWarning(UserWarning):
    """A data file was read under an assumption the user should check (e.g. its encoding)."""


class SamplingWarning(UserWarning):
    """The sampler's diagnostics (divergences, R-hat, ESS) suggest the fit is unreliable."""


class IgnoredOptionWarning(UserWarning):
    """An option was given that the fit does not use (e.g. NUTS settings for the exact method)."""


def check_whole(value: object, name: str, *, low: int, high: int) -> int:
    """``value`` as an int; a :class:`SitefxInputError` naming ``name`` unless it is a whole
    number from ``low`` to ``high`` (bounds included; a bool is not a number here).

    Examples
    --------
    >>> check_whole(4, "chains (--chains)", low=1, high=1000)
    4
    >>> check_whole(0, "chains (--chains)", low=1, high=1000)
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: chains (--chains) must be a whole number from 1 to 1000; got 0
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= value <= high:
        raise SitefxInputError(f"{name} must be a whole number from {low} to {high}; got {value!r}")
    return int(value)


def check_finite(value: object, name: str, *, positive: bool = False) -> float:
    """``value`` as a float; a :class:`SitefxInputError` naming ``name`` unless it is a finite
    number (and, with ``positive``, > 0).

    Examples
    --------
    >>> check_finite(2, "site_df (--site-df)", positive=True)
    2.0
    >>> check_finite(float("inf"), "site_df (--site-df)", positive=True)
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: site_df (--site-df) must be > 0 and finite; got inf
    """
    wanted = "> 0 and finite" if positive else "a finite number"
    number = math.nan
    if isinstance(value, Real) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int beyond the largest float
            number = math.inf
    if not math.isfinite(number) or (positive and not number > 0):
        raise SitefxInputError(f"{name} must be {wanted}; got {value!r}")
    return number


def describe_labels(labels: Iterable[object], *, limit: int = 8) -> str:
    """Return a short list such as ``"3, 7, 12 and 45 more"`` for an error message.

    Examples
    --------
    >>> describe_labels([3, 7, 12], limit=2)
    '3, 7 and 1 more'
    """
    labels = [str(label) for label in labels]
    shown = ", ".join(labels[:limit])
    if len(labels) > limit:
        shown += f" and {len(labels) - limit} more"
    return shown


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known`` to a misspelt ``name``, else ``""``.

    Examples
    --------
    >>> did_you_mean("observationl", ["title", "observational"])
    " (did you mean 'observational'?)"
    """
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class SitefxOutputError(OSError):
    """An output folder cannot be written (permission, full disk); nothing half-written is
    left behind. The CLI prints one line and exits with status 1."""
