"""Batch stage, Arrow path: a plain CSV or JSONL chunk parsed, checked and decided by Arrow.

A CSV chunk is *plain* when nothing in its bytes needs the csv module's judgement: no quote,
no CR but in CRLF line ends, no empty line, every record with the header's number of fields,
valid UTF-8 throughout. Such a chunk (nearly every chunk of a real extract) is parsed by
pyarrow's CSV reader, each field's values matched to the values it has met and validated once
(columns/core.py: Arrow's hash lookup, no Python per cell), decided by columns, and rendered
without a Python call per row: each row's output is its id cell joined to the cells of its
distinct (rule, value) combination by Arrow, and the chunk's bytes are the data buffer of that
string column. The rows the columns cannot vouch for (an invalid value, no date) go to the
engine one by one, and a rule that fails sends the whole chunk there (columns/core.py), so their
errors are the engine's words, as on the usual path. Any chunk that is not plain returns None,
and the caller takes it the way it always has (batch/run.py), so its rows read, fail and are
worded exactly as before.

A JSONL chunk is plain when Arrow's JSON reader and Python's would see the same objects: no
escape (so no lone surrogate and no key that only an escape spells), no control character, no
byte-order mark inside, no blank line, no `null` and no empty object (Arrow cannot tell them
from a key left out, and Python can), valid UTF-8, one object per line, every value text (a
number or true/false goes the usual way), every key a case field given once (dotted or nested,
not both). A key a row leaves out is then absent to both. A JSONL chunk with a row the columns
cannot vouch for goes the usual way too (the engine lists a row's problems in its keys' order).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from pctrules.batch.io import FORMULA_START, safe_cell
from pctrules.columns.core import ColumnEvaluator, Outcome, Path_
from pctrules.evaluation.vector import Col, map2

# A cell `safe_cell` would change: a formula character first, or a quote, comma or line end.
# ('-' goes last in the character class, where it means itself.)
_NEEDS_CARE = "^[" + "".join(sorted(FORMULA_START, key="-".__eq__)) + ']|[",\n\r]'


class ArrowChunks:
    """Plain CSV chunks of one input, decided by columns and rendered as CSV or JSONL rows.

    `cells(name)(label, value)` renders one decision's cells for a (rule, reason) label and a
    value exactly as the row-by-row renderer does (batch/run.py gives it), and
    `ending(error, warnings)` what follows them on a row (each None when the row has none)."""

    def __init__(
        self,
        core: ColumnEvaluator,
        columns: tuple[str, ...],
        jsonl: bool,
        cells: Callable[[str], Callable[[object, object], object]],
        ending: Callable[[str | None, str | None], str],
    ) -> None:
        self.core = core
        self.names = list(columns)
        self.jsonl = jsonl
        self.cells = cells
        self.ending = ending
        self.read = pa_csv.ReadOptions(
            column_names=self.names, use_threads=False, block_size=1 << 26
        )
        self.parse = pa_csv.ParseOptions(
            quote_char=False, double_quote=False, newlines_in_values=False, ignore_empty_lines=False
        )
        self.convert = pa_csv.ConvertOptions(
            column_types={c: pa.string() for c in self.names},
            strings_can_be_null=True,
            null_values=[""],
            check_utf8=True,
        )

    def run(self, data: bytes, first_row: int) -> Rendered | None:
        """The chunk's rows rendered, or None when the chunk is not plain."""
        if not _plain_bytes(data):
            return None
        try:
            table = pa_csv.read_csv(
                io.BytesIO(data),
                read_options=self.read,
                parse_options=self.parse,
                convert_options=self.convert,
            )
        except pa.ArrowInvalid:
            # Not UTF-8, or a record with another number of fields than the header (no
            # handler for those: Arrow would decode the record to pass it one, and fail on
            # bytes that are not UTF-8): the usual path names the row.
            return None
        n = table.num_rows
        if n != data.count(b"\n") + (not data.endswith(b"\n")):
            # Arrow read other records than the lines (a header of no columns gives no rows):
            # the usual path, which keeps one row per line.
            return None
        columns = [
            (tuple(name.split(".")), table.column(i).combine_chunks())
            for i, name in enumerate(self.names)
        ]
        return self.render(self.core.run(columns, n, first_row))

    def render(self, out: Outcome) -> Rendered:
        """Every row of an outcome as output text: its id cell, the cells of its decisions
        (rendered once per distinct combination of rule and value), then its error and
        warnings cells (the same for every row that has neither)."""
        n = out.n
        tail: Any = None
        for name in self.core.decisions:
            part = _combine(self.cells(name), out.labels[name], out.values[name])
            tail = part if tail is None else _combine(_concat, tail, part)
        assert tail is not None
        warned: dict[int, str] = {}
        if out.warnings.rows:
            offsets, texts = out.warnings.by_row(n)
            listed = texts.to_pylist()
            for r in np.flatnonzero(np.diff(offsets)).tolist():
                warned[r] = "; ".join(listed[offsets[r] : offsets[r + 1]])
        ends = [self.ending(None, None)]
        end_of = np.zeros(n, dtype=np.intp)
        made: dict[tuple[str | None, str | None], int] = {(None, None): 0}
        for r in set(warned) | set(out.errors):
            # Rows share their warnings often (a code and a day): each ending is made once.
            key = (out.errors.get(r), warned.get(r))
            at = made.get(key)
            if at is None:
                at = made[key] = len(ends)
                ends.append(self.ending(*key))
            end_of[r] = at
        tails = pc.binary_join_element_wise(
            pa.array([str(v) for v in tail.values], pa.string()).take(pa.array(tail.idx)),
            pa.array(ends, pa.string()).take(pa.array(end_of)),
            "",
        )
        rows = pc.binary_join_element_wise(self._heads(out.ids), tails, "")
        buffers = rows.buffers()
        offsets32 = np.frombuffer(buffers[1], dtype=np.int32, count=n + 1, offset=rows.offset * 4)
        body = buffers[2].to_pybytes()[offsets32[0] : offsets32[n]] if n else b""
        return Rendered(body, n, len(out.errors), len(warned), out.fast_rows)

    def _heads(self, ids: pa.Array) -> pa.Array:
        """Each row's id cell: as a JSON string for JSONL; for CSV as it is unless a spreadsheet
        would run it or it needs quoting (found by Arrow; only those cells go through Python)."""
        if self.jsonl:
            from pctrules.jsonlines import json_text

            texts = [f'{{"id":{json_text(v)}' for v in ids.to_pylist()]
            return pa.array(texts, pa.string())
        care = pc.match_substring_regex(ids, _NEEDS_CARE)
        if not pc.any(care).as_py():
            return ids
        rows = np.flatnonzero(care.to_numpy(zero_copy_only=False))
        cells = ids.to_numpy(zero_copy_only=False)
        cells[rows] = [safe_cell(cells[r]) for r in rows.tolist()]
        return pa.array(cells, pa.string())


class JsonlChunks(ArrowChunks):
    """Plain JSONL chunks of one input (see the module's docstring), read by Arrow's JSON
    reader; `core` takes values as typed (text stays text: `"42"` is not a number, as in
    JSON), and `fields` are the paths a row may give."""

    def __init__(
        self,
        core: ColumnEvaluator,
        fields: frozenset[Path_],
        jsonl: bool,
        cells: Callable[[str], Callable[[object, object], object]],
        ending: Callable[[str | None, str | None], str],
    ) -> None:
        super().__init__(core, (), jsonl, cells, ending)
        self.fields = fields
        self.json_read = pa_json.ReadOptions(use_threads=False, block_size=1 << 26)
        # Every field as text, dotted and nested: Arrow would read '2011-09-01' as a timestamp.
        self.json_parse = pa_json.ParseOptions(
            explicit_schema=_json_schema(fields), unexpected_field_behavior="infer"
        )

    def run(self, data: bytes, first_row: int) -> Rendered | None:
        if not _plain_json_bytes(data):
            return None
        if not data.isascii():
            try:
                data.decode("utf-8")  # Arrow's JSON reader does not check it
            except UnicodeDecodeError:
                return None
        try:
            table = pa_json.read_json(
                io.BytesIO(data), read_options=self.json_read, parse_options=self.json_parse
            )
        except (pa.ArrowException, ValueError):
            return None  # not JSON, a key given twice, a value of two types…
        n = data.count(b"\n") + (not data.endswith(b"\n"))
        if table.num_rows != n:
            return None  # two objects on a line
        columns: list[tuple[Path_, pa.Array]] = []
        for name, column in zip(table.column_names, table.columns, strict=True):
            if not _json_leaves((name,), column.combine_chunks(), columns):
                return None
        paths = [p for p, _ in columns]
        if len(set(paths)) != len(paths) or not all(p in self.fields for p in paths):
            return None
        out = self.core.run(columns, n, first_row)
        if out.fast_rows < n:
            # The engine names a row's problems in the order of the line's own keys, which
            # Arrow's columns do not keep: such a chunk goes the usual way.
            return None
        return self.render(out)


def _plain_json_bytes(data: bytes) -> bool:
    """No escape, null, byte-order mark or empty object (a string holding 'null' goes the usual
    way too), every line starting an object (so none is blank), no CR but before a LF and no
    other control character: bytes on which Python's and Arrow's readings of a line agree.
    (Byte scans in C: a regular expression over a MiB per chunk cost more than the parse.)"""
    if not data or b"\\" in data or b"null" in data or b"\xef\xbb\xbf" in data:
        return False
    lines = data.count(b"\n")
    if data.count(b"\n{") + data.startswith(b"{") != lines + (not data.endswith(b"\n")):
        return False
    crs = data.count(b"\r")
    if crs != data.count(b"\r\n"):
        return False
    controls = np.count_nonzero(np.frombuffer(data, dtype=np.uint8) < 0x20)
    return controls == lines + crs and _EMPTY_OBJECT.search(data) is None


_EMPTY_OBJECT = re.compile(rb"\{[ \t\r\n]*\}")


def _json_schema(fields: frozenset[Path_]) -> pa.Schema:
    """Each case field as a text column, both dotted (`person.practice`) and in a struct
    (`person` with a child `practice`)."""
    dotted: list[pa.Field] = []
    tree: dict[str, Any] = {}
    for path in sorted(fields):
        if len(path) > 1:
            dotted.append(pa.field(".".join(path), pa.string()))
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = None

    def typed(node: dict[str, Any]) -> list[pa.Field]:
        return [
            pa.field(k, pa.string() if v is None else pa.struct(typed(v))) for k, v in node.items()
        ]

    return pa.schema([*typed(tree), *dotted])


def _json_leaves(key: tuple[str, ...], arr: pa.Array, out: list[tuple[Path_, pa.Array]]) -> bool:
    """A JSON column's text leaves by case-field path (a dotted key split as batch/io.py splits
    it), into `out`, but those no row gives; False when a value is not text. (A null is a key
    the row left out.)"""
    if arr.null_count == len(arr):
        return True
    path = tuple(part for k in key for part in k.split("."))
    if pa.types.is_struct(arr.type):
        return arr.type.num_fields > 0 and all(
            _json_leaves((*path, arr.type.field(i).name), child, out)
            for i, child in enumerate(arr.flatten())
        )
    if not pa.types.is_string(arr.type):
        return False
    out.append((path, arr))
    return True


@dataclass(frozen=True, slots=True)
class Rendered:
    """A chunk's output text and what its rows came to."""

    data: bytes
    rows: int
    failed: int
    warned: int
    fast_rows: int


def _plain_bytes(data: bytes) -> bool:
    """No quote, no CR outside a CRLF, no empty line. (Unquoted records are split at commas,
    never by the csv module, so its field limit does not apply to them.)"""
    if b'"' in data or b"\n\n" in data or data.startswith((b"\n", b"\r")):
        return False
    crs = data.count(b"\r")
    return not crs or (crs == data.count(b"\r\n") and b"\r\n\r\n" not in data)


def _combine(fn: Callable[[object, object], object], a: Col, b: Col) -> Col:
    """`fn` over the distinct pairs of values of two columns (vector.map2), the pairs found
    with a table over every possible pair when that is small, which needs no sort."""
    a, b = a.compact(), b.compact()
    width = len(b.values)
    space = len(a.values) * width
    if space > 1 << 16:
        return map2(fn, a, b)
    pair = a.idx * width + b.idx
    used = np.flatnonzero(np.bincount(pair, minlength=space))
    remap = np.zeros(space, dtype=np.intp)
    remap[used] = np.arange(len(used), dtype=np.intp)
    av, bv = a.values, b.values
    return Col(remap[pair], [fn(av[p // width], bv[p % width]) for p in used.tolist()])


def _concat(a: object, b: object) -> object:
    return str(a) + str(b)
