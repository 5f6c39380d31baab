"""Evaluation stage, traced path: walks the checked AST and records why each rule fared as it did.

The fast path (`compile.py`) and this one share every value operation through `runtime.py`, so
they agree by construction on what none and unknown do; a differential test holds them together.
This path is only taken when a trace is asked for (`evaluate --explain`, `explain`, `test`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pctrules.evaluation import runtime
from pctrules.evaluation.runtime import (
    UNKNOWN,
    DecisionResult,
    EvalContext,
    Match,
    RuleError,
    RuleErrorInfo,
)
from pctrules.evaluation.trace import (
    Because,
    DecisionTrace,
    Evidence,
    Outcome,
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
from pctrules.language.check.state import (
    CheckedBundle,
    CheckedConstraint,
    CheckedDecision,
    CheckedRule,
)
from pctrules.language.loader import DecisionSpec, RuleSpec

# Operators whose value is unknown when an operand is none: where a trace looks for "the
# sub-expression that was none" (DESIGN §3.2).
# Traces print the same sub-expressions case after case: print each once. Nodes compare and
# hash without their spans, and equal nodes print the same, so caching by value is exact.
_text = functools.lru_cache(maxsize=8192)(ast.unparse)

_NONE_SENSITIVE = (ast.Compare, ast.Membership, ast.Arith, ast.Neg, ast.Call, ast.BinderCall,
                   ast.Filter, ast.Generator)


_UNBOUND = object()
_ANY = object()


@dataclass
class _Recorder:
    """What one rule's evaluation saw: each node's value, the edges it walked, the rankings."""

    values: dict[int, object] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    rankings: list[Ranking] = field(default_factory=list)
    _seen: set[tuple[str, str, str]] = field(default_factory=set)

    def edge(self, e: Evidence) -> None:
        key = (e.from_, e.rel, e.to)
        if key not in self._seen:
            self._seen.add(key)
            self.evidence.append(e)


class _Evaluator:
    """Evaluates one expression tree over an EvalContext, recording into a _Recorder."""

    def __init__(self, refs: Mapping[int, Ref], ctx: EvalContext, rec: _Recorder) -> None:
        self.refs = refs
        self.ctx = ctx
        self.rec = rec
        self.vars: dict[str, object] = {}

    def eval(self, node: ast.Expr) -> object:
        value = _DISPATCH[type(node)](self, node)
        self.rec.values[node.nid] = value
        return value

    # -- leaves and paths -------------------------------------------------------------------

    def _literal(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Literal)
        return node.value

    def _list(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.ListExpr)
        # The checker types `[a, b]` as a set, so list literals are sets (runtime.py).
        return frozenset(self.eval(i) for i in node.items)

    def _name(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Name)
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

    def _attribute(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Attribute)
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
            self.rec.edge(Evidence(
                e.from_, e.rel, e.to, e.valid_from, e.valid_to, e.source,
                graph.kind(e.from_), graph.name(e.from_), graph.kind(e.to), graph.name(e.to)))
        return index.one(code, on) if ref.one else index.many(code, on)

    # -- functions and quantifiers ------------------------------------------------------------

    def _call(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Call)
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
        self.rec.rankings.append(Ranking(
            _text(node), str(node.span), attribute, largest, ranked))
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

    def _each(self, var: str, xs: object, body: ast.Expr) -> Iterable[tuple[object, object]]:
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

    def _binder(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.BinderCall)
        xs = self.eval(node.collection)
        if xs is None or xs is UNKNOWN:
            return UNKNOWN
        conditions = (c for _, c in self._each(node.var, xs, node.condition))
        if node.func == "any":
            return runtime.any_of(conditions)
        if node.func == "all":
            return runtime.all_of(conditions)
        return runtime.count_true(conditions)

    def _filter(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Filter)
        xs = self.eval(node.collection)
        if xs is None or xs is UNKNOWN:
            return UNKNOWN
        return frozenset(x for x, c in self._each(node.var, xs, node.condition) if c is True)

    def _generator(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Generator)
        xs = self.eval(node.collection)
        if xs is None or xs is UNKNOWN:
            return UNKNOWN
        values = tuple(v for _, v in self._each(node.var, xs, node.element))
        if node.func == "count":
            # count(e for x in xs): the members whose element is true, as compiled code counts
            # them (unknown does not count); not how many elements there are.
            return runtime.count_true(values)
        return self._located(node, runtime.call_function, node.func, self.ctx, values)

    # -- operators -------------------------------------------------------------------------

    def _compare(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Compare)
        return runtime.compare(node.op, self.eval(node.left), self.eval(node.right))

    def _membership(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Membership)
        x = self.eval(node.element)
        coll = node.collection
        ref = self.refs.get(coll.nid)
        if isinstance(coll, ast.Attribute) and isinstance(ref, HopRef) and not ref.one:
            xs = self._hop(self.eval(coll.obj), ref, towards=x)
            self.rec.values[coll.nid] = xs
        else:
            xs = self.eval(coll)
        return runtime.not_contains(xs, x) if node.negated else runtime.contains(xs, x)

    def _is_none(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.IsNone)
        v = self.eval(node.operand)
        return runtime.is_not_none(v) if node.negated else runtime.is_none(v)

    def _boolop(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.BoolOp)
        thunks = [_thunk(self, o) for o in node.operands]
        return runtime.and_lazy(thunks) if node.op == "and" else runtime.or_lazy(thunks)

    def _not(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Not)
        return runtime.not_(self.eval(node.operand))

    def _arith(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Arith)
        return runtime.arith(node.op, self.eval(node.left), self.eval(node.right))

    def _neg(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Neg)
        return runtime.neg(self.eval(node.operand))

    def _conditional(self, node: ast.Expr) -> object:
        assert isinstance(node, ast.Conditional)
        if self.eval(node.test) is True:
            return self.eval(node.body)
        return self.eval(node.orelse)






# One table for every evaluator (built once, not per expression): node class → method.
_DISPATCH: dict[type[ast.Expr], Callable[[_Evaluator, ast.Expr], object]] = {
    ast.Literal: _Evaluator._literal, ast.ListExpr: _Evaluator._list,
    ast.Name: _Evaluator._name, ast.Attribute: _Evaluator._attribute,
    ast.Call: _Evaluator._call, ast.BinderCall: _Evaluator._binder,
    ast.Filter: _Evaluator._filter, ast.Generator: _Evaluator._generator,
    ast.Compare: _Evaluator._compare, ast.Membership: _Evaluator._membership,
    ast.IsNone: _Evaluator._is_none, ast.BoolOp: _Evaluator._boolop, ast.Not: _Evaluator._not,
    ast.Arith: _Evaluator._arith, ast.Neg: _Evaluator._neg,
    ast.Conditional: _Evaluator._conditional,
}
def _thunk(ev: _Evaluator, node: ast.Expr) -> Callable[[], object]:
    return lambda: ev.eval(node)


# -- because: the deciding sub-expressions ---------------------------------------------------------


def _entry(node: ast.Expr, value: object, none_of: str | None = None) -> Because:
    return Because(_text(node), value, str(node.span), unknown=value is UNKNOWN,
                   none_of=none_of)


def _innermost_none(node: ast.Expr, values: Mapping[int, object]) -> ast.Expr:
    """Along a path `a.b.c` that is none, the shortest prefix that is already none."""
    current = node
    while isinstance(current, ast.Attribute) and current.obj.nid in values \
            and values[current.obj.nid] is None:
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
            parts = seen if value is True else [
                o for o in seen if values[o.nid] is (False if value is False else UNKNOWN)][:1]
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


def _rule_at(rule: CheckedRule) -> str:
    node = rule.when if rule.when is not None else _then_node(rule)
    if node is not None:
        return str(node.span)
    return str(rule.spec.span)


def _then_node(rule: CheckedRule) -> ast.Expr | None:
    then = rule.then
    if isinstance(then, dict):
        return next(iter(then.values()), None)
    return then


def _effective(spec: DecisionSpec | RuleSpec) -> tuple[dt.date | None, dt.date | None] | None:
    eff = spec.effective
    if eff is None:
        return None
    lo, hi = eff.start, eff.end
    return None if lo is None and hi is None else (lo, hi)


def _in_effect(effective: tuple[dt.date | None, dt.date | None] | None, on: dt.date) -> bool:
    if effective is None:
        return True
    lo, hi = effective
    return (lo is None or lo <= on) and (hi is None or on <= hi)


def _not_in_effect(effective: tuple[dt.date | None, dt.date | None], on: dt.date) -> str:
    return runtime.out_of_effect(*effective, on)


class _Failed(Exception):
    """A RuleError with the rule and the expression (when, then, default, for) it came from."""

    def __init__(self, error: RuleError, rule: str | None, where: ast.Expr | None) -> None:
        super().__init__(error.message)
        span = error.span or (where.span if where is not None else None)
        self.info = RuleErrorInfo(error.message, rule, str(span) if span is not None else None)
        self.span = span

    def error(self) -> RuleError:
        """Back to a RuleError, now with the position of the failing expression."""
        return RuleError(self.info.message, self.span)


class TracedEvaluator:
    """Evaluates decisions of a checked bundle with a full trace (DESIGN §6).

    It follows the result rules of `runtime.py` that the compiled path follows too: values are
    settled (unknown → none), a rule without `then` gives true, a decision not in effect or
    without a subject is 'no-match' with a note, a set subject gives a mapping per member.
    """

    def __init__(self, checked: CheckedBundle) -> None:
        self.checked = checked

    def evaluate(self, decision: CheckedDecision, ctx: EvalContext) -> DecisionResult:
        """One decision for the case in `ctx` (earlier decisions' results in `ctx.results`)."""
        spec = decision.spec
        trace = DecisionTrace(spec.name, spec.hit.value, ctx.as_of)
        try:
            return self._decision(decision, ctx, trace)
        except _Failed as failed:
            return DecisionResult(spec.name, None, failed.info.rule, None, None, "error",
                                  error=failed.info, trace=trace)

    def _decision(
        self, decision: CheckedDecision, ctx: EvalContext, trace: DecisionTrace,
    ) -> DecisionResult:
        spec = decision.spec
        effective = _effective(spec)
        if effective is not None and not _in_effect(effective, ctx.as_of):
            trace.note = runtime.not_in_effect(spec.name, *effective, ctx.as_of)
            return DecisionResult(spec.name, None, None, None, None, "no-match",
                                  trace=trace, note=trace.note)
        subject = decision.subject
        if subject is None:
            return self._rules(decision, ctx, trace, {})
        group = runtime.settle(self._eval(subject.collection, ctx, {}, None, _Recorder()))
        trace.subject_expr = _text(subject.collection)
        if group is None:
            trace.note = f"no subject: {trace.subject_expr} is none"
            return DecisionResult(spec.name, None, None, None, None, "no-match",
                                  trace=trace, note=trace.note)
        if isinstance(group, str):
            trace.subject = group
            return self._rules(decision, ctx, trace, {subject.var: group})
        # A set of subjects: one trace per member, kept in the parent's `subjects`.
        results: dict[str, DecisionResult] = {}
        for member in runtime.members(group):  # type: ignore[arg-type]
            sub = DecisionTrace(spec.name, spec.hit.value, ctx.as_of, subject=member,
                                subject_expr=trace.subject_expr)
            trace.subjects.append(sub)
            result = self._rules(decision, ctx, sub, {subject.var: member})
            if result.outcome == "error":
                result.trace = trace
                return result
            results[member] = result
        return DecisionResult(
            spec.name, {m: r.value for m, r in results.items()}, None, None, None, "matched",
            trace=trace, rules=tuple(r.rule for r in results.values() if r.rule))

    def _eval(
        self, node: ast.Expr, ctx: EvalContext, variables: Mapping[str, object],
        rule: str | None, rec: _Recorder,
    ) -> object:
        ev = _Evaluator(self.checked.refs, ctx, rec)
        ev.vars.update(variables)
        try:
            return ev.eval(node)
        except RuleError as exc:
            raise _Failed(exc, rule, node) from None

    def _rules(
        self, decision: CheckedDecision, ctx: EvalContext, trace: DecisionTrace,
        variables: dict[str, object],
    ) -> DecisionResult:
        spec = decision.spec
        matches: list[Match] = []
        by_id = {r.spec.id: r.spec for r in decision.rules}
        stopped: str | None = None
        for rule in decision.rules:
            outcome = RuleOutcome(rule.spec.id, _rule_at(rule), "skipped",
                                  reason=rule.spec.reason, title=rule.spec.title)
            trace.rules.append(outcome)
            if stopped is not None:
                outcome.note = stopped
                continue
            effective = _effective(rule.spec)
            if effective is not None and not _in_effect(effective, ctx.as_of):
                outcome.outcome = "not-matched"
                outcome.note = _not_in_effect(effective, ctx.as_of)
                continue
            try:
                matched, value = self._rule(rule, ctx, outcome, variables)
            except _Failed as failed:
                outcome.outcome = "error"
                outcome.error = failed.info.message
                outcome.error_at = failed.info.at
                for later in decision.rules[len(trace.rules):]:
                    trace.rules.append(RuleOutcome(
                        later.spec.id, _rule_at(later), "skipped", note="an earlier rule failed",
                        reason=later.spec.reason, title=later.spec.title))
                raise
            if matched:
                priority = rule.spec.priority.value if rule.spec.priority is not None else None
                matches.append(Match(rule.spec.id, value, priority))
                if spec.hit.value == "first":
                    stopped = "an earlier rule decided"
        try:
            hit = runtime.resolve_hit(spec.hit.value, matches)
        except RuleError as exc:
            raise _Failed(exc, None, None) from None
        if hit.outcome == "no-match":
            if decision.default is not None:
                value = runtime.settle(
                    self._eval(decision.default, ctx, variables, None, _Recorder()))
                return DecisionResult(spec.name, value, None, None, None, "default", trace=trace)
            return DecisionResult(spec.name, None, None, None, None, "no-match", trace=trace)
        first = by_id[hit.rules[0]]
        return DecisionResult(
            spec.name, hit.value, hit.rules[0], first.reason, first.cite,
            "matched", trace=trace,
            # As the compiled path: only a combining hit policy lists its deciding rules.
            rules=() if spec.hit.value == "first" else hit.rules)

    def _rule(
        self, rule: CheckedRule, ctx: EvalContext, outcome: RuleOutcome,
        variables: dict[str, object],
    ) -> tuple[bool, object]:
        rec = _Recorder()
        try:
            if rule.when is not None:
                cond = self._eval(rule.when, ctx, variables, rule.spec.id, rec)
                outcome.because = _explain(rule.when, cond, rec.values)
                outcome.conditions = [_entry(c, rec.values[c.nid]) for c in conjuncts(rule.when)
                                      if c.nid in rec.values]
                if cond is not True:
                    # Anything but true or false (none included) is unknown (runtime.truth).
                    state: Outcome = "not-matched" if cond is False else "unknown"
                    outcome.outcome = state
                    return False, None
            value = self._then(rule, ctx, variables, rec)
        finally:
            outcome.evidence = rec.evidence
            outcome.rankings = rec.rankings
        outcome.outcome = "matched"
        outcome.value = value
        return True, value

    def _then(
        self, rule: CheckedRule, ctx: EvalContext, variables: Mapping[str, object],
        rec: _Recorder,
    ) -> object:
        then = rule.then
        if then is None:
            return True  # a rule with no result records that it applies (runtime.py)
        if isinstance(then, dict):
            return {key: runtime.settle(self._eval(expr, ctx, variables, rule.spec.id, rec))
                    for key, expr in then.items()}
        return runtime.settle(self._eval(then, ctx, variables, rule.spec.id, rec))


def constraint_violations(
    checked: CheckedBundle, constraint: CheckedConstraint, ctx: EvalContext,
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
        failing = [str(x) for x, ok in ev._each(constraint.subject.var, subjects,
                                                  constraint.require) if ok is not True]
    except RuleError as exc:
        raise _Failed(exc, constraint.spec.id, constraint.require).error() from None
    return failing


def evaluate_decision(
    checked: CheckedBundle, decision: CheckedDecision, ctx: EvalContext,
) -> DecisionResult:
    """One traced decision: the engine's entry point for `trace=True`."""
    return TracedEvaluator(checked).evaluate(decision, ctx)
