"""Audit stage, exploration: every situation the data can produce, decided, as a shared tree.

The explorer evaluates the decisions in dependency order with the bundles' own compiled
functions, on a case that holds nothing at first. When a decision reads a field the case does
not hold yet, the walk branches: one branch per class of the field's values (space.py), each
decided alike. Before a decision is evaluated, the period is cut at its breakpoints for what
it can reach from the values in hand. A node of the walk is (the next decision, what the rest
can still read: field classes, decision values, the period); nodes met again are shared, so
practices of one PCT lead to one subtree for the decisions after `responsible_pct`.

A *situation* is a path from the root to a leaf: the field classes assigned on the way (fields
never read can be anything) and a period. tally.py counts them. The walk, its node keys and
its two-bundle pairing are one piece of reasoning, kept together (over 500 lines for that).

With two lanes (old and new bundle, for `diff`) both are evaluated side by side on the same
situations, each decision of the new bundle right after its old counterpart, so each node can
record the pair (old outcome → new outcome).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pctrules.audit.space import IDENTITY, Class, Fields, Lane, Step, Use
from pctrules.evaluation.protocol import plan_decision
from pctrules.evaluation.runtime import DecisionResult, RuleErrorInfo, json_value
from pctrules.jsonlines import json_text
from pctrules.language.check.types import is_node


class TooLarge(Exception):
    """The walk needs more nodes than the limit: the request must be narrowed."""


MAX_NODES = 2_000_000
"""About 1 GB of walk; a comparison that needs more is refused, with a way to narrow it."""


class NeedField(BaseException):
    """A decision read a field the situation does not hold yet (or holds too coarsely).

    A BaseException, so that no `except Exception` on the way can swallow it."""

    def __init__(self, key: str) -> None:
        self.key = key


@dataclass(frozen=True)
class Outcome:
    """What a decision gave in a situation, as reports show and compare it."""

    outcome: str  # matched | no-match | default | error
    rule: str | None
    reason: str | None
    value: str  # JSON text
    rules: tuple[str, ...] = ()
    error: str | None = None
    error_rule: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, r: DecisionResult) -> Outcome:
        err = r.error
        return cls(
            r.outcome,
            r.rule,
            r.reason,
            json_text(_plain(json_value(r.value))),
            tuple(r.rules),
            err.message if err else None,
            err.rule if err else None,
            r.note,
        )

    def label(self) -> str:
        if self.outcome == "error":
            return "error"
        if self.outcome == "no-match":
            return "no rule matched"
        value = json_value_text(self.value)
        return f"{value} by {self.rule}" if self.rule else f"{value} (default)"


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in sorted(value)}
    return value


def json_value_text(text: str) -> str:
    """A value's JSON text as reports show it: codes bare, sets in braces, none as 'none'."""
    import json

    value = json.loads(text)
    if value is None:
        return "none"
    if isinstance(value, list):
        return "{" + ", ".join(str(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


Record = Outcome | tuple[Outcome | None, Outcome | None]


class _View(dict[str, object]):
    """The case as a compiled function reads it: a field not held raises NeedField."""

    def __missing__(self, key: str) -> object:
        raise NeedField(key)


class _Params(dict[str, object]):
    def __missing__(self, key: str) -> object:
        raise NeedField("params." + key)


@dataclass
class State:
    """What a path of the walk holds: field classes, each lane's decision values and failures,
    and old outcomes waiting for their new counterpart (diff)."""

    fields: dict[str, Class]
    values: list[dict[str, object]]
    failed: list[frozenset[str]]
    pending: dict[str, Outcome] = field(default_factory=dict)
    # What the walk worked out from this state per step (its key, its breakpoints): a state is
    # met once per period it is split into, and never changes.
    known: dict[tuple[str, int], object] = field(default_factory=dict, compare=False)

    def with_field(self, key: str, c: Class) -> State:
        return State({**self.fields, key: c}, self.values, self.failed, self.pending)


SHARED_LIMIT = 64
"""Steps that can see more changes than this in the whole graph (responsible_pct sees every
practice's) keep a node per exact period instead."""


class Tree:
    """The walk's nodes, shared where the rest of the walk is the same."""

    def __init__(self) -> None:
        self.children: list[list[tuple[int, tuple[str, Class] | None]]] = []
        self.period: list[tuple[int, int]] = []
        self.records: list[list[tuple[int, Record]]] = []
        self.parent: list[int] = []  # the first parent (examples follow it back to the root)
        self.assigned: list[tuple[str, Class] | None] = []  # what the link from it assigned
        self.leaf: list[bool] = []
        self.finished: list[int] = []  # post-order
        self.states: dict[int, State] = {}  # where a decision was decided, when asked to keep

    def new(self, period: tuple[int, int]) -> int:
        self.children.append([])
        self.period.append(period)
        self.records.append([])
        self.parent.append(-1)
        self.assigned.append(None)
        self.leaf.append(False)
        return len(self.children) - 1

    def link(self, parent: int, child: int, assigned: tuple[str, Class] | None) -> None:
        self.children[parent].append((child, assigned))
        if self.parent[child] < 0:
            self.parent[child] = parent
            self.assigned[child] = assigned

    def __len__(self) -> int:
        return len(self.children)


class Explorer:
    """Walks the situations of one bundle (analyze) or of two side by side (diff)."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        start: dt.date,
        end: dt.date,
        keep_states: bool = False,
        max_nodes: int = MAX_NODES,
    ) -> None:
        self.lanes = lanes
        self.max_nodes = max_nodes
        self.keep_states = keep_states  # each decided node's state, for probes (analyze)
        self.start, self.end = start.toordinal(), end.toordinal()
        self.fields = Fields(lanes, self.start, self.end)
        self.steps = _order(lanes)
        self.pairs = len(lanes) > 1
        # What the steps from j on can read: the memo key of a node keeps only that.
        n = len(self.steps)
        self.later_fields: list[frozenset[str]] = [frozenset()] * (n + 1)
        self.later_values: list[tuple[frozenset[str], ...]] = [
            tuple(frozenset() for _ in lanes)
        ] * (n + 1)
        for j in range(n - 1, -1, -1):
            s = self.steps[j]
            reads = set(s.reads.fields) | {f"params.{p}" for p in s.reads.params}
            self.later_fields[j] = self.later_fields[j + 1] | reads
            values = list(self.later_values[j + 1])
            values[s.lane] = values[s.lane] | s.reads.decisions | s.depends_on
            self.later_values[j] = tuple(values)
        self.paired = {(s.lane, s.name) for s in self.steps}
        self.twins = _twins(self.steps, lanes)
        self._field_order = [tuple(sorted(f)) for f in self.later_fields]
        self._value_order = [
            tuple(tuple(sorted(v)) for v in lanes_) for lanes_ in self.later_values
        ]
        # Per step and field: the uses a class must have been split by before the step reads it.
        self._needed = [
            {k: frozenset((s.lane, u) for u in us) for k, us in s.uses.items()} for s in self.steps
        ]
        # Periods shared by every path from step j on: when the steps from j on can see few
        # changes in the whole graph (their batch breakpoints), a node is kept per such period,
        # so that paths from practices with different dates meet again. Nothing those steps
        # look up changes inside one, so no node below splits it.
        self.shared: list[list[int] | None] = [None] * (n + 1)
        seen: set[int] = set()
        for j in range(n - 1, -1, -1):
            step = self.steps[j]
            seen |= set(
                step.reads.breakpoints(
                    lanes[step.lane].graph, plan_decision(step.checked).periods()
                )
            )
            days = sorted(d for d in seen if self.start < d <= self.end)
            self.shared[j] = days if len(days) <= SHARED_LIMIT else None
        self.tree = Tree()
        self._memo: dict[object, int] = {}
        self._days: dict[tuple[int, tuple[str, ...]], list[int]] = {}

    # -- the walk ------------------------------------------------------------------------

    def run(self) -> Tree:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 10_000))
        try:
            state = State({}, [{} for _ in self.lanes], [frozenset() for _ in self.lanes])
            self.root = self.enter(0, state, self.start, self.end)
        finally:
            sys.setrecursionlimit(limit)
        return self.tree

    def enter(self, j: int, st: State, s: int, e: int) -> int:
        days = self.shared[j]
        if days is None or j == len(self.steps):
            return self._node(j, st, s, e, (s, e))
        at = bisect.bisect_right(days, s)
        first = days[at - 1] if at else self.start
        last = days[at] - 1 if at < len(days) else self.end
        if e <= last:  # within one shared period: the node for that period
            return self._node(j, st, first, last, ("shared", first))
        node = self.tree.new((s, e))
        edges = [s, *(d for d in days if s < d <= e), e + 1]
        for a, b in itertools.pairwise(edges):
            self.tree.link(node, self.enter(j, st, a, b - 1), None)
        self.tree.finished.append(node)
        return node

    def _node(self, j: int, st: State, s: int, e: int, when: object) -> int:
        key = self._key(j, st, when)
        found = self._memo.get(key) if key is not None else None
        if found is not None:
            return found
        node = self.tree.new((s, e))
        if len(self.tree) > self.max_nodes:
            raise TooLarge(f"the walk needs more than {self.max_nodes:,} nodes")
        if key is not None:
            self._memo[key] = node
        if j == len(self.steps):
            self.tree.leaf[node] = True
        else:
            self._expand(node, j, st, s, e)
        self.tree.finished.append(node)
        return node

    def _key(self, j: int, st: State, when: object) -> object:
        """What the walk from step j on depends on: the node's identity in the memo (None:
        a state that cannot be a key, decided on its own)."""
        part = st.known.get(("key", j), False)
        if part is False:
            part = st.known[("key", j)] = self._state_key(j, st)
        return None if part is None else (part, when)

    def _state_key(self, j: int, st: State) -> object:
        held_fields = st.fields
        parts: list[object] = [
            j,
            tuple([(k, held_fields[k].id) for k in self._field_order[j] if k in held_fields]),
        ]
        for lane, names in enumerate(self._value_order[j]):
            held = st.values[lane]
            parts.append(tuple([held[n] for n in names if n in held]))
            failed = st.failed[lane]
            if failed:
                parts.append(tuple(sorted(failed.intersection(names))))
        if st.pending:
            parts.append(tuple(sorted(st.pending.items())))
        key = tuple(parts)
        try:
            hash(key)
        except TypeError:  # a `for:` decision's mapping: compared by its items
            key = tuple(tuple(_frozen(x) for x in p) if isinstance(p, tuple) else p for p in parts)
            try:
                hash(key)
            except TypeError:
                return None  # not shared: decided on its own
        return key

    def _expand(self, node: int, j: int, st: State, s: int, e: int) -> None:
        step = self.steps[j]
        lane = self.lanes[step.lane]
        days = self._breakpoints(step, lane, st)
        inner = days[bisect.bisect_right(days, s) : bisect.bisect_right(days, e)]
        if inner:
            edges = [s, *inner, e + 1]
            for a, b in itertools.pairwise(edges):
                self.tree.link(node, self.enter(j, st, a, b - 1), None)
            return
        day = dt.date.fromordinal(s)
        held = self.view(j, st, day)
        if held is None:
            return  # no such situation: a code it holds is in no data on that day
        view, params = held
        failed = st.failed[step.lane]
        if not step.depends_on.isdisjoint(failed):
            result = _dependency_error(step, failed)
        else:
            try:
                result = step.function(view, st.values[step.lane], day, params)
            except NeedField as need:
                self._branch(node, j, st, s, e, step, need.key)
                return
        if self.keep_states:
            self.tree.states[node] = st
        self._decided(node, j, st, s, e, step, result)

    def view(self, j: int, st: State, day: dt.date) -> tuple[_View, _Params] | None:
        """The case and parameters as step j's function reads them on `day`: what the state
        holds, less classes the step observes more closely than they were split by; None
        when a code the step reads is in no lane's data on that day."""
        step = self.steps[j]
        lane = self.lanes[step.lane]
        base = st.known.get(("reps", 0))
        if base is None:
            fields = {k: c.rep for k, c in st.fields.items() if not k.startswith("params.")}
            params = {k[7:]: c.rep for k, c in st.fields.items() if k.startswith("params.")}
            base = st.known[("reps", 0)] = (fields, params)
        fields, params = base  # type: ignore[misc]
        view = _View(fields)
        needs = self._needed[j]
        for key in step.reads.fields:
            c = st.fields.get(key)
            if c is None:
                continue
            needed = needs.get(key)
            if needed is not None and len(c.members) > 1 and not needed <= c.basis:
                del view[key]  # observed more closely than the class: split it first
                continue
            value = c.rep
            if value.__class__ is str and self._is_node(key):
                n = lane.graph.nodes.get(value)
                if n is None or not n.valid_from <= day <= n.valid_to:
                    if not self._alive_anywhere(value, day):
                        return None
                    view[key] = None  # as the engine does for a code the data does not know
        view["date"] = day
        return view, _Params(params)

    def probe(
        self,
        j: int,
        st: State,
        period: tuple[int, int],
        function: Any,
    ) -> Iterator[tuple[State, DecisionResult]]:
        """`function` (a variant of step j's decision) in the situation of `st`, and in every
        class of each field it reads that `st` does not hold."""
        day = dt.date.fromordinal(period[0])
        held = self.view(j, st, day)
        if held is None:
            return
        step = self.steps[j]
        try:
            yield st, function(held[0], st.values[step.lane], day, held[1])
        except NeedField as need:
            uses = [(step.lane, u) for u in step.uses.get(need.key, (IDENTITY,))]
            for c in self.fields.classes(need.key, st.fields.get(need.key), uses, period):
                yield from self.probe(j, st.with_field(need.key, c), period, function)

    def _branch(self, node: int, j: int, st: State, s: int, e: int, step: Step, key: str) -> None:
        uses: list[tuple[int, Use]] = [(step.lane, u) for u in step.uses.get(key, (IDENTITY,))]
        classes = self.fields.classes(key, st.fields.get(key), uses, (s, e))
        for c in classes:
            self.tree.link(node, self.enter(j, st.with_field(key, c), s, e), (key, c))

    def _decided(
        self, node: int, j: int, st: State, s: int, e: int, step: Step, result: DecisionResult
    ) -> None:
        outcome = Outcome.of(result)
        values = list(st.values)
        values[step.lane] = {**values[step.lane], step.name: result.value}
        failed = list(st.failed)
        if result.outcome == "error":
            failed[step.lane] = failed[step.lane] | {step.name}
        pending = st.pending
        lane = self.lanes[step.lane]
        record: Record | None = None
        if j in self.twins and all(
            values[0].get(d) == values[1].get(d) and (d in failed[0]) == (d in failed[1])
            for d in step.depends_on
        ):
            # The new bundle's decision is the old one, word for word, on the same data and
            # the same inputs: it decides the same, without a node of its own.
            values[1] = {**values[1], step.name: result.value}
            if result.outcome == "error":
                failed[1] = failed[1] | {step.name}
            if step.name in lane.wanted or step.name in self.lanes[1].wanted:
                self.tree.records[node].append((j, (outcome, outcome)))
            nxt = State(st.fields, values, failed, pending)
            self.tree.link(node, self.enter(j + 2, nxt, s, e), None)
            return
        if not self.pairs:
            if step.name in lane.wanted:
                record = outcome
        elif step.lane == 0:
            if (1, step.name) in self.paired:
                pending = {**pending, step.name: outcome}
            elif step.name in lane.wanted:
                record = (outcome, None)
        else:
            old = pending.get(step.name)
            if old is not None:
                pending = {k: v for k, v in pending.items() if k != step.name}
            if step.name in lane.wanted or old is not None:
                record = (old, outcome)
        if record is not None:
            self.tree.records[node].append((j, record))
        nxt = State(st.fields, values, failed, pending)
        self.tree.link(node, self.enter(j + 1, nxt, s, e), None)

    # -- time ------------------------------------------------------------------------------

    def _breakpoints(self, step: Step, lane: Lane, st: State) -> list[int]:
        """The days on which what this decision can reach from the values in hand changes."""
        known = st.known.get(("days", id(step)))
        if known is None:
            known = st.known[("days", id(step))] = self._reachable_days(step, lane, st)
        return known  # type: ignore[return-value]

    def _reachable_days(self, step: Step, lane: Lane, st: State) -> list[int]:
        roots: list[str] = []
        for key in step.reads.fields:
            c = st.fields.get(key)
            if c is not None:
                roots.extend(_codes(c.rep))
        held = st.values[step.lane]
        for name in step.reads.decisions:
            if name in held:
                roots.extend(_codes(held[name]))
        ident = (id(step), tuple(sorted(set(roots))))
        found = self._days.get(ident)
        if found is None:
            closure = lane.closure(step.hops)
            days = set(step.days)
            for code in ident[1]:
                if code in lane.graph.nodes:
                    days |= closure.days(code)
            found = self._days[ident] = sorted(days)
        return found

    def _is_node(self, key: str) -> bool:
        t = self.fields.types.get(key)
        return t is not None and is_node(t) and not t.is_set

    def _alive_anywhere(self, code: str, day: dt.date) -> bool:
        for lane in self.lanes:
            n = lane.graph.nodes.get(code)
            if n is not None and n.valid_from <= day <= n.valid_to:
                return True
        return False


def _twins(steps: Sequence[Step], lanes: Sequence[Lane]) -> set[int]:
    """The steps j of the old bundle whose next step j + 1 is the same decision of the new one,
    written alike, over the same data: given the same inputs it gives the same result."""
    if len(lanes) < 2:
        return set()
    same_data = [sha for _, sha in lanes[0].graph.sources] == [
        sha for _, sha in lanes[1].graph.sources
    ]  # by content: the bundles' folders differ
    old, new = (lane.engine.bundle.policy.manifest for lane in lanes)
    same_schema = (old.case, old.schema) == (new.case, new.schema) and [
        (p.name, p.type, p.default, p.choices) for p in old.parameters
    ] == [(p.name, p.type, p.default, p.choices) for p in new.parameters]
    if not (same_data and same_schema):
        return set()
    out = set()
    for j, (a, b) in enumerate(itertools.pairwise(steps)):
        if (
            a.lane == 0
            and b.lane == 1
            and a.name == b.name
            and _wording(a) == _wording(b)
            and a.depends_on == b.depends_on
        ):
            out.add(j)
    return out


def _wording(step: Step) -> object:
    """What a decision says, as text: its settings and its rules', without positions."""
    spec = step.checked.spec

    def text(value: object) -> object:
        if isinstance(value, dict):
            return tuple(sorted((k, text(v)) for k, v in value.items()))
        return None if value is None else str(getattr(value, "text", value))

    return (
        spec.hit.value,
        spec.output.value if spec.output else None,
        text(spec.for_),
        text(spec.default),
        str(spec.effective) if spec.effective else None,
        tuple(
            (
                r.id,
                text(r.when),
                text(r.then),
                str(r.effective) if r.effective else None,
                r.priority.value if r.priority else None,
                r.reason,
            )
            for r in spec.rules
        ),
    )


def _order(lanes: Sequence[Lane]) -> list[Step]:
    """The steps: the first lane's decisions in dependency order, each followed as soon as
    possible by the second lane's decision of the same name (then its own new ones)."""
    first = lanes[0]
    if len(lanes) == 1:
        return [first.steps[n] for n in first.order]
    second = lanes[1]
    out: list[Step] = []
    done: set[str] = set()
    waiting = list(second.order)
    for name in first.order:
        out.append(first.steps[name])
        progress = True
        while progress:
            progress = False
            for other in waiting:
                ready = second.steps[other].depends_on <= done
                paired_ready = other == name or other not in first.steps
                if ready and paired_ready:
                    out.append(second.steps[other])
                    done.add(other)
                    waiting.remove(other)
                    progress = True
                    break
    out.extend(second.steps[n] for n in waiting)  # what waits on a dependency order conflict
    return out


def _dependency_error(step: Step, failed: frozenset[str]) -> DecisionResult:
    dep = next(d for d in sorted(step.depends_on) if d in failed)
    return DecisionResult(
        step.name,
        None,
        None,
        None,
        None,
        "error",
        RuleErrorInfo(f"depends on '{dep}', which failed", None, None),
    )


def _codes(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (frozenset, set, tuple, list)):
        for v in value:
            yield from _codes(v)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _codes(k)
            yield from _codes(v)


def _frozen(value: object) -> object:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value
