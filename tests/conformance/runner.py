"""The conformance corpus's runner: each file of tests/conformance/*.yaml becomes a small bundle
over the corpus's graph (tests/conformance/base), and each of its cases runs through every
evaluation path in PATHS, whose observations must match what the case wants.

A corpus file (in the manner of OPA's test/cases/testdata):

    description: what the file covers
    decisions:                 # optional: decision files of the bundle, by file name
      pick.yaml: |
        decision: pick
        ...
    cases:
      - name: what the case shows
        expr: "case.n + 1"     # an expression: compiled as decision 'e<number>' (one rule of that
        want: 3                # id, its then); `want` is the value, `want_error` the error
      - name: ...
        cond: "case.n > 1"     # a condition: `want` is true, false or unknown (Kleene)
        want: unknown
      - name: ...
        case: {n: 2, date: 2011-01-01}   # the case (date defaults to 2011-01-01)
        as_of: 2011-01-01                # optional; params: {mode: b} optional
        want:                            # per decision: value, rule, outcome, error, note,
          pick: {value: x, rule: r1}     # rules, warnings (the keys given are compared)
        trace:                           # optional, traced path: each rule's outcome
          pick: [[r1, matched], [r2, skipped]]

Values are compared as JSON shows them: sets as sorted lists of codes, dates as ISO text.

A path is a function `(engine, cases) -> list[Observed]` (one per case, each a mapping from
decision name to what that path saw of it). The per-case paths see everything; the column paths
(vector, grouped) see value and rule, and give way to the per-case engine on a row with a rule
error (recorded as `deferred`, which only a case that wants an error may show). The Arrow API
(pctrules.columns.Decider.decide_arrow, path `arrow`) sees what its columns show: the value, the
rule, the row's warnings, and for a row that failed the row's error text (which must contain
the wanted error); not the outcome, note, the rules of a collect, a decision's own warnings or
the trace, which are not among its columns. A decision whose values it writes as text though
they are not text (no type the checker can name, as an `expr` case's; a `for:` decision over a
set, as JSON) is compared as that text: the wanted value, or the value the text is the JSON of.
The corpus declares no `output:`, so path `arrow-typed` runs the Arrow API again with each
decision's output declared as the checker types its results (where they have one type), for
the typed columns: integers, decimals, booleans, dates and lists of codes. Another path is
added with `register_path`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pctrules.bundle import open_bundle
from pctrules.evaluation import groups, vector
from pctrules.evaluation.engine import Case, Engine
from pctrules.evaluation.runtime import DecisionResult, RuleError, json_value
from pctrules.language.check.state import CheckedDecision
from pctrules.language.check.types import is_node
from pctrules.language.schema import parse_type

HERE = Path(__file__).resolve().parent
BASE = HERE / "base"
DAY = dt.date(2011, 1, 1)

Observed = dict[str, dict[str, object]]


@dataclasses.dataclass
class ConformanceCase:
    """One case of a corpus file, ready to run."""

    file: str
    name: str
    raw: dict[str, object]
    as_of: dt.date | None
    params: dict[str, object]
    decisions: tuple[str, ...]
    want: dict[str, dict[str, object]]
    trace: dict[str, list[list[str]]]

    @property
    def id(self) -> str:
        return f"{self.file}: {self.name}"


@dataclasses.dataclass
class CorpusFile:
    name: str
    decisions: dict[str, str]
    cases: list[ConformanceCase]


def _truth_decision(name: str, cond: str) -> str:
    """A condition as a decision whose value says true, false or unknown (a decision's own
    value is never unknown, so each truth value gets its rule)."""
    return textwrap.dedent(f"""\
        decision: {name}
        rules:
          - id: {name}-true
            when: {_quoted(cond)}
            then: "'true'"
          - id: {name}-false
            when: {_quoted(f"not ({cond})")}
            then: "'false'"
          - id: {name}-unknown
            then: "'unknown'"
        """)


def _value_decision(name: str, expr: str) -> str:
    return textwrap.dedent(f"""\
        decision: {name}
        rules:
          - id: {name}
            then: {_quoted(expr)}
        """)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _expected(value: object) -> object:
    """A wanted value as JSON shows it (YAML gives dates and sets as lists)."""
    return json_value(value)


def load(path: Path) -> CorpusFile:
    """A corpus file's decisions (its own and those made from `expr`/`cond` cases) and cases."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    decisions: dict[str, str] = dict(doc.get("decisions") or {})
    cases: list[ConformanceCase] = []
    for number, c in enumerate(doc["cases"], 1):
        raw = dict(c.get("case") or {})
        raw.setdefault("id", f"c{number}")
        raw.setdefault("date", DAY)
        trace = c.get("trace") or {}
        if "expr" in c or "cond" in c:
            name = f"e{number}"
            if "expr" in c:
                decisions[f"{name}.yaml"] = _value_decision(name, c["expr"])
            else:
                decisions[f"{name}.yaml"] = _truth_decision(name, c["cond"])
            if "want_error" in c:
                want = {name: {"outcome": "error", "error": c["want_error"], "value": None}}
            elif "expr" in c:
                want = {name: {"value": _expected(c["want"]), "rule": name}}
            else:
                value = {True: "true", False: "false"}.get(c["want"], c["want"])
                want = {name: {"value": value, "rule": f"{name}-{value}"}}
            for key in ("warnings", "case_warnings"):
                if key in c:
                    want[name][key] = c[key]
            if trace:
                trace = {name: trace}
        else:
            want = {
                d: {k: (_expected(v) if k == "value" else v) for k, v in w.items()}
                for d, w in c["want"].items()
            }
        as_of = c.get("as_of")
        cases.append(
            ConformanceCase(
                path.stem,
                c["name"],
                raw,
                as_of,
                dict(c.get("params") or {}),
                tuple(want),
                want,
                trace,
            )
        )
    return CorpusFile(path.stem, decisions, cases)


def build(corpus: CorpusFile, folder: Path) -> Engine:
    """The corpus graph plus the file's decisions, as a bundle folder; its engine."""
    root = folder / corpus.name
    shutil.copytree(BASE, root)
    for file, text in corpus.decisions.items():
        (root / file).write_text(textwrap.dedent(text), encoding="utf-8")
    return Engine(open_bundle(root))


# -- the paths -------------------------------------------------------------------------------------


def _per_case(r: DecisionResult) -> dict[str, object]:
    out: dict[str, object] = {
        "value": json_value(r.value),
        "rule": r.rule,
        "outcome": r.outcome,
        "note": r.note,
        "rules": list(r.rules) if len(r.rules) > 1 else [],
        "warnings": list(r.warnings),
    }
    out["error"] = r.error.message if r.error is not None else None
    return out


def compiled(engine: Engine, cases: Sequence[ConformanceCase]) -> list[Observed]:
    """The generated Python (Engine.evaluate, untraced)."""
    out = []
    for c in cases:
        result = engine.evaluate(c.raw, as_of=c.as_of, decisions=c.decisions, params=c.params)
        out.append(
            {
                d: {**_per_case(r), "case_warnings": result.warnings}
                for d, r in result.decisions.items()
            }
        )
    return out


def traced(engine: Engine, cases: Sequence[ConformanceCase]) -> list[Observed]:
    """The traced interpreter (Engine.evaluate with trace=True); also each rule's outcome."""
    out = []
    for c in cases:
        result = engine.evaluate(
            c.raw, as_of=c.as_of, decisions=c.decisions, params=c.params, trace=True
        )
        seen: Observed = {}
        for d, r in result.decisions.items():
            seen[d] = {**_per_case(r), "case_warnings": result.warnings}
            if r.trace is not None:  # a decision whose dependency failed was not evaluated
                seen[d]["trace"] = [[o.rule, o.outcome] for o in r.trace.rules]
        out.append(seen)
    return out


ColumnDecisions = Callable[[Engine], list[vector.ColumnDecision]]


def _frame(
    engine: Engine,
    nodes: vector.NodeTable,
    cases: Sequence[Case],
    days: Sequence[dt.date],
    params: Mapping[str, object],
) -> vector.Frame:
    """A chunk of validated cases as the batch fast path sees it: node fields as node columns
    of the nodes alive on each row's day (an absent code is none, as case by case)."""
    n = len(cases)
    on = np.array([d.toordinal() for d in days], dtype=np.int64)
    fields: dict[str, vector.Col] = {}
    for path, t in engine.case_schema.leaves():
        key = ".".join(path)
        values = [c.fields.get(key) for c in cases]
        if is_node(t) and not t.is_set:
            ids = np.array(
                [
                    nodes.ids.get(v, nodes.none) if isinstance(v, str) else nodes.none
                    for v in values
                ],
                dtype=np.intp,
            )
            fields[key] = nodes.column(np.where(nodes.alive(ids, on), ids, nodes.none))
        elif is_node(t):
            alive = [
                None if v is None else frozenset(m for m in v if engine.graph.exists(m, day))  # type: ignore[union-attr]
                for v, day in zip(values, days, strict=True)
            ]
            fields[key] = vector.factorise(alive)
        else:
            fields[key] = vector.factorise(values)
    fields["id"] = vector.factorise([c.id for c in cases])
    return vector.Frame(n, on, fields, {**engine.params, **params}, {}, {})


def _columns(
    plan: ColumnDecisions,
) -> Callable[[Engine, Sequence[ConformanceCase]], list[Observed]]:
    def run(engine: Engine, cases: Sequence[ConformanceCase]) -> list[Observed]:
        decisions = plan(engine)
        nodes = vector.NodeTable(engine.graph)
        out: list[Observed] = [{} for _ in cases]
        validated = [engine.validate_case(c.raw, 1) for c in cases]
        unavailable = engine.compiled.unavailable
        # One chunk per set of parameters (a chunk has one); rows of a kind whose data is not
        # loaded are the engine's in batch, so they are not the columns' to decide.
        chunks: dict[tuple[tuple[str, object], ...], list[int]] = {}
        for i, (c, v) in enumerate(zip(cases, validated, strict=True)):
            if any(kind in unavailable for _, kind, _ in v.nodes):
                for d in c.decisions:
                    out[i][d] = {"deferred": True}
                continue
            chunks.setdefault(tuple(sorted(c.params.items())), []).append(i)
        for rows in chunks.values():
            try:
                _chunk(engine, nodes, decisions, rows, cases, validated, out)
            except RuleError:
                # As batch does: the engine decides such a chunk; each row on its own shows
                # which rows the columns could not decide.
                for i in rows:
                    try:
                        _chunk(engine, nodes, decisions, [i], cases, validated, out)
                    except RuleError:
                        for d in cases[i].decisions:
                            out[i][d] = {"deferred": True}
        return out

    return run


def _chunk(
    engine: Engine,
    nodes: vector.NodeTable,
    decisions: list[vector.ColumnDecision],
    rows: list[int],
    cases: Sequence[ConformanceCase],
    validated: Sequence[Case],
    out: list[Observed],
) -> None:
    """Decide the rows' decisions (and what they depend on) as one chunk."""
    needed = {d for i in rows for d in cases[i].decisions}
    for cd in reversed(engine.compiled.decisions):
        if cd.name in needed:
            needed |= cd.depends_on
    days = [cases[i].as_of or validated[i].date or DAY for i in rows]
    frame = _frame(engine, nodes, [validated[i] for i in rows], days, cases[rows[0]].params)
    for d in decisions:
        if d.name in needed:
            frame.results[d.name] = d.evaluate(frame)
    for k, i in enumerate(rows):
        for name in cases[i].decisions:
            dc = frame.results[name]
            rule, _reason = dc.labels.rows()[k]  # type: ignore[misc]
            out[i][name] = {"value": json_value(dc.value.rows()[k]), "rule": rule}


def _vector_plan(engine: Engine) -> list[vector.ColumnDecision]:
    vec = vector.Vectoriser(
        engine.checked,
        engine.graph,
        groups.grouper(engine.checked, engine.graph, engine.bound.functions),
    )
    return [vec.decisions[d.name] for d in engine.compiled.decisions]


def _grouped_plan(engine: Engine) -> list[vector.ColumnDecision]:
    group = groups.grouper(engine.checked, engine.graph, engine.bound.functions)
    return [group(d) for d in engine.checked.decisions]


def arrow(engine: Engine, cases: Sequence[ConformanceCase]) -> list[Observed]:
    """The Arrow API (pctrules.columns.Decider.decide_arrow): the cases as one Arrow table per
    set of parameters and as-of date (a Decider has one of each), a column per dotted field; a
    row's error names each decision that failed (`row_error`). A decision whose values the API
    writes as text although they are not text (one whose type the checker cannot name, e.g. an
    `expr` case's; a `for:` decision over a set) is seen as that text (`as_text`)."""
    from pctrules.columns import Decider

    out: list[Observed] = [{} for _ in cases]
    chunks: dict[tuple[object, ...], list[int]] = {}
    for i, c in enumerate(cases):
        chunks.setdefault((c.as_of, *sorted(c.params.items())), []).append(i)
    as_text = {d.spec.name for d in engine.checked.decisions if _shown_as_text(d, engine)}
    for rows in chunks.values():
        first = cases[rows[0]]
        decider = Decider(engine, as_of=first.as_of, params=first.params)
        for positions, table in _arrow_tables([_dotted(cases[i].raw) for i in rows]):
            decided = decider.decide_arrow(table).to_pylist()
            for i, row in zip([rows[k] for k in positions], decided, strict=True):
                for name in cases[i].decisions:
                    value = row[name]
                    seen: dict[str, object] = (
                        {"value": value, "as_text": True}
                        if name in as_text
                        else {"value": json_value(value)}
                    )
                    if row["error"] is not None and f"{name}: " in row["error"]:
                        seen["row_error"] = row["error"]
                    else:
                        seen["rule"] = row[f"{name}.rule"]
                        seen["case_warnings"] = row["warnings"]
                    out[i][name] = seen
    return out


def arrow_typed(engine: Engine, cases: Sequence[ConformanceCase]) -> list[Observed]:
    """The Arrow API over the same bundle with each decision's `output:` declared as the
    checker types its results, where they have one type (the corpus declares none, and an
    undeclared output is a text column): typed columns, int, float, bool, date and lists."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return arrow(_declared(engine, Path(folder)), cases)


def _declared(engine: Engine, folder: Path) -> Engine:
    root = folder / engine.bundle.path.name
    shutil.copytree(engine.bundle.path, root)
    for d in engine.checked.decisions:
        output = _one_type(engine, d)
        if output is None or d.spec.output is not None:
            continue
        file = root / Path(d.spec.name_span.source.path).name
        text = file.read_text(encoding="utf-8")
        head = f"decision: {d.spec.name}\n"
        file.write_text(text.replace(head, f"{head}output: {output}\n", 1), encoding="utf-8")
    return Engine(open_bundle(root))


def _one_type(engine: Engine, d: CheckedDecision) -> str | None:
    """The one type of a decision's results (a rule with no `then` gives true), as `output:`
    writes it, optional; None when they have several or the checker names none."""
    found: set[str] = set()
    results = [r.then for r in d.rules] + ([d.default] if d.default is not None else [])
    for then in results:
        if isinstance(then, dict):
            return None
        t = engine.checked.type_of(then) if then is not None else None
        text = "bool" if then is None else str(t).removesuffix("?") if t is not None else "?"
        if text != "<none>":
            found.add(text)
    if len(found) != 1 or "<" in next(iter(found)) or "?" in next(iter(found)):
        return None
    output = next(iter(found)) + "?"
    return output if parse_type(output) is not None else None  # no sets of text or numbers


def _shown_as_text(d: CheckedDecision, engine: Engine) -> bool:
    """A text column for values that are not all text or codes (columns.decider.value_type)."""
    import pyarrow as pa

    from pctrules.columns.decider import value_type

    text = d.subject is None and (is_node(d.output) or d.output.base == "string")
    return pa.types.is_string(value_type(d, engine.checked)) and not text


def _dotted(raw: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """A case's fields by dotted name (`person.practice`), as a batch CSV names them."""
    out: dict[str, object] = {}
    for key, value in raw.items():
        if isinstance(value, Mapping):
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _arrow_tables(records: Sequence[Mapping[str, object]]) -> list[tuple[list[int], Any]]:
    """The records as one table (a column per field any of them has, null where a record has
    none), or, when a field's values have no one Arrow type (a case that gives text where
    another gives a number), a table per record."""
    import pyarrow as pa

    keys = list(dict.fromkeys(k for r in records for k in r))
    try:
        return [
            (
                list(range(len(records))),
                pa.table({k: pa.array([r.get(k) for r in records]) for k in keys}),
            )
        ]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return [
            ([k], pa.table({f: pa.array([v]) for f, v in r.items()})) for k, r in enumerate(records)
        ]


PATHS: dict[str, Callable[[Engine, Sequence[ConformanceCase]], list[Observed]]] = {
    "compiled": compiled,
    "traced": traced,
    "vector": _columns(_vector_plan),
    "grouped": _columns(_grouped_plan),
    "arrow": arrow,
    "arrow-typed": arrow_typed,
}


def register_path(
    name: str, run: Callable[[Engine, Sequence[ConformanceCase]], list[Observed]]
) -> None:
    """Add an evaluation path to the corpus."""
    PATHS[name] = run


def mismatches(case: ConformanceCase, seen: Observed) -> list[str]:
    """What a path saw that the case does not want (keys the path does not see are skipped)."""
    problems: list[str] = []
    # A column path gives a row with a rule error to the engine, all its decisions with it.
    wants_error = any(w.get("outcome") == "error" for w in case.want.values())
    for decision, want in case.want.items():
        got = seen.get(decision)
        if got is None:
            problems.append(f"{decision}: no result")
            continue
        if got.get("deferred"):
            if not wants_error:
                problems.append(
                    f"{decision}: the path gave way to the engine, but the case wants no error"
                )
            continue
        if "row_error" in got and isinstance(want.get("error"), str):
            wanted = str(want["error"]).removesuffix("…")
            if wanted not in str(got["row_error"]):
                problems.append(
                    f"{decision}.error: wanted {want['error']!r} in the row's "
                    f"error, got {got['row_error']!r}"
                )
        for key, value in want.items():
            if key not in got:
                continue
            actual = got[key]
            if key == "value" and got.get("as_text"):
                ok = actual == value or _as_text(actual) == value
            elif key == "error" and isinstance(value, str) and isinstance(actual, str):
                ok = value == actual or (value.endswith("…") and actual.startswith(value[:-1]))
            elif key == "rules" or key == "warnings":
                ok = list(actual) == list(value)  # type: ignore[call-overload]
            else:
                ok = actual == value
            if not ok:
                problems.append(f"{decision}.{key}: wanted {value!r}, got {actual!r}")
        for decision_trace, rules in case.trace.items():
            if decision_trace == decision and "trace" in got and got["trace"] != rules:
                problems.append(f"{decision}.trace: wanted {rules!r}, got {got['trace']!r}")
    return problems


def _as_text(text: object) -> object:
    """What the Arrow API's text of a value that is not text stands for: its JSON."""
    try:
        return json.loads(str(text)) if text is not None else None
    except ValueError:
        return text


def all_files() -> list[Path]:
    return sorted(HERE.glob("*.yaml"))
