"""Audit stage, the situation space: what the decisions can tell apart in a case, and when.

The exhaustive tools (`analyze`, `diff --exhaustive`) decide every *situation* the data can
produce rather than a sample of cases. This module says what a situation is made of:

- **fields** — each case field ranges over the codes the data holds for its kind (and none), or,
  for a text, number or date field, over the literals the rules compare it with and a value
  between or beside them; each parameter over its choices.
- **classes** — two values of a field are one class for a decision when everything the decision
  can observe of them agrees on every day of a period: the hops and attributes it reads from the
  field, with their dated edges, whether it is none, how it compares with a literal. Practices
  of one PCT with the same dates are one class for `responsible_pct` (it reads `practice.pct`);
  they are told apart again only if a later decision looks further.
- **breakpoints** — the days on which something a decision can reach from the values in hand
  changes: the validity of the nodes and edges its hops can walk to from them, and the
  effective dates of its rules. Between two breakpoints every lookup answers the same.

explore.py walks the space decision by decision, branching only on what is read. What a
decision observes, its classes and its breakpoints are one definition of "seen alike", kept in
one module (over 500 lines for that).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pctrules.evaluation.engine import Engine
from pctrules.evaluation.reads import Reads, decision_expressions, decision_reads
from pctrules.evaluation.runtime import UNKNOWN, RuleError, compare
from pctrules.graph.model import OPEN_FROM, OPEN_TO, OrgGraph
from pctrules.language import ast
from pctrules.language.check.refs import CaseField, HopRef, NodeAttribute
from pctrules.language.check.state import CheckedDecision
from pctrules.language.check.types import is_node, kinds_of
from pctrules.language.schema import Type

Use = tuple[Any, ...]
"""How a decision observes a field: ("hop", name), ("attr", name), ("none",),
("cmp", op, literal, field_on_left), ("in", literals, negated), ("id",) (the value itself)."""

IDENTITY: Use = ("id",)


def field_uses(
    checked: Any,
    d: CheckedDecision,
    leaves: Iterable[str],
) -> dict[str, frozenset[Use]]:
    """For each case field a decision reads, every way it observes it."""
    leaf = set(leaves)
    out: dict[str, set[Use]] = {}

    def visit(node: ast.Expr, parent: ast.Expr | None) -> None:
        ref = checked.ref(node)
        if isinstance(ref, CaseField) and ".".join(ref.path) in leaf:
            out.setdefault(".".join(ref.path), set()).add(_use(node, parent, checked))
            return
        for child in ast.iter_child_nodes(node):
            visit(child, node)

    for e in decision_expressions(d):
        visit(e, None)
    return {k: frozenset(v) for k, v in out.items()}


def _use(node: ast.Expr, parent: ast.Expr | None, checked: Any) -> Use:
    if isinstance(parent, ast.Attribute) and parent.obj is node:
        ref = checked.ref(parent)
        if isinstance(ref, HopRef):
            return ("hop", ref.hop)
        if isinstance(ref, NodeAttribute):
            return ("attr", ref.name)
    elif isinstance(parent, ast.IsNone):
        return ("none",)
    elif isinstance(parent, ast.Compare):
        other, left = (parent.right, True) if parent.left is node else (parent.left, False)
        if isinstance(other, ast.Literal | ast.CodeLiteral):  # a code: its code, the value
            return ("cmp", parent.op, other.value, left)
    elif (
        isinstance(parent, ast.Membership)
        and parent.element is node
        and isinstance(parent.collection, ast.ListExpr)
        and all(isinstance(i, ast.Literal | ast.CodeLiteral) for i in parent.collection.items)
    ):
        values = tuple(i.value for i in parent.collection.items)  # type: ignore[attr-defined]
        return ("in", values, parent.negated)
    return IDENTITY


def literals(d: CheckedDecision) -> Iterator[object]:
    """Every literal value a decision's expressions hold."""
    for e in decision_expressions(d):
        for node in ast.walk(e):
            if isinstance(node, ast.Literal):
                yield node.value


# -- one bundle in the space --------------------------------------------------------------


@dataclass
class Step:
    """One decision of one lane, in the order the space evaluates them."""

    lane: int
    name: str
    function: Any
    checked: CheckedDecision
    reads: Reads
    uses: dict[str, frozenset[Use]]
    depends_on: frozenset[str]
    hops: frozenset[tuple[str, bool]]
    days: frozenset[int]  # breakpoints of its own: effective dates, date literals


class Lane:
    """One bundle's engine, and the decisions asked for with what they depend on."""

    def __init__(self, index: int, engine: Engine, decisions: Sequence[str] | None) -> None:
        self.index = index
        self.engine = engine
        self.graph: OrgGraph = engine.graph
        compiled = {d.name: d for d in engine.compiled.decisions}
        wanted = set(decisions) if decisions else set(compiled)
        needed = set(wanted)
        stack = list(needed)
        while stack:
            for dep in compiled[stack.pop()].depends_on:
                if dep not in needed:
                    needed.add(dep)
                    stack.append(dep)
        self.wanted = wanted
        self.order = _as_late_as_possible(
            [d.name for d in engine.compiled.decisions if d.name in needed],
            {n: compiled[n].depends_on for n in needed},
        )
        checked = engine.checked
        leaves = [".".join(p) for p, _ in checked.case_schema.leaves()]
        relations = self.graph.schema.relations
        self.steps: dict[str, Step] = {}
        for name in self.order:
            d = checked.decision(name)
            assert d is not None
            reads = decision_reads(checked, d)
            hops = set(reads.hops)
            if reads.every_relation:  # within() walks every containment relation
                hops |= {(r, True) for r, rd in relations.items() if rd.containment}
            self.steps[name] = Step(
                index,
                name,
                engine.bound.functions[name],
                d,
                reads,
                field_uses(checked, d, leaves),
                compiled[name].depends_on,
                frozenset(hops),
                frozenset(_own_days(d, reads)),
            )
        self._closures: dict[frozenset[tuple[str, bool]], _Closure] = {}

    def closure(self, hops: frozenset[tuple[str, bool]]) -> _Closure:
        found = self._closures.get(hops)
        if found is None:
            found = self._closures[hops] = _Closure(self.graph, hops)
        return found


def _as_late_as_possible(order: list[str], deps: Mapping[str, frozenset[str]]) -> list[str]:
    """A dependency order that decides each decision just before the first one that needs it:
    a value decided early is carried (and tells paths apart) until it is used."""
    out: list[str] = []
    for name in reversed(order):
        users = [i for i, other in enumerate(out) if name in deps[other]]
        out.insert(users[0] if users else len(out), name)
    return out


def _own_days(d: CheckedDecision, reads: Reads) -> Iterator[int]:
    for eff in (d.spec.effective, *(r.spec.effective for r in d.rules)):
        if eff is not None:
            yield from bounds(eff.start, eff.end)
    if any(f == "date" or f.endswith(".date") for f in reads.fields):
        # A rule comparing the case's date with a date it names changes answer on that day
        # and the day after (date arithmetic is not followed: see docs/audit.md).
        for value in literals(d):
            if isinstance(value, dt.date):
                yield value.toordinal()
                yield value.toordinal() + 1


def bounds(first: dt.date | None, last: dt.date | None) -> Iterator[int]:
    """The days on which a validity `first`..`last` (inclusive) starts and stops holding."""
    if first is not None and first != OPEN_FROM and first != dt.date.min:
        yield first.toordinal()
    if last is not None and last != OPEN_TO and last != dt.date.max:
        yield last.toordinal() + 1


class _Closure:
    """For one set of hops: every day on which something reachable from a node changes (its
    own validity, and that of every edge and node its hops can walk to, whatever the date)."""

    def __init__(self, graph: OrgGraph, hops: frozenset[tuple[str, bool]]) -> None:
        self.graph = graph
        forward = {r for r, f in hops if f}
        backward = {r for r, f in hops if not f}
        self.adjacent: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        for e in graph.edges:
            days = tuple(bounds(e.valid_from, e.valid_to))
            if e.rel in forward:
                self.adjacent.setdefault(e.from_, []).append((e.to, days))
            if e.rel in backward:
                self.adjacent.setdefault(e.to, []).append((e.from_, days))
        self._memo: dict[str, frozenset[int]] = {}

    def days(self, code: str) -> frozenset[int]:
        found = self._memo.get(code)
        if found is None:
            self._solve(code)
            found = self._memo[code]
        return found

    def _own(self, code: str) -> set[int]:
        n = self.graph.nodes.get(code)
        own = set(bounds(n.valid_from, n.valid_to)) if n is not None else set()
        for _, days in self.adjacent.get(code, ()):
            own.update(days)
        return own

    def _solve(self, root: str) -> None:
        """Tarjan's strongly connected components from `root`, iteratively; each component's
        days are its own and those of every component it reaches."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        work: list[tuple[str, Iterator[tuple[str, tuple[int, ...]]]]] = []
        memo = self._memo

        def push(v: str) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            on_stack.add(v)
            work.append((v, iter(self.adjacent.get(v, ()))))

        push(root)
        while work:
            v, edges = work[-1]
            advanced = False
            for w, _ in edges:
                if w in memo:
                    continue
                if w not in index:
                    push(w)
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                days: set[int] = set()
                members = set(component)
                for w in component:
                    days |= self._own(w)
                    for t, _ in self.adjacent.get(w, ()):
                        if t not in members:
                            days |= memo[t]
                frozen = frozenset(days)
                for w in component:
                    memo[w] = frozen


# -- the fields' values -----------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """One value a field can take in the space (a code, a representative text or number, or
    none), with how reports show it."""

    value: object
    label: str


@dataclass(eq=False)
class Class:
    """Values of a field that every decision read so far observes alike, on `period`.
    `basis` is what was observed (lane, use): a decision observing more splits the class."""

    id: int
    members: tuple[Atom, ...]
    basis: frozenset[tuple[int, Use]]
    period: tuple[int, int]
    population: int | None = None

    @property
    def rep(self) -> object:
        return self.members[0].value

    def describe(self, limit: int = 3) -> str:
        shown = ", ".join(m.label for m in self.members[:limit])
        more = len(self.members) - limit
        return shown if more <= 0 else f"{shown} and {more:,} more"


class Fields:
    """The fields of the space (case fields and parameters): each one's values, and how its
    values fall into classes for what the decisions observe."""

    def __init__(self, lanes: Sequence[Lane], start: int, end: int) -> None:
        self.lanes = lanes
        self.start, self.end = start, end
        self.types: dict[str, Type] = {}
        self.optional: dict[str, bool] = {}
        for lane in lanes:
            for path, t in lane.engine.checked.case_schema.leaves():
                key = ".".join(path)
                self.types.setdefault(key, t)
        self.params: dict[str, list[object]] = {}
        for lane in lanes:
            for p in lane.engine.bundle.policy.manifest.parameters:
                choices = list(p.choices) if p.choices is not None else [p.default]
                self.params.setdefault(p.name, choices)
        self.notes: list[str] = []
        self._atoms: dict[str, list[Atom]] = {}
        self._ids = 0
        self._interned: dict[tuple[object, ...], Class] = {}
        self._classes: dict[object, list[Class]] = {}
        self.population = self._population_field()

    def _population_field(self) -> str | None:
        """The field whose nodes carry a registered population (`population: int` on the kind),
        first in the case schema: reports weigh situations by it (the practice's list size)."""
        for key, t in self.types.items():
            if is_node(t) and not t.is_set:
                for kind in kinds_of(t):
                    attr = self.lanes[0].graph.schema.attribute(kind, "population")
                    if attr is not None and attr.base == "int" and kind == "practice":
                        return key
        return None

    # -- atoms ---------------------------------------------------------------------------

    def atoms(self, key: str) -> list[Atom]:
        found = self._atoms.get(key)
        if found is None:
            found = self._atoms[key] = self._make_atoms(key)
        return found

    def _make_atoms(self, key: str) -> list[Atom]:
        if key.startswith("params."):
            return [Atom(v, f"{key[7:]}={v}") for v in self.params[key[7:]]]
        t = self.types[key]
        if t.is_set:
            self.notes.append(
                f"field '{key}' holds a set of codes: the space gives it the empty "
                "set and each single code, not every combination"
            )
            codes = self._codes(t)
            return [Atom(frozenset(), "{}"), *(Atom(frozenset([c]), "{" + c + "}") for c in codes)]
        if is_node(t):
            return [Atom(None, "none"), *(Atom(c, c) for c in self._codes(t))]
        values = _representatives(t.base, self._literals(key))
        atoms = [Atom(v, _label(v)) for v in values]
        return [Atom(None, "none"), *atoms]

    def _codes(self, t: Type) -> list[str]:
        kinds = set(kinds_of(t))
        codes: set[str] = set()
        for lane in self.lanes:
            for c, n in lane.graph.nodes.items():
                if (
                    n.kind in kinds
                    and n.valid_from.toordinal() <= self.end
                    and n.valid_to.toordinal() >= self.start
                ):
                    codes.add(c)
        return sorted(codes)

    def _literals(self, key: str) -> list[object]:
        found: list[object] = []
        for lane in self.lanes:
            for step in lane.steps.values():
                for use in step.uses.get(key, ()):
                    if use[0] == "cmp":
                        found.append(use[2])
                    elif use[0] == "in":
                        found.extend(use[1])
                    elif use == IDENTITY and key != "id":
                        note = (
                            f"field '{key}' is used as a value by '{step.name}': the space "
                            "gives it the literals the rules name and one other value"
                        )
                        if note not in self.notes:
                            self.notes.append(note)
        return found

    # -- classes -----------------------------------------------------------------------------

    def classes(
        self,
        key: str,
        within: Class | None,
        uses: Sequence[tuple[int, Use]],
        period: tuple[int, int],
    ) -> list[Class]:
        """The values of `key` (or of the class `within`) on `period` in classes: values that
        every use gives the same answer on every day of the period are one class."""
        memo = (key, within.id if within is not None else None, frozenset(uses), period)
        found = self._classes.get(memo)
        if found is None:
            found = self._classes[memo] = self._split(key, within, uses, period)
        return found

    def _split(
        self,
        key: str,
        within: Class | None,
        uses: Sequence[tuple[int, Use]],
        period: tuple[int, int],
    ) -> list[Class]:
        atoms = list(within.members) if within is not None else self.atoms(key)
        basis = frozenset(uses) | (within.basis if within is not None else frozenset())
        identity = any(u == IDENTITY for _, u in uses) or key.startswith("params.")
        node = key in self.types and is_node(self.types[key])
        groups: dict[object, list[Atom]] = {}
        for atom in atoms:
            if node and not self._alive_in(atom.value, period):
                continue
            sig = (
                atom.value
                if identity
                else tuple(
                    self._observe(lane, use, atom.value, period)
                    for lane, use in sorted(uses, key=repr)
                )
            )
            if node and not identity:
                sig = (
                    sig,
                    tuple(
                        self._validity(lane, atom.value, period) for lane in range(len(self.lanes))
                    ),
                )
            groups.setdefault(_hashable(sig), []).append(atom)
        return [self._intern(key, tuple(g), basis, period) for g in groups.values()]

    def _intern(
        self,
        key: str,
        members: tuple[Atom, ...],
        basis: frozenset[tuple[int, Use]],
        period: tuple[int, int],
    ) -> Class:
        # One value is one class however it was observed, and whenever: only a larger class
        # depends on what its members were found alike in, and over which period.
        ident = (
            (key, tuple(m.value for m in members))
            if len(members) == 1
            else (key, tuple(m.value for m in members), basis, period)
        )
        found = self._interned.get(ident)
        if found is None:
            self._ids += 1
            found = self._interned[ident] = Class(self._ids, members, basis, period)
            if key == self.population:
                found.population = self._population(members)
        return found

    def _population(self, members: tuple[Atom, ...]) -> int | None:
        graph = self.lanes[0].graph
        total = 0
        known = False
        for m in members:
            n = graph.nodes.get(m.value) if isinstance(m.value, str) else None
            size = n.attributes.get("population") if n is not None else None
            if isinstance(size, int):
                total += size
                known = True
        return total if known else None

    def _alive_in(self, value: object, period: tuple[int, int]) -> bool:
        if not isinstance(value, str):
            return True
        for lane in self.lanes:
            n = lane.graph.nodes.get(value)
            if (
                n is not None
                and n.valid_from.toordinal() <= period[1]
                and n.valid_to.toordinal() >= period[0]
            ):
                return True
        return False

    def _validity(self, lane: int, value: object, period: tuple[int, int]) -> object:
        if not isinstance(value, str):
            return None
        n = self.lanes[lane].graph.nodes.get(value)
        if n is None:
            return None
        return _clip(n.valid_from.toordinal(), n.valid_to.toordinal(), period)

    def _observe(self, lane: int, use: Use, value: object, period: tuple[int, int]) -> object:
        """What a use of a field gives for `value`, as a function of the day over `period`."""
        kind = use[0]
        if kind == "none":
            return value is None
        if kind == "cmp":
            _, op, lit, left = use
            try:
                got = compare(op, value, lit) if left else compare(op, lit, value)
            except RuleError:
                return "error"
            return "unknown" if got is UNKNOWN else got
        if kind == "in":
            return (value in use[1]) != use[2]
        if value is None or not isinstance(value, str):
            return None
        graph = self.lanes[lane].graph
        node = graph.nodes.get(value)
        if node is None:
            return None
        if kind == "attr":
            return repr(node.attributes.get(use[1]))
        hop = graph.schema.hop(node.kind, use[1])
        if hop is None:
            return None
        out = []
        for e in graph.index(node.kind, use[1]).all_edges(value):
            piece = _clip(e.valid_from.toordinal(), e.valid_to.toordinal(), period)
            if piece is not None:
                out.append((e.to if hop.forward else e.from_, piece))
        return tuple(sorted(out))


def _clip(first: int, last: int, period: tuple[int, int]) -> tuple[int, int] | None:
    a, b = max(first, period[0]), min(last, period[1])
    return (a, b) if a <= b else None


def _hashable(value: object) -> object:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _representatives(base: str, found: Sequence[object]) -> list[object]:
    """Values that stand for every value of a scalar field, given the literals the rules
    compare it with: each literal, and one value beside and between them."""
    if base == "bool":
        return [False, True]
    if base == "string":
        texts = sorted({v for v in found if isinstance(v, str)})
        other = "other"
        while other in texts:
            other += "-"
        return [*texts, other]
    if base in ("int", "number"):
        nums = sorted({v for v in found if isinstance(v, (int, float)) and not isinstance(v, bool)})
        step = 1 if base == "int" else 0.5
        out = {0} if not nums else {nums[0] - step, nums[-1] + step}
        for v in nums:
            out |= {v, v + step} if base == "int" else {v, v + step, v - step}
        return list(sorted(out))
    if base == "date":
        days = sorted({v for v in found if isinstance(v, dt.date)})
        if not days:
            return [dt.date(2000, 1, 1)]
        out_days = {days[0] - dt.timedelta(days=1)}
        for d in days:
            out_days |= {d, d + dt.timedelta(days=1)}
        return list(sorted(out_days))
    return ["other"]


def _label(value: object) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
