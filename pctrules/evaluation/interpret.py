"""Evaluation stage, traced path: evaluates expressions and records why each rule fared as it did.

An expression backend (`_Evaluator`, a NodeVisitor) under the decision protocol: `decide()` of
protocol.py runs the rules, this module says what each expression is worth and writes the trace
(DESIGN §6). The generated code (compile.py) and this path share every value operation through
runtime.py and every decision rule through protocol.py; the conformance corpus holds them
together. This path is taken when a trace is asked for (`evaluate --explain`, `explain`, `test`).

Over 500 lines since `ruff format` lays out its trace records one argument per line: one
`visit_<Node>` per expression class, each with its trace, is one backend and reads best whole.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pctrules.evaluation import runtime
from pctrules.evaluation.protocol import DecisionPlan, RulePlan, Scope, decide, plan_decision
from pctrules.evaluation.runtime import (
    UNKNOWN,
    DecisionResult,
    EvalContext,
    RuleError,
    RuleErrorInfo,
)
from pctrules.evaluation.trace import (
    Because,
    DecisionTrace,
    Evidence,
    Named,
    Ranking,
    RuleOutcome,
)
from pctrules.language import ast
from pctrules.language.check.refs import (
    CaseField,
    CaseRoot,
    DecisionRef,
    HopRef,
    KindRef,
    NodeAttribute,
    ParamRef,
    ParamsRoot,
    Ref,
    VarRef,
)
from pctrules.language.check.state import CheckedBundle, CheckedConstraint, CheckedDecision

# Traces print the same sub-expressions case after case: print each once. Nodes compare and
# hash without their spans, and equal nodes print the same, so caching by value is exact.
_text = functools.lru_cache(maxsize=8192)(ast.unparse)

# Operators whose value is unknown when an operand is none: where a trace looks for "the
# sub-expression that was none" (DESIGN §3.2).
_NONE_SENSITIVE = (
    ast.Compare,
    ast.Membership,
    ast.Arith,
    ast.Neg,
    ast.Call,
    ast.BinderCall,
    ast.Filter,
    ast.Generator,
)


_UNBOUND = object()
_ANY = object()


@dataclass
class _Recorder:
    """What one rule's evaluation saw: each node's value, the edges it walked, the rankings."""

    values: dict[int, object] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    rankings: list[Ranking] = field(default_factory=list)
    named: dict[str, Named] = field(default_factory=dict)  # each code literal once, by its text
    _seen: set[tuple[str, str, str]] = field(default_factory=set)

    def edge(self, e: Evidence) -> None:
        key = (e.from_, e.rel, e.to)
        if key not in self._seen:
            self._seen.add(key)
            self.evidence.append(e)


class _Evaluator(ast.NodeVisitor):
    """The traced backend's expressions: each node's value over an EvalContext, recorded (with
    the edges walked and the rankings made) into a _Recorder."""

    def __init__(self, refs: Mapping[int, Ref], ctx: EvalContext, rec: _Recorder) -> None:
        self.refs = refs
        self.ctx = ctx
        self.rec = rec
        self.vars: dict[str, object] = {}

    def eval(self, node: ast.Expr) -> object:
        value = self.visit(node)
        self.rec.values[node.nid] = value
        return value

    def generic_visit(self, node: ast.Expr, *args: object, **kwargs: object) -> object:
        raise NotImplementedError(f"the traced evaluator has no visit_{type(node).__name__}")

    # -- leaves and paths -------------------------------------------------------------------

    def visit_Literal(self, node: ast.Literal) -> object:
        return node.value

    def visit_CodeLiteral(self, node: ast.CodeLiteral) -> object:
        # The code, whatever the day; the trace says what the data has under it on the day.
        text = _text(node)
        if text not in self.rec.named:
            graph, on = self.ctx.graph, self.ctx.as_of
            found = graph.node(node.code)
            self.rec.named[text] = Named(
                text,
                str(node.span),
                node.code,
                node.kind,
                graph.name(node.code),
                graph.exists(node.code, on),
                found.valid_from if found else None,
                found.valid_to if found else None,
            )
        return node.code

    def visit_ListExpr(self, node: ast.ListExpr) -> object:
        # The checker types `[a, b]` as a set, so list literals are sets (runtime.py).
        return frozenset(self.eval(i) for i in node.items)

    def visit_Name(self, node: ast.Name) -> object:
        ref = self.refs.get(node.nid)
        if isinstance(ref, VarRef):
            return self.vars[ref.name]
        if isinstance(ref, DecisionRef):
            result = self.ctx.results[ref.name]
            return result.value
        if isinstance(ref, KindRef):
            return self.ctx.graph.nodes_of_kind(ref.kind, self.ctx.as_of)
        if isinstance(ref, CaseRoot | ParamsRoot):
            return None  # only a path continues from these; the checker allows nothing else
        raise AssertionError(f"unresolved name '{node.id}' reached the evaluator")

    def visit_Attribute(self, node: ast.Attribute) -> object:
        ref = self.refs.get(node.nid)
        if isinstance(ref, CaseField):
            # Groups (case.person) have no value of their own; only their fields are read.
            return runtime.read_field(self.ctx.case.get(".".join(ref.path)))
        if isinstance(ref, ParamRef):
            return self.ctx.params.get(ref.name)
        obj = self.eval(node.obj)
        if isinstance(ref, NodeAttribute):
            if obj is None or obj is UNKNOWN:
                return None
            return self.ctx.graph.attr(str(obj), ref.name, self.ctx.as_of)
        if isinstance(ref, HopRef):
            return self._hop(obj, ref)
        raise AssertionError(f"unresolved attribute '{node.attr}' reached the evaluator")

    def _hop(self, obj: object, ref: HopRef, towards: object = _ANY) -> object:
        """Follow a hop, recording the edges used (only those reaching `towards` when given:
        for `x in a.rel` the edge to x is the evidence, not every member's)."""
        empty: object = None if ref.one else runtime.EMPTY
        if obj is None or obj is UNKNOWN:
            return empty
        graph, on, code = self.ctx.graph, self.ctx.as_of, str(obj)
        kind = graph.kind(code)
        if kind is None or graph.schema.hop(kind, ref.hop) is None:
            return empty  # a node of a union's other kind, where the hop does not exist
        index = graph.index(kind, ref.hop)
        for e in index.edges(code, on):
            if towards is not _ANY and towards not in (e.from_, e.to):
                continue
            self.rec.edge(
                Evidence(
                    e.from_,
                    e.rel,
                    e.to,
                    e.valid_from,
                    e.valid_to,
                    e.source,
                    graph.kind(e.from_),
                    graph.name(e.from_),
                    graph.kind(e.to),
                    graph.name(e.to),
                )
            )
        return index.one(code, on) if ref.one else index.many(code, on)

    # -- functions and quantifiers ------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> object:
        if node.func in ("max_by", "min_by"):
            return self._by(node)
        args = [self.eval(a) for a in node.args]
        return runtime.call_function(node.func, self.ctx, *args)

    def _by(self, node: ast.Call) -> object:
        xs = self.eval(node.args[0])
        attr = node.args[1]
        attribute = attr.id if isinstance(attr, ast.Name) else str(self.eval(attr))
        largest = node.func == "max_by"
        step = runtime.max_by_steps if largest else runtime.min_by_steps
        ranked = step(self.ctx.graph, xs, attribute, self.ctx.as_of)
        if ranked is None:
            return UNKNOWN
        self.rec.rankings.append(Ranking(_text(node), str(node.span), attribute, largest, ranked))
        return ranked.winner

    @staticmethod
    def _located(node: ast.Expr, fn: Callable[..., object], *args: object) -> object:
        """fn(*args), a RuleError from it placed at `node` unless it knows its place: where the
        compiled code reports it too (a quantifier's body, a generator's aggregate)."""
        try:
            return fn(*args)
        except RuleError as exc:
            if exc.span is None:
                exc.span = node.span
            raise

    def each(self, var: str, xs: object, body: ast.Expr) -> Iterable[tuple[object, object]]:
        """Bind `var` to each member in code order, yielding (member, value of body)."""
        saved = self.vars.get(var, _UNBOUND)
        try:
            for x in runtime.members(xs):  # type: ignore[arg-type]
                self.vars[var] = x
                yield x, self._located(body, self.eval, body)
        finally:
            if saved is _UNBOUND:
                self.vars.pop(var, None)
            else:
                self.vars[var] = saved

    def visit_BinderCall(self, node: ast.BinderCall) -> object:
        xs = self.eval(node.collection)
        if xs is None or xs is UNKNOWN:
            return UNKNOWN
        conditions = (c for _, c in self.each(node.var, xs, node.condition))
        if node.func == "any":
            return runtime.any_of(conditions)
        if node.func == "all":
            return runtime.all_of(conditions)
        return runtime.count_true(conditions)

    def visit_Filter(self, node: ast.Filter) -> object:
        xs = self.eval(node.collection)
        if xs is None or xs is UNKNOWN:
            return UNKNOWN
        return frozenset(x for x, c in self.each(node.var, xs, node.condition) if c is True)

    def visit_Generator(self, node: ast.Generator) -> object:
        xs = self.eval(node.collection)
        if xs is None or xs is UNKNOWN:
            return UNKNOWN
        values = tuple(v for _, v in self.each(node.var, xs, node.element))
        if node.func == "count":
            # count(e for x in xs): the members whose element is true, as compiled code counts
            # them (unknown does not count); not how many elements there are.
            return runtime.count_true(values)
        return self._located(node, runtime.call_function, node.func, self.ctx, values)

    # -- operators -------------------------------------------------------------------------

    def visit_Compare(self, node: ast.Compare) -> object:
        return runtime.compare(node.op, self.eval(node.left), self.eval(node.right))

    def visit_Membership(self, node: ast.Membership) -> object:
        x = self.eval(node.element)
        coll = node.collection
        ref = self.refs.get(coll.nid)
        if isinstance(coll, ast.Attribute) and isinstance(ref, HopRef) and not ref.one:
            xs = self._hop(self.eval(coll.obj), ref, towards=x)
            self.rec.values[coll.nid] = xs
        else:
            xs = self.eval(coll)
        return runtime.not_contains(xs, x) if node.negated else runtime.contains(xs, x)

    def visit_IsNone(self, node: ast.IsNone) -> object:
        v = self.eval(node.operand)
        return runtime.is_not_none(v) if node.negated else runtime.is_none(v)

    def visit_BoolOp(self, node: ast.BoolOp) -> object:
        thunks = [_thunk(self, o) for o in node.operands]
        return runtime.and_lazy(thunks) if node.op == "and" else runtime.or_lazy(thunks)

    def visit_Not(self, node: ast.Not) -> object:
        return runtime.not_(self.eval(node.operand))

    def visit_Arith(self, node: ast.Arith) -> object:
        return runtime.arith(node.op, self.eval(node.left), self.eval(node.right))

    def visit_Neg(self, node: ast.Neg) -> object:
        return runtime.neg(self.eval(node.operand))

    def visit_Conditional(self, node: ast.Conditional) -> object:
        if self.eval(node.test) is True:
            return self.eval(node.body)
        return self.eval(node.orelse)


def _thunk(ev: _Evaluator, node: ast.Expr) -> Callable[[], object]:
    return lambda: ev.eval(node)


# -- because: the deciding sub-expressions ---------------------------------------------------------


def _entry(node: ast.Expr, value: object, none_of: str | None = None) -> Because:
    return Because(_text(node), value, str(node.span), unknown=value is UNKNOWN, none_of=none_of)


def _innermost_none(node: ast.Expr, values: Mapping[int, object]) -> ast.Expr:
    """Along a path `a.b.c` that is none, the shortest prefix that is already none."""
    current = node
    while (
        isinstance(current, ast.Attribute)
        and current.obj.nid in values
        and values[current.obj.nid] is None
    ):
        current = current.obj
    return current


def _none_cause(node: ast.Expr, values: Mapping[int, object]) -> ast.Expr | None:
    """The sub-expression whose none made `node` unknown (first in source order)."""
    for child in ast.iter_child_nodes(node):
        if child.nid not in values:
            continue
        v = values[child.nid]
        if v is None and isinstance(node, _NONE_SENSITIVE):
            return _innermost_none(child, values)
        if v is UNKNOWN:
            return _none_cause(child, values) or child
    return None


def _explain(node: ast.Expr, value: object, values: Mapping[int, object]) -> list[Because]:
    """The deciding sub-expressions of a condition that was true, false or unknown."""
    parts = [node]
    if isinstance(node, ast.BoolOp):
        seen = [o for o in node.operands if o.nid in values]
        if node.op == "and":
            # true: every conjunct; false: the one that stopped it; unknown: the first unknown.
            parts = (
                seen
                if value is True
                else [o for o in seen if values[o.nid] is (False if value is False else UNKNOWN)][
                    :1
                ]
            )
        else:
            parts = [o for o in seen if values[o.nid] is True][:1] if value is True else seen
    out: list[Because] = []
    for part in parts:
        v = values.get(part.nid, value)
        out.append(_entry(part, v))
        if v is UNKNOWN:
            cause = _none_cause(part, values)
            if cause is not None:
                out.append(_entry(cause, None, _text(part)))
        elif v is False and isinstance(part, ast.IsNone) and part.negated:
            # `x.y.z is not none` was false: say which step of the path was none.
            cause = _innermost_none(part.operand, values)
            if cause is not part.operand:
                out.append(_entry(cause, None, _text(part)))
    return out


def conjuncts(node: ast.Expr) -> tuple[ast.Expr, ...]:
    """The parts of a condition that policy-test coverage counts: the operands of a top-level
    `and`, else the condition itself."""
    if isinstance(node, ast.BoolOp) and node.op == "and":
        return node.operands
    return (node,)


# -- rules and decisions ---------------------------------------------------------------------------


class _TracedRun:
    """protocol.decide's interpreter: each expression evaluated and recorded, each rule's
    fate written into the decision's trace."""

    def __init__(self, refs: Mapping[int, Ref], ctx: EvalContext, trace: DecisionTrace) -> None:
        self.refs = refs
        self.ctx = ctx
        self.trace = trace
        self._outcome: RuleOutcome | None = None
        self._rec = _Recorder()

    def value(self, node: ast.Expr, scope: Scope, rule: RulePlan | None) -> object:
        rec = self._rec if rule is not None else _Recorder()
        ev = _Evaluator(self.refs, self.ctx, rec)
        ev.vars.update(scope)
        return ev.eval(node)

    def subject(self, member: str, one: bool) -> _TracedRun:
        if one:
            self.trace.subject = member
            return self
        t = self.trace
        sub = DecisionTrace(t.decision, t.hit, t.as_of, subject=member, subject_expr=t.subject_expr)
        t.subjects.append(sub)
        return _TracedRun(self.refs, self.ctx, sub)

    def rule_started(self, rule: RulePlan) -> None:
        self._outcome = RuleOutcome(
            rule.id, str(rule.at), "skipped", reason=rule.reason, title=rule.title
        )
        self._rec = _Recorder()
        self.trace.rules.append(self._outcome)

    def _current(self) -> RuleOutcome:
        assert self._outcome is not None
        return self._outcome

    def rule_skipped(self, rule: RulePlan, why: str) -> None:
        self._current().note = why

    def rule_out_of_effect(self, rule: RulePlan, why: str) -> None:
        outcome = self._current()
        outcome.outcome = "not-matched"
        outcome.note = why

    def rule_tested(self, rule: RulePlan, condition: object) -> None:
        assert rule.when is not None
        outcome, values = self._current(), self._rec.values
        outcome.because = _explain(rule.when, condition, values)
        outcome.conditions = [
            _entry(c, values[c.nid]) for c in conjuncts(rule.when) if c.nid in values
        ]
        self._keep_evidence()
        if condition is not True:
            # Anything but true or false (none included) is unknown (runtime.truth).
            outcome.outcome = "not-matched" if condition is False else "unknown"

    def rule_matched(self, rule: RulePlan, value: object) -> None:
        outcome = self._current()
        outcome.outcome = "matched"
        outcome.value = value
        self._keep_evidence()

    def rule_failed(self, rule: RulePlan, info: RuleErrorInfo) -> None:
        outcome = self._current()
        outcome.outcome = "error"
        outcome.error = info.message
        outcome.error_at = info.at
        self._keep_evidence()

    def _keep_evidence(self) -> None:
        outcome = self._current()
        outcome.evidence = self._rec.evidence
        outcome.rankings = self._rec.rankings
        outcome.named = list(self._rec.named.values())


class TracedEvaluator:
    """Evaluates decisions of a checked bundle with a full trace (DESIGN §6), by the decision
    protocol (protocol.decide) with the traced expressions above."""

    def __init__(self, checked: CheckedBundle) -> None:
        self.checked = checked
        self._plans: dict[str, DecisionPlan] = {}

    def plan(self, decision: CheckedDecision) -> DecisionPlan:
        found = self._plans.get(decision.spec.name)
        if found is None or found.checked is not decision:
            found = self._plans[decision.spec.name] = plan_decision(decision)
        return found

    def evaluate(self, decision: CheckedDecision, ctx: EvalContext) -> DecisionResult:
        """One decision for the case in `ctx` (earlier decisions' results in `ctx.results`)."""
        plan = self.plan(decision)
        trace = DecisionTrace(plan.name, plan.hit, ctx.as_of)
        if plan.subject is not None:
            trace.subject_expr = plan.subject_text()
        result = decide(plan, ctx.as_of, _TracedRun(self.checked.refs, ctx, trace))
        trace.note = result.note
        result.trace = trace
        return result


def constraint_violations(
    checked: CheckedBundle,
    constraint: CheckedConstraint,
    ctx: EvalContext,
) -> list[str]:
    """The subjects (codes, in order) for which a constraint's `require` is not true on
    `ctx.as_of`; a RuleError while evaluating it is raised, naming the constraint."""
    if constraint.subject is None or constraint.require is None:
        return []
    ev = _Evaluator(checked.refs, ctx, _Recorder())
    try:
        subjects = ev.eval(constraint.subject.collection)
        if subjects is None or subjects is UNKNOWN:
            return []
        failing = [
            str(x)
            for x, ok in ev.each(constraint.subject.var, subjects, constraint.require)
            if ok is not True
        ]
    except RuleError as exc:
        raise RuleError(exc.message, exc.span or constraint.require.span) from None
    return failing
