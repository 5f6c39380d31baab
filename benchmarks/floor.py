"""Benchmark floor: the responsible PCT of each case by a plain, single-purpose Python script.

What an analyst would write without pctrules: read the ODS epcmem memberships and the covered
areas into dicts, then for each CSV row look the practice (or, for the unregistered, the area of
residence) up by date and write the answer. It uses no pctrules code, so the benchmark also uses
its output as an independent check of `pctrules batch`.

    python benchmarks/floor.py /tmp/cases-1m.csv --output /tmp/floor-1m.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "england"
COVERS = REPO / "policies" / "england" / "data" / "covers.csv"
AREAS = REPO / "policies" / "england" / "data" / "areas.csv"
ERA_END = "2013-03-31"

Intervals = dict[str, list[tuple[str, str, str]]]


def load_practices(epcmem: Path) -> Intervals:
    """practice → [(first day, last day, PCT)] as ISO text, which compares like dates."""
    out: Intervals = {}
    with epcmem.open(newline="", encoding="utf-8") as f:
        for practice, parent, _, joined, left, *_ in csv.reader(f):
            if len(parent) != 3 or parent[0] not in "5T":  # PCTs and care trusts only
                continue
            first = f"{joined[:4]}-{joined[4:6]}-{joined[6:8]}"
            last = f"{left[:4]}-{left[4:6]}-{left[6:8]}" if left else ERA_END
            out.setdefault(practice, []).append((first, min(last, ERA_END), parent))
    return out


def load_areas(covers: Path) -> Intervals:
    """area → [(first day, last day, PCT covering it)]."""
    out: Intervals = {}
    with covers.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            out.setdefault(row["to"], []).append((row["valid_from"], row["valid_to"], row["from"]))
    return out


def alive(spans: Spans, code: str, day: str) -> bool:
    first, last = spans.get(code, ("9", "0"))  # never, for a code it does not have
    return first <= day <= last


def on(intervals: Intervals, code: str, day: str) -> str | None:
    for first, last, pct in intervals.get(code, ()):
        if first <= day <= last:
            return pct
    return None


Spans = dict[str, tuple[str, str]]


def registered(practices: Intervals) -> Spans:
    """practice → (first day, last day) it is in the register: its first PCT membership's
    start to its last one's end."""
    return {
        p: (min(i[0] for i in spans), max(i[1] for i in spans)) for p, spans in practices.items()
    }


def area_spans(areas: Path) -> Spans:
    """area → (first day, last day) it exists, from the bundle's areas.csv."""
    with areas.open(newline="", encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {row["code"]: (row["valid_from"], row["valid_to"]) for row in rows}


def run(cases: Path, output: Path, data: Path) -> int:
    """Write the responsible PCT of each case, in the columns `pctrules batch` writes; the
    warnings column names each code the data does not have on the case's day."""
    practices = load_practices(data / "ods_epcmem_2019-08-30.csv")
    in_register = registered(practices)
    in_bundle = area_spans(AREAS)
    areas = load_areas(COVERS)
    n = 0
    with (
        cases.open(newline="", encoding="utf-8") as fin,
        output.open("w", newline="", encoding="utf-8") as fout,
    ):
        rows = csv.reader(fin)
        header = next(rows)
        i_id, i_date = header.index("id"), header.index("date")
        i_practice, i_residence = header.index("person.practice"), header.index("person.residence")
        out = csv.writer(fout, lineterminator="\n")
        out.writerow(
            [
                "id",
                "responsible_pct",
                "responsible_pct.rule",
                "responsible_pct.reason",
                "error",
                "warnings",
            ]
        )
        for row in rows:
            day, practice, residence = row[i_date], row[i_practice], row[i_residence]
            pct = on(practices, practice, day) if practice else None
            warnings = []
            if practice and not alive(in_register, practice, day):
                warnings.append(
                    f"practice '{practice}' is not in the practice register on "
                    f"{day}; treated as unregistered"
                )
                practice = ""
            if residence and not alive(in_bundle, residence, day):
                warnings.append(
                    f"area '{residence}' is not in the data on {day}; treated as absent"
                )
            warning = "; ".join(warnings)
            if pct is not None:
                out.writerow([row[i_id], pct, "registered-practice", "1", "", warning])
            elif not practice and (pct := on(areas, residence, day)) is not None:
                out.writerow([row[i_id], pct, "unregistered-resident", "4", "", warning])
            else:
                out.writerow([row[i_id], "", "not-known", "9", "", warning])
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", type=Path)
    p.add_argument("--output", "-o", type=Path, required=True)
    p.add_argument("--data", type=Path, default=DATA)
    args = p.parse_args(argv)
    n = run(args.cases, args.output, args.data)
    print(f"{n} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
