"""A synthetic practice register for tests: official-layout files that stand in for the real ones.

`write_official(folder)` writes, under the names the real files have in
`../shared/data/england/`, a made-up register that fits the default bundle's own facts: so every
test, script and importer that reads that folder (the importers, `benchmarks/generate_cases.py`,
`benchmarks/floor.py`) runs on it unchanged, on a clean clone, with no file from outside the
repository.

- `ods_epcmem_2019-08-30.csv` (ODS epcmem, no header): practices with dated memberships of the
  bundle's PCTs: a PCG before 2001 and a CCG after 2013 (both skipped by the importer, as in the
  real file), a predecessor PCT before the 2006 map (codes the bundle does not name, or its own),
  one or two PCTs of the 2006 map (a move on a random day; a PCT that closes passes its practices
  to another on the next day), practices that open late or close early. A few *anchor* practices
  have their real histories (A81001, P84005, E82001…), so tests that name them hold on either
  register.
- `nhsbsa_patient_list_size_2013-04_to_06.csv`: list sizes (18 age/sex bands) for most practices
  alive in 2013, and one row for a code the register does not have.
- `ons_pco12_to_sha12_lookup.csv`: each PCT of 2012 with its ONS code and managing SHA, from the
  bundle's tables.
- `ods_epraccur_2019.csv`: names, postcodes, status and prescribing setting of most practices.
- `nhspd_synthetic.csv` (NHSPD with a header): postcodes, each covered by a PCT for a period.

`import_register(official, into)` imports them as `pctrules import` does (the imported-table
format: node and edge tables plus the folder's manifest).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pctrules.graph.importers.registry import run_import

REPO = Path(__file__).resolve().parents[1]
ENGLAND = REPO / "policies" / "england"
EPCMEM = "ods_epcmem_2019-08-30.csv"
LIST_SIZES = "nhsbsa_patient_list_size_2013-04_to_06.csv"
PCO_SHA = "ons_pco12_to_sha12_lookup.csv"
EPRACCUR = "ods_epraccur_2019.csv"
NHSPD = "nhspd_synthetic.csv"
# layout → file, in the order `import_register` imports them (the register first).
LAYOUTS = {
    "ods-epcmem": EPCMEM,
    "nhsbsa-list-size": LIST_SIZES,
    "ons-pco-sha": PCO_SHA,
    "ods-epraccur": EPRACCUR,
    "nhspd": NHSPD,
}

PCG_END = dt.date(2001, 3, 31)
MAP_START = dt.date(2006, 10, 1)  # the 2006 map of PCTs and SHAs
ERA_END = dt.date(2013, 3, 31)  # every PCT closed then

# Real histories of the practices tests and examples name (ODS epcmem, 2019-08-30):
# (practice, parent, join, left); PCG and CCG rows included.
ANCHORS: tuple[tuple[str, str, str, str], ...] = (
    ("A81001", "4QP36", "19990401", "20010331"),
    ("A81001", "5E1", "20010401", "20130331"),
    ("A81001", "00K", "20130401", ""),
    ("A81002", "5E1", "20010401", "20130331"),
    ("A81002", "00K", "20130401", ""),
    ("A81005", "5KN", "20020401", "20060930"),
    ("A81005", "5QR", "20061001", "20130331"),
    ("A81005", "00M", "20130401", ""),
    ("A91117", "5QL", "20101001", "20130331"),
    ("A91117", "13Q", "20130401", ""),
    ("B82005", "5E2", "20010401", "20060930"),
    ("B82005", "5NV", "20061001", "20130331"),
    ("B82005", "03Q", "20130401", ""),
    ("C84001", "5ET", "20010401", "20130331"),
    ("C84001", "02Q", "20130401", ""),
    ("E82001", "4PY01", "19990401", "20010331"),
    ("E82001", "5GW", "20010401", "20060930"),
    ("E82001", "5P4", "20061001", "20100331"),
    ("E82001", "5QV", "20100401", "20130331"),
    ("E82001", "06N", "20130401", ""),
    ("M85001", "5AY", "20001001", "20020331"),
    ("M85001", "5MY", "20020401", "20060930"),
    ("M85001", "5PG", "20061001", "20130331"),
    ("M85001", "13P", "20130401", "20180331"),
    ("M85001", "15E", "20180401", ""),
    ("M89001", "4GK35", "19990401", "20010331"),
    ("M89001", "5D1", "20010401", "20060930"),
    ("M89001", "TAM", "20061001", "20110414"),
    ("M89001", "5QW", "20110415", "20130331"),
    ("M89001", "05P", "20130401", "20180331"),
    ("M89001", "15E", "20180401", ""),
    ("P84001", "5CR", "20001001", "20060930"),
    ("P84001", "5NT", "20061001", "20130331"),
    ("P84001", "01M", "20130401", ""),
    ("P84004", "5CR", "20001001", "20060930"),
    ("P84004", "5NT", "20061001", "20130331"),
    ("P84004", "01M", "20130401", "20170331"),
    ("P84004", "14L", "20170401", ""),
    ("P84005", "4QV29", "19990401", "20000930"),
    ("P84005", "5CL", "20001001", "20060930"),
    ("P84005", "5NT", "20061001", "20130331"),
    ("P84005", "00W", "20130401", "20170331"),
    ("P84005", "14L", "20170401", ""),
)
ANCHOR_CODES = frozenset(a[0] for a in ANCHORS)


@dataclass(frozen=True)
class Pct:
    code: str
    ons_code: str
    name: str
    first: dt.date
    last: dt.date
    note: str = ""


def _table(path: Path) -> Iterator[dict[str, str]]:
    """The rows of one of the bundle's data tables (comment lines skipped)."""
    with path.open(newline="", encoding="utf-8") as f:
        yield from csv.DictReader(line for line in f if not line.startswith("#"))


def _date(text: str, default: dt.date) -> dt.date:
    return dt.date.fromisoformat(text) if text else default


def bundle_pcts(bundle: Path = ENGLAND) -> list[Pct]:
    """The PCTs the bundle names, with their lives (open ends: the PCT era)."""
    return [
        Pct(
            r["code"],
            r.get("ons_code") or "",
            r.get("name") or r["code"],
            _date(r.get("valid_from", ""), MAP_START),
            _date(r.get("valid_to", ""), ERA_END),
            r.get("note") or "",
        )
        for r in _table(bundle / "data" / "pct.csv")
    ]


def _ods(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _day(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return dt.date.fromordinal(rng.randint(first.toordinal(), last.toordinal()))


class _Register:
    """Memberships drawn one practice at a time, each fitting the lives of the bundle's PCTs."""

    def __init__(self, rng: random.Random, pcts: list[Pct]) -> None:
        self.rng = rng
        self.pcts = pcts
        known = {p.code for p in pcts}
        letters = string.ascii_uppercase + string.digits
        # Predecessor PCTs the bundle does not name (5GW, 5CL… in the real file).
        self.predecessors = sorted(
            {c for c in (f"5{a}{b}" for a in "XYZ" for b in letters) if c not in known}
        )[:24]

    def alive(self, day: dt.date) -> list[Pct]:
        return [p for p in self.pcts if p.first <= day <= p.last]

    def successor(self, pct: Pct) -> Pct | None:
        """Where a closing PCT's practices go the next day: the PCT its note names ('merged
        into 5QV…'), else one that starts that day."""
        day = pct.last + dt.timedelta(days=1)
        starting = [p for p in self.alive(day) if p.first == day]
        named = [p for p in self.alive(day) if re.search(rf"\b{p.code}\b", pct.note)]
        return (named or starting or [None])[0]

    def history(self, practice: str) -> list[tuple[str, str, str, str]]:
        rng = self.rng
        rows: list[tuple[str, str, str, str]] = []
        opened = (
            _day(rng, dt.date(1999, 4, 1), dt.date(2012, 6, 30))
            if rng.random() < 0.12
            else dt.date(1999, 4, 1)
        )
        closes = (
            _day(rng, max(opened, MAP_START), dt.date(2013, 2, 28)) if rng.random() < 0.08 else None
        )
        if opened <= PCG_END:
            pcg = f"4{rng.choice('ABCDEFGH')}{rng.choice('PQRS')}{rng.randint(10, 99)}"
            rows.append((practice, pcg, _ods(opened), _ods(PCG_END)))
            opened = PCG_END + dt.timedelta(days=1)
        before_map = MAP_START - dt.timedelta(days=1)
        pct: Pct | None = None
        if opened < MAP_START:
            # Before the 2006 map: a predecessor the bundle does not name, one it names that
            # closed by then (5CR, 5CC…), or one of the 2006 map (whose life then starts
            # earlier, as 5E1's does in the real register).
            draw = rng.random()
            older = [p for p in self.alive(before_map) if p.first <= opened]
            if draw < 0.4 or not older:
                parent = rng.choice(self.predecessors)
            else:
                pct = rng.choice(older if draw < 0.7 else self.alive(MAP_START))
                parent = pct.code
            last = min(before_map, pct.last if pct is not None else before_map)
            rows.append((practice, parent, _ods(opened), _ods(last)))
            opened = last + dt.timedelta(days=1)
            if pct is not None and pct.last > last:
                opened = MAP_START  # it carries on in the same PCT below
            else:
                pct = self.successor(pct) if pct is not None else None
        day, end = opened, min(closes or ERA_END, ERA_END)
        moves = 1 if rng.random() < 0.2 else 0
        while day <= end:
            choices = self.alive(day)
            if not choices:
                break
            if pct is None or not pct.first <= day <= pct.last:
                pct = rng.choice(choices)
            last = min(pct.last, end)
            if moves and last > day + dt.timedelta(days=60):
                last = _day(rng, day + dt.timedelta(days=30), last - dt.timedelta(days=30))
                moves -= 1
            open_ended = last == ERA_END and rng.random() < 0.3  # the importer closes it then
            rows.append((practice, pct.code, _ods(day), "" if open_ended else _ods(last)))
            day = last + dt.timedelta(days=1)
            # A PCT that closed passes its practices on; a practice that moved picks anew.
            pct = self.successor(pct) if last == pct.last else None
        if closes is None and rng.random() < 0.9:
            ccg = f"{rng.choice('01')}{rng.randint(0, 9)}{rng.choice(string.ascii_uppercase)}"
            rows.append((practice, ccg, "20130401", ""))
        return rows


def _practice_codes(rng: random.Random, n: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < n:
        code = f"{rng.choice('ABCDEFGHJKLMNPY')}{rng.randint(80000, 99999)}"
        if code not in ANCHOR_CODES:
            codes.add(code)
    return sorted(codes)


def write_official(
    folder: Path, *, seed: int = 2011, practices: int = 1500, bundle: Path = ENGLAND
) -> Path:
    """Write the synthetic official files into `folder` (created); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    pcts = bundle_pcts(bundle)
    register = _Register(rng, pcts)
    codes = _practice_codes(rng, practices)
    rows = [row for code in codes for row in register.history(code)]
    rows += ANCHORS
    rng.shuffle(rows)  # the real file is in no useful order either
    with (folder / EPCMEM).open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        out.writerows((p, parent, "W", join, left, "0") for p, parent, join, left in rows)
    alive_2013 = sorted(
        {r[0] for r in rows if r[3] in ("20130331", "") and len(r[1]) == 3 and r[1][0] in "5T"}
        | {"A81001", "P84005"}
    )
    _write_list_sizes(folder / LIST_SIZES, rng, alive_2013)
    _write_pco_sha(folder / PCO_SHA, pcts, bundle)
    _write_epraccur(folder / EPRACCUR, rng, sorted({r[0] for r in rows}))
    _write_nhspd(folder / NHSPD, rng, pcts)
    return folder


def import_register(official: Path, into: Path) -> Path:
    """Import every synthetic file into a data folder, as `pctrules import` does; returns it."""
    for layout, name in LAYOUTS.items():
        run_import(layout, official / name, into)
    return into


BANDS = [
    f"{sex} {ages}"
    for ages in ("0-4", "5-14", "15-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+")
    for sex in ("Male", "Female")
]


def _write_list_sizes(path: Path, rng: random.Random, practices: list[str]) -> None:
    header = [
        "Regional Office Name",
        "Regional Office Code",
        "Area Team Name",
        "Area Team Code",
        "PCO Name",
        "PCO Code",
        "Practice Name",
        "Practice Code",
        *BANDS,
    ]
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        for code in [*practices, "Y99999"]:  # the last is not in the register: a warning
            if rng.random() < 0.1 and code != "Y99999":
                continue  # no list size: the PCT's sum counts the practices that have one
            out.writerow(
                [
                    "NORTH",
                    "Y54",
                    "AREA",
                    "Q44",
                    "PCO",
                    "5XX00",
                    f"PRACTICE {code}",
                    code,
                    *(rng.randint(0, 400) for _ in BANDS),
                ]
            )


def _write_pco_sha(path: Path, pcts: list[Pct], bundle: Path) -> None:
    day = dt.date(2012, 4, 1)
    managed = {
        r["from"]: r["to"]
        for r in _table(bundle / "data" / "managed-by.csv")
        if _date(r.get("valid_from", ""), MAP_START) <= day <= _date(r.get("valid_to", ""), ERA_END)
    }
    shas = {r["code"]: r for r in _table(bundle / "data" / "sha.csv")}
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        out.writerow(["PCO12CD", "PCO12CDO", "PCO12NM", "SHA12CD", "SHA12CDO", "SHA12NM"])
        for p in pcts:
            sha = shas.get(managed.get(p.code, ""))
            if sha is None or not p.ons_code or not p.first <= day <= p.last:
                continue
            out.writerow(
                [
                    p.ons_code,
                    p.code,
                    p.name.removesuffix(" PCT"),
                    sha.get("ons_code", ""),
                    sha["code"],
                    sha.get("name", ""),
                ]
            )


def _write_epraccur(path: Path, rng: random.Random, practices: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for code in practices:
            if rng.random() < 0.05:
                continue
            row = [""] * 27
            row[0], row[1] = code, f"THE {code} SURGERY"
            row[9] = (
                f"ZZ{rng.randint(1, 99)} {rng.randint(1, 9)}{rng.choice('ABDEF')}"
                f"{rng.choice('GHJLN')}"
            )
            row[10] = "19740401"
            status = rng.choice("AAAAC")
            row[11] = "" if status == "A" else "20150331"
            row[12] = status
            row[14] = "00K"
            row[25] = "4"
            out.writerow(row)


def _write_nhspd(path: Path, rng: random.Random, pcts: list[Pct]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["pcds", "dointr", "doterm", "pct"])
        for i, p in enumerate(pcts):
            for k in range(3):
                district = f"ZY{i % 90 + 1}"
                code = (
                    f"{district} {k + 1}{string.ascii_uppercase[i // 90]}"
                    f"{string.ascii_uppercase[k]}"
                )
                start = max(p.first, dt.date(2002, 4, 1))
                # Some postcodes came in later or were retired before the PCT closed.
                first = start if rng.random() < 0.7 else _day(rng, start, p.last)
                term = "" if rng.random() < 0.8 else _day(rng, first, p.last).strftime("%Y%m")
                out.writerow([code, first.strftime("%Y%m"), term, p.code])
