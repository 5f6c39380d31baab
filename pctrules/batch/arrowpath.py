"""Batch stage, Arrow path: a plain CSV chunk parsed, checked and decided by Arrow, then rendered.

A chunk is *plain* when nothing in it needs the csv module's or the engine's judgement: no
quote, no CR but in CRLF line ends, no empty line, every record with the header's number of
fields, valid UTF-8 throughout, and every row's values valid for the case schema, with no rule
failing. Such a chunk (nearly every chunk of a
real extract) is parsed by pyarrow's CSV reader, each field's values matched to the values it
has met and validated once (columns/core.py: Arrow's hash lookup, no Python per cell), decided
by columns, and rendered without a Python call per row: each row's output is its id cell joined
to the cells of its distinct (rule, value) combination by Arrow, and the chunk's bytes are the
data buffer of that string column. Any other chunk returns None, and the caller takes it the
way it always has (batch/run.py), so its rows read, fail and are worded exactly as before.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from pctrules.batch.io import FORMULA_START, safe_cell
from pctrules.columns.core import ColumnEvaluator, NotPlain, Outcome
from pctrules.evaluation.vector import Col, map2

# A cell `safe_cell` would change: a formula character first, or a quote, comma or line end.
# ('-' goes last in the character class, where it means itself.)
_NEEDS_CARE = "^[" + "".join(sorted(FORMULA_START, key="-".__eq__)) + ']|[",\n\r]'


class ArrowChunks:
    """Plain CSV chunks of one input, decided by columns and rendered as CSV or JSONL rows.

    `cells(name)(label, value)` renders one decision's cells for a (rule, reason) label and a
    value exactly as the row-by-row renderer does (batch/run.py gives it), and
    `ending(error, warnings)` what follows them on a row (each None when the row has none)."""

    def __init__(self, core: ColumnEvaluator, columns: tuple[str, ...], jsonl: bool,
                 cells: Callable[[str], Callable[[object, object], object]],
                 ending: Callable[[str | None, str | None], str]) -> None:
        self.core = core
        self.names = list(columns)
        self.jsonl = jsonl
        self.cells = cells
        self.ending = ending
        self.read = pa_csv.ReadOptions(column_names=self.names, use_threads=False,
                                       block_size=1 << 26)
        self.parse = pa_csv.ParseOptions(quote_char=False, double_quote=False,
                                         newlines_in_values=False, ignore_empty_lines=False)
        self.convert = pa_csv.ConvertOptions(
            column_types={c: pa.string() for c in self.names}, strings_can_be_null=True,
            null_values=[""], check_utf8=True)

    def run(self, data: bytes, first_row: int) -> Rendered | None:
        """The chunk's rows rendered, or None when the chunk is not plain."""
        if not _plain_bytes(data):
            return None
        try:
            table = pa_csv.read_csv(io.BytesIO(data), read_options=self.read,
                                    parse_options=self.parse, convert_options=self.convert)
        except pa.ArrowInvalid:
            # Not UTF-8, or a record with another number of fields than the header (no
            # handler for those: Arrow would decode the record to pass it one, and fail on
            # bytes that are not UTF-8): the usual path names the row.
            return None
        n = table.num_rows
        columns = [(tuple(name.split(".")), table.column(i).combine_chunks())
                   for i, name in enumerate(self.names)]
        try:
            return self.render(self.core.run_plain(columns, n, first_row))
        except NotPlain:
            return None

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
                warned[r] = "; ".join(listed[offsets[r]:offsets[r + 1]])
        odd = sorted(set(warned) | set(out.errors))
        ends = [self.ending(None, None)]
        end_of = np.zeros(n, dtype=np.intp)
        if odd:
            ends += [self.ending(out.errors.get(r), warned.get(r)) for r in odd]
            end_of[odd] = np.arange(1, len(ends))
        tails = pc.binary_join_element_wise(
            pa.array([str(v) for v in tail.values], pa.string()).take(pa.array(tail.idx)),
            pa.array(ends, pa.string()).take(pa.array(end_of)), "")
        rows = pc.binary_join_element_wise(self._heads(out.ids), tails, "")
        buffers = rows.buffers()
        offsets32 = np.frombuffer(buffers[1], dtype=np.int32, count=n + 1, offset=rows.offset * 4)
        body = buffers[2].to_pybytes()[offsets32[0]:offsets32[n]] if n else b""
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
