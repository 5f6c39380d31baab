"""Import stage: the official layouts `pctrules import` knows, by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pctrules.importers import nhsbsa_list_size, nhspd, ods_epcmem, ods_epraccur, ons_pco_sha
from pctrules.importers.base import Import, ImportReport


@dataclass(frozen=True)
class Layout:
    name: str
    title: str
    run: Callable[[Import], None]


LAYOUTS: dict[str, Layout] = {
    m.LAYOUT: Layout(m.LAYOUT, m.TITLE, m.run)
    for m in (ods_epcmem, ods_epraccur, ons_pco_sha, nhsbsa_list_size, nhspd)
}


def run_import(layout: str, source: Path, into: Path) -> ImportReport:
    """Import `source` in the official `layout` into the data folder `into` (idempotent)."""
    job = Import(layout, source, into)
    try:
        LAYOUTS[layout].run(job)
        return job.commit()
    except BaseException:
        job.abort()
        raise
