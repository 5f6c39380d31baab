"""Benchmark comparison: the responsible PCT of each case as one DuckDB query (a dated join).

What an analyst with DuckDB would write: the ODS epcmem memberships and the covered areas as
tables of (code, first day, last day, PCT), the cases left-joined to both on code and date,
in input order, written as CSV. It answers exactly as `floor.py` (a practice on the register
on the day decides; else, for the unregistered, the area of residence; else not known; a code
the data does not have on the day is absent, with a warning), so the benchmark checks its
output against the floor's byte for byte.

    python benchmarks/duckdb_join.py /tmp/cases-1m.csv --output /tmp/duckdb-1m.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "england"
COVERS = REPO / "policies" / "england" / "data" / "covers.csv"
AREAS = REPO / "policies" / "england" / "data" / "areas.csv"

# ISO dates as text compare like dates (floor.py does the same), so no column is cast.
STATEMENTS = [
    """
CREATE TEMP TABLE practices AS
SELECT column0 AS code, column1 AS pct,
       substr(column3, 1, 4) || '-' || substr(column3, 5, 2) || '-' || substr(column3, 7, 2)
           AS first,
       least(CASE WHEN column4 IS NULL OR column4 = '' THEN '2013-03-31'
                  ELSE substr(column4, 1, 4) || '-' || substr(column4, 5, 2) || '-'
                       || substr(column4, 7, 2) END, '2013-03-31') AS last
FROM read_csv($epcmem, header = false, all_varchar = true)
WHERE length(column1) = 3 AND substr(column1, 1, 1) IN ('5', 'T')
""",
    """
CREATE TEMP TABLE registered AS
SELECT code, min(first) AS first, max(last) AS last FROM practices GROUP BY code
""",
    """
CREATE TEMP TABLE area_spans AS
SELECT code, valid_from AS first, valid_to AS last
FROM read_csv($areas, header = true, all_varchar = true, comment = '#')
""",
    """
CREATE TEMP TABLE areas AS
SELECT "to" AS code, "from" AS pct, valid_from AS first, valid_to AS last
FROM read_csv($covers, header = true, all_varchar = true, comment = '#')
""",
    """
COPY (
    WITH given AS (
        SELECT row_number() OVER () AS row, id, date,
               "person.practice" AS practice, "person.residence" AS residence
        FROM read_csv($cases, header = true, all_varchar = true)
    ), cases AS (
        -- A code the data does not have on the day is absent, with a warning (as floor.py).
        SELECT g.*,
               g.practice IS NOT NULL
                   AND (r.code IS NULL OR g.date NOT BETWEEN r.first AND r.last) AS unregistered,
               g.residence IS NOT NULL
                   AND (s.code IS NULL OR g.date NOT BETWEEN s.first AND s.last) AS unknown_area
        FROM given g
        LEFT JOIN registered r ON r.code = g.practice
        LEFT JOIN area_spans s ON s.code = g.residence
    )
    SELECT c.id,
           coalesce(p.pct, a.pct) AS responsible_pct,
           CASE WHEN p.pct IS NOT NULL THEN 'registered-practice'
                WHEN a.pct IS NOT NULL THEN 'unregistered-resident'
                ELSE 'not-known' END AS "responsible_pct.rule",
           CASE WHEN p.pct IS NOT NULL THEN '1' WHEN a.pct IS NOT NULL THEN '4' ELSE '9' END
               AS "responsible_pct.reason",
           NULL AS error,
           nullif(concat_ws('; ',
               CASE WHEN c.unregistered THEN 'practice ''' || c.practice
                   || ''' is not in the practice register on ' || c.date
                   || '; treated as unregistered' END,
               CASE WHEN c.unknown_area THEN 'area ''' || c.residence
                   || ''' is not in the data on ' || c.date || '; treated as absent' END),
               '') AS warnings
    FROM cases c
    LEFT JOIN practices p
           ON p.code = c.practice AND c.date BETWEEN p.first AND p.last
    LEFT JOIN areas a
           ON (c.practice IS NULL OR c.unregistered) AND a.code = c.residence
              AND c.date BETWEEN a.first AND a.last
    ORDER BY c.row
) TO $output (FORMAT csv, HEADER true)
""",
]


def run(cases: Path, output: Path, data: Path, threads: int | None) -> None:
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    params = {
        "epcmem": str(data / "ods_epcmem_2019-08-30.csv"),
        "covers": str(COVERS),
        "areas": str(AREAS),
        "cases": str(cases),
        "output": str(output),
    }
    for statement in STATEMENTS:
        names = {k: v for k, v in params.items() if f"${k}" in statement}
        con.execute(statement, names)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", type=Path)
    p.add_argument("--output", "-o", type=Path, required=True)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: cores)")
    args = p.parse_args(argv)
    run(args.cases, args.output, args.data, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
