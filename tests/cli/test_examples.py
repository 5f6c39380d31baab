"""Every example runs through the real CLI and prints what examples/expected/ and the README say."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

Run = Callable[..., Result]
REPO = Path(__file__).resolve().parents[2]

EXAMPLES = REPO / "examples"
README = (EXAMPLES / "README.md").read_text(encoding="utf-8")
PLAIN = sorted(EXAMPLES.glob("*.yaml"))
WITH_REGISTER = sorted((EXAMPLES / "with-register").glob("*.yaml"))
REGENERATE = os.environ.get("PCTRULES_REGENERATE") == "1"


def _readme_row(relative: str) -> str:
    row = next((line for line in README.splitlines() if line.startswith(f"| `{relative}`")), None)
    assert row is not None, f"examples/README.md has no line for {relative}"
    return row


def _check(output: str, expected: Path, relative: str) -> None:
    if REGENERATE:
        expected.write_text(output, encoding="utf-8")
    assert output == expected.read_text(encoding="utf-8")
    # The README's "prints" column quotes the output (up to "; with --param …", which is about
    # another run): every quoted fragment must appear in it.
    prints = _readme_row(relative).rsplit("|", 2)[1].split("; with `--param")[0]
    quoted = [q.removesuffix(" …") for q in re.findall(r"`([^`]+)`", prints)]
    assert quoted, f"the README line for {relative} quotes nothing of the output"
    for fragment in quoted:
        assert fragment in output, f"README says {fragment!r} for {relative}"


def test_there_are_enough_examples() -> None:
    assert len(PLAIN) >= 8
    families = {p.name.split("-", 1)[0] for p in PLAIN}
    assert {"precedence", "lead", "specialised"} <= families


@pytest.mark.parametrize("path", PLAIN, ids=lambda p: p.name)
def test_example_runs_without_a_register(run: Run, path: Path) -> None:
    result = run("evaluate", str(path))
    assert result.exit_code == 0, result.stderr
    expected = EXAMPLES / "expected" / f"{path.stem}.txt"
    _check(result.stdout, expected, path.name)


@pytest.mark.parametrize("path", WITH_REGISTER, ids=lambda p: p.name)
def test_example_with_the_register(run: Run, register: Path, path: Path) -> None:
    result = run("evaluate", "--data", str(register), str(path))
    assert result.exit_code == 0, result.stderr
    expected = EXAMPLES / "with-register" / "expected" / f"{path.stem}.txt"
    _check(result.stdout, expected, f"with-register/{path.name}")


@pytest.mark.parametrize("path", WITH_REGISTER, ids=lambda p: p.name)
def test_register_examples_without_it_say_how_to_import(run: Run, path: Path) -> None:
    result = run("evaluate", str(path), "--decision", "responsible_pct")
    assert result.exit_code == 6, result.stderr  # decided with errors
    assert "error in rule registered-practice" in result.stdout
    assert "pctrules import ods-epcmem" in result.stdout


def test_the_emergency_example_with_the_parameter(run: Run) -> None:
    result = run(
        "evaluate",
        str(EXAMPLES / "precedence-emergency.yaml"),
        "--param",
        "emergency_responsibility=present",
        "--decision",
        "responsible_pct",
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "responsible_pct = 5QP Cornwall and Isles of Scilly PCT (rule emergency-present, "
        "reason A&E-PRESENT)"
    ) in result.stdout


@pytest.mark.parametrize("path", PLAIN, ids=lambda p: p.name)
def test_explain_names_the_fired_rule_and_the_ones_before(run: Run, path: Path) -> None:
    result = run("explain", str(path), "--decision", "responsible_pct")
    assert result.exit_code == 0, result.stderr
    assert "✗ emergency-present did not match" in result.stdout
    assert "✓" in result.stdout
