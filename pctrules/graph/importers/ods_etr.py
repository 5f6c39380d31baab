"""Import stage: ODS `etr` (NHS trusts: code, name, postcode, open and close dates) → trusts.

No header; the ODS standard layout of 27 fields: 1 code, 2 name, 3 national grouping, 4 high
level health geography, 5–9 address, 10 postcode, 11 open date, 12 close date (YYYYMMDD). Each
trust becomes an `nhs_trust` organisation valid from its open date to its close date; which PCTs
a trust served is not in the file (the bundle's partner_of rows say that, with their sources).
"""

from __future__ import annotations

from pctrules.graph.importers.base import Import, TableOut, fields, is_ods_code, ods_date

LAYOUT = "ods-etr"
TITLE = "ODS etr: NHS trusts (names, postcodes, open and close dates)"
FIELDS = 27


def run(job: Import) -> None:
    out = job.table(
        TableOut(
            f"{LAYOUT}.trusts.csv",
            ["code", "name", "postcode", "valid_from", "valid_to", "source"],
            kind="nhs_trust",
        )
    )
    seen: dict[str, int] = {}
    for number, rec in job.open_csv():
        if len(rec) < 12:
            job.reject(
                number,
                len(rec) + 1,
                ",".join(rec[:2]),
                f"the row has {fields(len(rec))}; etr rows have {FIELDS}",
            )
            continue
        code = rec[0].strip()
        if not is_ods_code(code):
            job.reject(number, 1, code, f"'{code}' is not an organisation code")
            continue
        if code in seen:
            job.reject(number, 1, code, f"duplicate of row {seen[code]}: trust '{code}'")
            continue
        dates: list[str] = []
        for column in (11, 12):
            text = rec[column - 1].strip()
            d = ods_date(text) if text else None
            if text and d is None:
                job.reject(number, column, text, f"'{text}' is not a date (YYYYMMDD)")
                break
            dates.append(d.isoformat() if d else "")
        else:
            if dates[0] and dates[1] and dates[1] < dates[0]:
                job.reject(
                    number,
                    12,
                    rec[11].strip(),
                    f"trust '{code}' closes ({dates[1]}) before it opens ({dates[0]})",
                )
                continue
            seen[code] = number
            job.write(out, [code, rec[1].strip(), rec[9].strip(), *dates, job.where(number)])
            job.kept += 1
