"""Evaluation stage, the decision protocol: what a decision's rules mean, whoever evaluates them.

Every evaluator evaluates expressions its own way (generated Python, the traced interpreter,
whole columns, once per group of rows); what a *decision* does with them is said here, once:

- effective ranges (`Period`): a decision asked for on a day outside its range is 'no-match'
  with a note; a rule outside its range does not match;
- rule order and hit resolution: rules are tried in file order; under `hit: first` the first
  that matches decides (a rule with no `when` and no `effective` always matches, so the rules
  after it cannot decide: `DecisionPlan.rules`); under the other policies every rule is tried
  and the matches combined (`resolve`, DESIGN §4);
- a rule's result: its `then`, settled (unknown becomes none), a mapping of named results, or
  true when it has none (`RulePlan.result`);
- defaults and no-match: the `default` when no rule matched, else 'no-match';
- `for:` subjects: none gives 'no-match' with a note, one node its one result, a set a mapping
  from each member's code to its result (the first member's error fails the decision);
- errors: a RuleError fails the decision, naming the failing rule (None for a hit-policy
  conflict, a subject or a default) and where.

`decide()` is the procedure written out for an interpreter (the traced evaluator runs it);
compile.py writes the same procedure as Python source for each decision, calling the plan's
outcome methods; vector.py runs `hit: first` plans over columns. The conformance corpus
(tests/conformance) holds the three to one meaning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol

from pctrules.evaluation import runtime
from pctrules.evaluation.runtime import (
    DecisionResult,
    RuleError,
    RuleErrorInfo,
    members,
    settle,
)
from pctrules.language import ast
from pctrules.language.check.state import CheckedDecision, CheckedRule, Subject
from pctrules.language.source import Span

if TYPE_CHECKING:
    from pctrules.language.loader import EffectiveRange, RuleSpec

# -- effective ranges ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """An `effective: {from, to}` range: both ends inclusive, None when open."""

    start: dt.date | None
    end: dt.date | None

    @classmethod
    def of(cls, eff: EffectiveRange | None) -> Period | None:
        """The range of a decision or rule; None when it has none (or both ends are open)."""
        if eff is None or (eff.start is None and eff.end is None):
            return None
        return cls(eff.start, eff.end)

    def contains(self, on: dt.date) -> bool:
        return (self.start is None or self.start <= on) and (self.end is None or on <= self.end)

    def ordinals(self) -> tuple[int, int]:
        """Both ends as ordinals, open ends as the first and last day there is (columns)."""
        return ((self.start or dt.date.min).toordinal(), (self.end or dt.date.max).toordinal())

    def bounds(self) -> Iterator[int]:
        """The days (ordinals) on which being in the range changes: its first day, and the day
        after its last (batch groups rows between such days)."""
        if self.start is not None:
            yield self.start.toordinal()
        if self.end is not None and self.end != dt.date.max:
            yield self.end.toordinal() + 1

    def why_not(self, on: dt.date) -> str:
        """'not in effect on 2013-01-01 (in effect 2005-01-01 to 2012-12-31)'."""
        return runtime.out_of_effect(self.start, self.end, on)


# -- plans --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RulePlan:
    """One rule as every evaluator needs it."""

    decision: str
    number: int  # 1-based, in file order
    id: str
    when: ast.Expr | None
    then: ast.Expr | dict[str, ast.Expr] | None
    period: Period | None
    priority: float | None
    reason: str | None
    cite: str | None
    title: str | None
    id_span: Span | None
    spec: RuleSpec

    @property
    def thens(self) -> tuple[ast.Expr, ...]:
        """The result expressions, in order (none for a rule without `then`)."""
        then = self.then
        if then is None:
            return ()
        return tuple(then.values()) if isinstance(then, dict) else (then,)

    @property
    def then_span(self) -> Span | None:
        """Where the result is written (the first named result's expression)."""
        thens = self.thens
        return thens[0].span if thens else None

    @property
    def at(self) -> Span:
        """Where a trace places the rule: its `when`, else its `then`, else the rule."""
        node = self.when if self.when is not None else next(iter(self.thens), None)
        return node.span if node is not None else self.spec.span

    @property
    def always(self) -> bool:
        """Whether the rule matches every case on every day (no `when`, no `effective`)."""
        return self.when is None and self.period is None

    def result(self, values: Sequence[object]) -> object:
        """The rule's value from its `thens`' values, in order: settled (unknown is none),
        a mapping for named results, true for a rule without `then`."""
        then = self.then
        if then is None:
            return True
        if isinstance(then, dict):
            return {k: settle(v) for k, v in zip(then, values, strict=True)}
        return settle(values[0])

    def matched(self, value: object) -> DecisionResult:
        """The decision's result when this rule decides it alone."""
        return DecisionResult(self.decision, value, self.id, self.reason, self.cite, "matched")

    def match(self, value: object) -> Match:
        """This rule's match, for the hit policies that combine several."""
        return Match(self.id, value, self.priority)


@dataclass(frozen=True)
class DecisionPlan:
    """A checked decision as every evaluator needs it, with its outcomes."""

    name: str
    title: str | None
    hit: str
    period: Period | None
    all_rules: tuple[RulePlan, ...]
    rules: tuple[RulePlan, ...]  # those that can decide (see `plan`)
    default: ast.Expr | None
    subject: Subject | None
    depends_on: frozenset[str]
    span: Span | None  # the decision's name
    checked: CheckedDecision
    _by_id: dict[str, RulePlan] = field(repr=False, compare=False, default_factory=dict)

    def rule(self, rule_id: str) -> RulePlan:
        return self._by_id[rule_id]

    def expressions(self) -> Iterator[ast.Expr]:
        """Every expression the decision evaluates: subject, default, then each rule's."""
        if self.subject is not None:
            yield self.subject.collection
        if self.default is not None:
            yield self.default
        for rule in self.all_rules:
            if rule.when is not None:
                yield rule.when
            yield from rule.thens

    def periods(self) -> Iterator[Period]:
        """The decision's range and its rules' (what makes its answer change with the day)."""
        for p in (self.period, *(r.period for r in self.all_rules)):
            if p is not None:
                yield p

    # -- outcomes ----------------------------------------------------------------------------

    def not_in_effect(self, on: dt.date) -> DecisionResult:
        assert self.period is not None
        note = runtime.not_in_effect(self.name, self.period.start, self.period.end, on)
        return DecisionResult(self.name, None, None, None, None, "no-match", note=note)

    def subject_text(self) -> str:
        assert self.subject is not None
        return ast.unparse(self.subject.collection)

    def no_subject(self) -> DecisionResult:
        note = f"no subject: {self.subject_text()} is none"
        return DecisionResult(self.name, None, None, None, None, "no-match", note=note)

    def no_match(self) -> DecisionResult:
        return DecisionResult(self.name, None, None, None, None, "no-match")

    def defaulted(self, value: object) -> DecisionResult:
        return DecisionResult(self.name, settle(value), None, None, None, "default")

    def resolve(self, matches: Sequence[Match]) -> DecisionResult | None:
        """The matches combined under the hit policy; None when no rule matched. A conflict
        raises RuleError (its place is the decision's: `failed`)."""
        if not matches:
            return None
        hit = resolve_hit(self.hit, matches)
        first = self._by_id[hit.rules[0]]
        return DecisionResult(
            self.name,
            hit.value,
            first.id,
            first.reason,
            first.cite,
            "matched",
            rules=() if self.hit == "first" else hit.rules,
        )

    def per_subject(self, results: Mapping[str, DecisionResult]) -> DecisionResult:
        """A set of subjects: the first error in member order, else a mapping of values."""
        for r in results.values():
            if r.outcome == "error":
                return r
        return DecisionResult(
            self.name,
            {m: r.value for m, r in results.items()},
            None,
            None,
            None,
            "matched",
            rules=tuple(r.rule for r in results.values() if r.rule),
        )

    def failed(self, message: str, rule: str | None, at: Span | None) -> DecisionResult:
        """A RuleError while deciding: the failing rule (None: the decision itself) and the
        place of the failing expression (the decision's name when there is none)."""
        where = at or self.span
        info = RuleErrorInfo(message, rule, str(where) if where is not None else None)
        return DecisionResult(self.name, None, rule, None, None, "error", info)

    def dependency_failed(self, failed: Iterable[str]) -> DecisionResult:
        """Not evaluated: a decision it reads failed (the first, by name)."""
        gone = set(failed)
        dep = next(d for d in sorted(self.depends_on) if d in gone)
        return self.failed(f"depends on '{dep}', which failed", None, None)


def plan_decision(d: CheckedDecision) -> DecisionPlan:
    """The plan of a checked decision."""
    spec = d.spec
    rules = tuple(_rule_plan(spec.name, k, r) for k, r in enumerate(d.rules, 1))
    decisive = rules
    if spec.hit.value == "first":
        # The first rule that always matches decides every case that reaches it.
        last = next((k for k, r in enumerate(rules) if r.always), None)
        decisive = rules if last is None else rules[: last + 1]
    return DecisionPlan(
        spec.name,
        spec.title,
        spec.hit.value,
        Period.of(spec.effective),
        rules,
        decisive,
        d.default,
        d.subject,
        d.depends_on,
        spec.name_span,
        d,
        {r.id: r for r in rules},
    )


def _rule_plan(decision: str, number: int, r: CheckedRule) -> RulePlan:
    spec = r.spec
    priority = float(spec.priority.value) if spec.priority is not None else None
    return RulePlan(
        decision,
        number,
        spec.id,
        r.when,
        r.then,
        Period.of(spec.effective),
        priority,
        spec.reason,
        spec.cite,
        spec.title,
        spec.id_span,
        spec,
    )


# -- hit policies -------------------------------------------------------------------------------


class Match(NamedTuple):
    """A rule that matched: its id, its result, and its priority (for `hit: priority`)."""

    rule: str
    value: object
    priority: float | None = None


class Hit(NamedTuple):
    """Matches combined under a hit policy: the value and the deciding rule ids, in order."""

    value: object
    rules: tuple[str, ...]


def resolve_hit(policy: str, matches: Sequence[Match]) -> Hit:
    """Combine the matching rules (at least one, in rule order) per DESIGN §4; a conflict is a
    RuleError naming every rule involved. Priorities are distinct (the loader refuses a tie)."""
    if policy == "first":
        m = matches[0]
        return Hit(m.value, (m.rule,))
    if policy == "priority":
        best = max(matches, key=lambda m: 0.0 if m.priority is None else m.priority)
        return Hit(best.value, (best.rule,))
    if policy == "unique":
        if len(matches) > 1:
            raise RuleError(
                f"rules {_named(matches)} all matched; hit policy 'unique' allows only one"
            )
        return Hit(matches[0].value, (matches[0].rule,))
    if policy == "any":
        first = matches[0].value
        if any(not _same(m.value, first) for m in matches[1:]):
            shown = ", ".join(f"'{m.rule}' gives {runtime.describe(m.value)}" for m in matches)
            raise RuleError(
                f"rules {_named(matches)} matched with different results ({shown}); "
                "hit policy 'any' needs them to agree"
            )
        return Hit(first, tuple(m.rule for m in matches))
    if policy == "collect":
        return Hit(tuple(m.value for m in matches), tuple(m.rule for m in matches))
    raise ValueError(f"unknown hit policy '{policy}'")  # the loader refuses these


def _same(a: object, b: object) -> bool:
    return a is b or (type(a) is type(b) and a == b)


def _named(ms: Sequence[Match]) -> str:
    names = [f"'{m.rule}'" for m in ms]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


# -- the procedure, for interpreters ------------------------------------------------------------

Scope = dict[str, object]


class Run(Protocol):
    """What `decide` asks of an interpreter for one decision: the value of an expression (its
    own business: a traced one records what it saw), and word of each step, to keep if it
    wants (a trace does)."""

    def value(self, node: ast.Expr, scope: Scope, rule: RulePlan | None) -> object:
        """The node's value for the case, variables bound by `scope`; a RuleError propagates."""

    def subject(self, member: str, one: bool) -> Run:
        """The run for a subject of a `for:` decision (`one`: the only one, not a member)."""

    def rule_started(self, rule: RulePlan) -> None: ...

    def rule_skipped(self, rule: RulePlan, why: str) -> None: ...

    def rule_out_of_effect(self, rule: RulePlan, why: str) -> None: ...

    def rule_tested(self, rule: RulePlan, condition: object) -> None: ...

    def rule_matched(self, rule: RulePlan, value: object) -> None: ...

    def rule_failed(self, rule: RulePlan, info: RuleErrorInfo) -> None: ...


class _Failure(Exception):
    def __init__(self, result: DecisionResult) -> None:
        self.result = result


def decide(plan: DecisionPlan, on: dt.date, run: Run) -> DecisionResult:
    """One decision for one case on `on`, by the protocol above."""
    if plan.period is not None and not plan.period.contains(on):
        return plan.not_in_effect(on)
    try:
        if plan.subject is None:
            return _rules(plan, on, run, {})
        var = plan.subject.var
        collection = plan.subject.collection
        subjects = settle(_value(plan, run, collection, {}, None))
        if subjects is None:
            return plan.no_subject()
        if isinstance(subjects, str):  # one node
            return _rules(plan, on, run.subject(subjects, True), {var: subjects})
        results = {}
        for member in members(subjects):  # type: ignore[arg-type]
            result = _rules(plan, on, run.subject(member, False), {var: member})
            if result.outcome == "error":
                return result
            results[member] = result
        return plan.per_subject(results)
    except _Failure as failure:
        return failure.result


def _value(
    plan: DecisionPlan, run: Run, node: ast.Expr, scope: Scope, rule: RulePlan | None
) -> object:
    try:
        return run.value(node, scope, rule)
    except RuleError as e:
        result = plan.failed(e.message, rule.id if rule else None, e.span or node.span)
        if rule is not None:
            assert result.error is not None
            run.rule_failed(rule, result.error)
        raise _Failure(result) from None


def _rules(plan: DecisionPlan, on: dt.date, run: Run, scope: Scope) -> DecisionResult:
    matches: list[Match] = []
    decided: str | None = None
    first: DecisionResult | None = None
    for rule in plan.all_rules:
        run.rule_started(rule)
        if decided is not None:
            run.rule_skipped(rule, decided)
            continue
        if rule.period is not None and not rule.period.contains(on):
            run.rule_out_of_effect(rule, rule.period.why_not(on))
            continue
        try:
            if rule.when is not None:
                condition = _value(plan, run, rule.when, scope, rule)
                run.rule_tested(rule, condition)
                if condition is not True:
                    continue
            value = rule.result([_value(plan, run, t, scope, rule) for t in rule.thens])
        except _Failure:
            decided = "an earlier rule failed"
            for later in plan.all_rules[rule.number :]:
                run.rule_started(later)
                run.rule_skipped(later, decided)
            raise
        run.rule_matched(rule, value)
        if plan.hit == "first":
            decided = "an earlier rule decided"
            first = rule.matched(value)
        else:
            matches.append(rule.match(value))
    if first is not None:
        return first  # the rules after it were reported skipped
    try:
        resolved = plan.resolve(matches)
    except RuleError as e:
        raise _Failure(plan.failed(e.message, None, None)) from None
    if resolved is not None:
        return resolved
    if plan.default is not None:
        return plan.defaulted(_value(plan, run, plan.default, scope, None))
    return plan.no_match()
