"""Columnar API: a bundle's decisions as a function from Arrow batches of cases to decided rows.

    from pctrules.columns import Decider
    decider = Decider.open(data="register/", decisions=["responsible_pct"])
    out = decider.decide_arrow(pyarrow.csv.read_csv("cases.csv"))

`decide_arrow` gives, for each input row in order: `id`, per decision `<decision>`,
`<decision>.rule`, `<decision>.reason`, then `error` (null for a decided row) and `warnings` (a
list), with the bundle, its digest, the data digest, the params and the as-of date in the
schema's metadata. The answers are the per-case engine's (`pctrules evaluate`), errors and
warnings included. A Decider pickles as its pack (the bundle and data in one verified archive,
pack.py), so it ships to Spark, Dask or Ray workers, which rebuild it on unpickling.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pctrules import __version__
from pctrules.columns.core import ColumnEvaluator, Outcome, leaf_arrays
from pctrules.columns.pack import open_pack, pack_bundle
from pctrules.evaluation.engine import CaseResult, Engine
from pctrules.evaluation.runtime import json_value, members
from pctrules.language.check.state import CheckedBundle, CheckedDecision
from pctrules.language.check.types import is_node
from pctrules.language.diagnostics import CaseError, did_you_mean

if TYPE_CHECKING:
    import pandas

    from pctrules.evaluation import vector

CHUNK_ROWS = 1 << 17
"""Rows decided at once: a larger batch is cut into slices of this many (bounded memory)."""


class Decider:
    """A bundle, its data, the decisions asked for, an as-of date and params, ready to decide
    Arrow batches. Make one with `Decider.open` or `Decider.from_pack`."""

    def __init__(
        self,
        engine: Engine,
        *,
        decisions: Sequence[str] | None = None,
        as_of: dt.date | str | None = None,
        params: Mapping[str, object] | None = None,
    ) -> None:
        self.engine = engine
        names = [d.name for d in engine.compiled.decisions]
        for name in decisions or ():
            if name not in names:
                hint = did_you_mean(name, names)
                raise ValueError(
                    f"unknown decision '{name}'"
                    + (f" ({hint})" if hint else "")
                    + "; the decisions are "
                    + ", ".join(names)
                )
        self.decisions: tuple[str, ...] = tuple(dict.fromkeys(decisions or names))
        if isinstance(as_of, str):
            try:
                as_of = dt.date.fromisoformat(as_of)
            except ValueError:
                raise ValueError(f"the as-of date '{as_of}' is not a date (YYYY-MM-DD)") from None
        self.as_of: dt.date | None = as_of
        try:
            self.params = engine._params(params or {})
        except CaseError as exc:
            raise ValueError("; ".join(d.message for d in exc.diagnostics)) from None
        self._given_params = dict(params or {})
        self._core = ColumnEvaluator(engine, self.decisions, self.as_of, self.params)
        self._checked = {d.name: d.checked for d in engine.compiled.decisions}
        self._schema = self._output_schema()
        self._pack: bytes | None = None

    @classmethod
    def open(
        cls,
        bundle: str | Path | None = None,
        data: str | Path | None = None,
        *,
        decisions: Sequence[str] | None = None,
        as_of: dt.date | str | None = None,
        params: Mapping[str, object] | None = None,
    ) -> Decider:
        """A Decider for a bundle folder (None: the embedded default) and a data folder of
        imported tables (None: the bundle's own data only). Raises PctrulesError (an invalid
        bundle or data, with its diagnostics) and ValueError (an unknown decision or param)."""
        from pctrules.bundle import open_bundle

        b = open_bundle(
            None if bundle is None else Path(bundle), None if data is None else Path(data)
        )
        graph_problems = b.graph.diagnostics
        if graph_problems.has_errors:
            from pctrules.language.diagnostics import ExitCode, PctrulesError

            raise PctrulesError(graph_problems.sorted(), ExitCode.INVALID_POLICY)
        return cls(Engine(b), decisions=decisions, as_of=as_of, params=params)

    @classmethod
    def from_pack(
        cls,
        pack: bytes,
        *,
        decisions: Sequence[str] | None = None,
        as_of: dt.date | str | None = None,
        params: Mapping[str, object] | None = None,
    ) -> Decider:
        """A Decider from `pack()`'s bytes, checked file by file (pack.PackError when the pack
        is damaged or unsafe, or gives a bundle other than the one packed)."""
        decider = cls(open_pack(pack), decisions=decisions, as_of=as_of, params=params)
        decider._pack = pack
        return decider

    # -- packing and pickling ----------------------------------------------------------------

    def pack(self) -> bytes:
        """The bundle and its data folder as one verified archive (`Decider.from_pack`)."""
        if self._pack is None:
            self._pack = pack_bundle(self.engine.bundle, self.engine.info.digest)
        return self._pack

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Never the objects themselves: the checker's tables are keyed by object identity,
        # which a pickle does not keep. The pack rebuilds the same decider anywhere.
        return (_from_pack, (self.pack(), self.decisions, self.as_of, self._given_params))

    # -- deciding -------------------------------------------------------------------------------

    def decide_arrow(
        self,
        batch: pa.RecordBatch | pa.Table,
        *,
        first_row: int = 0,
    ) -> pa.RecordBatch:
        """Every row of `batch` decided, in order (see the module docstring for the columns).
        `first_row` is the position of the batch's first row in the whole input: a row without
        an id is named `case-<first_row + its position + 1>`, as `pctrules batch` names it."""
        if isinstance(batch, pa.Table):
            parts = batch.to_batches(max_chunksize=CHUNK_ROWS)
        elif batch.num_rows > CHUNK_ROWS:
            parts = [batch.slice(i, CHUNK_ROWS) for i in range(0, batch.num_rows, CHUNK_ROWS)]
        else:
            parts = [batch]
        outs: list[pa.RecordBatch] = []
        row = first_row
        for part in parts:
            if not part.num_rows:
                continue
            outs.append(self._decide(part, row))
            row += part.num_rows
        if not outs:
            return pa.RecordBatch.from_arrays(
                [pa.array([], f.type) for f in self._schema], schema=self._schema
            )
        if len(outs) == 1:
            return outs[0]
        return (
            pa.Table.from_batches(outs, self._schema)
            .combine_chunks()
            .to_batches(max_chunksize=batch.num_rows)[0]
        )

    def decide_batches(
        self,
        batches: Iterable[pa.RecordBatch],
        *,
        first_row: int = 0,
    ) -> Iterable[pa.RecordBatch]:
        """`decide_arrow` over a stream of batches, numbering rows across them."""
        row = first_row
        for b in batches:
            yield self.decide_arrow(b, first_row=row)
            row += b.num_rows

    def decide_pandas(self, df: pandas.DataFrame, *, first_row: int = 0) -> pandas.DataFrame:
        """`decide_arrow` for a pandas DataFrame (its index is not a column)."""
        table = pa.Table.from_pandas(df, preserve_index=False)
        return self.decide_arrow(table, first_row=first_row).to_pandas()

    def _decide(self, batch: pa.RecordBatch, first_row: int) -> pa.RecordBatch:
        out = self._core.run(leaf_arrays(batch), batch.num_rows, first_row)
        return self._render(out)

    def explain(self, row: Mapping[str, object]) -> CaseResult:
        """One case decided with its trace (`result.to_dict()` is `pctrules explain`'s JSON):
        `row` is a mapping of fields, nested or by dotted or `__` names."""
        raw: dict[str, object] = {}
        for key, value in row.items():
            if value is None:
                continue
            path = str(key).replace("__", ".").split(".")
            target = raw
            for part in path[:-1]:
                inner = target.get(part)
                if not isinstance(inner, dict):
                    inner = target[part] = {}
                target = inner
            target[path[-1]] = value
        case = self.engine.validate_case(raw, 1)
        return self.engine.evaluate(
            case, as_of=self.as_of, decisions=self.decisions, trace=True, params=self.params
        )

    # -- the output ----------------------------------------------------------------------------

    def output_schema(self) -> pa.Schema:
        """The schema of what `decide_arrow` returns, metadata included."""
        return self._schema

    def _output_schema(self) -> pa.Schema:
        fields = [pa.field("id", pa.string(), nullable=False)]
        for name in self.decisions:
            fields += [
                pa.field(name, value_type(self._checked[name], self.engine.checked)),
                pa.field(f"{name}.rule", pa.string()),
                pa.field(f"{name}.reason", pa.string()),
            ]
        fields += [
            pa.field("error", pa.string()),
            pa.field("warnings", pa.list_(pa.string()), nullable=False),
        ]
        info = self.engine.info
        meta = {
            "pctrules.version": __version__,
            "pctrules.bundle": info.name,
            "pctrules.bundle_version": info.version,
            "pctrules.bundle_digest": info.digest,
            "pctrules.data_digest": self.engine.graph.digest,
            "pctrules.params": json.dumps(self.params, sort_keys=True, default=str),
            "pctrules.as_of": "" if self.as_of is None else self.as_of.isoformat(),
            "pctrules.decisions": json.dumps(list(self.decisions)),
        }
        return pa.schema(fields, metadata=meta)

    def _render(self, out: Outcome) -> pa.RecordBatch:
        n = out.n
        arrays: list[pa.Array] = [out.ids]
        for name in self.decisions:
            arrays.append(_column(out.values[name], self._schema.field(name).type))
            labels = out.labels[name].compact()
            idx = pa.array(labels.idx)
            rules = pa.array([lab[0] for lab in labels.values], pa.string())  # type: ignore[index]
            reasons = pa.array([lab[1] for lab in labels.values], pa.string())  # type: ignore[index]
            arrays += [rules.take(idx), reasons.take(idx)]
        arrays.append(
            pa.array([out.errors.get(r) for r in range(n)], pa.string())
            if out.errors
            else pa.nulls(n, pa.string())
        )
        offsets, texts = out.warnings.by_row(n)
        arrays.append(pa.ListArray.from_arrays(pa.array(offsets), texts))
        return pa.RecordBatch.from_arrays(arrays, schema=self._schema)

    def rules_table(self) -> pa.Table:
        """Every rule of the decisions asked for: decision, rule, reason, title, cite, and
        where it is written (file:line)."""
        rows: dict[str, list[object]] = {
            k: [] for k in ("decision", "rule", "reason", "title", "cite", "at")
        }
        for name in self.decisions:
            for rule in self._checked[name].spec.rules:
                span = rule.id_span
                for key, value in (
                    ("decision", name),
                    ("rule", rule.id),
                    ("reason", rule.reason),
                    ("title", rule.title),
                    ("cite", rule.cite),
                    ("at", f"{span.source.path}:{span.line}"),
                ):
                    rows[key].append(value)
        return pa.table({k: pa.array(v, pa.string()) for k, v in rows.items()})


def _from_pack(
    pack: bytes, decisions: Sequence[str], as_of: dt.date | None, params: Mapping[str, object]
) -> Decider:
    return Decider.from_pack(pack, decisions=decisions, as_of=as_of, params=params)


def value_type(d: CheckedDecision, checked: CheckedBundle) -> pa.DataType:
    """The Arrow type of a decision's value: a node's code as text, a set's codes as a list,
    a `for:` decision over a set of subjects as JSON text (a mapping from member to value)."""
    t = d.output
    if d.subject is not None:
        subjects = checked.type_of(d.subject.collection)
        if subjects is None or subjects.is_set:
            return pa.string()
    if t.is_set:
        return pa.list_(pa.string())
    if is_node(t):
        return pa.string()
    return {"bool": pa.bool_(), "int": pa.int64(), "number": pa.float64(), "date": pa.date32()}.get(
        t.base, pa.string()
    )


def arrow_value(v: object, t: pa.DataType) -> object:
    """A decision's value as the Arrow type of its column holds it."""
    if v is None:
        return None
    if pa.types.is_list(t):
        return [str(json_value(m)) for m in members(v)]  # type: ignore[arg-type]
    if pa.types.is_string(t):
        if isinstance(v, str):
            return v
        return json.dumps(json_value(v), ensure_ascii=False, sort_keys=True)
    return v


def _column(col: vector.Col, t: pa.DataType) -> pa.Array:
    col = col.compact()
    values = pa.array([arrow_value(v, t) for v in col.values], t)
    return values.take(pa.array(col.idx))
