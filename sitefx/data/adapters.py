"""Read studies from files, folders and pandas frames into canonical data.

A *study folder* holds one data file and a ``study.toml`` that names the column roles and
describes the study (title, units, source, citation, license; see
:mod:`sitefx.data.study_file`). Data files may be CSV or TSV (optionally gzipped, read strictly
by :mod:`sitefx.data.text`), Parquet, Stata ``.dta`` or SPSS ``.sav`` (these two need the
``stata`` extra, pyreadstat). Nothing is unpickled or evaluated: TOML is parsed with
:mod:`tomllib`, data with pyarrow, pyreadstat or the csv module.
"""

import dataclasses
import stat
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sitefx.backend import optional_module
from sitefx.data import validate
from sitefx.data.labels import column_names
from sitefx.data.schema import Drop, StudyData
from sitefx.data.sources import Source
from sitefx.data.study_file import read_study_file
from sitefx.data.text import read_delimited
from sitefx.errors import SitefxInputError, StudyDataError, did_you_mean

KIND_ROLES = {
    "summaries": ("estimate", "se"),
    "individual": ("outcome", "treatment"),
    "arms": ("events_treated", "n_treated", "events_control", "n_control"),
}
# Optional roles and the data kinds that use them (site and drop_missing apply to all).
OPTIONAL_ROLES = {
    "n": {"summaries"},
    "moderators": {"summaries", "individual"},
    "levels": {"summaries", "individual"},
    "covariates": {"individual"},
    "cluster": {"individual"},
    "treatment_levels": {"individual"},
    "family": {"individual"},
    "wave": {"individual"},
    "person": {"individual"},
    "interruption": {"individual"},
    "drop_incomplete_sites": {"individual"},
}
UNUSED_ROLE_HINTS = {
    ("summaries", "covariates"): "site summaries have no person-level covariates "
    "(--covariates); give site-level columns as moderators (--moderators)",
    ("arms", "family"): "arm counts are binary outcomes already; leave --family out",
}
# The one pair of roles that may name the same column: the people per site, both weighting
# the person-weighted average and as a moderator (do larger studies find smaller effects?).
SHAREABLE = {"n", "moderators"}
SHARED_ROLE_HINTS = {
    ("site", "levels"): "a level groups several sites, and the site column has one site per "
    "group; give the column of the level above the sites (e.g. district)",
}
KIND_NAMES = {
    "summaries": "site summaries",
    "individual": "individual records",
    "arms": "arm counts",
    "statistics": "records summed or counted out of core",
}
READERS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".dta": "stata",
    ".sav": "spss",
    ".zsav": "spss",
}
REFUSED = {".pkl", ".pickle", ".joblib", ".npy", ".npz", ".rds", ".rdata"}
ROLE_TYPES = {
    str | None: "a column name",
    bool: "true or false",
    tuple[str, ...]: "a list of column names",
    Mapping[str, int] | None: "a table of treatment values, e.g. {small = 1, regular = 0}",
}
# Roles that name columns of the data (``family`` and the options do not).
COLUMN_ROLES = {
    "site", "estimate", "se", "n", "outcome", "treatment", "events_treated", "n_treated",
    "events_control", "n_control", "covariates", "moderators", "levels", "cluster", "wave",
    "person", "interruption",
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Roles:
    """Which column plays which part, and how to treat invalid rows.

    Give ``estimate`` and ``se`` for site summaries, or ``outcome`` and ``treatment`` for
    individual records; ``site`` always. Roles are checked when made: each value has its type
    (a column name, a list of them, true or false), and a column plays one part.

    Attributes
    ----------
    site : str, optional
        Column of site ids (every data kind).
    estimate, se : str, optional
        Site summaries: columns of each site's estimated effect and its standard error.
    n : str, optional
        Site summaries: column of each site's sample size (may also be a moderator).
    outcome, treatment : str, optional
        Individual records: columns of the outcome and of the treatment (0/1, boolean, or
        two levels read with ``treatment_levels``).
    events_treated, n_treated, events_control, n_control : str, optional
        Arm counts: columns of events and participants in each arm.
    covariates : tuple of str, default ()
        Individual records: person-level covariates.
    moderators : tuple of str, default ()
        Site-level columns for a meta-regression of the site effects.
    levels : tuple of str, default ()
        Columns of nesting levels above the sites, outermost first (e.g. district).
    cluster : str, optional
        Individual records: column of clusters within sites (e.g. classrooms).
    treatment_levels : mapping of str to int, optional
        How to read a treatment column with two other values, e.g. ``{"small": 1,
        "regular": 0}``.
    family : {"gaussian", "binomial"}, optional
        Individual records: the outcome's family; ``None`` means gaussian.
    wave, person : str, optional
        Repeated measures: columns of measurement times and person ids (both or neither);
        the outcome becomes each person's growth rate.
    interruption : str, optional
        Repeated measures: numeric column, constant within a person, of the time (in the
        units of ``wave``) at which the person's line is interrupted (the programme began);
        the data become a comparative interrupted time series (observational), the effect
        the treated persons' step off their trend there beyond the comparison persons'.
    drop_missing : bool, default False
        Drop rows with missing or non-finite values (reported) instead of refusing them.
    drop_incomplete_sites : bool, default False
        Individual records: drop sites with fewer than 2 records in an arm.

    Raises
    ------
    StudyDataError
        If a role has the wrong type, ``family`` is unknown, or a column plays two parts.

    Examples
    --------
    >>> Roles(site="school", outcome="y", treatment="y")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    StudyDataError: column 'y' is given two roles (outcome and treatment)
    """

    site: str | None = None
    estimate: str | None = None
    se: str | None = None
    n: str | None = None
    outcome: str | None = None
    treatment: str | None = None
    events_treated: str | None = None
    n_treated: str | None = None
    events_control: str | None = None
    n_control: str | None = None
    covariates: tuple[str, ...] = ()
    moderators: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    cluster: str | None = None
    treatment_levels: Mapping[str, int] | None = None
    family: str | None = None
    wave: str | None = None
    person: str | None = None
    interruption: str | None = None
    drop_missing: bool = False
    drop_incomplete_sites: bool = False

    def __post_init__(self) -> None:
        """Check each role's type, the family, and that no column plays two parts."""
        for role in dataclasses.fields(self):
            value = getattr(self, role.name)
            if role.name == "family":  # not a column: checked below
                continue
            if role.type == str | None and value is not None:
                valid = isinstance(value, str) and bool(value.strip())
            elif role.type is bool:
                valid = isinstance(value, bool)
            elif role.type == tuple[str, ...]:
                valid = isinstance(value, tuple) and all(
                    isinstance(name, str) and name.strip() for name in value
                )
            else:
                valid = value is None or isinstance(value, Mapping)
            if not valid:
                expected = ROLE_TYPES[role.type]
                raise StudyDataError(f"'{role.name}' must be {expected}; got {value!r}")
        if self.family not in (None, *validate.FAMILIES):
            raise StudyDataError(
                f"family must be one of {', '.join(validate.FAMILIES)}; got '{self.family}'"
            )
        self._refuse_shared_columns()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object], *, source: str = "") -> "Roles":
        """Build roles from a mapping (``study.toml``'s ``[roles]``, keyword arguments).

        ``None`` values are ignored; ``covariates``, ``moderators`` and ``levels`` may be
        comma-separated strings. An unknown role, a value of the wrong type or a column given
        two roles is an error (prefixed with ``source``, e.g. the file, when given).

        Parameters
        ----------
        mapping : mapping of str to object
            Role names to values.
        source : str, default ""
            Where the mapping comes from, prefixed to messages (e.g. the ``study.toml`` path).

        Returns
        -------
        Roles
            The checked roles.

        Raises
        ------
        StudyDataError
            If a role is unknown (with a did-you-mean), has the wrong type, or a column is
            given two roles.

        Examples
        --------
        >>> Roles.from_mapping({"site": "school", "covariates": "age, female"}).covariates
        ('age', 'female')
        """
        prefix = f"{source}: " if source else ""
        values = {key: value for key, value in mapping.items() if value is not None}
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise StudyDataError(
                    f"{prefix}unknown role '{key}'{did_you_mean(key, names)}; roles are "
                    f"{', '.join(names)}"
                )
        for key in ("covariates", "moderators", "levels"):
            columns = values.get(key, ())
            if isinstance(columns, str):
                columns = [name.strip() for name in columns.split(",") if name.strip()]
            values[key] = tuple(columns) if isinstance(columns, list | tuple) else columns
        try:
            return cls(**values)
        except StudyDataError as error:
            raise StudyDataError(f"{prefix}{error}") from error

    def updated(self, **overrides: object) -> "Roles":
        """Return these roles with every non-``None`` override applied.

        Parameters
        ----------
        **overrides : object
            Role names to new values (as for :meth:`from_mapping`); ``None`` keeps the
            current value.

        Returns
        -------
        Roles
            New, checked roles.

        Raises
        ------
        StudyDataError
            As for :meth:`from_mapping`.

        Examples
        --------
        >>> Roles(site="school", estimate="d", se="se").updated(se="se2", n=None).se
        'se2'
        """
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        given = {key: value for key, value in overrides.items() if value is not None}
        return Roles.from_mapping(current | given)

    @property
    def id_columns(self) -> tuple[str, ...]:
        """Columns holding ids (site, cluster, person, levels), read as text."""
        ids = (self.site, self.cluster, self.person, *(self.levels or ()))
        return tuple(column for column in ids if column is not None)

    @property
    def kind(self) -> str:
        """Return ``summaries``, ``individual`` or ``arms``, from which roles are given.

        Raises
        ------
        StudyDataError
            If roles of two kinds are mixed, none is given, a kind's required role is
            missing, or there is no ``site``.
        """
        given = {
            kind: [getattr(self, name) is not None for name in names]
            for kind, names in KIND_ROLES.items()
        }
        chosen = [kind for kind, flags in given.items() if any(flags)]
        if len(chosen) > 1:
            raise StudyDataError(
                f"column roles of different data kinds given ({' and '.join(chosen)}): use "
                "--estimate/--se (site summaries), --outcome/--treatment (individual records) "
                "or --events-treated/--n-treated/--events-control/--n-control (arm counts), "
                "not a mix"
            )
        if not chosen:
            raise StudyDataError(
                "no column roles given: use --estimate/--se/--site for site summaries, "
                "--outcome/--treatment/--site for individual records, or "
                "--events-treated/--n-treated/--events-control/--n-control/--site for arm counts"
            )
        (kind,) = chosen
        if not all(given[kind]):
            missing = [n for n, flag in zip(KIND_ROLES[kind], given[kind], strict=True) if not flag]
            raise StudyDataError(f"{KIND_NAMES[kind]} also need: {', '.join(missing)}")
        if self.site is None:
            raise StudyDataError("no site column given (--site)")
        return kind

    def apply(self, frame: pd.DataFrame, *, units: str = "") -> StudyData:
        """Validate ``frame`` under these roles into canonical data.

        Parameters
        ----------
        frame : pandas.DataFrame
            The data, its index naming rows in messages; the empty rows a reader skipped
            (``frame.attrs["empty_rows"]``) are counted as read and dropped.
        units : str, default ""
            The outcome's (or effects') units, for reports.

        Returns
        -------
        SiteSummaries, ArmSummaries or IndividualRecords
            The validated data of :attr:`kind` (growth rates with ``wave`` and ``person``),
            from :mod:`sitefx.data.validate`.

        Raises
        ------
        StudyDataError
            If a role does not apply to the data kind, or validation fails.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"school": ["A", "B"], "d": [0.1, 0.3], "se": [0.1, 0.2]})
        >>> Roles(site="school", estimate="d", se="se").apply(frame).estimate.tolist()
        [0.1, 0.3]
        """
        data = self._validated(frame, units)
        empty = frame.attrs.get("empty_rows", ())
        if not empty:
            return data
        drop = Drop(reason="empty row (no values)", rows=tuple(map(str, empty)))
        return dataclasses.replace(data, accounting=data.accounting.including(drop))

    def _validated(self, frame: pd.DataFrame, units: str) -> StudyData:
        self._refuse_unused_roles()
        if self.kind == "summaries":
            return validate.site_summaries(
                frame,
                site=self.site,
                estimate=self.estimate,
                se=self.se,
                n=self.n,
                moderators=self.moderators,
                levels=self.levels,
                drop_missing=self.drop_missing,
                units=units,
            )
        if self.kind == "arms":
            return validate.arm_summaries(
                frame,
                site=self.site,
                events_treated=self.events_treated,
                n_treated=self.n_treated,
                events_control=self.events_control,
                n_control=self.n_control,
                drop_missing=self.drop_missing,
            )
        if (self.wave is None) != (self.person is None):
            raise StudyDataError(
                "repeated measures need both a wave column (--wave) and a person id (--person)"
            )
        records = {
            "outcome": self.outcome,
            "treatment": self.treatment,
            "site": self.site,
            "covariates": self.covariates,
            "moderators": self.moderators,
            "levels": self.levels,
            "cluster": self.cluster,
            "treatment_levels": self.treatment_levels,
            "drop_missing": self.drop_missing,
            "drop_incomplete_sites": self.drop_incomplete_sites,
        }
        if self.interruption is not None and self.wave is None:
            raise StudyDataError(
                "an interrupted time series (--interruption) needs repeated measures: a wave "
                "column (--wave) and a person id (--person)"
            )
        if self.wave is None:
            family = self.family or "gaussian"
            return validate.individual_records(frame, **records, family=family, units=units)
        if self.family not in (None, "gaussian"):
            raise StudyDataError(
                "growth over waves (--wave) needs a continuous outcome; leave out --family "
                f"{self.family}"
            )
        return validate.growth_records(
            frame,
            person=self.person,
            wave=self.wave,
            interruption=self.interruption,
            **records,
            units=units,
        )

    def _refuse_shared_columns(self) -> None:
        """Refuse the same column in two roles: a column plays one part."""
        given = [
            (role.name, column)
            for role in dataclasses.fields(self)
            if role.name in COLUMN_ROLES
            for column in _as_tuple(getattr(self, role.name))
        ]
        for (role, column), count in Counter(given).items():
            if count > 1:
                raise StudyDataError(f"'{role}' names column '{column}' twice")
        roles_of = {}
        for role, column in given:
            first = roles_of.setdefault(column, role)
            if first != role and {first, role} != SHAREABLE:
                hint = SHARED_ROLE_HINTS.get((first, role), "a column plays one part")
                raise StudyDataError(
                    f"column '{column}' is given two roles ({first} and {role}); {hint}"
                )

    def _refuse_unused_roles(self) -> None:
        """Refuse a role the data kind does not use, never silently ignoring it."""
        kind = self.kind
        unused = [
            name
            for name, kinds in OPTIONAL_ROLES.items()
            if kind not in kinds and getattr(self, name) not in (None, (), False)
        ]
        if unused:
            name = unused[0]
            flag = f"--{name.replace('_', '-')}"
            raise StudyDataError(
                UNUSED_ROLE_HINTS.get(
                    (kind, name),
                    f"'{name}' does not apply to {KIND_NAMES[kind]}; leave it out ({flag})",
                )
            )


@dataclass(frozen=True, kw_only=True)
class Study:
    """A named study: validated data plus its description.

    Attributes
    ----------
    name : str
        Short name: the folder's (or ``name`` in ``study.toml``), a file's stem, or
        ``"data"`` for a frame.
    data : SiteSummaries, ArmSummaries or IndividualRecords
        The validated data.
    roles : Roles
        The column roles the data were read with.
    metadata : dict
        Everything in ``study.toml`` besides the roles (title, units, source, ...); empty
        when not loaded from a folder.
    source : Source or None
        The path the data were loaded from and its files' digests (None for a frame): a fit
        keeps it, so that it can be refitted from the same, unchanged files.

    Examples
    --------
    >>> study = load("studies/eight_schools")
    >>> study.name, study.title, study.observational
    ('eight_schools', 'SAT coaching experiments in eight schools', False)
    """

    name: str
    data: StudyData
    roles: Roles
    metadata: dict = field(default_factory=dict)
    source: Source | None = None

    @property
    def title(self) -> str:
        """The study's title from ``study.toml``, else its name."""
        return str(self.metadata.get("title", self.name))

    @property
    def observational(self) -> bool:
        """Whether ``study.toml`` says ``observational = true``, or the design is.

        That is, treatment was not randomized (a comparison-group or quasi-experimental
        design). A comparative interrupted time series (``interruption``) always is.
        """
        return (
            bool(self.metadata.get("observational", False)) or self.roles.interruption is not None
        )

    @property
    def design(self) -> str:
        """The design ``study.toml`` names, else that of an interrupted series, else ""."""
        default = "comparative interrupted time series" if self.roles.interruption else ""
        return str(self.metadata.get("design", default))


def read_table(path: str | Path, *, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a data file into a frame whose index numbers the data rows from 1.

    Text files are read strictly (see :mod:`sitefx.data.text`): the delimiter (comma,
    semicolon, tab or bar) is read off the header line, a row with more or fewer fields than
    the header is an error naming its line, a file that is not UTF-8 is read as Windows-1252
    (Latin-1) with a warning, and ``text_columns`` (ids: sites, clusters, people, levels) are
    read as written, so ``007`` stays ``007``. Rows with no values are skipped; their numbers
    are in ``frame.attrs["empty_rows"]``. In every format, column names are read in Unicode
    NFC without surrounding spaces, two columns of one name are an error, and columns without
    a name are left out.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv``, ``.tsv`` (optionally ``.gz``), ``.parquet``/``.pq``, Stata ``.dta`` or
        SPSS ``.sav``/``.zsav`` file.
    text_columns : sequence of str, default ()
        Id columns of a text file to keep as written.

    Returns
    -------
    pandas.DataFrame
        The data, indexed by data row number from 1.

    Raises
    ------
    StudyDataError
        If the file type is refused (pickles, R data) or unsupported, the path is not a
        regular file, the reader fails, or there are no data rows.

    Examples
    --------
    >>> frame = read_table("studies/eight_schools/eight_schools.csv")
    >>> frame.index[0]
    1
    """
    path = Path(path)
    suffix = (
        "".join(path.suffixes[-2:]).lower()
        if path.name.lower().endswith(".gz")
        else path.suffix.lower()
    )
    if suffix in REFUSED:
        raise StudyDataError(
            f"{path.name}: {suffix} files are not read (they can run code or are R-specific); "
            f"save the data as CSV, Parquet, Stata or SPSS"
        )
    reader = READERS.get(suffix)
    if reader is None:
        raise StudyDataError(
            f"{path.name}: unsupported file type '{suffix}'; use one of {', '.join(READERS)}"
        )
    require_file(path)
    try:
        frame = _read(path, reader, text_columns)
    except SitefxInputError:  # e.g. a reader's optional module is not installed
        raise
    except Exception as error:  # each reader raises its own family of errors
        reason = " ".join(str(error).split())  # one line
        raise StudyDataError(f"{path.name}: could not read as {reader}: {reason}") from error
    if frame.empty:
        empty = len(frame.attrs.get("empty_rows", ()))
        raise StudyDataError(
            f"{path.name}: no data rows" + (f" ({empty} empty rows)" if empty else "")
        )
    return frame


def require_file(path: Path) -> None:
    """Check that ``path`` is a regular file: not a folder, a pipe or a device.

    Reading a pipe or a device could block forever.

    Parameters
    ----------
    path : pathlib.Path
        The data file.

    Raises
    ------
    StudyDataError
        If ``path`` does not exist or is not a regular file.

    Examples
    --------
    >>> require_file(Path("studies/eight_schools"))
    Traceback (most recent call last):
    ...
    sitefx.errors.StudyDataError: studies/eight_schools: a folder, not a data file
    """
    if not path.exists():
        raise StudyDataError(f"{path}: no such file")
    if path.is_dir():
        raise StudyDataError(f"{path}: a folder, not a data file")
    if not stat.S_ISREG(path.stat().st_mode):
        raise StudyDataError(
            f"{path}: not a regular file (a pipe, socket or device); save the data to a file"
        )


def _read(path: Path, reader: str, text_columns: Sequence[str]) -> pd.DataFrame:
    if reader in {"csv", "tsv"}:
        delimiter = "\t" if reader == "tsv" else None
        return read_delimited(path, delimiter=delimiter, text_columns=text_columns)
    if reader == "parquet":
        import pyarrow.parquet as pq

        frame = pq.ParquetFile(path).read().to_pandas()  # keeps two columns of one name
        if any(name is not None for name in frame.index.names):  # e.g. set_index("school")
            frame = frame.reset_index()
    else:
        pyreadstat = optional_module("pyreadstat", f"reading {path.name} ({reader})")
        read = pyreadstat.read_dta if reader == "stata" else pyreadstat.read_sav
        frame, _meta = read(str(path))
    names = column_names(frame.columns, path.name)
    frame = frame.set_axis(names, axis="columns").loc[:, [bool(name) for name in names]]
    return frame.set_axis(pd.RangeIndex(1, len(frame) + 1), axis="index")


def load_study(folder: str | Path, **overrides: object) -> Study:
    """Load a study folder: a data file plus ``study.toml``.

    ``study.toml`` is checked by :func:`sitefx.data.study_file.read_study_file`.

    Parameters
    ----------
    folder : str or pathlib.Path
        Folder holding ``study.toml``.
    **overrides : object
        Role fields (see :class:`Roles`) that replace the ones in ``study.toml``; ``None``
        keeps the file's.

    Returns
    -------
    Study
        The validated data with the study's name and metadata.

    Raises
    ------
    StudyDataError
        If ``study.toml``, the roles, the data file or the data are invalid.

    Examples
    --------
    >>> study = load_study("studies/eight_schools")
    >>> study.data.site[:2]
    ('A', 'B')
    """
    folder = Path(folder)
    spec = read_study_file(folder)
    roles = Roles.from_mapping(spec.roles, source=str(spec.path)).updated(**overrides)
    frame = read_table(spec.data, text_columns=roles.id_columns)
    return Study(
        name=spec.metadata.get("name", folder.name),
        data=roles.apply(frame, units=spec.metadata.get("units", "")),
        roles=roles,
        metadata=spec.metadata,
        source=Source.of(folder),
    )


def load(source: str | Path | pd.DataFrame, **roles: object) -> Study:
    """Load a study from a study folder, a data file or a pandas DataFrame.

    Parameters
    ----------
    source : path or DataFrame
        A study folder (with ``study.toml``), a data file, or a frame.
    **roles : object
        Column roles and options (see :class:`Roles`); for a study folder they override
        ``study.toml``.

    Returns
    -------
    Study
        The validated data, named after the folder, the file's stem, or ``"data"`` for a
        frame.

    Raises
    ------
    StudyDataError
        If the roles, the file or the data are invalid.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"school": list("ABC"), "d": [0.1, 0.3, -0.2], "se": [0.1] * 3})
    >>> load(frame, site="school", estimate="d", se="se").data.n_sites
    3
    """
    if isinstance(source, pd.DataFrame):
        study_roles = Roles.from_mapping(roles)
        return Study(name="data", data=study_roles.apply(source), roles=study_roles)
    path = Path(source)
    if path.is_dir():
        return load_study(path, **roles)
    study_roles = Roles.from_mapping(roles)
    return Study(
        name=path.name.split(".")[0],
        data=study_roles.apply(read_table(path, text_columns=study_roles.id_columns)),
        roles=study_roles,
        source=Source.of(path),
    )


def load_historical(source: str | Path, roles: Roles) -> Study:
    """Load historical summaries (estimate + SE per earlier study) to borrow from.

    A study folder as it describes itself; a data file read with the site, estimate, SE and
    (if given) size columns of ``roles``: those of the current summaries, or those named for
    ``sitefx design --historical``.

    Parameters
    ----------
    source : str or pathlib.Path
        A study folder or a data file.
    roles : Roles
        The current data's roles.

    Returns
    -------
    Study

    Raises
    ------
    StudyDataError
        If ``source`` is a data file but the current data are not site summaries, or the
        file does not read as summaries.

    Examples
    --------
    >>> load_historical("studies/eight_schools", Roles()).data.n_sites
    8
    """
    if Path(source).is_dir():
        return load(source)
    if roles.kind != "summaries":
        raise StudyDataError(
            "--historical needs a study folder (data + study.toml naming its estimate and se) "
            "unless the current data are site summaries with the same columns"
        )
    return load(source, site=roles.site, estimate=roles.estimate, se=roles.se, n=roles.n)


def _as_tuple(columns: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if columns is None:
        return ()
    return (columns,) if isinstance(columns, str) else tuple(columns)
