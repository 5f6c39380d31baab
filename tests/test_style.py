"""The code's style, checked wherever the tests run: ruff's lint rules and its formatter, with the
project's settings (pyproject.toml). Skipped, saying so, where ruff is not installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ruff") is None,
    reason="ruff is not installed (it comes with the 'test' extra)",
)


@pytest.mark.parametrize(
    "command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"]
)
def test_ruff(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (
        f"'ruff {' '.join(command)}' found problems (run 'ruff check --fix .' or 'ruff format .'):"
        f"\n{done.stdout[-3000:]}{done.stderr[-1000:]}"
    )
