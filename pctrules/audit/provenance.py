"""Audit stage, provenance: what a decision was made with (policy, data files, version, options).

An audit header records it once per run; `replay` compares it with what it has now, and names
what differs: the policy files, a data file (bundle table or imported table), the pctrules
version. The policy digest covers the policy files only and the data digest the data only, so
that a change to one is never reported as a change to the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from pctrules import __version__
from pctrules.bundle import Bundle
from pctrules.graph.importers import tables
from pctrules.graph.importers.tables import MANIFEST, TableError, manifest_tables, read_manifest


def sha256_file(path: Path) -> str:
    """The file's digest as audit records write it, `sha256:<hex>`."""
    return "sha256:" + tables.sha256_file(path)


def policy_digest(bundle: Bundle) -> str:
    """sha256 over the bundle's policy files (manifest, decisions, constraints, tests), by the
    path inside the bundle and content; where the bundle is installed does not matter."""
    h = hashlib.sha256()
    root = bundle.path.name
    for f in sorted(bundle.policy.files, key=lambda f: f.path):
        rel = f.path[f.path.find(root) :] if root in f.path else f.path
        h.update(f"{rel}\0{hashlib.sha256(f.text.encode()).hexdigest()}\n".encode())
    return "sha256:" + h.hexdigest()


def data_files(bundle: Bundle) -> dict[str, str]:
    """Each data file the graph is built from, with its sha256, named the same wherever the
    bundle and the data folder are: the bundle's own tables as `bundle.yaml` lists them
    (`bundle:data/pct.csv`), then the data folder's manifest and the tables it lists
    (`data:ods-epcmem.part_of.csv`)."""
    out: dict[str, str] = {}
    for entry in bundle.policy.manifest.data:
        path = bundle.path / entry.path
        out[f"bundle:{entry.path}"] = sha256_file(path) if path.is_file() else "missing"
    folder = bundle.data_dir
    if folder is not None:
        manifest = folder / MANIFEST
        out[f"data:{MANIFEST}"] = sha256_file(manifest) if manifest.is_file() else "missing"
        try:
            tables = list(manifest_tables(folder, read_manifest(folder)))
        except (TableError, OSError, KeyError, TypeError):
            tables = []
        for t in tables:
            path = Path(t["path"])
            # The table's name, not its file's: an import names files after their digests.
            name = t.get("name") or path.name
            out[f"data:{name}"] = sha256_file(path) if path.is_file() else "missing"
    return out


def provenance(bundle: Bundle, bundle_digest: str, bundle_arg: Path | None) -> dict[str, object]:
    """The header's `bundle`, `data` and `pctrules` entries for a bundle and its data folder.
    `bundle_arg` is the bundle folder as given (None: the embedded default), kept so that
    replay finds the same bundle again."""
    manifest = bundle.policy.manifest
    return {
        "pctrules": __version__,
        "bundle": {
            "name": manifest.name,
            "version": manifest.version,
            "digest": bundle_digest,
            "policy": policy_digest(bundle),
            "path": None if bundle_arg is None else str(bundle_arg.resolve()),
        },
        "data": {
            "digest": bundle.graph.digest,
            "folder": None if bundle.data_dir is None else str(bundle.data_dir.resolve()),
            "files": data_files(bundle),
        },
    }


def differences(recorded: Mapping[str, object], now: Mapping[str, object]) -> list[str]:
    """What differs between a recorded provenance and the present one, in words: the policy,
    each data file added, removed or changed, the pctrules version."""
    out: list[str] = []
    old_b, new_b = _map(recorded.get("bundle")), _map(now.get("bundle"))
    if old_b.get("policy") != new_b.get("policy"):
        out.append(
            f"bundle: the policy files differ ({old_b.get('name')} "
            f"{old_b.get('version')} {_short(old_b.get('policy'))} then, "
            f"{new_b.get('name')} {new_b.get('version')} {_short(new_b.get('policy'))} "
            "now)"
        )
    old_files = _map(_map(recorded.get("data")).get("files"))
    new_files = _map(_map(now.get("data")).get("files"))
    for name in sorted(set(old_files) | set(new_files)):
        then, present = old_files.get(name), new_files.get(name)
        if then == present:
            continue
        if then is None:
            out.append(f"data: '{name}' is new")
        elif present is None:
            out.append(f"data: '{name}' is no longer used")
        else:
            out.append(f"data: '{name}' differs ({_short(then)} then, {_short(present)} now)")
    if recorded.get("pctrules") != now.get("pctrules"):
        out.append(f"version: pctrules {recorded.get('pctrules')} then, {now.get('pctrules')} now")
    return out


def _map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _short(digest: object) -> str:
    text = str(digest)
    return text[:19] + "…" if text.startswith("sha256:") else text
