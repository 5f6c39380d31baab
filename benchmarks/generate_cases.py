"""Benchmark input: N cases over the real practice register (ODS epcmem), as CSV or JSONL.

Registered cases take a random PCT-era membership of the ODS epcmem file and a random date
inside it (2002-04-01 → 2013-03-31), so every one has a known answer; about a tenth are
unregistered residents of a PCT's statutory area (the default bundle's covers.csv) on a date
that area was covered. A fifth of registered cases also carry a residence, usually another
PCT's area, so that the registered-practice rule has to win over residence.

With `--activity`, each case is also a hospital episode: a `service` from the default bundle's
catalogue (three quarters routine care, with A&E and ambulance cases in an emergency `setting`
and present in an area; 8 % an SSNDS specialised service; 2 % a national one) and a `setting`,
so that every decision of the default bundle, `commissioner` and the lead PCT included, has
work to do.

    python benchmarks/generate_cases.py 1000000 --output /tmp/cases-1m.csv [--activity]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "england"
EPCMEM = "ods_epcmem_2019-08-30.csv"
COVERS = REPO / "policies" / "england" / "data" / "covers.csv"
ERA_START = dt.date(2002, 4, 1)
ERA_END = dt.date(2013, 3, 31)
COLUMNS = ["id", "date", "person.practice", "person.residence"]
ACTIVITY = ["service", "setting", "person.present_in"]
SPECIALISED = [f"SSNDS-{k:02d}" for k in range(1, 11)]
NATIONAL = ["NCG-HEART-TX", "NCG-LUNG-TX", "NCG-LIVER-TX"]
ROUTINE = ["ROUTINE", "MATERNITY", "MENTAL-HEALTH"]


def memberships(epcmem: Path) -> list[tuple[str, int, int]]:
    """(practice, first day ordinal, last day ordinal) of each PCT membership inside the era."""
    out: list[tuple[str, int, int]] = []
    with epcmem.open(newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            practice, parent, _, joined, left = row[:5]
            # PCTs and care trusts have three-character codes starting 5 or T (PCGs have five,
            # CCGs start 0 or 1); every PCT closed on 2013-03-31.
            if len(parent) != 3 or parent[0] not in "5T":
                continue
            start = max(_ods_date(joined), ERA_START)
            end = min(_ods_date(left) if left else ERA_END, ERA_END)
            if start <= end:
                out.append((practice, start.toordinal(), end.toordinal()))
    return out


def areas(covers: Path) -> list[tuple[str, int, int]]:
    """(area, first day ordinal, last day ordinal) of each covered statutory area."""
    out: list[tuple[str, int, int]] = []
    with covers.open(newline="", encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        for row in rows:
            start = max(dt.date.fromisoformat(row["valid_from"]), ERA_START)
            end = min(dt.date.fromisoformat(row["valid_to"]), ERA_END)
            if start <= end:
                out.append((row["to"], start.toordinal(), end.toordinal()))
    return out


def _ods_date(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def episode(rng: random.Random, covered: list[tuple[str, int, int]]) -> list[str]:
    """A service, a setting and (for emergency care) where the person was."""
    draw = rng.random()
    if draw < 0.02:
        return [rng.choice(NATIONAL), "elective", ""]
    if draw < 0.10:
        return [rng.choice(SPECIALISED), rng.choice(["elective", "outpatient"]), ""]
    if draw < 0.25:
        return [rng.choice(["AE", "AMBULANCE"]), "emergency", rng.choice(covered)[0]]
    if draw < 0.85:
        return [rng.choice(ROUTINE), rng.choice(["elective", "outpatient", "emergency"]), ""]
    return ["", "", ""]


def generate(
    n: int,
    out: Path,
    fmt: str,
    seed: int,
    data: Path,
    activity: bool = False,
) -> None:
    """Write `n` cases to `out` (csv or jsonl), reproducibly for a given seed."""
    rng = random.Random(seed)
    members = memberships(data / EPCMEM)
    covered = areas(COVERS)
    # Dates are drawn as ordinals and turned into ISO text once per distinct day.
    iso: dict[int, str] = {}
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n") if fmt == "csv" else None
        if writer is not None:
            writer.writerow(COLUMNS + ACTIVITY if activity else COLUMNS)
        for i in range(1, n + 1):
            if rng.random() < 0.1:
                area, start, end = rng.choice(covered)
                practice = ""
            else:
                practice, start, end = rng.choice(members)
                area = rng.choice(covered)[0] if rng.random() < 0.2 else ""
            day = rng.randint(start, end)
            when = iso.get(day)
            if when is None:
                when = iso[day] = dt.date.fromordinal(day).isoformat()
            row = [f"c{i:08d}", when, practice, area]
            if activity:
                row += episode(rng, covered)
            if writer is not None:
                writer.writerow(row)
            else:
                case: dict[str, object] = {"id": row[0], "date": when}
                person = {
                    k: v
                    for k, v in (
                        ("practice", practice),
                        ("residence", area),
                        ("present_in", row[6] if activity else ""),
                    )
                    if v
                }
                if person:
                    case["person"] = person
                if activity:
                    case.update((k, v) for k, v in (("service", row[4]), ("setting", row[5])) if v)
                f.write(json.dumps(case, separators=(",", ":")) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", type=int, help="number of cases")
    p.add_argument("--output", "-o", type=Path, required=True, help="file to write")
    p.add_argument(
        "--format",
        choices=["csv", "jsonl"],
        default=None,
        help="default: from the file name (.jsonl → jsonl, else csv)",
    )
    p.add_argument("--seed", type=int, default=2011)
    p.add_argument("--data", type=Path, default=DATA, help=f"official data folder ({DATA})")
    p.add_argument(
        "--activity",
        action="store_true",
        help="add a service, a setting and where emergency care happened",
    )
    args = p.parse_args(argv)
    if not (args.data / EPCMEM).exists():
        print(f"error: '{args.data / EPCMEM}' does not exist; pass --data", file=sys.stderr)
        return 2
    fmt = args.format or ("jsonl" if args.output.suffix == ".jsonl" else "csv")
    generate(args.n, args.output, fmt, args.seed, args.data, args.activity)
    return 0


if __name__ == "__main__":
    sys.exit(main())
