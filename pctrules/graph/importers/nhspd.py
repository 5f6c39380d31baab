"""Import stage: the ONS NHS Postcode Directory (NHSPD) → postcode areas covered by PCTs.

Each postcode becomes an `area` (level `postcode`, code in the `pcds` form, e.g. 'LS1 4AP'),
covered by the PCT in the directory's `pct` column, for the residence rule. A file with a header
row is read by column name (`pcds` or `pcd`, `dointr`, `doterm`, `pct`); a file without one is
read in the NHSPD record layout: 1 pcd, 2 pcd2, 3 pcds, 4 dointr, 5 doterm, …, 37 pct. The `pct`
column holds an ODS code (5NT) or an ONS code (E16000001), which the bundle translates; codes of
other countries (Welsh LHBs, Scottish boards) and blanks are skipped.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from pctrules.graph.importers.base import PCT_ERA_END, Import, TableOut, fields, is_pct_code
from pctrules.graph.importers.tables import read_table
from pctrules.resources import default_bundle_path

LAYOUT = "nhspd"
TITLE = "ONS NHS Postcode Directory: postcode → PCT, for the residence rule"
POSITIONS = {"pcds": 3, "dointr": 4, "doterm": 5, "pct": 37}
_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
_ONS_PCT = re.compile(r"^E1[67][0-9]{6}$")


def postcode(text: str) -> str | None:
    """A postcode in the `pcds` form (outward code, one space, inward code), or None."""
    compact = text.replace(" ", "").upper()
    if not _POSTCODE.match(compact):
        return None
    return f"{compact[:-3]} {compact[-3:]}"


def _month(text: str, last: bool) -> dt.date | None:
    if len(text) != 6 or not text.isdigit() or not 1 <= int(text[4:]) <= 12:
        return None
    year, month = int(text[:4]), int(text[4:])
    return dt.date(year, month, calendar.monthrange(year, month)[1] if last else 1)


def _ons_to_ods() -> dict[str, str]:
    """The default bundle's PCT ONS codes → ODS codes (for directories that give ONS codes)."""
    table = read_table(default_bundle_path() / "data" / "pct.csv")
    code, ons = table.header.index("code"), table.header.index("ons_code")
    return {row[ons]: row[code] for _, row in table.rows if len(row) > ons and row[ons]}


def run(job: Import) -> None:
    areas = job.table(
        TableOut(
            f"{LAYOUT}.postcodes.csv",
            ["code", "level", "valid_from", "valid_to", "source"],
            kind="area",
        )
    )
    covers = job.table(
        TableOut(
            f"{LAYOUT}.covers.csv",
            ["from", "to", "valid_from", "valid_to", "source"],
            relation="covers",
            clip=True,
        )
    )
    translate = _ons_to_ods()
    col = {k: v - 1 for k, v in POSITIONS.items()}
    seen: dict[str, int] = {}
    for number, rec in job.open_csv():
        if number == 1 and any(h.strip().lower() in ("pcds", "pcd") for h in rec):
            names = {h.strip().lower(): i for i, h in enumerate(rec)}
            col = {
                "pcds": names.get("pcds", names.get("pcd", -1)),
                "dointr": names.get("dointr", -1),
                "doterm": names.get("doterm", -1),
                "pct": names.get("pct", -1),
            }
            missing = [k for k, i in col.items() if i < 0]
            if missing:
                job.reject(
                    number,
                    1,
                    ",".join(rec[:3]),
                    f"the header lacks {', '.join(repr(m) for m in missing)}",
                )
                return
            job.header_read()
            continue
        if len(rec) <= max(col.values()):
            job.reject(
                number,
                len(rec) + 1,
                ",".join(rec[:3]),
                f"the row has {fields(len(rec))}; the pct column is field {col['pct'] + 1}",
            )
            continue
        code = postcode(rec[col["pcds"]])
        if code is None:
            job.reject(
                number, col["pcds"] + 1, rec[col["pcds"]], f"'{rec[col['pcds']]}' is not a postcode"
            )
            continue
        start_text, end_text = rec[col["dointr"]].strip(), rec[col["doterm"]].strip()
        start = _month(start_text, last=False) if start_text else dt.date.min
        end = _month(end_text, last=True) if end_text else PCT_ERA_END
        if start is None or end is None:
            column, text = ("dointr", start_text) if start is None else ("doterm", end_text)
            job.reject(
                number, col[column] + 1, text, f"'{text}' in '{column}' is not a month (YYYYMM)"
            )
            continue
        if code in seen:
            job.reject(number, col["pcds"] + 1, code, f"duplicate of row {seen[code]}: '{code}'")
            continue
        pct = rec[col["pct"]].strip()
        pct = translate.get(pct, pct)
        if not is_pct_code(pct):
            if _ONS_PCT.match(pct):
                job.reject(number, col["pct"] + 1, pct, f"unknown PCT '{pct}' for '{code}'")
            else:
                job.skip("not an English PCT (another country, or none)")
            continue
        end = min(end, PCT_ERA_END)
        if start > end:
            job.skip("the postcode was introduced after the PCTs closed")
            continue
        seen[code] = number
        valid_from = "" if start == dt.date.min else start.isoformat()
        job.write(areas, [code, "postcode", valid_from, end.isoformat(), job.where(number)])
        job.write(covers, [pct, code, valid_from, end.isoformat(), job.where(number)])
        job.kept += 1
