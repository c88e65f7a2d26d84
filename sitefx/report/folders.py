"""Output folders written all or nothing, with a manifest; CSV files safe in a spreadsheet.

A command that writes a folder (``sitefx fit``, ``report``, ``sensitivity``, ...) writes into
a temporary folder beside ``--out`` and swaps it into place only when every file is written
(:func:`output_folder`), as SQLite commits a transaction: an interrupted run, a full disk or
a permission error leaves the old folder as it was and no half-written files. Each folder
holds ``manifest.json``: the sitefx version, the commands that wrote it, the input files with
their SHA-256, and every file of the folder with its size and SHA-256. A command that reads a
saved fit (:func:`read_fit`) checks the manifest and the DataTree and refuses an incomplete
or edited folder (exit 2).

CSV cells a spreadsheet would execute (text starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return) get a leading apostrophe, as OWASP recommends against CSV injection
(:func:`write_csv`); numbers are written as numbers.
"""

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import xarray as xr
from matplotlib import rc_context
from matplotlib.figure import Figure

from sitefx.data.sources import file_record, sha256
from sitefx.errors import SitefxInputError, SitefxOutputError
from sitefx.report.datatree import load_datatree

MANIFEST = "manifest.json"
POSTERIOR = "posterior.nc"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What a sitefx folder of an earlier version (no manifest) may hold, so it may be replaced.
SITEFX_NAMES = {
    "posterior.nc",
    "summary.csv",
    "estimands.csv",
    "sites.csv",
    "forest.png",
    "forest.svg",
    "report.html",
    "report.md",
    "figures",
    "prior_grid.csv",
    "prior_grid_sites.csv",
    "prior_grid.png",
    "power_scaling.csv",
    "leave_one_out.csv",
    "influence.png",
    "model_comparison.csv",
    "calibration_summary.csv",
    "calibration_ranks.csv",
    "calibration.png",
    "overview.csv",
}
# What a fit's DataTree must hold for its tables and report.
REQUIRED = {
    "posterior": ("mu", "tau", "theta", "theta_new"),
    "constant_data": ("raw_estimate", "raw_se"),
}
REQUIRED_ATTRS = ("sampler", "data_accounting")


@contextlib.contextmanager
def output_folder(
    out: str | Path,
    *,
    command: Sequence[str] = (),
    inputs: Sequence[str | Path | Mapping] = (),
    keep: bool = False,
) -> Iterator[Path]:
    """Give a temporary folder to write ``out``'s files into, swapped into place at the end.

    The folder is swapped into place, with its manifest, when the ``with`` block ends without
    error, and removed otherwise: ``out`` is written all or nothing.

    Parameters
    ----------
    out : str or pathlib.Path
        The output folder. It must be new, empty, or a sitefx output folder: a folder of other
        files is refused (it would be replaced).
    command : sequence of str, default ()
        The command line that writes the folder, recorded in the manifest (after the
        commands already recorded, with ``keep``).
    inputs : sequence of str, pathlib.Path or mapping, default ()
        Files read to write it, recorded in the manifest with their sizes and SHA-256: paths
        (hashed now), or records already made when the files were read
        (:func:`~sitefx.data.sources.file_record`, e.g. a fit's ``sources``).
    keep : bool, default False
        Start from a copy of the existing folder (a report added to a fit's folder).

    Yields
    ------
    pathlib.Path
        The temporary folder, beside ``out``.

    Raises
    ------
    SitefxInputError
        If ``out`` is a file or a folder of files sitefx did not write.
    SitefxOutputError
        If ``out``'s parent cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "fit"
    >>> with output_folder(out, command=["example"]) as folder:
    ...     _ = (folder / "notes.txt").write_text("written all or nothing")
    >>> sorted(path.name for path in out.iterdir())
    ['manifest.json', 'notes.txt']
    """
    out = Path(out)
    check_destination(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.parent / f".{out.name}.sitefx-{uuid.uuid4().hex[:12]}"
    try:
        if keep and out.is_dir():
            shutil.copytree(out, temporary, ignore=shutil.ignore_patterns(MANIFEST))
        else:
            temporary.mkdir()
        yield temporary
        history = _previous_commands(out) if keep else []
        _write_manifest(temporary, [*history, list(command)], inputs)
        _swap(temporary, out)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def check_destination(out: str | Path) -> None:
    """Check an ``--out`` folder before any work starts.

    Parameters
    ----------
    out : str or pathlib.Path
        The output folder; it need not exist.

    Raises
    ------
    SitefxInputError
        If ``out`` or a folder it is in is a file, or ``out`` is a folder without a sitefx
        manifest that holds files sitefx did not write.
    SitefxOutputError
        If the nearest existing parent of ``out`` cannot be written.

    Examples
    --------
    >>> check_destination("studies/eight_schools")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: --out studies/eight_schools: the folder holds files ...
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SitefxInputError(f"--out {out}: a file is there; give a folder")
    if out.is_dir() and not (out / MANIFEST).is_file():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in SITEFX_NAMES)
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise SitefxInputError(
                f"--out {out}: the folder holds files sitefx did not write ({shown}); "
                "give a new or empty folder"
            )
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SitefxInputError(f"--out {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SitefxOutputError(f"--out {out}: {parent} cannot be written (permission denied)")


def read_fit(folder: str | Path) -> xr.DataTree:
    """Read the fit saved in ``folder``, checking that it is complete and unedited.

    Parameters
    ----------
    folder : str or pathlib.Path
        A folder written by ``sitefx fit`` or :meth:`sitefx.SiteEffects.save`. A folder
        written before manifests existed is read without checking its files.

    Returns
    -------
    xarray.DataTree
        The fit's ``posterior.nc``.

    Raises
    ------
    SitefxInputError
        If the folder or its posterior file is missing, a file listed in the manifest is
        missing or changed (by size or SHA-256), the file is not a posterior file, or the
        DataTree lacks what a report needs (``mu``, ``tau``, ``theta``, ``theta_new``, the
        raw estimates, the sampler and data accounting).

    Examples
    --------
    A study folder is not a fit's folder:

    >>> read_fit("studies/eight_schools")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: studies/eight_schools/posterior.nc: no such file; run ...

    After ``sitefx fit studies/eight_schools --out out/eight_schools``,
    ``read_fit("out/eight_schools")["posterior"]`` holds the draws of ``mu``, ``tau``,
    ``theta`` and ``theta_new``.
    """
    folder = Path(folder)
    path = folder / POSTERIOR
    if not folder.is_dir():
        raise SitefxInputError(f"{folder}: no such folder; run 'sitefx fit ... --out {folder}'")
    if (folder / MANIFEST).is_file():
        _check_manifest(folder)
    elif not path.is_file():
        raise SitefxInputError(f"{path}: no such file; run 'sitefx fit ... --out {folder}'")
    try:
        tree = load_datatree(path)
    except (OSError, ValueError, KeyError) as error:
        raise SitefxInputError(f"{path}: not a sitefx posterior file ({error})") from error
    missing = [
        f"{group}/{name}"
        for group, names in REQUIRED.items()
        for name in names
        if group not in tree.children or name not in tree[group]
    ]
    missing += [f"attribute {name}" for name in REQUIRED_ATTRS if name not in tree.attrs]
    if missing:
        raise SitefxInputError(f"{path}: not a complete sitefx fit (missing {', '.join(missing)})")
    return tree


def report_folder(out: str | Path, *, recomputed: bool) -> Path:
    """Return where a report meant for ``out`` goes, so that it never overwrites a fit's files.

    A report whose own threshold or outcome SD recomputes the tables goes into ``report/``
    inside a fit's folder, so that the fit's ``estimands.csv`` and ``sites.csv`` keep the
    fit's values; otherwise into ``out``.

    Parameters
    ----------
    out : str or pathlib.Path
        The folder asked for.
    recomputed : bool
        The report computes its tables with options of its own.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> fit = Path(tempfile.mkdtemp())
    >>> _ = (fit / POSTERIOR).write_bytes(b"")
    >>> report_folder(fit, recomputed=True) == fit / "report"
    True
    >>> report_folder(fit, recomputed=False) == fit
    True
    """
    out = Path(out)
    return out / "report" if recomputed and (out / POSTERIOR).is_file() else out


def write_figure(figure: Figure, path: str | Path, *, dpi: int) -> None:
    """Write a figure as PNG or SVG, by the suffix of ``path``; an SVG keeps its text as text.

    Text in an SVG stays searchable and editable (in a browser, Inkscape, Illustrator) and
    is shown in the reader's sans-serif font.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure.
    path : str or pathlib.Path
        The file to write, ``.png`` or ``.svg``.
    dpi : int
        Pixels per inch of a PNG.

    Examples
    --------
    >>> import tempfile
    >>> figure = Figure()
    >>> _ = figure.suptitle("Oak Hill")
    >>> with tempfile.TemporaryDirectory() as out:
    ...     write_figure(figure, Path(out) / "title.svg", dpi=100)
    ...     "Oak Hill" in (Path(out) / "title.svg").read_text()
    True
    """
    with rc_context({"svg.fonttype": "none"}):
        figure.savefig(path, dpi=dpi)


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` as CSV that is safe to open in a spreadsheet.

    Every text cell (and column name) a spreadsheet would execute as a formula (starting
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed by an apostrophe
    (OWASP); numbers are written as they are.

    Parameters
    ----------
    table : pandas.DataFrame
        The table; its index is not written.
    path : str or pathlib.Path
        The CSV file to write.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> table = pd.DataFrame({"site": ["=HYPERLINK(1)", "North"], "effect": [-1.5, 2.0]})
    >>> with tempfile.TemporaryDirectory() as out:
    ...     print(write_csv(table, Path(out) / "sites.csv").read_text())
    site,effect
    '=HYPERLINK(1),-1.5
    North,2.0
    <BLANKLINE>
    """
    safe = table.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(_neutralized)
    safe.columns = [_neutralized(str(column)) for column in safe.columns]
    safe.to_csv(path, index=False)
    return Path(path)


def _neutralized(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _files(folder: Path) -> dict[str, dict]:
    return {
        path.relative_to(folder).as_posix(): {"bytes": path.stat().st_size, "sha256": sha256(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def _write_manifest(
    folder: Path, commands: list[list[str]], inputs: Sequence[str | Path | Mapping]
) -> None:
    records = [item for item in inputs if isinstance(item, Mapping)]
    paths = [Path(item) for item in inputs if not isinstance(item, Mapping)]
    manifest = {
        "sitefx_version": version("sitefx"),
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "commands": commands,
        "inputs": records + [file_record(path) for path in paths if path.is_file()],
        "files": _files(folder),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _previous_commands(out: Path) -> list[list[str]]:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return list(json.loads((out / MANIFEST).read_text(encoding="utf-8"))["commands"])
    return []


def _check_manifest(folder: Path) -> None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        listed = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SitefxInputError(f"{folder / MANIFEST}: unreadable manifest ({error})") from error
    present = _files(folder)
    missing = sorted(set(listed) - set(present))
    changed = sorted(name for name in set(listed) & set(present) if present[name] != listed[name])
    if missing or changed:
        what = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:5])}" if missing else "",
                f"changed since written: {', '.join(changed[:5])}" if changed else "",
            )
            if part
        )
        raise SitefxInputError(
            f"{folder}: an incomplete or edited sitefx folder ({what}); write it again"
        )


def _swap(temporary: Path, out: Path) -> None:
    """Put the finished folder in place.

    The old one is renamed aside first and removed only after the new one is in place, so
    ``out`` never mixes old and new files.
    """
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.sitefx-old-{uuid.uuid4().hex[:12]}"
        out.rename(old)
    try:
        temporary.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
