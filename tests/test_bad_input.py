"""The bad-input catalogue: every way a data file or study.toml can be wrong gets a one-line
message naming the file, line, column, rows or sites, and exit code 2 (never a traceback, never
a silent drop or shift); inputs that are merely unusual (other delimiters, encodings, line
endings, id formats, spreadsheet exports) are read correctly, as documented. Property-based
tests check the adapters on generated frames; tests/test_fuzz_input.py fuzzes whole files."""

import gzip
import os
import pickle
import re
import string
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sitefx
from sitefx import StudyDataError
from sitefx.data.text import MISSING
from sitefx.testing import simulate_growth_frame, simulate_interrupted_frame
from tests.builders import (
    assert_refused_in_one_line,
    flags,
    frame_file,
    records_frame,
    study_folder,
    text_file,
)

SUMMARY_ROLES = {"site": "school", "estimate": "effect", "se": "se"}
RECORD_ROLES = {"site": "school", "outcome": "y", "treatment": "t"}
GOOD = "school,effect,se\nA,28,15\nB,8,10\nC,-3,16\nD,7,11\n"
GROWTH = simulate_growth_frame(3, 8, seed=5)[0]  # pupils scored at irregular, missed waves
GROWTH_ROLES = {"site": "school", "outcome": "score", "treatment": "treated", "wave": "year"}
GROWTH_ROLES |= {"person": "pupil"}
# schools' yearly scores in districts that adopt a programme in their start year
SERIES = simulate_interrupted_frame(3, 6, missing=0.0, seed=5)[0]
SERIES_ROLES = {"site": "district", "outcome": "score", "treatment": "adopted", "wave": "year"}
SERIES_ROLES |= {"person": "school", "interruption": "start"}


def _truncated_parquet(folder: Path) -> Path:
    path = frame_file(records_frame(), ".parquet")(folder)
    path.write_bytes(path.read_bytes()[:200])
    return path


def _roles_toml(extra: str = "", top: str = "") -> Callable[[Path], Path]:
    """A study folder of GOOD whose study.toml has ``top`` keys and ``extra`` roles."""
    return study_folder(
        f'data = "data.csv"\n{top}[roles]\nsite = "school"\nestimate = "effect"\nse = "se"\n'
        + extra,
        GOOD,
    )


def _replace(old: str, new: str) -> str:
    return GOOD.replace(old, new)


def _effect_of_b(value: str) -> Callable[[Path], Path]:
    """GOOD with ``value`` written as site B's effect (data row 2)."""
    return text_file(_replace("B,8,10", f"B,{value},10"))


def _gzipped(content: bytes, keep: int | None = None) -> Callable[[Path], Path]:
    """``content`` gzipped into data.csv.gz, cut to its first ``keep`` bytes if given."""
    return text_file(gzip.compress(content)[:keep], ".csv.gz")


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "data.csv")  # reading it would wait forever for a writer
    return folder / "data.csv"


def _folder_named_csv(folder: Path) -> Path:
    (folder / "data.csv").mkdir()
    (folder / "study.toml").write_text('data = "data.csv"\n[roles]\nsite = "school"\n')
    return folder


def _link_outside(folder: Path) -> Path:
    study = folder / "study"
    study.mkdir()
    (folder / "private.csv").write_text(GOOD)
    (study / "data.csv").symlink_to(folder / "private.csv")
    (study / "study.toml").write_text('data = "data.csv"\n')
    return study


def _link_loop(folder: Path) -> Path:
    (folder / "data.csv").symlink_to(folder / "other.csv")
    (folder / "other.csv").symlink_to(folder / "data.csv")
    (folder / "study.toml").write_text('data = "data.csv"\n')
    return folder


def _toml_bytes(content: bytes) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        (folder / "study.toml").write_bytes(content)
        return folder

    return write


def _parquet_with(frame: pd.DataFrame, **options: object) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        frame.to_parquet(folder / "data.parquet", **options)
        return folder / "data.parquet"

    return write


def _duplicate_parquet_columns(folder: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [["A", "B"], [1.0, 2.0], [3.0, 4.0], [1.0, 1.0]]
    table = pa.table(columns, ["school", "effect", "effect", "se"])
    pq.write_table(table, folder / "data.parquet")
    return folder / "data.parquet"


def _parquet_folder(backup: bool = False) -> Callable[[Path], Path]:
    """Records in two Parquet parts, and a copy of one in a backup/ subfolder if asked."""

    def write(folder: Path) -> Path:
        frame = records_frame(n_sites=4)
        frame.iloc[:12].to_parquet(folder / "part0.parquet")
        frame.iloc[12:].to_parquet(folder / "part1.parquet")
        if backup:
            (folder / "backup").mkdir()
            frame.iloc[12:].to_parquet(folder / "backup" / "part1.parquet")
        return folder

    return write


def _csv_glob(content: str) -> Callable[[Path], str]:
    """Records CSV files read out of core: a good part and ``content``."""

    def write(folder: Path) -> str:
        records_frame(n_sites=2).to_csv(folder / "part0.csv", index=False)
        (folder / "part1.csv").write_text(content)
        return str(folder / "part*.csv")

    return write


S, R = flags(SUMMARY_ROLES), flags(RECORD_ROLES)
ARM_FLAGS = flags(
    {"site": "school", "events-treated": "et", "n-treated": "nt"}
    | {"events-control": "ec", "n-control": "nc"}
)
REFUSED = {
    # files
    "empty file": (text_file(""), S, "the file is empty"),
    "header only": (text_file("school,effect,se\n"), S, "no data rows"),
    "no such file": (lambda folder: folder / "nope.csv", S, "nope.csv: no such file"),
    "unknown file type": (text_file(b"PK\x03\x04", ".xlsx"), S, "unsupported file type '.xlsx'"),
    "pickle": (text_file(pickle.dumps(records_frame()), ".pkl"), R, ".pkl files are not read"),
    "R data": (text_file(b"RDX3\n", ".rds"), R, ".rds files are not read"),
    "truncated parquet": (_truncated_parquet, R, "could not read as parquet"),
    "folder without study.toml": (lambda folder: folder, [], "not a study folder"),
    "malformed study.toml": (study_folder("name = [unclosed\n"), [], "invalid TOML"),
    "study.toml without data": (study_folder('name = "x"\n'), [], "missing key 'data'"),
    "code in a study.toml role": (
        study_folder('data = "data.csv"\n[roles]\nsite = "__import__(\'os\')"\n', GOOD),
        ["--estimate", "effect", "--se", "se"],
        "missing column(s) \"__import__('os')\"",
    ),
    # columns
    "missing column": (text_file("school,effect\nA,28\nB,8\n"), S, "missing column(s) 'se'"),
    "no site column given": (text_file(GOOD), ["--estimate", "effect", "--se", "se"], "no site"),
    "roles of two data kinds": (text_file(GOOD), [*S, "--outcome", "y"], "site summaries"),
    "role the kind does not use": (text_file(GOOD), [*S, "--cluster", "c"], "cluster"),
    # values
    "missing estimate": (_effect_of_b(""), S, "'effect' has 1 missing"),
    "infinite se": (
        text_file(_replace("B,8,10", "B,8,inf")),
        S,
        "'se' has 1 missing or non-finite",
    ),
    "text in a number column": (
        _effect_of_b("eight"),
        S,
        "'effect' must be numeric; non-numeric values 'eight' at rows 2",
    ),
    "decimal commas": (
        text_file("school;effect;se\nA;28,5;15\nB;8,1;10\nC;-3;16\n"),
        S,
        "(decimal commas? write 0.5, not 0,5)",
    ),
    "a standard error too small to square": (
        text_file(_replace("B,8,10", "B,8,1e-200")),
        S,
        "'se' has standard errors too small to compute with (1e-200 at sites B)",
    ),
    "zero se": (text_file(_replace("B,8,10", "B,8,0")), S, "'se' must be > 0 (a standard error)"),
    "negative se": (text_file(_replace("B,8,10", "B,8,-10")), S, "got -10.0 at sites B"),
    "huge values": (_effect_of_b("1e300"), S, "'effect' has values too large"),
    "missing site id": (text_file(_replace("B,8,10", ",8,10")), S, "'school' has 1 missing"),
    # sites
    "duplicate sites": (text_file(_replace("C,-3", "A,-3")), S, "name each site once"),
    "ids equal but for spaces": (
        text_file(_replace("B,8", "A ,8")),
        S,
        "column 'school' spells one id two ways: 'A' (rows 1) and 'A ' (rows 2)",
    ),
    "one site": (text_file("school,effect,se\nA,28,15\n"), S, "need at least 2 sites"),
    "one site of records": (frame_file(records_frame(n_sites=1)), R, "need at least 2 sites"),
    "one group at a level": (
        text_file("school,effect,se,district\nA,1,1,x\nB,2,1,x\nC,3,1,x\n"),
        [*S, "--levels", "district"],
        "level 'district' needs at least 2 groups",
    ),
    # treatment and outcome of records
    "treatment coded 1/2": (frame_file(records_frame(t=lambda f: f.t + 1)), R, "found values 1, 2"),
    "treatment yes/no": (
        frame_file(records_frame(t=lambda f: np.where(f.t == 1, "yes", "no"))),
        R,
        "--treatment-levels TREATED,CONTROL",
    ),
    "three treatment values": (
        frame_file(records_frame(t=lambda f: np.arange(len(f)) % 3)),
        R,
        "found values 0, 1, 2",
    ),
    "treatment levels that do not match": (
        frame_file(records_frame(t=lambda f: np.where(f.t == 1, "yes", "no"))),
        [*R, "--treatment-levels", "treated,control"],
        "values not in treatment_levels",
    ),
    "missing treatment": (
        frame_file(records_frame(t=lambda f: f.t.where(f.index != 4))),
        R,
        "rows 5",
    ),
    "all-treated site": (
        frame_file(records_frame(t=lambda f: np.where(f.school == "s1", 1, f.t))),
        R,
        "s1 (0 control, 6 treated)",
    ),
    "constant outcome": (frame_file(records_frame(y=1.0)), R, "'y' is constant"),
    "missing outcome": (
        frame_file(records_frame(y=lambda f: f.y.where(f.index != 5))),
        R,
        "at rows 6",
    ),
    "infinite outcome": (
        frame_file(records_frame(y=lambda f: f.y.where(f.index != 5, np.inf))),
        R,
        "'y' has 1 missing or non-finite values at rows 6",
    ),
    "binary outcome with a 2": (
        frame_file(records_frame(y=lambda f: np.arange(len(f)) % 3)),
        [*R, "--family", "binomial"],
        "binary outcome coded 0/1 for family binomial; values 2",
    ),
    # arm counts
    "events above people": (
        text_file("school,et,nt,ec,nc\nA,11,10,2,10\nB,4,10,3,10\n"),
        ARM_FLAGS,
        "need 0 <= 'et' <= 'nt' and 'nt' > 0; sites A",
    ),
    "fractional counts": (
        text_file("school,et,nt,ec,nc\nA,1,10,1.5,10\nB,4,10,3,10\n"),
        ARM_FLAGS,
        "'ec' must hold whole counts >= 0; sites A",
    ),
    "negative counts": (
        text_file("school,et,nt,ec,nc\nA,-1,10,1,10\nB,4,10,3,10\n"),
        ARM_FLAGS,
        "'et' must hold whole counts >= 0; sites A",
    ),
    "an arm of nobody": (
        text_file("school,et,nt,ec,nc\nA,0,0,1,10\nB,4,10,3,10\n"),
        ARM_FLAGS,
        "need 0 <= 'et' <= 'nt' and 'nt' > 0; sites A",
    ),
    "zero people in summaries": (
        text_file("school,effect,se,n\nA,28,15,0\nB,8,10,20\n"),
        [*S, "--n", "n"],
        "'n' must be a positive count; sites A",
    ),
    # rows whose fields do not match the header (never shifted, never padded)
    "every row one field more than the header": (
        text_file("school,effect,se\nA,28,15,1\nB,8,10,2\nC,-3,16,3\n"),
        S,
        "data.csv: 3 row(s) do not have the 3 fields of the header (line 1): line 2 has 4, "
        "line 3 has 4, line 4 has 4",
    ),
    "an unquoted comma in a value": (
        text_file(_replace("B,8,10", "Smith, Jones,8,10")),
        S,
        "data.csv: 1 row(s) do not have the 3 fields of the header (line 1): line 3 has 4; a "
        'value holding the delimiter must be quoted ("1,5")',
    ),
    "a short row": (
        text_file(_replace("B,8,10", "B,8")),
        S,
        "line 3 has 2; a missing value still needs its delimiter",
    ),
    "a delimiter at the end of the data rows only": (
        text_file("school,effect,se\nA,28,15,\nB,8,10,\n"),
        S,
        "line 2 has 4, line 3 has 4",
    ),
    "a delimiter at the end of the header only": (
        text_file("school,effect,se,\nA,28,15\nB,8,10\n"),
        S,
        "do not have the 4 fields of the header (line 1): line 2 has 3",
    ),
    "ragged rows after a sep= line": (
        text_file("sep=;\nschool;effect;se\nA;28;15\nB;8\n"),
        S,
        "(line 2): line 4 has 2",
    ),
    "ragged rows in a gzipped file": (
        _gzipped(b"school,effect,se\nA,28,15\nB,8,10,3\n"),
        S,
        "data.csv.gz: 1 row(s) do not have the 3 fields of the header (line 1): line 3 has 4",
    ),
    "the header repeated mid-file": (
        text_file(GOOD + GOOD),
        S,
        "data.csv: line(s) 6 repeat the header (exports pasted together?)",
    ),
    "a header with a byte-order mark repeated": (
        text_file(("\ufeff" + GOOD) * 2),
        S,
        "line(s) 6 repeat the header",
    ),
    "a quote never closed": (
        text_file(_replace("B,8,10", 'B,"8,10')),
        S,
        "data.csv, line 3: a quoted value that is never closed",
    ),
    "text after a closing quote": (
        text_file(_replace("B,8,10", '"B"x,8,10')),
        S,
        "data.csv, line 3: ',' expected after '\"'",
    ),
    "a field longer than any value": (
        text_file("school,effect,se\nA,28,15\nB," + "9" * 200_000 + ",10\n"),
        S,
        "data.csv, line 3: a quoted value that is never closed (or longer than",
    ),
    # header names
    "two columns of one name": (
        text_file("school,effect,effect,se\nA,28,1,15\nB,8,2,10\n"),
        S,
        "data.csv: columns 2 ('effect') and 3 ('effect') have the same name",
    ),
    "two names equal but for a trailing space": (
        text_file("school,se,effect,se \nA,1,28,15\nB,1,8,10\n"),
        S,
        "columns 2 ('se') and 4 ('se ') have the same name",
    ),
    "two names equal but for a zero-width space": (
        text_file("school,effect,eff\u200bect,se\nA,1,28,15\nB,1,8,10\n"),
        S,
        "columns 2 ('effect') and 3 ('eff\\u200bect') have the same name",
    ),
    "a header without names": (text_file(",,\n1,2,3\n"), S, "the header has no column names"),
    "space-separated columns": (
        text_file("school effect se\nA 28 15\nB 8 10\n"),
        S,
        "missing column(s) 'school', 'effect', 'se'; the data has 'school effect se'",
    ),
    "a web page saved as .csv": (
        text_file("<!DOCTYPE html>\n<html><body>Not found</body></html>\n"),
        S,
        "the data has '<!DOCTYPE html>'",
    ),
    "lists in a Parquet column": (
        _parquet_with(pd.DataFrame({"school": ["A", "B"], "effect": [[1.0], [2.0]], "se": 1.0})),
        S,
        "'effect' must be numeric; non-numeric values array([1.]), array([2.]) at rows 1, 2",
    ),
    "two Parquet columns of one name": (
        _duplicate_parquet_columns,
        S,
        "data.parquet: columns 2 ('effect') and 3 ('effect') have the same name",
    ),
    # not text, not whole, not a file
    "binary garbage named .csv": (
        text_file(b"\x00\x01\x02\xff\xfe garbage"),
        S,
        "data.csv, line 1: binary content (control character 0x00)",
    ),
    "a spreadsheet named .csv": (
        text_file(b"PK\x03\x04\x14\x00\x06\x00\x08\x00"),
        S,
        "not a text data file (a spreadsheet, Parquet or compressed file named .csv?)",
    ),
    "a Parquet file named .csv": (
        lambda folder: text_file(frame_file(records_frame(), ".parquet")(folder).read_bytes())(
            folder
        ),
        S,
        "data.csv, line 1: binary content",
    ),
    "gzip without .gz": (text_file(gzip.compress(GOOD.encode())), S, "binary content"),
    "UTF-16 without a byte-order mark": (text_file(GOOD.encode("utf-16-le")), S, "binary content"),
    "a NUL byte in a value": (text_file(_replace("B,8", "B\x00,8")), S, "line 3: binary content"),
    "truncated .csv.gz": (_gzipped(GOOD.encode() * 50, keep=60), S, "data.csv.gz: truncated"),
    "a .csv.gz that is not gzip": (text_file(GOOD, ".csv.gz"), S, "not a valid gzip file"),
    "an empty .csv.gz": (_gzipped(b""), S, "data.csv.gz: the file is empty"),
    "only spaces and blank lines": (text_file("  \n\n \t\n"), S, "data.csv: the file is empty"),
    "only empty rows after the header": (
        text_file("school,effect,se\n\n,,\n"),
        S,
        "data.csv: no data rows (2 empty rows)",
    ),
    "mixed encodings": (
        text_file("school,effect,se\nZürich,1,1\n".encode() + "Genève,2,1\n".encode("cp1252")),
        S,
        "data.csv, line 3: not UTF-8, while other lines are: the file mixes encodings",
    ),
    "bytes of no text encoding": (
        text_file(b"school,effect,se\nA\x81,1,1\nB,2,1\n"),
        S,
        "data.csv, line 2: byte 0x81 is neither UTF-8 nor Windows-1252 text",
    ),
    "truncated Stata file": (
        lambda folder: text_file(b"<stata_dta><header><release>118", ".dta")(folder),
        R,
        "could not read as stata",
    ),
    "a folder where the data file should be": (_folder_named_csv, [], "a folder, not a data file"),
    "a named pipe": (_fifo, S, "data.csv: not a regular file (a pipe, socket or device)"),
    "a link to nowhere": (
        lambda folder: (folder / "data.csv").symlink_to(folder / "gone.csv") or folder / "data.csv",
        S,
        "data.csv: no such file",
    ),
    # numbers that are not numbers
    "TRUE/FALSE in a number column": (
        text_file("school,effect,se\nA,TRUE,15\nB,FALSE,10\n"),
        S,
        "'effect' must be numeric; non-numeric values 'TRUE', 'FALSE' at rows 1, 2 (true/false "
        "is not a number: code it 1/0)",
    ),
    "thousands separators": (
        text_file(_replace("B,8,10", 'B,"1,208",10')),
        S,
        "non-numeric values '1,208' at rows 2 (thousands separators? write 1234.5, not 1,234.5)",
    ),
    "spreadsheet error values": (
        text_file(_replace("B,8,10", "B,#DIV/0!,10").replace("C,-3", "C,#VALUE!")),
        S,
        "'#DIV/0!', '#VALUE!' at rows 2, 3 (spreadsheet error values: fix the formulas",
    ),
    "a dash for a missing value": (
        _effect_of_b("-"),
        S,
        "non-numeric values '-' at rows 2 (write a missing value as an empty cell or NA)",
    ),
    "a SAS dot for a missing value": (
        _effect_of_b("."),
        S,
        "non-numeric values '.' at rows 2 (write a missing value",
    ),
    "percentages": (
        _effect_of_b("8%"),
        S,
        "'8%' at rows 2 (percentages: write 12 or 0.12, without %)",
    ),
    "a no-break space in a number": (
        _effect_of_b("\u00a08"),
        S,
        "'effect' must be numeric; non-numeric values '\\xa08' at rows 2",
    ),
    "a number too large for a double": (
        _effect_of_b("1e400"),
        S,
        "'effect' has 1 missing or non-finite values at rows 2",
    ),
    "minus infinity": (
        _effect_of_b("-inf"),
        S,
        "'effect' has 1 missing or non-finite values at rows 2",
    ),
    "#N/A is missing": (
        _effect_of_b("#N/A"),
        S,
        "'effect' has 1 missing or non-finite values at rows 2",
    ),
    "dates as estimates": (
        _parquet_with(
            pd.DataFrame(
                {"school": ["A", "B"], "effect": pd.to_datetime(["2024-01-01"] * 2), "se": 1.0}
            )
        ),
        S,
        "column 'effect' must be numeric; it holds datetime64",
    ),
    "yes/no as a binary outcome": (
        frame_file(records_frame(y=lambda f: np.where(f.index % 2, "yes", "no"))),
        [*R, "--family", "binomial"],
        "'y' must be numeric; non-numeric values 'no', 'yes'",
    ),
    # site ids
    "ids equal but for a no-break space": (
        text_file(_replace("B,8", "A\u00a0,8")),
        S,
        "column 'school' spells one id two ways: 'A' (rows 1) and 'A\\xa0' (rows 2)",
    ),
    "ids equal but for a zero-width space": (
        text_file(_replace("C,-3", "A\u200b,-3")),
        S,
        "'A' (rows 1) and 'A\\u200b' (rows 3) differ only in spaces, invisible characters",
    ),
    "ids equal but for Unicode form": (
        text_file("school,effect,se\nÉcole,28,15\nE\u0301cole,8,10\nB,1,1\n"),
        S,
        "'\\xc9cole' (rows 1) and 'E\\u0301cole' (rows 2) differ only in",
    ),
    "ids equal but for full-width letters": (
        text_file(_replace("B,8", "\uff21,8")),
        S,
        "'A' (rows 1) and '\uff21' (rows 2)",
    ),
    "ids spelt two ways in records": (
        frame_file(records_frame(school=lambda f: np.where(f.index == 3, "s0 ", f.school))),
        R,
        "'s0' (rows 1, 2, 3 and 2 more) and 's0 ' (rows 4)",
    ),
    "cluster ids spelt two ways": (
        frame_file(records_frame(room=lambda f: np.where(f.index == 3, "r ", "r"))),
        [*R, "--cluster", "room"],
        "column 'room' spells one id two ways: 'r' (rows 1, 2, 3 and 14 more) and 'r ' (rows 4)",
    ),
    "an id with a line break in a message": (
        text_file('school,effect,se\n"North\nCampus",8,0\nB,1,1\n'),
        S,
        "got 0.0 at sites North\\nCampus",
    ),
    "a blank site id": (text_file(_replace("B,8", "   ,8")), S, "'school' has 1 missing"),
    "NA as a site id": (text_file(_replace("B,8", "NA,8")), S, "'school' has 1 missing"),
    "nan as a site id": (text_file(_replace("B,8", "nan,8")), S, "'school' has 1 missing"),
    # one column, two roles
    "treatment is the outcome": (
        frame_file(records_frame()),
        [*R[:4], "--treatment", "y"],
        "(outcome and treatment)",
    ),
    "a covariate is the treatment": (
        frame_file(records_frame()),
        [*R, "--covariates", "t"],
        "column 't' is given two roles (treatment and covariates); a column plays one part",
    ),
    "the site is the estimate": (
        text_file(GOOD),
        ["--site", "school", "--estimate", "school", "--se", "se"],
        "(site and estimate)",
    ),
    "the se is the count": (text_file(GOOD), [*S, "--n", "se"], "(se and n)"),
    "a covariate listed twice": (
        frame_file(records_frame(x=1.0)),
        [*R, "--covariates", "x,x"],
        "'covariates' names column 'x' twice",
    ),
    "the cluster is the site": (
        frame_file(records_frame()),
        [*R, "--cluster", "school"],
        "(site and cluster)",
    ),
    # study.toml
    "a flag given as text": (
        _roles_toml(top='observational = "no"\n'),
        [],
        "study.toml: 'observational' must be true or false; got 'no' (text)",
    ),
    "a misspelt key": (
        _roles_toml(top="observationl = true\n"),
        [],
        "study.toml: unknown key 'observationl' (did you mean 'observational'?)",
    ),
    "a misspelt source key": (
        _roles_toml(top='[source]\ncitaton = "x"\n'),
        [],
        "unknown key 'source.citaton' (did you mean 'citation'?)",
    ),
    "a misspelt role": (
        _roles_toml('outcom = "y"\n'),
        [],
        "study.toml: unknown role 'outcom' (did you mean 'outcome'?)",
    ),
    "a role option given as text": (
        _roles_toml('drop_missing = "yes"\n'),
        [],
        "study.toml: 'drop_missing' must be true or false; got 'yes'",
    ),
    "a role given as a number": (
        study_folder(
            'data = "data.csv"\n[roles]\nsite = 3\nestimate = "effect"\nse = "se"\n', GOOD
        ),
        [],
        "study.toml: 'site' must be a column name; got 3",
    ),
    "moderators given as a number": (
        _roles_toml("moderators = 3\n"),
        [],
        "'moderators' must be a list of column names; got 3",
    ),
    "an unknown family": (_roles_toml('family = "poisson"\n'), [], "got 'poisson'"),
    "roles that are not a table": (
        study_folder('data = "data.csv"\nroles = "school"\n', GOOD),
        [],
        "'roles' must be the table of column roles; got 'school' (text)",
    ),
    "a source that is not a table": (
        _roles_toml(top='source = "Rubin 1981"\n'),
        [],
        "'source' must be a table ([source])",
    ),
    "a truth that is not numbers": (
        _roles_toml(top='[truth]\nmu = "0.5"\n'),
        [],
        "'truth' must be a table of finite numbers",
    ),
    "an outcome SD given as text": (
        _roles_toml(top='outcome_sd = "1.5"\n'),
        [],
        "'outcome_sd' must be a finite number; got '1.5' (text)",
    ),
    "an infinite outcome SD": (
        _roles_toml(top="outcome_sd = inf\n"),
        [],
        "'outcome_sd' must be a finite number; got inf",
    ),
    "a data name that is a number": (study_folder("data = 3\n"), [], "'data' must be text; got 3"),
    "an empty data name": (study_folder('data = ""\n'), [], "'data' is empty"),
    "an absolute data path": (
        study_folder('data = "/etc/passwd.csv"\n'),
        [],
        "data = '/etc/passwd.csv' is an absolute path; name a file inside the study folder",
    ),
    "a Windows absolute data path": (
        study_folder('data = "C:\\\\data.csv"\n'),
        [],
        "is an absolute path",
    ),
    "a data path leaving the folder": (
        study_folder('data = "../data.csv"\n'),
        [],
        "data = '../data.csv' leaves the study folder ('..')",
    ),
    "a data path leaving the folder on the way": (
        study_folder('data = "sub/../../data.csv"\n'),
        [],
        "leaves the study folder",
    ),
    "a data link leading out of the folder": (
        _link_outside,
        [],
        "data = 'data.csv' is a link to a file outside the study folder",
    ),
    "a control character in the data path": (
        study_folder('data = "data\\u0000.csv"\n'),
        [],
        "data = 'data\\x00.csv' holds control characters",
    ),
    "a data link that loops": (_link_loop, [], "data = 'data.csv': Symlink loop"),
    "a study.toml that is not UTF-8": (
        _toml_bytes('data = "données.csv"\n'.encode("cp1252")),
        [],
        "study.toml: not UTF-8 text",
    ),
    # records read out of core
    "a Parquet backup subfolder": (
        _parquet_folder(backup=True),
        R,
        "Parquet files in subfolders that are not partitions (key=value): backup/part1.parquet",
    ),
    "ragged rows read out of core": (
        _csv_glob("school,t,y\ns9,0,1.5\ns9,1,2.5,7\n"),
        R,
        "part1.csv: 1 row(s) do not have the 3 fields of the header (line 1): line 3 has 4",
    ),
    "every row one field more, out of core": (
        _csv_glob("school,t,y\ns9,0,1.5,1\ns9,1,2.5,2\n"),
        R,
        "part1.csv: 2 row(s) do not have the 3 fields",
    ),
    "text in a number column out of core": (
        _csv_glob("school,t,y\ns9,0,TRUE\ns9,1,2.5\n"),
        R,
        "part1.csv, partition 1: column 'y' must be numeric; non-numeric values 'TRUE' at rows 1",
    ),
    "unbalanced waves with a cluster": (
        frame_file(GROWTH.assign(classroom=GROWTH["school"])),
        [*flags(GROWTH_ROLES), "--cluster", "classroom"],
        "the long growth model for unbalanced waves takes no moderators, nesting levels or "
        "clusters yet (given: classroom): leave them out, or pass drop_missing (CLI: "
        "--drop-missing)",
    ),
    "unbalanced waves, a school without two growing pupils per arm": (
        frame_file(GROWTH[~((GROWTH["school"] == "s1") & (GROWTH["year"] > 0.7))]),
        flags(GROWTH_ROLES),
        "1 site(s) in column 'school' have fewer than 2 persons scored at two or more values of "
        "'year' in an arm of 'treated': s1 (0 control, 0 treated)",
    ),
    "an interruption time that varies within a school": (
        frame_file(SERIES.assign(start=SERIES["start"].where(SERIES.index != 2, 2013))),
        flags(SERIES_ROLES),
        "column 'start' must be constant within each person (a person-level or baseline "
        "value); it varies for persons d0-0",
    ),
    "an interruption time that is not a number": (
        frame_file(
            SERIES.assign(start=SERIES["start"].astype(str).where(SERIES.index != 3, "fall"))
        ),
        flags(SERIES_ROLES),
        "column 'start' must be numeric; non-numeric values 'fall' at rows 3",
    ),
    "an adopting school without an interruption time": (
        frame_file(SERIES.assign(start=SERIES["start"].where(SERIES["school"] != "d0-0"))),
        flags(SERIES_ROLES),
        "column 'start' is missing for treated persons d0-0",
    ),
    "an interruption time missing in one row of a school": (
        frame_file(SERIES.assign(start=SERIES["start"].where(SERIES.index != 4))),
        flags(SERIES_ROLES),
        "column 'start' must be constant within each person",
    ),
    "an interrupted series with a cluster": (
        frame_file(SERIES.assign(group=SERIES["district"])),
        [*flags(SERIES_ROLES), "--cluster", "group"],
        "a comparative interrupted time series (interruption column 'start') takes no "
        "moderators, nesting levels or clusters yet (given: group)",
    ),
    "an interrupted series, a district scored once before its start": (
        frame_file(SERIES[~((SERIES["district"] == "d1") & (SERIES["year"] < 2015))]),
        flags(SERIES_ROLES),
        "1 site(s) in column 'district' have fewer than 2 persons scored at two or more values "
        "of 'year' before their 'start' and once or more after it in an arm of 'adopted': d1 (0 "
        "control, 0 treated)",
    ),
    "an interruption without repeated measures": (
        frame_file(SERIES),
        flags({k: v for k, v in SERIES_ROLES.items() if k not in ("wave", "person")}),
        "an interrupted time series (--interruption) needs repeated measures",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_bad_input_exits_2_with_a_message_naming_the_problem(case, tmp_path, cli):
    write, options, message = REFUSED[case]
    source = write(tmp_path)
    run = cli("fit", source, *options, "--out", tmp_path / "out", "--quiet")
    assert_refused_in_one_line(run, message)


def test_the_catalogue_is_at_least_a_hundred_cases():
    assert len(REFUSED) >= 100


ABCD, EFFECTS = ("A", "B", "C", "D"), (28, 8, -3, 7)
# Unusual files read as documented: (content, file suffix, sites read, estimates read).
ACCEPTED = {
    "semicolons": (GOOD.replace(",", ";"), ".csv", ABCD, EFFECTS),
    "tabs": (GOOD.replace(",", "\t"), ".csv", ABCD, EFFECTS),
    "a .tsv file": (GOOD.replace(",", "\t"), ".tsv", ABCD, EFFECTS),
    "bars": (GOOD.replace(",", "|"), ".csv", ABCD, EFFECTS),
    "Excel's sep= line": ("sep=;\n" + GOOD.replace(",", ";"), ".csv", ABCD, EFFECTS),
    "byte-order mark": ("\ufeff" + GOOD, ".csv", ABCD, EFFECTS),
    "UTF-16 with a byte-order mark": (
        GOOD.replace(",", "\t").encode("utf-16"),
        ".csv",
        ABCD,
        EFFECTS,
    ),
    "CRLF line endings": (GOOD.replace("\n", "\r\n"), ".csv", ABCD, EFFECTS),
    "old Mac line endings": (GOOD.replace("\n", "\r"), ".csv", ABCD, EFFECTS),
    "no newline at the end": (GOOD.rstrip("\n"), ".csv", ABCD, EFFECTS),
    "blank lines before the header": ("\n \n" + GOOD, ".csv", ABCD, EFFECTS),
    "gzipped": (gzip.compress(GOOD.encode()), ".csv.gz", ABCD, EFFECTS),
    "extra column": ("school,effect,se,notes\nA,28,15,x\nB,8,10,y\n", ".csv", ("A", "B"), (28, 8)),
    "a delimiter at the end of every line": (GOOD.replace("\n", ",\n"), ".csv", ABCD, EFFECTS),
    "an unnamed row-number column": (
        ",school,effect,se\n0,A,28,15\n1,B,8,10\n",
        ".csv",
        ("A", "B"),
        (28, 8),
    ),
    "spaced header": (" school , effect,se\n A ,28,15\n B ,8,10\n", ".csv", ("A", "B"), (28, 8)),
    "invisible characters around the names": (
        "\ufeffschool\u200b,\u00a0effect,se\u2060\nA,28,15\nB,8,10\n",
        ".csv",
        ("A", "B"),
        (28, 8),
    ),
    "quoted numbers": ('school,effect,se\n"A","28","15"\nB,8,10\n', ".csv", ("A", "B"), (28, 8)),
    "numbers written many ways": (
        "school,effect,se\nA, +28 ,1e1\nB,8.,.5\nC,-3.0E0,16\nD,7,0011\n",
        ".csv",
        ABCD,
        EFFECTS,
    ),
    "quoted delimiters, quotes and newlines in ids": (
        'school,effect,se\n"Smith, Jones",28,15\n"O""Brien",8,10\n"North\nCampus",-3,16\n',
        ".csv",
        ("Smith, Jones", 'O"Brien', "North\nCampus"),
        (28, 8, -3),
    ),
    "numeric-looking ids": (
        "school,effect,se\n007,28,15\n7,8,10\n07,-3,16\n",
        ".csv",
        ("007", "7", "07"),
        (28, 8, -3),
    ),
    "mixed ids": (
        "school,effect,se\n1,28,15\nB,8,10\n3.5,-3,16\n",
        ".csv",
        ("1", "B", "3.5"),
        (28, 8, -3),
    ),
    "unicode ids": (
        "school,effect,se\nÉcole Nº1,28,15\n学校,8,10\nمدرسة,-3,16\n",
        ".csv",
        ("École Nº1", "学校", "مدرسة"),
        (28, 8, -3),
    ),
    "ids in decomposed Unicode (macOS)": (
        "school,effect,se\nE\u0301cole,28,15\nZu\u0308rich,8,10\n",
        ".csv",
        ("École", "Zürich"),
        (28, 8),
    ),
    "every id with a trailing space": (
        "school,effect,se\nA ,28,15\nB ,8,10\n",
        ".csv",
        ("A", "B"),
        (28, 8),
    ),
    "a very wide file": (
        "school,effect,se,"
        + ",".join(f"x{i}" for i in range(3000))
        + "\n"
        + "".join(
            f"{s},{e},1," + ",".join(["0"] * 3000) + "\n"
            for s, e in zip(ABCD, EFFECTS, strict=True)
        ),
        ".csv",
        ABCD,
        EFFECTS,
    ),
}


@pytest.mark.parametrize("case", ACCEPTED, ids=list(ACCEPTED))
def test_unusual_but_valid_files_are_read_as_written(case, tmp_path):
    content, suffix, sites, effects = ACCEPTED[case]
    data = sitefx.load(text_file(content, suffix)(tmp_path), **SUMMARY_ROLES).data
    assert data.site == sites
    np.testing.assert_array_equal(data.estimate, effects)
    assert data.accounting.rows_read == data.accounting.rows_used == len(sites)


def test_empty_rows_are_skipped_counted_and_keep_their_numbers(tmp_path):
    """Blank lines and lines of bare delimiters (spreadsheet exports) hold no values: they are
    skipped and reported as dropped, and later rows keep their numbers (row n on line n + 1)."""
    content = "school,effect,se\nA,28,15\n\nB,8,10\n,,\nC,,16\n"
    with pytest.raises(StudyDataError, match=r"'effect' has 1 missing .* at rows 5;"):
        sitefx.load(text_file(content)(tmp_path), **SUMMARY_ROLES)
    study = sitefx.load(text_file(content.replace("C,,", "C,-3,"))(tmp_path), **SUMMARY_ROLES)
    accounting = study.data.accounting
    assert study.data.site == ("A", "B", "C")
    assert (accounting.rows_read, accounting.rows_used, accounting.rows_dropped) == (5, 3, 2)
    assert accounting.drops[0].to_dict() == {
        "reason": "empty row (no values)",
        "rows": ["2", "4"],
        "sites": [],
    }


def test_true_and_false_are_a_treatment_and_a_binary_outcome(tmp_path):
    frame = records_frame().assign(
        t=lambda f: np.where(f.t == 1, "TRUE", "False"), y=lambda f: f.index % 3 == 0
    )
    data = sitefx.load(frame_file(frame)(tmp_path), **RECORD_ROLES, family="binomial").data
    np.testing.assert_array_equal(data.treatment, frame["t"] == "TRUE")
    np.testing.assert_array_equal(data.outcome, frame["y"])


def test_a_parquet_file_indexed_by_site_keeps_its_sites(tmp_path):
    path = tmp_path / "indexed.parquet"
    pd.read_csv(pd.io.common.StringIO(GOOD)).set_index("school").to_parquet(path)
    assert sitefx.load(path, **SUMMARY_ROLES).data.site == ABCD


def test_a_hive_partitioned_parquet_folder_is_read_with_its_keys(tmp_path):
    """pandas' partition_cols writes school=s0/... folders whose files lack the school column:
    read out of core, the folder names give it back; every row counted once."""
    frame = records_frame(n_sites=3)
    frame.to_parquet(tmp_path / "data", partition_cols=["school"])
    statistics = sitefx.data.partitioned.record_statistics(tmp_path / "data", **RECORD_ROLES)
    assert sorted(statistics.site) == ["s0", "s1", "s2"]
    assert statistics.accounting.rows_read == statistics.n_records == len(frame)


def test_latin1_files_are_read_with_a_warning(tmp_path):
    content = "school,effect,se\nZürich,28,15\nGenève,8,10\n".encode("cp1252")
    with pytest.warns(sitefx.DataReadWarning, match="not UTF-8"):
        study = sitefx.load(text_file(content)(tmp_path), **SUMMARY_ROLES)
    assert study.data.site == ("Zürich", "Genève")


def test_stata_value_labels_keep_their_codes(tmp_path):
    frame = records_frame().astype({"t": "int8"})
    path = tmp_path / "labelled.dta"
    labels = {"t": {0: "control", 1: "treated"}}
    pyreadstat.write_dta(frame, str(path), variable_value_labels=labels)
    data = sitefx.load(path, **RECORD_ROLES).data
    np.testing.assert_array_equal(data.treatment, frame["t"])
    np.testing.assert_allclose(data.outcome, frame["y"])


def test_drop_missing_reports_every_row_it_drops(tmp_path, cli):
    write = frame_file(records_frame(y=lambda f: f.y.where(~f.index.isin([2, 7]))))
    run = cli("fit", write(tmp_path), *R, "--drop-missing", "--out", tmp_path / "o")
    out, err = run.out, run.err
    assert run.code == 0
    assert "rows read 18, used 16, dropped 2" in out
    assert "dropped 2 rows with a missing or non-finite 'y' (rows 3, 8)" in err


# Property-based: generated site summaries.
site_ids = (
    st.text(string.ascii_letters + string.digits + "éü -", min_size=1, max_size=8)
    .map(str.strip)
    .filter(lambda name: name not in MISSING)  # NA, nan, None, ...: a missing id in a file
)
finite = st.floats(-1e6, 1e6, allow_nan=False)
positive = st.floats(1e-3, 1e3, allow_nan=False)


@st.composite
def summaries(draw) -> pd.DataFrame:
    ids = draw(st.lists(site_ids.filter(bool), min_size=2, max_size=12, unique=True))
    return pd.DataFrame(
        {
            "school": ids,
            "effect": draw(st.lists(finite, min_size=len(ids), max_size=len(ids))),
            "se": draw(st.lists(positive, min_size=len(ids), max_size=len(ids))),
        }
    )


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples in every run: CI never flips on a new draw
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(frame=summaries())
def test_valid_summaries_round_trip_through_a_csv_file(frame, tmp_path):
    path = tmp_path / "generated.csv"
    frame.to_csv(path, index=False)
    for source in (frame, path):
        data = sitefx.load(source, **SUMMARY_ROLES).data
        assert data.site == tuple(frame["school"])
        np.testing.assert_allclose(data.estimate, frame["effect"], rtol=1e-15)
        np.testing.assert_allclose(data.se, frame["se"], rtol=1e-15)
        assert data.accounting.rows_read == data.accounting.rows_used == len(frame)


BREAKAGES = {
    "missing estimate": ("effect", np.nan, "'effect' has 1 missing or non-finite values at rows"),
    "infinite se": ("se", np.inf, "'se' has 1 missing or non-finite values at rows"),
    "zero se": ("se", 0.0, "'se' must be > 0"),
    "negative se": ("se", -1.0, "'se' must be > 0"),
    "text estimate": ("effect", "n.a.", "'effect' must be numeric"),
    "missing site": ("school", None, "'school' has 1 missing"),
}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(frame=summaries(), breakage=st.sampled_from(sorted(BREAKAGES)), data=st.data())
def test_a_broken_value_raises_the_documented_error_naming_its_row(frame, breakage, data):
    column, value, message = BREAKAGES[breakage]
    row = data.draw(st.integers(0, len(frame) - 1))
    broken = frame.astype({column: object})
    broken.loc[row, column] = value
    with pytest.raises(StudyDataError) as error:
        sitefx.load(broken, **SUMMARY_ROLES)
    assert message in str(error.value)
    # a frame's rows are named by its index (a file's by line number, from 1)
    where = f"sites {broken.loc[row, 'school']}" if "> 0" in message else f"rows {row}"
    assert re.search(rf"{re.escape(where)}\b", str(error.value))


@st.composite
def records(draw) -> pd.DataFrame:
    """Records of 2-5 sites, each with at least two people in each arm."""
    ids = draw(st.lists(site_ids.filter(bool), min_size=2, max_size=5, unique=True))
    rows = []
    for site in ids:
        arms = [0, 0, 1, 1, *draw(st.lists(st.integers(0, 1), max_size=6))]
        rows += [(site, arm, draw(finite)) for arm in arms]
    frame = pd.DataFrame(rows, columns=["school", "t", "y"])
    if frame["y"].nunique() < 2:  # a constant outcome is refused, by design
        frame.loc[0, "y"] += 1.0
    return frame


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(frame=records())
def test_valid_records_round_trip_through_a_parquet_file(frame, tmp_path):
    path = tmp_path / "generated.parquet"
    frame.to_parquet(path)
    for source in (frame, path):
        data = sitefx.load(source, **RECORD_ROLES).data
        assert data.site == tuple(dict.fromkeys(frame["school"]))
        np.testing.assert_array_equal(np.array(data.site)[data.site_index], frame["school"])
        np.testing.assert_array_equal(data.treatment, frame["t"])
        np.testing.assert_allclose(data.outcome, frame["y"], rtol=1e-15)
        assert data.accounting.rows_dropped == 0


@settings(max_examples=40, deadline=None, derandomize=True)
@given(frame=records(), data=st.data())
def test_a_record_outside_its_arms_or_missing_names_its_row(frame, data):
    row = data.draw(st.integers(0, len(frame) - 1))
    column, value, message = data.draw(
        st.sampled_from(
            [
                ("t", 2, "must be a binary treatment coded 0/1"),
                ("y", np.nan, "'y' has 1 missing or non-finite values at rows"),
                ("school", None, "'school' has 1 missing"),
            ]
        )
    )
    broken = frame.astype({column: object})
    broken.loc[row, column] = value
    with pytest.raises(StudyDataError) as error:
        sitefx.load(broken, **RECORD_ROLES)
    assert message in str(error.value)
    assert re.search(rf"rows {row}\b", str(error.value))
