"""Graph stage, cache: a built OrgGraph kept in the user's cache, keyed by all it is built from.

Building the graph with the practice register reads and validates some 35,000 rows (~0.25 s);
loading the pickled result takes a third of that. The key is a sha256 over the bytes of every
file the build reads (bundle.yaml, each data table, the data folder's manifest and the tables it
lists), the paths as given (diagnostics show them), and pctrules' own code, so that any change
to any of them builds afresh. Anything unusual (a file that cannot be read, a damaged cache
file) also builds afresh: the cache never changes an answer, only how soon it comes.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pctrules.graph.importers.tables import MANIFEST, TableError, manifest_tables, read_manifest
from pctrules.graph.model import OrgGraph
from pctrules.resources import cache_dir, write_atomically

KEEP = 8  # graphs kept; the least recently used beyond that are removed


def graph_key(root: Path, entries: Iterable[Mapping[str, Any]],
              data_dir: Path | None) -> str | None:
    """The cache key of the graph of the bundle at `root` with `data_dir`; None when some input
    cannot be read (the build then reports it)."""
    h = hashlib.sha256()
    h.update(f"{_code_digest()}\0{sys.version}\0{root}\0{data_dir}\0".encode())
    files = [root / "bundle.yaml", *(root / str(e["path"]) for e in entries)]
    if data_dir is not None:
        files.append(data_dir / MANIFEST)
        try:
            files += [Path(t["path"]) for t in manifest_tables(data_dir, read_manifest(data_dir))]
        except (TableError, OSError, KeyError, TypeError):
            return None
    for path in files:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"
        except OSError:
            return None
        h.update(f"{path}\0{digest}\n".encode())
    return h.hexdigest()[:32]


def cached_graph(key: str | None, build: Callable[[], OrgGraph]) -> OrgGraph:
    """The graph under `key` from the cache, else built (and kept for next time)."""
    folder = cache_dir()
    if key is None or folder is None:
        return build()
    path = folder / f"graph-{key}.pickle"
    try:
        with path.open("rb") as f:
            kept = pickle.load(f)
    except Exception:  # missing, damaged or from another version: build it again
        kept = None
    if isinstance(kept, OrgGraph):
        # Recently used; a folder that can be read but not written is still a cache.
        with contextlib.suppress(OSError):
            path.touch()
        return kept
    graph = build()
    try:
        data = pickle.dumps(graph, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # a graph that cannot be pickled is a missed saving, never an error
        return graph
    if write_atomically(path, lambda f: f.write(data)):
        _prune(folder)
    return graph


def _prune(folder: Path) -> None:
    dated = []
    for path in folder.glob("graph-*.pickle"):
        try:
            dated.append((path.stat().st_mtime, path))
        except OSError:  # removed meanwhile by another process
            continue
    for _, old in sorted(dated, reverse=True)[KEEP:]:
        old.unlink(missing_ok=True)


@cache
def _code_digest() -> str:
    """sha256 over pctrules' own Python files: a new version, or an edit, is a new key."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
