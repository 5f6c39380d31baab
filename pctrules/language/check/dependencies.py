"""Checker pass 7: order decisions after what they use; report cycles."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pctrules.language import ast
from pctrules.language.check.refs import DecisionRef
from pctrules.language.check.state import CheckState, DecisionState, thens_of
from pctrules.language.diagnostics import Code, error

if TYPE_CHECKING:
    pass


# -- pass 7: decision dependencies -------------------------------------------------------------


def _decision_refs(state: CheckState, d: DecisionState) -> Iterator[ast.Name]:
    roots = [d.subject, d.default, *(r.when for r in d.rules)]
    roots += [t for r in d.rules for t in thens_of(r)]
    for root in roots:
        if root is not None:
            for node in ast.walk(root):
                if isinstance(node, ast.Name) and isinstance(state.refs.get(node.nid), DecisionRef):
                    yield node


def check_dependencies(state: CheckState) -> None:
    """Order decisions after what they use; report every cycle at the reference that closes it
    (cycles are found and named with networkx, imported only when there is one)."""
    uses: dict[str, set[str]] = {}
    first_ref: dict[tuple[str, str], ast.Name] = {}
    for d in state.decisions:
        uses.setdefault(d.name, set())
        for ref in _decision_refs(state, d):
            d.depends_on.add(ref.id)
            uses[d.name].add(ref.id)
            first_ref.setdefault((d.name, ref.id), ref)
    position = {d.name: i for i, d in enumerate(state.decisions)}
    order = _dependencies_first(uses, position)
    if order is not None:
        state.order = order
        return
    import networkx as nx

    graph: Any = nx.DiGraph()
    graph.add_nodes_from(uses)
    graph.add_edges_from((a, b) for a, targets in uses.items() for b in targets)
    for cycle in sorted(nx.simple_cycles(graph), key=lambda c: sorted(position[n] for n in c)):
        # Start at the decision written first, so the report does not depend on set order.
        start = min(range(len(cycle)), key=lambda i: position[cycle[i]])
        cycle = cycle[start:] + cycle[:start]
        path = " → ".join([*cycle, cycle[0]])
        ref = first_ref[(cycle[0], cycle[1 % len(cycle)])]
        rule = _rule_of(state, cycle[0], ref)
        state.report(
            error(
                Code.DECISION_CYCLE,
                f"decision '{cycle[0]}' depends on itself: {path}",
                ref.span,
                "a decision may use only decisions that do not use it back; remove one reference",
                rule,
            )
        )
    state.order = [d.name for d in state.decisions]


def _dependencies_first(uses: dict[str, set[str]], position: dict[str, int]) -> list[str] | None:
    """Decisions with what they use first, ties in file order (stable run to run); None when
    there is a cycle. Kahn's algorithm, a heap keyed by file position."""
    waiting = {name: len(targets & uses.keys()) for name, targets in uses.items()}
    used_by: dict[str, list[str]] = {name: [] for name in uses}
    for name, targets in uses.items():
        for t in targets & uses.keys():
            used_by[t].append(name)
    ready = [(position[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for user in used_by[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (position[user], user))
    return order if len(order) == len(uses) else None


def _rule_of(state: CheckState, decision: str, ref: ast.Name) -> str | None:
    for d in state.decisions:
        if d.name != decision:
            continue
        for r in d.rules:
            roots = [r.when, *thens_of(r)]
            if any(root is not None and any(n is ref for n in ast.walk(root)) for root in roots):
                return r.spec.id
    return None
