"""Fuzzing the input layer: hypothesis writes CSV files (random shapes, delimiters, line endings,
encodings, quoting, numbers written every way, NaN/inf, Unicode ids, ragged rows, repeated
headers, damaged bytes) and study.toml files (random keys, types and paths), and runs them
through the adapters and the command line. Every input must end in exit 0 with the data as
written (nothing shifted, nothing dropped unreported: the accounting adds up) or in exit 2 with
a one-line message; never exit 1 (a traceback), never a hang.

The default profile draws the same 40 examples per test every run (well under a minute in
all). For a longer hunt with fresh examples: ``SITEFX_FUZZ_EXAMPLES=2000 ./run test
tests/test_fuzz_input.py``.
"""

import contextlib
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import sitefx
from sitefx.cli import main
from sitefx.data.labels import lookalike, normalize
from sitefx.data.text import MISSING
from tests.builders import flags, text_file

# Exotic site names lack a glyph in the plots' font: matplotlib warns, the fit is fine.
pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
EXAMPLES = int(os.environ.get("SITEFX_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 40,
    derandomize=not EXAMPLES,  # the default run draws the same examples every time
    deadline=None,  # a hang is caught by _within, a slow example is not a failure
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECONDS = 60  # per example: far beyond any real run, so only a hang gets there
SUMMARY_FLAGS = flags({"site": "school", "estimate": "effect", "se": "se"})
ACCOUNTING = re.compile(r"rows read (\d+), used (\d+), dropped (\d+)")
# Cell values: a number, MISS (empty or non-finite: dropped by --drop-missing) or JUNK (text
# that is not a number: always refused).
MISS, JUNK = "missing", "junk"


@dataclass(frozen=True)
class Cell:
    """What a cell says (its text) and what it means (a number, MISS or JUNK)."""

    text: str
    value: float | str


@contextlib.contextmanager
def _within(seconds: float) -> Iterator[None]:
    """Fail with TimeoutError when the block takes longer than ``seconds`` (a hang)."""

    def stop(_signal, _frame):
        raise TimeoutError(f"no answer within {seconds} s: the input hangs sitefx")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run(arguments: list[str]) -> tuple[int, str, str]:
    """``sitefx`` in this process: exit code, standard output, standard error."""
    out, err = io.StringIO(), io.StringIO()
    with _within(SECONDS), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(arguments)
    return code, out.getvalue(), err.getvalue()


def _assert_exit_0_or_2(code: int, err: str) -> None:
    event(f"exit {code}")  # shown by pytest --hypothesis-show-statistics
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert err.strip().splitlines()[-1].startswith("sitefx: error: "), err


def _load_quietly(path: Path, **roles: object) -> sitefx.Study:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sitefx.DataReadWarning)
        warnings.simplefilter("ignore", sitefx.DataDropWarning)
        return sitefx.load(path, **roles)


# Cells.
def _number(value: float, style: int) -> Cell:
    """``value`` written one of five ways; it means what Python reads in the text."""
    text = [repr(value), f" {value} ", f"{value:.6e}", f"{value:+}", f"{value:.3f}"][style]
    return Cell(text, float(text))


# Effects and SEs of real studies: the hunt is for reading errors, not for ill-conditioned fits.
numbers = st.builds(
    _number, st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False), st.integers(0, 4)
)
positive = st.builds(_number, st.floats(1e-2, 1e2), st.integers(0, 4)).filter(
    lambda cell: cell.value > 0
)
missing = st.sampled_from(
    ["", " ", "NA", "nan", "NaN", "#N/A", "NULL", "inf", "-Infinity", "1e400"]
)
junk = st.sampled_from(
    [
        *"TRUE false 1,5 1.2.3 #DIV/0! - . abc 12% 0x10 1_000 é".split(),
        "\u00a05",
        "\uff15",
        "\u0663",
    ]
)
id_alphabet = st.characters(
    codec="utf-8",
    categories=["L", "N", "Zs", "Mn", "Cf", "P"],
    include_characters="\u00a0\u200b\ufeff ,;\t|\"'\n",
    exclude_characters="\r",
)


def _id_cell(raw: str) -> Cell:
    blank = raw.strip() in MISSING or not normalize(raw)
    return Cell(raw, MISS if blank else normalize(raw))


ids = st.one_of(
    st.sampled_from(["A", "B", "C", "école", "学校", "007", "7"]),
    st.text(id_alphabet, max_size=6),
).map(_id_cell)


def _look(cell: Cell) -> str:
    """Ids that look alike are one id (two of them: refused)."""
    return lookalike(normalize(cell.text))


@dataclass(frozen=True)
class Table:
    """A generated file: its bytes, the meaning of each data row (None: an empty row), and
    which damage was done to it (any damage must be refused)."""

    content: bytes
    rows: list[tuple[Cell, ...] | None]
    damaged: bool
    binary: bool


@st.composite
def tables(
    draw,
    columns: tuple[str, ...],
    cells: tuple[st.SearchStrategy[Cell], ...],
    *,
    rows: tuple[int, int] = (1, 12),
    unique_ids: bool = False,
) -> Table:
    """A delimited file of ``columns`` whose cells are drawn from ``cells`` (the first column:
    ids, distinct if ``unique_ids``), a share of them missing or junk, with empty rows, maybe
    damaged, written with a random delimiter, line ending, preamble and encoding."""
    n_rows = draw(st.integers(*rows))
    noise = draw(st.sampled_from([0, 0, 4, 30]))  # percent of cells missing (or junk)

    def cell(valid: st.SearchStrategy[Cell]) -> Cell:
        roll = draw(st.integers(0, 99))
        if roll < noise // 4:
            return Cell(draw(junk), JUNK)
        return Cell(draw(missing), MISS) if roll < noise else draw(valid)

    first = (
        draw(st.lists(cells[0], min_size=n_rows, max_size=n_rows, unique_by=_look))
        if unique_ids
        else [draw(cells[0]) for _ in range(n_rows)]
    )
    meaning: list[tuple[Cell, ...] | None] = [
        (site, *(cell(valid) for valid in cells[1:])) for site in first
    ]
    rows = list(meaning)
    records = [list(columns), *[[cell.text for cell in row] for row in rows]]
    for _ in range(draw(st.integers(0, 2))):  # empty rows, anywhere after the header
        at = draw(st.integers(1, len(records)))
        records.insert(at, draw(st.sampled_from([[], [""] * len(columns)])))
        meaning.insert(at - 1, None)
    damaged = False
    damage = draw(st.sampled_from(["none"] * 6 + ["field more", "field less", "header again"]))
    row = draw(st.integers(1, len(records) - 1))
    if damage == "field more":
        records[row] = [*records[row], draw(st.sampled_from(["", "1", "x"]))]
    elif damage == "field less" and len(records[row]) > 1:
        records[row] = records[row][:-1]
    elif damage == "header again":
        records.insert(row, list(columns))
        meaning.insert(row - 1, None)
    if damage != "none":
        damaged = any(value.strip() for value in records[row])
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=ending).writerows(records)
    text = draw(st.sampled_from(["", "\ufeff", f"sep={delimiter}{ending}"])) + buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "cp1252"]))
    try:
        content = text.encode(encoding)
        content.decode("utf-8" if encoding == "cp1252" else encoding)
    except UnicodeError:  # not encodable, or Windows-1252 bytes that read as other UTF-8
        content = text.encode("utf-8")
    binary = bool(re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text))
    return Table(content, meaning, damaged, binary)


def _kept(table: Table) -> list[tuple[Cell, ...]]:
    """The data rows a fit with --drop-missing keeps: no missing value."""
    return [row for row in table.rows if row and all(cell.value != MISS for cell in row)]


@FUZZ
@given(
    table=tables(("school", "effect", "se"), (ids, numbers, positive), unique_ids=True),
    drop=st.booleans(),
)
def test_generated_site_summaries_fit_as_written_or_exit_2(table, drop):
    with tempfile.TemporaryDirectory() as folder:
        path = text_file(table.content)(Path(folder))
        flags = [*SUMMARY_FLAGS, *(["--drop-missing"] if drop else [])]
        code, _, err = _run(["fit", str(path), *flags, "--out", f"{folder}/out", "--quiet"])
        _assert_exit_0_or_2(code, err)
        if code == 2:
            return
        assert not table.damaged and not table.binary
        junk_cells = [cell for row in table.rows if row for cell in row if cell.value == JUNK]
        assert not junk_cells, junk_cells
        data = _load_quietly(path, site="school", estimate="effect", se="se", drop_missing=drop)
    kept = _kept(table)
    assert data.data.site == tuple(row[0].value for row in kept)
    assert len({lookalike(site) for site in data.data.site}) == data.data.n_sites
    np.testing.assert_allclose(data.data.estimate, [row[1].value for row in kept], rtol=1e-15)
    np.testing.assert_allclose(data.data.se, [row[2].value for row in kept], rtol=1e-15)
    accounting = data.data.accounting
    assert accounting.rows_read == len(table.rows)
    assert accounting.rows_used == len(kept) == accounting.rows_read - accounting.rows_dropped


treatments = st.sampled_from(["0", "1", "0", "1", " 1 ", "1.0", "TRUE", "false"]).map(
    lambda text: Cell(text, float(text.strip().lower() in ("1", "1.0", "true")))
)


@FUZZ
@given(
    table=tables(
        ("school", "t", "y"),
        (st.sampled_from(["s1", "s2"] * 10 + ["s1 ", ""]).map(_id_cell), treatments, numbers),
        rows=(12, 24),
    ),
    drop=st.booleans(),
)
def test_generated_records_load_as_written_or_are_refused(table, drop):
    """Records through the adapters (a NUTS fit per example would be too slow); a refusal
    through the command line too, which stops before fitting."""
    roles = {"site": "school", "outcome": "y", "treatment": "t", "drop_missing": drop}
    with tempfile.TemporaryDirectory() as folder:
        path = text_file(table.content)(Path(folder))
        try:
            with _within(SECONDS):
                data = _load_quietly(path, **roles).data
        except sitefx.StudyDataError:
            event("refused")
            flags = ["--site", "school", "--outcome", "y", "--treatment", "t"]
            code, _, err = _run(["fit", str(path), *flags, "--out", f"{folder}/out"])
            assert code == 2 and err.strip().splitlines()[-1].startswith("sitefx: error: ")
            return
    event("loaded")
    assert not table.damaged and not table.binary
    kept = _kept(table)
    assert all(cell.value != JUNK for row in kept for cell in row)
    assert np.array(data.site)[data.site_index].tolist() == [row[0].value for row in kept]
    np.testing.assert_array_equal(data.treatment, [row[1].value for row in kept])
    np.testing.assert_allclose(data.outcome, [row[2].value for row in kept], rtol=1e-15)
    assert data.accounting.rows_read == len(table.rows)
    assert data.accounting.rows_used == len(kept)


@FUZZ
@given(
    table=tables(("school", "effect", "se"), (ids, numbers, positive), unique_ids=True),
    damage=st.lists(
        st.tuples(
            st.sampled_from(["cut", "insert", "replace"]),
            st.integers(0),
            st.binary(min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=3,
    ),
    gzipped=st.booleans(),
)
def test_damaged_bytes_never_crash_or_hang(table, damage, gzipped):
    """Bytes cut, inserted or overwritten anywhere (also inside a gzip stream): exit 0 with
    accounting that adds up, or exit 2."""
    import gzip

    content = gzip.compress(table.content) if gzipped else table.content
    for action, where, data in damage:
        at = where % (len(content) + 1)
        content = {
            "cut": content[:at],
            "insert": content[:at] + data + content[at:],
            "replace": content[:at] + data + content[at + len(data) :],
        }[action]
    with tempfile.TemporaryDirectory() as folder:
        path = text_file(content, ".csv.gz" if gzipped else ".csv")(Path(folder))
        flags = [*SUMMARY_FLAGS, "--drop-missing"]
        code, out, err = _run(["fit", str(path), *flags, "--out", f"{folder}/out"])
    _assert_exit_0_or_2(code, err)
    if code == 0:
        read, used, dropped = map(int, ACCOUNTING.search(out).groups())
        assert read == used + dropped and used >= 2


# study.toml files.
toml_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
toml_scalars = st.one_of(
    toml_text,
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.sampled_from(["data.csv", "../data.csv", "/etc/hosts", "sub/data.csv", "school", "se"]),
)


def _containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(toml_text, inner, max_size=3)


toml_values = st.recursive(toml_scalars, _containers, max_leaves=6)
GOOD_ROLES = {"site": "school", "estimate": "effect", "se": "se"}
toml_keys = st.sampled_from(
    "data name title units observational outcome_sd source truth roles observationl Data".split()
)
role_keys = st.sampled_from([*GOOD_ROLES, "n", "moderators", "drop_missing", "family", "outcom"])


def _toml(value: object) -> str:
    """``value`` written as TOML (inline tables and arrays; strings as JSON, which TOML reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    pairs = (
        f"{json.dumps(key, ensure_ascii=False)} = {_toml(item)}" for key, item in value.items()
    )
    return "{" + ", ".join(pairs) + "}"


@st.composite
def study_files(draw) -> str:
    """A study.toml: mostly a good one with some keys changed or added, sometimes noise."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=80))
    spec: dict[str, object] = {"data": "data.csv", "roles": dict(GOOD_ROLES)}
    for key, value in draw(st.dictionaries(toml_keys, toml_values, max_size=3)).items():
        spec[key] = value
    if isinstance(spec.get("roles"), dict):
        changes = draw(st.dictionaries(role_keys, toml_values, max_size=2))
        spec["roles"] = {**spec["roles"], **changes}
    return "\n".join(f"{json.dumps(key)} = {_toml(value)}" for key, value in spec.items())


@FUZZ
@given(toml=study_files())
def test_generated_study_files_fit_or_exit_2(toml):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "study.toml").write_text(toml, encoding="utf-8")
        (Path(folder) / "data.csv").write_text("school,effect,se\nA,28,15\nB,8,10\nC,-3,16\n")
        code, out, err = _run(["fit", folder, "--out", f"{folder}/out"])
    _assert_exit_0_or_2(code, err)
    if code == 0:
        assert ACCOUNTING.search(out).groups() == ("3", "3", "0")


@pytest.mark.parametrize(
    "content",
    [
        "school,effect,se\nA,28,15,1\nB,8,10,2\nC,-3,16,3\n",  # every row shifted by one
        "\x00\x01binary\xff",
    ],
    ids=["shifted rows", "binary"],
)
def test_the_installed_command_exits_2_without_a_traceback(content, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(content, encoding="utf-8")
    command = [sys.executable, "-m", "sitefx", "fit", str(path), *SUMMARY_FLAGS]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.startswith("sitefx: error: data.csv") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
