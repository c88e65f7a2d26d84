"""The schema of ``study.toml``, the file that describes a study folder.

``study.toml`` is parsed as TOML (never executed) and checked against :data:`KEYS`: each value
must have its type (``observational = "no"`` is an error, not true), an unknown key is an error
with a did-you-mean, and the data file must lie inside the study folder (no absolute path, no
``..``, no link leading out). The ``[roles]`` table is checked by
:class:`sitefx.data.adapters.Roles`.
"""

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from sitefx.errors import StudyDataError, did_you_mean

STUDY_FILE = "study.toml"
TEXT, FLAG, NUMBER = "text", "true or false", "a finite number"
NUMBERS, ROLES = "a table of finite numbers", "the table of column roles"
KEYS: Mapping[str, str | Mapping[str, str]] = {
    "data": TEXT,
    "name": TEXT,
    "title": TEXT,
    "description": TEXT,
    "units": TEXT,
    "design": TEXT,
    "license": TEXT,
    "observational": FLAG,
    "outcome_sd": NUMBER,
    "source": {"citation": TEXT, "url": TEXT, "prepared_by": TEXT},
    "truth": NUMBERS,
    "roles": ROLES,
}
TYPE_CHECKS = {
    TEXT: lambda value: isinstance(value, str),
    FLAG: lambda value: isinstance(value, bool),
    NUMBER: lambda value: (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ),
    NUMBERS: lambda value: (
        isinstance(value, dict) and all(TYPE_CHECKS[NUMBER](number) for number in value.values())
    ),
    ROLES: lambda value: isinstance(value, dict),
}


@dataclass(frozen=True, kw_only=True)
class StudyFile:
    """A checked ``study.toml``.

    Attributes
    ----------
    path : Path
        The ``study.toml`` file.
    data : Path
        The data file it names, inside the study folder.
    roles : dict
        The ``[roles]`` table.
    metadata : dict
        Everything else (title, units, source, ...).

    Examples
    --------
    >>> spec = read_study_file(Path("studies/eight_schools"))
    >>> spec.path.name, sorted(spec.roles)
    ('study.toml', ['estimate', 'se', 'site'])
    """

    path: Path
    data: Path
    roles: dict
    metadata: dict


def read_study_file(folder: Path) -> StudyFile:
    """Read and check ``folder/study.toml``.

    Parameters
    ----------
    folder : pathlib.Path
        A study folder.

    Returns
    -------
    StudyFile
        The checked file: the path of the data file it names, its ``[roles]`` table (not yet
        checked; see :class:`sitefx.data.adapters.Roles`), and the rest as metadata.

    Raises
    ------
    StudyDataError
        If the folder has no ``study.toml``, the file is not UTF-8 TOML, a key is unknown or
        of the wrong type, ``data`` is missing, or the data file lies outside the folder.

    Examples
    --------
    >>> spec = read_study_file(Path("studies/eight_schools"))
    >>> spec.data.name, spec.roles["se"], spec.metadata["units"]
    ('eight_schools.csv', 'se', 'SAT-V points')
    """
    path = folder / STUDY_FILE
    if not path.is_file():
        raise StudyDataError(f"{folder}: not a study folder (no {STUDY_FILE})")
    try:
        spec = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise StudyDataError(f"{path}: not UTF-8 text; save it as UTF-8") from error
    except tomllib.TOMLDecodeError as error:
        raise StudyDataError(f"{path}: invalid TOML: {error}") from error
    _check(spec, KEYS, path, "")
    if "data" not in spec:
        raise StudyDataError(f"{path}: missing key 'data' (the data file's name)")
    roles = spec.pop("roles", {})
    data = _inside(folder, spec["data"], path)
    return StudyFile(path=path, data=data, roles=roles, metadata=spec)


def _check(table: Mapping, keys: Mapping, path: Path, prefix: str) -> None:
    """Check that each key of ``table`` is known to ``keys`` and has its type."""
    for key, value in table.items():
        name = f"{prefix}{key}"
        expected = keys.get(key)
        if expected is None:
            raise StudyDataError(
                f"{path}: unknown key '{name}'{did_you_mean(key, keys)}; known keys: "
                f"{', '.join(prefix + known for known in keys)}"
            )
        if isinstance(expected, Mapping):
            if not isinstance(value, dict):
                raise StudyDataError(f"{path}: '{name}' must be a table ([{name}])")
            _check(value, expected, path, f"{name}.")
        elif not TYPE_CHECKS[expected](value):
            shown = f"{value!r} (text)" if isinstance(value, str) else repr(value)
            raise StudyDataError(f"{path}: '{name}' must be {expected}; got {shown}")


def _inside(folder: Path, name: str, path: Path) -> Path:
    """Return ``folder / name``, refused unless it stays inside ``folder``."""
    windows = PureWindowsPath(name)  # splits on both / and \\
    if not name.strip():
        raise StudyDataError(f"{path}: 'data' is empty; name the data file")
    if not name.isprintable():
        raise StudyDataError(f"{path}: data = {name!r} holds control characters")
    if PurePosixPath(name).is_absolute() or windows.drive or windows.root:
        raise StudyDataError(
            f"{path}: data = '{name}' is an absolute path; name a file inside the study folder"
        )
    if ".." in windows.parts:
        raise StudyDataError(
            f"{path}: data = '{name}' leaves the study folder ('..'); put the data file in "
            f"the folder"
        )
    data = folder / name
    try:
        target = data.resolve()
    except (OSError, RuntimeError) as error:  # a link loop
        raise StudyDataError(f"{path}: data = '{name}': {error}") from error
    if not target.is_relative_to(folder.resolve()):
        raise StudyDataError(
            f"{path}: data = '{name}' is a link to a file outside the study folder; copy the "
            f"file into the folder"
        )
    return data
