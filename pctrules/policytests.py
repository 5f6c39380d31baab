"""Policy-test stage: a bundle's tests/*.yaml read, checked against the bundle, run and measured.

`read_tests` reads the files (every problem a diagnostic, never an exception); `check_tests`
checks them against the checked bundle without running anything (unknown decisions, rules,
case fields, parameters and fact kinds, each at the key or value that is wrong), which is what
`pctrules check` and the language server report; `run_tests` runs them traced, timing each,
and gives a `TestRun` (outcomes, coverage, constraints) that testreport.py renders.

Over 500 lines on purpose: reading, static checks, running and coverage share the PolicyTest
and its positions, and `test`, `check` and the language server each use several of them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pctrules.bundle import Bundle
from pctrules.evaluation.engine import CaseResult, Engine, check_parameter
from pctrules.evaluation.interpret import conjuncts, constraint_violations
from pctrules.evaluation.runtime import EvalContext, RuleError, json_value
from pctrules.files import Folder, Refused, check_plain
from pctrules.graph.build import build_graph
from pctrules.graph.model import OrgGraph
from pctrules.language import ast
from pctrules.language.check.state import CheckedBundle
from pctrules.language.check.types import is_node
from pctrules.language.diagnostics import (
    CaseError,
    Code,
    Diagnostic,
    Diagnostics,
    did_you_mean,
    error,
    warning,
)
from pctrules.language.loader import PolicyBundle, json_schema, locate
from pctrules.language.schema import CaseSchema, Type
from pctrules.language.source import SourceFile, Span
from pctrules.language.yamlsource.compose import LIMITS, decode, read_yaml
from pctrules.language.yamlsource.nodes import YMap, YNode, YScalar, YSeq, to_python
from pctrules.language.yamlsource.schema import SchemaChecker, json_type

MISSING: Any = object()
"""An expectation a test does not state (a test may check only the rule, say)."""

EXPECTATION_KEYS = ("value", "rule", "reason", "outcome")


@dataclass(frozen=True)
class Expectation:
    """What one decision must give: any of value, rule, reason and outcome."""

    value: object = MISSING
    rule: object = MISSING
    reason: object = MISSING
    outcome: object = MISSING

    def stated(self) -> dict[str, object]:
        """The keys the test states, with their values as the JSON of a result gives them."""
        out: dict[str, object] = {}
        for key in EXPECTATION_KEYS:
            wanted = getattr(self, key)
            if wanted is MISSING:
                continue
            wanted = _as_result(wanted)
            out[key] = str(wanted) if key == "reason" and wanted is not None else wanted
        return out


@dataclass(frozen=True)
class PolicyTest:
    """One test: a case, optional as-of date, parameters and facts, and the expected decisions.

    `facts` are organisation facts added to the graph for this test only, for arrangements the
    bundle's data does not hold: `{code, kind, name?, valid_from?, valid_to?}` adds a node,
    `{from, relation, to, …}` an edge. `node` is the test as written, for positions.
    """

    name: str
    where: Span
    node: YMap = field(compare=False, repr=False)
    case: object
    as_of: dt.date | None
    params: Mapping[str, object]
    expect: Mapping[str, Expectation]
    facts: tuple[Mapping[str, object], ...] = ()

    def at(self, *path: str | int) -> Span:
        """Where a key path of the test is written (`at('expect', 'cluster')`), else its name."""
        return locate(self.node, path) or self.where

    @property
    def file(self) -> str:
        return self.where.path


# -- reading ---------------------------------------------------------------------------------


def tests_folder(policy: PolicyBundle) -> Path | None:
    """The bundle's tests folder (the manifest's `tests:`, else `tests/` when there is one)."""
    tests_dir = policy.manifest.tests_dir
    return None if tests_dir is None else policy.root / tests_dir


def test_files(policy: PolicyBundle) -> list[Path]:
    """The test files of a bundle, in name order."""
    folder = tests_folder(policy)
    if folder is None or not folder.is_dir():
        return []
    return sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))


def read_tests(
    policy: PolicyBundle,
    read: Callable[[Path], bytes] | None = None,
) -> tuple[list[PolicyTest], Diagnostics, list[SourceFile]]:
    """Every test of the bundle's test files, the problems of their form, and the files read.

    Paths are shown as the bundle's own files are (the manifest's prefix). `read` gives a
    file's bytes (the language server reads unsaved editor text through it).
    """
    bundle = Folder(policy.root)
    prefix = policy.manifest.source.path.removesuffix("bundle.yaml")
    diagnostics = Diagnostics()
    tests: list[PolicyTest] = []
    files: list[SourceFile] = []
    checker = SchemaChecker(json_schema("tests"))
    for path in test_files(policy):
        shown = prefix + path.relative_to(policy.root).as_posix()
        try:  # inside the bundle, a plain file, bounded (DESIGN §11), whoever reads it
            if read is None:
                data = bundle.read(path, LIMITS.file_bytes, shown)
            else:
                check_plain(bundle.inside(path, shown), shown)
                data = read(path)
        except Refused as exc:
            diagnostics.add(exc.diagnostic())
            continue
        except OSError as exc:
            diagnostics.add(
                error(
                    Code.MISSING_FILE,
                    f"cannot read '{shown}'",
                    None,
                    (exc.strerror or "check the path").lower(),
                )
            )
            continue
        source = decode(data, shown)
        if isinstance(source, Diagnostic):
            diagnostics.add(source)
            continue
        files.append(source)
        node = read_yaml(source, diagnostics)
        if node is None:
            continue
        problems = checker.check(node)
        for p in problems:
            diagnostics.add(error(p.code, p.message, p.span, p.help))
        items = node.get("tests") if isinstance(node, YMap) else node
        if isinstance(items, YSeq):
            # A test with a problem is still read (it is reported as an error, not run).
            tests.extend(
                _test(item, i) for i, item in enumerate(items.items) if isinstance(item, YMap)
            )
    return tests, diagnostics, files


def _test(m: YMap, index: int) -> PolicyTest:
    data = to_python(m)
    expect: dict[str, Expectation] = {}
    wanted_all = data.get("expect")
    for decision, wanted in wanted_all.items() if isinstance(wanted_all, Mapping) else ():
        if isinstance(wanted, Mapping):
            expect[str(decision)] = Expectation(
                **{k: wanted[k] for k in EXPECTATION_KEYS if k in wanted}
            )
        else:
            expect[str(decision)] = Expectation(value=wanted)
    name_node = m.get("name")
    where = name_node.span if name_node is not None else m.span
    as_of = data.get("as_of")
    try:
        day = dt.date.fromisoformat(str(as_of)) if as_of else None
    except ValueError:
        day = None  # check_tests reports it
    params = data.get("params")
    facts = data.get("facts")
    return PolicyTest(
        str(data.get("name") or f"test {index + 1}"),
        where,
        m,
        data.get("case"),
        day,
        params if isinstance(params, Mapping) else {},
        expect,
        tuple(f for f in facts if isinstance(f, Mapping)) if isinstance(facts, list) else (),
    )


# -- checking without running ----------------------------------------------------------------


def check_tests(tests: Sequence[PolicyTest], checked: CheckedBundle) -> Diagnostics:
    """Every problem of the tests that the bundle shows without running them, each at the key
    or value that is wrong: decisions, rules, outcomes, case fields, parameters, facts."""
    return _TestChecker(checked).check(tests)


class _TestChecker:
    def __init__(self, checked: CheckedBundle) -> None:
        self.checked = checked
        self.rules = {d.spec.name: [r.spec.id for r in d.rules] for d in checked.decisions}
        self.owner = {rule: name for name, rules in self.rules.items() for rule in rules}
        self.params = {p.name: p for p in checked.bundle.manifest.parameters}
        self.out = Diagnostics()

    def check(self, tests: Sequence[PolicyTest]) -> Diagnostics:
        names: dict[tuple[str, str], Span] = {}
        for test in tests:
            key = (test.file, test.name)
            if key in names:
                self.out.add(
                    warning(
                        Code.DUPLICATE_TEST,
                        f"the test name '{test.name}' is used twice in this file",
                        test.where,
                        f"the first is at line {names[key].line}; give each test its "
                        "own name so reports can tell them apart",
                    )
                )
            names.setdefault(key, test.where)
            self.expectations(test)
            case = test.node.get("case")
            if isinstance(case, YMap):
                self.case(test, case, self.checked.case_schema, ())
            self.as_of(test)
            self.parameters(test)
            self.facts(test)
        return self.out

    def add(self, test: PolicyTest, code: Code, message: str, span: Span, help: str | None) -> None:
        self.out.add(error(code, f"for test '{test.name}', {message}", span, help))

    def expectations(self, test: PolicyTest) -> None:
        expect = test.node.get("expect")
        if not isinstance(expect, YMap):
            return
        for key, wanted in expect.items:
            name = key.value
            if name not in self.rules:
                self.add(
                    test,
                    Code.UNKNOWN_DECISION,
                    f"unknown decision '{name}'",
                    key.span,
                    did_you_mean(name, self.rules)
                    or "the decisions are " + ", ".join(f"'{d}'" for d in self.rules),
                )
                continue
            rule = wanted.get("rule") if isinstance(wanted, YMap) else None
            if isinstance(rule, YScalar) and rule.is_text and rule.value not in self.rules[name]:
                other = self.owner.get(rule.value)
                if other is not None:
                    self.add(
                        test,
                        Code.UNKNOWN_RULE,
                        f"the rule '{rule.value}' belongs to decision '{other}', not '{name}'",
                        rule.span,
                        f"expect it under '{other}', or name a rule of '{name}'",
                    )
                else:
                    self.add(
                        test,
                        Code.UNKNOWN_RULE,
                        f"decision '{name}' has no rule '{rule.value}'",
                        rule.span,
                        did_you_mean(rule.value, self.rules[name])
                        or "its rules are " + ", ".join(f"'{r}'" for r in self.rules[name]),
                    )

    def case(
        self, test: PolicyTest, node: YMap, schema: CaseSchema, prefix: tuple[str, ...]
    ) -> None:
        for key, value in node.items:
            path = (*prefix, key.value)
            dotted = ".".join(path)
            t = schema.fields.get(key.value)
            if t is None:
                self.add(
                    test,
                    Code.CASE,
                    f"unknown case field '{dotted}'",
                    key.span,
                    did_you_mean(key.value, schema.fields)
                    or "the fields here are " + ", ".join(f"'{f}'" for f in schema.names()),
                )
            elif isinstance(t, CaseSchema):
                if isinstance(value, YMap):
                    self.case(test, value, t, path)
                elif json_type(value) != "null":
                    self.add(
                        test,
                        Code.CASE,
                        f"case field '{dotted}' is a group of fields, not a value",
                        value.span,
                        "write it as a mapping, e.g. "
                        + "{"
                        + ", ".join(f"{f}: …" for f in list(t.fields)[:2])
                        + "}",
                    )
            elif path != ("id",):
                problem = _value_problem(value, t)
                if problem is not None:
                    self.add(
                        test,
                        Code.CASE,
                        f"case field '{dotted}' must be {problem}",
                        value.span,
                        _VALUE_HELP.get(t.base),
                    )

    def as_of(self, test: PolicyTest) -> None:
        node = test.node.get("as_of")
        if (
            isinstance(node, YScalar)
            and re.fullmatch(r"\d{4}-\d{2}-\d{2}", node.value)
            and test.as_of is None
        ):
            self.add(
                test,
                Code.DATE,
                f"'{node.value}' is not a date of the calendar",
                node.span,
                "check the month and the day",
            )

    def parameters(self, test: PolicyTest) -> None:
        params = test.node.get("params")
        if not isinstance(params, YMap):
            return
        for key, value in params.items:
            spec = self.params.get(key.value)
            if spec is None:
                self.add(
                    test,
                    Code.UNKNOWN_NAME,
                    f"unknown parameter '{key.value}'",
                    key.span,
                    did_you_mean(key.value, self.params)
                    or (
                        "the parameters are " + ", ".join(f"'{p}'" for p in self.params)
                        if self.params
                        else "this bundle has no parameters"
                    ),
                )
                continue
            _, problem = check_parameter(spec, to_python(value))
            if problem is not None:
                self.add(test, problem.code, problem.message, value.span, problem.help)

    def facts(self, test: PolicyTest) -> None:
        facts = test.node.get("facts")
        schema = self.checked.schema
        for fact in facts.items if isinstance(facts, YSeq) else ():
            if not isinstance(fact, YMap):
                continue
            relation, kind = fact.get("relation"), fact.get("kind")
            if isinstance(relation, YScalar):
                if relation.value not in schema.relations:
                    self.add(
                        test,
                        Code.UNKNOWN_NAME,
                        f"unknown relation '{relation.value}'",
                        relation.span,
                        did_you_mean(relation.value, schema.relations),
                    )
            elif isinstance(kind, YScalar):
                if kind.value not in schema.kinds:
                    self.add(
                        test,
                        Code.UNKNOWN_NAME,
                        f"unknown kind '{kind.value}'",
                        kind.span,
                        did_you_mean(kind.value, schema.kinds),
                    )
            else:
                self.add(
                    test,
                    Code.MISSING_KEY,
                    "a fact needs 'kind' (a node) or 'relation' (an edge)",
                    fact.span,
                    "write {code: X, kind: pct} or {from: A, relation: part_of, to: B}",
                )


_VALUE_HELP = {
    "date": "write dates as YYYY-MM-DD, e.g. 2011-09-01",
    "bool": "write true or false",
}


def _value_problem(node: YNode, t: Type) -> str | None:
    """What a case value must be, when it is not (None when it fits the type)."""
    kind = json_type(node)
    if kind == "null":
        return None
    if t.is_set:
        if not isinstance(node, YSeq) or any(json_type(i) != "string" for i in node.items):
            return f"a list of {t.base} codes"
        return None
    if isinstance(node, YScalar) and is_node(t):
        return (
            None
            if kind == "string" and node.value.strip() == node.value != ""
            else f"a {t.base} code (text)"
        )
    if t.base == "date":
        if isinstance(node, YScalar) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", node.value):
            try:
                dt.date.fromisoformat(node.value)
                return None
            except ValueError:
                return "a real date (YYYY-MM-DD)"
        return "a date (YYYY-MM-DD)"
    expected = {
        "string": ("string", "text"),
        "bool": ("boolean", "true or false"),
        "int": ("integer", "a whole number"),
        "number": ("number", "a number"),
    }
    wanted = expected.get(t.base)
    if wanted is None:
        return None
    if kind == wanted[0] or (t.base == "number" and kind == "integer"):
        return None
    if t.base == "string" and isinstance(node, YScalar) and node.is_text:
        return None
    return wanted[1]


# -- running ---------------------------------------------------------------------------------


def _as_result(v: object) -> object:
    """An expectation as the JSON of a result: dates as ISO text, lists sorted (sets)."""
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return sorted((_as_result(x) for x in v), key=str)
    return v


@dataclass(frozen=True)
class Mismatch:
    """One decision that did not give what the test expects: the stated keys and the actual."""

    decision: str
    expected: dict[str, object]
    actual: dict[str, object]
    differing: tuple[str, ...]
    at: Span
    error: str | None = None


@dataclass
class TestOutcome:
    """One test's result: passed, failed, skipped or error (it could not run)."""

    test: PolicyTest
    status: str
    seconds: float = 0.0
    detail: str = ""
    mismatches: list[Mismatch] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    result: CaseResult | None = None


def compare(test: PolicyTest, result: CaseResult) -> list[Mismatch]:
    """Each expected decision that differs from the result, with what differs."""
    out: list[Mismatch] = []
    for name, want in test.expect.items():
        got = result.decisions[name]
        actual: dict[str, object] = {
            "value": json_value(got.value),
            "rule": got.rule,
            "reason": got.reason,
            "outcome": got.outcome,
        }
        expected = want.stated()
        differing = tuple(k for k, v in expected.items() if v != actual[k])
        failed = (
            got.outcome == "error" and got.error is not None and expected.get("outcome") != "error"
        )
        if differing or failed:
            out.append(
                Mismatch(
                    name,
                    expected,
                    actual,
                    differing,
                    test.at("expect", name),
                    got.error.message if failed and got.error else None,
                )
            )
    return out


class Runner:
    """Runs policy tests against one bundle; tests with `facts` get a graph of their own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.unavailable = set(engine.graph.unavailable_kinds())

    def run(self, test: PolicyTest) -> TestOutcome:
        started = time.perf_counter()
        outcome = self._run(test)
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _run(self, test: PolicyTest) -> TestOutcome:
        engine = self.engine
        if test.facts:
            engine_or_problems = self._with_facts(test)
            if isinstance(engine_or_problems, list):
                return TestOutcome(
                    test, "error", detail="its facts cannot be loaded", problems=engine_or_problems
                )
            engine = engine_or_problems
        try:
            case = engine.validate_case(test.case, 1)
        except CaseError as exc:
            return TestOutcome(
                test,
                "error",
                detail="invalid case",
                problems=[
                    dataclasses.replace(
                        d,
                        span=d.span or test.at("case"),
                        message=f"for test '{test.name}', {d.message}",
                    )
                    for d in exc.diagnostics
                ],
            )
        missing = sorted({kind for _, kind, _ in case.nodes if kind in self.unavailable})
        if missing:
            return TestOutcome(test, "skipped", detail=f"needs {', '.join(missing)} data")
        try:
            result = engine.evaluate(
                case, as_of=test.as_of, trace=True, params=dict(test.params) or None
            )
        except CaseError as exc:
            return TestOutcome(
                test,
                "error",
                detail="; ".join(d.message for d in exc.diagnostics),
                problems=[
                    dataclasses.replace(d, span=d.span or test.where) for d in exc.diagnostics
                ],
            )
        mismatches = compare(test, result)
        return TestOutcome(
            test, "failed" if mismatches else "passed", mismatches=mismatches, result=result
        )

    def _with_facts(self, test: PolicyTest) -> Engine | list[Diagnostic]:
        b = self.engine.bundle
        with tempfile.TemporaryDirectory(prefix="pctrules-test-") as scratch:
            tables = FactTables.write(test, Path(scratch))
            bundle = _BundleWithFacts(
                b.path, b.policy, b.checked, b.diagnostics, b.data_dir, tuple(tables.entries)
            )
            problems = bundle.graph.diagnostics.errors
            if problems:
                return [tables.relocate(d, test) for d in problems]
            return Engine(bundle)


@dataclass(frozen=True)
class _BundleWithFacts(Bundle):
    """The bundle with a test's fact tables added to its graph (the bundle is unchanged)."""

    fact_entries: tuple[dict[str, Any], ...] = ()

    @cached_property
    def graph(self) -> OrgGraph:
        entries = [e.as_mapping() for e in self.policy.manifest.data]
        return build_graph(
            self.schema,
            entries,
            self.path,
            self.data_dir,
            self.show_path,
            written=self.fact_entries,
        )


@dataclass
class FactTables:
    """A test's facts written as data tables (one per kind or relation), and where each cell
    came from, so a load problem points at the fact in the test file, not at a scratch file."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    # (table path, line) → (fact index, [(first column of each cell, its key)])
    rows: dict[tuple[str, int], tuple[int, list[tuple[int, str]]]] = field(default_factory=dict)

    @classmethod
    def write(cls, test: PolicyTest, folder: Path) -> FactTables:
        out = cls()
        groups: dict[tuple[str, str], list[int]] = {}
        for i, fact in enumerate(test.facts):
            key = (
                ("relation", str(fact["relation"]))
                if "relation" in fact
                else ("kind", str(fact.get("kind")))
            )
            groups.setdefault(key, []).append(i)
        for (what, name), indexes in groups.items():
            columns = list(dict.fromkeys(k for i in indexes for k in test.facts[i] if k != what))
            path = folder / f"{what}-{name}.csv"
            lines = [",".join(columns)]
            for line, i in enumerate(indexes, start=2):
                cells = [_cell(test.facts[i].get(c)) for c in columns]
                starts, col = [], 1
                for cell, column in zip(cells, columns, strict=True):
                    starts.append((col, column))
                    col += len(cell) + 1
                out.rows[(str(path), line)] = (i, starts)
                lines.append(",".join(cells))
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            out.entries.append({"path": str(path), what: name})
        return out

    def relocate(self, d: Diagnostic, test: PolicyTest) -> Diagnostic:
        """A load problem of a fact table, placed at the fact's value in the test file."""
        span = test.at("facts")
        if d.span is not None and (d.span.path, d.span.line) in self.rows:
            index, starts = self.rows[(d.span.path, d.span.line)]
            column = next((key for start, key in reversed(starts) if start <= d.span.column), None)
            span = test.at("facts", index, column) if column else test.at("facts", index)
        return dataclasses.replace(d, span=span, message=f"for test '{test.name}', {d.message}")


def _cell(v: object) -> str:
    if v is None:
        return ""
    text = (
        v.isoformat()
        if isinstance(v, dt.date)
        else str(v).lower()
        if isinstance(v, bool)
        else str(v)
    )
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text


# -- coverage --------------------------------------------------------------------------------


@dataclass
class Coverage:
    """Which rules fired, and which conditions were seen true and seen false, over the tests."""

    rules: dict[str, str] = field(default_factory=dict)  # rule id → where it is
    fired: set[str] = field(default_factory=set)
    conditions: dict[str, tuple[str, str]] = field(default_factory=dict)  # at → (rule, expr)
    seen_true: set[str] = field(default_factory=set)
    seen_false: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, checked: CheckedBundle) -> Coverage:
        cov = cls()
        for d in checked.decisions:
            for r in d.rules:
                cov.rules[r.spec.id] = str(r.spec.id_span)
                if r.when is not None:
                    for c in conjuncts(r.when):
                        cov.conditions[str(c.span)] = (r.spec.id, ast.unparse(c))
        return cov

    def add(self, result: CaseResult) -> None:
        for r in result.decisions.values():
            if r.trace is None:
                continue
            for trace in [r.trace, *r.trace.subjects]:
                for rule in trace.rules:
                    if rule.outcome == "matched":
                        self.fired.add(rule.rule)
                    for c in rule.conditions:
                        if c.value is True:
                            self.seen_true.add(c.at)
                        elif c.value is False:
                            self.seen_false.add(c.at)

    def to_dict(self) -> dict[str, Any]:
        """Counts, rules never fired, and conditions never seen true or never seen false."""
        fired = [r for r in self.rules if r in self.fired]
        outcomes = 2 * len(self.conditions)
        seen = sum((at in self.seen_true) + (at in self.seen_false) for at in self.conditions)
        return {
            "rules": {
                "total": len(self.rules),
                "fired": len(fired),
                "percent": _pct(len(fired), len(self.rules)),
            },
            "conditions": {"outcomes": outcomes, "seen": seen, "percent": _pct(seen, outcomes)},
            "never_fired": [
                {"rule": r, "at": at} for r, at in self.rules.items() if r not in self.fired
            ],
            "conditions_not_seen": [
                {"rule": rule, "expr": expr, "at": at, "never": missing}
                for at, (rule, expr) in self.conditions.items()
                if (
                    missing := [
                        w
                        for w, s in (("true", self.seen_true), ("false", self.seen_false))
                        if at not in s
                    ]
                )
            ],
        }


def _pct(n: int, total: int) -> float:
    return round(100.0 * n / total, 1) if total else 100.0


# -- constraints on the tests' dates -----------------------------------------------------------


@dataclass(frozen=True)
class ConstraintFailure:
    """A constraint of the bundle that does not hold on a date the tests used."""

    id: str
    severity: str  # error | warning
    on: dt.date
    message: str
    subjects: tuple[str, ...]
    at: Span


def check_constraints(engine: Engine, dates: Iterable[dt.date]) -> list[ConstraintFailure]:
    """The bundle's constraints on each date the tests used: each violated one once, on the
    first date it fails, with the subjects that break it."""
    out: list[ConstraintFailure] = []
    for constraint in engine.checked.constraints:
        spec = constraint.spec
        if spec.check == "data":
            continue  # checked on every day of the data when the data loaded
        for on in dates:
            ctx = EvalContext(engine.graph, on, {}, engine.params)
            try:
                failing = constraint_violations(engine.checked, constraint, ctx)
            except RuleError as exc:
                out.append(
                    ConstraintFailure(
                        spec.id, "error", on, exc.message, (), exc.span or spec.id_span
                    )
                )
                break
            if failing:
                out.append(
                    ConstraintFailure(
                        spec.id,
                        spec.severity,
                        on,
                        spec.message or "the requirement does not hold",
                        tuple(failing),
                        spec.id_span,
                    )
                )
                break
    return out


# -- a whole run -----------------------------------------------------------------------------


@dataclass
class TestRun:
    """What `pctrules test` reports: each selected test's outcome, coverage, constraints, and
    the problems that stopped tests (or the whole run) before they ran."""

    outcomes: list[TestOutcome] = field(default_factory=list)
    coverage: Coverage | None = None
    constraints: list[ConstraintFailure] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    not_run: int = 0  # tests that never ran because the bundle or its data is broken
    stopped_by: str | None = None  # why nothing ran ("the bundle has errors", …)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        """No test failed or errored, no error constraint broke, nothing stopped the run."""
        return not (
            self.stopped_by
            or self.count("failed")
            or self.count("error")
            or any(c.severity == "error" for c in self.constraints)
        )


def select(tests: Sequence[PolicyTest], pattern: re.Pattern[str] | None) -> list[PolicyTest]:
    """The tests whose name the pattern finds (`--run`), all of them without one."""
    return [t for t in tests if pattern is None or pattern.search(t.name)]


def run_tests(
    engine: Engine, tests: Sequence[PolicyTest], problems: Iterable[Diagnostic] = ()
) -> TestRun:
    """Run the tests; a test whose file has a problem at its place is an error, not run."""
    started = time.perf_counter()
    run = TestRun(coverage=Coverage.of(engine.checked))
    by_test = _problems_by_test(tests, problems)
    runner = Runner(engine)
    for test in tests:
        own = by_test.get(id(test))
        if own:
            own.sort(key=Diagnostic.sort_key)
            many = f"{len(own)} problems" if len(own) > 1 else "a problem"
            run.outcomes.append(
                TestOutcome(test, "error", detail=f"{many} in the test", problems=own)
            )
            continue
        outcome = runner.run(test)
        run.outcomes.append(outcome)
        if outcome.result is not None and run.coverage is not None:
            run.coverage.add(outcome.result)
    dates = sorted({o.result.as_of for o in run.outcomes if o.result is not None})
    run.constraints = check_constraints(engine, dates)
    run.seconds = time.perf_counter() - started
    return run


def _problems_by_test(
    tests: Sequence[PolicyTest], problems: Iterable[Diagnostic]
) -> dict[int, list[Diagnostic]]:
    """Each error diagnostic given to the test whose text holds its position."""
    out: dict[int, list[Diagnostic]] = {}
    for d in problems:
        if not d.is_error or d.span is None:
            continue
        for test in tests:
            s = test.node.span
            if s.path == d.span.path and (s.line, s.column) <= (d.span.line, d.span.column) < (
                s.end_line,
                s.end_column,
            ):
                out.setdefault(id(test), []).append(d)
                break
    return out


__all__ = [
    "MISSING",
    "ConstraintFailure",
    "Coverage",
    "Expectation",
    "Mismatch",
    "PolicyTest",
    "Runner",
    "TestOutcome",
    "TestRun",
    "check_constraints",
    "check_tests",
    "compare",
    "read_tests",
    "run_tests",
    "select",
    "test_files",
]
