"""Graph stage: the organisation graph (networkx underneath), effective-dated, indexed by date."""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
import tempfile
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pctrules.diagnostics import (
    Diagnostic,
    Diagnostics,
    PctrulesError,
    did_you_mean,
    error,
    warning,
)
from pctrules.importers.tables import (
    MANIFEST,
    Table,
    TableError,
    manifest_tables,
    read_manifest,
    read_table,
)
from pctrules.loader import Manifest, load_manifest, path_label
from pctrules.schema import Hop, OrgSchema, RelationDef, Type
from pctrules.source import SourceFile, Span

if TYPE_CHECKING:
    import networkx as nx  # imported when a command asks for the networkx graph (~60 ms)

OPEN_FROM = dt.date.min
OPEN_TO = dt.date.max
EMPTY: frozenset[str] = frozenset()

# Node-table columns that are not attributes or relations.
_NODE_COLUMNS = ("code", "name", "valid_from", "valid_to", "source")
_EDGE_COLUMNS = ("from", "to", "relation", "valid_from", "valid_to", "source")


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
            "from": self.from_, "rel": self.rel, "to": self.to,
            "valid": [_iso(self.valid_from), _iso(self.valid_to)], "source": self.source,
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
            self.from_, self.rel, self.to,
            None if self.valid_from == OPEN_FROM else self.valid_from,
            None if self.valid_to == OPEN_TO else self.valid_to, self.source)


def _iso(d: dt.date | None) -> str | None:
    return None if d is None else d.isoformat()


def _day(d: dt.date) -> str:
    return "…" if d in (OPEN_FROM, OPEN_TO) else d.isoformat()


def _valid_text(a: dt.date, b: dt.date) -> str:
    return f"{_day(a)} → {_day(b)}"


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
        self._has_register = False

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

    @property
    def has_register(self) -> bool:
        """Whether any practice memberships (practice → PCT edges) are loaded."""
        return self._has_register

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
                (n.code, {"kind": n.kind, "name": n.name, "valid_from": n.valid_from,
                          "valid_to": n.valid_to, **n.attributes})
                for n in self.nodes.values())
            g.add_edges_from(
                (e.from_, e.to, e.rel, {"relation": e.rel, "valid_from": e.valid_from,
                                        "valid_to": e.valid_to, "source": e.source,
                                        **(e.attributes or {})})
                for e in self.edges)
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

    # -- constraints (DESIGN §3.1) ---------------------------------------------------------

    def check_constraints(self) -> Diagnostics:
        """The PCT era's integrity rules; each violation names the nodes and dates involved."""
        out = Diagnostics()
        out.extend(self._pct_under_one_sha())
        out.extend(self._scg_members_are_sha_pcts())
        # "at most one PCT per practice" and "at most one lead per cluster" are the cardinalities
        # `one` / `inverse_one` of the schema, checked (and enforced) as the data loads.
        return out

    def _pct_under_one_sha(self) -> Iterator[Diagnostic]:
        if self.schema.hop("pct", "sha") is None:
            return
        idx = self.index("pct", "sha")
        starts = [e.valid_from for e in self.edges if e.rel == idx.hop.relation]
        if not starts:
            return
        # Checked from the start of the SHA map the data describes; earlier PCTs belonged to the
        # 28 SHAs (2002–2006), which the bundle does not carry.
        era = min(starts)
        for code in sorted(self._by_kind.get("pct", ())):
            n = self.nodes[code]
            start = max(n.valid_from, era)
            if start > n.valid_to:
                continue
            day = start
            for e in sorted(idx.all_edges(code), key=lambda e: e.valid_from):
                if e.valid_to < day:
                    continue
                if e.valid_from > day:
                    yield _constraint(f"pct '{code}' is under no SHA from {day} to "
                                      f"{e.valid_from - dt.timedelta(days=1)}", "pct-one-sha")
                if e.valid_to >= n.valid_to:
                    day = n.valid_to + dt.timedelta(days=1)
                    break
                day = e.valid_to + dt.timedelta(days=1)
            if day <= n.valid_to:
                yield _constraint(f"pct '{code}' is under no SHA from {day} to "
                                  f"{_day(n.valid_to)}", "pct-one-sha")

    def _scg_members_are_sha_pcts(self) -> Iterator[Diagnostic]:
        needed = (("scg", "members"), ("scg", "sha"), ("sha", "pcts"))
        if any(self.schema.hop(k, h) is None for k, h in needed):
            return
        members, scg_sha, sha_pcts = (self.index(k, h) for k, h in needed)
        for scg in sorted(self._by_kind.get("scg", ())):
            n = self.nodes[scg]
            # The sets can only change where some edge starts or ends: check those days.
            days = {n.valid_from}
            for idx, code in ((members, scg), (scg_sha, scg)):
                for e in idx.all_edges(code):
                    days.update((e.valid_from, e.valid_to + dt.timedelta(days=1)
                                 if e.valid_to != OPEN_TO else e.valid_to))
            for region in {e.to for e in scg_sha.all_edges(scg)}:
                for e in sha_pcts.all_edges(region):
                    days.update((e.valid_from, e.valid_to + dt.timedelta(days=1)
                                 if e.valid_to != OPEN_TO else e.valid_to))
            reported: set[tuple[str, frozenset[str], frozenset[str]]] = set()
            for day in sorted(d for d in days if n.alive(d)):
                sha = scg_sha.one(scg, day)
                if sha is None:
                    continue
                have, want = members.many(scg, day), sha_pcts.many(sha, day)
                if have != want:
                    key = (sha, have - want, want - have)
                    if key in reported:
                        continue
                    reported.add(key)
                    parts = []
                    if want - have:
                        parts.append(f"lacks {_codes(want - have)}")
                    if have - want:
                        parts.append(f"has {_codes(have - want)}, not of that SHA")
                    yield _constraint(
                        f"scg '{scg}' on {day} {' and '.join(parts)}: its members must be "
                        f"exactly the PCTs of SHA '{sha}'", "scg-members")


def _codes(codes: Iterable[str]) -> str:
    return ", ".join(f"'{c}'" for c in sorted(codes))


def _constraint(message: str, rule: str) -> Diagnostic:
    return error("E-constraint", message, None, None, rule)


# -- loading -------------------------------------------------------------------------------


class _At(NamedTuple):
    """Where a cell of a data table is. Made for every row read (node rows and pending edges
    keep one), so it is a plain tuple: a diagnostic's Span is made only when there is something
    to report."""

    source: SourceFile
    line: int
    column: int

    def span(self) -> Span:
        return Span(self.source, self.line, self.column, self.line, self.column + 1)


@dataclass
class _PendingEdge:
    from_: str
    rel: str
    to: str
    valid_from: dt.date
    valid_to: dt.date
    source: str
    span: _At
    attributes: dict[str, object] | None
    order: int
    clip: bool = False


class _Builder:
    """Reads node and edge tables into an OrgGraph, reporting every bad row and keeping the rest."""

    def __init__(self, schema: OrgSchema) -> None:
        self.g = OrgGraph(schema)
        self.schema = schema
        self.diag = self.g.diagnostics
        self.pending: list[_PendingEdge] = []
        self.node_spans: dict[str, _At] = {}
        self._dates: dict[str, dt.date] = {}

    # errors name file, row, column and value
    def _err(self, at: _At, message: str, help: str | None = None) -> None:
        self.diag.add(error("E-data", message, at.span(), help))

    def _date(self, text: str, column: str, default: dt.date, source: SourceFile, line: int,
              col: int) -> dt.date | None:
        if not text:
            return default
        d = self._dates.get(text)
        if d is None:
            try:
                d = dt.date.fromisoformat(text)
            except ValueError:
                self._err(_At(source, line, col), f"'{text}' in column '{column}' is not a date",
                          "write dates as YYYY-MM-DD, e.g. 2011-04-01")
                return None
            self._dates[text] = d
        return d

    def _value(self, text: str, t: Type, column: str, source: SourceFile, line: int,
               col: int) -> tuple[bool, object]:
        if text == "":
            return True, None
        try:
            if t.base == "string" or t.is_node:
                return True, text
            if t.base == "int":
                return True, int(text)
            if t.base == "number":
                return True, float(text)
            if t.base == "date":
                return True, dt.date.fromisoformat(text)
            if t.base == "bool" and text.lower() in ("true", "false", "1", "0", "yes", "no"):
                return True, text.lower() in ("true", "1", "yes")
        except ValueError:
            pass
        self._err(_At(source, line, col), f"'{text}' in column '{column}' is not a {t.base}")
        return False, None

    def load_table(self, table: Table, entry: Mapping[str, Any], label: str) -> None:
        self.g.sources.append((label, table.sha256))
        source = SourceFile(label, table.text)
        if "kind" in entry:
            self._node_table(table, str(entry["kind"]), source, bool(entry.get("merge")))
        else:
            self._edge_table(table, entry.get("relation"), source, bool(entry.get("clip")))

    def _at(self, source: SourceFile, line: int, col: int) -> _At:
        return _At(source, line, col)

    def _columns(self, table: Table, source: SourceFile, required: tuple[str, ...]) -> bool:
        missing = [c for c in required if c not in table.header]
        if missing:
            self._err(self._at(source, 1, 1),
                      f"the table has no column {_codes(missing)}",
                      f"its header is {_codes(table.header)}; see docs/data-tables.md")
            return False
        return True

    def _node_table(self, table: Table, kind: str, source: SourceFile, merge: bool) -> None:
        kd = self.schema.kinds.get(kind)
        if kd is None:
            self._err(self._at(source, 1, 1), f"unknown kind '{kind}' for this table",
                      did_you_mean(kind, self.schema.kinds))
            return
        if not self._columns(table, source, ("code",)):
            return
        col = {h: i for i, h in enumerate(table.header)}
        hops = self.schema.hops(kind)
        attrs: list[tuple[str, int, Type]] = []
        rels: list[tuple[str, int]] = []
        for h, i in col.items():
            if h in _NODE_COLUMNS:
                continue
            if h in kd.attributes:
                attrs.append((h, i, kd.attributes[h]))
            elif h in self.schema.relations and kind in self.schema.relations[h].from_kinds:
                rels.append((h, i))
            else:
                hop = hops.get(h)
                if hop is not None and hop.forward:
                    rels.append((hop.relation, i))
                else:
                    self._err(self._at(source, 1, i + 1),
                              f"unknown column '{h}': not an attribute or relation of {kind}",
                              did_you_mean(h, [*kd.attributes, *hops]))
        ci, ni = col["code"], col.get("name")
        fi, ti, si = col.get("valid_from"), col.get("valid_to"), col.get("source")
        width = len(table.header)
        seen: dict[str, int] = {}
        unknown: list[str] = []
        nodes = self.g.nodes
        for line, row in table.rows:
            if len(row) < width:
                self._err(self._at(source, line, len(row) + 1),
                          f"the row has {len(row)} fields, the header {width}")
                continue
            code = row[ci].strip()
            if not code:
                self._err(self._at(source, line, ci + 1), "the row has no 'code'")
                continue
            if code in seen:
                self._err(self._at(source, line, ci + 1),
                          f"duplicate code '{code}', first on row {seen[code]}")
                continue
            seen[code] = line
            vf = self._date(row[fi], "valid_from", OPEN_FROM, source, line,
                            fi + 1) if fi is not None else OPEN_FROM
            vt = self._date(row[ti], "valid_to", OPEN_TO, source, line,
                            ti + 1) if ti is not None else OPEN_TO
            if vf is None or vt is None:
                continue
            if vf > vt:
                self._err(self._at(source, line, (fi or 0) + 1),
                          f"'{code}' is valid from {vf} to {vt}: the dates are inverted")
                continue
            values: dict[str, object] = {}
            ok = True
            for attr, i, t in attrs:
                good, v = self._value(row[i].strip(), t, attr, source, line, i + 1)
                ok = ok and good
                if v is not None:
                    values[attr] = v
            if not ok:
                continue
            origin = row[si] if si is not None and row[si] else f"{source.path}:{line}"
            name = (row[ni].strip() or None) if ni is not None else None
            span = self._at(source, line, ci + 1)
            existing = nodes.get(code)
            if existing is None:
                if merge:
                    unknown.append(code)
                    continue
                # Stated dates only: rows that leave them open (merge tables) never widen a node.
                nodes[code] = Node(code, kind, name, vf, vt, values, origin)
                self.g._by_kind[kind].append(code)
                self.node_spans[code] = span
            elif existing.kind != kind:
                self._err(span, f"code '{code}' is a {kind} here but already a "
                          f"{existing.kind} (from {existing.source})")
                continue
            else:
                if existing.name is None:
                    existing.name = name
                if fi is not None and row[fi]:
                    existing.valid_from = min(existing.valid_from, vf)
                if ti is not None and (row[ti] or not merge):
                    existing.valid_to = max(existing.valid_to, vt)
                for k, v in values.items():
                    existing.attributes.setdefault(k, v)
            for rel, i in rels:
                target = row[i].strip()
                if target:
                    self._add_edge(code, rel, target, vf, vt, origin,
                                   self._at(source, line, i + 1), None)
        if unknown:
            # Expected for a register of another date (e.g. practices opened after 2013): one
            # warning, not thousands.
            self.diag.add(warning(
                "W-data", f"{len(unknown)} rows name a {kind} that no table defines, e.g. "
                f"{_codes(unknown[:3])}; they are not used", self._at(source, 1, ci + 1).span()))

    def _edge_table(self, table: Table, relation: object, source: SourceFile, clip: bool) -> None:
        required = ("from", "to") if relation else ("from", "to", "relation")
        if not self._columns(table, source, required):
            return
        col = {h: i for i, h in enumerate(table.header)}
        fixed = str(relation) if relation else None
        if fixed is not None and fixed not in self.schema.relations:
            self._err(self._at(source, 1, 1), f"unknown relation '{fixed}' for this table",
                      did_you_mean(fixed, self.schema.relations))
            return
        extra = [(h, i) for h, i in col.items() if h not in _EDGE_COLUMNS]
        if fixed is not None:
            # Columns a fixed relation does not have are reported once, at the header.
            known = self.schema.relations[fixed].attributes
            for h, i in extra:
                if h not in known:
                    self._err(self._at(source, 1, i + 1), f"unknown column '{h}': not an "
                              f"attribute of relation '{fixed}'", did_you_mean(h, known))
            extra = [(h, i) for h, i in extra if h in known]
        a, b, ri = col["from"], col["to"], col.get("relation")
        fi, ti, si = col.get("valid_from"), col.get("valid_to"), col.get("source")
        width = len(table.header)
        for line, row in table.rows:
            if len(row) < width:
                self._err(self._at(source, line, len(row) + 1),
                          f"the row has {len(row)} fields, the header {width}")
                continue
            rel = fixed if fixed is not None else row[ri].strip() if ri is not None else ""
            rdef = self.schema.relations.get(rel)
            if rdef is None:
                self._err(self._at(source, line, (ri or 0) + 1), f"unknown relation '{rel}'",
                          did_you_mean(rel, self.schema.relations))
                continue
            vf = self._date(row[fi], "valid_from", OPEN_FROM, source, line,
                            fi + 1) if fi is not None else OPEN_FROM
            vt = self._date(row[ti], "valid_to", OPEN_TO, source, line,
                            ti + 1) if ti is not None else OPEN_TO
            if vf is None or vt is None:
                continue
            attributes: dict[str, object] | None = None
            ok = True
            for h, i in extra:
                t = rdef.attributes.get(h)
                if t is None:
                    self._err(_At(source, line, i + 1), f"unknown column '{h}': not an "
                              f"attribute of relation '{rel}'", did_you_mean(h, rdef.attributes))
                    ok = False
                    continue
                good, v = self._value(row[i].strip(), t, h, source, line, i + 1)
                ok = ok and good
                if v is not None:
                    attributes = attributes or {}
                    attributes[h] = v
            if not ok:
                continue
            origin = row[si] if si is not None and row[si] else f"{source.path}:{line}"
            span = self._at(source, line, a + 1)
            if vf > vt:
                self._err(self._at(source, line, (fi or 0) + 1),
                          f"'{row[a]}' {rel} '{row[b]}' is valid from {vf} to {vt}: the dates "
                          "are inverted")
                continue
            self._add_edge(row[a].strip(), rel, row[b].strip(), vf, vt, origin, span, attributes,
                           clip)

    def _add_edge(
        self, a: str, rel: str, b: str, vf: dt.date, vt: dt.date, origin: str, span: _At,
        attributes: dict[str, object] | None, clip: bool = False,
    ) -> None:
        self.pending.append(_PendingEdge(a, rel, b, vf, vt, origin, span, attributes,
                                         len(self.pending), clip))

    def finish(self) -> OrgGraph:
        nodes = self.g.nodes
        kept: list[_PendingEdge] = []
        seen: set[tuple[str, str, str, dt.date, dt.date]] = set()
        for p in self.pending:
            rdef = self.schema.relations[p.rel]
            if not self._edge_ok(p, rdef, nodes):
                continue
            key = (p.from_, p.rel, p.to, p.valid_from, p.valid_to)
            if key in seen:
                self._err(p.span, f"duplicate: '{p.from_}' {p.rel} '{p.to}' "
                          f"({_valid_text(p.valid_from, p.valid_to)}) is already loaded")
                continue
            seen.add(key)
            kept.append(p)
        kept = self._cardinality(kept)
        self.g.edges = [Edge(p.from_, p.rel, p.to, p.valid_from, p.valid_to, p.source,
                             p.attributes) for p in kept]
        hop = self.schema.hop("practice", "pct")
        self.g._has_register = hop is not None and any(e.rel == hop.relation for e in self.g.edges)
        self._roll_up_population()
        self._warn_unnamed_pcts()
        return self.g

    def _edge_ok(self, p: _PendingEdge, rdef: RelationDef, nodes: dict[str, Node]) -> bool:
        for code, kinds, end in ((p.from_, rdef.from_kinds, "from"), (p.to, rdef.to_kinds, "to")):
            n = nodes.get(code)
            if n is None:
                self._err(p.span, f"'{p.from_}' {p.rel} '{p.to}' names '{code}', which no "
                          "table defines", did_you_mean(code, nodes) if len(nodes) < 5000
                          else f"add '{code}' to a table of {' or '.join(kinds)}")
                return False
            if n.kind not in kinds:
                self._err(p.span, f"relation '{p.rel}' goes {end} {' or '.join(kinds)}, but "
                          f"'{code}' is a {n.kind}")
                return False
            if p.clip:
                # Tables such as a postcode directory state what they know, not when the
                # organisation lived: their edges are cut to its life.
                p.valid_from, p.valid_to = max(p.valid_from, n.valid_from), min(p.valid_to,
                                                                                n.valid_to)
                if p.valid_from > p.valid_to:
                    return False
            elif p.valid_from < n.valid_from or p.valid_to > n.valid_to:
                self._err(p.span, f"'{p.from_}' {p.rel} '{p.to}' "
                          f"({_valid_text(p.valid_from, p.valid_to)}) outlives '{code}' "
                          f"({_valid_text(n.valid_from, n.valid_to)})")
                return False
        return True

    def _cardinality(self, edges: list[_PendingEdge]) -> list[_PendingEdge]:
        """A `one` side may hold one edge at a time: a later overlapping edge is reported and
        left out, so lookups stay unambiguous."""
        dropped: set[int] = set()
        by_rel: dict[str, list[_PendingEdge]] = defaultdict(list)
        for p in edges:
            by_rel[p.rel].append(p)
        for rel in self.schema.relations.values():
            for side, one in (("from", rel.one), ("to", rel.inverse_one)):
                if not one:
                    continue
                groups: dict[str, list[_PendingEdge]] = defaultdict(list)
                for p in by_rel.get(rel.name, ()):
                    if p.order not in dropped:
                        groups[p.from_ if side == "from" else p.to].append(p)
                for code, items in groups.items():
                    if len(items) < 2:
                        continue
                    items.sort(key=lambda p: (p.valid_from, p.order))
                    last = items[0]
                    for p in items[1:]:
                        if p.valid_from <= last.valid_to:
                            dropped.add(p.order)
                            hop = rel.hop_name if side == "from" else rel.inverse
                            overlap_to = min(p.valid_to, last.valid_to)
                            first = _valid_text(last.valid_from, last.valid_to)
                            self._err(p.span, f"'{code}' has two {hop} at once: "
                                      f"'{_other(last, side)}' ({first}, "
                                      f"{last.source}) and '{_other(p, side)}' "
                                      f"({_valid_text(p.valid_from, p.valid_to)}) overlap from "
                                      f"{p.valid_from} to {_day(overlap_to)}",
                                      f"a {hop} is one at a time; this row is left out")
                        else:
                            last = p
        return [p for p in edges if p.order not in dropped]

    def _roll_up_population(self) -> None:
        """A PCT's population, when not stated, is the sum of its practices' list sizes over the
        practices that were part of it on its last day of membership (docs/data-tables.md)."""
        if self.schema.attribute("pct", "population") is None or not any(
                "population" in self.g.nodes[c].attributes for c in self.g._by_kind["practice"]):
            return
        hop = self.schema.hop("pct", "practices")
        if hop is None:
            return
        idx = self.g.index("pct", "practices")
        for code in self.g._by_kind["pct"]:
            n = self.g.nodes[code]
            if "population" in n.attributes:
                continue
            ends = [e.valid_to for e in idx.all_edges(code)]
            if not ends:
                continue
            last = min(max(ends), n.valid_to)
            sizes = [self.g.nodes[p].attributes.get("population") for p in idx.many(code, last)]
            known = [s for s in sizes if isinstance(s, int)]
            if known:
                n.attributes["population"] = sum(known)

    def _warn_unnamed_pcts(self) -> None:
        # A PCT-era parent that the bundle does not name is suspicious after 2006-10-01, when the
        # bundle's map is complete (earlier PCTs are legitimately unnamed).
        map_start = dt.date(2006, 10, 1)
        for code in self.g._by_kind.get("pct", ()):
            n = self.g.nodes[code]
            if n.name is None and n.valid_to >= map_start:
                self.diag.add(warning(
                    "W-data", f"pct '{code}' ({_valid_text(n.valid_from, n.valid_to)}) is not "
                    "known to the bundle", _span_of(self.node_spans.get(code)),
                    "add it to the bundle's PCT table, or check the imported file for a bad "
                    "parent code"))


def _span_of(at: _At | None) -> Span | None:
    return at.span() if at is not None else None


def _other(p: _PendingEdge, side: str) -> str:
    return p.to if side == "from" else p.from_


def build_graph(
    schema: OrgSchema,
    entries: Iterable[Mapping[str, Any]],
    base: Path,
    data_dir: Path | None = None,
    label: Callable[[Path], str] | None = None,
) -> OrgGraph:
    """Load the bundle's data entries (relative to `base`) and any imported tables in `data_dir`.

    Each entry is `{path, kind}` (a node table) or `{path, relation}` (an edge table; without
    `relation` the table has a `relation` column) or `{path, layout}` (an official file, imported
    on the fly); `optional: true` allows a missing file; `span`, where the entry is written.
    Problems are in `graph.diagnostics`, constraint violations included; bad rows are skipped.
    """
    b = _Builder(schema)
    show = label or _label
    tables: list[tuple[Mapping[str, Any], Path, bool]] = []
    with tempfile.TemporaryDirectory(prefix="pctrules-") as scratch:
        for entry in entries:
            path = base / str(entry["path"])
            problem = data_entry_problem(schema, entry, base, show)
            if problem is not None:
                b.diag.add(problem)
            elif not path.exists():
                continue  # an optional file
            elif "layout" not in entry:
                tables.append((entry, path, True))
            else:
                # An official file named in the bundle is imported on the fly, as
                # `pctrules import` would; its rejected rows become load diagnostics.
                tables.extend(_import_entry(str(entry["layout"]), path, Path(scratch), b))
        return _load_tables(b, tables, data_dir, show)


def data_entry_problem(
    schema: OrgSchema, entry: Mapping[str, Any], base: Path, show: Callable[[Path], str],
) -> Diagnostic | None:
    """What is wrong with a `data:` entry of bundle.yaml before its file is read (the file is
    missing or a folder, its kind, relation or layout unknown), at the entry's `span`."""
    from pctrules.importers.registry import LAYOUTS

    path, span = base / str(entry["path"]), entry.get("span")
    kind, relation, layout = entry.get("kind"), entry.get("relation"), entry.get("layout")
    if kind is not None and relation is not None:
        return error("E-data", f"the data entry for '{show(path)}' has both a 'kind' and a "
                     "'relation'", span, "a node table has 'kind', an edge table 'relation'")
    for value, known, what in ((kind, schema.kinds, "kind"),
                               (relation, schema.relations, "relation"),
                               (layout, LAYOUTS, "layout")):
        if value is not None and value not in known:
            return error("E-data", f"unknown {what} '{value}' for '{show(path)}'", span,
                         did_you_mean(str(value), known) or f"use one of {_codes(known)}")
    if path.is_dir():
        return error("E-data", f"the data file '{show(path)}' is a folder", span,
                     "name a file: 'data:' lists tables, not folders")
    if not path.exists() and not entry.get("optional"):
        return error("E-data", f"the data file '{show(path)}' does not exist", span,
                     "check 'data:' in bundle.yaml: paths are relative to the bundle folder")
    return None


def _import_entry(
    layout: str, path: Path, scratch: Path, b: _Builder,
) -> list[tuple[Mapping[str, Any], Path, bool]]:
    from pctrules.importers.registry import run_import

    into = scratch / f"{len(list(scratch.iterdir()))}-{layout}"
    try:
        report = run_import(layout, path, into)
    except PctrulesError as exc:
        b.diag.extend(exc.diagnostics)
        return []
    b.diag.extend(report.diagnostics())
    return [(t, Path(t["path"]), False) for t in manifest_tables(into, read_manifest(into))]


def _load_tables(
    b: _Builder, tables: list[tuple[Mapping[str, Any], Path, bool]], data_dir: Path | None,
    show: Callable[[Path], str],
) -> OrgGraph:
    if data_dir is not None:
        tables.extend(_data_folder_tables(b, data_dir))
    # Tables that only add attributes to known nodes go last, whatever their order.
    tables.sort(key=lambda t: bool(t[0].get("merge")))
    for entry, path, small in tables:
        if not path.exists():
            b.diag.add(error("E-data", f"the data file '{show(path)}' does not exist", None,
                             "re-run 'pctrules import' for its layout"))
            continue
        try:
            table = read_table(path, keep_text=small)
        except TableError as exc:
            b.diag.add(exc.diagnostic(show(path)))
            continue
        if "sha256" in entry and entry["sha256"] != table.sha256:
            # The manifest records what the import wrote; an edited table is no longer the
            # official file it cites, which an audit must know.
            b.diag.add(warning("W-data", f"'{show(path)}' has changed since 'pctrules import' "
                               "wrote it", None, f"re-run 'pctrules import {entry['layout']} FILE "
                               f"--into {path.parent}', or keep hand-made tables in the bundle"))
        b.load_table(table, entry, show(path))
    g = b.finish()
    g.diagnostics.extend(g.check_constraints())
    return g


def _data_folder_tables(
    b: _Builder, data_dir: Path,
) -> list[tuple[Mapping[str, Any], Path, bool]]:
    """The tables a `pctrules import` folder lists in its manifest (none, with an error, when
    it is not such a folder)."""
    fix = f"import tables into it with 'pctrules import LAYOUT FILE --into {data_dir}'"
    if not data_dir.is_dir():
        b.diag.add(error("E-data", f"the data folder '{data_dir}' does not exist", None, fix))
        return []
    if not (data_dir / MANIFEST).is_file():
        b.diag.add(error("E-data", f"the data folder '{data_dir}' holds no imported tables "
                         f"('{MANIFEST}' is missing)", None, fix))
        return []
    try:
        manifest = read_manifest(data_dir)
    except TableError as exc:
        b.diag.add(exc.diagnostic(str(data_dir / MANIFEST)))
        return []
    return [(t, Path(t["path"]), False) for t in manifest_tables(data_dir, manifest)]


def _label(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_bundle_graph(bundle_dir: Path, data_dir: Path | None = None) -> tuple[OrgSchema, OrgGraph]:
    """Read `bundle.yaml` (schema and data entries) and build its graph; for the CLI and tests.

    Raises PctrulesError (exit 3) when there is no usable manifest.
    """
    manifest, diagnostics = load_manifest(bundle_dir)
    if manifest is None:
        raise PctrulesError(diagnostics.sorted())
    return manifest_graph(manifest, bundle_dir, data_dir, diagnostics)


def manifest_graph(
    manifest: Manifest, bundle_dir: Path, data_dir: Path | None, diagnostics: Diagnostics,
) -> tuple[OrgSchema, OrgGraph]:
    """The schema and graph a loaded manifest declares; `diagnostics` (the manifest's problems)
    come first in `graph.diagnostics`, then the schema's and the data's."""
    schema = OrgSchema.from_mapping(manifest.schema, diagnostics, manifest.where)
    g = build_graph(schema, [e.as_mapping() for e in manifest.data], bundle_dir, data_dir,
                    path_label(bundle_dir))
    diagnostics.extend(g.diagnostics)
    g.diagnostics = diagnostics
    return schema, g


__all__ = [
    "Edge", "EdgeEvidence", "Node", "OrgGraph", "TemporalIndex", "build_graph",
    "data_entry_problem", "load_bundle_graph", "manifest_graph",
]
