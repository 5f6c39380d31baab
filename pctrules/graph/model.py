"""Graph stage: the organisation graph (networkx underneath), effective-dated, indexed by date."""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pctrules.language.diagnostics import Diagnostics
from pctrules.language.schema import Hop, OrgSchema

if TYPE_CHECKING:
    # imported only when a command asks for the networkx graph: its import is a large part
    # of a start-up (benchmarks/README.md, "Start-up")
    import networkx as nx


OPEN_FROM = dt.date.min
OPEN_TO = dt.date.max
EMPTY: frozenset[str] = frozenset()

# Node-table columns that are not attributes or relations.
NODE_COLUMNS = ("code", "name", "valid_from", "valid_to", "source")
EDGE_COLUMNS = ("from", "to", "relation", "valid_from", "valid_to", "source")


@dataclass(frozen=True, slots=True)
class EdgeEvidence:
    """One graph edge as a trace shows it: which organisations, which relation, valid when, from
    which data row."""

    from_: str
    rel: str
    to: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    source: str

    def to_dict(self) -> dict[str, object]:
        return {
            "from": self.from_,
            "rel": self.rel,
            "to": self.to,
            "valid": [_iso(self.valid_from), _iso(self.valid_to)],
            "source": self.source,
        }


@dataclass(slots=True)
class Node:
    """An organisation: its code, kind, name, validity (inclusive) and attributes."""

    code: str
    kind: str
    name: str | None
    valid_from: dt.date
    valid_to: dt.date
    attributes: dict[str, object]
    source: str

    def alive(self, on: dt.date) -> bool:
        return self.valid_from <= on <= self.valid_to


@dataclass(frozen=True, slots=True)
class Edge:
    """A relation between two organisations, valid from/to (inclusive), with where it came from."""

    from_: str
    rel: str
    to: str
    valid_from: dt.date
    valid_to: dt.date
    source: str
    attributes: Mapping[str, object] | None = None

    @property
    def evidence(self) -> EdgeEvidence:
        return EdgeEvidence(
            self.from_,
            self.rel,
            self.to,
            None if self.valid_from == OPEN_FROM else self.valid_from,
            None if self.valid_to == OPEN_TO else self.valid_to,
            self.source,
        )


def _iso(d: dt.date | None) -> str | None:
    return None if d is None else d.isoformat()


def day_text(d: dt.date) -> str:
    return "…" if d in (OPEN_FROM, OPEN_TO) else d.isoformat()


def valid_text(a: dt.date, b: dt.date) -> str:
    return f"{day_text(a)} → {day_text(b)}"


_VALIDITY_AND_TARGET = operator.itemgetter(0, 1, 2)


class TemporalIndex:
    """The hop `kind.name` as a lookup: code → target(s) on a date, without searching the graph.

    A `one` hop is a dict lookup plus an interval check when the code has a single interval (the
    usual case), and a bisect over sorted starts when it has several; a set hop keeps, per code,
    the dates where its set changes and the frozenset for each segment, built on first use.
    """

    __slots__ = ("_edges", "_multi", "_segments", "_single", "hop", "kind", "name")

    def __init__(self, kind: str, name: str, hop: Hop, entries: Iterable[tuple[str, str, Edge]]):
        self.kind = kind
        self.name = name
        self.hop = hop
        by_code: dict[str, list[tuple[dt.date, dt.date, str, Edge]]] = defaultdict(list)
        for key, target, edge in entries:
            by_code[key].append((edge.valid_from, edge.valid_to, target, edge))
        self._edges: dict[str, list[tuple[dt.date, dt.date, str, Edge]]] = {}
        self._single: dict[str, tuple[dt.date, dt.date, str]] = {}
        self._multi: dict[str, tuple[list[dt.date], list[tuple[dt.date, dt.date, str]]]] = {}
        self._segments: dict[str, tuple[list[dt.date], list[frozenset[str]]]] = {}
        for key, items in by_code.items():
            items.sort(key=_VALIDITY_AND_TARGET)
            self._edges[key] = items
            if hop.one:
                if len(items) == 1:
                    self._single[key] = items[0][:3]
                else:
                    self._multi[key] = ([e[0] for e in items], [e[:3] for e in items])

    def one(self, code: str, on: dt.date) -> str | None:
        """The target of a `one` hop on `on`, or None."""
        e = self._single.get(code)
        if e is not None:
            return e[2] if e[0] <= on <= e[1] else None
        m = self._multi.get(code)
        if m is None:
            return None
        i = bisect_right(m[0], on) - 1
        if i >= 0:
            entry = m[1][i]
            if on <= entry[1]:
                return entry[2]
        return None

    def many(self, code: str, on: dt.date) -> frozenset[str]:
        """The targets of the hop on `on` (for a `one` hop, a set of at most one)."""
        seg = self._segments.get(code)
        if seg is None:
            items = self._edges.get(code)
            if items is None:
                return EMPTY
            seg = self._segments[code] = _segment(items)
        starts, sets = seg
        i = bisect_right(starts, on) - 1
        return sets[i] if i >= 0 else EMPTY

    def edges(self, code: str, on: dt.date) -> list[EdgeEvidence]:
        """The edges the hop uses from `code` on `on`, as evidence for traces."""
        return [e[3].evidence for e in self._edges.get(code, ()) if e[0] <= on <= e[1]]

    def all_edges(self, code: str) -> list[Edge]:
        """Every edge of the hop from `code`, whatever its dates."""
        return [e[3] for e in self._edges.get(code, ())]

    def keys(self) -> Iterable[str]:
        return self._edges.keys()


def _segment(
    items: list[tuple[dt.date, dt.date, str, Edge]],
) -> tuple[list[dt.date], list[frozenset[str]]]:
    """Cut time at every start and every day after an end; one frozenset per piece."""
    points = {OPEN_FROM}
    for vf, vt, _, _ in items:
        points.add(vf)
        if vt != OPEN_TO:
            points.add(vt + dt.timedelta(days=1))
    starts = sorted(points)
    sets = [frozenset(t for vf, vt, t, _ in items if vf <= s <= vt) for s in starts]
    return starts, sets


class OrgGraph:
    """Organisations and their relations over time, validated against an OrgSchema.

    Compiled decisions call the lookups below, never networkx: `follow_one`, `follow_many`,
    `index(kind, hop).one/many`, `attr`, `exists`, `nodes_of_kind`, `within`, `edges_used`.
    """

    def __init__(self, schema: OrgSchema) -> None:
        self.schema = schema
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self.diagnostics = Diagnostics()
        self.sources: list[tuple[str, str]] = []  # (description, sha256) of every file read
        self._indexes: dict[tuple[str, str], TemporalIndex] = {}
        self._by_kind: dict[str, list[str]] = defaultdict(list)
        self._kind_cache: dict[tuple[str, dt.date], frozenset[str]] = {}
        self._nx: nx.MultiDiGraph | None = None
        self._digest: str | None = None

    # -- lookups ---------------------------------------------------------------------------

    def kind(self, code: str) -> str | None:
        n = self.nodes.get(code)
        return n.kind if n else None

    def name(self, code: str) -> str | None:
        n = self.nodes.get(code)
        return n.name if n else None

    def node(self, code: str) -> Node | None:
        return self.nodes.get(code)

    def exists(self, code: str, on: dt.date) -> bool:
        n = self.nodes.get(code)
        return n is not None and n.valid_from <= on <= n.valid_to

    def attr(self, code: str, name: str, on: dt.date) -> object | None:
        """An attribute of a node alive on `on` (None when absent or the node is not alive)."""
        n = self.nodes.get(code)
        if n is None or not n.valid_from <= on <= n.valid_to:
            return None
        return n.attributes.get(name)

    def index(self, kind: str, hop_name: str) -> TemporalIndex:
        """The lookup for hop `kind.hop_name`, built on first use; KeyError if not in the schema."""
        key = (kind, hop_name)
        idx = self._indexes.get(key)
        if idx is None:
            hop = self.schema.hop(kind, hop_name)
            if hop is None:
                raise KeyError(f"no hop '{hop_name}' on {kind}")
            idx = self._indexes[key] = self._build_index(kind, hop_name, hop)
        return idx

    def _build_index(self, kind: str, hop_name: str, hop: Hop) -> TemporalIndex:
        entries: list[tuple[str, str, Edge]] = []
        nodes = self.nodes
        for e in self.edges:
            if e.rel != hop.relation:
                continue
            key, target = (e.from_, e.to) if hop.forward else (e.to, e.from_)
            if nodes[key].kind == kind:
                entries.append((key, target, e))
        return TemporalIndex(kind, hop_name, hop, entries)

    def follow_one(self, code: str, hop_name: str, on: dt.date) -> str | None:
        kind = self.kind(code)
        return None if kind is None else self.index(kind, hop_name).one(code, on)

    def follow_many(self, code: str, hop_name: str, on: dt.date) -> frozenset[str]:
        kind = self.kind(code)
        return EMPTY if kind is None else self.index(kind, hop_name).many(code, on)

    def edges_used(self, code: str, hop_name: str, on: dt.date) -> list[EdgeEvidence]:
        kind = self.kind(code)
        return [] if kind is None else self.index(kind, hop_name).edges(code, on)

    def nodes_of_kind(self, kind: str, on: dt.date) -> frozenset[str]:
        key = (kind, on)
        found = self._kind_cache.get(key)
        if found is None:
            nodes = self.nodes
            found = frozenset(c for c in self._by_kind.get(kind, ()) if nodes[c].alive(on))
            if len(self._kind_cache) > 256:  # as-of views are per date; keep the recent ones
                self._kind_cache.clear()
            self._kind_cache[key] = found
        return found

    def within(self, x: str, y: str, on: dt.date) -> bool:
        """Whether `x` reaches `y` through containment relations (forward) valid on `on`."""
        if x == y:
            return self.exists(x, on)
        seen = {x}
        frontier = [x]
        while frontier:
            nxt: list[str] = []
            for code in frontier:
                kind = self.kind(code)
                if kind is None:
                    continue
                for hop_name, hop in self.schema.hops(kind).items():
                    rel = self.schema.relations[hop.relation]
                    if not (hop.forward and rel.containment):
                        continue
                    for t in self.index(kind, hop_name).many(code, on):
                        if t == y:
                            return True
                        if t not in seen:
                            seen.add(t)
                            nxt.append(t)
            frontier = nxt
        return False

    def loaded(self, kind: str) -> bool:
        """Whether data of a kind is loaded: it has nodes, and when the kind is a register
        (`register: {relation: …}` in the schema) edges of that relation too (practices known
        only from a list-size table, without their memberships, cannot be placed)."""
        if not self._by_kind.get(kind):
            return False
        kd = self.schema.kinds.get(kind)
        relation = kd.register.relation if kd is not None and kd.register is not None else None
        return relation is None or any(e.rel == relation for e in self.edges)

    def unavailable_kinds(self) -> frozenset[str]:
        """Kinds whose data is not loaded: a case field naming one cannot be read by a rule
        (DESIGN §11), e.g. a practice when no practice register was imported."""
        return frozenset(k for k in self.schema.kinds if not self.loaded(k))

    @property
    def digest(self) -> str:
        """sha256 over every table read (bundle facts and imported tables), in load order."""
        if self._digest is None:
            h = hashlib.sha256()
            for what, sha in self.sources:
                h.update(f"{what}\0{sha}\n".encode())
            self._digest = "sha256:" + h.hexdigest()
        return self._digest

    # -- networkx views ----------------------------------------------------------------------

    @property
    def networkx(self) -> nx.MultiDiGraph:
        """The whole graph as a networkx MultiDiGraph (edges keyed by relation name)."""
        if self._nx is None:
            import networkx as nx

            g = nx.MultiDiGraph()
            g.add_nodes_from(
                (
                    n.code,
                    {
                        "kind": n.kind,
                        "name": n.name,
                        "valid_from": n.valid_from,
                        "valid_to": n.valid_to,
                        **n.attributes,
                    },
                )
                for n in self.nodes.values()
            )
            g.add_edges_from(
                (
                    e.from_,
                    e.to,
                    e.rel,
                    {
                        "relation": e.rel,
                        "valid_from": e.valid_from,
                        "valid_to": e.valid_to,
                        "source": e.source,
                        **(e.attributes or {}),
                    },
                )
                for e in self.edges
            )
            self._nx = g
        return self._nx

    def view(self, on: dt.date) -> nx.MultiDiGraph:
        """The graph as it stood on `on`: a read-only networkx view of live nodes and edges."""
        g = self.networkx
        nodes = self.nodes

        def node_ok(code: str) -> bool:
            return nodes[code].alive(on)

        def edge_ok(u: str, v: str, k: str) -> bool:
            d = g.edges[u, v, k]
            return bool(d["valid_from"] <= on <= d["valid_to"])

        import networkx as nx

        return nx.subgraph_view(g, filter_node=node_ok, filter_edge=edge_ok)

    def summary(self, on: dt.date) -> dict[str, dict[str, int]]:
        """Counts of live nodes by kind and of live edges by relation on `on`."""
        kinds = {k: len(self.nodes_of_kind(k, on)) for k in self.schema.kinds}
        rels: dict[str, int] = dict.fromkeys(self.schema.relations, 0)
        for e in self.edges:
            if e.valid_from <= on <= e.valid_to:
                rels[e.rel] += 1
        return {"kinds": kinds, "relations": rels}

    def neighbourhood(self, code: str, depth: int, on: dt.date) -> list[tuple[int, Edge, bool]]:
        """Edges within `depth` hops of `code` on `on`, breadth first: (depth, edge, forward)."""
        by_node: dict[str, list[Edge]] = defaultdict(list)
        for e in self.edges:
            if e.valid_from <= on <= e.valid_to:
                by_node[e.from_].append(e)
                by_node[e.to].append(e)
        out: list[tuple[int, Edge, bool]] = []
        seen = {code}
        frontier = [code]
        for level in range(1, depth + 1):
            nxt: list[str] = []
            for c in frontier:
                for e in sorted(by_node.get(c, ()), key=lambda e: (e.rel, e.from_, e.to)):
                    other = e.to if e.from_ == c else e.from_
                    if other in seen:
                        continue
                    seen.add(other)
                    nxt.append(other)
                    out.append((level, e, e.from_ == c))
            frontier = nxt
        return out


def quoted_codes(codes: Iterable[str]) -> str:
    return ", ".join(f"'{c}'" for c in sorted(codes))
