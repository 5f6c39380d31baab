"""Audit stage, counting: situations, dates, practices and population over an exploration.

For each decision and outcome (or old → new pair) of a walk (explore.py): how many situations
(paths from the root to a leaf through the nodes where it was decided), on which days (each
node's days are those its paths cover, so a shared node counts only what leads to it), which
practices and their registered population (each practice once), and example situations.
`locate` follows one case down the walk: tests hold it to the engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pctrules.audit.explore import Explorer, Record, Tree
from pctrules.audit.space import Class


@dataclass
class Tally:
    """The situations in which a decision gave one outcome (or one old → new pair)."""

    situations: int = 0
    days: list[tuple[int, int]] = field(default_factory=list)
    members: set[object] | None = field(default_factory=set)  # None: every practice
    examples: list[int] = field(default_factory=list)  # nodes

    def add(self, w: Weights, node: int, situations: int) -> None:
        self.situations += situations
        self.days.extend(w.cover[node])
        got = w.members[node]
        if self.members is not None:
            self.members = None if got is None else self.members | got
        if len(self.examples) < EXAMPLES:
            self.examples.append(node)


EXAMPLES = 3


@dataclass
class Weights:
    """Per node: the situations below it (leaves), the paths to it, the days its paths cover,
    and the practices they hold (None: the practice was not read on some path: any)."""

    leaves: list[int]
    paths: list[int]
    cover: list[list[tuple[int, int]]]
    members: list[frozenset[object] | None]


def weigh(explorer: Explorer) -> Weights:
    tree = explorer.tree
    n = len(tree)
    leaves = _leaves(tree)
    paths = [0] * n
    paths[explorer.root] = 1
    cover: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    cover[explorer.root] = [tree.period[explorer.root]]
    members: list[frozenset[object] | None] = [None] * n
    reached = [False] * n
    reached[explorer.root] = True
    population = explorer.fields.population
    for node in reversed(tree.finished):
        p = paths[node]
        mine = members[node]
        spans = merge_days(cover[node])
        cover[node] = spans
        whole = spans[0] if len(spans) == 1 else None
        for child, assigned in tree.children[node]:
            paths[child] += p
            a, b = period = tree.period[child]
            if whole is not None and whole[0] <= a and b <= whole[1]:
                cover[child].append(period)  # the usual case: the child's period, whole
            else:
                for x, y in spans:
                    if x <= b and a <= y:
                        cover[child].append((x if x > a else a, y if y < b else b))
            theirs = mine
            if assigned is not None and assigned[0] == population:
                theirs = frozenset(m.value for m in assigned[1].members)
            if not reached[child]:
                members[child] = theirs
                reached[child] = True
            else:
                held = members[child]
                members[child] = None if held is None or theirs is None else held | theirs
    return Weights(leaves, paths, cover, members)


def tally(explorer: Explorer, w: Weights | None = None) -> dict[tuple[str, Record], Tally]:
    """For each (decision, outcome or pair): its situations, dates, practices and examples."""
    w = w or weigh(explorer)
    tree = explorer.tree
    out: dict[tuple[str, Record], Tally] = {}
    for node in range(len(tree)):
        for j, record in tree.records[node]:
            key = (explorer.steps[j].name, record)
            t = out.get(key)
            if t is None:
                t = out[key] = Tally()
            t.add(w, node, w.paths[node] * w.leaves[node])
    for t in out.values():
        t.days = merge_days(t.days)
    return out


def _leaves(tree: Tree) -> list[int]:
    leaves = [0] * len(tree)
    for node in tree.finished:
        leaves[node] = 1 if tree.leaf[node] else sum(leaves[c] for c, _ in tree.children[node])
    return leaves


def merge_days(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Periods (first and last day ordinals) as few as cover the same days."""
    if len(spans) <= 1:
        return list(spans)
    spans = sorted(spans)
    out = [spans[0]]
    for a, b in spans[1:]:
        x, y = out[-1]
        if a <= y + 1:
            if b > y:
                out[-1] = (x, b)
        else:
            out.append((a, b))
    return out


def situation(explorer: Explorer, node: int) -> dict[str, Any]:
    """An example situation: the field classes on the way to `node`, and its period."""
    tree = explorer.tree
    fields: dict[str, Class] = {}
    s, e = tree.period[node]
    at = node
    while at >= 0:  # back along the first parents: their periods narrow the example's
        a = tree.assigned[at]
        if a is not None and a[0] not in fields:
            fields[a[0]] = a[1]
        s, e = max(s, tree.period[at][0]), min(e, tree.period[at][1])
        at = tree.parent[at]
    return {"fields": fields, "from": dt.date.fromordinal(s), "to": dt.date.fromordinal(e)}


def situations(explorer: Explorer) -> int:
    """How many situations the walk holds (paths from the root to a leaf)."""
    return _leaves(explorer.tree)[explorer.root]


def days_text(spans: Sequence[tuple[int, int]], limit: int = 3) -> str:
    """Periods as reports show them: `2006-10-01–2013-03-31, …`."""
    shown = [
        f"{dt.date.fromordinal(a).isoformat()}–{dt.date.fromordinal(b).isoformat()}"
        for a, b in spans[:limit]
    ]
    more = len(spans) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def locate(
    explorer: Explorer,
    values: Mapping[str, object],
    day: dt.date,
) -> list[tuple[str, Record]] | None:
    """The records on the path of one situation: the case's field values (and `params.<name>`
    values) on `day`. None when the walk holds no such situation (a code not in the data on
    that day). For tests: the walk must say what the engine says for every case."""
    tree = explorer.tree
    ordinal = day.toordinal()
    node = explorer.root
    found: list[tuple[str, Record]] = []
    while True:
        found += [(explorer.steps[j].name, r) for j, r in tree.records[node]]
        if tree.leaf[node]:
            return found
        chosen = None
        for child, assigned in tree.children[node]:
            if assigned is not None:
                key, c = assigned
                if any(
                    m.value == values.get(key) and type(m.value) is type(values.get(key))
                    for m in c.members
                ):
                    chosen = child
                    break
            elif tree.period[child][0] <= ordinal <= tree.period[child][1]:
                chosen = child
                break
        if chosen is None:
            return None
        node = chosen
