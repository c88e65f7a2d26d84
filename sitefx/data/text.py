"""Strict reading of delimited text files (CSV, TSV, gzipped or not).

pandas' reader guesses where a file is malformed: when every row has one field more than the
header it takes the first column as the index and shifts every column by one; a short row is
padded with missing values. This reader guesses nothing. Every row must have as many fields as
the header, or the file is refused naming its lines; so is a quote that is never closed, the
header repeated further down (exports pasted together), binary content, or a file that mixes
encodings. Rows with no values at all (blank lines, lines of bare delimiters) are skipped and
reported in the data accounting; they keep their number, so data row *n* stays on line *n* + 1.

What it does decide, documented: the delimiter (comma, semicolon, tab or bar) is read off the
header line, or off an Excel ``sep=;`` first line; a UTF-8 byte-order mark is dropped; UTF-16
files with a byte-order mark (Excel's "Unicode text") are read; a file that is not UTF-8 is read
as Windows-1252 with a warning; empty cells and the usual missing-value markers (``NA``,
``NaN``, ``N/A``, ``NULL``, ``#N/A``, ...) are missing; a column whose values all read as numbers
is numeric, any other column stays text, so ``TRUE`` is never a number and ids such as ``007``
stay as written.
"""

import codecs
import csv
import gzip
import io
import re
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

from sitefx.data.labels import column_names, normalize
from sitefx.errors import DataReadWarning, StudyDataError, describe_labels

DELIMITERS = (",", ";", "\t", "|")  # the first wins a tie (a one-column file)
MISSING = frozenset(STR_NA_VALUES)  # "", "NA", "NaN", "N/A", "NULL", "#N/A", "None", ...
SEPARATOR_LINE = re.compile(r"sep=(.)")  # Excel's first line naming the delimiter
CONTROL = rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"  # never in text, always in binary files
CONTROL_BYTES, CONTROL_TEXT = re.compile(CONTROL), re.compile(CONTROL.decode())
# A valid multi-byte UTF-8 character: with invalid bytes elsewhere, the file mixes encodings.
UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
EDGES = " \t\ufeff\u200b\u200c\u200d\u2060\u00a0"  # a fast first test for a repeated header


@dataclass(frozen=True)
class Layout:
    r"""How a delimited file is laid out, as :func:`read_layout` finds it.

    Attributes
    ----------
    delimiter : str
        The field delimiter: one of ``, ; \t |``.
    header : tuple of str
        The header's fields, as written (not yet normalized).
    line : int
        The (1-based) line the header is on.

    Examples
    --------
    >>> import io
    >>> read_layout(io.StringIO("sep=;\nschool;effect\n"), source="data.csv")
    Layout(delimiter=';', header=('school', 'effect'), line=2)
    """

    delimiter: str
    header: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Rows:
    r"""The data rows of a delimited text, as written.

    Attributes
    ----------
    header : tuple of str
    fields : list of list of str
        Each row's fields (as many as the header's).
    numbers : list of int
        Each row's number: the first row after the header is 1, empty rows count.
    empty : tuple of int
        Numbers of the rows with no values, which were skipped.

    Examples
    --------
    >>> import io
    >>> lines = io.StringIO("school,effect\nA,1\n,\nB,2\n")
    >>> rows = parse(lines, source="data.csv", layout=read_layout(lines, source="data.csv"))
    >>> rows.fields, rows.numbers, rows.empty
    ([['A', '1'], ['B', '2']], [1, 3], (2,))
    """

    header: tuple[str, ...]
    fields: list[list[str]]
    numbers: list[int]
    empty: tuple[int, ...]


def read_delimited(
    path: Path, *, delimiter: str | None = None, text_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a delimited text file strictly into a frame indexed by data row number.

    Parameters
    ----------
    path : pathlib.Path
        A CSV, TSV or other delimited file, gzipped when its name ends in ``.gz``.
    delimiter : str, optional
        The field delimiter; by default read off the header line (or a ``sep=`` first line).
    text_columns : sequence of str, default ()
        Columns (ids) that stay text; other columns are numeric when all their values read as
        numbers.

    Returns
    -------
    pandas.DataFrame
        One column per named header field, indexed by data row number (the first row after
        the header is 1). Rows with no values are skipped, their numbers in
        ``frame.attrs["empty_rows"]``.

    Raises
    ------
    StudyDataError
        If the file is empty, binary, badly encoded or gzipped, or a row does not match the
        header (see :func:`parse`).

    Examples
    --------
    >>> frame = read_delimited(Path("studies/eight_schools/eight_schools.csv"))
    >>> frame.index[0], frame["effect"].dtype.kind
    (1, 'i')
    """
    lines = io.StringIO(decode(content(path), path.name), newline="")
    layout = read_layout(lines, source=path.name, delimiter=delimiter)
    rows = parse(lines, source=path.name, layout=layout)
    return to_frame(rows, source=path.name, text_columns=text_columns)


def decode(raw: bytes, source: str, *, fallback: bool = True) -> str:
    r"""Return the text of a file's bytes.

    Parameters
    ----------
    raw : bytes
        The file's (decompressed) content.
    source : str
        The file name, used in messages.
    fallback : bool, default True
        Read bytes that are not UTF-8 as Windows-1252 (with a warning) instead of refusing
        them.

    Returns
    -------
    str
        The text: UTF-8 (a byte-order mark dropped), UTF-16 with a byte-order mark, or else
        (``fallback``) Windows-1252.

    Raises
    ------
    StudyDataError
        If the content is binary, mixes encodings, or is not UTF-8 (without ``fallback``) nor
        Windows-1252; the message names the line.

    Warns
    -----
    DataReadWarning
        When the text was read as Windows-1252.

    Examples
    --------
    >>> decode("\ufeffschool,effect".encode(), "data.csv")
    'school,effect'
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text"
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise StudyDataError(f"{source}: not valid UTF-16 text ({error.reason})") from error
        _refuse_binary(CONTROL_TEXT.search(text), text, source)
        return text
    _refuse_binary(CONTROL_BYTES.search(raw), raw, source)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        if UTF8_SEQUENCE.search(raw):
            raise StudyDataError(
                f"{source}, line {line}: not UTF-8, while other lines are: the file mixes "
                f"encodings (rows pasted from different exports?); save it as UTF-8"
            ) from error
        if not fallback:
            raise StudyDataError(f"{source}, line {line}: not UTF-8; save it as UTF-8") from error
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise StudyDataError(
            f"{source}, line {line}: byte {raw[error.start]:#04x} is neither UTF-8 nor "
            f"Windows-1252 text; is this a data file of another kind?"
        ) from error
    warnings.warn(
        f"{source} is not UTF-8; read it as Windows-1252 (Latin-1): check the accented names, "
        f"or save the file as UTF-8",
        DataReadWarning,
        stacklevel=3,
    )
    return text


def read_layout(lines: Iterator[str], *, source: str, delimiter: str | None = None) -> Layout:
    r"""Read up to and including the header line of ``lines``.

    That is an optional ``sep=X`` line, blank lines, then the header, whose most frequent
    delimiter is the file's (the first of ``DELIMITERS`` on a tie).

    Parameters
    ----------
    lines : iterator of str
        The file's lines (e.g. an :class:`io.StringIO`); consumed up to the header, so the
        data rows are what is left for :func:`parse`.
    source : str
        The file name, used in messages.
    delimiter : str, optional
        The delimiter, when known; by default a ``sep=X`` line's or the header's.

    Returns
    -------
    Layout
        The delimiter, the header's fields and the header's line number.

    Raises
    ------
    StudyDataError
        If there is no header (the file is empty) or the header cannot be parsed.

    Examples
    --------
    >>> import io
    >>> read_layout(io.StringIO("\nschool\teffect\n"), source="data.tsv")
    Layout(delimiter='\t', header=('school', 'effect'), line=2)
    """
    for number, line in enumerate(lines, 1):
        content = line.rstrip("\r\n")
        separator = SEPARATOR_LINE.fullmatch(content)
        if number == 1 and separator:
            delimiter = delimiter or separator.group(1)
            continue
        if not content.strip():
            continue
        delimiter = delimiter or max(DELIMITERS, key=content.count)
        try:
            header = next(csv.reader([content], delimiter=delimiter, strict=True))
        except csv.Error as error:
            raise StudyDataError(f"{source}, line {number} (the header): {error}") from error
        return Layout(delimiter=delimiter, header=tuple(header), line=number)
    raise StudyDataError(f"{source}: the file is empty")


def parse(lines: Iterator[str], *, source: str, layout: Layout) -> Rows:
    r"""Return the data rows of ``lines`` (what follows the header), checked against the header.

    Parameters
    ----------
    lines : iterator of str
        The lines after the header (what :func:`read_layout` left).
    source : str
        The file name, used in messages.
    layout : Layout
        The file's layout; line numbers in messages count from ``layout.line`` + 1.

    Returns
    -------
    Rows
        The rows with values, their row numbers, and the numbers of the empty rows skipped.

    Raises
    ------
    StudyDataError
        Naming the lines of rows with more or fewer fields than the header, of header lines
        repeated among the data, or of a quote that is never closed.

    Examples
    --------
    >>> import io
    >>> layout = Layout(delimiter=",", header=("school", "effect"), line=1)
    >>> parse(io.StringIO("A,1\nB,2,3\n"), source="data.csv", layout=layout)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.StudyDataError: data.csv: 1 row(s) do not ... (line 1): line 3 has 3; ...
    """
    width = len(layout.header)
    names = [normalize(name) for name in layout.header]
    reader = csv.reader(lines, delimiter=layout.delimiter, strict=True)
    fields, numbers, empty, ragged, repeated = [], [], [], [], []
    start = layout.line + 1  # the line the current record starts on
    try:
        for number, row in enumerate(reader, 1):
            if not "".join(row).strip():
                empty.append(number)
            elif len(row) != width:
                ragged.append((start, len(row)))
            elif row[0].strip(EDGES) == names[0] and [normalize(value) for value in row] == names:
                repeated.append(start)
            else:
                fields.append(row)
                numbers.append(number)
            start = layout.line + reader.line_num + 1
    except csv.Error as error:
        if "unexpected end of data" in str(error) or "larger than field limit" in str(error):
            raise StudyDataError(
                f"{source}, line {start}: a quoted value that is never closed (or longer "
                f"than {csv.field_size_limit()} characters)"
            ) from error
        raise StudyDataError(f"{source}, line {layout.line + reader.line_num}: {error}") from error
    if ragged:
        raise StudyDataError(_ragged_message(ragged, width, source, layout.line))
    if repeated:
        raise StudyDataError(
            f"{source}: line(s) {describe_labels(repeated)} repeat the header (exports pasted "
            f"together?); remove them"
        )
    return Rows(header=layout.header, fields=fields, numbers=numbers, empty=tuple(empty))


def to_frame(rows: Rows, *, source: str, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Return the rows as a frame indexed by row number.

    Parameters
    ----------
    rows : Rows
        The parsed rows.
    source : str
        The file name, used in messages.
    text_columns : sequence of str, default ()
        Columns that stay text even when all their values read as numbers (ids such as
        ``007``).

    Returns
    -------
    pandas.DataFrame
        One column per named header field (normalized names; columns without a name left
        out): missing-value markers missing, columns whose values all read as numbers numeric.
        ``frame.attrs["empty_rows"]`` holds the numbers of the skipped empty rows.

    Raises
    ------
    StudyDataError
        If the header has no column names, or two names look alike.

    Examples
    --------
    >>> rows = Rows(("id", "score"), [["007", "NA"], ["012", "3.5"]], [1, 2], ())
    >>> frame = to_frame(rows, source="data.csv", text_columns=["id"])
    >>> frame["id"].tolist(), frame["score"].tolist()
    (['007', '012'], [nan, 3.5])
    """
    names = column_names(rows.header, source)
    if not any(names):
        raise StudyDataError(f"{source}: the header has no column names")
    values = list(zip(*rows.fields, strict=True)) or [()] * len(names)
    index = pd.Index(rows.numbers) if rows.empty else pd.RangeIndex(1, len(rows.numbers) + 1)
    frame = pd.DataFrame(
        {
            name: _typed(pd.Series(column, index=index, dtype=object), name in text_columns)
            for name, column in zip(names, values, strict=True)
            if name
        },
        index=index,
    )
    frame.attrs["empty_rows"] = rows.empty
    return frame


def content(path: Path) -> bytes:
    """Return the file's bytes, decompressed when its name ends in ``.gz``.

    Parameters
    ----------
    path : pathlib.Path
        The data file.

    Returns
    -------
    bytes
        The (decompressed) content.

    Raises
    ------
    StudyDataError
        If a gzip file is truncated or corrupt, naming it.

    Examples
    --------
    >>> content(Path("studies/eight_schools/eight_schools.csv"))[:13]
    b'school,effect'
    """
    raw = path.read_bytes()
    if not path.name.lower().endswith(".gz"):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as error:
        raise StudyDataError(f"{path.name}: truncated: the compressed data end early") from error
    except (gzip.BadGzipFile, zlib.error) as error:
        raise StudyDataError(f"{path.name}: not a valid gzip file ({error})") from error


def _refuse_binary(found: re.Match | None, content: str | bytes, source: str) -> None:
    if found is None:
        return
    newline = "\n" if isinstance(content, str) else b"\n"
    line = content.count(newline, 0, found.start()) + 1
    raise StudyDataError(
        f"{source}, line {line}: binary content (control character "
        f"{ord(found.group()):#04x}); not a text data file (a spreadsheet, Parquet or "
        f"compressed file named .csv?)"
    )


def _ragged_message(ragged: list[tuple[int, int]], width: int, source: str, header: int) -> str:
    more = all(count > width for _, count in ragged)
    hint = (
        'a value holding the delimiter must be quoted ("1,5"), and a header missing a name '
        "shifts every column"
        if more
        else "a missing value still needs its delimiter (A,,3)"
    )
    lines = describe_labels(f"line {line} has {count}" for line, count in ragged)
    where = f" (line {header})" if header else ""
    return (
        f"{source}: {len(ragged)} row(s) do not have the {width} fields of the header{where}: "
        f"{lines}; {hint}"
    )


def _typed(column: pd.Series, text: bool) -> pd.Series:
    """Return numbers if every value reads as one or is a missing-value marker.

    Unless ``text``; else the text, with missing-value markers missing.
    """
    if not text:
        numbers = pd.to_numeric(column, errors="coerce")
        if column[numbers.isna()].str.strip().isin(MISSING).all():
            return numbers
    return column.mask(column.str.strip().isin(MISSING))
