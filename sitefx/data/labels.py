r"""Ids and column names as people mean them.

A label (a site, cluster, person or level id, or a column name) is read in Unicode's composed
form (NFC), without the spaces or invisible characters (zero-width spaces, byte-order marks,
...) around it, so ``"École"`` typed on a Mac and on Windows is one id. Two spellings that still
look alike after that (``"St Mary"`` and ``"St\u00a0Mary"``, ``"A"`` and ``"A "``) are an error
naming both, never silently one id or two.
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence

from sitefx.errors import StudyDataError

SPACES = re.compile(r"\s+")


def normalize(label: str) -> str:
    r"""Return ``label`` in NFC without surrounding whitespace or invisible format characters.

    Parameters
    ----------
    label : str
        A site, cluster, person or level id, or a column name, as read from the data.

    Returns
    -------
    str
        The label in Unicode's composed form (NFC), with the whitespace and format characters
        (category ``Cf``: zero-width spaces, byte-order marks, ...) at either end removed;
        those inside are kept.

    Examples
    --------
    >>> normalize("\ufeff Cafe\u0301\u200b ")
    'Café'
    """
    label = unicodedata.normalize("NFC", label)
    start, end = 0, len(label)
    while start < end and _invisible(label[start]):
        start += 1
    while end > start and _invisible(label[end - 1]):
        end -= 1
    return label[start:end]


def lookalike(label: str) -> str:
    r"""Return the look-alike key of ``label``: what it looks like on screen.

    Two labels with the same key cannot be told apart by a reader.

    Parameters
    ----------
    label : str
        An id or column name.

    Returns
    -------
    str
        ``label`` compatibility-normalized (NFKC: a no-break space is a space, a full-width
        letter a letter), without invisible characters, each run of spaces one space, and
        stripped.

    Examples
    --------
    >>> lookalike("St\u00a0 Mary") == lookalike("St\u200b Mary")
    True
    """
    shown = "".join(
        c for c in unicodedata.normalize("NFKC", label) if unicodedata.category(c) != "Cf"
    )
    return SPACES.sub(" ", shown).strip()


def clashes(spellings: Iterable[str]) -> list[tuple[str, str]]:
    """Return the pairs of different spellings that look alike.

    Parameters
    ----------
    spellings : iterable of str
        The distinct ids of one column (repeats are ignored).

    Returns
    -------
    list of tuple of (str, str)
        For each group of spellings sharing a :func:`lookalike` key, its first two spellings in
        order of appearance; empty when no two look alike.

    Examples
    --------
    >>> clashes(["A", "B", "A ", "C"])
    [('A', 'A ')]
    """
    groups: dict[str, list[str]] = {}
    for spelling in dict.fromkeys(spellings):
        groups.setdefault(lookalike(spelling), []).append(spelling)
    return [(group[0], group[1]) for group in groups.values() if len(group) > 1]


def column_names(names: Sequence[object], source: str) -> list[str]:
    """Return the normalized column names of a table.

    Parameters
    ----------
    names : sequence of object
        The header as read, one entry per column (shown with ``str``).
    source : str
        The file name, used in the error message.

    Returns
    -------
    list of str
        :func:`normalize` of each name, in order; ``""`` for a column without a name, which
        is not read.

    Raises
    ------
    StudyDataError
        If two named columns look alike (:func:`lookalike`), naming both by position.

    Examples
    --------
    >>> column_names(["\ufeffschool", " effect ", ""], "data.csv")
    ['school', 'effect', '']
    """
    normalized = [normalize(str(name)) for name in names]
    first: dict[str, int] = {}
    for position, name in enumerate(normalized):
        if not name:
            continue
        earlier = first.setdefault(lookalike(name), position)
        if earlier != position:
            raise StudyDataError(
                f"{source}: columns {earlier + 1} ({names[earlier]!r}) and {position + 1} "
                f"({names[position]!r}) have the same name; give each column its own name"
            )
    return normalized


def _invisible(character: str) -> bool:
    return character.isspace() or unicodedata.category(character) == "Cf"
