"""Import stage: the normalised table format shared by bundle data files and imported tables.

A table is a UTF-8 CSV file with a header row, optionally preceded by `#` comment lines (for
attribution). A *node table* has a `code` column; an *edge table* has `from` and `to` columns.
`docs/data-tables.md` describes the layout; `pctrules-data.json` lists what a data folder holds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "pctrules-data.json"
FORMAT = "pctrules-data/1"


@dataclass
class Table:
    """A table's rows as read: header, rows with their 1-based line numbers, and a digest."""

    path: Path
    header: list[str]
    rows: list[tuple[int, list[str]]]
    sha256: str
    text: str = field(repr=False, default="")


def read_table(path: Path, keep_text: bool = False) -> Table:
    """Read a table; comment lines before the header are skipped but counted in line numbers."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    for record in reader:
        if not header:
            if not record or record[0].lstrip().startswith("#"):
                continue
            header = [h.strip() for h in record]
            continue
        if record:
            rows.append((reader.line_num, record))
    return Table(path, header, rows, digest, text if keep_text else "")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_table(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[object]],
) -> tuple[int, str]:
    """Write a table atomically (temp file + rename); returns (rows written, sha256)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        count += 1
    data = buf.getvalue().encode("utf-8")
    _atomic_write(path, data)
    return count, hashlib.sha256(data).hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(tmp: str, path: Path) -> None:
    """Rename a finished temp file into place, with the permissions a new file would have."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(data_dir: Path) -> dict[str, Any]:
    """The data folder's manifest, or an empty one when the folder holds none yet."""
    path = data_dir / MANIFEST
    if not path.exists():
        return {"format": FORMAT, "imports": {}}
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    loaded.setdefault("imports", {})
    return loaded


def write_manifest(data_dir: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    _atomic_write(data_dir / MANIFEST, text.encode("utf-8"))


def manifest_tables(data_dir: Path, manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every table of the manifest, in a fixed order (by layout name, then as listed)."""
    for layout in sorted(manifest.get("imports", {})):
        for table in manifest["imports"][layout].get("tables", []):
            yield {**table, "path": str(data_dir / table["path"]), "layout": layout}
