"""Import stage: what every importer shares: streamed reading, row rejections, table output."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pctrules.graph.importers.tables import (
    MANIFEST,
    TableError,
    csv_records,
    publish,
    read_manifest,
    refuse_binary,
    sha256_file,
    write_manifest,
)
from pctrules.language.diagnostics import Code, Diagnostic, error
from pctrules.language.source import SourceFile, Span

PCT_ERA_END = dt.date(2013, 3, 31)
_PCT_CODE = re.compile(r"^[5T][A-Z0-9]{2}$")
_ODS_CODE = re.compile(r"^[A-Z0-9]{3,8}$")


def fields(n: int) -> str:
    """'1 field', '3 fields': for messages about short rows."""
    return f"{n} field{'' if n == 1 else 's'}"


def is_pct_code(code: str) -> bool:
    """A PCT or care trust ODS code: three characters starting 5 or T (e.g. 5NT, TAP)."""
    return bool(_PCT_CODE.match(code))


def is_ods_code(code: str) -> bool:
    return bool(_ODS_CODE.match(code))


@dataclass(frozen=True)
class Rejection:
    """A row left out, with where and why: file row (1-based), column (1-based) and value."""

    row: int
    column: int
    value: str
    reason: str


@dataclass
class TableOut:
    """A normalised table an importer writes: a node table (`kind`) or edge table (`relation`).

    `merge` tables only add attributes to nodes another table defines; `clip` edge tables are
    cut to the lives of the nodes they join (docs/data-tables.md).
    """

    name: str
    header: list[str]
    kind: str | None = None
    relation: str | None = None
    merge: bool = False
    clip: bool = False
    rows: int = 0
    path: str = ""  # the published file's name: `name` with its content's digest
    sha256: str = ""
    _file: IO[str] | None = field(default=None, repr=False)
    _writer: Any = field(default=None, repr=False)
    _quoted: Any = field(default=None, repr=False)
    _tmp: str = field(default="", repr=False)

    def entry(self) -> dict[str, Any]:
        # `name` stays the same from one import to the next (audit records name tables by it);
        # `path` is the file, named with its digest.
        out: dict[str, Any] = {
            "name": self.name,
            "path": self.path,
            "rows": self.rows,
            "sha256": self.sha256,
        }
        if self.kind:
            out["kind"] = self.kind
        if self.relation:
            out["relation"] = self.relation
        if self.merge:
            out["merge"] = True
        if self.clip:
            out["clip"] = True
        return out


class Import:
    """One run of an importer: reads the source, writes tables, counts and reports.

    Importers call `reject` for bad rows and `skip` for rows outside what the layout keeps (a
    CCG parent in epcmem); `write` streams a row to one of the declared tables.
    """

    def __init__(self, layout: str, source: Path, into: Path) -> None:
        self.layout = layout
        self.source = source
        self.into = into
        self.rows_read = 0
        self.kept = 0
        self.has_header = False
        self.rejections: list[Rejection] = []
        self.skipped: Counter[str] = Counter()
        self.tables: dict[str, TableOut] = {}

    @property
    def source_name(self) -> str:
        return self.source.name

    def where(self, row: int) -> str:
        """How a table row cites its origin: 'file:row'."""
        return f"{self.source.name}:{row}"

    def reject(self, row: int, column: int, value: str, reason: str) -> None:
        self.rejections.append(Rejection(row, column, value, reason))

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def table(self, out: TableOut) -> TableOut:
        self.into.mkdir(parents=True, exist_ok=True)
        fd, out._tmp = tempfile.mkstemp(dir=self.into, prefix=f".{self.layout}.", suffix=".tmp")
        out._file = os.fdopen(fd, "w", encoding="utf-8", newline="")
        out._writer = csv.writer(out._file, lineterminator="\n")
        # csv quotes a cell holding a line end only if it is in `lineterminator`: a lone CR
        # would be written bare, and read back as the end of the record.
        out._quoted = csv.writer(out._file, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self.tables[out.name] = out  # before any write, so that `abort` removes it
        out._writer.writerow(out.header)
        return out

    def write(self, out: TableOut, row: Sequence[object]) -> None:
        cells = ["" if v is None else v for v in row]
        writer = (
            out._quoted if any(isinstance(c, str) and "\r" in c for c in cells) else out._writer
        )
        writer.writerow(cells)
        out.rows += 1

    def open_csv(self) -> Iterator[tuple[int, list[str]]]:
        """Stream the source's records with their 1-based row numbers (records, not lines);
        TableError when the file is binary or a record is not CSV."""
        with self.source.open("rb") as raw:
            refuse_binary(raw.read(8192))
        with self.source.open(encoding="utf-8-sig", errors="replace", newline="") as f:
            for number, (_, record) in enumerate(csv_records(f), start=1):
                self.rows_read += 1
                yield number, record

    def header_read(self) -> None:
        """The record just read was the header: it is not a data row (rows read = kept +
        rejected + skipped, always)."""
        self.rows_read -= 1
        self.has_header = True

    def refusal(self) -> Diagnostic | None:
        """Why the import must not replace what the folder holds: the file has no rows, or
        every row was rejected (most likely a file of another layout)."""
        if self.rows_read == 0:
            what = "has a header but no rows" if self.has_header else "is empty"
            return error(
                Code.DATA,
                f"the file '{self.source_name}' {what}",
                None,
                f"give the official {self.layout} file, in full",
            )
        if self.kept == 0 and self.rejections:
            first = self.rejections[0]
            return error(
                Code.DATA,
                f"no row of '{self.source_name}' fits the {self.layout} "
                f"layout ({len(self.rejections):,} rejected)",
                None,
                f"check that it is in the {self.layout} layout; the first rejection, row "
                f"{first.row} column {first.column}: {first.reason}",
            )
        return None

    def commit(self) -> ImportReport:
        """Publish the import whole: the tables under names carrying their content's digest
        (new files, never overwriting what a reader may be reading), then the manifest that
        names them, replaced in one rename; then the rejections file and the removal of the
        tables no longer named. A reader sees the previous import or this one, never a mix; a
        process killed at any point leaves the previous import in force, and the next import
        removes what it left (`sweep`). Importing twice gives the same folder."""
        rejected_name = f"{self.layout}.rejected.csv"
        rej = self.table(TableOut(rejected_name, ["row", "column", "value", "reason"]))
        for r in self.rejections:
            # Opened in spreadsheets: values from the official file are shown, never run.
            self.write(
                rej, [r.row, r.column, spreadsheet_text(r.value), spreadsheet_text(r.reason)]
            )
        tables = [t for t in self.tables.values() if t is not rej]
        for out in [*tables, rej]:
            assert out._file is not None
            out._file.close()
            out.sha256 = sha256_file(Path(out._tmp))
        for out in tables:
            out.path = f"{out.name.removesuffix('.csv')}.{out.sha256[:12]}.csv"
            publish(out._tmp, self.into / out.path)
        manifest = read_manifest(self.into)
        manifest["imports"][self.layout] = {
            "layout": self.layout,
            "source": {"file": self.source.name, "sha256": sha256_file(self.source)},
            "rows_read": self.rows_read,
            "kept": self.kept,
            "rejected": len(self.rejections),
            "skipped": dict(sorted(self.skipped.items())),
            "rejections": rejected_name,
            "tables": [t.entry() for t in tables],
        }
        write_manifest(self.into, manifest)
        rej.path = rejected_name
        publish(rej._tmp, self.into / rejected_name)
        self.sweep()
        return ImportReport(
            self.layout,
            self.source,
            self.rows_read,
            self.kept,
            list(self.rejections),
            dict(self.skipped),
            [t.path for t in tables],
        )

    def sweep(self) -> None:
        """Remove what this layout's imports left behind (killed ones too): temporary files,
        and tables of the layout that the folder's manifest does not name. Only ever run with
        the folder locked (`registry.run_import`)."""
        named = {
            t["path"]
            for i in read_manifest(self.into)["imports"].values()
            for t in i.get("tables", [])
        }
        for pattern in (f".{self.layout}.*.tmp", f".{MANIFEST}.*.tmp"):
            for path in self.into.glob(pattern):
                path.unlink(missing_ok=True)
        for path in self.into.glob(f"{self.layout}.*.csv"):
            if path.name not in named and path.name != f"{self.layout}.rejected.csv":
                path.unlink(missing_ok=True)

    def abort(self) -> None:
        """Leave the folder as the manifest says it is: nothing of this import that it does not
        name (a table published before a failure, a temporary file)."""
        for out in self.tables.values():
            if out._file is not None:
                with contextlib.suppress(OSError):  # a full disk fails the last flush too
                    out._file.close()
            Path(out._tmp).unlink(missing_ok=True)
        with contextlib.suppress(TableError, OSError):
            self.sweep()


def spreadsheet_text(text: str) -> str:
    """A cell a spreadsheet shows as text: a leading `'` before a character that would start a
    formula (`=`, `+`, `-`, `@`, tab, CR: OWASP's "CSV injection" advice)."""
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


@dataclass
class ImportReport:
    """What an import did: rows read, kept, rejected (with reasons) and skipped (by reason)."""

    layout: str
    source: Path
    rows_read: int
    kept: int
    rejections: list[Rejection]
    skipped: dict[str, int]
    tables: list[str]

    def diagnostics(self) -> list[Diagnostic]:
        """Each rejection as an `E-data` diagnostic naming file, row, column and value."""
        src = SourceFile(str(self.source), "")
        return [
            error(Code.DATA, r.reason, Span(src, r.row, r.column, r.row, r.column + 1))
            for r in self.rejections
        ]

    def to_dict(self) -> dict[str, object]:
        return {
            "layout": self.layout,
            "source": str(self.source),
            "rows_read": self.rows_read,
            "kept": self.kept,
            "rejected": len(self.rejections),
            "skipped": self.skipped,
            "tables": self.tables,
        }


def ods_date(text: str) -> dt.date | None:
    """An ODS date, YYYYMMDD; None when malformed."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
