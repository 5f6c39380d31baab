"""Importers over arbitrary rows: a clean refusal or a report that adds up, and the same tables
when run again (rows from the official files, synthetic or real, mutated: short rows, bad
dates, stray text)."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctrules.graph.importers.registry import run_import
from pctrules.language.diagnostics import PctrulesError
from tests import synthetic

# layout → (official file, whether its first row is a header)
SAMPLES = {
    "ods-epcmem": ("ods_epcmem_2019-08-30.csv", False),
    "ods-epraccur": ("ods_epraccur_2019.csv", False),
    "nhsbsa-list-size": ("nhsbsa_patient_list_size_2013-04_to_06.csv", True),
    "ons-pco-sha": ("ons_pco12_to_sha12_lookup.csv", True),
    "nhspd": (synthetic.NHSPD, True),
}


def _lines(path: Path, n: int = 40) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        return [row for _, row in zip(range(n), csv.reader(f), strict=False)]


_NOISE = st.one_of(
    st.sampled_from(
        ["", "5NT", "Q31", "19990229", "20130431", "2011-04-01", "-1", "x" * 300, "A81001"]
    ),
    st.text(alphabet='a0,"\n é', max_size=6),
)


def _mutate(rows: list[list[str]], has_header: bool) -> st.SearchStrategy[list[list[str]]]:
    def one(row: list[str]) -> st.SearchStrategy[list[str]]:
        return st.one_of(
            st.just(row),
            st.integers(0, max(len(row) - 1, 0)).map(lambda k: row[:k]),  # a short row
            st.tuples(st.integers(0, max(len(row) - 1, 0)), _NOISE).map(  # one cell changed
                lambda c: [*row[: c[0]], c[1], *row[c[0] + 1 :]]
            ),
            st.lists(_NOISE, max_size=8),
        )  # stray text

    header, body = (rows[:1], rows[1:]) if has_header else ([], rows)
    return st.lists(st.sampled_from(body).flatmap(one), max_size=30).map(
        lambda picked: header + picked
    )


@pytest.mark.parametrize("layout", sorted(SAMPLES))
def test_any_rows_give_a_clean_refusal_or_a_report_that_adds_up(
    layout: str, official: Path
) -> None:
    name, has_header = SAMPLES[layout]
    if not (official / name).exists():
        pytest.skip(
            f"{name} is not in {official}: the real data has no such file; the test "
            "ran on the synthetic one"
        )
    rows = _lines(official / name)

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_mutate(rows, has_header))
    def check(picked: list[list[str]]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            src = Path(folder) / "in.csv"
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(picked)
            src.write_text(buf.getvalue(), encoding="utf-8")
            into = Path(folder) / "data"
            try:
                report = run_import(layout, src, into)
            except PctrulesError as exc:
                assert exc.diagnostics and int(exc.exit_code) in (2, 3)
                return
            assert report.rows_read == (
                report.kept + len(report.rejections) + sum(report.skipped.values())
            )
            tables = {p.name: p.read_bytes() for p in into.iterdir()}
            run_import(layout, src, into)  # idempotent: the same tables again
            assert {p.name: p.read_bytes() for p in into.iterdir()} == tables

    check()
