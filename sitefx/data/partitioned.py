"""Out-of-core individual records: per-site sufficient statistics from partitioned files.

A state data system's records need not fit in memory: everything the collapsed Gaussian model
needs is a few sums per site and cluster (:mod:`sitefx.data.statistics`), and everything the
logit model of binary records needs is their counts per site, arm, covariate pattern and
cluster. dask reads a partitioned Parquet data set (one partition per row group) or CSV files
(one partition per 64 MB block, read as strictly as in memory, see :mod:`sitefx.data.text`)
partition by partition; each partition is validated (the same checks and messages as the
in-memory path, prefixed with the file and the partition) and summed by site and arm (or
counted by pattern); the sums are added up. Memory stays bounded by one partition plus
``sites x covariates^2`` numbers (and per-cluster sums, or at most ``MAX_PATTERNS`` patterns),
whatever the number of rows.

A Parquet folder means its top-level ``*.parquet`` files and the files in Hive partition
folders (``key=value``, whose key becomes a column); a Parquet file in any other subfolder (a
backup, say) is an error rather than rows counted twice.

Covariates are centred afterwards, algebraically: with ``x~ = x - xbar``,
``Z'x~ = Z'x - Z'1 xbar'``, ``x~'x~ = x'x - N xbar xbar'`` and ``x~'y = x'y - xbar sum(y)``.
"""

import dataclasses
import functools
import glob
import io
import itertools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

import numpy as np
import pandas as pd

from sitefx.backend import optional_module
from sitefx.data import validate
from sitefx.data.adapters import KIND_NAMES, KIND_ROLES, Roles, Study, require_file
from sitefx.data.schema import DataAccounting, Drop
from sitefx.data.sources import Source
from sitefx.data.statistics import (
    ClusterStatistics,
    PatternCounts,
    RecordStatistics,
    SiteStatistics,
)
from sitefx.data.text import content, decode, parse, read_layout, to_frame
from sitefx.errors import StudyDataError, describe_labels

SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".gz": "csv"}
# Roles the out-of-core path reads; any other role given is refused, never ignored.
ROLES = (
    "site",
    "outcome",
    "treatment",
    "covariates",
    "moderators",
    "levels",
    "cluster",
    "treatment_levels",
    "drop_missing",
)
LARGE = 2 * 1024**3  # bytes: above this, `auto` reads out of core
BLOCK = 64 * 1024**2  # bytes of CSV per partition
HIVE = re.compile(r"[^=]+=[^=]*")  # a Hive partition folder: key=value
# per-cluster sums: records, treated records and outcome totals by arm
CLUSTER_SUMS = ("n_control", "n_treated", "y_control", "y_treated")
# binary records out of core: at most this many (site, arm, covariates, cluster) patterns
MAX_PATTERNS = 100_000


def record_statistics(
    source: str | Path | Sequence[str | Path],
    *,
    site: str,
    outcome: str,
    treatment: str,
    covariates: Sequence[str] = (),
    moderators: Sequence[str] = (),
    levels: Sequence[str] = (),
    cluster: str | None = None,
    family: str = "gaussian",
    treatment_levels: Mapping[object, int] | None = None,
    drop_missing: bool = False,
    units: str = "",
) -> RecordStatistics | PatternCounts:
    """Sum records in partitioned files into per-site sufficient statistics, or count them.

    dask reads one partition at a time (a Parquet row group, or 64 MB of CSV read strictly),
    validates it and sums it by site and arm (and by cluster); the sums are added up and the
    covariates centred. The result equals :meth:`SiteStatistics.from_records` on the same
    records loaded in memory. Site-level columns (moderators, nesting levels) are kept as the
    distinct values of each site in each partition, so a value that varies within a site is
    found whichever partitions hold it. Binary records (``family="binomial"``) are counted
    by site, arm, covariate values and cluster instead: exact, when the covariates take few
    distinct values (at most 100,000 patterns).

    Parameters
    ----------
    source : str, Path or sequence of them
        A Parquet data set (a folder, or a file), a glob such as ``"data/*.csv"``, or a list
        of files; all Parquet or all CSV (``.csv`` or ``.csv.gz``, UTF-8).
    site : str
        Column of site ids.
    outcome : str
        Column of the (continuous) outcome.
    treatment : str
        Column of the treatment: 0/1 or boolean.
    covariates : sequence of str, default ()
        Numeric person-level covariate columns.
    moderators : sequence of str, default ()
        Numeric site-level columns (one value per site) for a meta-regression.
    levels : sequence of str, default ()
        Columns of upper nesting levels above the sites, outermost first (e.g. district).
    cluster : str, optional
        Column of clusters nested in sites (e.g. classrooms): adds per-cluster sums.
    family : {"gaussian", "binomial"}, default "gaussian"
        ``binomial`` for a binary outcome coded 0/1 (or true/false): counted by pattern.
    treatment_levels : mapping, optional
        How to read a treatment column with two other values, e.g. ``{"small": 1,
        "regular": 0}``.
    drop_missing : bool, default False
        Drop rows with a missing or non-finite value in a used column (reported in the
        accounting, per file and partition) instead of refusing them.
    units : str, default ""
        The outcome's units, for reports.

    Returns
    -------
    RecordStatistics or PatternCounts
        The per-site (and per-cluster) sums, arm means and variances, the covariates' means
        and SDs, the moderators and levels, and the accounting of rows read and dropped over
        all partitions; binary records: their counts by pattern, with the same.

    Raises
    ------
    StudyDataError
        If no files match, the files mix formats, a column is missing or invalid (naming the
        file, the partition and the rows), a site has fewer than 2 records in an arm, a
        site-level column varies within a site, levels do not nest, fewer than 2 sites
        remain, or binary records have more than 100,000 patterns.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"school": list("aabbaabb"), "score": [1.0, 2, 3, 4, 2, 5, 1, 6],
    ...                       "small": [0, 1] * 4})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     frame.iloc[:4].to_csv(Path(folder) / "part1.csv", index=False)
    ...     frame.iloc[4:].to_csv(Path(folder) / "part2.csv", index=False)
    ...     stats = record_statistics(Path(folder) / "*.csv", site="school", outcome="score",
    ...                               treatment="small")
    >>> stats.site, stats.accounting.rows_read, stats.arm_mean.tolist()
    (('a', 'b'), 8, [[1.5, 3.5], [2.0, 5.0]])
    """
    dask = optional_module("dask", "reading out of core (--engine dask)")
    files, reader = _files(source)
    if family not in validate.FAMILIES:
        raise StudyDataError(
            f"family must be one of {', '.join(validate.FAMILIES)}; got '{family}'"
        )
    roles = _Columns(
        site,
        outcome,
        treatment,
        tuple(covariates),
        tuple(moderators),
        tuple(levels),
        cluster,
        family,
        treatment_levels,
    )
    if reader == "parquet":
        read = functools.partial(_read_row_group, columns=roles.all)
        pieces = _row_groups(files)
    else:
        read = functools.partial(_read_csv_block, columns=roles.all, ids=roles.ids)
        pieces = _csv_blocks(files)
    read = dask.delayed(read)
    task = dask.delayed(_partition_sums)
    partitions = [
        task(read(piece), f"{piece[0].name}, partition {number}", roles, drop_missing)
        for number, piece in enumerate(pieces)
    ]
    if not partitions:
        raise StudyDataError(f"{source}: the files hold no rows")
    # add them up in pairs, in order: no more than a few partitions' sums in memory at once
    combine = dask.delayed(functools.partial(_combine, roles=roles))
    while len(partitions) > 1:
        partitions = [
            combine(*pair) if len(pair) == 2 else pair[0]
            for pair in itertools.batched(partitions, 2)
        ]
    (summed,) = dask.compute(partitions[0])
    if family == "binomial":
        return _counts(summed, roles, units)
    return _statistics(summed, roles, units)


def out_of_core(source: str | Path, engine: str) -> bool:
    """Decide whether ``source`` is read out of core (summed by dask) or in memory.

    Parameters
    ----------
    source : str or Path
        A study folder, a data file, a folder of Parquet files or a glob.
    engine : {"auto", "memory", "dask"}
        ``dask`` always reads out of core, ``memory`` never; ``auto`` does when the source
        is a glob matching files, a folder of Parquet files without ``study.toml``, or a
        file above 2 GiB.

    Returns
    -------
    bool
        True to read out of core.

    Raises
    ------
    StudyDataError
        For an unknown ``engine``.

    Examples
    --------
    >>> out_of_core("studies/eight_schools", "auto"), out_of_core("studies/eight_schools", "dask")
    (False, True)
    """
    if engine not in ("auto", "memory", "dask"):
        raise StudyDataError(f"engine must be auto, memory or dask; got '{engine}'")
    if engine != "auto":
        return engine == "dask"
    path = Path(source)
    if path.is_dir():
        return not (path / "study.toml").is_file() and any(path.rglob("*.parquet"))
    if path.is_file():
        return path.stat().st_size > LARGE
    return glob.has_magic(str(source)) and bool(glob.glob(str(source)))


def load_statistics(source: str | Path, roles: Roles) -> Study:
    """Load a study of records summed (or counted) out of core (see :func:`record_statistics`).

    Parameters
    ----------
    source : str or Path
        A Parquet data set (a folder, or a file), a glob of CSV or Parquet files.
    roles : Roles
        The column roles: ``site``, ``outcome`` and ``treatment`` are needed; ``covariates``,
        ``moderators``, ``levels``, ``cluster``, ``family``, ``treatment_levels`` and
        ``drop_missing`` may be given. ``drop_incomplete_sites`` and the growth roles, the
        roles of site summaries or arm counts, or a study folder as ``source`` are refused
        with a clear message (naming ``--engine memory``) rather than ignored.

    Returns
    -------
    Study
        Named after the folder or file (``"records"`` if that name is empty), its data a
        :class:`~sitefx.data.statistics.RecordStatistics` (Gaussian records) or
        :class:`~sitefx.data.statistics.PatternCounts` (binary records).

    Raises
    ------
    StudyDataError
        For a role the out-of-core path does not take, a missing site, outcome or treatment
        role, or invalid data.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from sitefx.data.adapters import Roles
    >>> frame = pd.DataFrame({"school": list("aabbaabb"), "score": [1.0, 2, 3, 4, 2, 5, 1, 6],
    ...                       "small": [0, 1] * 4})
    >>> roles = Roles(site="school", outcome="score", treatment="small")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     frame.to_parquet(Path(folder) / "records.parquet")
    ...     study = load_statistics(Path(folder) / "records.parquet", roles)
    >>> study.name, study.data.kind, study.data.n_records
    ('records.parquet', 'statistics', 8)
    """
    _refuse_other_sources(source, roles)
    given = [
        f"{name} (--{name.replace('_', '-')})"
        for name, value in sorted(vars(roles).items())
        if value not in (None, (), False) and name not in (*ROLES, "family")
    ]
    if given:
        raise StudyDataError(
            f"records read out of core take {', '.join(ROLES)} only for now; also given: "
            f"{describe_labels(given)}; read the records in memory (--engine memory)"
        )
    if None in (roles.site, roles.outcome, roles.treatment):
        raise StudyDataError("records read out of core need --site, --outcome and --treatment")
    data = record_statistics(
        source,
        site=roles.site,
        outcome=roles.outcome,
        treatment=roles.treatment,
        covariates=roles.covariates,
        moderators=roles.moderators,
        levels=roles.levels,
        cluster=roles.cluster,
        family=roles.family or "gaussian",
        treatment_levels=roles.treatment_levels,
        drop_missing=roles.drop_missing,
    )
    name = Path(str(source).rstrip("/*")).name or "records"
    return Study(name=name, data=data, roles=roles, source=Source.of(source))


def _refuse_other_sources(source: str | Path, roles: Roles) -> None:
    """Refuse what is not read out of core: a study folder, site summaries or arm counts."""
    path = Path(source)
    if path.is_dir() and (path / "study.toml").is_file():
        raise StudyDataError(
            f"{path}: --engine dask reads records from a data file, a glob or a folder of "
            "Parquet files named with --site, --outcome and --treatment, not a study folder; "
            "leave out --engine dask"
        )
    for kind, names in KIND_ROLES.items():
        if kind != "individual" and any(getattr(roles, name) is not None for name in names):
            raise StudyDataError(
                f"--engine dask sums individual records out of core; {KIND_NAMES[kind]} are "
                "read in memory: leave out --engine dask (or give --engine memory)"
            )


def _files(source: str | Path | Sequence[str | Path]) -> tuple[list[Path], str]:
    """Return the files of ``source`` and their reader, or raise a clear error."""
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            files = _parquet_parts(path)
        elif glob.has_magic(str(source)):
            files = [Path(name) for name in sorted(glob.glob(str(source)))]
        else:
            files = [path]
    else:
        files = [Path(name) for name in source]
    if not files:
        raise StudyDataError(f"{source}: no data files found")
    readers = {SUFFIXES.get(file.suffix.lower()) for file in files}
    if None in readers or len(readers) > 1:
        raise StudyDataError(
            f"{source}: partitioned records must all be Parquet or all CSV; got "
            f"{describe_labels(sorted({file.suffix for file in files}))}"
        )
    for file in files:
        require_file(file)
    return files, readers.pop()


def _parquet_parts(folder: Path) -> list[Path]:
    """List a Parquet data set's files.

    These are the top-level ``*.parquet`` files and those in Hive partition folders
    (``key=value``, at any depth); any other Parquet file is an error.
    """
    parts, stray = [], []
    for file in sorted(folder.rglob("*.parquet")):
        between = file.relative_to(folder).parts[:-1]
        (parts if all(HIVE.fullmatch(name) for name in between) else stray).append(file)
    if stray:
        shown = describe_labels(str(file.relative_to(folder)) for file in stray)
        raise StudyDataError(
            f"{folder}: Parquet files in subfolders that are not partitions (key=value): "
            f"{shown}; the data set is the top-level *.parquet files and Hive partition "
            f"folders, so move the others out (a backup would count its rows twice)"
        )
    return parts


def _partition_values(file: Path) -> dict[str, str]:
    """Return the Hive partition keys and values on ``file``'s path (``year=2019/...``)."""
    pairs = (folder.split("=", 1) for folder in file.parent.parts if HIVE.fullmatch(folder))
    return {unquote(key): unquote(value) for key, value in pairs}


def _row_groups(files: list[Path]) -> list[tuple[Path, int, int]]:
    """List each Parquet file's row groups: (file, row group, rows before it in the file)."""
    pieces = []
    for file in files:
        metadata = _parquet(file).metadata
        first = 0
        for group in range(metadata.num_row_groups):
            pieces.append((file, group, first))
            first += metadata.row_group(group).num_rows
    return pieces


def _parquet(file: Path):
    """Open the Parquet file ``file``, or raise an error naming it."""
    import pyarrow
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(file)
    except pyarrow.ArrowException as error:
        raise StudyDataError(f"{file.name}: could not read as parquet: {error}") from error


def _read_row_group(piece: tuple[Path, int, int], columns: list[str]) -> pd.DataFrame:
    """Read one row group, its rows numbered from 1 within its file.

    Columns the file lacks are taken from its Hive partition folders.
    """
    file, group, first = piece
    parquet = _parquet(file)
    stored = parquet.schema_arrow.names
    partition = {key: value for key, value in _partition_values(file).items() if key not in stored}
    validate.require_columns(pd.DataFrame(columns=[*stored, *partition]), columns)
    read = [column for column in columns if column in stored]
    frame = parquet.read_row_group(group, columns=read).to_pandas()
    frame.index = pd.RangeIndex(first + 1, first + 1 + len(frame))
    return frame.assign(**{key: partition[key] for key in columns if key in partition})


def _csv_blocks(files: list[Path]) -> list[tuple[Path, int, int | None]]:
    """List (file, first byte, end byte) of each 64 MB block; a gzipped file is one block."""
    pieces = []
    for file in files:
        size = file.stat().st_size
        if file.name.lower().endswith(".gz") or size <= BLOCK:
            pieces.append((file, 0, None))
        else:
            pieces += [(file, start, start + BLOCK) for start in range(0, size, BLOCK)]
    return pieces


def _read_csv_block(
    piece: tuple[Path, int, int | None], columns: list[str], ids: Sequence[str]
) -> pd.DataFrame:
    """Read one block of a CSV file strictly (``ids`` as text).

    The block's rows are the lines that start in it, numbered from 1 within the block (a
    whole file: within the file). Files read out of core must be UTF-8.
    """
    file, start, end = piece
    source = file.name if end is None else f"{file.name}, block at byte {start}"
    lines = io.StringIO(decode(_block(file, start, end), source, fallback=False), newline="")
    if start:  # the header is at the top of the file
        with file.open(encoding="utf-8-sig", errors="replace", newline="") as head:
            layout = read_layout(head, source=file.name)
        layout = dataclasses.replace(layout, line=0)
    else:
        layout = read_layout(lines, source=source)
    frame = to_frame(parse(lines, source=source, layout=layout), source=source, text_columns=ids)
    validate.require_columns(frame, columns)
    return frame[columns]


def _block(file: Path, start: int, end: int | None) -> bytes:
    """Return the bytes of the lines that start in ``[start, end)``.

    With ``end`` None: the whole file, decompressed if gzipped.
    """
    if end is None:
        return content(file)
    with file.open("rb") as handle:
        handle.seek(max(start - 1, 0))
        if start and handle.read(1) != b"\n":
            handle.readline()  # the line under way belongs to the block before
        block = handle.read(max(end - handle.tell(), 0))
        return block if block.endswith(b"\n") or not block else block + handle.readline()


@dataclasses.dataclass(frozen=True)
class _Columns:
    """The columns read out of core, by role."""

    site: str
    outcome: str
    treatment: str
    covariates: tuple[str, ...]
    moderators: tuple[str, ...]
    levels: tuple[str, ...]
    cluster: str | None
    family: str
    treatment_levels: Mapping[object, int] | None

    @property
    def ids(self) -> tuple[str, ...]:
        """The id columns, read as text: site, cluster and levels."""
        return (self.site, *([self.cluster] if self.cluster else []), *self.levels)

    @property
    def all(self) -> list[str]:
        """Every column read."""
        return [self.outcome, self.treatment, *self.covariates, *self.moderators, *self.ids]


class _Partition(NamedTuple):
    """One partition's sums (or all of them, added up)."""

    sums: pd.DataFrame  # by site (Gaussian), or counts by pattern (binary)
    site_values: pd.DataFrame  # the distinct (site, moderators, levels) rows
    clusters: pd.DataFrame | None  # by site and cluster
    rows_read: int
    drops: list[Drop]


def _partition_sums(
    frame: pd.DataFrame, where: str, roles: _Columns, drop_missing: bool
) -> _Partition:
    """Validate one partition and sum it by site (and by site and cluster), or count it.

    Gaussian records are summed, binary records counted by pattern (:func:`_pattern_counts`).
    Errors and drops name ``where`` (the file and partition) and the rows, as numbered by the
    reader; the drops include the empty rows the reader skipped.
    """
    site, outcome, treatment = roles.site, roles.outcome, roles.treatment
    binary = roles.family == "binomial"
    try:
        values = {
            column: validate.numeric_column(frame, column, booleans=binary and column == outcome)
            for column in (outcome, *roles.covariates, *roles.moderators)
        }
        values[treatment] = validate.treatment_column(frame, treatment, roles.treatment_levels)
        if binary:
            validate.require_binary(frame, outcome, values[outcome])
        labels = validate.as_labels(frame[site])
        ids = {column: validate.as_labels(frame[column]) for column in roles.ids[1:]}
        keep, drops = validate.finite_rows(
            frame, labels, site, values, drop_missing=drop_missing, ids=ids
        )
    except StudyDataError as error:
        raise StudyDataError(f"{where}: {error}") from error
    empty = frame.attrs.get("empty_rows", ())
    if empty:
        drops.insert(0, Drop(reason="empty row (no values)", rows=tuple(map(str, empty))))
    values = {column: value[keep] for column, value in values.items()}
    values |= {column: labels.to_numpy()[keep] for column, labels in ids.items()}
    sites = labels[keep].to_numpy()
    site_values = pd.DataFrame(
        {site: sites} | {column: values[column] for column in (*roles.moderators, *roles.levels)}
    )
    if binary:
        sums, clusters = _pattern_counts(values, sites, roles, where), None
    else:
        sums, clusters = _gaussian_sums(values, sites, roles)
    return _Partition(
        sums=sums,
        site_values=site_values.drop_duplicates(),
        clusters=clusters,
        rows_read=len(frame) + len(empty),
        drops=[Drop(reason=f"{drop.reason} ({where})", rows=drop.rows) for drop in drops],
    )


def _combine(first: _Partition, second: _Partition, roles: _Columns) -> _Partition:
    """Add up the sums of two runs of partitions, ``first`` before ``second``.

    Sites (and patterns) keep their order of first appearance.
    """
    sums = pd.concat([first.sums, second.sums])
    sums = sums.groupby(level=list(range(sums.index.nlevels)), sort=False).sum()
    if roles.family == "binomial":
        _require_few_patterns(len(sums), roles, "the partitions together")
    clusters = [part.clusters for part in (first, second) if part.clusters is not None]
    return _Partition(
        sums=sums,
        site_values=pd.concat([first.site_values, second.site_values]).drop_duplicates(),
        clusters=pd.concat(clusters).groupby(level=[0, 1]).sum() if clusters else None,
        rows_read=first.rows_read + second.rows_read,
        drops=first.drops + second.drops,
    )


def _gaussian_sums(
    values: dict[str, np.ndarray], sites: np.ndarray, roles: _Columns
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Sum one partition's records by site, and by site and cluster when clustered."""
    y, t, covariates = values[roles.outcome], values[roles.treatment], roles.covariates
    arm = np.column_stack([1 - t, t])
    features = {
        "n_control": arm[:, 0],
        "n_treated": arm[:, 1],
        "y_control": y * arm[:, 0],
        "y_treated": y * arm[:, 1],
        "yy_control": y**2 * arm[:, 0],
        "yy_treated": y**2 * arm[:, 1],
    }
    for name in covariates:
        x = values[name]
        features[f"x:{name}"] = x
        features[f"tx:{name}"] = t * x
        features[f"xy:{name}"] = x * y
        for other in covariates:
            features[f"xx:{name}:{other}"] = x * values[other]
    table = pd.DataFrame(features, index=sites)
    clusters = None
    if roles.cluster:
        by_cluster = table[[*CLUSTER_SUMS, *(f"x:{name}" for name in covariates)]]
        clusters = by_cluster.groupby([sites, values[roles.cluster]]).sum()
    return table.groupby(level=0, sort=False).sum(), clusters


def _pattern_counts(
    values: dict[str, np.ndarray], sites: np.ndarray, roles: _Columns, where: str
) -> pd.DataFrame:
    """Count one partition's binary records and events by site, arm, covariates and cluster.

    Refuse more than :data:`MAX_PATTERNS` patterns (continuous covariates, say).
    """
    keys = [sites, values[roles.treatment].astype(np.int8)]
    keys += [
        values[name] for name in (*roles.covariates, *([roles.cluster] if roles.cluster else []))
    ]
    records = pd.DataFrame({"trials": 1.0, "events": values[roles.outcome]}, index=sites)
    counts = records.groupby(keys, sort=False).sum()
    _require_few_patterns(len(counts), roles, where)
    return counts


def _require_few_patterns(n_patterns: int, roles: _Columns, where: str) -> None:
    """Refuse binary records with more covariate patterns than :data:`MAX_PATTERNS`."""
    if n_patterns > MAX_PATTERNS:
        by = ", ".join(
            ["site", "arm", *roles.covariates, *([roles.cluster] if roles.cluster else [])]
        )
        raise StudyDataError(
            f"{where}: binary records read out of core are counted by pattern ({by}), and "
            f"these have more than {MAX_PATTERNS:,} patterns: the covariates "
            f"(--covariates) must take few distinct values (e.g. 0/1, grade); read the records "
            f"in memory (--engine memory) for continuous covariates"
        )


def _statistics(summed: _Partition, roles: _Columns, units: str) -> RecordStatistics:
    """Build the site statistics, covariates centred, from the summed partitions."""
    sums, covariates = summed.sums, roles.covariates
    arm_n = sums[["n_control", "n_treated"]].to_numpy()
    site_names = tuple(str(label) for label in sums.index)
    _require_sites(arm_n, site_names)
    arm_sum = sums[["y_control", "y_treated"]].to_numpy()
    arm_squares = sums[["yy_control", "yy_treated"]].to_numpy()
    arm_mean = arm_sum / arm_n
    arm_variance = (arm_squares - arm_n * arm_mean**2) / (arm_n - 1)
    n_covariates = len(covariates)

    def block(prefix: str) -> np.ndarray:
        return (
            sums[[f"{prefix}:{name}" for name in covariates]]
            .to_numpy()
            .reshape(len(sums), n_covariates)
        )

    site_x, site_tx, site_xy = block("x"), block("tx"), block("xy")
    site_xx = (
        sums[[f"xx:{a}:{b}" for a in covariates for b in covariates]]
        .to_numpy()
        .reshape(len(sums), n_covariates, n_covariates)
    )
    n = arm_n.sum(axis=1)
    treated = arm_n[:, 1]
    total = n.sum()
    x_mean = site_x.sum(axis=0) / total
    y_sum = arm_sum.sum(axis=1)
    y_mean = y_sum.sum() / total
    # centre: x~ = x - xbar
    zx = np.stack([site_x - n[:, None] * x_mean, site_tx - treated[:, None] * x_mean], 1)
    centred_xx = site_xx - (
        site_x[:, :, None] * x_mean[None, None, :]
        + x_mean[None, :, None] * site_x[:, None, :]
        - n[:, None, None] * np.outer(x_mean, x_mean)
    )
    centred_xy = site_xy - x_mean * y_sum[:, None]
    site_yy = arm_squares.sum(axis=1)
    stats = SiteStatistics(
        n=n,
        zz=np.stack([np.stack([n, treated], -1), np.stack([treated, treated], -1)], -2),
        zx=zx,
        zy=np.stack([y_sum, arm_sum[:, 1]], -1),
        xx=centred_xx.sum(axis=0),
        xy=centred_xy.sum(axis=0),
        yy=float(site_yy.sum()),
        clusters=None
        if summed.clusters is None
        else _cluster_statistics(summed.clusters, site_names, covariates, x_mean),
        site_xx=centred_xx,
        site_xy=centred_xy,
        site_yy=site_yy,
    )
    moderators, levels = _site_columns(summed.site_values, roles, site_names)
    control_treated = np.stack([arm_sum[:, 0].sum(), arm_sum[:, 1].sum()])
    pooled_arm_n = arm_n.sum(axis=0)
    pooled_within = arm_squares.sum() - np.sum(control_treated**2 / pooled_arm_n)
    x_variance = (site_xx.sum(axis=0).diagonal() - total * x_mean**2) / (total - 1)
    return RecordStatistics(
        site=site_names,
        stats=stats,
        arm_n=arm_n,
        arm_mean=arm_mean,
        arm_variance=arm_variance,
        covariate_names=covariates,
        covariate_mean=x_mean,
        covariate_sd=np.sqrt(x_variance),
        outcome_mean=float(y_mean),
        outcome_total_sd=float(np.sqrt((site_yy.sum() - total * y_mean**2) / (total - 1))),
        outcome_sd=float(np.sqrt(pooled_within / (total - 2))),
        accounting=DataAccounting(rows_read=summed.rows_read, drops=tuple(summed.drops)),
        moderators=moderators,
        moderator_names=roles.moderators,
        levels=levels,
        units=units,
    )


def _counts(summed: _Partition, roles: _Columns, units: str) -> PatternCounts:
    """Build the pattern counts of binary records from the counted partitions."""
    patterns = summed.sums.index
    site_labels = patterns.get_level_values(0)
    site_names = tuple(str(label) for label in pd.unique(site_labels))
    site_index = pd.Index(site_names).get_indexer(site_labels).astype(np.int32)
    treatment = patterns.get_level_values(1).to_numpy(dtype=np.int8)
    trials = summed.sums["trials"].to_numpy()
    arm_n = np.bincount(2 * site_index + treatment, trials, 2 * len(site_names))
    _require_sites(arm_n.reshape(-1, 2), site_names)
    moderators, levels = _site_columns(summed.site_values, roles, site_names)
    n_covariates = len(roles.covariates)
    covariates = [patterns.get_level_values(2 + k) for k in range(n_covariates)]
    return PatternCounts(
        site=site_names,
        site_index=site_index,
        treatment=treatment,
        outcome=summed.sums["events"].to_numpy(),
        trials=trials,
        covariates=np.array(covariates, dtype=float).T.reshape(len(trials), n_covariates),
        covariate_names=roles.covariates,
        cluster=patterns.get_level_values(-1).to_numpy(dtype=str) if roles.cluster else None,
        moderators=moderators,
        moderator_names=roles.moderators,
        levels=levels,
        accounting=DataAccounting(rows_read=summed.rows_read, drops=tuple(summed.drops)),
        units=units,
    )


def _require_sites(arm_n: np.ndarray, site_names: tuple[str, ...]) -> None:
    """Refuse sites with fewer than 2 records in an arm, and fewer than 2 sites."""
    incomplete = [
        name for name, n in zip(site_names, arm_n, strict=True) if n.min() < validate.MIN_PER_ARM
    ]
    if incomplete:
        raise StudyDataError(
            f"{len(incomplete)} site(s) have fewer than {validate.MIN_PER_ARM} records in an "
            f"arm: {describe_labels(incomplete)}"
        )
    validate.require_sites(len(site_names), "site")


def _site_columns(
    site_values: pd.DataFrame, roles: _Columns, site_names: tuple[str, ...]
) -> tuple[np.ndarray, tuple]:
    """Return the moderators and levels from each site's distinct values in the partitions."""
    return validate.site_columns(
        {column: site_values[column].to_numpy() for column in site_values.columns},
        roles.moderators,
        roles.levels,
        pd.Index(site_names).get_indexer(site_values[roles.site]),
        site_names,
    )


def _cluster_statistics(
    clusters: pd.DataFrame, sites: tuple[str, ...], covariates: tuple[str, ...], x_mean: np.ndarray
) -> ClusterStatistics:
    """Return the per-cluster sums, covariates centred, in site order and then cluster id."""
    position = pd.Index(sites).get_indexer(clusters.index.get_level_values(0))
    order = np.argsort(position, kind="stable")  # (clusters come sorted by site and cluster id)
    clusters, position = clusters.iloc[order], position[order]
    n = clusters["n_control"].to_numpy() + clusters["n_treated"].to_numpy()
    x = clusters[[f"x:{name}" for name in covariates]].to_numpy().reshape(len(n), len(covariates))
    return ClusterStatistics(
        site=position.astype(np.int32),
        n=n,
        treated=clusters["n_treated"].to_numpy(),
        y=clusters["y_control"].to_numpy() + clusters["y_treated"].to_numpy(),
        x=x - n[:, None] * x_mean,
    )
