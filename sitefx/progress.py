"""What a long command shows while it works: one line per phase, on a terminal only.

``sitefx`` logs each phase as it ends, on standard error: ``reading students.parquet:
1,000,000 rows… 2.1 s``. Progress bars (tqdm) cover the long loops: NUTS warm-up and
sampling, prior grids, calibration replicates, ``fit-many``. Both are on only when standard
error is a terminal and ``--quiet`` is not given, so logs and CI output stay clean. Steps
of many (refits of a grid, replicates, jobs) rewrite one status line (:func:`status_line`),
so a calibration of 200 replicates shows one line, not 200.
"""

import contextlib
import sys
import time
from collections.abc import Callable, Iterator


def attached(quiet: bool = False) -> bool:
    """Whether to show progress: standard error is a terminal and ``quiet`` is False.

    Parameters
    ----------
    quiet : bool
        The user asked for silence (``--quiet``).

    Returns
    -------
    bool

    Examples
    --------
    >>> attached(quiet=True)
    False
    """
    return not quiet and sys.stderr.isatty()


@contextlib.contextmanager
def phase(text: str, *, enabled: bool) -> Iterator[list[str]]:
    """Log one phase when it ends: ``text… 2.1 s (notes)`` on standard error.

    Parameters
    ----------
    text : str
        What the phase does, e.g. ``"reading studies/star"``.
    enabled : bool
        Whether to print (see :func:`attached`).

    Yields
    ------
    list of str
        Notes to append to the line, e.g. ``"1,000,000 rows"``; add to it within the phase.

    Examples
    --------
    >>> with phase("counting", enabled=False) as notes:
    ...     notes.append("3 sites")
    """
    start = time.perf_counter()
    notes: list[str] = []
    yield notes
    if enabled:
        detail = f" ({'; '.join(notes)})" if notes else ""
        print(f"{text}… {time.perf_counter() - start:.1f} s{detail}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def status_line(*, enabled: bool) -> Iterator[Callable[[str], None] | None]:
    """Yield a function that shows its text as one line on standard error.

    Each call replaces the last line; the line is erased at the end.

    Parameters
    ----------
    enabled : bool
        Whether to show anything (see :func:`attached`); if not, None is yielded.

    Yields
    ------
    callable or None
        ``show(text)``, e.g. ``show("replicate-3 (3/200 done)")``.

    Examples
    --------
    >>> with status_line(enabled=False) as show:
    ...     show is None
    True
    """
    if not enabled:
        yield None
        return

    def show(text: str) -> None:
        print(f"\r\033[K{text}", end="", file=sys.stderr, flush=True)

    try:
        yield show
    finally:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
