"""A second bundle, not England's (examples/bundles/northmoor: made-up health boards with their own
kinds, rules, data, register, roll-up, constraints and tests), through every command of the
installed `pctrules`: the engine knows no NHS names."""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "examples" / "bundles" / "northmoor"
EXPECTED = BUNDLE / "expected"
REGENERATE = os.environ.get("PCTRULES_REGENERATE") == "1"


def pctrules(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("pctrules")
    env = {k: v for k, v in os.environ.items() if k != "PCTRULES_DATA"}
    return subprocess.run(
        [str(exe), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


def _golden(name: str, text: str) -> None:
    path = EXPECTED / name
    if REGENERATE or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not REGENERATE:
            pytest.fail(f"wrote a new golden file {path.name}; review it and run again")
    assert text == path.read_text(encoding="utf-8")


BUNDLE_ARG = "examples/bundles/northmoor"


def test_check() -> None:
    r = pctrules("check", BUNDLE_ARG)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (
        "ok: 7 files, 3 decisions, 6 rules, 2 constraints, 9 tests checked, no problems"
    )


def test_its_policy_tests_pass() -> None:
    r = pctrules("test", BUNDLE_ARG)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "9 passed, 0 failed"


def test_evaluate_and_explain() -> None:
    r = pctrules("evaluate", "--bundle", BUNDLE_ARG, f"{BUNDLE_ARG}/cases.yaml")
    assert r.returncode == 0, r.stderr
    _golden("evaluate.txt", r.stdout)
    assert (
        "warning: clinic 'C999' is not in the clinic list on 2020-01-01; treated as on no "
        "clinic list"
    ) in r.stdout
    r = pctrules("explain", "--bundle", BUNDLE_ARG, f"{BUNDLE_ARG}/cases.yaml")
    assert r.returncode == 0, r.stderr
    _golden("explain.txt", r.stdout)


def test_graph() -> None:
    r = pctrules("graph", "--bundle", BUNDLE_ARG, "--as-of", "2019-06-01")
    assert r.returncode == 0, r.stderr
    assert "        4  district         District of a board" in r.stdout
    r = pctrules("graph", "--bundle", BUNDLE_ARG, "--as-of", "2019-06-01", "--focus", "D3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].startswith(
        "├── board → NMB Northmoor Health Board [board] (2019-04-01 → …"
    )


def test_batch_by_columns_equals_case_by_case_and_evaluate(tmp_path: Path) -> None:
    fast, slow = tmp_path / "fast.csv", tmp_path / "slow.csv"
    for out, extra in ((fast, ()), (slow, ("--per-case",))):
        r = pctrules(
            "batch", "--bundle", BUNDLE_ARG, f"{BUNDLE_ARG}/cases.csv", "-o", str(out), *extra
        )
        assert r.returncode == 0, r.stderr
        assert "6 rows read: 6 decided, 0 failed" in r.stdout + r.stderr
    assert fast.read_bytes() == slow.read_bytes()
    with fast.open(newline="", encoding="utf-8") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    assert (rows["b2"]["responsible_board"], rows["b3"]["responsible_board"]) == ("SVB", "NMB")
    assert rows["b3"]["specialist_district"] == "D1"
    r = pctrules("evaluate", "--bundle", BUNDLE_ARG, f"{BUNDLE_ARG}/cases.csv", "--format", "json")
    if r.returncode == 0:  # evaluate may not read CSV cases: then batch alone is the check
        for line in r.stdout.splitlines():
            case = json.loads(line)
            assert rows[case["case"]]["responsible_board"] == (
                case["decisions"]["responsible_board"]["value"] or ""
            )


def test_compile_and_eval() -> None:
    r = pctrules("compile", "--bundle", BUNDLE_ARG)
    assert r.returncode == 0, r.stderr
    ast.parse(r.stdout)
    assert "'responsible_board':" in r.stdout
    r = pctrules(
        "eval",
        "--bundle",
        BUNDLE_ARG,
        "case.patient.clinic.district.board",
        "--set",
        "patient.clinic=C300",
        "--as-of",
        "2019-04-01",
    )
    assert r.returncode == 0, r.stderr
    assert "NMB" in r.stdout


def test_a_broken_rule_of_its_own_data_is_reported(tmp_path: Path) -> None:
    """Its data constraint (every district in a board) is the bundle's, checked on load."""
    import shutil

    copy = tmp_path / "northmoor"
    shutil.copytree(BUNDLE, copy, ignore=shutil.ignore_patterns("expected"))
    table = copy / "data" / "in-board.csv"
    table.write_text(
        table.read_text().replace("D4,SVB,2015-04-01,\n", "D4,SVB,2015-04-01,2020-12-31\n")
    )
    message = "error[E-constraint]: a district is in no board: 'D4' from 2021-01-01 to …"
    for command in (["check", str(copy)], ["graph", "--bundle", str(copy)]):
        r = pctrules(*command)  # data errors stop every command (exit 3)
        assert r.returncode == 3, r.stdout + r.stderr
        assert message in r.stdout + r.stderr
