"""Batch stage: a file of cases in (CSV, JSONL, Parquet), one decided row per case out, in workers.

The parent loads the bundle once, checks the input and output files (files.py), plans the
input as byte ranges that end at record boundaries (io.py; a Parquet file as batches of rows,
parquet.py), and forks workers that inherit the loaded bundle (pool.py); each worker parses its
range and evaluates it: a plain chunk by Arrow and the columnar core (arrowpath.py), any other
by the usual path here (whole columns at once where the decisions allow, vector.py; else case by
case: ChunkEvaluator). It sends back its rendered rows. The parent writes them in input order to
a temporary file beside the output and renames it at the end, so an interrupted run leaves any
previous output as it was. At most a few chunks are in flight, so memory stays flat whatever
the input size.

Over 500 lines because ChunkEvaluator's fast path, its per-field tables of validated values and
its renderers share private state (the tables live across chunks in each worker). The usual
path stays for the chunks Arrow cannot read as Python does (quoted cells, escapes, bytes that
are not UTF-8, odd columns) and for `--per-case`; it is what the Arrow path is tested against.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pctrules.batch import parquet
from pctrules.batch.arrowpath import ArrowChunks, JsonlChunks, Rendered
from pctrules.batch.files import AtomicOutput, check_input, check_output
from pctrules.batch.io import (
    BLOCK_BYTES,
    Chunk,
    FieldClash,
    Header,
    Job,
    csv_line,
    detect_format,
    jsonl_line,
    jsonl_start,
    nested,
    output_columns,
    overlong_chunk,
    parse_csv,
    parse_jsonl,
    plan_jobs,
    read_header,
    read_job,
    repeated_columns,
    safe_cell,
    safe_column,
)
from pctrules.batch.pool import (
    ChunkResult,
    Progress,
    Tally,
    WorkerDied,
    default_workers,
    run_jobs,
    stop_if_signalled,
    stoppable,
)
from pctrules.caseinput import printable
from pctrules.columns.core import ColumnEvaluator, leaf_arrays
from pctrules.evaluation import groups, vector
from pctrules.evaluation.compile import unavailable_kinds
from pctrules.evaluation.engine import Case, Engine
from pctrules.evaluation.runtime import DecisionResult, RuleError, json_value, members
from pctrules.jsonlines import json_text
from pctrules.language.check.refs import CaseField
from pctrules.language.check.types import is_node, kinds_of
from pctrules.language.diagnostics import CaseError, ExitCode, did_you_mean
from pctrules.language.schema import Type


class BatchUsageError(Exception):
    """A problem with the options (exit 2)."""


class BatchStopped(Exception):
    """The run did not finish: interrupted (exit 130) or a worker died (exit 1)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class BatchOptions:
    input: Path
    output: Path
    bundle: Path | None = None
    data_dir: Path | None = None
    as_of: dt.date | None = None
    decisions: tuple[str, ...] = ()
    workers: int | None = None
    in_format: str | None = None
    out_format: str | None = None
    params: Mapping[str, object] | None = None
    fast: bool = True
    arrow: bool = True  # plain CSV and JSONL chunks by Arrow (arrowpath.py); off to compare
    block_bytes: int | None = None  # default: BLOCK_BYTES by columns, CASE_BLOCK_BYTES case by case


@dataclass
class BatchSummary:
    """What a finished run did; `line()` is the reconciliation line (read = decided + failed)."""

    rows: int
    decided: int
    failed: int
    fast_rows: int
    seconds: float
    workers: int
    output: Path
    note: str | None = None  # why the column fast path was not used, when it was not
    warned: int = 0  # rows with a warning (a code the data does not know), failed or not

    def line(self) -> str:
        warned = f", {self.warned:,} with warnings" if self.warned else ""
        return (
            f"{self.rows:,} rows read: {self.decided:,} decided, {self.failed:,} failed"
            f"{warned}; wrote '{self.output}'"
        )


CASE_BLOCK_BYTES = 256 << 10
"""Chunks evaluated case by case are smaller (about 8,000 rows): a chunk is then ~0.3 s of work,
so even a modest file is shared among the workers."""
_TABLE_LIMIT = 1 << 18  # distinct values remembered per field, per worker, before starting over


# -- evaluating a chunk --------------------------------------------------------------------------


class ChunkEvaluator:
    """Turns a parsed chunk into output rows: by columns where every requested decision allows
    it, case by case (the engine) for the rest and for every row the fast path cannot vouch for."""

    def __init__(
        self,
        engine: Engine,
        decisions: Sequence[str],
        as_of: dt.date | None,
        out_format: str,
        params: Mapping[str, object] | None,
        fast: bool,
        blank: bool,
        warm: bool = True,
    ) -> None:
        self.engine = engine
        self.blank = blank  # CSV input: an empty cell is an absent value
        self.decisions = list(decisions)
        self.as_of = as_of
        self.jsonl = out_format == "jsonl"
        self.columns = output_columns(self.decisions)
        self.params = dict(engine.params) if params is None else {**engine.params, **params}
        self.leaves: dict[str, Type] = {".".join(p): t for p, t in engine.case_schema.leaves()}
        self.fields = frozenset([("id",), *(p for p, _ in engine.case_schema.leaves())])
        self.node_leaves = {k for k, t in self.leaves.items() if is_node(t) and not t.is_set}
        # The id is not a field the columns validate; a rule that reads it gets it from there.
        self.reads_id = CaseField(("id",)) in engine.checked.refs.values()
        self.unavailable = unavailable_kinds(engine.checked, engine.graph)
        self._tables: dict[str, _FieldTable] = {}
        self._wordings: dict[str, dict[str, _Wording]] = {}  # by kind, by code
        self._days: dict[int, str] = {}
        self._cells: dict[str, Callable[[object, object], object]] = {}
        self.plan: list[vector.ColumnDecision] | None = None
        self.fast = fast  # columns where they can be used: decisions, else validation
        self.why_slow: str | None = "the per-case evaluator was asked for" if not fast else None
        if fast:
            self._fast_plan(warm)

    def _fast_plan(self, warm: bool) -> None:
        engine = self.engine
        self.vec = vector.Vectoriser(
            engine.checked,
            engine.graph,
            groups.grouper(engine.checked, engine.graph, engine.bound.functions),
        )
        self.plan = [self.vec.decisions[n] for n in engine.compiled.needed_for(self.decisions)]
        if warm:
            self._warm()

    def _warm(self) -> None:
        """Validate, once and before the workers fork, the values most cases hold: every code
        of the kinds a node field takes, and every day of the bundle's era (a year either
        side). Each worker then starts with these tables (shared copy-on-write) instead of
        validating them again in its first chunk."""
        graph = self.engine.graph
        effective = self.engine.checked.bundle.manifest.effective
        first = getattr(effective, "start", None)
        last = getattr(effective, "end", None)
        for key, t in self.leaves.items():
            values: list[object]
            if key in self.node_leaves:
                kinds = set(kinds_of(t))
                values = [c for c, node in graph.nodes.items() if node.kind in kinds]
            elif t.base == "date" and first is not None and last is not None:
                start, end = first.toordinal() - 366, last.toordinal() + 366
                values = [dt.date.fromordinal(d).isoformat() for d in range(start, end + 1)]
            else:
                continue
            self._table(key, t, self.blank).index(values)

    # -- per chunk -------------------------------------------------------------------------

    def run(self, chunk: Chunk, first_row: int) -> ChunkResult:
        """The chunk's output rows, in order; rows are written as a head and a tail (the id and
        the rest) so that the fast path joins whole columns without a per-row Python call."""
        n = chunk.n
        fast: tuple[list[str], list[str], list[int], int] | None = None
        if self.plan is not None and n:
            try:
                fast = self._fast(chunk, first_row)
            except (RuleError, TypeError):
                # A rule error on some row, or values the columns cannot hold (JSON lists):
                # the engine decides the chunk, so errors read as they do case by case.
                fast = None
        heads, tails, late, warned = fast or ([""] * n, [""] * n, list(range(n)), 0)
        known: _Validated | None = None
        if fast is None and self.fast and n:
            try:
                known = self._validate(chunk, first_row)
            except TypeError:
                known = None  # JSON values a column cannot hold: the engine validates
        failed = 0
        for r in late:
            if known is not None and not known.bad[r]:
                fields = {k: c.values[c.idx[r]] for k, c in known.columns.items()}
                line, bad, warns = self._case_row(
                    known.ids[r], self.engine.case_of(known.ids[r], fields)
                )
            else:
                line, bad, warns = self._slow_row(chunk, r, first_row)
            heads[r], tails[r] = "", line + "\n"
            failed += bad
            warned += warns
        fast_rows = n - len(late)
        parts: list[str] = [""] * (2 * n)
        parts[0::2] = heads
        parts[1::2] = tails
        # Strict: input that is not text (bytes that are not UTF-8, lone surrogates) is the
        # row's error before this, and its id is shown printable.
        data = "".join(parts).encode("utf-8")
        return ChunkResult(data, n, n - failed, failed, fast_rows, 0, warned)

    def _slow_row(self, chunk: Chunk, r: int, first_row: int) -> tuple[str, int, int]:
        """One row validated and decided by the engine: (rendered line, 1 if it failed, 1 if it
        has warnings)."""
        index = first_row + r + 1
        raw_id = _raw_id(chunk, r)
        case_id = printable(raw_id) if raw_id else f"case-{index}"
        problem = chunk.errors.get(r)
        if problem is None:
            at = range(len(chunk.paths)) if chunk.order is None else chunk.order[r]
            given = chunk.loose.get(r) or [(chunk.paths[i], chunk.columns[i][r]) for i in at]
            try:
                raw = nested(
                    [p for p, _ in given],
                    [self._typed(".".join(p), v) for p, v in given],
                    chunk.blank,
                )
                case = self.engine.validate_case(raw, index)
            except FieldClash as exc:
                problem = f"for case '{case_id}', {exc}"
            except CaseError as exc:
                problem = "; ".join(d.message for d in exc.diagnostics)
            else:
                return self._case_row(case.id, case)
        return self._render_row(case_id, {}, problem, ())

    def _case_row(self, case_id: str, case: Case) -> tuple[str, int, int]:
        """A valid case decided by the engine: (rendered line, 1 if a decision failed, 1 if it
        has warnings)."""
        try:
            result = self.engine.evaluate(
                case, as_of=self.as_of, decisions=self.decisions, params=self.params
            )
        except CaseError as exc:  # e.g. no date to evaluate on
            return self._render_row(case_id, {}, "; ".join(d.message for d in exc.diagnostics), ())
        return self._render_row(case_id, result.decisions, None, result.warnings)

    def _render_row(
        self,
        case_id: str,
        results: Mapping[str, DecisionResult],
        problem: str | None,
        warnings: Sequence[str],
    ) -> tuple[str, int, int]:
        if problem is None:
            failures = [
                f"{name}: {r_.error.message}"
                + (f" (rule '{r_.error.rule}')" if r_.error.rule else "")
                for name, r_ in results.items()
                if r_.outcome == "error" and r_.error
            ]
            problem = "; ".join(failures) or None
        cells: list[object] = [case_id]
        for name in self.decisions:
            d = results.get(name)
            if d is None or d.outcome == "error":
                cells += [None, None, None]
            else:
                cells += [self._value(d.value), d.rule, d.reason]
        cells += [problem, warnings_text(warnings)]
        bad, warned = problem is not None, bool(warnings)
        if self.jsonl:
            return jsonl_line(self.columns, cells), bad, warned
        return csv_line(["" if c is None else str(c) for c in cells]), bad, warned

    def _typed(self, key: str, value: object) -> object:
        """A CSV cell as the value a case file would give (Type.read_text, the one reading of
        text; the engine then checks it as usual); JSON values are already typed."""
        if not isinstance(value, str):
            return value
        t = self.leaves.get(key)
        if t is None or t.is_set or value == "":
            return value  # sets and empty cells: as they were
        return t.read_text(value)

    def _value(self, v: object) -> object:
        if self.jsonl:
            return json_value(v)
        return cell_text(v)

    # -- the fast path ---------------------------------------------------------------------

    def _fast(self, chunk: Chunk, first_row: int) -> tuple[list[str], list[str], list[int], int]:
        """Heads and tails of the chunk's rows by columns, the rows left to the engine (parse
        errors, values the fast path does not vouch for), and how many rows have warnings."""
        assert self.plan is not None

        n = chunk.n
        known = self._validate(chunk, first_row)
        ids, bad, extra = known.ids, known.bad, known.more
        raw = known.columns
        nodes = self.vec.nodes
        on = vector.row_days(n, self.as_of, extra.get("date"), bad)
        fields: dict[str, vector.Col] = {}
        absent: list[tuple[str, Any]] = []  # node fields: rows whose code is not in the data
        for key in self.leaves:
            if key in self.node_leaves:
                found = extra.get(key)
                if found is None:
                    node = np.full(n, nodes.none, dtype=np.intp)
                else:
                    alive = nodes.alive(found, on)
                    node = np.where(alive, found, nodes.none)
                    absent.append((key, known.present[key] & ~alive))
                fields[key] = nodes.column(node)
            else:
                fields[key] = raw.get(key) or vector.const(None, n)
        if self.reads_id:
            fields["id"] = vector.factorise(ids)
        frame = vector.Frame(n, on, fields, self.params, {}, {})
        for d in self.plan:
            frame.results[d.name] = d.evaluate(frame)
        plain = chunk.plain_first and chunk.paths[0] == ("id",)
        warnings = self._absent_warnings(absent, raw, on, bad)
        heads, tails = self._render_fast(frame, ids, plain, warnings)
        return heads, tails, bad.nonzero()[0].tolist(), len(warnings)

    def _absent_warnings(
        self, absent: list[tuple[str, Any]], raw: dict[str, vector.Col], on: Any, bad: Any
    ) -> dict[int, str]:
        """The warnings cell (CSV) or value (JSON) of each row the fast path decides that names
        a code the data does not have on its day, by row: in the words and the field order of
        `Engine.evaluate`, each code worded once and its day put in (rows with warnings are
        common: a residence given for a day its area did not exist)."""
        flagged = [(key, where & ~bad) for key, where in absent]
        count = np.zeros(len(bad), dtype=np.int8)
        for _, where in flagged:
            count += where
        several = count > 1
        out: dict[int, str] = {}
        texts: dict[int, list[str]] = {}  # rows with more than one warning, joined at the end
        for key, where in flagged:  # in the case schema's order, as the engine words them
            rows = np.flatnonzero(where)
            if not len(rows):
                continue
            kind, values = self.leaves[key].base, raw[key].values
            words = self._wordings.setdefault(kind, {})
            for r, v, d, more in zip(
                rows.tolist(),
                raw[key].idx[rows].tolist(),
                on[rows].tolist(),
                several[rows].tolist(),
                strict=True,
            ):
                code = values[v]
                w = words.get(code) or self._word(kind, str(code), words)
                day = self._days.get(d) or self._day(d)
                if more:
                    texts.setdefault(r, []).append(w.text(day))
                else:
                    out[r] = w.json(day) if self.jsonl else w.cell(day)
        for r, parts in texts.items():
            text = "; ".join(parts)
            out[r] = json_text(text) if self.jsonl else safe_cell(text)
        return out

    def _word(self, kind: str, code: str, words: dict[str, _Wording]) -> _Wording:
        found = _Wording(self.engine.absent_warning(kind, code, _SOME_DAY))
        if len(words) < _TABLE_LIMIT:
            words[code] = found
        return found

    def _day(self, ordinal: int) -> str:
        text = dt.date.fromordinal(ordinal).isoformat()
        if len(self._days) < _TABLE_LIMIT:
            self._days[ordinal] = text
        return text

    def _validate(self, chunk: Chunk, first_row: int) -> _Validated:
        """Each field of the chunk validated by columns: each distinct value once, with the
        engine's own validation (through the field tables). TypeError for values a column
        cannot hold (JSON lists)."""
        n = chunk.n
        bad = np.zeros(n, dtype=np.bool_)
        bad[list(chunk.errors)] = True
        bad[list(chunk.loose)] = True
        columns: dict[str, vector.Col] = {}
        more: dict[str, Any] = {}
        present: dict[str, Any] = {}
        ids: list[str] | None = None
        for path, column in zip(chunk.paths, chunk.columns, strict=True):
            key = ".".join(path)
            if key == "id":
                ids, wrong = _ids(column, chunk.blank, first_row)
                bad |= wrong
                continue
            t = self.leaves.get(key)
            if t is None:
                # An unknown field: the engine names it, for the rows that have it.
                col = _factorise(column, chunk.blank)
                bad |= np.array([v is not None for v in col.values], dtype=np.bool_)[col.idx]
                continue
            table = self._table(key, t, chunk.blank)
            idx = table.index(column)
            ok, extra, given = table.arrays()
            bad |= ~ok[idx]
            columns[key] = vector.Col(idx, table.values)
            more[key] = extra[idx]
            if key in self.node_leaves:
                present[key] = given[idx]
        if ids is None:
            ids = [f"case-{first_row + r + 1}" for r in range(n)]
        return _Validated(ids, bad, columns, more, present)

    def _table(self, key: str, t: Type, blank: bool) -> _FieldTable:
        table = self._tables.get(key)
        if table is None or len(table.values) > _TABLE_LIMIT:
            engine = self.engine
            case_by_case = t.is_set or (is_node(t) and t.base in self.unavailable)
            node_ids = self.vec.nodes.ids if key in self.node_leaves else None
            none_id = self.vec.nodes.none

            def check(v: object) -> tuple[bool, object, int]:
                """(valid, the value rules see, a node id or a date's ordinal) as the engine
                validates the value; a date's ordinal is 0 when it is not a date."""
                if v is None or (blank and v == ""):
                    return True, None, none_id if node_ids is not None else 0
                if case_by_case:
                    return False, None, 0  # sets of nodes, and kinds whose data is not loaded
                valid, value, _ = engine.check_value(self._typed(key, v), t)
                if not valid:
                    return False, None, 0
                if node_ids is not None:
                    return True, value, node_ids.get(str(value), none_id)
                return True, value, value.toordinal() if isinstance(value, dt.date) else 0

            table = self._tables[key] = _FieldTable(check, blank)
        return table

    def _render_fast(
        self, frame: vector.Frame, ids: list[str], plain: bool, warnings: Mapping[int, str]
    ) -> tuple[list[str], list[str]]:
        """Each row's head (its id) and tail (the decision cells, rendered once per distinct
        combination of rule and value, then the rendered warnings of the rows that have some);
        `plain`: the ids need no neutralising or quoting."""

        suffix: vector.Col | None = None
        for name in self.decisions:
            dc = frame.results[name]
            part = vector.map2(self._fast_cells(name), dc.labels, dc.value)
            suffix = part if suffix is None else vector.map2(_concat, suffix, part)
        assert suffix is not None
        end = ',"error":null,"warnings":null}\n' if self.jsonl else ",,\n"
        rendered: list[str] = [f"{v}{end}" for v in suffix.values]
        tails = list(map(rendered.__getitem__, suffix.idx.tolist()))
        if warnings:
            rows = list(warnings)
            for r, v in zip(rows, suffix.idx[rows].tolist(), strict=True):
                cells = suffix.values[v]
                tails[r] = (
                    f'{cells},"error":null,"warnings":{warnings[r]}}}\n'
                    if self.jsonl
                    else f"{cells},,{warnings[r]}\n"
                )
        if self.jsonl:
            return list(map('{"id":'.__add__, _json_strings(ids))), tails
        return (ids if plain else safe_column(ids)), tails

    def _fast_cells(self, name: str) -> Callable[[object, object], object]:
        """The rendered cells of one decision for a (rule, value) pair, remembered across
        chunks (a decision has few distinct results: PCT codes times rules)."""
        cached = self._cells.get(name)
        if cached is not None:
            return cached
        memo: dict[tuple[object, type, object], str] = {}
        if self.jsonl:
            keys = [json_text(k) + ":" for k in (name, f"{name}.rule", f"{name}.reason")]

            def render(rule: str | None, reason: str | None, value: object) -> str:
                return "".join(
                    "," + k + json_text(x)
                    for k, x in zip(keys, (json_value(value), rule, reason), strict=True)
                )
        else:

            def render(rule: str | None, reason: str | None, value: object) -> str:
                return "".join(
                    "," + safe_cell("" if x is None else str(x))
                    for x in (cell_text(value), rule, reason)
                )

        def cells(label: object, value: object) -> object:
            try:
                hit = memo.get((label, type(value), value))
            except TypeError:  # an unhashable value (a mapping): not remembered
                return render(*_label(label), value)
            if hit is None:
                hit = render(*_label(label), value)
                if len(memo) < _TABLE_LIMIT:
                    memo[(label, type(value), value)] = hit
            return hit

        self._cells[name] = cells
        return cells


_SOME_DAY = dt.date(1, 1, 1)
_SOME_DAY_TEXT = _SOME_DAY.isoformat()


class _Wording:
    """The engine's warning for one code the data does not have, with the day left out: only
    the day differs from row to row. The text, the CSV cell and the JSON value for a day."""

    __slots__ = ("after", "before", "cell_after", "cell_before", "json_after", "json_before")

    def __init__(self, text: str) -> None:
        before, found, after = text.rpartition(_SOME_DAY_TEXT)
        assert found, "an absent-code warning names its day"
        self.before, self.after = before, after
        # A day is digits and dashes: it never makes a cell need quoting or an escape, so the
        # rendered parts either side hold for every day.
        self.cell_before, _, self.cell_after = safe_cell(text).rpartition(_SOME_DAY_TEXT)
        self.json_before, _, self.json_after = json_text(text).rpartition(_SOME_DAY_TEXT)

    def text(self, day: str) -> str:
        return f"{self.before}{day}{self.after}"

    def cell(self, day: str) -> str:
        return f"{self.cell_before}{day}{self.cell_after}"

    def json(self, day: str) -> str:
        return f"{self.json_before}{day}{self.json_after}"


@dataclass(slots=True)
class _Validated:
    """A chunk's fields validated by columns."""

    ids: list[str]
    bad: Any  # per row: the engine must validate it itself (and name the problem)
    columns: dict[str, vector.Col]  # per field: each row's value as rules see it
    more: dict[str, Any]  # per field: each row's node id or date ordinal
    present: dict[str, Any]  # per node field: whether the row gives a code at all


class _Index(dict[object, int]):
    """A value's place in a field table; -1 for a value not met yet."""

    def __missing__(self, key: object) -> int:
        return -1


class _FieldTable:
    """One field's distinct values as this worker met them, each validated once: a column has
    few distinct values (dates, practices), and they recur from chunk to chunk."""

    def __init__(self, check: Callable[[object], tuple[bool, object, int]], text: bool) -> None:
        self.check = check
        self.text = text  # every value is text (CSV)
        self.where: dict[object, int] = _Index()
        self.values: list[object] = []
        self.valid: list[bool] = []
        self.more: list[int] = []
        self._arrays: tuple[Any, Any, Any] | None = None

    def index(self, column: list[object]) -> Any:
        """Each row's index into `values`; new values are validated and added."""
        keys = (
            column
            if self.text or set(map(type, column)) <= {str, type(None)}
            else [(type(v), v) if v is not None and type(v) is not str else v for v in column]
        )
        where = self.where
        # An unhashable JSON value (a list) raises TypeError: the chunk goes case by case.
        idx = np.fromiter(map(where.__getitem__, keys), dtype=np.intp, count=len(keys))
        missing = np.flatnonzero(idx < 0)
        if not len(missing):
            return idx
        # New values: few once a worker is warm, most of them in its first chunk.
        many = len(missing) > len(keys) // 8
        rows = missing.tolist()
        for k in dict.fromkeys(keys if many else [keys[r] for r in rows]):
            if k in where:
                continue
            where[k] = len(self.values)
            ok, value, more = self.check(k[1] if isinstance(k, tuple) else k)
            self.values.append(value)
            self.valid.append(ok)
            self.more.append(more)
        self._arrays = None
        if many:
            return np.fromiter(map(where.__getitem__, keys), dtype=np.intp, count=len(keys))
        idx[missing] = [where[keys[r]] for r in rows]
        return idx

    def arrays(self) -> tuple[Any, Any, Any]:
        """Per value: whether it is valid, its node id or date ordinal, and whether it is a
        value at all (not absent) (numpy arrays)."""
        if self._arrays is None:
            self._arrays = (
                np.array(self.valid, dtype=np.bool_),
                np.array(self.more, dtype=np.int64),
                np.array([v is not None for v in self.values], dtype=np.bool_),
            )
        return self._arrays


def _label(label: object) -> tuple[str | None, str | None]:
    assert isinstance(label, tuple)
    return label[0], label[1]


def _concat(a: object, b: object) -> object:
    return str(a) + str(b)


def _json_strings(values: list[str]) -> list[str]:
    joined = "".join(values)
    if '"' not in joined and "\\" not in joined and joined.isprintable():
        return [f'"{v}"' for v in values]
    return [json_text(v) for v in values]


def _raw_id(chunk: Chunk, r: int) -> str | None:
    for p, c in zip(chunk.paths, chunk.columns, strict=True):
        if p == ("id",):
            v = c[r]
            return None if v is None or v == "" else str(v)
    return None


def _ids(column: list[object], blank: bool, first_row: int) -> tuple[list[str], Any]:
    """The id of each row as the engine gives it (`case-<n>` when absent), and which rows the
    engine must see for itself (an id that is not text or a whole number)."""
    n = len(column)
    wrong = np.zeros(n, dtype=np.bool_)
    if blank or set(map(type, column)) <= {str, type(None)}:
        ids: list[object] = column
        if "" in column or (not blank and None in column):
            if not blank:
                wrong = np.array([v == "" for v in column], dtype=np.bool_)
            ids = [v if v else f"case-{first_row + r + 1}" for r, v in enumerate(column)]
        return ids, wrong  # type: ignore[return-value]
    out: list[str] = []
    for r, v in enumerate(column):
        ok = v is None or (isinstance(v, (str, int)) and not isinstance(v, bool) and v != "")
        wrong[r] = not ok
        out.append(f"case-{first_row + r + 1}" if v is None or not ok else str(v))
    return out, wrong


def _factorise(column: list[object], blank: bool) -> Any:
    """A raw column as a vector.Col; an empty CSV cell is an absent value (None)."""
    assert vector is not None
    if set(map(type, column)) <= {str, type(None)}:
        col = vector.factorise(column)
        if blank and "" in col.values:
            col.values = [None if v == "" else v for v in col.values]
        return col
    # JSON numbers and booleans: keep True apart from 1 (they hash alike).
    keyed = vector.factorise(
        [(type(v), v) if v is not None and type(v) is not str else v for v in column]
    )
    keyed.values = [k[1] if isinstance(k, tuple) else k for k in keyed.values]
    return keyed


def warnings_text(warnings: Sequence[str]) -> str | None:
    """A row's warnings in one cell, as `pctrules evaluate` words them; None when there are
    none."""
    return "; ".join(warnings) or None


def cell_text(v: object) -> str:
    """A decision's value in a CSV cell: a code, `true`/`false`, an ISO date, a number; a set's
    codes in code order separated by spaces; empty for none."""
    if v is None:
        return ""
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (frozenset, set, tuple, list)):
        return " ".join(cell_text(m) for m in members(v))
    if isinstance(v, Mapping):
        return json.dumps(json_value(v), ensure_ascii=False, sort_keys=True)
    return str(v)


# -- running a file ------------------------------------------------------------------------------


@dataclass
class _Input:
    """What a worker needs to turn a job into output (inherited through fork, never pickled)."""

    path: Path
    fmt: str
    header: Header | None
    evaluator: ChunkEvaluator
    warnings: list[str]  # said once, before the run (odd CSV columns)
    start: int  # where the rows start: after the CSV header, or a JSONL file's byte-order mark
    arrow: ArrowChunks | None = None  # plain CSV and JSONL chunks, and Parquet input, by Arrow

    def run(self, job: Job) -> ChunkResult:
        if self.fmt == "parquet":
            assert self.arrow is not None
            columns = leaf_arrays(job.batch)
            decide = self.arrow.core.run if self.evaluator.fast else self.arrow.core.run_by_case
            return _result(self.arrow.render(decide(columns, job.lines, job.first_row)), job)
        if job.overlong:
            chunk = overlong_chunk(self.path, job, self.fmt)
        elif self.fmt == "jsonl":
            lines = read_job(self.path, job)
            if self.arrow is not None:
                done = self.arrow.run(lines, job.first_row)
                if done is not None:
                    return _result(done, job)
            chunk = parse_jsonl(lines, self.evaluator.fields)
        else:
            assert self.header is not None
            data = None if job.rows is not None else read_job(self.path, job)
            if data is not None and self.arrow is not None and not job.quoted:
                done = self.arrow.run(data, job.first_row)
                if done is not None:
                    return _result(done, job)
            chunk = parse_csv(data, job.rows, job.quoted, self.header.columns, job.unreadable)
        out = self.evaluator.run(chunk, job.first_row)
        return ChunkResult(
            out.data, out.rows, out.decided, out.failed, out.fast_rows, job.length, out.warned
        )


def _result(done: Rendered, job: Job) -> ChunkResult:
    return ChunkResult(
        done.data,
        done.rows,
        done.rows - done.failed,
        done.failed,
        done.fast_rows,
        job.length,
        done.warned,
    )


def prepare(opts: BatchOptions, engine: Engine | None = None) -> tuple[_Input, str]:
    """Load the bundle (unless given its engine) and check the options and the input's columns;
    nothing is written."""
    if engine is None:
        from pctrules.bundle import open_bundle

        engine = Engine(open_bundle(opts.bundle, opts.data_dir))
    in_fmt = detect_format(opts.input, opts.in_format)
    out_fmt = detect_format(opts.output, opts.out_format)
    names = [d.name for d in engine.compiled.decisions]
    for name in opts.decisions:
        if name not in names:
            hint = did_you_mean(name, names)
            raise BatchUsageError(
                f"unknown decision '{name}'"
                + (f" ({hint})" if hint else "")
                + "; the decisions are "
                + ", ".join(names)
            )
    decisions = list(dict.fromkeys(opts.decisions)) or names
    header = None
    warnings: list[str] = []
    if in_fmt == "csv":
        header = read_header(opts.input)
        warnings = column_warnings(header.columns, engine)
        start = header.data_offset
    elif in_fmt == "parquet":
        warnings = column_warnings(parquet.column_names(opts.input), engine)
        start = 0
    else:
        start = jsonl_start(opts.input)
    if out_fmt == "parquet":
        mapped = parquet.holds_mappings(engine, decisions)
        if mapped is not None:
            raise BatchUsageError(
                f"the values of '{mapped}' are mappings, which a Parquet "
                "column of text cannot hold; write JSONL instead"
            )
    # Plain CSV and JSONL chunks go by Arrow, whose tables are filled before the workers fork;
    # the usual path then sees few chunks, and fills its own tables as it meets values.
    by_arrow = in_fmt != "parquet" and opts.fast and opts.arrow and not warnings
    # A Parquet output is the JSONL records, read back by Arrow (parquet.py).
    rendered = "jsonl" if out_fmt == "parquet" else out_fmt
    evaluator = ChunkEvaluator(
        engine,
        decisions,
        opts.as_of,
        rendered,
        opts.params,
        opts.fast,
        blank=in_fmt == "csv",
        warm=not by_arrow,
    )
    arrow = None
    if by_arrow and evaluator.plan is not None:
        arrow = arrow_chunks(evaluator, in_fmt, header.columns if header is not None else ())
    elif in_fmt == "parquet":
        arrow = arrow_chunks(evaluator, in_fmt)
    return _Input(opts.input, in_fmt, header, evaluator, warnings, start, arrow), out_fmt


def arrow_chunks(
    evaluator: ChunkEvaluator, in_fmt: str, columns: tuple[str, ...] = ()
) -> ArrowChunks:
    """The Arrow path, its field tables filled before the workers fork: for a CSV input whose
    header (`columns`) names only case fields, each once (any odd column, and the rows it
    touches, are the usual path's to judge); for JSONL or Parquet, whose values are typed."""
    core = ColumnEvaluator(
        evaluator.engine,
        evaluator.decisions,
        evaluator.as_of,
        evaluator.params,
        text=in_fmt == "csv",
        vectoriser=evaluator.vec if evaluator.plan is not None else None,
    )
    core.warm()
    ending = _json_ending if evaluator.jsonl else _csv_ending
    if in_fmt == "jsonl":
        return JsonlChunks(core, evaluator.fields, evaluator.jsonl, evaluator._fast_cells, ending)
    return ArrowChunks(core, columns, evaluator.jsonl, evaluator._fast_cells, ending)


def _csv_ending(error: str | None, warnings: str | None) -> str:
    """A CSV row's error and warnings cells, and its line end."""
    return f",{safe_cell(error or '')},{safe_cell(warnings or '')}\n"


def _json_ending(error: str | None, warnings: str | None) -> str:
    """A JSONL row's error and warnings, and its end."""
    return (
        f',"error":{"null" if error is None else json_text(error)}'
        f',"warnings":{"null" if warnings is None else json_text(warnings)}}}\n'
    )


_SHOWN_COLUMNS = 10  # unknown columns named before the run; the rows name the rest


def column_warnings(columns: Sequence[str], engine: Engine) -> list[str]:
    """What is odd about the input's columns (a CSV header, a Parquet schema), said once before
    the run. An unknown column and a column named twice are not fatal: each row that gives such
    a column a value it cannot take is that row's error, and every other row is decided (one
    output row per input row)."""
    known = ["id", *(".".join(p) for p, _ in engine.case_schema.leaves())]
    warnings = []
    unknown = [name for name in columns if name not in known]
    for name in unknown[:_SHOWN_COLUMNS]:
        hint = did_you_mean(name, known)
        warnings.append(
            f"column '{name}' is not a case field"
            + (f" ({hint})" if hint else "")
            + "; rows with a value in it fail, naming it"
        )
    if len(unknown) > _SHOWN_COLUMNS:
        warnings.append(
            f"… and {len(unknown) - _SHOWN_COLUMNS:,} more columns that are not case fields"
        )
    for name, at in repeated_columns(columns).items():
        warnings.append(
            f"column '{name}' appears {len(at)} times in the header (columns "
            + " and ".join(str(i + 1) for i in at)
            + "); rows that give it different values fail"
        )
    return warnings


def run_batch(
    opts: BatchOptions, progress: Progress | None = None, prepared: tuple[_Input, str] | None = None
) -> BatchSummary:
    """Evaluate every case of `opts.input` into `opts.output` (written only if the run ends).

    Raises BatchUsageError, PctrulesError (invalid bundle: 3; a CSV without a header line: 5; an
    input or output that cannot be used: 2) before anything runs, BatchFileError (2) when the
    output cannot be written, and BatchStopped when interrupted or a worker dies; the output is
    then left as it was."""
    started = time.perf_counter()
    if opts.workers is not None and opts.workers < 1:
        raise BatchUsageError("--workers must be at least 1")
    given = check_input(opts.input)
    folder = check_output(opts.output, given)
    state, out_fmt = prepared or prepare(opts)
    workers = opts.workers or default_workers()
    output = opts.output
    tally = Tally()
    try:
        # Signals are noted from before the temporary file exists until after it is renamed.
        with stoppable(), AtomicOutput(output, folder) as out:
            write = out.write
            sink = None
            if out_fmt == "csv":
                out.write((csv_line(state.evaluator.columns) + "\n").encode("utf-8"))
            elif out_fmt == "parquet":
                sink = parquet.ParquetSink(
                    out, parquet.output_schema(state.evaluator.engine, state.evaluator.decisions)
                )
                write = sink.write
            block = opts.block_bytes or (
                BLOCK_BYTES if state.evaluator.plan is not None else CASE_BLOCK_BYTES
            )
            jobs = (
                parquet.plan_parquet(opts.input)
                if state.fmt == "parquet"
                else plan_jobs(opts.input, state.start, state.fmt, block)
            )
            try:
                run_jobs(state.run, jobs, workers, write, tally, progress)
                stop_if_signalled()
            except BaseException:
                if sink is not None:
                    sink.abandon()
                raise
            if sink is not None:
                sink.close()
            out.commit()
    except KeyboardInterrupt:
        raise BatchStopped(
            f"interrupted after {tally.done_text()}; '{output}' was not written", 130
        ) from None
    except WorkerDied as exc:
        raise BatchStopped(
            f"{exc}; stopped after {tally.done_text()}; '{output}' was not written",
            int(ExitCode.INTERNAL),
        ) from None
    return BatchSummary(
        tally.rows,
        tally.decided,
        tally.failed,
        tally.fast_rows,
        time.perf_counter() - started,
        workers,
        output,
        state.evaluator.why_slow,
        tally.warned,
    )
