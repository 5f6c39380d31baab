"""Import stage: NHS BSA patient list sizes (practice, 18 age/sex bands) → practice population.

Header row; columns include `Practice Code` and the bands `Male 0-4` … `Female 75+`; the
population of a practice is the sum of its bands. The Apr–Jun 2013 file is the first quarter
after the PCTs closed, so it stands for the registered population of the last PCT year; a PCT's
population is the sum over its practices (see docs/data-tables.md).
"""

from __future__ import annotations

from pctrules.graph.importers.base import Import, TableOut, is_ods_code

LAYOUT = "nhsbsa-list-size"
TITLE = "NHS BSA patient list sizes: registered patients per practice"
CODE_COLUMN = "Practice Code"


def run(job: Import) -> None:
    out = job.table(
        TableOut(
            f"{LAYOUT}.population.csv",
            ["code", "population", "source"],
            kind="practice",
            merge=True,
        )
    )
    rows = job.open_csv()
    header: list[str] = []
    for number, rec in rows:
        header = [h.strip() for h in rec]
        if CODE_COLUMN not in header:
            job.reject(
                number,
                1,
                ",".join(rec[:3]),
                f"the header has no '{CODE_COLUMN}' column; is this an NHS BSA list-size file?",
            )
            return
        job.header_read()
        break
    if not header:
        return  # an empty file: the import reports it as such
    code_at = header.index(CODE_COLUMN)
    bands = [i for i, h in enumerate(header) if h.startswith(("Male ", "Female "))]
    seen: dict[str, int] = {}
    for number, rec in rows:
        if len(rec) < len(header):
            job.reject(
                number,
                len(rec) + 1,
                ",".join(rec[:3]),
                f"the row has {len(rec)} fields, the header {len(header)}",
            )
            continue
        code = rec[code_at].strip()
        if not is_ods_code(code):
            job.reject(number, code_at + 1, code, f"'{code}' is not a practice code")
            continue
        if code in seen:
            job.reject(number, code_at + 1, code, f"duplicate of row {seen[code]}: '{code}'")
            continue
        total = 0
        for i in bands:
            text = rec[i].strip()
            if not text.isdigit():
                job.reject(number, i + 1, text, f"'{text}' in '{header[i]}' is not a count")
                break
            total += int(text)
        else:
            seen[code] = number
            job.write(out, [code, total, job.where(number)])
            job.kept += 1
