"""Golden tests: each broken bundle under fixtures/ gives exactly the report in its expected.txt.

Regenerate the goldens on purpose with `PCTRULES_REGENERATE=1 pytest tests/check`, then review
the diff: the goldens are the specification of what policy authors see.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from pctrules import cli as cli_module

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "bundle.yaml").is_file())
REGENERATE = os.environ.get("PCTRULES_REGENERATE") == "1"


@pytest.fixture(scope="module")
def cli() -> click.Group:
    cli_module._register()
    return cli_module.cli


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Diagnostics show paths relative to the working directory, as users type them.
    monkeypatch.chdir(REPO)


def _check(cli: click.Group, *args: str) -> Result:
    return CliRunner().invoke(cli, ["check", *args], catch_exceptions=False)


def test_there_are_enough_fixtures() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_fixture_report(cli: click.Group, case: str) -> None:
    result = _check(cli, f"tests/check/fixtures/{case}")
    golden = FIXTURES / case / "expected.txt"
    if REGENERATE:
        golden.write_text(result.output, encoding="utf-8")
    assert result.output == golden.read_text(encoding="utf-8")
    # Warnings alone still pass; any error is exit 3.
    assert result.exit_code == (3 if "error[" in result.output else 0)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", CASES)
def test_json_lists_the_same_diagnostics(cli: click.Group, case: str) -> None:
    text = _check(cli, f"tests/check/fixtures/{case}")
    result = _check(cli, f"tests/check/fixtures/{case}", "--format", "json")
    document = json.loads(result.output)
    assert result.exit_code == text.exit_code
    assert document["ok"] == (text.exit_code == 0)
    headers = [line for line in text.output.splitlines() if "error[" in line or "warning[" in line]
    listed = [
        f"{d['at']}: {d['severity']}[{d['code']}]: {d['message']}"
        if d["at"]
        else f"{d['severity']}[{d['code']}]: {d['message']}"
        for d in document["diagnostics"]
    ]
    assert listed == headers
    assert document["summary"]["errors"] == sum("error[" in h for h in headers)


def test_the_default_bundle_checks_clean_from_anywhere(
    cli: click.Group,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _check(cli)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ") and result.output.endswith("no problems\n")


def test_a_missing_folder_is_a_clean_error(cli: click.Group) -> None:
    result = _check(cli, "tests/check/fixtures/no-such-bundle")
    assert result.exit_code == 3
    assert "the bundle folder 'tests/check/fixtures/no-such-bundle' does not exist" in (
        result.output
    )
