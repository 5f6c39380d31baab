"""Import stage: ODS `epcmem` (practice → parent organisation, with dates) → the practice register.

No header; columns: 1 organisation code, 2 parent code, 3 parent type, 4 join date YYYYMMDD,
5 left date YYYYMMDD (blank = current), 6 amended flag. Only PCT-era parents are kept (PCTs and
care trusts: three characters starting 5 or T); PCG, CCG and other parents are skipped.
"""

from __future__ import annotations

import datetime as dt

from pctrules.graph.importers.base import (
    PCT_ERA_END,
    Import,
    TableOut,
    fields,
    is_ods_code,
    is_pct_code,
    ods_date,
)

LAYOUT = "ods-epcmem"
TITLE = "ODS epcmem: GP practice memberships of PCTs, with join and left dates"


def run(job: Import) -> None:
    # Memberships are few (tens of thousands); keep them to check overlaps before writing.
    members: dict[str, list[tuple[dt.date, dt.date, str, int]]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    for number, rec in job.open_csv():
        if len(rec) < 5:
            job.reject(
                number,
                len(rec) + 1,
                ",".join(rec),
                f"the row has {fields(len(rec))}; epcmem rows have 6",
            )
            continue
        code, parent, join_text, left_text = (
            rec[0].strip(),
            rec[1].strip(),
            rec[3].strip(),
            rec[4].strip(),
        )
        if not is_ods_code(code):
            job.reject(number, 1, code, f"'{code}' is not an organisation code")
            continue
        if not is_ods_code(parent):
            job.reject(number, 2, parent, f"unknown parent '{parent}' for '{code}'")
            continue
        if not is_pct_code(parent):
            job.skip("parent is not a PCT or care trust (a PCG, CCG or other body)")
            continue
        joined = ods_date(join_text)
        if joined is None:
            job.reject(number, 4, join_text, f"join date '{join_text}' is not a date (YYYYMMDD)")
            continue
        left = ods_date(left_text) if left_text else PCT_ERA_END
        if left is None:
            job.reject(number, 5, left_text, f"left date '{left_text}' is not a date (YYYYMMDD)")
            continue
        # Every PCT closed on 2013-03-31; an open membership of a PCT ends then.
        left = min(left, PCT_ERA_END)
        if left < joined:
            job.reject(
                number,
                5,
                left_text,
                f"'{code}' left '{parent}' on {left}, before it joined on {joined}",
            )
            continue
        key = (code, parent, join_text)
        if key in seen:
            job.reject(
                number,
                1,
                code,
                f"duplicate of row {seen[key]}: '{code}' joined '{parent}' on {joined}",
            )
            continue
        seen[key] = number
        members.setdefault(code, []).append((joined, left, parent, number))

    edges = job.table(
        TableOut(
            f"{LAYOUT}.part_of.csv",
            ["from", "to", "valid_from", "valid_to", "source"],
            relation="part_of",
        )
    )
    practices = job.table(
        TableOut(
            f"{LAYOUT}.practices.csv", ["code", "valid_from", "valid_to", "source"], kind="practice"
        )
    )
    pcts: dict[str, tuple[dt.date, dt.date, str]] = {}
    for code in sorted(members):
        items = sorted(members[code])
        kept: list[tuple[dt.date, dt.date, str, int]] = []
        for item in items:
            if kept and item[0] <= kept[-1][1]:
                prev = kept[-1]
                job.reject(
                    item[3],
                    4,
                    item[0].strftime("%Y%m%d"),
                    f"'{code}' would be in '{prev[2]}' (row {prev[3]}) and '{item[2]}' "
                    f"at once from {item[0]} to {min(item[1], prev[1])}",
                )
                continue
            kept.append(item)
        for joined, left, parent, number in kept:
            job.write(
                edges, [code, parent, joined.isoformat(), left.isoformat(), job.where(number)]
            )
            job.kept += 1
            first, last, where = pcts.get(parent, (joined, left, job.where(number)))
            pcts[parent] = (min(first, joined), max(last, left), where)
        if not kept:
            continue
        job.write(
            practices,
            [
                code,
                kept[0][0].isoformat(),
                max(k[1] for k in kept).isoformat(),
                job.where(kept[0][3]),
            ],
        )
    # A node for every PCT code met, so that predecessors (5P3, TAM, 5CR…) resolve by date;
    # the bundle supplies names for the codes it knows.
    table = job.table(
        TableOut(f"{LAYOUT}.pcts.csv", ["code", "valid_from", "valid_to", "source"], kind="pct")
    )
    for parent in sorted(pcts):
        first, last, where = pcts[parent]
        job.write(table, [parent, first.isoformat(), last.isoformat(), where])
