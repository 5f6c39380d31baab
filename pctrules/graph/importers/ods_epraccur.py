"""Import stage: ODS `epraccur` (GP practices: name, postcode, status, setting) → attributes.

No header; the 27-field ODS layout: 1 code, 2 name, 10 postcode, 11 open date, 12 close date,
13 status (A, C, D, P), 15 commissioner, 26 prescribing setting (4 = GP practice). Its parents
are 2019 CCGs, so only the practices' own facts are kept; they are added to the practices that
the register (`ods-epcmem`) defines.
"""

from __future__ import annotations

from pctrules.graph.importers.base import Import, TableOut, fields, is_ods_code, ods_date

LAYOUT = "ods-epraccur"
TITLE = "ODS epraccur: GP practice names, postcodes, status and prescribing setting"
FIELDS = 27
STATUSES = frozenset("ACDP")


def run(job: Import) -> None:
    out = job.table(
        TableOut(
            f"{LAYOUT}.practices.csv",
            [
                "code",
                "name",
                "postcode",
                "status",
                "prescribing_setting",
                "open_date",
                "close_date",
                "source",
            ],
            kind="practice",
            merge=True,
        )
    )
    seen: dict[str, int] = {}
    for number, rec in job.open_csv():
        if len(rec) < 26:
            job.reject(
                number,
                len(rec) + 1,
                ",".join(rec[:2]),
                f"the row has {fields(len(rec))}; epraccur rows have {FIELDS}",
            )
            continue
        code = rec[0].strip()
        if not is_ods_code(code):
            job.reject(number, 1, code, f"'{code}' is not an organisation code")
            continue
        if code in seen:
            job.reject(number, 1, code, f"duplicate of row {seen[code]}: practice '{code}'")
            continue
        dates = []
        bad = False
        for column in (11, 12):
            text = rec[column - 1].strip()
            d = ods_date(text) if text else None
            if text and d is None:
                job.reject(number, column, text, f"'{text}' is not a date (YYYYMMDD)")
                bad = True
                break
            dates.append(d.isoformat() if d else "")
        if bad:
            continue
        parent = rec[14].strip()
        if parent and not is_ods_code(parent):
            job.reject(number, 15, parent, f"unknown parent '{parent}' for '{code}'")
            continue
        status = rec[12].strip()
        if status and status not in STATUSES:
            job.reject(number, 13, status, f"unknown status '{status}'; epraccur uses A, C, D, P")
            continue
        setting = rec[25].strip()
        if setting and not setting.isdigit():
            job.reject(number, 26, setting, f"prescribing setting '{setting}' is not a number")
            continue
        seen[code] = number
        job.write(
            out, [code, rec[1].strip(), rec[9].strip(), status, setting, *dates, job.where(number)]
        )
        job.kept += 1
