"""Batch stage, input and output: split a CSV/JSONL file into chunks, parse them, write rows safely.

The parent process plans the chunks (byte ranges that end at record boundaries); each worker
reads and parses its own range. Rows are kept as columns (one list per field path), with None
for an absent value, so the column evaluator (`vector.py`) can work on whole columns at once.

Over 500 lines because the readers of each shape of input (the whole-block split, the csv
module line by line, the sequential reader for quoted newlines, JSONL, a line too long to read)
must turn the same bytes into the same rows and the same row errors, and are kept side by side.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np

from pctrules.caseinput import (
    MAX_NESTING,
    duplicate_keys_hook,
    is_text,
    not_utf8,
    not_utf8_byte,
    printable,
    value_problem,
)
from pctrules.evaluation.runtime import describe
from pctrules.jsonlines import json_text
from pctrules.language.diagnostics import CaseError, Code, PctrulesError, error

FORMATS: Final = ("csv", "jsonl", "parquet")
BLOCK_BYTES: Final = 1 << 20
"""Bytes per chunk: about 30,000 rows of a typical case file. Smaller chunks start the workers
sooner and end them together; larger ones pay less per chunk (1 MiB measured best)."""
ROWS_PER_SEQUENTIAL_CHUNK: Final = 30_000

Path_ = tuple[str, ...]


def detect_format(path: Path, given: str | None) -> str:
    """The format named by `--format`, else by the file name (`.jsonl`/`.ndjson` → jsonl,
    `.parquet`/`.pq` → parquet)."""
    if given:
        return given
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "jsonl" if suffix in (".jsonl", ".ndjson") else "csv"


def input_error(message: str, help: str | None = None) -> PctrulesError:
    """A whole-input problem (exit 5): nothing is evaluated and no output is written."""
    return CaseError(error(Code.CASE, message, None, help))


# -- planning: byte ranges at record boundaries ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """One chunk of input for a worker: a byte range, or rows the parent already parsed.

    `quoted` says the range holds a `"` and needs the csv module (its records still never span
    lines: the planner checked); `rows` is set for the sequential fallback (quoted newlines);
    `batch` holds a Parquet input's rows (a pyarrow RecordBatch the parent read).
    """

    seq: int
    first_row: int
    start: int
    length: int
    lines: int
    quoted: bool = False
    rows: list[list[str]] | None = None
    unreadable: dict[int, str] | None = None  # rows of `rows` the csv module refused, and why
    overlong: bool = False  # one line over MAX_LINE_BYTES: that row's error, never read whole
    batch: Any = None


@dataclass(frozen=True, slots=True)
class Header:
    """The CSV header: the field path of each column, and where the data starts."""

    columns: tuple[str, ...]
    data_offset: int


_WIDE_BOMS: Final = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_UTF8_BOM: Final = b"\xef\xbb\xbf"
MAX_HEADER_BYTES: Final = 1 << 20


def _first_line(path: Path) -> bytes:
    """The file's first line (at most MAX_HEADER_BYTES of it), refused as a whole when the file
    is not UTF-8 text: one message for the file, not an error on every row."""
    with path.open("rb") as f:
        first = f.readline(MAX_HEADER_BYTES)
    wide = next((name for bom, name in _WIDE_BOMS if first.startswith(bom)), None)
    if wide is None and b"\x00" in first:
        wide = "UTF-16"  # ASCII text in UTF-16 without a byte-order mark: every other byte 0
    if wide is not None:
        raise input_error(
            f"'{path}' is {wide} text, not UTF-8",
            f"save it as UTF-8, or convert it, e.g. 'iconv -f {wide} -t UTF-8 "
            f"{path} > converted{path.suffix}'",
        )
    return first


def read_header(path: Path) -> Header:
    """Read the CSV header line (a UTF-8 byte-order mark is allowed)."""
    first = _first_line(path)
    if not first.strip():
        raise input_error(
            f"'{path}' has no header line",
            "the first line names the columns, e.g. 'id,date,person.practice'",
        )
    if not first.endswith(b"\n") and len(first) == MAX_HEADER_BYTES:
        raise input_error(
            f"'{path}' line 1: the header is longer than {MAX_HEADER_BYTES:,} bytes",
            "the first line names the columns, e.g. 'id,date,person.practice'",
        )
    text = first.removeprefix(_UTF8_BOM).decode("utf-8", errors="surrogateescape")
    text = text.removesuffix("\n").removesuffix("\r")
    if not is_text(text):
        raise input_error(
            f"'{path}' line 1: the header is not valid UTF-8 text ({not_utf8_byte(text)})",
            "save the file as UTF-8",
        )
    if "\r" in text:
        raise input_error(
            f"'{path}' line 1: the header holds a carriage return (CR) that does not end the line",
            "lines end with LF or CRLF; a file whose lines end with CR alone (an old "
            "Mac format) must be converted first, e.g. with 'tr' or a spreadsheet's 'CSV UTF-8'",
        )
    try:
        columns = tuple(c.strip() for c in next(csv.reader([text]), [""]))
    except csv.Error as exc:
        raise input_error(
            f"'{path}' line 1: the header cannot be read as CSV: {str(exc).split(' - ')[0]}"
        ) from None
    return Header(columns, len(first))


def jsonl_start(path: Path) -> int:
    """Where the JSON lines start: after a UTF-8 byte-order mark, if the file has one."""
    return len(_UTF8_BOM) if _first_line(path).startswith(_UTF8_BOM) else 0


def plan_jobs(path: Path, start: int, fmt: str, block_bytes: int = BLOCK_BYTES) -> Iterator[Job]:
    """Cut the file from `start` into jobs ending at record boundaries, in order.

    A CSV block with a quoted newline (a `"` count that is odd on some line) switches the rest of
    the file to the sequential reader: the parent parses it with the csv module and hands out
    parsed rows. JSON lines never hold a raw newline, so JSONL always splits at line ends.
    """
    seq = row = 0
    with path.open("rb") as f:
        offset = start
        while True:
            f.seek(offset)
            block = f.read(block_bytes)
            if not block:
                return
            cut = block.rfind(b"\n") + 1
            if cut == 0:  # a line longer than a block: find its end
                cut, odd = _line_length(f, offset, block_bytes)
                if cut > MAX_LINE_BYTES and not (fmt == "csv" and odd):
                    yield Job(seq, row, offset, cut, 1, overlong=True)
                    seq, row, offset = seq + 1, row + 1, offset + cut
                    continue
                f.seek(offset)
                block = f.read(cut)
            data = block[:cut]
            quoted = fmt == "csv" and b'"' in data
            if quoted and any(line.count(b'"') & 1 for line in data.split(b"\n")):
                yield from _sequential(f, offset, seq, row)
                return
            lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            yield Job(seq, row, offset, cut, lines, quoted)
            seq, row, offset = seq + 1, row + lines, offset + cut


MAX_LINE_BYTES: Final = 16 << 20
"""A line longer than this is that row's error, without being read whole (a case is a few
hundred bytes; a cell at most 131,072 characters)."""


def _line_length(f: BinaryIO, offset: int, block_bytes: int) -> tuple[int, bool]:
    """The bytes of the line from `offset` (its LF included), and whether it holds an odd
    number of quotes (a CSV record going on after it); read in blocks, not kept."""
    f.seek(offset)
    length, quotes = 0, 0
    while True:
        block = f.read(block_bytes)
        end = block.find(b"\n") + 1
        if end or not block:
            part = block[:end] if end else block
            return length + len(part), bool((quotes + part.count(b'"')) & 1)
        length += len(block)
        quotes += block.count(b'"')


def overlong_chunk(path: Path, job: Job, fmt: str) -> Chunk:
    """The row of a line over MAX_LINE_BYTES: its error, and (CSV) its id when the line's
    first cell ends soon enough to be read."""
    with path.open("rb") as f:
        f.seek(job.start)
        head = f.read(1 << 16).decode("utf-8", errors="surrogateescape")
    first = _first_cell(_hide_cr(head)) if fmt == "csv" else None
    problem = f"the line is {job.length:,} bytes long; a row may take at most {MAX_LINE_BYTES:,}"
    return Chunk(1, [("id",)], [[first]], {0: problem}, blank=fmt == "csv")


def _sequential(f: BinaryIO, offset: int, seq: int, first_row: int) -> Iterator[Job]:
    """The rest of the file parsed here, with the csv module: quoted newlines end no record.
    A job's `length` is then the bytes its rows took (for progress), roughly."""
    f.seek(offset)
    # Lines end at LF (CRLF included), as in the byte-range jobs; a bare CR is cell text.
    # Bytes that are not UTF-8 are kept as escapes: parse_csv makes their rows errors.
    text = io.TextIOWrapper(f, encoding="utf-8", errors="surrogateescape", newline="\n")
    lines = _RecordLines(map(_hide_cr, text))
    reader = csv.reader(lines)
    rows: list[list[str]] = []
    unreadable: dict[int, str] = {}
    size = 0
    while True:
        lines.start_record()
        try:
            record = _show_cr(next(reader))
        except StopIteration:
            break
        except csv.Error as exc:
            # One bad record (a cell over the csv module's limit): that row's error. The reader
            # starts afresh at its next line, so skip to where this record really ends.
            unreadable[len(rows)] = _unreadable(exc)
            record = lines.skip_record()
        rows.append(record)
        size += sum(map(len, record)) + len(record)
        if len(rows) == ROWS_PER_SEQUENTIAL_CHUNK:
            yield Job(seq, first_row, 0, size, len(rows), True, rows, unreadable)
            seq, first_row, rows, size, unreadable = seq + 1, first_row + len(rows), [], 0, {}
    if rows:
        yield Job(seq, first_row, 0, size, len(rows), True, rows, unreadable)
    text.detach()


# The csv module refuses a carriage return inside an unquoted cell; pctrules reads one as text
# (lines end at LF or CRLF). It is swapped for a code point that valid UTF-8 text cannot hold
# (a lone surrogate) while the csv module reads the line, then swapped back.
_CR: Final = "\ud800"


def _hide_cr(line: str) -> str:
    if "\r" not in line:
        return line
    end = "\r\n" if line.endswith("\r\n") else ""
    return line[: len(line) - len(end)].replace("\r", _CR) + end


def _show_cr(record: list[str]) -> list[str]:
    return [c.replace(_CR, "\r") for c in record] if any(_CR in c for c in record) else record


def _unreadable(exc: csv.Error) -> str:
    return f"the row cannot be read as CSV: {str(exc).split(' - ')[0]}"


class _RecordLines:
    """The lines of a CSV file as the csv module reads them, remembering the lines of the
    record being read, so that after the csv module refuses a record the rest of it can be
    skipped (its own lines are not rows) and its id kept."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.record: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.record.append(line)
        return line

    def start_record(self) -> None:
        self.record = []

    def skip_record(self) -> list[str]:
        """Read on to the end of the record the csv module refused; its first cell (the id),
        when that cell is whole on its first line, else nothing."""
        inside = False
        for line in self.record:
            inside = _inside_quotes(line, inside)
        while inside:
            more = next(self.lines, None)
            if more is None:
                break
            inside = _inside_quotes(more, True)
        first = _first_cell(self.record[0]) if self.record else None
        self.record = []
        return [] if first is None else [first]


def _inside_quotes(line: str, inside: bool) -> bool:
    """Whether a CSV record is inside a quoted cell at the end of `line` (one line, ending at
    LF or at the end of the file), given whether it was at its start; as the csv module reads
    (a `"` opens a quoted cell only at a cell's start, `""` inside one is a quote)."""
    i, n = 0, len(line)
    start = not inside  # at the start of a cell
    while i < n:
        if inside:
            j = line.find('"', i)
            if j < 0:
                return True
            if line.startswith('"', j + 1):
                i = j + 2  # a doubled quote
                continue
            inside, start, i = False, False, j + 1
        elif start and line[i] == '"':
            inside, start, i = True, False, i + 1
        else:
            j = line.find(",", i)
            if j < 0:
                return False
            start, i = True, j + 1
    return inside


def _first_cell(line: str) -> str | None:
    """The first cell of a record's first line as the csv module reads it, if it ends there."""
    inside, start, i = False, True, 0
    while i < len(line):
        if inside:
            j = line.find('"', i)
            if j < 0:
                return None
            if line.startswith('"', j + 1):
                i = j + 2
                continue
            inside, i = False, j + 1
        elif start and line[i] == '"':
            inside, start, i = True, False, i + 1
        elif line[i] == ",":
            if i > csv.field_size_limit():
                return None  # the id is the cell the csv module refused
            cell = next(csv.reader([line[:i]]), [""])
            return _show_cr(cell)[0] if cell else ""
        else:
            start, i = False, i + 1
    return None


def _csv_lines(lines: list[str]) -> tuple[list[list[str]], dict[int, str]]:
    """Each line as one CSV record (the planner made sure no quoted cell spans lines), with
    the rows the csv module refuses and why."""
    rows: list[list[str]] = []
    unreadable: dict[int, str] = {}
    reader: Any = csv.reader(map(_hide_cr, lines))  # None once lines are read one by one
    for i, line in enumerate(lines):
        if reader is None:
            row, problem = _csv_line(line)
        else:
            try:
                row, problem = next(reader), None
            except csv.Error as exc:
                row, problem = None, _unreadable(exc)
            if reader.line_num != i + 1:
                # The csv module read a quote the planner counted as closed (`""{","`) as
                # opening a cell, and ran on into the next lines: from this line on, each is
                # read alone, as the planner cut it (a restarted reader would have to skip
                # the lines before, again for each such line).
                reader = None
                row, problem = _csv_line(line)
        if row is None:
            unreadable[i] = problem or ""
            first = _first_cell(_hide_cr(line))
            row = [] if first is None else [first]
        rows.append(_show_cr(row))
    return rows, unreadable


def _csv_line(line: str) -> tuple[list[str] | None, str | None]:
    """One line as one CSV record, or None and why the csv module refuses it."""
    try:
        return next(csv.reader((_hide_cr(line),)), []), None
    except csv.Error as exc:
        return None, _unreadable(exc)


def read_job(path: Path, job: Job) -> bytes:
    with path.open("rb") as f:
        f.seek(job.start)
        return f.read(job.length)


# -- parsing: a chunk of rows as columns -----------------------------------------------------


@dataclass(slots=True)
class Chunk:
    """Parsed rows as columns: `columns[i][r]` is field `paths[i]` of row r (None = absent).

    `errors` holds the rows that failed before evaluation (a short row, bad JSON), by row index;
    their column values are absent. `blank` says an empty text is an absent value (CSV, where
    an empty cell is how a value is left out). `plain_first` says no cell of the first column
    needs neutralising or quoting in CSV output (`safe_cell` would leave each as it is).
    """

    n: int
    paths: list[Path_]
    columns: list[list[object]]
    errors: dict[int, str] = field(default_factory=dict)
    blank: bool = False
    plain_first: bool = False
    # JSONL: each row's columns in the order its line wrote them (rows of one shape share one
    # tuple), so that a row's problems are listed in its own order however the file is cut.
    order: list[tuple[int, ...]] | None = None
    # JSONL: the rows that give a field the case does not have, with all they give, in order;
    # the engine names the problem (their columns hold only their id).
    loose: dict[int, list[tuple[Path_, object]]] = field(default_factory=dict)


def split_path(name: str) -> Path_:
    return tuple(name.split("."))


def _decode(data: bytes) -> tuple[str, bool]:
    """Text of a block; a block that is not UTF-8 keeps its bad bytes as escapes (flagged)."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="surrogateescape"), True


def _text(data: bytes) -> tuple[str, bool]:
    """A block's text without CR before LF and without the final newline (bad UTF-8 flagged)."""
    text, bad = _decode(data)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    return text, bad


def _lines(data: bytes) -> tuple[list[str], bool]:
    text, bad = _text(data)
    return text.split("\n"), bad


def _check_block(data: bytes, commas: int) -> tuple[bool, bool]:
    """Whether every line of an unquoted block has exactly `commas` commas, and whether its
    first cells are plain (no line starts with a character that a spreadsheet reads as a
    formula, and no CR is cell text): a few numpy passes over the bytes, with no Python-level
    loop over the lines."""
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(raw))
    n = len(ends)
    starts = np.concatenate(([0], ends[:-1] + 1))
    # A CR that does not end a line is cell text, and a cell holding one must be quoted.
    plain = not np.isin(raw[starts[starts < len(raw)]], _FORMULA_CODES).any() and (
        b"\r" not in data or data.count(b"\r") == data.count(b"\r\n")
    )
    if commas == 0:
        return not (raw == 44).any(), plain
    comma = np.flatnonzero(raw == 44)
    if len(comma) != n * commas:
        return False, plain
    # Line k holds commas k*c … k*c + c - 1: its last comma is before its end, and its first
    # comma after the previous line's end.
    widths = bool(
        (comma[commas - 1 :: commas] < ends).all() and (comma[::commas] > starts - 1).all()
    )
    return widths, plain


def _not_utf8(line: str) -> bool:
    return not is_text(line)


EMPTY_LINE = "the line is empty"


def parse_csv(
    data: bytes | None,
    rows: list[list[str]] | None,
    quoted: bool,
    header: Sequence[str],
    unreadable: Mapping[int, str] | None = None,
) -> Chunk:
    """Parse a CSV job into columns; an empty cell is an absent value. `unreadable`: rows
    the csv module already refused (the sequential reader's), by index."""
    width = len(header)
    paths = [split_path(c) for c in header]
    errors: dict[int, str] = dict(unreadable or {})
    if rows is None:
        assert data is not None
        widths, plain = (False, False) if quoted else _check_block(data, width - 1)
        if widths:
            # The common case: no quotes, every line the right width. Split the whole block in
            # one call and slice out each column.
            text, bad_text = _text(data)
            if not bad_text:
                flat: list[object] = text.replace("\n", ",").split(",")  # type: ignore[assignment]
                n = len(flat) // width
                chunk = Chunk(
                    n, paths, [flat[i::width] for i in range(width)], blank=True, plain_first=plain
                )
                return _merge_repeated(chunk, header)
        lines, bad_text = _lines(data)
        if quoted:
            rows, refused = _csv_lines(lines)
            errors.update(refused)
        else:
            rows = [line.split(",") for line in lines]
        if bad_text:
            for i, line in enumerate(lines):
                if _not_utf8(line):
                    errors[i] = _not_utf8_row(rows[i], header)
    else:
        for i, row in enumerate(rows):  # rows the sequential reader parsed
            if not is_text("".join(row)):
                errors[i] = _not_utf8_row(row, header)
    n = len(rows)
    empty: list[str] = [""] * width
    fixed: list[Sequence[str]] = []
    for i, row in enumerate(rows):
        if len(row) != width and i not in errors:
            errors[i] = (
                EMPTY_LINE if len(row) <= 1 and not any(row) else _width_error(len(row), width)
            )
        # A bad row keeps what cells it has (its id names it in the output); no rule sees them.
        fixed.append((list(row) + empty)[:width] if i in errors else row)
    columns: list[list[object]] = (
        [list(col) for col in zip(*fixed, strict=True)] if fixed else [[] for _ in range(width)]
    )
    return _merge_repeated(Chunk(n, paths, columns, errors, blank=True), header)


def repeated_columns(header: Sequence[str]) -> dict[str, list[int]]:
    """Column names the header holds more than once, with their positions."""
    where: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        where.setdefault(name, []).append(i)
    return {name: at for name, at in where.items() if len(at) > 1}


def _merge_repeated(chunk: Chunk, header: Sequence[str]) -> Chunk:
    """One column per field: a field named twice takes the row's one non-empty value; a row
    that gives it two different values is that row's error (no value is chosen for it)."""
    repeated = repeated_columns(header)
    if not repeated:
        return chunk
    drop: set[int] = set()
    for name, at in repeated.items():
        first = chunk.columns[at[0]]
        for r in range(chunk.n):
            given = list(
                dict.fromkeys(v for v in (chunk.columns[i][r] for i in at) if v not in (None, ""))
            )
            if len(given) > 1 and r not in chunk.errors:
                cells = ", ".join(f"'{v}'" for v in given)
                places = " and ".join(str(i + 1) for i in at)
                chunk.errors[r] = (
                    f"column '{name}' appears {len(at)} times in the header "
                    f"(columns {places}) and this row gives it different values: "
                    f"{cells}"
                )
            first[r] = given[0] if given else first[r]
        drop.update(at[1:])
    keep = [i for i in range(len(chunk.paths)) if i not in drop]
    return Chunk(
        chunk.n,
        [chunk.paths[i] for i in keep],
        [chunk.columns[i] for i in keep],
        chunk.errors,
        blank=True,
        plain_first=False,
    )


def _not_utf8_row(row: Sequence[str], header: Sequence[str]) -> str:
    """The problem of a row holding bytes that are not UTF-8: the first one, and its column."""
    for i, cell in enumerate(row):
        if not is_text(cell):
            where = f"column {i + 1}" + (f" ('{header[i]}')" if i < len(header) else "")
            return f"the row is not valid UTF-8 text: {not_utf8_byte(cell)} in {where}"
    return "the row is not valid UTF-8 text"


def _width_error(got: int, width: int) -> str:
    fields = "field" if got == 1 else "fields"
    return f"row has {got} {fields}; the header has {width}"


def parse_jsonl(data: bytes, fields: Container[Path_]) -> Chunk:
    """Parse a JSONL job: one JSON object per line, nested mappings or dotted keys. A line
    that is not a usable object is that row's error; it keeps its id when it has a clean one.

    Only the case's `fields` get columns; a row that gives anything else keeps what it gives
    in `loose`, in its own order (columns for every key any line invents would grow as rows
    times keys, and a few kilobytes of JSON could then take gigabytes)."""
    lines, bad_text = _lines(data)
    n = len(lines)
    index: dict[Path_, int] = {}
    columns: list[list[object]] = []
    errors: dict[int, str] = {}
    shapes: dict[tuple[int, ...], tuple[int, ...]] = {}
    order: list[tuple[int, ...]] = []
    loose: dict[int, list[tuple[Path_, object]]] = {}
    twice: list[str] = []
    decoder = json.JSONDecoder(
        object_pairs_hook=duplicate_keys_hook(twice),
        parse_float=finite_float,
        parse_constant=_no_constant,
    )
    for r, line in enumerate(lines):
        seen: list[int] = []
        twice.clear()
        obj, problem = _json_object(decoder, line, bad_text)
        if not problem and twice:
            problem = f"the line gives key '{printable(twice[0])}' twice in one object"
        if problem:
            errors[r] = problem
            obj = _clean_id(obj)
        pairs = _flatten(obj, (), [])
        for p, _ in pairs:
            if p not in fields:
                loose[r] = pairs
                pairs = [(p, v) for p, v in pairs if p == ("id",)]  # the id names the row
                break
        for p, value in pairs:
            i = index.get(p)
            if i is None:
                i = index[p] = len(columns)
                columns.append([None] * n)
            if columns[i][r] is None:
                seen.append(i)
            elif columns[i][r] != value and r not in errors:
                # A dotted key and a nested one naming the same field, with different values.
                errors[r] = (
                    f"field '{'.'.join(p)}' is given twice, as "
                    f"{describe(columns[i][r])} and {describe(value)}"
                )
            columns[i][r] = value
        shape = tuple(seen)
        order.append(shapes.setdefault(shape, shape))
    return Chunk(n, list(index), columns, errors, order=order, loose=loose)


def _json_object(
    decoder: json.JSONDecoder, line: str, maybe_bad: bool
) -> tuple[dict[str, object], str | None]:
    """A line's JSON object, and what makes it unusable (None when nothing does)."""
    problem = not_utf8(line) if maybe_bad and _not_utf8(line) else None
    try:
        obj = decoder.decode(line)
    except RecursionError:
        return {}, problem or f"the line nests mappings or lists more than {MAX_NESTING} deep"
    except ValueError as exc:
        return {}, problem or _json_error(line, exc)
    if not isinstance(obj, dict):
        return {}, f"the line is not a JSON object: {_short(line)}"
    if problem is not None:
        return obj, problem  # its id may still name the row
    # Only a line with that many brackets can nest too deep, and only an escape can make a
    # lone surrogate: most lines are not walked.
    if ("\\u" in line and _ESCAPED_SURROGATE.search(line)) or (
        line.count("{") + line.count("[") > MAX_NESTING
    ):
        return obj, value_problem(obj)
    return obj, None


_ESCAPED_SURROGATE: Final = re.compile(r"\\u[dD][89a-fA-F]")


def _clean_id(obj: dict[str, object]) -> dict[str, object]:
    """What a failed row keeps: its id, if that is text or a whole number (the output shows a
    byte that is not UTF-8 as U+FFFD)."""
    given = obj.get("id")
    if isinstance(given, str) or (isinstance(given, int) and not isinstance(given, bool)):
        return {"id": given}
    return {}


def finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent; one too large for a float (`1e999`) is
    refused rather than read as infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:20]} is too large")
    return value


class _Refused(ValueError):
    """JSON that Python's reader takes but case input does not (its message is ours)."""


def _no_constant(name: str) -> object:
    raise _Refused(f"{name} is not a number JSON allows")


def _flatten(
    obj: dict[str, object], prefix: Path_, out: list[tuple[Path_, object]]
) -> list[tuple[Path_, object]]:
    """Each field of a parsed line by its path, in the line's order (`out`, extended)."""
    for key, value in obj.items():
        p = (*prefix, *key.split(".")) if "." in key else (*prefix, key)
        if value.__class__ is dict and value:
            _flatten(value, p, out)
        else:
            out.append((p, value))
    return out


def _json_error(line: str, exc: ValueError) -> str:
    if not line.strip():
        return EMPTY_LINE
    reason = str(exc.args[0]) if exc.args else "invalid"
    if not isinstance(exc, _Refused):
        reason = reason.split(":")[0].lower()
    return f"the line is not valid JSON ({reason}): {_short(line)}"


def _short(text: str, limit: int = 60) -> str:
    return repr(printable(text if len(text) <= limit else text[:limit] + "…"))


class FieldClash(ValueError):
    """A row gives a field both a value and fields of its own (`person` and `person.practice`)."""


def nested(paths: Sequence[Path_], values: Sequence[object], blank: bool) -> dict[str, object]:
    """A row as the nested mapping a case file would hold, leaving absent values out.
    FieldClash when one field is given as a value and as a group: neither may win silently."""
    out: dict[str, object] = {}
    for p, v in zip(paths, values, strict=True):
        if v is None or (blank and v == ""):
            continue
        target = out
        for depth, key in enumerate(p[:-1]):
            inner = target.setdefault(key, {})
            if not isinstance(inner, dict):
                raise _clash(p[: depth + 1], inner, p)
            target = inner
        given = target.get(p[-1])
        if isinstance(given, dict):
            if isinstance(v, dict) and not v:
                continue  # an empty group: the fields given for it stay
            inner = next((q for q in paths if q[: len(p)] == p and q != p), None)
            if inner is not None:
                raise _clash(p, v, inner)
            # No field inside it: the group was given as a value of its own (`{}`), twice.
            raise FieldClash(
                f"field '{'.'.join(p)}' is given twice, as {describe(given)} and {describe(v)}"
            )
        if given is not None and given != v:
            raise FieldClash(
                f"field '{'.'.join(p)}' is given twice, as {describe(given)} and {describe(v)}"
            )
        target[p[-1]] = v
    return out


def _clash(group: Path_, value: object, inner: Path_) -> FieldClash:
    return FieldClash(
        f"field '{'.'.join(group)}' is given as {describe(value)} and also has "
        f"a field of its own, '{'.'.join(inner)}'"
    )


# -- output ----------------------------------------------------------------------------------

FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP "CSV injection")."""
_FORMULA_CODES: Final = [ord(c) for c in FORMULA_START]


# A formula character just after a line end inside a cell: a reader that splits records at a
# line end even inside quotes (some spreadsheets do, at a bare CR) would start a cell there.
_FORMULA_AFTER_BREAK: Final = re.compile(r"([\r\n])(?=[=+\-@\t\r])")


def safe_cell(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading `'` before formula characters (at
    the start, and after each line end inside the cell), then CSV quoting where the text needs
    it (a comma, a quote, CR or LF anywhere)."""
    if text.startswith(FORMULA_START):
        text = "'" + text
    if "\r" in text or "\n" in text:
        text = _FORMULA_AFTER_BREAK.sub(r"\1'", text)
    if any(c in text for c in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def safe_column(values: list[str]) -> list[str]:
    """`safe_cell` over a column, fast when (as usual) no cell needs it."""
    if _all_plain("\n".join(values), "\n", len(values)):
        return values
    return [safe_cell(v) for v in values]


def csv_line(cells: Sequence[str]) -> str:
    """One CSV record of safe cells; one pass over the joined line when (as usual) no cell
    needs quoting or neutralising."""
    line = ",".join(cells)
    if _all_plain(line, ",", len(cells)):
        return line
    return ",".join(safe_cell(c) for c in cells)


# What makes a cell need `safe_cell`, searched over cells joined by a separator (which the
# count check has already ruled out inside a cell): a quote, comma, line end or CR anywhere, or
# a formula character at a cell's start.
_CARE = {
    ",": re.compile(r'["\n\r]|(?:^|,)[=+\-@\t]'),
    "\n": re.compile(r'[",\r]|(?:^|\n)[=+\-@\t]'),
}


def _all_plain(joined: str, sep: str, cells: int) -> bool:
    """Whether no cell of `joined` (cells joined by `sep`) needs quoting or neutralising:
    the separator count says no cell holds one itself, then one regex pass."""
    return joined.count(sep) == cells - 1 and _CARE[sep].search(joined) is None


def output_columns(decisions: Sequence[str]) -> list[str]:
    cols = ["id"]
    for d in decisions:
        cols += [d, f"{d}.rule", f"{d}.reason"]
    return [*cols, "error", "warnings"]


def jsonl_line(columns: Sequence[str], cells: Sequence[object]) -> str:
    return json_text(dict(zip(columns, cells, strict=True)))
