"""Graph stage, cache: a built OrgGraph kept in the user's private cache, as data, keyed by all
it is built from.

Building the graph with the practice register reads and validates some 35,000 rows; reading it
back from the cache skips the CSV parsing, the checks and the constraint passes. The key is a
sha256 over the bytes of every file the build reads (bundle.yaml, each data table, the data
folder's manifest and the tables it lists), the paths as given (diagnostics show them), and
pctrules' own code, so that any change to any of them builds afresh; it is computed again after
a build, and a graph whose files changed meanwhile is not kept. The graph is kept as JSON (codes,
names, dates, attributes, edges, the tables' digests and the load warnings), never as a pickle,
in a folder only the user can write (privatecache.py): a file planted there runs nothing, and is
not read at all. A graph with load errors is never kept: the command stops on them anyway.
Anything unusual (a file that cannot be read, a damaged cache file) builds afresh: the cache
never changes an answer, only how soon it comes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pctrules import files
from pctrules.files import Folder, Refused
from pctrules.graph.importers.tables import MANIFEST, TableError, manifest_tables, read_manifest
from pctrules.graph.model import Edge, Node, OrgGraph
from pctrules.language.diagnostics import Diagnostic, Diagnostics, Severity
from pctrules.language.schema import OrgSchema
from pctrules.language.source import SourceFile, Span
from pctrules.privatecache import CacheFolder

KEEP = 8  # graphs kept; the least recently used beyond that are removed
_PREFIX = "graph-"


def graph_key(
    root: Path, entries: Iterable[Mapping[str, Any]], data_dir: Path | None
) -> str | None:
    """The cache key of the graph of the bundle at `root` with `data_dir`; None when some input
    cannot or may not be read (the build then reports it)."""
    h = hashlib.sha256()
    try:
        # The working folder too: the paths diagnostics and evidence show are relative to it.
        h.update(f"{_code_digest()}\0{sys.version}\0{root}\0{data_dir}\0{Path.cwd()}\0".encode())
        bundle = Folder(root)
        inputs = [
            (root / "bundle.yaml", bundle),
            *((root / str(e["path"]), bundle) for e in entries),
        ]
        if data_dir is not None:
            folder = Folder(data_dir, "data folder")
            inputs.append((data_dir / MANIFEST, folder))
            inputs += [
                (Path(t["path"]), folder)
                for t in manifest_tables(data_dir, read_manifest(data_dir))
            ]
        for path, inside in inputs:
            digest = (
                hashlib.sha256(inside.read(path, files.TABLE_BYTES)).hexdigest()
                if path.exists()
                else "-"
            )
            h.update(f"{path}\0{digest}\n".encode())
    except (TableError, Refused, OSError, KeyError, TypeError):
        return None
    return h.hexdigest()[:32]


def cached_graph(
    key: Callable[[], str | None], schema: OrgSchema, build: Callable[[], OrgGraph]
) -> OrgGraph:
    """The graph under `key()` from the cache, else built (and kept for next time, unless it
    has errors or its files changed while it was built)."""
    before = key()
    folder = CacheFolder.open() if before is not None else None
    if folder is None or before is None:
        return build()
    with folder:
        name = f"{_PREFIX}{before}.json"
        kept = folder.read(name, before)
        graph = graph_from_json(kept, schema) if kept is not None else None
        if graph is not None:
            folder.touch(name)
            return graph
        graph = build()
        if (
            not graph.diagnostics.has_errors
            and key() == before
            and folder.write(name, before, graph_to_json(graph))
        ):
            folder.prune(_PREFIX, KEEP)
        return graph


# -- the graph as data -------------------------------------------------------------------------


def graph_to_json(g: OrgGraph) -> bytes:
    """Everything a built graph holds that its lookups need, as compact JSON (dates as day
    numbers; a date attribute as {"d": day})."""
    document = {
        "nodes": [
            [
                n.code,
                n.kind,
                n.name,
                n.valid_from.toordinal(),
                n.valid_to.toordinal(),
                {k: _value(v) for k, v in n.attributes.items()},
                n.source,
            ]
            for n in g.nodes.values()
        ],
        "edges": [
            [
                e.from_,
                e.rel,
                e.to,
                e.valid_from.toordinal(),
                e.valid_to.toordinal(),
                e.source,
                None if e.attributes is None else {k: _value(v) for k, v in e.attributes.items()},
            ]
            for e in g.edges
        ],
        "sources": [list(s) for s in g.sources],
        "diagnostics": [_diagnostic(d) for d in g.diagnostics],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def graph_from_json(data: bytes, schema: OrgSchema) -> OrgGraph | None:
    """The graph `graph_to_json` wrote, for `schema`; None when the data is not such a graph."""
    try:
        return _graph(json.loads(data), schema)
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        RecursionError,
    ):
        return None


def _graph(document: dict[str, Any], schema: OrgSchema) -> OrgGraph:
    g = OrgGraph(schema)
    days: dict[int, dt.date] = {}

    def day(n: int) -> dt.date:
        found = days.get(n)
        if found is None:
            found = days[n] = dt.date.fromordinal(n)
        return found

    nodes, by_kind = g.nodes, g._by_kind
    for code, kind, name, vf, vt, attributes, source in document["nodes"]:
        nodes[code] = Node(
            code,
            kind,
            name,
            day(vf),
            day(vt),
            {k: _python(v) for k, v in attributes.items()},
            source,
        )
        by_kind[kind].append(code)
    g.edges = [
        Edge(
            a,
            rel,
            b,
            day(vf),
            day(vt),
            source,
            None if attrs is None else {k: _python(v) for k, v in attrs.items()},
        )
        for a, rel, b, vf, vt, source, attrs in document["edges"]
    ]
    g.sources = [(str(what), str(sha)) for what, sha in document["sources"]]
    g.diagnostics = Diagnostics(_from_diagnostic(d) for d in document["diagnostics"])
    return g


def _value(v: object) -> object:
    return {"d": v.toordinal()} if isinstance(v, dt.date) else v


def _python(v: object) -> object:
    return dt.date.fromordinal(v["d"]) if isinstance(v, dict) else v


def _diagnostic(d: Diagnostic) -> list[object]:
    span = (
        None
        if d.span is None
        else [
            d.span.path,
            d.span.line,
            d.span.column,
            d.span.end_line,
            d.span.end_column,
            d.span.source.line_text(d.span.line),
        ]
    )
    return [d.severity.value, d.code, d.message, d.help, d.rule, span]


def _from_diagnostic(item: list[Any]) -> Diagnostic:
    severity, code, message, help, rule, span = item
    at = None
    if span is not None:
        path, line, column, end_line, end_column, text = span
        # Only the diagnostic's own line is kept: enough for its snippet.
        source = SourceFile(path, "\n" * (line - 1) + text if text else "")
        at = Span(source, line, column, end_line, end_column)
    return Diagnostic(Severity(severity), code, message, at, help, rule)


@cache
def _code_digest() -> str:
    """sha256 over pctrules' own Python files: a new version, or an edit, is a new key."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
