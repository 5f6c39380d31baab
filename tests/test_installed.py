"""The installed package: entry points and embedded resources work from any directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pctrules import __version__

SCRIPT = Path(sys.executable).parent / "pctrules"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_python_dash_m_reports_the_version(tmp_path: Path) -> None:
    # From an empty directory, `python -m pctrules` must import the installed package.
    result = run(sys.executable, "-m", "pctrules", "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout


@pytest.mark.skipif(not SCRIPT.exists(), reason="the pctrules script is not installed here")
def test_console_script_finds_its_grammar_and_bundle(tmp_path: Path) -> None:
    result = run(str(SCRIPT), "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    probe = (
        "from pctrules.resources import grammar_path, default_bundle_path;"
        "print(grammar_path()); print(default_bundle_path() / 'bundle.yaml')"
    )
    located = run(sys.executable, "-c", probe, cwd=tmp_path)
    assert located.returncode == 0, located.stderr
    for line in located.stdout.splitlines():
        assert Path(line).is_file(), line


@pytest.mark.skipif(not SCRIPT.exists(), reason="the pctrules script is not installed here")
def test_check_without_arguments_checks_the_embedded_bundle(tmp_path: Path) -> None:
    result = run(str(SCRIPT), "check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    [summary] = result.stdout.splitlines()
    assert summary.startswith("ok: ") and "decisions" in summary
