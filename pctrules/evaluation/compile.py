"""Compile stage: a CheckedBundle becomes generated Python source, one function per decision.

The source is generated once per bundle and compiled once; binding it to an OrgGraph runs the
module body, which looks up the graph's temporal indexes (`H0 = G.index('practice',
'pct').one`), so a hop at run time is a call on a dict-backed index with no AST in sight.

Each decision function is the decision protocol (protocol.py) written out for that decision:
its effective range, its rules in order (only those that can decide, per the plan), then the hit
policy, the default or no-match; every outcome is made by the plan's own methods, bound into the
module (`R0_2 = PLANS[0].all_rules[1].matched`), so a result means the same whoever made it. The
expressions are codegen.py's. The signature is `d<n>(C, V, on, P)`: the case as a flat mapping of
dotted field paths ('person.practice'), the values of the decisions computed so far, the as-of
date, and the parameters; it returns a runtime.DecisionResult. A RuleError inside a rule becomes
the plan's error result naming the rule and the span of the expression that failed: the
generated line that raised maps back to them (`CompiledDecision.lines`), so the happy path pays
nothing.

Nothing from the bundle reaches the source except as a literal made by `repr()`: decision
names, rule ids, titles, file names and kinds are data (issue 9). Generated names are numbered
(`d0`, `s0`, `q1`, `v1`, `H1`), never made from user text, and positions live in the side table
`CompiledDecision.lines`, never in comments.
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pctrules.evaluation import runtime
from pctrules.evaluation.codegen import ExpressionCompiler, Module, Tag, Writer
from pctrules.evaluation.protocol import DecisionPlan, Period, RulePlan, plan_decision
from pctrules.evaluation.runtime import DecisionResult, RuleError
from pctrules.language.check.state import CheckedBundle, CheckedDecision
from pctrules.language.source import Span

if TYPE_CHECKING:
    from pctrules.graph.model import OrgGraph

_MODULE_FILE = "<pctrules-compiled:{bundle}>"


@dataclass
class CompiledDecision:
    """One decision: its plan, its generated function's name, and the line table that maps a
    line of the generated source to the rule and expression it evaluates."""

    name: str
    function: str
    plan: DecisionPlan
    lines: dict[int, Tag] = field(default_factory=dict)

    @property
    def checked(self) -> CheckedDecision:
        return self.plan.checked

    @property
    def depends_on(self) -> frozenset[str]:
        return self.plan.depends_on

    @property
    def span(self) -> Span | None:
        return self.plan.span


@dataclass
class CompiledBundle:
    """The generated module for a bundle: its source (for `pctrules` to show), the code object
    compiled once, and each decision in dependency order."""

    checked: CheckedBundle
    source: str
    code: types.CodeType
    filename: str
    decisions: tuple[CompiledDecision, ...]
    unavailable: frozenset[str] = frozenset()

    def decision(self, name: str) -> CompiledDecision | None:
        return next((d for d in self.decisions if d.name == name), None)

    def needed_for(self, names: Iterable[str]) -> list[str]:
        """The decisions `names` need, themselves and every decision they depend on,
        transitively, in dependency order (the order they run in)."""
        needed = set(names)
        for d in reversed(self.decisions):  # dependants come after what they depend on
            if d.name in needed:
                needed |= d.depends_on
        return [d.name for d in self.decisions if d.name in needed]

    def bind(self, graph: OrgGraph) -> BoundBundle:
        """Run the module body against a graph: indexes are looked up now, once."""
        namespace: dict[str, Any] = dict(_RUNTIME_NAMES)
        namespace["G"] = graph
        namespace["PLANS"] = tuple(d.plan for d in self.decisions)
        for d in self.decisions:
            namespace[f"FAIL_{d.function}"] = _Failer(d, self.filename)
        exec(self.code, namespace)
        functions = {d.name: namespace[d.function] for d in self.decisions}
        return BoundBundle(self, graph, functions)


DecisionFunction = Callable[
    [Mapping[str, object], dict[str, object], dt.date, Mapping[str, object]], DecisionResult
]


Runner = Callable[[Mapping[str, object], dt.date, Mapping[str, object]], dict[str, DecisionResult]]


@dataclass
class BoundBundle:
    """A CompiledBundle bound to one graph: each decision name to its callable."""

    compiled: CompiledBundle
    graph: OrgGraph
    functions: dict[str, DecisionFunction]

    def runner(self, needed: frozenset[str], wanted: frozenset[str]) -> Runner:
        """One function that runs the `needed` decisions for a case in dependency order and
        returns the `wanted` ones' results: `run(C, on, P)`. A decision whose dependency
        failed is not run (the plan's dependency_failed); the loop is written out, so a case
        pays one call per decision and nothing else."""
        decisions = [d for d in self.compiled.decisions if d.name in needed]
        read = set().union(*(d.depends_on for d in decisions))
        w = Writer()
        w.writeline("def run(C, on, P):")
        w.indent()
        w.writeline("V = {}")
        namespace: dict[str, Any] = {}
        for k, d in enumerate(decisions):
            namespace[f"f{k}"] = self.functions[d.name]
            deps = [(n, j) for j, n in enumerate(x.name for x in decisions) if n in d.depends_on]
            call = f"f{k}(C, V, on, P)"
            if deps:
                namespace[f"failed{k}"] = d.plan.dependency_failed
                ok = " and ".join(f"r{j}.error is None" for _, j in deps)
                pairs = ", ".join(f"({n!r}, r{j})" for n, j in deps)
                call = (
                    f"{call} if {ok} else failed{k}([n for n, r in ({pairs},) "
                    "if r.error is not None])"
                )
            w.writeline(f"r{k} = {call}")
            if d.name in read:
                w.writeline(f"V[{d.name!r}] = r{k}.value")
        w.writeline(
            "return {"
            + ", ".join(f"{d.name!r}: r{k}" for k, d in enumerate(decisions) if d.name in wanted)
            + "}"
        )
        exec(
            compile("\n".join(text for text, _ in w.lines) + "\n", self.compiled.filename, "exec"),
            namespace,
        )
        run: Runner = namespace["run"]
        return run


class _Failer:
    """Turns a RuleError raised inside a decision's generated code into the plan's error result:
    the innermost tagged generated line of the traceback names the rule and the expression."""

    __slots__ = ("decision", "filename")

    def __init__(self, decision: CompiledDecision, filename: str) -> None:
        self.decision = decision
        self.filename = filename

    def __call__(self, e: RuleError) -> DecisionResult:
        d = self.decision
        tag: Tag = (None, None)
        tb = e.__traceback__
        while tb is not None:
            # The innermost generated line that names its rule (not every helper line does).
            if tb.tb_frame.f_code.co_filename == self.filename and tb.tb_lineno in d.lines:
                tag = d.lines[tb.tb_lineno]
            tb = tb.tb_next
        rule, span = tag
        return d.plan.failed(e.message, rule, e.span or span)


# The names the generated module sees besides G, PLANS and the FAIL_* handlers.
_RUNTIME_NAMES: dict[str, object] = {
    "UNKNOWN": runtime.UNKNOWN,
    "EMPTY": runtime.EMPTY,
    "RuleError": RuleError,
    "Unavailable": runtime.Unavailable,
    "read_unavailable": runtime.read_unavailable,
    "members": runtime.members,
    "date": dt.date,
    "eq": runtime.eq,
    "ne": runtime.ne,
    "lt": runtime.lt,
    "le": runtime.le,
    "gt": runtime.gt,
    "ge": runtime.ge,
    "is_none": runtime.is_none,
    "is_not_none": runtime.is_not_none,
    "contains": runtime.contains,
    "not_contains": runtime.not_contains,
    "add": runtime.add,
    "sub": runtime.sub,
    "mul": runtime.mul,
    "div": runtime.div,
    "neg": runtime.neg,
    "count": runtime.count,
    "sum_of": runtime.sum_of,
    "min_of": runtime.min_of,
    "max_of": runtime.max_of,
    "only": runtime.only,
    "max_by": runtime.max_by,
    "min_by": runtime.min_by,
    "within": runtime.within,
    "code": runtime.code,
    "name": runtime.name,
    "kind": runtime.kind,
    "exists": runtime.exists,
}


class _Decisions:
    """Writes the module: constants and index bindings, then, per decision, its helpers and its
    function, the decision protocol written out from the decision's plan."""

    def __init__(self, checked: CheckedBundle, unavailable: frozenset[str]) -> None:
        self.checked = checked
        self.module = Module(checked, unavailable)
        self.body: list[tuple[str, Tag | None, str]] = []  # (line, tag, owning function)
        self._outcomes: dict[str, str] = {}

    def decision(self, index: int, plan: DecisionPlan) -> CompiledDecision:
        fname = f"d{index}"
        cd = CompiledDecision(plan.name, fname, plan)
        helpers = len(self.module.helpers)
        w = Writer()
        if plan.subject is None:
            w.writeline(f"def {fname}(C, V, on, P):")
            w.indent()
            w.writeline(repr(f"{plan.title or plan.name} (hit: {plan.hit})."))
            self._body(w, index, plan, (), fname)
        else:
            entry = f"s{index}"
            var = plan.subject.var
            w.writeline(f"def {entry}(C, V, on, P, {self.module.variable(var)}):")
            w.indent()
            w.writeline(repr(f"{plan.title or plan.name} (hit: {plan.hit}), for one subject."))
            self._body(w, index, plan, (var,), fname, check_period=False)
            w.outdent()
            w.writeline("")
            self._subjects(w, index, plan, fname, entry)
        for helper in self.module.helpers[helpers:]:
            self._emit(helper, fname)
        self._emit(w, fname)
        return cd

    def _emit(self, w: Writer, owner: str) -> None:
        self.body.extend((text, tag, owner) for text, tag in w.lines)
        self.body.append(("", None, owner))

    def _outcome(self, index: int, what: str) -> str:
        """A module name for one of a plan's outcome methods (`what` is a method's name)."""
        source = f"PLANS[{index}].{what}"
        name = self._outcomes.get(source)
        if name is None:
            name = self._outcomes[source] = self.module.constant("O", source)
        return name

    def _period(self, period: Period) -> str:
        parts = []
        if period.start is not None:
            parts.append(f"{self.module.date_constant(period.start)} <= on")
        if period.end is not None:
            parts.append(f"on <= {self.module.date_constant(period.end)}")
        return " and ".join(parts)

    def _not_in_effect(self, w: Writer, index: int, plan: DecisionPlan) -> None:
        if plan.period is not None:
            w.writeline(f"if not ({self._period(plan.period)}):")
            w.indent()
            w.writeline(f"return {self._outcome(index, 'not_in_effect')}(on)")
            w.outdent()

    def _body(
        self,
        w: Writer,
        index: int,
        plan: DecisionPlan,
        variables: tuple[str, ...],
        fname: str,
        check_period: bool = True,
    ) -> None:
        if check_period:
            self._not_in_effect(w, index, plan)
        w.writeline("try:")
        w.indent()
        combine = plan.hit != "first"
        if combine:
            w.writeline("M = []")
        for rule in plan.rules:
            self._rule(w, index, plan, rule, variables, combine)
        if combine or not plan.rules or not plan.rules[-1].always:
            if combine:
                resolve = self._outcome(index, "resolve")
                w.writeline(f"h = {resolve}(M)", (None, plan.span))
                w.writeline("if h is not None:")
                w.indent()
                w.writeline("return h")
                w.outdent()
            if plan.default is not None:
                fn = ExpressionCompiler(self.module, variables, None)
                w.writeline(
                    f"return {self._outcome(index, 'defaulted')}({fn.settled(plan.default)})",
                    (None, plan.default.span),
                )
            else:
                w.writeline(f"return {self._outcome(index, 'no_match')}()")
        w.outdent()
        w.writeline("except RuleError as e:")
        w.indent()
        w.writeline(f"return FAIL_{fname}(e)")
        w.outdent()

    def _rule(
        self,
        w: Writer,
        index: int,
        plan: DecisionPlan,
        rule: RulePlan,
        variables: tuple[str, ...],
        combine: bool,
    ) -> None:
        fn = ExpressionCompiler(self.module, variables, rule.id)
        w.writeline(f"# rule {rule.number}")
        conditions = []
        if rule.period is not None:
            conditions.append(self._period(rule.period))
        if rule.when is not None:
            fn.share(rule.when, rule.thens)
            conditions.append(fn.condition(rule.when))
            fn.start_then()
        value = self._result(fn, rule)
        if conditions:
            w.writeline(
                f"if {' and '.join(conditions)}:",
                (rule.id, rule.when.span if rule.when is not None else rule.id_span),
            )
            w.indent()
        made = self._outcome(
            index, f"all_rules[{rule.number - 1}].{'match' if combine else 'matched'}"
        )
        then_span = rule.then_span or rule.id_span
        if combine:
            w.writeline(f"M.append({made}({value}))", (rule.id, then_span))
        else:
            w.writeline(f"return {made}({value})", (rule.id, then_span))
        if conditions:
            w.outdent()

    def _result(self, fn: ExpressionCompiler, rule: RulePlan) -> str:
        """The rule's value (RulePlan.result, inline): settled, named results, or true."""
        then = rule.then
        if then is None:
            return "True"
        if isinstance(then, dict):
            return "{" + ", ".join(f"{k!r}: {fn.settled(v)}" for k, v in then.items()) + "}"
        return fn.settled(then)

    def _subjects(self, w: Writer, index: int, plan: DecisionPlan, fname: str, entry: str) -> None:
        """`for: g in <expr>`: one node gives that one result; a set a result per member."""
        assert plan.subject is not None
        fn = ExpressionCompiler(self.module, (), None)
        coll = plan.subject.collection
        w.writeline(f"def {fname}(C, V, on, P):")
        w.indent()
        w.writeline(repr(f"{plan.title or plan.name}, for each subject of: {plan.subject_text()}."))
        self._not_in_effect(w, index, plan)
        w.writeline("try:")
        w.indent()
        w.writeline(f"s = {fn.settled(coll)}", (None, coll.span))
        w.outdent()
        w.writeline("except RuleError as e:")
        w.indent()
        w.writeline(f"return FAIL_{fname}(e)")
        w.outdent()
        w.writeline("if s is None:")
        w.indent()
        w.writeline(f"return {self._outcome(index, 'no_subject')}()")
        w.outdent()
        subject_type = self.checked.type_of(coll)
        if subject_type is None or not subject_type.is_set:
            w.writeline(f"return {entry}(C, V, on, P, s)")
        else:
            per_subject = self._outcome(index, "per_subject")
            w.writeline(f"return {per_subject}({{m: {entry}(C, V, on, P, m) for m in members(s)}})")

    def module_source(self, decisions: list[CompiledDecision]) -> str:
        bundle = self.checked.bundle
        doc = (
            f"Generated by pctrules from bundle {bundle.manifest.name!r}: one function per "
            "decision, in dependency order."
        )
        out = [
            repr(doc),
            "",
            "# Constants: dates; the plans' outcomes (PLANS is bound with G).",
            *(f"{k} = {v}" for k, v in sorted(self.module.constants.items())),
            "",
            "# Temporal indexes of the graph, looked up when the module is bound to it.",
            *(f"{k} = {v}" for k, v in sorted(self.module.bindings.items())),
            "",
            "",
        ]
        offset = len(out)
        by_name = {d.function: d for d in decisions}
        for i, (text, tag, owner) in enumerate(self.body):
            out.append(text)
            if tag is not None:
                by_name[owner].lines[offset + i + 1] = tag
        out.append("# Each decision's function, by the decision's name.")
        out.append(
            "DECISIONS = {" + ", ".join(f"{d.name!r}: {d.function}" for d in decisions) + "}"
        )
        return "\n".join(out) + "\n"


def unavailable_kinds(checked: CheckedBundle, graph: OrgGraph) -> frozenset[str]:
    """Kinds of the bundle whose data is not loaded (OrgGraph.unavailable_kinds): a case field
    naming one cannot be read by a rule (DESIGN §11)."""
    return graph.unavailable_kinds() & frozenset(checked.schema.kinds)


def compile_bundle(
    checked: CheckedBundle,
    unavailable: frozenset[str] = frozenset(),
) -> CompiledBundle:
    """Generate and compile the module for a checked bundle (no errors left in it). Reading a
    case field of an `unavailable` kind is checked in the generated code (and only then)."""
    writer = _Decisions(checked, unavailable)
    decisions = [writer.decision(i, plan_decision(d)) for i, d in enumerate(checked.decisions)]
    source = writer.module_source(decisions)
    filename = _MODULE_FILE.format(bundle=checked.bundle.manifest.name)
    code = compile(source, filename, "exec")
    return CompiledBundle(checked, source, code, filename, tuple(decisions), unavailable)
