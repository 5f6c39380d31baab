"""Graph stage, building: reads the bundle's data tables and imported tables into an OrgGraph.

Over 500 lines because node tables, edge tables and imported tables are read by one builder
that shares their positions, date reading and diagnostics, and resolves the edges only once
every node is known; the checks of `data:` entries use the same paths."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pctrules.files import Folder, Refused, check_plain
from pctrules.graph.importers.tables import (
    MANIFEST,
    Table,
    TableError,
    manifest_tables,
    read_manifest,
    read_table,
)
from pctrules.graph.model import (
    EDGE_COLUMNS,
    NODE_COLUMNS,
    OPEN_FROM,
    OPEN_TO,
    Edge,
    Node,
    OrgGraph,
    day_text,
    quoted_codes,
    valid_text,
)
from pctrules.language.diagnostics import (
    Code,
    Diagnostic,
    Diagnostics,
    PctrulesError,
    did_you_mean,
    error,
    warning,
)
from pctrules.language.loader import Manifest, load_manifest, path_label
from pctrules.language.schema import OrgSchema, RelationDef, Type
from pctrules.language.source import SourceFile, Span

# -- loading -------------------------------------------------------------------------------

_TYPE_WORDS = {
    "int": "a whole number",
    "number": "a number",
    "bool": "true or false",
    "date": "a date",
}


class _At(NamedTuple):
    """Where a cell of a data table is. Made for every row read (node rows and pending edges
    keep one), so it is a plain tuple: a diagnostic's Span is made only when there is something
    to report."""

    source: SourceFile
    line: int
    column: int  # the field's number, 1-based

    def span(self) -> Span:
        """The cell's span: its character columns where the table's text is kept (the bundle's
        own tables, whose snippets are shown), else the field's number (imported tables, as
        their `<layout>.rejected.csv` counts)."""
        text = self.source.line_text(self.line)
        if not text:
            return Span(self.source, self.line, self.column, self.line, self.column + 1)
        start, end = _field_columns(text, self.column)
        return Span(self.source, self.line, start, self.line, max(end, start + 1))


def _field_columns(line: str, field: int) -> tuple[int, int]:
    """1-based character columns (end exclusive) of CSV field `field` (1-based) in `line`; past
    the last field, the end of the line."""
    number, i, n = 1, 0, len(line)
    while True:
        start = i
        if i < n and line[i] == '"':
            i += 1
            while i < n and not (line[i] == '"' and line[i + 1 : i + 2] != '"'):
                i += 2 if line[i] == '"' else 1
            i += 1
        while i < n and line[i] != ",":
            i += 1
        if number == field or i >= n:
            return (start + 1, i + 1) if number == field else (n + 1, n + 2)
        number, i = number + 1, i + 1


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
        self.diag.add(error(Code.DATA, message, at.span(), help))

    def _date(
        self, text: str, column: str, default: dt.date, source: SourceFile, line: int, col: int
    ) -> dt.date | None:
        if not text:
            return default
        d = self._dates.get(text)
        if d is None:
            try:
                d = dt.date.fromisoformat(text)
            except ValueError:
                self._err(
                    _At(source, line, col),
                    f"'{text}' in column '{column}' is not a date",
                    "write dates as YYYY-MM-DD, e.g. 2011-04-01",
                )
                return None
            self._dates[text] = d
        return d

    def _value(
        self, text: str, t: Type, column: str, source: SourceFile, line: int, col: int
    ) -> tuple[bool, object]:
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
        self._err(
            _At(source, line, col),
            f"'{text}' in column '{column}' is not {_TYPE_WORDS.get(t.base, 'a ' + t.base)}",
        )
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
            header = quoted_codes(h if len(h) <= 40 else h[:40] + "…" for h in table.header[:20])
            more = f" and {len(table.header) - 20} more" if len(table.header) > 20 else ""
            self._err(
                self._at(source, 1, 1),
                f"the table has no column {quoted_codes(missing)}",
                f"its header is {header}{more}; see docs/data-tables.md",
            )
            return False
        return True

    def _node_table(self, table: Table, kind: str, source: SourceFile, merge: bool) -> None:
        kd = self.schema.kinds.get(kind)
        if kd is None:
            self._err(
                self._at(source, 1, 1),
                f"unknown kind '{kind}' for this table",
                did_you_mean(kind, self.schema.kinds),
            )
            return
        if not self._columns(table, source, ("code",)):
            return
        col = {h: i for i, h in enumerate(table.header)}
        hops = self.schema.hops(kind)
        attrs: list[tuple[str, int, Type]] = []
        rels: list[tuple[str, int]] = []
        for h, i in col.items():
            if h in NODE_COLUMNS:
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
                    self._err(
                        self._at(source, 1, i + 1),
                        f"unknown column '{h}': not an attribute or relation of {kind}",
                        did_you_mean(h, [*kd.attributes, *hops]),
                    )
        ci, ni = col["code"], col.get("name")
        fi, ti, si = col.get("valid_from"), col.get("valid_to"), col.get("source")
        width = len(table.header)
        seen: dict[str, int] = {}
        unknown: list[str] = []
        nodes = self.g.nodes
        for line, row in table.rows:
            if len(row) < width:
                self._err(
                    self._at(source, line, len(row) + 1),
                    f"the row has {len(row)} fields, the header {width}",
                )
                continue
            code = row[ci].strip()
            if not code:
                self._err(self._at(source, line, ci + 1), "the row has no 'code'")
                continue
            if code in seen:
                self._err(
                    self._at(source, line, ci + 1),
                    f"duplicate code '{code}', first on row {seen[code]}",
                )
                continue
            seen[code] = line
            vf = (
                self._date(row[fi], "valid_from", OPEN_FROM, source, line, fi + 1)
                if fi is not None
                else OPEN_FROM
            )
            vt = (
                self._date(row[ti], "valid_to", OPEN_TO, source, line, ti + 1)
                if ti is not None
                else OPEN_TO
            )
            if vf is None or vt is None:
                continue
            if vf > vt:
                self._err(
                    self._at(source, line, (fi or 0) + 1),
                    f"'{code}' is valid from {vf} to {vt}: the dates are inverted",
                )
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
                self._err(
                    span,
                    f"code '{code}' is a {kind} here but already a "
                    f"{existing.kind} (from {existing.source})",
                )
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
                    self._add_edge(
                        code, rel, target, vf, vt, origin, self._at(source, line, i + 1), None
                    )
        if unknown:
            # Expected for a register of another date (e.g. practices opened after 2013): one
            # warning, not thousands.
            message = (
                f"1 row names a {kind} that no table defines, {quoted_codes(unknown)}; "
                "it is not used"
                if len(unknown) == 1
                else f"{len(unknown)} rows name a {kind} that no table defines, e.g. "
                f"{quoted_codes(unknown[:3])}; they are not used"
            )
            self.diag.add(warning(Code.DATA_WARNING, message, self._at(source, 1, ci + 1).span()))

    def _edge_table(self, table: Table, relation: object, source: SourceFile, clip: bool) -> None:
        required = ("from", "to") if relation else ("from", "to", "relation")
        if not self._columns(table, source, required):
            return
        col = {h: i for i, h in enumerate(table.header)}
        fixed = str(relation) if relation else None
        if fixed is not None and fixed not in self.schema.relations:
            self._err(
                self._at(source, 1, 1),
                f"unknown relation '{fixed}' for this table",
                did_you_mean(fixed, self.schema.relations),
            )
            return
        extra = [(h, i) for h, i in col.items() if h not in EDGE_COLUMNS]
        if fixed is not None:
            # Columns a fixed relation does not have are reported once, at the header.
            known = self.schema.relations[fixed].attributes
            for h, i in extra:
                if h not in known:
                    self._err(
                        self._at(source, 1, i + 1),
                        f"unknown column '{h}': not an attribute of relation '{fixed}'",
                        did_you_mean(h, known),
                    )
            extra = [(h, i) for h, i in extra if h in known]
        a, b, ri = col["from"], col["to"], col.get("relation")
        fi, ti, si = col.get("valid_from"), col.get("valid_to"), col.get("source")
        width = len(table.header)
        for line, row in table.rows:
            if len(row) < width:
                self._err(
                    self._at(source, line, len(row) + 1),
                    f"the row has {len(row)} fields, the header {width}",
                )
                continue
            rel = fixed if fixed is not None else row[ri].strip() if ri is not None else ""
            rdef = self.schema.relations.get(rel)
            if rdef is None:
                self._err(
                    self._at(source, line, (ri or 0) + 1),
                    f"unknown relation '{rel}'",
                    did_you_mean(rel, self.schema.relations),
                )
                continue
            vf = (
                self._date(row[fi], "valid_from", OPEN_FROM, source, line, fi + 1)
                if fi is not None
                else OPEN_FROM
            )
            vt = (
                self._date(row[ti], "valid_to", OPEN_TO, source, line, ti + 1)
                if ti is not None
                else OPEN_TO
            )
            if vf is None or vt is None:
                continue
            attributes: dict[str, object] | None = None
            ok = True
            for h, i in extra:
                t = rdef.attributes.get(h)
                if t is None:
                    self._err(
                        _At(source, line, i + 1),
                        f"unknown column '{h}': not an attribute of relation '{rel}'",
                        did_you_mean(h, rdef.attributes),
                    )
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
                self._err(
                    self._at(source, line, (fi or 0) + 1),
                    f"'{row[a]}' {rel} '{row[b]}' is valid from {vf} to {vt}: the dates "
                    "are inverted",
                )
                continue
            self._add_edge(
                row[a].strip(), rel, row[b].strip(), vf, vt, origin, span, attributes, clip
            )

    def _add_edge(
        self,
        a: str,
        rel: str,
        b: str,
        vf: dt.date,
        vt: dt.date,
        origin: str,
        span: _At,
        attributes: dict[str, object] | None,
        clip: bool = False,
    ) -> None:
        self.pending.append(
            _PendingEdge(a, rel, b, vf, vt, origin, span, attributes, len(self.pending), clip)
        )

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
                self._err(
                    p.span,
                    f"duplicate: '{p.from_}' {p.rel} '{p.to}' "
                    f"({valid_text(p.valid_from, p.valid_to)}) is already loaded",
                )
                continue
            seen.add(key)
            kept.append(p)
        kept = self._cardinality(kept)
        self.g.edges = [
            Edge(p.from_, p.rel, p.to, p.valid_from, p.valid_to, p.source, p.attributes)
            for p in kept
        ]
        self._roll_up()
        return self.g

    def _edge_ok(self, p: _PendingEdge, rdef: RelationDef, nodes: dict[str, Node]) -> bool:
        for code, kinds, end in ((p.from_, rdef.from_kinds, "from"), (p.to, rdef.to_kinds, "to")):
            n = nodes.get(code)
            if n is None:
                self._err(
                    p.span,
                    f"'{p.from_}' {p.rel} '{p.to}' names '{code}', which no table defines",
                    did_you_mean(code, nodes)
                    if len(nodes) < 5000
                    else f"add '{code}' to a table of {' or '.join(kinds)}",
                )
                return False
            if n.kind not in kinds:
                self._err(
                    p.span,
                    f"relation '{p.rel}' goes {end} {' or '.join(kinds)}, but "
                    f"'{code}' is a {n.kind}",
                )
                return False
            if p.clip:
                # Tables such as a postcode directory state what they know, not when the
                # organisation lived: their edges are cut to its life.
                p.valid_from, p.valid_to = (
                    max(p.valid_from, n.valid_from),
                    min(p.valid_to, n.valid_to),
                )
                if p.valid_from > p.valid_to:
                    return False
            elif p.valid_from < n.valid_from or p.valid_to > n.valid_to:
                self._err(
                    p.span,
                    f"'{p.from_}' {p.rel} '{p.to}' "
                    f"({valid_text(p.valid_from, p.valid_to)}) outlives '{code}' "
                    f"({valid_text(n.valid_from, n.valid_to)})",
                )
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
                            first = valid_text(last.valid_from, last.valid_to)
                            self._err(
                                p.span,
                                f"'{code}' has two {hop} at once: "
                                f"'{_other(last, side)}' ({first}, "
                                f"{last.source}) and '{_other(p, side)}' "
                                f"({valid_text(p.valid_from, p.valid_to)}) overlap from "
                                f"{p.valid_from} to {day_text(overlap_to)}",
                                f"a {hop} is one at a time; this row is left out",
                            )
                        else:
                            last = p
        return [p for p in edges if p.order not in dropped]

    def _roll_up(self) -> None:
        """The schema's roll-ups (`rollups:`): a node's attribute, when no table states it, is
        the sum of an attribute over the nodes a set hop reaches on the last day it reaches any
        (capped at the node's own last day), counting those that have a value."""
        for r in self.schema.rollups:
            if not any(
                r.sum in self.g.nodes[c].attributes
                for hop in (self.schema.hop(r.kind, r.over),)
                if hop is not None
                for k in hop.target_kinds
                for c in self.g._by_kind.get(k, ())
            ):
                continue
            idx = self.g.index(r.kind, r.over)
            for code in self.g._by_kind.get(r.kind, ()):
                n = self.g.nodes[code]
                if r.attribute in n.attributes:
                    continue
                ends = [e.valid_to for e in idx.all_edges(code)]
                if not ends:
                    continue
                last = min(max(ends), n.valid_to)
                values = [self.g.nodes[m].attributes.get(r.sum) for m in idx.many(code, last)]
                known = [
                    v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                ]
                if known:
                    n.attributes[r.attribute] = sum(known)


def _other(p: _PendingEdge, side: str) -> str:
    return p.to if side == "from" else p.from_


def build_graph(
    schema: OrgSchema,
    entries: Iterable[Mapping[str, Any]],
    base: Path,
    data_dir: Path | None = None,
    label: Callable[[Path], str] | None = None,
    written: Iterable[Mapping[str, Any]] = (),
) -> OrgGraph:
    """Load the bundle's data entries (relative to `base`, and inside it) and any imported
    tables in `data_dir`; then the tables pctrules `written` itself (a policy test's facts),
    which are entries with an absolute path and may lie anywhere.

    Each entry is `{path, kind}` (a node table) or `{path, relation}` (an edge table; without
    `relation` the table has a `relation` column) or `{path, layout}` (an official file, imported
    on the fly); `optional: true` allows a missing file; `span`, where the entry is written.
    Problems are in `graph.diagnostics`, constraint violations included; bad rows are skipped.
    """
    b = _Builder(schema)
    show = label or _label
    bundle = Folder(base)
    tables: list[_TableToLoad] = []
    with tempfile.TemporaryDirectory(prefix="pctrules-") as scratch:
        for entry in entries:
            path = base / str(entry["path"])
            problem = data_entry_problem(schema, entry, base, show)
            if problem is not None:
                b.diag.add(problem)
            elif not path.exists():
                continue  # an optional file
            elif "layout" not in entry:
                tables.append((entry, path, True, bundle))
            else:
                # An official file named in the bundle is imported on the fly, as
                # `pctrules import` would; its rejected rows become load diagnostics.
                tables.extend(_import_entry(str(entry["layout"]), path, Path(scratch), b))
        tables += [(entry, Path(entry["path"]), True, None) for entry in written]
        return _load_tables(b, tables, data_dir, show)


def data_entry_problem(
    schema: OrgSchema,
    entry: Mapping[str, Any],
    base: Path,
    show: Callable[[Path], str],
) -> Diagnostic | None:
    """What is wrong with a `data:` entry of bundle.yaml before its file is read (the file is
    missing or a folder, its kind, relation or layout unknown), at the entry's `span`."""
    from pctrules.graph.importers.registry import LAYOUTS

    span = entry.get("span")
    problem = data_path_problem(entry, base)
    if problem is not None:
        return problem
    path = base / str(entry["path"])
    kind, relation, layout = entry.get("kind"), entry.get("relation"), entry.get("layout")
    if kind is not None and relation is not None:
        return error(
            Code.DATA,
            f"the data entry for '{show(path)}' has both a 'kind' and a 'relation'",
            span,
            "a node table has 'kind', an edge table 'relation'",
        )
    for value, known, what in (
        (kind, schema.kinds, "kind"),
        (relation, schema.relations, "relation"),
        (layout, LAYOUTS, "layout"),
    ):
        if value is not None and value not in known:
            return error(
                Code.DATA,
                f"unknown {what} '{value}' for '{show(path)}'",
                span,
                did_you_mean(str(value), known) or f"use one of {quoted_codes(known)}",
            )
    if path.is_dir():
        return error(
            Code.DATA,
            f"the data file '{show(path)}' is a folder",
            span,
            "name a file: 'data:' lists tables, not folders",
        )
    if not path.exists() and not entry.get("optional"):
        return error(
            Code.DATA,
            f"the data file '{show(path)}' does not exist",
            span,
            "check 'data:' in bundle.yaml: paths are relative to the bundle folder",
        )
    return None


def data_path_problem(entry: Mapping[str, Any], base: Path) -> Diagnostic | None:
    """An `E-path` diagnostic, at the entry, when its file is outside the bundle (absolute, `..`
    or a link out) or is not a plain file (a pipe or device, whose reading may never end)."""
    try:
        path = Folder(base).path(str(entry["path"]))
        check_plain(path, str(entry["path"]))
    except Refused as exc:
        return exc.diagnostic(entry.get("span"))
    return None


_TableToLoad = tuple[Mapping[str, Any], Path, bool, "Folder | None"]
"""A table to read: its entry, path, whether to keep its text (for snippets), and the folder
it must lie inside (None for the tables this build wrote itself)."""


def _import_entry(
    layout: str,
    path: Path,
    scratch: Path,
    b: _Builder,
) -> list[_TableToLoad]:
    from pctrules.graph.importers.registry import run_import

    into = scratch / f"{len(list(scratch.iterdir()))}-{layout}"
    try:
        report = run_import(layout, path, into)
    except PctrulesError as exc:
        b.diag.extend(exc.diagnostics)
        return []
    b.diag.extend(report.diagnostics())
    return [(t, Path(t["path"]), False, None) for t in manifest_tables(into, read_manifest(into))]


def _load_tables(
    b: _Builder,
    tables: list[_TableToLoad],
    data_dir: Path | None,
    show: Callable[[Path], str],
) -> OrgGraph:
    if data_dir is not None:
        tables.extend(_data_folder_tables(b, data_dir))
    # Tables that only add attributes to known nodes go last, whatever their order.
    tables.sort(key=lambda t: bool(t[0].get("merge")))
    for entry, path, small, folder in tables:
        if not path.exists():
            b.diag.add(
                error(
                    Code.DATA,
                    f"the data file '{show(path)}' does not exist",
                    None,
                    "re-run 'pctrules import' for its layout",
                )
            )
            continue
        try:
            table = read_table(path, keep_text=small, folder=folder)
        except TableError as exc:
            b.diag.add(exc.diagnostic(show(path)))
            continue
        if "sha256" in entry and entry["sha256"] != table.sha256:
            # The manifest records what the import wrote; an edited table is no longer the
            # official file it cites, which an audit must know.
            b.diag.add(
                warning(
                    Code.DATA_WARNING,
                    f"'{show(path)}' has changed since 'pctrules import' wrote it",
                    None,
                    f"re-run 'pctrules import {entry['layout']} FILE "
                    f"--into {path.parent}', or keep hand-made tables in the bundle",
                )
            )
        b.load_table(table, entry, show(path))
    return b.finish()


def _data_folder_tables(b: _Builder, data_dir: Path) -> list[_TableToLoad]:
    """The tables a `pctrules import` folder lists in its manifest (none, with an error, when
    it is not such a folder)."""
    fix = f"import tables into it with 'pctrules import LAYOUT FILE --into {data_dir}'"
    if not data_dir.is_dir():
        b.diag.add(error(Code.DATA, f"the data folder '{data_dir}' does not exist", None, fix))
        return []
    if not (data_dir / MANIFEST).is_file():
        b.diag.add(
            error(
                Code.DATA,
                f"the data folder '{data_dir}' holds no imported tables ('{MANIFEST}' is missing)",
                None,
                fix,
            )
        )
        return []
    try:
        listed = manifest_tables(data_dir, read_manifest(data_dir))
    except TableError as exc:
        b.diag.add(exc.diagnostic(str(data_dir / MANIFEST)))
        return []
    folder = Folder(data_dir, "data folder")
    return [(t, Path(t["path"]), False, folder) for t in listed]


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
    manifest: Manifest,
    bundle_dir: Path,
    data_dir: Path | None,
    diagnostics: Diagnostics,
) -> tuple[OrgSchema, OrgGraph]:
    """The schema and graph a loaded manifest declares; `diagnostics` (the manifest's problems)
    come first in `graph.diagnostics`, then the schema's and the data's."""
    schema = OrgSchema.from_mapping(manifest.schema, diagnostics, manifest.where)
    g = build_graph(
        schema,
        [e.as_mapping() for e in manifest.data],
        bundle_dir,
        data_dir,
        path_label(bundle_dir),
    )
    diagnostics.extend(g.diagnostics)
    g.diagnostics = diagnostics
    return schema, g


__all__ = [
    "build_graph",
    "data_entry_problem",
    "data_path_problem",
    "load_bundle_graph",
    "manifest_graph",
]
