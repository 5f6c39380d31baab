"""Import stage: the normalised table format shared by bundle data files and imported tables.

A table is a UTF-8 CSV file with a header row, optionally preceded by `#` comment lines (for
attribution). A *node table* has a `code` column; an *edge table* has `from` and `to` columns.
`docs/data-tables.md` describes the layout; `pctrules-data.json` lists what a data folder holds.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pctrules import files
from pctrules.files import Folder, Refused, read_plain
from pctrules.language.diagnostics import Code, Diagnostic, error
from pctrules.language.source import SourceFile, Span

MANIFEST = "pctrules-data.json"
FORMAT = "pctrules-data/1"
MANIFEST_BYTES = 16 << 20  # a manifest lists a few tables: anything bigger is not one


class TableError(ValueError):
    """A file that cannot be read as a table: why, where (1-based line and column), the fix."""

    def __init__(
        self,
        message: str,
        line: int = 1,
        column: int = 1,
        help: str | None = None,
        code: Code = Code.DATA,
    ):
        super().__init__(message)
        self.message, self.line, self.column, self.help = message, line, column, help
        self.code = code

    def diagnostic(self, shown: str) -> Diagnostic:
        """The problem as a diagnostic (`E-data`, or `E-path` for a file that may not be read)
        at `shown:line:column`."""
        at = Span(SourceFile(shown, ""), self.line, self.column, self.line, self.column + 1)
        return error(self.code, self.message, at, self.help)


def read_bytes(path: Path, folder: Folder | None = None, limit: int | None = None) -> bytes:
    """A file's bytes (inside `folder`, when given; at most `limit`, by default a table's);
    TableError when it cannot or may not be read (a folder, no permission, a pipe or device,
    too big, outside the folder)."""
    limit = files.TABLE_BYTES if limit is None else limit
    try:
        return folder.read(path, limit) if folder is not None else read_plain(path, limit)
    except Refused as exc:
        raise TableError(exc.message, 1, 1, exc.help, exc.code) from None
    except OSError as exc:
        raise TableError(
            f"cannot read the file: {(exc.strerror or str(exc)).lower()}",
            1,
            1,
            "check the path and the file's permissions",
        ) from None


def refuse_binary(head: bytes) -> None:
    """TableError when a file's first bytes show it is not text."""
    if b"\0" in head:
        # Official files are downloaded zipped; a zip (or any binary file) is not a table.
        raise TableError(
            "the file is not text: it holds binary data",
            1,
            1,
            "is it compressed? unzip it and give the CSV file inside",
        )


def decode_text(data: bytes) -> str:
    """A CSV file's bytes as text (a byte-order mark dropped); TableError when it is binary
    or not UTF-8, at the offending byte."""
    refuse_binary(data[:8192])
    # The mark dropped here, not by the utf-8-sig codec: its error positions would count from
    # after the mark, and the text before the bad byte could not be cut from `data` by them.
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        lines = body[: exc.start].decode("utf-8").split("\n")
        raise TableError(
            f"the file is not UTF-8 text (byte 0x{body[exc.start]:02x})",
            len(lines),
            len(lines[-1]) + 1,
            "save the file as UTF-8",
        ) from None


def csv_records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the 1-based line each ends on; TableError for a malformed record (a
    field over the csv module's size limit, say), at that line."""
    reader = csv.reader(lines)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise TableError(
                f"the row cannot be read as CSV: {str(exc).lower()}",
                max(reader.line_num, 1),
                1,
                "check the file is the CSV it should be",
            ) from None
        yield reader.line_num, record


@dataclass
class Table:
    """A table's rows as read: header, rows with their 1-based line numbers, and a digest."""

    path: Path
    header: list[str]
    rows: list[tuple[int, list[str]]]
    sha256: str
    text: str = field(repr=False, default="")


def read_table(path: Path, keep_text: bool = False, folder: Folder | None = None) -> Table:
    """Read a table (inside `folder`, when given); comment lines before the header are skipped
    but counted in line numbers.

    Raises TableError when the file is not a readable CSV text file.
    """
    data = read_bytes(path, folder)
    digest = hashlib.sha256(data).hexdigest()
    text = decode_text(data)
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    for line, record in csv_records(io.StringIO(text, newline="")):
        if not header:
            if not record or record[0].lstrip().startswith("#"):
                continue
            header = [h.strip() for h in record]
            continue
        if record:
            rows.append((line, record))
    return Table(path, header, rows, digest, text if keep_text else "")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    """The data folder's manifest, or an empty one when the folder holds none yet.

    Raises TableError when it is not the manifest `pctrules import` writes.
    """
    path = data_dir / MANIFEST
    if not path.exists() and not path.is_symlink():
        return {"format": FORMAT, "imports": {}}
    fix = f"re-import the official files into a new folder; this one's '{MANIFEST}' is damaged"
    try:
        loaded: object = json.loads(
            decode_text(read_bytes(path, Folder(data_dir, "data folder"), MANIFEST_BYTES))
        )
    except json.JSONDecodeError as exc:
        raise TableError(
            f"the file is not valid JSON: {exc.msg[:1].lower()}{exc.msg[1:]}",
            exc.lineno,
            exc.colno,
            fix,
        ) from None
    except (ValueError, RecursionError):
        # JSON that Python will not hold: a number of thousands of digits, nesting thousands
        # of levels deep. No manifest `pctrules import` writes looks like that.
        raise TableError(
            "the file holds a number too long or values nested too deep to be a manifest", 1, 1, fix
        ) from None
    imports = loaded.setdefault("imports", {}) if isinstance(loaded, dict) else None
    if (
        not isinstance(loaded, dict)
        or not isinstance(imports, dict)
        or not all(
            isinstance(i, dict)
            and isinstance(i.get("tables", []), list)
            and all(
                isinstance(t, dict) and isinstance(t.get("path"), str) for t in i.get("tables", [])
            )
            for i in imports.values()
        )
    ):
        raise TableError(
            "the file does not list imports as 'pctrules import' writes them", 1, 1, fix
        )
    return loaded


def write_manifest(data_dir: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    _atomic_write(data_dir / MANIFEST, text.encode("utf-8"))


def manifest_tables(data_dir: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every table of the manifest, in a fixed order (by layout name, then as listed).

    Raises TableError (`E-path`) when the manifest names a file outside the data folder: a
    data folder, like a bundle, is read only from inside.
    """
    folder = Folder(data_dir, "data folder")
    out = []
    for layout in sorted(manifest.get("imports", {})):
        for table in manifest["imports"][layout].get("tables", []):
            try:
                path = folder.path(table["path"])
            except Refused as exc:
                raise TableError(exc.message, 1, 1, exc.help, exc.code) from None
            out.append({**table, "path": str(path), "layout": layout})
    return out
