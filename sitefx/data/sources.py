"""Where a study's data were read, and whether those files have changed since.

A fit keeps a :class:`Source` for its data (and its historical data): the path it was loaded
from and the SHA-256 of each file read. ``sitefx refit DIR`` and
:meth:`sitefx.SiteEffects.refit` load the data again from there, and refuse when a file has
changed, so that a refit never mixes a saved model with different data without saying so.

Examples
--------
>>> source = Source.of("studies/eight_schools")
>>> [Path(file["path"]).name for file in source.files]
['README.md', 'eight_schools.csv', 'study.toml']
>>> source.changed()
[]
"""

import glob
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Self


@dataclass(frozen=True)
class Source:
    """The path data were loaded from, and each file read there with its size and SHA-256.

    Attributes
    ----------
    path : str
        The absolute path given to :func:`sitefx.load`: a file, a study folder, a folder of
        Parquet parts or a glob.
    files : tuple of dict
        Each file read: ``path`` (absolute), ``bytes`` and ``sha256``.

    Examples
    --------
    >>> source = Source.of("studies/eight_schools/eight_schools.csv")
    >>> Source.from_dict(source.to_dict()) == source
    True
    """

    path: str
    files: tuple[dict, ...]

    @classmethod
    def of(cls, source: str | Path) -> Self:
        """Record ``source`` and the files in it now.

        Parameters
        ----------
        source : str or pathlib.Path
            A data file, a folder or a glob.

        Returns
        -------
        Source
        """
        absolute = Path(source).absolute()
        return cls(
            path=str(absolute), files=tuple(file_record(path) for path in input_files(absolute))
        )

    def changed(self) -> list[str]:
        """Return the files that are missing, new or different now, by path.

        Returns
        -------
        list of str
            Empty when every file is as it was.
        """
        now = {file["path"]: file for file in Source.of(self.path).files}
        then = {file["path"]: file for file in self.files}
        return sorted(path for path in now.keys() | then.keys() if now.get(path) != then.get(path))

    def to_dict(self) -> dict:
        """Return the record as JSON-ready values.

        Returns
        -------
        dict
        """
        return asdict(self) | {"files": list(self.files)}

    @classmethod
    def from_dict(cls, values: dict) -> Self:
        """Return the record :meth:`to_dict` wrote.

        Parameters
        ----------
        values : dict
            From :meth:`to_dict`.

        Returns
        -------
        Source
        """
        return cls(path=values["path"], files=tuple(values["files"]))


def input_files(source: str | Path) -> list[Path]:
    """Return the files a command read for ``source``.

    Parameters
    ----------
    source : str or pathlib.Path
        A data file, a folder (a study folder, or a folder of Parquet parts) or a glob.

    Returns
    -------
    list of pathlib.Path
        The file; a folder's top-level files; or a glob's matching files, sorted.

    Examples
    --------
    >>> [path.name for path in input_files("studies/eight_schools")]
    ['README.md', 'eight_schools.csv', 'study.toml']
    """
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file())
    return sorted(Path(p) for p in glob.glob(str(source)) if Path(p).is_file())


def sha256(path: Path) -> str:
    """Return the SHA-256 of a file, read in blocks of 1 MiB.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    str
        The hex digest.

    Examples
    --------
    >>> sha256(Path("studies/eight_schools/eight_schools.csv"))[:12]
    '23285fba0b49'
    """
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: Path) -> dict:
    """Return a file's path, size and SHA-256, as a fit and a manifest record inputs.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    dict
        ``path`` (as given), ``bytes`` and ``sha256``.

    Examples
    --------
    >>> file_record(Path("studies/eight_schools/eight_schools.csv"))["bytes"]
    77
    """
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256(path)}
