"""The installed entry points run evaluate, explain and test as a user would, from any folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "specialised-bassetlaw.yaml"
# The script installed beside this interpreter (a venv need not be activated), else on PATH.
_BESIDE = Path(sys.executable).parent / "pctrules"
SCRIPT = str(_BESIDE) if _BESIDE.is_file() else shutil.which("pctrules")


def run(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PCTRULES_DATA"}
    return subprocess.run(
        args,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def test_python_dash_m_evaluates_an_example(tmp_path: Path) -> None:
    result = run(
        sys.executable, "-m", "pctrules", "evaluate", str(EXAMPLE), "--format", "json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["decisions"]["commissioner"]["value"] == "SCG-Q33"
    assert out["decisions"]["cluster"]["value"] == "CL-SOUTH-YORKSHIRE-AND-BASSETLAW"


def test_python_dash_m_reports_a_bad_case_without_a_traceback(tmp_path: Path) -> None:
    result = run(
        sys.executable,
        "-m",
        "pctrules",
        "evaluate",
        "-",
        cwd=tmp_path,
        stdin="id: x\ndate: 2011-09-01\nperson: [1]\n",
    )
    assert result.returncode == 5
    assert "for case 'x', field 'person' is [1], but must be a mapping of fields" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(SCRIPT is None, reason="no pctrules script is installed")
def test_the_pctrules_script_explains_and_tests(tmp_path: Path) -> None:
    assert SCRIPT is not None
    explained = run(SCRIPT, "explain", str(EXAMPLE), "--decision", "responsible_pct", cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert "✓ unregistered-resident matched: pct 5ET Bassetlaw PCT covers" in explained.stdout
    tested = run(SCRIPT, "test", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert " passed, 0 failed" in tested.stdout
