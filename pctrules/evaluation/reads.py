"""Evaluation stage, shared analysis: what expressions read, and the days on which that changes.

Batch groups rows by it (groups.py: a decision is a function of the fields and decisions it
reads and of the period between such days), and data constraints are checked on each such day
(constraints.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from pctrules.evaluation.protocol import Period, plan_decision
from pctrules.graph.model import OrgGraph
from pctrules.language import ast
from pctrules.language.check.refs import (
    CaseField,
    DecisionRef,
    FunctionRef,
    HopRef,
    KindRef,
    ParamRef,
)
from pctrules.language.check.state import CheckedBundle, CheckedDecision
from pctrules.language.check.types import is_node, kinds_of


def decision_expressions(d: CheckedDecision) -> Iterator[ast.Expr]:
    """Every expression of a decision: its subject, default, and each rule's when and then."""
    return plan_decision(d).expressions()


def decision_reads(checked: CheckedBundle, d: CheckedDecision) -> Reads:
    """What a decision reads, and (`Reads.breakpoints`) the days on which what it can see
    changes: batch groups rows by it, and the audit tools' exhaustive situation space
    (pctrules/audit/space.py) enumerates by it."""
    reads = Reads(checked, [".".join(p) for p, _ in checked.case_schema.leaves()])
    for e in decision_expressions(d):
        reads.add(e)
    return reads


class Reads:
    """What expressions read: case fields, parameters, decisions, relations (and which way each
    hop goes), and the kinds of every node value they handle (whose days alive bound what
    `attr`, `exists` and kind sets give)."""

    def __init__(self, checked: CheckedBundle, leaves: Iterable[str] = ()) -> None:
        self.checked = checked
        self.leaves = list(leaves)
        self.fields: set[str] = set()
        self.params: set[str] = set()
        self.decisions: set[str] = set()
        self.relations: set[str] = set()
        self.hops: set[tuple[str, bool]] = set()  # (relation, forward)
        self.kinds: set[str] = set()
        self.every_relation = False

    def add(self, expr: ast.Expr) -> None:
        for node in ast.walk(expr):
            t = self.checked.type_of(node)
            if t is not None and is_node(t):
                self.kinds.update(kinds_of(t))
            ref = self.checked.ref(node)
            if isinstance(ref, CaseField):
                key = ".".join(ref.path)
                # A group of fields (`case.person`) reads every field under it.
                self.fields.update(k for k in self.leaves if k == key or k.startswith(key + "."))
            elif isinstance(ref, DecisionRef):
                self.decisions.add(ref.name)
            elif isinstance(ref, ParamRef):
                self.params.add(ref.name)
            elif isinstance(ref, HopRef):
                self.relations.update(ref.relation.split("|"))
                self.hops.update((r, ref.forward) for r in ref.relation.split("|"))
            elif isinstance(ref, KindRef):
                self.kinds.add(ref.kind)
            elif isinstance(ref, FunctionRef) and ref.name == "within":
                self.every_relation = True  # it walks every containment relation

    def breakpoints(self, graph: OrgGraph, periods: Iterable[Period] = ()) -> list[int]:
        """The first day (ordinal) of every period in which nothing the expressions can see in
        the graph changes, nor being inside any of `periods` (effective ranges)."""
        relations = graph.schema.relations
        for name in relations if self.every_relation else self.relations:
            self.kinds.update(relations[name].from_kinds + relations[name].to_kinds)
        days: set[int] = set()
        for n in graph.nodes.values():
            if n.kind in self.kinds:
                days.update(_bounds(n.valid_from, n.valid_to))
        for e in graph.edges:
            if self.every_relation or e.rel in self.relations:
                days.update(_bounds(e.valid_from, e.valid_to))
        for period in periods:
            days.update(period.bounds())
        return sorted(days)


def _bounds(first: dt.date | None, last: dt.date | None) -> Iterable[int]:
    """The days on which a validity `first`..`last` (inclusive) starts and stops holding."""
    if first is not None and first != dt.date.min:
        yield first.toordinal()
    if last is not None and last != dt.date.max:
        yield last.toordinal() + 1
