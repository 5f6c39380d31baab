"""Columnar evaluation stage: Arrow columns of cases in, each decision as a factorised column out.

A batch's columns are named by case field: dotted (`person.practice`), with `__` for the dot
(`person__practice`, for tools that refuse dots), or as struct columns (`person` with a child
`practice`); a null is an absent value. Each field keeps a table of the distinct values it has
met, each validated once by the engine's own validation; a batch's cells are matched to it in
Arrow's C++ hash lookups (`index_in`), so per row there is no Python call. The decisions then run
over the factorised columns (evaluation/vector.py, and groups.py for the rest), and any row the
columns cannot vouch for (an invalid value, an unknown field, no date) goes to the engine case by
case, as does the whole batch when a rule fails on some row: errors read as `pctrules evaluate`
gives them.

Over 500 lines since `ruff format` lays out its Arrow calls one argument per line: matching
columns, validating distinct values and building the output columns share the per-field
tables, which is what makes the path fast.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pctrules.evaluation import groups, vector
from pctrules.evaluation.engine import Engine
from pctrules.evaluation.runtime import DecisionResult, RuleError
from pctrules.language.check.refs import CaseField
from pctrules.language.check.types import is_node, kinds_of
from pctrules.language.diagnostics import CaseError
from pctrules.language.schema import Type

Path_ = tuple[str, ...]


@dataclass(slots=True)
class Outcome:
    """What a batch decided: per decision its values and labels as factorised columns, and per
    row its id, its error (None when decided) and its warnings."""

    n: int
    ids: pa.Array  # text
    values: dict[str, vector.Col]
    labels: dict[str, vector.Col]  # values (rule id, reason)
    errors: dict[int, str]  # only the rows that failed
    warnings: Warnings
    fast_rows: int


@dataclass(slots=True)
class Warnings:
    """A batch's warnings: pieces of (rows, one text per row), gathered field by field; a row's
    warnings are its texts in the order the pieces were added."""

    rows: list[Any]  # numpy arrays of row numbers
    texts: list[pa.Array]  # text, one per row of the piece

    def add(self, rows: Any, texts: pa.Array | list[str]) -> None:
        self.rows.append(rows)
        self.texts.append(texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string()))

    def by_row(self, n: int) -> tuple[Any, pa.Array]:
        """(offsets: n + 1 positions into the texts, the texts ordered by row)."""
        if not self.rows:
            return np.zeros(n + 1, dtype=np.int32), pa.array([], pa.string())
        rows = np.concatenate(self.rows)
        texts = pa.concat_arrays(self.texts)
        offsets = np.zeros(n + 1, dtype=np.int32)
        offsets[1:] = np.cumsum(np.bincount(rows, minlength=n))
        if len(self.rows) > 1 or (len(rows) > 1 and (np.diff(rows) < 0).any()):
            texts = texts.take(pa.array(np.argsort(rows, kind="stable")))
        return offsets, texts


def field_paths(schema: pa.Schema | Sequence[tuple[str, pa.DataType]]) -> list[Path_]:
    """The case-field path each column names: dotted, `__`-joined, or a struct's children."""
    fields = [(f.name, f.type) for f in schema] if isinstance(schema, pa.Schema) else schema
    out: list[Path_] = []
    for name, t in fields:
        base = tuple(name.replace("__", ".").split("."))
        if pa.types.is_struct(t):
            for child in field_paths(
                [(t.field(i).name, t.field(i).type) for i in range(t.num_fields)]
            ):
                out.append((*base, *child))
        else:
            out.append(base)
    return out


def leaf_arrays(batch: pa.RecordBatch) -> list[tuple[Path_, pa.Array]]:
    """Each column of the batch as (case-field path, array), struct columns flattened (a null
    struct makes its children null); raises ValueError when two columns name one field."""
    out: list[tuple[Path_, pa.Array]] = []

    def add(path: Path_, arr: pa.Array) -> None:
        if pa.types.is_struct(arr.type):
            for i, child in enumerate(arr.flatten()):
                add((*path, *_parts(arr.type.field(i).name)), child)
        else:
            out.append((path, arr))

    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        add(_parts(name), column)
    seen: dict[Path_, int] = {}
    for i, (path, _) in enumerate(out):
        if path in seen:
            raise ValueError(f"two columns name the case field '{'.'.join(path)}'; keep one")
        seen[path] = i
    return out


def _parts(name: str) -> Path_:
    return tuple(name.replace("__", ".").split("."))


class _FieldTable:
    """One field's distinct values (of one Arrow type) as met so far, each validated once;
    entry 0 is the absent value."""

    def __init__(
        self,
        arrow_type: pa.DataType,
        check: Callable[[object], tuple[bool, object, int]],
        absent: int,
    ) -> None:
        self.check = check
        self.known = pa.array([], type=arrow_type)
        self.values: list[object] = [None]
        self.valid: list[bool] = [True]
        self.more: list[int] = [absent]
        self._arrays: tuple[Any, Any] | None = None
        self._each: dict[str, int] = {}  # entries of values indexed one at a time

    def index(self, arr: pa.Array) -> Any:
        """Each row's entry (0 for null); new values are validated and added."""
        if pa.types.is_dictionary(arr.type):
            entries = self.index(arr.dictionary)
            codes = arr.indices.fill_null(0).to_numpy(zero_copy_only=False)
            out = entries[codes] if len(entries) else np.zeros(len(arr), dtype=np.intp)
            if arr.null_count:
                out[arr.is_null().to_numpy(zero_copy_only=False)] = 0
            return out
        if pa.types.is_nested(arr.type):  # a list (a set field): index_in cannot hash it
            return self._index_each(arr)
        pos = pc.index_in(arr, value_set=self.known)
        if pos.null_count > arr.null_count:  # values not met before (nulls stay null)
            fresh = pc.unique(arr.filter(pc.and_(pos.is_null(), arr.is_valid())))
            for v in fresh.to_pylist():
                ok, value, more = self.check(v)
                self.values.append(value)
                self.valid.append(ok)
                self.more.append(more)
            self.known = pa.concat_arrays([self.known, fresh])
            self._arrays = None
            pos = pc.index_in(arr, value_set=self.known)
        return pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp) + 1

    def _index_each(self, arr: pa.Array) -> Any:
        """`index` one value at a time, for values Arrow's hash lookup does not take."""
        out = np.zeros(len(arr), dtype=np.intp)
        for row, v in enumerate(arr.to_pylist()):
            if v is None:
                continue
            key = json.dumps(v, sort_keys=True, default=str)
            entry = self._each.get(key)
            if entry is None:
                ok, value, more = self.check(v)
                self.values.append(value)
                self.valid.append(ok)
                self.more.append(more)
                entry = self._each[key] = len(self.values) - 1
                self._arrays = None
            out[row] = entry
        return out

    def arrays(self) -> tuple[Any, Any]:
        """Per entry: whether it is valid, and its node id or date ordinal."""
        if self._arrays is None:
            self._arrays = (
                np.array(self.valid, dtype=np.bool_),
                np.array(self.more, dtype=np.int64),
            )
        return self._arrays


class ColumnEvaluator:
    """Decides Arrow batches of cases for one engine, decision list, as-of date and params."""

    _TABLE_LIMIT = 1 << 18  # distinct values remembered per field before starting over

    def __init__(
        self,
        engine: Engine,
        decisions: Sequence[str],
        as_of: dt.date | None,
        params: Mapping[str, object],
        text: bool = False,
        vectoriser: vector.Vectoriser | None = None,
    ) -> None:
        self.engine = engine
        # Every cell is text, as a CSV file gives it: fields of type int, number or bool are
        # read from their text ('42', '2.5', 'true'), as `pctrules batch` reads them.
        self.text = text
        self.decisions = list(decisions)
        self.as_of = as_of
        self.params = dict(params)
        self.leaves: dict[str, Type] = {".".join(p): t for p, t in engine.case_schema.leaves()}
        self.node_leaves = {
            k: t.base for k, t in self.leaves.items() if is_node(t) and not t.is_set
        }
        self.reads_id = CaseField(("id",)) in engine.checked.refs.values()
        self.unavailable = engine.compiled.unavailable
        # (A caller that has compiled the decisions to columns already may share them.)
        self.vec = vectoriser or vector.Vectoriser(
            engine.checked,
            engine.graph,
            groups.grouper(engine.checked, engine.graph, engine.bound.functions),
        )
        self.plan = [self.vec.decisions[n] for n in engine.compiled.needed_for(self.decisions)]
        self._tables: dict[tuple[str, str], _FieldTable] = {}

    # -- a batch ---------------------------------------------------------------------------

    def run(self, columns: list[tuple[Path_, pa.Array]], n: int, first_row: int) -> Outcome:
        """Decide the rows of one batch; `first_row` is the 0-based position of its first row
        in the whole input (it names rows without an id: `case-<position + 1>`)."""
        try:
            return self._fast(columns, n, first_row)
        except (RuleError, TypeError):
            # A rule failed on some row (or a value the columns cannot hold): the engine
            # decides the batch, so errors read as they do case by case.
            return self._slow(columns, n, first_row, range(n), None)

    def run_by_case(
        self,
        columns: list[tuple[Path_, pa.Array]],
        n: int,
        first_row: int,
    ) -> Outcome:
        """`run` with every row decided by the engine case by case (to check the columns)."""
        return self._slow(columns, n, first_row, range(n), None)

    def _fast(self, columns: list[tuple[Path_, pa.Array]], n: int, first_row: int) -> Outcome:
        nodes = self.vec.nodes
        bad = np.zeros(n, dtype=np.bool_)
        raw: dict[str, vector.Col] = {}
        extra: dict[str, Any] = {}
        ids: pa.Array | None = None
        for path, arr in columns:
            key = ".".join(path)
            if key == "id":
                ids, wrong = _ids(arr, first_row)
                bad |= wrong
                continue
            t = self.leaves.get(key)
            if t is None:  # an unknown field: the engine names it, for the rows that give it
                bad |= arr.is_valid().to_numpy(zero_copy_only=False)
                continue
            table = self._table(key, t, arr.type)
            idx = table.index(arr)
            ok, more = table.arrays()
            bad |= ~ok[idx]
            raw[key] = vector.Col(idx, table.values)
            extra[key] = more[idx]
        if ids is None:
            ids = pa.array([f"case-{first_row + r + 1}" for r in range(n)], pa.string())
        on = vector.row_days(n, self.as_of, extra.get("date"), bad)
        fields: dict[str, vector.Col] = {}
        absent: list[tuple[str, Any]] = []  # node fields given a code not in the data that day
        for key in self.leaves:
            if key in self.node_leaves:
                found = extra.get(key)
                if found is None:
                    fields[key] = nodes.column(np.full(n, nodes.none, dtype=np.intp))
                    continue
                alive = nodes.alive(found, on)
                fields[key] = nodes.column(np.where(alive, found, nodes.none))
                given = raw[key].idx != 0
                if (given & ~alive).any():
                    absent.append((key, given & ~alive))
            else:
                fields[key] = raw.get(key) or vector.const(None, n)
        if self.reads_id:
            fields["id"] = vector.factorise(ids.to_pylist())
        frame = vector.Frame(n, on, fields, self.params, {}, {})
        for d in self.plan:
            frame.results[d.name] = d.evaluate(frame)
        # As the engine says them: per row, field by field in the case schema's order.
        warnings = Warnings([], [])
        for key, rows in absent:
            at = np.flatnonzero(rows & ~bad)
            col = raw[key]
            warnings.add(
                at, self._absent_texts(self.node_leaves[key], col.values, col.idx[at], on[at])
            )
        late = np.flatnonzero(bad).tolist()
        out = Outcome(
            n,
            ids,
            {d: frame.results[d].value for d in self.decisions},
            {d: frame.results[d].labels for d in self.decisions},
            {},
            warnings,
            n - len(late),
        )
        if late:
            self._slow(columns, n, first_row, late, out)
        return out

    def _slow(
        self,
        columns: list[tuple[Path_, pa.Array]],
        n: int,
        first_row: int,
        rows: Sequence[int] | range,
        into: Outcome | None,
    ) -> Outcome:
        """Rows decided case by case by the engine, written into `into` (a new outcome when
        None)."""
        if into is None:
            into = Outcome(
                n,
                pa.nulls(n, pa.string()),
                {d: vector.Col(np.zeros(n, dtype=np.intp), [None]) for d in self.decisions},
                {d: vector.Col(np.zeros(n, dtype=np.intp), [(None, None)]) for d in self.decisions},
                {},
                Warnings([], []),
                0,
            )
        values = {
            d: (into.values[d].idx.copy(), list(into.values[d].values)) for d in self.decisions
        }
        labels = {
            d: (into.labels[d].idx.copy(), list(into.labels[d].values)) for d in self.decisions
        }
        ids = into.ids.to_pylist()
        for r in rows:
            raw = nested_row(columns, r, self._typed if self.text else None)
            case_id, results, problem, warnings = self.decide_raw(raw, first_row + r + 1)
            ids[r] = case_id
            if problem is not None:
                into.errors[r] = problem
            if warnings:
                into.warnings.add(np.full(len(warnings), r, dtype=np.intp), warnings)
            for d in self.decisions:
                res = results.get(d)
                failed = res is None or res.outcome == "error"
                idx, vals = values[d]
                idx[r] = len(vals)
                vals.append(None if failed else res.value)  # type: ignore[union-attr]
                lidx, lvals = labels[d]
                lidx[r] = len(lvals)
                lvals.append((None, None) if failed else (res.rule, res.reason))  # type: ignore[union-attr]
        for d in self.decisions:
            into.values[d] = vector.Col(*values[d])
            into.labels[d] = vector.Col(*labels[d])
        into.ids = pa.array(ids, pa.string())
        return into

    def _absent_texts(self, kind: str, values: list[object], idx: Any, on: Any) -> pa.Array:
        """The engine's warning for each code (values[idx]) not in the data on its day (on):
        the message is made once per code, and each row's day put in its place by Arrow."""
        sample = _SAMPLE_DAY.isoformat()
        codes, which = np.unique(idx, return_inverse=True)
        before, after = [], []
        warning = self.engine.absent_warning
        for i in codes.tolist():
            b, found, a = warning(kind, str(values[i]), _SAMPLE_DAY).partition(sample)
            if not found or sample in a or not len(on) or on.min() < _FIRST_ISO_DAY:
                # The day not once in the message, or a day Arrow writes otherwise: each made
                # by the engine's own function.
                return pa.array(
                    [
                        warning(kind, str(values[i]), dt.date.fromordinal(d))
                        for i, d in zip(idx.tolist(), on.tolist(), strict=True)
                    ],
                    pa.string(),
                )
            before.append(b)
            after.append(a)
        pick = pa.array(which.reshape(-1))
        days = pa.array(on - _EPOCH, pa.int32()).cast(pa.date32()).cast(pa.string())
        return pc.binary_join_element_wise(
            pa.array(before, pa.string()).take(pick),
            days,
            pa.array(after, pa.string()).take(pick),
            "",
        )

    def decide_raw(
        self,
        raw: Mapping[str, object],
        index: int,
    ) -> tuple[str, Mapping[str, DecisionResult], str | None, list[str]]:
        """One case as the per-case engine decides it: (id, results, error text, warnings)."""
        engine = self.engine
        try:
            case = engine.validate_case(raw, index)
            result = engine.evaluate(
                case, as_of=self.as_of, decisions=self.decisions, params=self.params
            )
        except CaseError as exc:
            raw_id = raw.get("id")
            case_id = (
                str(raw_id)
                if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and str(raw_id)
                else f"case-{index}"
            )
            return case_id, {}, "; ".join(d.message for d in exc.diagnostics), []
        failures = [
            f"{name}: {r.error.message}" + (f" (rule '{r.error.rule}')" if r.error.rule else "")
            for name, r in result.decisions.items()
            if r.outcome == "error" and r.error
        ]
        return result.case_id, result.decisions, "; ".join(failures) or None, result.warnings

    def _table(self, key: str, t: Type, arrow_type: pa.DataType) -> _FieldTable:
        if pa.types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type
        slot = (key, str(arrow_type))
        table = self._tables.get(slot)
        if table is None or len(table.values) > self._TABLE_LIMIT:
            engine = self.engine
            node_ids = self.vec.nodes.ids if key in self.node_leaves else None
            none_id = self.vec.nodes.none
            by_engine = t.is_set or (is_node(t) and t.base in self.unavailable)
            text = self.text

            def check(v: object) -> tuple[bool, object, int]:
                """(valid, the value rules see, its node id or date ordinal) as the engine
                validates the value; 0 for a date that is not one."""
                if by_engine:
                    return False, None, 0  # sets of nodes, kinds whose data is not loaded
                if text and isinstance(v, str):
                    v = cell_value(v, t)
                valid, value, _ = engine.check_value(v, t)
                if not valid:
                    return False, None, 0
                if node_ids is not None:
                    return True, value, node_ids.get(str(value), none_id)
                return True, value, value.toordinal() if isinstance(value, dt.date) else 0

            absent = none_id if node_ids is not None else 0
            table = self._tables[slot] = _FieldTable(arrow_type, check, absent)
        return table

    def _typed(self, key: str, value: object) -> object:
        t = self.leaves.get(key)
        return cell_value(value, t) if isinstance(value, str) and t is not None else value

    def warm(self) -> None:
        """Validate now the text values most cases hold: every code of the kinds a node field
        takes, and every day of the bundle's era (a year either side). A process that forks
        workers after this shares the tables with them instead of each validating anew."""
        graph = self.engine.graph
        effective = self.engine.checked.bundle.manifest.effective
        first = getattr(effective, "start", None)
        last = getattr(effective, "end", None)
        for key, t in self.leaves.items():
            if key in self.node_leaves:
                kinds = set(kinds_of(t))
                values = [c for c, node in graph.nodes.items() if node.kind in kinds]
            elif t.base == "date" and first is not None and last is not None:
                start, end = first.toordinal() - 366, last.toordinal() + 366
                values = [dt.date.fromordinal(d).isoformat() for d in range(start, end + 1)]
            else:
                continue
            self._table(key, t, pa.string()).index(pa.array(values, pa.string()))


def cell_value(text: str, t: Type) -> object:
    """A CSV cell as the value a case file would give for a field of type `t`: the one reading
    of text (Type.read_text; what does not read stays text, for the engine to refuse); sets and
    empty cells as they are."""
    if t.is_set or text == "":
        return text
    return t.read_text(text)


_SAMPLE_DAY = dt.date(1901, 2, 3)  # a day no message holds otherwise
_EPOCH = dt.date(1970, 1, 1).toordinal()  # Arrow's day 0
_FIRST_ISO_DAY = dt.date(1000, 1, 1).toordinal()  # from here Arrow writes days as isoformat


def _ids(arr: pa.Array, first_row: int) -> tuple[pa.Array, Any]:
    """Each row's id as the engine gives it (`case-<n>` when absent), and the rows whose id the
    engine must judge itself (empty text, or neither text nor a whole number). The column
    itself when every row has a usable id."""
    n = len(arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        wrong = pc.equal(arr, "").fill_null(False).to_numpy(zero_copy_only=False)
    elif pa.types.is_integer(arr.type):
        wrong = np.zeros(n, dtype=np.bool_)
    else:
        wrong = arr.is_valid().to_numpy(zero_copy_only=False)
        arr = pa.nulls(n, pa.string())
    text = arr.cast(pa.string())
    missing = np.flatnonzero(wrong | text.is_null().to_numpy(zero_copy_only=False))
    if len(missing):
        named = text.to_numpy(zero_copy_only=False)
        named[missing] = [f"case-{first_row + r + 1}" for r in missing.tolist()]
        text = pa.array(named, pa.string())
    return text, wrong


def nested_row(
    columns: Sequence[tuple[Path_, pa.Array]],
    r: int,
    typed: Callable[[str, object], object] | None = None,
) -> dict[str, object]:
    """Row `r` as the nested mapping a case file would hold, absent (null) values left out;
    `typed(dotted name, value)` converts a value first (text cells)."""
    out: dict[str, object] = {}
    for path, arr in columns:
        v = arr[r].as_py()
        if v is None:
            continue
        if typed is not None:
            v = typed(".".join(path), v)
        target = out
        for key in path[:-1]:
            inner = target.get(key)
            if not isinstance(inner, dict):
                inner = target[key] = {}
            target = inner
        target[path[-1]] = v
    return out
