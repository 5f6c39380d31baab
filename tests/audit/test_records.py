"""Audit records (evaluate --audit, batch --audit) and replay: what a record holds, that the
file checks itself, and that replay says what changed and where."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import click
import pytest

from pctrules.audit.records import AuditWriter, scan
from tests.audit.conftest import TOY, cases_csv, compare_golden, json_lines, run

TOY_CASES = """\
cases:
  - {id: t1, date: 2005-02-01, practice: X1, service: S2}
  - {id: t2, date: 2005-08-01, practice: X2}
  - {id: t3, date: 2005-02-01, residence: A2, setting: emergency}
  - {id: t4, date: 2005-02-01, practice: X4}
"""


@pytest.fixture
def toy_cases_file(tmp_path: Path) -> Path:
    path = tmp_path / "cases.yaml"
    path.write_text(TOY_CASES, encoding="utf-8")
    return path


def _audit(cli: click.Group, *args: str) -> None:
    result = run(cli, *args)
    # 6: every case decided and recorded, and some decision failed (the toy cases have such)
    assert result.exit_code in (0, 6), result.output
    assert re.search(
        r"audit: [\d,]+ records? appended to '.*' \(chain sha256:[0-9a-f]{64}\)", result.stderr
    )


def test_a_run_is_a_header_records_and_an_end(
    cli: click.Group, toy_cases_file: Path, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    _audit(cli, "evaluate", str(toy_cases_file), "--bundle", str(TOY), "--audit", str(audit))
    lines = json_lines(audit.read_text())
    head, *records, end = lines
    assert head["audit"] == "pctrules-audit/1" and head["command"] == "evaluate"
    assert head["bundle"]["name"] == "toy" and head["bundle"]["policy"].startswith("sha256:")
    assert set(head["data"]["files"]) >= {"bundle:data/part-of.csv", "bundle:data/pct.csv"}
    assert head["parameters"] == {"route": "home"}
    assert end["end"] == 4 and len(records) == 4
    t1 = records[0]
    assert t1["case"] == "t1" and t1["as_of"] == "2005-02-01"
    assert t1["input"].startswith("sha256:") and "case_input" not in t1
    assert t1["decisions"]["responsible"] == ["P1", "registered", "1"]
    assert t1["decisions"]["commissioner"] == ["R1", "specialist", "SPEC"]
    t3 = records[2]
    assert t3["decisions"]["home_area"] == [None, None, None]
    assert "only() needs at most one member" in t3["error"]
    assert scan(audit).problems == []


def test_runs_append_and_chain_on(cli: click.Group, toy_cases_file: Path, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    for _ in range(2):
        _audit(cli, "evaluate", str(toy_cases_file), "--bundle", str(TOY), "--audit", str(audit))
    found = scan(audit)
    assert len(found.runs) == 2 and found.problems == []
    second = found.runs[1].header
    first_end = json_lines(audit.read_text())[5]
    assert second["prev"] == first_end["chain"]


def test_batch_and_evaluate_record_a_case_alike(cli: click.Group, tmp_path: Path) -> None:
    batch_in = tmp_path / "cases.csv"
    batch_in.write_text(
        "id,date,practice,residence,service,setting\n"
        "t1,2005-02-01,X1,,S2,\nt2,2005-08-01,X2,,,\n"
        "t3,2005-02-01,,A2,,emergency\nt4,2005-02-01,X4,,,\n",
        encoding="utf-8",
    )
    yaml_in = tmp_path / "cases.yaml"
    yaml_in.write_text(TOY_CASES, encoding="utf-8")
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    _audit(cli, "evaluate", str(yaml_in), "--bundle", str(TOY), "--audit", str(a))
    _audit(
        cli,
        "batch",
        str(batch_in),
        "-o",
        str(tmp_path / "out.csv"),
        "--bundle",
        str(TOY),
        "--audit",
        str(b),
    )
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in (
                {"id": "t1", "date": "2005-02-01", "practice": "X1", "service": "S2"},
                {"id": "t2", "date": "2005-08-01", "practice": "X2"},
                {"id": "t3", "date": "2005-02-01", "residence": "A2", "setting": "emergency"},
                {"id": "t4", "date": "2005-02-01", "practice": "X4"},
            )
        ),
        encoding="utf-8",
    )
    _audit(
        cli,
        "batch",
        str(jsonl),
        "-o",
        str(tmp_path / "out.jsonl"),
        "--bundle",
        str(TOY),
        "--audit",
        str(c),
    )

    def kept(path: Path) -> list[tuple[object, ...]]:
        return [
            (r["case"], r["input"], r["as_of"], json.dumps(r["decisions"]), r["error"])
            for r in json_lines(path.read_text())
            if "seq" in r
        ]

    assert kept(a) == kept(b) == kept(c)


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap", "cut"])
def test_a_changed_file_is_found_out(
    cli: click.Group, toy_cases_file: Path, tmp_path: Path, tamper: str
) -> None:
    audit = tmp_path / "audit.jsonl"
    _audit(cli, "evaluate", str(toy_cases_file), "--bundle", str(TOY), "--audit", str(audit))
    lines = audit.read_text().splitlines()
    if tamper == "edit":
        edited = lines[1].replace('"P1","registered"', '"P2","registered"')
        assert edited != lines[1]
        lines[1] = edited
    elif tamper == "delete":
        del lines[2]
    elif tamper == "swap":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines = lines[:-2]
    audit.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = scan(audit).problems
    assert problems
    result = run(cli, "replay", str(audit), "--exit-code")
    assert result.exit_code == 7, result.output
    assert "tampered: " in result.stdout and "tampered: none" not in result.stdout


def test_an_untouched_file_replays_identical(
    cli: click.Group, toy_cases_file: Path, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    _audit(cli, "evaluate", str(toy_cases_file), "--bundle", str(TOY), "--audit", str(audit))
    result = run(cli, "replay", str(audit), "--exit-code")
    assert result.exit_code == 0, result.output
    assert "4 records: identical" in result.stdout
    assert "tampered: none" in result.stdout


def test_appending_to_something_else_is_refused(
    cli: click.Group, toy_cases_file: Path, tmp_path: Path
) -> None:
    audit = tmp_path / "notes.jsonl"
    audit.write_text("not an audit file\n", encoding="utf-8")
    result = run(cli, "evaluate", str(toy_cases_file), "--bundle", str(TOY), "--audit", str(audit))
    assert result.exit_code == 2
    assert "does not end with the end line of an audit run" in result.output
    assert audit.read_text() == "not an audit file\n"
    csv_in = tmp_path / "cases.csv"
    csv_in.write_text("id,date,practice\nt1,2005-02-01,X1\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = run(
        cli, "batch", str(csv_in), "-o", str(out), "--bundle", str(TOY), "--audit", str(audit)
    )
    assert result.exit_code == 2 and "does not end with the end line" in result.output
    assert not out.exists()  # refused before the run


# -- replay ------------------------------------------------------------------------------------


@pytest.fixture
def toy_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "toy"
    shutil.copytree(TOY, folder)
    return folder


def _mask(text: str) -> str:
    """Reports name temporary folders and times: the golden files hold neither."""
    text = re.sub(r"/[^\s']*/(toy|audit\.jsonl|cases\.[a-z]+)", r"…/\1", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "(time)", text)
    return re.sub(r"sha256:[0-9a-f]{12}…", "sha256:(hash)…", text)


def test_replay_names_the_data_file_and_exactly_the_cases_it_changes(
    cli: click.Group, toy_copy: Path, tmp_path: Path
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(TOY_CASES, encoding="utf-8")
    audit = tmp_path / "audit.jsonl"
    _audit(
        cli,
        "evaluate",
        str(cases),
        "--bundle",
        str(toy_copy),
        "--audit",
        str(audit),
        "--audit-inputs",
    )
    part_of = toy_copy / "data" / "part-of.csv"
    part_of.write_text(part_of.read_text().replace("X2,P4,", "X2,P1,"), encoding="utf-8")
    result = run(cli, "replay", str(audit), "--exit-code")
    assert result.exit_code == 7
    assert "data: 'bundle:data/part-of.csv' differs" in result.stdout
    assert re.search(
        r"drift responsible: registered → registered: 1 \(P4 → P1 \(1\)\); "
        r"e\.g\. t2$",
        result.stdout,
        flags=re.M,
    )
    compare_golden(_mask(result.stdout), "replay-data-changed.txt")
    as_json = run(cli, "replay", str(audit), "--format", "json")
    report = json.loads(as_json.stdout)
    drifted = {(d["decision"], tuple(d["examples"])) for r in report["runs"] for d in r["drift"]}
    assert drifted == {
        ("responsible", ("t2",)),
        ("commissioner", ("t2",)),
        ("home_area", ("t2",)),
        ("size", ("t2",)),
    }
    compare_golden(_mask(json.dumps(report, indent=2)) + "\n", "replay-data-changed.json")


def test_replay_reads_the_case_file_beside_the_audit(cli: click.Group, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(TOY_CASES, encoding="utf-8")
    audit = tmp_path / "audit.jsonl"
    _audit(cli, "evaluate", str(cases), "--bundle", str(TOY), "--audit", str(audit))
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(audit, moved / "audit.jsonl")
    shutil.move(cases, moved / "cases.yaml")
    result = run(cli, "replay", str(moved / "audit.jsonl"), "--exit-code")
    assert result.exit_code == 0, result.output
    (moved / "cases.yaml").unlink()
    result = run(cli, "replay", str(moved / "audit.jsonl"), "--exit-code")
    assert result.exit_code == 7
    assert "not replayed: the input file" in result.stdout and "--cases" in result.stdout


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_batch_replay_from_recorded_inputs(cli: click.Group, tmp_path: Path, fmt: str) -> None:
    """With --audit-inputs the input file is not needed: replay writes it again from the
    records, in its own format (CSV cells stay text)."""
    source = tmp_path / f"cases.{fmt}"
    rows = [
        {"id": "t1", "date": "2005-02-01", "practice": "X1", "service": "S2"},
        {"id": "t2", "date": "2005-08-01", "practice": "X2"},
        {"id": "t3", "date": "2005-02-01", "residence": "A2", "setting": "emergency"},
        {"id": "t4", "date": "2005-02-31", "practice": "X4"},
    ]
    if fmt == "csv":
        columns = ["id", "date", "practice", "residence", "service", "setting"]
        source.write_text(
            ",".join(columns)
            + "\n"
            + "".join(",".join(str(r.get(c, "")) for c in columns) + "\n" for r in rows),
            encoding="utf-8",
        )
    else:
        source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    audit = tmp_path / "audit.jsonl"
    _audit(
        cli,
        "batch",
        str(source),
        "-o",
        str(tmp_path / f"out.{fmt}"),
        "--bundle",
        str(TOY),
        "--audit",
        str(audit),
        "--audit-inputs",
    )
    records = [r for r in json_lines(audit.read_text()) if "seq" in r]
    assert records[1]["case_input"]["practice"] == "X2"
    assert "must be a real date" in records[3]["error"]
    source.unlink()
    result = run(cli, "replay", str(audit), "--exit-code")
    assert result.exit_code == 0, result.output
    assert "4 records: identical" in result.stdout


def test_batch_replay_on_the_default_bundle_and_a_changed_register_row(
    cli: click.Group, register: Path, tmp_path: Path
) -> None:
    """`batch --audit` over the default bundle with a register; one row of the register
    changed: replay names the register table and exactly the cases of that practice."""
    data = tmp_path / "data"
    shutil.copytree(register, data)
    cases = cases_csv(tmp_path / "cases.csv", 3000)
    audit = tmp_path / "audit.jsonl"
    _audit(
        cli,
        "batch",
        str(cases),
        "-o",
        str(tmp_path / "out.csv"),
        "--data",
        str(data),
        "--audit",
        str(audit),
        "--decision",
        "responsible_pct",
        "--decision",
        "commissioner",
    )
    same = run(cli, "replay", str(audit), "--exit-code")
    assert same.exit_code == 0, same.output
    (part_of,) = data.glob("ods-epcmem.part_of.*.csv")  # named with its digest
    rows = part_of.read_text().splitlines()
    i = next(k for k, r in enumerate(rows) if r.startswith("Y90005,5QL,"))
    rows[i] = rows[i].replace("Y90005,5QL,", "Y90005,5ET,")
    part_of.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run(cli, "replay", str(audit), "--format", "json", "--exit-code")
    assert result.exit_code == 7
    report = json.loads(result.stdout)
    run_ = report["runs"][0]
    assert any("ods-epcmem.part_of.csv" in d for d in run_["differences"])
    expected = set()
    for line in cases.read_text().splitlines()[1:]:
        case_id, day, practice = line.split(",")[:3]
        if practice == "Y90005" and "2006-10-01" <= day <= "2013-03-31":
            expected.add(case_id)
    assert expected
    drifted = run_["drifted"]
    assert drifted == len(expected)
    responsible = [d for d in run_["drift"] if d["decision"] == "responsible_pct"]
    assert sum(d["count"] for d in responsible) == len(expected)
    assert all(v["old"] == "5QL" and v["new"] == "5ET" for d in responsible for v in d["values"])


def test_parquet_audit_files(cli: click.Group, toy_cases_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="Parquet audit files need pyarrow")
    audit = tmp_path / "audit.parquet"
    _audit(
        cli,
        "evaluate",
        str(toy_cases_file),
        "--bundle",
        str(TOY),
        "--audit",
        str(audit),
        "--audit-inputs",
    )
    found = scan(audit)
    assert found.problems == [] and found.runs[0].records == 4
    result = run(cli, "replay", str(audit), "--exit-code")
    assert result.exit_code == 0, result.output
    again = run(cli, "evaluate", str(toy_cases_file), "--bundle", str(TOY), "--audit", str(audit))
    assert again.exit_code == 2 and "cannot be appended to" in again.output
    import pyarrow.parquet as pq

    table = pq.read_table(audit)
    column = table.column("responsible").to_pylist()
    column[0] = '"P2"'
    import pyarrow as pa

    changed = table.set_column(
        table.column_names.index("responsible"), "responsible", pa.array(column, type=pa.string())
    )
    pq.write_table(changed.replace_schema_metadata(table.schema.metadata), audit)
    assert scan(audit).problems


def test_writer_refuses_parquet_without_pyarrow_message() -> None:
    """The message names the way out (a .jsonl file) when pyarrow is missing."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        from pctrules.audit.records import AuditError

        with pytest.raises(AuditError, match="pip install pyarrow"):
            AuditWriter(Path("x.parquet"), {})
    else:
        pytest.skip("pyarrow is installed here")
