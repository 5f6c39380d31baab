"""Import stage: the official layouts `pctrules import` knows, by name."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pctrules.graph.importers import (
    nhsbsa_list_size,
    nhspd,
    ods_epcmem,
    ods_epraccur,
    ods_etr,
    ons_pco_sha,
)
from pctrules.graph.importers.base import Import, ImportReport
from pctrules.graph.importers.tables import MANIFEST, TableError, read_manifest
from pctrules.language.diagnostics import Code, ExitCode, PctrulesError, error


@dataclass(frozen=True)
class Layout:
    name: str
    title: str
    run: Callable[[Import], None]


LAYOUTS: dict[str, Layout] = {
    m.LAYOUT: Layout(m.LAYOUT, m.TITLE, m.run)
    for m in (ods_epcmem, ods_epraccur, ods_etr, ons_pco_sha, nhsbsa_list_size, nhspd)
}


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on the data folder (where the platform has one)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: imports in one folder must not overlap
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def run_import(layout: str, source: Path, into: Path) -> ImportReport:
    """Import `source` in the official `layout` into the data folder `into` (idempotent).

    Raises PctrulesError (exit 3), leaving the folder as it was, when the file cannot be read,
    has no rows, or has no row of the layout, or when the folder's manifest is damaged.
    """
    try:
        read_manifest(into)  # a damaged folder is refused before any work
    except TableError as exc:
        raise PctrulesError(exc.diagnostic(str(into / MANIFEST))) from None
    job = Import(layout, source, into)
    try:
        with _locked(into):  # one import at a time: each rewrites the shared manifest
            try:
                job.sweep()
                LAYOUTS[layout].run(job)
                refusal = job.refusal()
                if refusal is not None:
                    raise PctrulesError(refusal)
                return job.commit()
            except BaseException:
                job.abort()
                raise
    except BaseException as exc:
        if isinstance(exc, TableError):
            raise PctrulesError(exc.diagnostic(str(source))) from None
        # A write that failed (a full disk, a read-only folder) names no file, or a file of
        # the folder; a failure to read the source names the source.
        if isinstance(exc, OSError) and exc.filename != str(source):
            raise PctrulesError(
                error(
                    Code.DATA,
                    f"cannot write into '{into}': {(exc.strerror or '').lower()}",
                    None,
                    "give '--into' a folder that can be written to (it is created if needed)",
                ),
                ExitCode.USAGE,
            ) from None
        raise
