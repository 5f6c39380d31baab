"""Golden traces: `pctrules explain` text and JSON for a handful of cases, compared byte for byte.

Regenerate on purpose with `PCTRULES_REGENERATE=1 pytest tests/explain` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pctrules import cli as cli_module
from tests import synthetic

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
GOLDEN = HERE / "golden"
REGENERATE = os.environ.get("PCTRULES_REGENERATE") == "1"

# name → (case file, extra arguments); paths relative to the repository (the CLI shows them so).
CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "bassetlaw-specialised": ("examples/specialised-bassetlaw.yaml", ()),
    "derby-no-designated-lead": (
        "examples/lead-no-designated-lead.yaml",
        ("--decision", "lead_pct"),
    ),
    "derby-tie-break": (
        "examples/lead-no-designated-lead.yaml",
        ("--decision", "lead_pct", "--param", "lead_tie_break=largest-population"),
    ),
    "cornwall-standalone": ("examples/lead-standalone.yaml", ()),
    "emergency-present": (
        "examples/precedence-emergency.yaml",
        ("--param", "emergency_responsibility=present", "--decision", "responsible_pct"),
    ),
    "tiny-outcomes": ("tests/explain/cases.yaml", ("--bundle", "tests/explain/tiny")),
    "code-literals": ("tests/explain/cases.yaml", ("--bundle", "tests/explain/codes")),
}
FAILING = {"tiny-outcomes"}  # a decision of some case fails: exit 6 (DESIGN §5)


@pytest.fixture(scope="module")
def cli() -> click.Group:
    cli_module._register()
    return cli_module.cli


def explain(cli: click.Group, args: list[str], code: int = 0) -> str:
    old = Path.cwd()
    os.chdir(REPO)  # so that file positions in traces are relative to the repository
    try:
        result = CliRunner(env={"PCTRULES_DATA": None}).invoke(
            cli, ["explain", *args], catch_exceptions=False
        )
    finally:
        os.chdir(old)
    assert result.exit_code == code, result.output
    return result.stdout


def _stable_json(text: str) -> str:
    """One JSON object per line, pretty-printed, the bundle digest masked (it changes with
    every edit of a policy file; determinism is tested separately)."""
    out = []
    for line in text.splitlines():
        data = json.loads(line)
        data["bundle"]["digest"] = "sha256:…"
        out.append(json.dumps(data, indent=2, ensure_ascii=False))
    return "\n".join(out) + "\n"


def _compare(actual: str, golden: Path) -> None:
    if REGENERATE or not golden.exists():
        golden.write_text(actual, encoding="utf-8")
        if not REGENERATE:
            pytest.fail(f"wrote a new golden file {golden.name}; review it and run again")
    assert actual == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", CASES)
def test_text_trace(cli: click.Group, name: str) -> None:
    path, extra = CASES[name]
    _compare(explain(cli, [path, *extra], 6 if name in FAILING else 0), GOLDEN / f"{name}.txt")


@pytest.mark.parametrize("name", CASES)
def test_json_trace(cli: click.Group, name: str) -> None:
    path, extra = CASES[name]
    _compare(
        _stable_json(explain(cli, [path, *extra, "--format", "json"], 6 if name in FAILING else 0)),
        GOLDEN / f"{name}.json",
    )


def test_with_the_register(cli: click.Group, tmp_path: Path, official: Path) -> None:
    # The synthetic register gives the example's practice its real history, under the file's
    # official name: the masked trace is the same on either.
    result = CliRunner().invoke(
        cli, ["import", "ods-epcmem", str(official / synthetic.EPCMEM), "--into", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    text = explain(
        cli,
        [
            "examples/with-register/registered-away-from-home.yaml",
            "--data",
            str(tmp_path),
            "--decision",
            "responsible_pct",
        ],
    )
    # The register's row numbers belong to the official file; the story is what matters here.
    _compare(
        re.sub(r"ods_epcmem_2019-08-30\.csv:\d+", "ods_epcmem_2019-08-30.csv:N", text),
        GOLDEN / "registered-away-from-home.txt",
    )


def test_every_trace_lists_every_rule_in_order(cli: click.Group) -> None:
    text = explain(cli, ["examples/specialised-national.yaml", "--format", "json"])
    decisions = json.loads(text)["decisions"]
    assert [r["rule"] for r in decisions["commissioner"]["trace"]["rules"]] == [
        "national-service",
        "specialised-scg",
        "specialised-before-2007",
        "collaborative-arrangement",
        "own-pct",
        "no-commissioner",
    ]
    outcomes = {r["outcome"] for d in decisions.values() for r in d["trace"]["rules"]}
    assert outcomes <= {"matched", "not-matched", "unknown", "skipped", "error"}
