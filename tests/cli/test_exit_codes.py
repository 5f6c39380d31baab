"""Exit code 6, decided with errors (issue 9, item 8): `evaluate`, `explain` and `batch` still
write every case, say which decisions failed, and exit 6; `pctrules --help` lists every code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pctrules.language.diagnostics import ExitCode
from tests.cli.conftest import Run

# Without a practice register, a case that names a practice cannot be placed (DESIGN §11): its
# responsible_pct fails; a case with a residence only is decided.
CASES = """cases:
- {id: named, date: 2011-09-01, person: {practice: P84004}}
- {id: resident, date: 2011-09-01, person: {residence: E16000141}}
"""


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    path = tmp_path / "cases.yaml"
    path.write_text(CASES, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("command", "fmt"),
    [
        ("evaluate", "text"),
        ("evaluate", "json"),
        ("explain", "text"),
        ("explain", "json"),
        ("explain", "html"),
    ],
)
def test_a_failed_decision_exits_6_after_the_whole_output(
    run: Run, cases: Path, command: str, fmt: str
) -> None:
    result = run(command, str(cases), "--decision", "responsible_pct", "--format", fmt)
    assert result.exit_code == int(ExitCode.DECIDED_WITH_ERRORS) == 6, result.output
    assert "named" in result.stdout and "resident" in result.stdout
    assert "5QL" in result.stdout  # the case that could be decided was
    assert result.stderr.strip() == (
        "error: a decision failed for 1 of 2 cases: 'named' (responsible_pct)"
    )
    if fmt == "json":
        decided = [json.loads(line) for line in result.stdout.splitlines()]
        assert "error" in decided[0]["decisions"]["responsible_pct"]
        assert "error" not in decided[1]["decisions"]["responsible_pct"]


def test_no_failed_decision_exits_0(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "{id: resident, date: 2011-09-01, person: {residence: E16000141}}\n", encoding="utf-8"
    )
    result = run("evaluate", str(path), "--decision", "responsible_pct")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


@pytest.mark.parametrize("per_case", [False, True])
def test_batch_with_a_failed_row_exits_6_with_every_row_written(
    run: Run, tmp_path: Path, per_case: bool
) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(
        "id,date,person.practice,person.residence\n"
        "named,2011-09-01,P84004,\nresident,2011-09-01,,E16000141\n"
        "baddate,2011-02-30,,E16000141\n",
        encoding="utf-8",
    )
    result = run(
        "batch",
        str(src),
        "--output",
        str(out),
        "--decision",
        "responsible_pct",
        *(["--per-case"] if per_case else []),
    )
    assert result.exit_code == 6, result.output
    assert "3 rows read: 1 decided, 2 failed" in result.stdout
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [line.split(",")[0] for line in lines] == ["id", "named", "resident", "baddate"]
    assert "no practice register is loaded" in lines[1]
    assert "must be a real date" in lines[3]


def test_batch_with_every_row_decided_exits_0(run: Run, tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("id,date,person.residence\nresident,2011-09-01,E16000141\n", encoding="utf-8")
    result = run("batch", str(src), "--output", str(out), "--decision", "responsible_pct")
    assert result.exit_code == 0, result.output


def test_help_lists_every_exit_code(run: Run) -> None:
    text = run("--help").stdout
    section = text[text.index("Exit codes:") : text.index("Options:")]
    listed = {int(code) for code in re.findall(r"(?:^|[·:]|\n)\s*(\d+) ", section)}
    assert listed >= {int(code) for code in ExitCode} | {7, 130}
    assert "6 decided with errors" in section
