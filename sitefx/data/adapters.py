"""Read studies from files, folders and pandas frames into canonical data.

A *study folder* holds one data file and a ``study.toml`` that names the column roles and
describes the study (title, units, source, citation, license). Data files may be CSV
(optionally gzipped), Parquet, Stata ``.dta`` or SPSS ``.sav``. Nothing is unpickled or
evaluated: TOML is parsed with :mod:`tomllib`, data with pandas/pyarrow/pyreadstat.
"""

import csv
import dataclasses
import gzip
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

from sitefx.data import validate
from sitefx.data.schema import StudyData
from sitefx.errors import DataReadWarning, StudyDataError

STUDY_FILE = "study.toml"
DELIMITERS = (",", ";", "\t", "|")  # the first wins a tie (a one-column file)
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
    "drop_incomplete_sites": {"individual"},
}
UNUSED_ROLE_HINTS = {
    ("summaries", "covariates"): "site summaries have no person-level covariates; give "
    "site-level columns as moderators (--moderators)",
    ("arms", "family"): "arm counts are binary outcomes already; leave --family out",
}
KIND_NAMES = {
    "summaries": "site summaries",
    "individual": "individual records",
    "arms": "arm counts",
    "statistics": "records summed per site (out of core)",
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


@dataclass(frozen=True, kw_only=True)
class Roles:
    """Which column plays which part, and how to treat invalid rows.

    Give ``estimate`` and ``se`` for site summaries, or ``outcome`` and ``treatment`` for
    individual records; ``site`` always.
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
    drop_missing: bool = False
    drop_incomplete_sites: bool = False

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object], *, source: str = "arguments") -> "Roles":
        """Build roles from a mapping (``study.toml``'s ``[roles]``, keyword arguments).

        ``None`` values are ignored; ``covariates``, ``moderators`` and ``levels`` may be
        comma-separated strings.
        """
        values = {key: value for key, value in mapping.items() if value is not None}
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise StudyDataError(f"{source}: unknown role(s) {', '.join(unknown)}")
        for key in ("covariates", "moderators", "levels"):
            names = values.get(key, ())
            if isinstance(names, str):
                names = [name.strip() for name in names.split(",") if name.strip()]
            values[key] = tuple(names)
        return cls(**values)

    def updated(self, **overrides: object) -> "Roles":
        """These roles with every non-``None`` override applied."""
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        given = {key: value for key, value in overrides.items() if value is not None}
        return Roles.from_mapping(current | given, source="overrides")

    @property
    def id_columns(self) -> tuple[str, ...]:
        """Columns holding ids (site, cluster, person, levels), read as text."""
        ids = (self.site, self.cluster, self.person, *(self.levels or ()))
        return tuple(column for column in ids if column is not None)

    @property
    def kind(self) -> str:
        """``summaries``, ``individual`` or ``arms``, from which roles are given."""
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
        """Validate ``frame`` under these roles into canonical data."""
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
            raise StudyDataError("repeated measures need both a wave column and a person id")
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
        if self.wave is None:
            family = self.family or "gaussian"
            return validate.individual_records(frame, **records, family=family, units=units)
        if self.family not in (None, "gaussian"):
            raise StudyDataError("growth over waves needs a continuous (gaussian) outcome")
        return validate.growth_records(
            frame, person=self.person, wave=self.wave, **records, units=units
        )

    def _refuse_unused_roles(self) -> None:
        """A role the data kind does not use is an error, never silently ignored."""
        kind = self.kind
        unused = [
            name
            for name, kinds in OPTIONAL_ROLES.items()
            if kind not in kinds and getattr(self, name) not in (None, (), False)
        ]
        if unused:
            name = unused[0]
            raise StudyDataError(
                UNUSED_ROLE_HINTS.get(
                    (kind, name), f"'{name}' does not apply to {KIND_NAMES[kind]}; leave it out"
                )
            )


@dataclass(frozen=True, kw_only=True)
class Study:
    """A named study: validated data plus its description.

    Attributes
    ----------
    name : str
    data : SiteSummaries or IndividualRecords
    roles : Roles
    metadata : dict
        Everything in ``study.toml`` besides the roles (title, units, source, ...).
    """

    name: str
    data: StudyData
    roles: Roles
    metadata: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.metadata.get("title", self.name))

    @property
    def observational(self) -> bool:
        """True when ``study.toml`` says ``observational = true``: treatment was not
        randomized (a comparison-group or quasi-experimental design)."""
        return bool(self.metadata.get("observational", False))


def read_table(path: str | Path, *, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a data file into a frame whose index numbers the data rows from 1.

    Text files: the delimiter (comma, semicolon, tab or bar) is read off the header line;
    a file that is not UTF-8 is read as Windows-1252 (Latin-1), with a warning;
    ``text_columns`` (ids: sites, clusters, people, levels) are read as written, so ``007``
    stays ``007``.

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
    if not path.is_file():
        raise StudyDataError(f"{path}: no such file")
    try:
        frame = _read(path, reader, text_columns)
    except StudyDataError:
        raise
    except Exception as error:  # each reader raises its own family of errors
        raise StudyDataError(f"{path.name}: could not read as {reader}: {error}") from error
    if frame.empty:
        raise StudyDataError(f"{path.name}: no data rows")
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


def _read(path: Path, reader: str, text_columns: Sequence[str]) -> pd.DataFrame:
    if reader in {"csv", "tsv"}:
        delimiter, header = _header(path)
        sep = "\t" if reader == "tsv" else delimiter
        # Ids are read as written: only an empty cell is missing (a site may be called "NA").
        missing = {
            column: [""] if column in text_columns else sorted(STR_NA_VALUES)
            for column in next(csv.reader([header], delimiter=sep))
        }
        options = {
            "sep": sep,
            "dtype": dict.fromkeys(text_columns, str),
            "keep_default_na": False,
            "na_values": missing,
        }
        try:
            try:
                return pd.read_csv(path, encoding="utf-8", **options)
            except UnicodeDecodeError:
                warnings.warn(
                    f"{path.name} is not UTF-8; read it as Windows-1252 (Latin-1): check the "
                    f"accented names, or save the file as UTF-8",
                    DataReadWarning,
                    stacklevel=4,
                )
                return pd.read_csv(path, encoding="cp1252", **options)
        except pd.errors.EmptyDataError as error:
            raise StudyDataError(f"{path.name}: the file is empty") from error
    if reader == "parquet":
        return pd.read_parquet(path)
    import pyreadstat

    read = pyreadstat.read_dta if reader == "stata" else pyreadstat.read_sav
    frame, _meta = read(str(path))
    return frame


def _header(path: Path) -> tuple[str, str]:
    """The delimiter the header line uses most (comma, semicolon, tab or bar) and the line."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace") as file:
        header = file.readline().rstrip("\r\n")
    return max(DELIMITERS, key=header.count), header


def load_study(folder: str | Path, **overrides: object) -> Study:
    """Load a study folder (a data file plus ``study.toml``).

    Parameters
    ----------
    folder : path
        Folder holding ``study.toml``.
    **overrides
        Role fields (see :class:`Roles`) that replace the ones in ``study.toml``.

    Examples
    --------
    >>> study = load_study("studies/eight_schools")
    >>> study.data.site[:2]
    ('A', 'B')
    """
    folder = Path(folder)
    spec_path = folder / STUDY_FILE
    if not spec_path.is_file():
        raise StudyDataError(f"{folder}: not a study folder (no {STUDY_FILE})")
    try:
        spec = tomllib.loads(spec_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise StudyDataError(f"{spec_path}: invalid TOML: {error}") from error
    if "data" not in spec:
        raise StudyDataError(f"{spec_path}: missing key 'data' (the data file's name)")
    roles = Roles.from_mapping(spec.pop("roles", {}), source=str(spec_path)).updated(**overrides)
    frame = read_table(folder / str(spec["data"]), text_columns=roles.id_columns)
    return Study(
        name=str(spec.get("name", folder.name)),
        data=roles.apply(frame, units=str(spec.get("units", ""))),
        roles=roles,
        metadata=spec,
    )


def load(source: str | Path | pd.DataFrame, **roles: object) -> Study:
    """Load a study from a study folder, a data file or a pandas DataFrame.

    Parameters
    ----------
    source : path or DataFrame
        A study folder (with ``study.toml``), a data file, or a frame.
    **roles
        Column roles and options (see :class:`Roles`); for a study folder they override
        ``study.toml``.

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
    )
