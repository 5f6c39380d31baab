"""CLI: `pctrules test` — a bundle's policy tests, reported like a test runner, with coverage."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from pctrules.bundle import Bundle
from pctrules.commands.common import data_option, handle_errors
from pctrules.evaluation.engine import REGISTER_HELP, CaseResult, Engine
from pctrules.evaluation.interpret import conjuncts, constraint_violations
from pctrules.evaluation.runtime import EvalContext, RuleError, describe, json_value
from pctrules.graph.build import build_graph
from pctrules.graph.model import OrgGraph
from pctrules.language import ast
from pctrules.language.diagnostics import (
    CaseError,
    Diagnostic,
    Diagnostics,
    ExitCode,
    PctrulesError,
    did_you_mean,
    error,
)
from pctrules.language.loader import display_base, json_schema
from pctrules.language.source import Span
from pctrules.language.yamlsource.compose import decode, read_yaml
from pctrules.language.yamlsource.nodes import YMap, YSeq, to_python
from pctrules.language.yamlsource.schema import SchemaChecker

MISSING: Any = object()
"""An expectation a test does not state (a test may check only the rule, say)."""


@dataclass(frozen=True)
class Expectation:
    """What one decision must give: any of value, rule, reason and outcome."""

    value: object = MISSING
    rule: object = MISSING
    reason: object = MISSING
    outcome: object = MISSING


@dataclass(frozen=True)
class PolicyTest:
    """One test: a case, optional as-of date, parameters and facts, and the expected decisions.

    `facts` are organisation facts added to the graph for this test only, for arrangements the
    bundle's data does not hold (no collaborative commissioning group is on record):
    `{code, kind, name?, valid_from?, valid_to?}` adds a node, `{from, relation, to, …}` an edge.
    """

    name: str
    where: Span
    case: object
    as_of: dt.date | None
    params: Mapping[str, object]
    expect: Mapping[str, Expectation]
    facts: tuple[Mapping[str, object], ...] = ()


@dataclass
class TestOutcome:
    test: PolicyTest
    status: str  # passed | failed | skipped
    detail: str = ""
    result: CaseResult | None = None


# -- reading ---------------------------------------------------------------------------------


def load_tests(root: Path, tests_dir: str | None, display: str) -> list[PolicyTest]:
    """Every test of the bundle's tests folder (files in name order); exit 3 on a bad file."""
    if tests_dir is None:
        return []
    folder = root / tests_dir
    diagnostics = Diagnostics()
    tests: list[PolicyTest] = []
    checker = SchemaChecker(json_schema("tests"))
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        shown = f"{display}/{path.relative_to(root).as_posix()}" if display else str(path)
        source = decode(path.read_bytes(), shown)
        if isinstance(source, Diagnostic):
            diagnostics.add(source)
            continue
        node = read_yaml(source, diagnostics)
        if node is None:
            continue
        problems = checker.check(node)
        for p in problems:
            diagnostics.add(error(p.code, p.message, p.span, p.help))
        if problems:
            continue
        items = node.get("tests") if isinstance(node, YMap) else node
        if isinstance(items, YSeq):
            tests.extend(_test(item) for item in items.items if isinstance(item, YMap))
    if diagnostics.has_errors:
        raise PctrulesError(diagnostics.sorted(), ExitCode.INVALID_POLICY)
    return tests


def _test(m: YMap) -> PolicyTest:
    data = to_python(m)
    expect: dict[str, Expectation] = {}
    for decision, wanted in (data.get("expect") or {}).items():
        if isinstance(wanted, Mapping):
            expect[decision] = Expectation(**{k: wanted[k] for k in wanted})
        else:
            expect[decision] = Expectation(value=wanted)
    as_of = data.get("as_of")
    name_node = m.key("name")
    return PolicyTest(
        str(data["name"]), name_node.span if name_node is not None else m.span,
        data.get("case"), dt.date.fromisoformat(str(as_of)) if as_of else None,
        data.get("params") or {}, expect, tuple(data.get("facts") or ()))


# -- running ---------------------------------------------------------------------------------


def _expected(v: object) -> object:
    """An expectation as the JSON of a result: dates as ISO text, lists sorted (sets)."""
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return sorted((_expected(x) for x in v), key=str)
    return v


def _compare(test: PolicyTest, result: CaseResult) -> list[str]:
    diffs: list[str] = []
    for name, want in test.expect.items():
        got = result.decisions[name]
        actual = {"value": json_value(got.value), "rule": got.rule, "reason": got.reason,
                  "outcome": got.outcome}
        for key in ("value", "rule", "reason", "outcome"):
            expected = getattr(want, key)
            if expected is MISSING:
                continue
            expected = _expected(expected)
            if key == "reason" and expected is not None:
                expected = str(expected)
            if expected != actual[key]:
                diffs.append(f"{name}.{key}: -{describe(expected)} +{describe(actual[key])}")
        if got.outcome == "error" and got.error is not None and want.outcome != "error":
            diffs.append(f"{name} failed: {got.error.message}")
    return diffs


class Runner:
    """Runs policy tests against one bundle; tests with `facts` get a graph of their own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        graph = engine.graph
        present = {n.kind for n in graph.nodes.values()}
        self.unavailable = {k for k in engine.checked.schema.kinds
                            if k not in present or (k == "practice" and not graph.has_register)}
        self.decisions = [d.spec.name for d in engine.checked.decisions]

    def check_names(self, tests: Sequence[PolicyTest]) -> None:
        problems = [
            error("E-unknown-decision", f"for test '{t.name}', unknown decision '{name}'",
                  t.where, did_you_mean(name, self.decisions))
            for t in tests for name in t.expect if name not in self.decisions]
        if problems:
            raise PctrulesError(problems, ExitCode.INVALID_POLICY)

    def run(self, test: PolicyTest) -> TestOutcome:
        engine = self.engine if not test.facts else self._with_facts(test)
        try:
            case = engine.validate_case(test.case, 1)
        except CaseError as exc:
            return TestOutcome(test, "failed", "invalid case: " + "; ".join(
                d.message for d in exc.diagnostics))
        missing = sorted({kind for _, kind, _ in case.nodes if kind in self.unavailable})
        if missing:
            return TestOutcome(test, "skipped", f"needs {', '.join(missing)} data")
        try:
            result = engine.evaluate(case, as_of=test.as_of, trace=True,
                                     params=dict(test.params) or None)
        except CaseError as exc:
            return TestOutcome(test, "failed", "; ".join(d.message for d in exc.diagnostics))
        diffs = _compare(test, result)
        return TestOutcome(test, "failed" if diffs else "passed", "; ".join(diffs), result)

    def _with_facts(self, test: PolicyTest) -> Engine:
        b = self.engine.bundle
        bundle = _BundleWithFacts(b.path, b.policy, b.checked, b.diagnostics, b.data_dir,
                                  test.facts)
        problems = bundle.graph.diagnostics.errors
        if problems:
            raise PctrulesError([dataclasses.replace(d, message=f"for test '{test.name}', "
                                                     f"{d.message}") for d in problems],
                                ExitCode.INVALID_POLICY)
        return Engine(bundle)


@dataclass(frozen=True)
class _BundleWithFacts(Bundle):
    """The bundle with a test's facts added to its graph (the bundle itself is unchanged)."""

    facts: tuple[Mapping[str, object], ...] = ()

    @cached_property
    def graph(self) -> OrgGraph:
        entries = [e.as_mapping() for e in self.policy.manifest.data]
        with tempfile.TemporaryDirectory(prefix="pctrules-test-") as scratch:
            entries += _fact_tables(self.facts, Path(scratch))
            return build_graph(self.schema, entries, self.path, self.data_dir, self.show_path)


def _fact_tables(facts: Iterable[Mapping[str, object]], folder: Path) -> list[dict[str, Any]]:
    """Write a test's facts as data tables (one per kind or relation) for build_graph."""
    groups: dict[tuple[str, str], list[Mapping[str, object]]] = {}
    for fact in facts:
        key = ("relation", str(fact["relation"])) if "relation" in fact else \
            ("kind", str(fact["kind"]))
        groups.setdefault(key, []).append(fact)
    entries: list[dict[str, Any]] = []
    for (what, name), rows in groups.items():
        columns = list(dict.fromkeys(k for row in rows for k in row if k not in (what,)))
        path = folder / f"{what}-{name}.csv"
        lines = [",".join(columns)]
        lines += [",".join(_cell(row.get(c)) for c in columns) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        entries.append({"path": str(path), what: name})
    return entries


def _cell(v: object) -> str:
    if v is None:
        return ""
    text = v.isoformat() if isinstance(v, dt.date) else str(v).lower() \
        if isinstance(v, bool) else str(v)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


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
    def of(cls, engine: Engine) -> Coverage:
        cov = cls()
        for d in engine.checked.decisions:
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

    def report(self) -> list[str]:
        n_rules, n_fired = len(self.rules), len(self.fired & set(self.rules))
        outcomes = 2 * len(self.conditions)
        seen = len(self.seen_true & set(self.conditions)) + len(
            self.seen_false & set(self.conditions))
        lines = [f"coverage: {n_fired} of {n_rules} rules fired ({_pct(n_fired, n_rules)}), "
                 f"{seen} of {outcomes} condition outcomes seen ({_pct(seen, outcomes)})"]
        lines += [f"  rule never fired: {at} {rule}"
                  for rule, at in self.rules.items() if rule not in self.fired]
        for at, (rule, expr) in self.conditions.items():
            missing = [w for w, s in (("true", self.seen_true), ("false", self.seen_false))
                       if at not in s]
            if missing:
                lines.append(f"  condition never {' or '.join(missing)}: {at} "
                             f"(rule {rule}) {expr}")
        return lines


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:.1f}%" if total else "100.0%"


def check_constraints(engine: Engine, dates: Iterable[dt.date]) -> list[str]:
    """The bundle's constraints on each date the tests used: a line per violated one ('FAIL'
    for an error, 'warning:' for a warning), naming the first date and the subjects."""
    lines: list[str] = []
    for constraint in engine.checked.constraints:
        spec = constraint.spec
        for on in dates:
            ctx = EvalContext(engine.graph, on, {}, engine.params)
            try:
                failing = constraint_violations(engine.checked, constraint, ctx)
            except RuleError as exc:
                lines.append(f"FAIL constraint {spec.id} ({exc.span}) on {on.isoformat()}: "
                             f"{exc.message}")
                break
            if failing:
                shown = ", ".join(failing[:10]) + (" …" if len(failing) > 10 else "")
                label = "FAIL" if spec.severity == "error" else "warning:"
                lines.append(f"{label} constraint {spec.id} ({spec.id_span}) on "
                             f"{on.isoformat()}: "
                             f"{spec.message or 'the requirement does not hold'}: {shown}")
                break
    return lines


# -- the command -----------------------------------------------------------------------------


@click.command("test")
@click.argument("bundle_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@data_option
@click.option("--coverage", is_flag=True,
              help="List rules never fired and conditions never seen true or false.")
@handle_errors
def test_command(bundle_dir: Path | None, data_dir: Path | None, coverage: bool) -> None:
    """Run the policy tests of BUNDLE_DIR (default: the embedded 'england' bundle).

    Tests are YAML files in the bundle's tests folder. Tests whose case names a practice need
    the practice register: pass --data DIR (or set PCTRULES_DATA); without it they are skipped.
    Exit 4 when a test fails.
    """
    from pctrules.commands.evaluate import open_engine

    engine = open_engine(bundle_dir, data_dir)
    policy = engine.bundle.policy
    display, _ = display_base(policy.root)
    tests = load_tests(policy.root, policy.manifest.tests_dir, display)
    runner = Runner(engine)
    runner.check_names(tests)
    cov = Coverage.of(engine)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    reasons: set[str] = set()
    results: list[CaseResult] = []
    for test in tests:
        outcome = runner.run(test)
        counts[outcome.status] += 1
        if outcome.status == "skipped":
            reasons.add(outcome.detail)
        if outcome.result is not None:
            cov.add(outcome.result)
            results.append(outcome.result)
        if outcome.status == "failed":
            click.echo(f"FAIL {test.where.path}:{test.where.line} {test.name}: {outcome.detail}")
    summary = f"{counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        needs = sorted(reasons)
        summary += f", {counts['skipped']} skipped ({'; '.join(needs)}"
        summary += f": {REGISTER_HELP})" if "needs practice data" in needs else ")"
    if not tests:
        summary = f"no tests in {policy.root / (policy.manifest.tests_dir or 'tests')}"
    click.echo(summary)
    if coverage:
        click.echo("\n".join(cov.report()))
    broken = check_constraints(engine, sorted({r.as_of for r in results}))
    for line in broken:
        click.echo(line)
    if counts["failed"] or any(line.startswith("FAIL") for line in broken):
        click.get_current_context().exit(int(ExitCode.TESTS_FAILED))
