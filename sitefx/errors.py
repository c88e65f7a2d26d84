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
    r"""Base class for every error caused by the user's input (data, options, priors).

    The message is one line: line breaks and control characters that come from the input
    (ids, column names, values) are shown escaped.

    Parameters
    ----------
    message : object, default ""
        What went wrong; converted with ``str`` and its line breaks escaped.
    *args : object
        Further arguments, kept in ``args`` as for any exception.

    Examples
    --------
    >>> print(SitefxInputError("repeated: North" + chr(10) + "Campus"))
    repeated: North\nCampus
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(str(message).translate(LINE_BREAKS), *args)


class StudyDataError(SitefxInputError):
    """Signal data that cannot be used as given: a missing column, a bad value, too few sites, ...

    Examples
    --------
    >>> import pandas as pd, sitefx
    >>> frame = pd.DataFrame({"school": ["A", "B"], "effect": [1.0, 2.0]})
    >>> sitefx.load(frame, site="school", estimate="effect", se="sd")
    Traceback (most recent call last):
    ...
    sitefx.errors.StudyDataError: missing column(s) 'sd'; the data has 'school', 'effect'
    """


class PriorSpecError(SitefxInputError):
    """Signal a prior specification string or object that is malformed or has the wrong support.

    Examples
    --------
    >>> from sitefx.models.priors import given_prior
    >>> given_prior("half_normal(-1)")
    Traceback (most recent call last):
    ...
    sitefx.errors.PriorSpecError: prior half-normal(-1): scale must be > 0
    """


class DataDropWarning(UserWarning):
    """Warn that rows or sites were dropped because an explicit option asked for it.

    Examples
    --------
    >>> import pandas as pd, sitefx, warnings
    >>> frame = pd.DataFrame({"school": list("ABC"), "effect": [1.0, None, 3.0], "se": 1.0})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     study = sitefx.load(
    ...         frame, site="school", estimate="effect", se="se", drop_missing=True
    ...     )
    >>> print(caught[0].category.__name__, caught[0].message)
    DataDropWarning dropped 1 rows with a missing or non-finite 'effect' (rows 1)
    """


class DataReadWarning(UserWarning):
    """Warn that a data file was read under an assumption the user should check (its encoding).

    Examples
    --------
    >>> import warnings
    >>> from sitefx.data.text import decode
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     text = decode("École".encode("cp1252"), "data.csv")
    >>> text, caught[0].category.__name__
    ('École', 'DataReadWarning')
    """


class SamplingWarning(UserWarning):
    """Warn that the sampler's diagnostics (divergences, R-hat, ESS) suggest an unreliable fit.

    Examples
    --------
    Short NUTS chains, as in quick checks, are expected to warn; silence it on purpose only,
    and only around that code:

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", SamplingWarning)
    ...     warnings.warn("2 divergent transitions after warm-up", SamplingWarning)
    """


class IgnoredOptionWarning(UserWarning):
    """Warn that an option was given that the fit does not use (NUTS settings for the exact fit).

    Examples
    --------
    >>> import sitefx, warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     fit = sitefx.SiteEffects(warmup=500).fit(sitefx.load("studies/eight_schools"))
    >>> print(caught[0].category.__name__, caught[0].message)
    IgnoredOptionWarning warmup (--warmup) ignored: the exact method has no sampler to tune
    """


def check_whole(value: object, name: str, *, low: int, high: int) -> int:
    """Return ``value`` as an int after checking it is a whole number in ``[low, high]``.

    Parameters
    ----------
    value : object
        The user's value (an option or a setting from a study file).
    name : str
        How the message names it, e.g. ``"chains (--chains)"``.
    low, high : int
        The smallest and largest values allowed (bounds included).

    Returns
    -------
    int
        ``value`` as a plain int.

    Raises
    ------
    SitefxInputError
        If ``value`` is not an integer (a bool is not a number here) or lies outside the bounds.

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


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` after checking it is one of ``choices``.

    Parameters
    ----------
    value : object
        The user's value.
    name : str
        How the message names it, e.g. ``"method"``.
    choices : tuple of str
        The values allowed.

    Returns
    -------
    str
        ``value``.

    Raises
    ------
    SitefxInputError
        If ``value`` is not one of ``choices``.

    Examples
    --------
    >>> check_choice("nuts", "method", ("auto", "exact", "nuts"))
    'nuts'
    >>> check_choice("mcmc", "method", ("auto", "exact", "nuts"))
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: method must be one of auto, exact, nuts; got 'mcmc'
    """
    if value not in choices:
        raise SitefxInputError(f"{name} must be one of {', '.join(choices)}; got '{value}'")
    return value


def check_finite(value: object, name: str, *, positive: bool = False) -> float:
    """Return ``value`` as a float after checking it is a finite number.

    Parameters
    ----------
    value : object
        The user's value; an int beyond the largest float counts as infinite.
    name : str
        How the message names it, e.g. ``"site_df (--site-df)"``.
    positive : bool, default False
        Also require ``value > 0``.

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    SitefxInputError
        If ``value`` is not a real number (a bool is not), not finite, or (with ``positive``)
        not above 0.

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

    Parameters
    ----------
    labels : iterable of object
        Row numbers, site ids, column names, ...; each shown with ``str``.
    limit : int, default 8
        How many to show before ``"and N more"``.

    Returns
    -------
    str
        The first ``limit`` labels separated by commas, and how many more there are.

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
    """Return a hint `` (did you mean 'x'?)`` naming the closest known name to a misspelt one.

    Parameters
    ----------
    name : str
        The name the user gave (an option, a role, a column).
    known : iterable of str
        The names that would have been accepted.

    Returns
    -------
    str
        The hint, with a leading space, to append to a message; ``""`` when none is close
        (:func:`difflib.get_close_matches`).

    Examples
    --------
    >>> did_you_mean("observationl", ["title", "observational"])
    " (did you mean 'observational'?)"
    """
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class SitefxOutputError(OSError):
    """Signal an output folder that cannot be written (permission, full disk).

    Nothing half-written is left behind. The CLI prints one line and exits with status 1.

    Examples
    --------
    >>> raise SitefxOutputError("--out /results/run1: /results cannot be written")
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxOutputError: --out /results/run1: /results cannot be written
    """
