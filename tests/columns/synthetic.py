"""Synthetic test data: a practice register in the ODS epcmem layout over the default bundle's
PCTs, and cases (hospital episodes) over it, with deliberately bad rows; no outside files."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from pctrules.bundle import open_bundle
from pctrules.graph.importers.registry import run_import

ERA = (dt.date(2002, 4, 1), dt.date(2013, 3, 31))
SETTINGS = ["elective", "outpatient", "emergency", None]
COLUMNS = [
    "id",
    "date",
    "person.practice",
    "person.residence",
    "person.present_in",
    "service",
    "setting",
]


def register(into: Path, practices: int = 400, seed: int = 7) -> list[str]:
    """Write `practices` practices, each a member of one or two of the bundle's PCTs over time,
    as an epcmem file imported into `into`; their codes are returned."""
    graph = open_bundle(None).graph
    pcts = sorted(
        (n.code, n.valid_from, n.valid_to)
        for n in graph.nodes.values()
        if n.kind == "pct" and n.valid_to >= ERA[0]
    )
    rng = random.Random(seed)
    rows, codes = [], []
    for i in range(practices):
        code = f"{'ABCDEFGHJKLMN'[i % 13]}{90000 + i:05d}"
        codes.append(code)
        pct, first, last = rng.choice(pcts)
        first, last = max(first, ERA[0]), min(last, ERA[1])
        if rng.random() < 0.3 and (last - first).days > 400:  # moved to another PCT
            cut = first + dt.timedelta(days=rng.randrange(200, (last - first).days - 100))
            other, o_first, o_last = rng.choice(pcts)
            rows.append((code, pct, first, cut - dt.timedelta(days=1)))
            if o_first <= cut <= o_last:
                rows.append((code, other, cut, o_last))
        else:
            open_ended = last == ERA[1] and rng.random() < 0.2  # still a member in 2019
            rows.append((code, pct, first, None if open_ended else last))
    epcmem = into / "epcmem.csv"
    with epcmem.open("w", encoding="utf-8") as f:
        for code, pct, first, last in rows:
            left = "" if last is None else last.strftime("%Y%m%d")
            f.write(f'"{code}","{pct}","W","{first.strftime("%Y%m%d")}","{left}","0"\n')
    run_import("ods-epcmem", epcmem, into / "register")
    return codes


def cases(
    n: int,
    practices: list[str],
    seed: int = 11,
    bad: bool = True,
) -> list[dict[str, object]]:
    """`n` episodes as flat rows (dotted keys, None for absent), some of them deliberately bad:
    impossible dates, codes of the wrong kind, codes no data knows, no date, an empty id."""
    graph = open_bundle(None).graph
    areas = sorted(c for c, node in graph.nodes.items() if node.kind == "area")
    services = sorted(c for c, node in graph.nodes.items() if node.kind == "service")
    pcts = sorted(c for c, node in graph.nodes.items() if node.kind == "pct")
    rng = random.Random(seed)
    span = (ERA[1] - ERA[0]).days
    out: list[dict[str, object]] = []
    for i in range(n):
        day = ERA[0] + dt.timedelta(days=rng.randrange(-200, span + 200))
        row: dict[str, object] = {
            "id": f"c{i:06d}",
            "date": day.isoformat(),
            "person.practice": rng.choice(practices) if rng.random() < 0.85 else None,
            "person.residence": rng.choice(areas) if rng.random() < 0.4 else None,
            "person.present_in": rng.choice(areas) if rng.random() < 0.1 else None,
            "service": rng.choice(services) if rng.random() < 0.9 else None,
            "setting": rng.choice(SETTINGS),
        }
        if bad and rng.random() < 0.03:
            k = rng.randrange(7)
            if k == 0:
                row["date"] = "2011-02-30"
            elif k == 1:
                row["person.practice"] = rng.choice(pcts)  # a PCT where a practice belongs
            elif k == 2:
                # On no register, or in lower case: a warning (suggesting the upper-case code)
                lower = practices[i % len(practices)].lower()
                row["person.practice"] = "Y99999" if i % 2 else lower
            elif k == 3:
                row["date"] = None
            elif k == 4:
                row["id"] = ""
            elif k == 5:
                row["service"] = " padded "
            else:
                row["id"] = None
        out.append(row)
    return out
