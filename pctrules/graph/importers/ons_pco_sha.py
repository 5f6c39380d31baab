"""Import stage: the ONS "PCO (2012) to SHA (2012)" lookup → PCT and SHA names and ONS codes.

Quoted CSV with a header: `PCO12CD` (E16/E17), `PCO12CDO` (ODS), `PCO12NM`, `SHA12CD`,
`SHA12CDO` (Q30–Q39), `SHA12NM`. The lookup is geographic, so four PCTs appear under two SHAs:
the names and codes are kept; which SHA *managed* a PCT is the bundle's fact, not the lookup's.
"""

from __future__ import annotations

from pctrules.graph.importers.base import Import, TableOut, fields, is_pct_code

LAYOUT = "ons-pco-sha"
TITLE = "ONS PCO (2012) to SHA (2012) lookup: PCT and SHA names and ONS codes"
SHAS = frozenset(f"Q{n}" for n in range(30, 40))
COLUMNS = ("PCO12CD", "PCO12CDO", "PCO12NM", "SHA12CD", "SHA12CDO", "SHA12NM")


def run(job: Import) -> None:
    pcts = job.table(
        TableOut(
            f"{LAYOUT}.pcts.csv", ["code", "name", "ons_code", "source"], kind="pct", merge=True
        )
    )
    shas = job.table(
        TableOut(
            f"{LAYOUT}.shas.csv", ["code", "name", "ons_code", "source"], kind="sha", merge=True
        )
    )
    rows = job.open_csv()
    col: dict[str, int] = {}
    for number, rec in rows:
        col = {h.strip(): i for i, h in enumerate(rec)}
        missing = [c for c in COLUMNS if c not in col]
        if missing:
            job.reject(
                number,
                1,
                ",".join(rec[:3]),
                f"the header lacks {', '.join(repr(c) for c in missing)}",
            )
            return
        job.header_read()
        break
    seen: dict[tuple[str, str], int] = {}
    pct_rows: dict[str, int] = {}
    sha_rows: set[str] = set()
    for number, rec in rows:
        if len(rec) < len(COLUMNS):
            job.reject(
                number,
                len(rec) + 1,
                ",".join(rec[:3]),
                f"the row has {fields(len(rec))}; the lookup has {len(COLUMNS)}",
            )
            continue
        ons, pct, name, sha_ons, sha, sha_name = (rec[col[c]].strip() for c in COLUMNS)
        if not is_pct_code(pct):
            job.reject(number, col["PCO12CDO"] + 1, pct, f"'{pct}' is not a PCT code")
            continue
        if sha not in SHAS:
            job.reject(number, col["SHA12CDO"] + 1, sha, f"unknown SHA '{sha}' for PCT '{pct}'")
            continue
        if (pct, sha) in seen:
            job.reject(
                number,
                col["PCO12CDO"] + 1,
                pct,
                f"duplicate of row {seen[pct, sha]}: '{pct}' under '{sha}'",
            )
            continue
        seen[pct, sha] = number
        new_pct, new_sha = pct not in pct_rows, sha not in sha_rows
        if not (new_pct or new_sha):
            # Each row counts once: kept when it adds a PCT or an SHA, else skipped.
            job.skip(
                "a second SHA for a PCT (the lookup is geographic; the bundle says which "
                "SHA managed it)"
            )
            continue
        job.kept += 1
        if new_pct:
            pct_rows[pct] = number
            job.write(pcts, [pct, name, ons, job.where(number)])
        if new_sha:
            sha_rows.add(sha)
            job.write(shas, [sha, sha_name, sha_ons, job.where(number)])
