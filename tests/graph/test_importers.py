"""Importers: damaged copies of the official files get row-level errors, and the rest loads."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pctrules.graph.build import load_bundle_graph
from pctrules.graph.importers.base import ImportReport, Rejection
from pctrules.graph.importers.nhspd import postcode
from pctrules.graph.importers.registry import run_import

Real = Callable[[str], Path]


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.reader(f))


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return path


def by_row(report: ImportReport) -> dict[int, Rejection]:
    return {r.row: r for r in report.rejections}


def test_damaged_epcmem(tmp_path: Path, real: Real, bundle_dir: Path) -> None:
    rows = read_rows(real("ods_epcmem_2019-08-30.csv"))
    pct_rows = [i for i, r in enumerate(rows) if len(r[1]) == 3 and r[1][0] in "5T"]
    short, bad_date, bad_parent = pct_rows[0], pct_rows[1], pct_rows[2]
    duplicate = rows[pct_rows[3]]
    rows[short] = rows[short][:3]
    rows[bad_date][3] = "2001-04-01"
    rows[bad_parent][1] = "5?!"
    rows.append(list(duplicate))
    damaged = write_rows(tmp_path / "epcmem.csv", rows)

    report = run_import("ods-epcmem", damaged, tmp_path / "data")

    got = by_row(report)
    assert sorted(got) == [short + 1, bad_date + 1, bad_parent + 1, len(rows)]
    assert (got[short + 1].column, got[short + 1].reason) == (
        4,
        "the row has 3 fields; epcmem rows have 6",
    )
    assert (got[bad_date + 1].column, got[bad_date + 1].value) == (4, "2001-04-01")
    assert "not a date" in got[bad_date + 1].reason
    assert (got[bad_parent + 1].column, got[bad_parent + 1].value) == (2, "5?!")
    assert got[bad_parent + 1].reason.startswith("unknown parent '5?!'")
    assert got[len(rows)].reason.startswith(f"duplicate of row {pct_rows[3] + 1}")
    assert report.kept == len(pct_rows) - 3

    # The rest still loads: the other practices of the damaged PCT are where epcmem puts them.
    _, graph = load_bundle_graph(bundle_dir, tmp_path / "data")
    assert not graph.diagnostics.has_errors
    on = dt.date(2011, 4, 1)
    assert graph.follow_one(duplicate[0], "pct", on) == duplicate[1]
    assert len(graph.nodes_of_kind("pct", on)) == 151

    # Diagnostics name file, row and column.
    shown = [str(d.span) for d in report.diagnostics()]
    assert f"{damaged}:{bad_date + 1}:4" in shown


def test_epcmem_overlap_is_rejected(tmp_path: Path) -> None:
    rows = [
        ["A81001", "5E1", "W", "20010401", "20130331", "0"],
        ["A81001", "5D9", "W", "20120101", "20130331", "0"],  # in two PCTs at once
        ["A81002", "5E1", "W", "20010401", "20130331", "0"],
    ]
    report = run_import("ods-epcmem", write_rows(tmp_path / "e.csv", rows), tmp_path / "d")
    assert [(r.row, r.column) for r in report.rejections] == [(2, 4)]
    assert report.rejections[0].reason == (
        "'A81001' would be in '5E1' (row 1) and '5D9' at once from 2012-01-01 to 2013-03-31"
    )
    assert report.kept == 2


def test_import_is_idempotent(tmp_path: Path, real: Real) -> None:
    source = real("ons_pco12_to_sha12_lookup.csv")
    run_import("ons-pco-sha", source, tmp_path)
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    run_import("ons-pco-sha", source, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first
    manifest = json.loads((tmp_path / "pctrules-data.json").read_text())
    entry = manifest["imports"]["ons-pco-sha"]
    # 155 data rows (the header is not one): read = kept + rejected + skipped; four PCTs
    # straddle two SHAs' areas, and their second rows add nothing.
    assert entry["rows_read"] == 155 and entry["kept"] == 151 and entry["rejected"] == 0
    assert sum(entry["skipped"].values()) == 4
    assert entry["source"]["file"] == source.name and len(entry["source"]["sha256"]) == 64


def test_damaged_epraccur(tmp_path: Path, real: Real, bundle_dir: Path) -> None:
    rows = read_rows(real("ods_epraccur_2019.csv"))
    rows[0] = rows[0][:10]
    rows[1][10] = "1974-04-01"
    rows[2][14] = "#?"
    rows.append(list(rows[3]))
    report = run_import("ods-epraccur", write_rows(tmp_path / "p.csv", rows), tmp_path / "d")
    got = by_row(report)
    assert [(n, got[n].column) for n in sorted(got)] == [(1, 11), (2, 11), (3, 15), (len(rows), 1)]
    assert report.kept == len(rows) - 4
    run_import("ods-epcmem", real("ods_epcmem_2019-08-30.csv"), tmp_path / "d")
    _, graph = load_bundle_graph(bundle_dir, tmp_path / "d")
    assert not graph.diagnostics.has_errors
    assert graph.name(rows[5][0]) == rows[5][1]
    assert graph.attr(rows[5][0], "postcode", dt.date(2012, 1, 1)) == rows[5][9]


def test_damaged_ons_lookup(tmp_path: Path, real: Real, bundle_dir: Path) -> None:
    rows = read_rows(real("ons_pco12_to_sha12_lookup.csv"))
    rows[1] = rows[1][:4]
    rows[2][1] = "PCT"  # not a PCT code
    rows[3][4] = "Q99"  # an unknown parent SHA
    rows.append(list(rows[4]))
    report = run_import("ons-pco-sha", write_rows(tmp_path / "o.csv", rows), tmp_path / "d")
    got = by_row(report)
    assert [(n, got[n].column) for n in sorted(got)] == [(2, 5), (3, 2), (4, 5), (len(rows), 2)]
    assert got[4].reason == f"unknown SHA 'Q99' for PCT '{rows[3][1]}'"
    _, graph = load_bundle_graph(bundle_dir, tmp_path / "d")
    assert not graph.diagnostics.has_errors
    assert graph.attr("5NT", "ons_code", dt.date(2011, 1, 1)) == "E16000149"


def test_a_pct_under_a_second_sha_counts_once(tmp_path: Path) -> None:
    # Found by the importer property test: such a row was counted both kept and skipped.
    rows = [
        ["PCO12CD", "PCO12CDO", "PCO12NM", "SHA12CD", "SHA12CDO", "SHA12NM"],
        ["E16000001", "5NT", "Manchester", "E18000002", "Q31", "North West"],
        ["E16000002", "5K5", "Brent", "E18000007", "Q36", "London"],
        ["E16000001", "5NT", "Manchester", "E18000007", "Q36", "London"],
        ["E16000001", "5NT", "Manchester", "E18000002", "Q31", "North West"],
    ]
    report = run_import("ons-pco-sha", write_rows(tmp_path / "o.csv", rows), tmp_path / "d")
    # Row 4 adds neither a PCT nor an SHA (skipped); row 5 repeats row 2 (rejected).
    assert (report.rows_read, report.kept, len(report.rejections)) == (4, 2, 1)
    assert sum(report.skipped.values()) == 1
    assert report.rows_read == report.kept + len(report.rejections) + sum(report.skipped.values())


def test_damaged_list_sizes(tmp_path: Path, real: Real, bundle_dir: Path) -> None:
    rows = read_rows(real("nhsbsa_patient_list_size_2013-04_to_06.csv"))
    rows[1] = rows[1][:5]
    rows[2][10] = "many"
    rows[3][7] = "??"
    rows.append(list(rows[4]))
    report = run_import("nhsbsa-list-size", write_rows(tmp_path / "l.csv", rows), tmp_path / "d")
    got = by_row(report)
    assert [(n, got[n].column) for n in sorted(got)] == [(2, 6), (3, 11), (4, 8), (len(rows), 8)]
    run_import("ods-epcmem", real("ods_epcmem_2019-08-30.csv"), tmp_path / "d")
    _, graph = load_bundle_graph(bundle_dir, tmp_path / "d")
    assert not graph.diagnostics.has_errors
    somerset = graph.attr("5QL", "population", dt.date(2012, 3, 31))
    assert isinstance(somerset, int) and 500_000 < somerset < 600_000


NHSPD_HEADER = ["pcd", "pcd2", "pcds", "dointr", "doterm", "oscty", "pct"]


def test_nhspd_with_header(tmp_path: Path, bundle_dir: Path) -> None:
    rows = [
        NHSPD_HEADER,
        ["TA1 1AA", "TA1  1AA", "TA1 1AA", "198001", "", "E10000027", "5QL"],
        ["M1  1AE", "M1   1AE", "M1 1AE", "198001", "", "E11000001", "E16000149"],  # ONS code
        ["CF101AA", "CF10 1AA", "CF10 1AA", "198001", "", "W99999999", "7A4"],  # Wales: skipped
        ["AL1 1AA", "AL1  1AA", "AL1 1AA", "198001", "", "E10000015", "5QV"],
        ["AL1 1AB"],  # short
        ["AL1 1AC", "AL1  1AC", "AL1 1AC", "2001-1", "", "E10000015", "5QV"],  # bad month
        ["AL1 1AD", "AL1  1AD", "AL1 1AD", "198001", "", "E10000015", "E16999999"],  # unknown
        ["TA1 1AA", "TA1  1AA", "TA1 1AA", "198001", "", "E10000027", "5QL"],  # duplicate
    ]
    report = run_import("nhspd", write_rows(tmp_path / "n.csv", rows), tmp_path / "d")
    got = by_row(report)
    assert [(n, got[n].column) for n in sorted(got)] == [(6, 2), (7, 4), (8, 7), (9, 3)]
    assert report.kept == 3 and report.skipped == {
        "not an English PCT (another country, or none)": 1
    }
    _, graph = load_bundle_graph(bundle_dir, tmp_path / "d")
    assert not graph.diagnostics.has_errors
    on = dt.date(2011, 9, 1)
    assert graph.follow_one("TA1 1AA", "covered_by", on) == "5QL"
    manchester = graph.follow_one("M1 1AE", "covered_by", on)
    assert manchester is not None and graph.name(manchester) == "Manchester Teaching PCT"
    # Postcode edges are cut to the PCT's life: Hertfordshire PCT began on 2010-04-01.
    assert graph.follow_one("AL1 1AA", "covered_by", dt.date(2010, 3, 31)) is None
    assert graph.follow_one("AL1 1AA", "covered_by", dt.date(2010, 4, 1)) == "5QV"


def test_nhspd_record_layout_without_header(tmp_path: Path, bundle_dir: Path) -> None:
    record = [""] * 42
    record[0:5] = ["BA1 1AA", "BA1  1AA", "BA1 1AA", "198001", "200912"]
    record[36] = "5FL"
    report = run_import("nhspd", write_rows(tmp_path / "n.csv", [record]), tmp_path / "d")
    assert report.kept == 1 and not report.rejections
    _, graph = load_bundle_graph(bundle_dir, tmp_path / "d")
    assert graph.follow_one("BA1 1AA", "covered_by", dt.date(2009, 12, 31)) == "5FL"
    assert graph.follow_one("BA1 1AA", "covered_by", dt.date(2010, 1, 1)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ta11aa", "TA1 1AA"),
        ("M1  1AE", "M1 1AE"),
        ("SW1A 1AA", "SW1A 1AA"),
        ("nonsense", None),
    ],
)
def test_postcode_normal_form(text: str, expected: str | None) -> None:
    assert postcode(text) == expected


def _etr_row(code: str, name: str, postcode: str, opened: str, closed: str) -> list[str]:
    row = [""] * 27
    row[0], row[1], row[2], row[3] = code, name, "Y58", "Q30"
    row[4], row[9], row[10], row[11] = "MAIN SITE", postcode, opened, closed
    return row


def test_ods_etr_trusts(tmp_path: Path, bundle_dir: Path) -> None:
    """A file in the official ODS etr layout (27 fields, no header), written here."""
    rows = [
        _etr_row(
            "RBA", "TAUNTON AND SOMERSET NHS FOUNDATION TRUST", "TA1 5DA", "19910401", "20200331"
        ),
        _etr_row(
            "RA4", "YEOVIL DISTRICT HOSPITAL NHS FOUNDATION TRUST", "BA21 4AT", "19910401", ""
        ),
        _etr_row("RXX", "OPENED LATE NHS TRUST", "M1 1AE", "20080101", ""),
        ["RZZ", "SHORT"],  # short
        _etr_row("RYY", "BAD DATE NHS TRUST", "M1 1AE", "2008-01", ""),  # bad date
        _etr_row("R!", "BAD CODE NHS TRUST", "M1 1AE", "20080101", ""),  # bad code
        _etr_row("RA4", "YEOVIL AGAIN", "BA21 4AT", "19910401", ""),  # duplicate
        _etr_row("RWW", "BACKWARDS NHS TRUST", "M1 1AE", "20080101", "20070101"),  # inverted
    ]
    report = run_import("ods-etr", write_rows(tmp_path / "etr.csv", rows), tmp_path / "d")
    got = by_row(report)
    assert [(n, got[n].column) for n in sorted(got)] == [(4, 3), (5, 11), (6, 1), (7, 1), (8, 12)]
    assert report.kept == 3
    _, graph = load_bundle_graph(bundle_dir, tmp_path / "d")
    assert not graph.diagnostics.has_errors
    on = dt.date(2011, 9, 1)
    assert graph.kind("RXX") == "nhs_trust" and graph.name("RXX") == "OPENED LATE NHS TRUST"
    assert not graph.exists("RXX", dt.date(2007, 12, 31)) and graph.exists("RXX", on)
    assert graph.attr("RXX", "postcode", on) == "M1 1AE"
    # The bundle's own rows name RBA and keep their names; the import adds its postcode.
    assert graph.name("RBA") == "Taunton and Somerset NHS Foundation Trust"
    assert graph.attr("RBA", "postcode", on) == "TA1 5DA"
    assert "RBA" in graph.follow_many("5QL", "partners", on)
