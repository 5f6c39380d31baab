"""Fixtures for the security tests: a small synthetic bundle to attack, and the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from pctrules import cli as cli_module

TINY = Path(__file__).resolve().parents[1] / "explain" / "tiny"
CASE = "{id: c1, date: 2011-09-01, practice: A1}\n"


@pytest.fixture(scope="session")
def cli() -> click.Group:
    cli_module._register()
    return cli_module.cli


Run = Callable[..., Result]


@pytest.fixture(scope="session")
def run(cli: click.Group) -> Run:
    """`run(*args, input=None, env=None)`: pctrules in-process, stdout and stderr apart,
    PCTRULES_DATA unset unless `env` sets it."""

    def invoke(
        *args: str, input: str | None = None, env: dict[str, str | None] | None = None
    ) -> Result:
        runner = CliRunner(env={"PCTRULES_DATA": None, **(env or {})})
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


def pctrules(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The installed entry point in a process of its own (what only a real process shows)."""
    environ = {k: v for k, v in os.environ.items() if k != "PCTRULES_DATA"}
    return subprocess.run(
        [sys.executable, "-m", "pctrules", *args],
        cwd=cwd,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A copy of the tests' tiny bundle (two PCTs, two practices, two decisions) to spoil."""
    root = tmp_path / "b"
    shutil.copytree(TINY, root)
    return root


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    path = tmp_path / "case.yaml"
    path.write_text(CASE, encoding="utf-8")
    return path


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def table(folder: Path, name: str) -> Path:
    """An imported table by its name without the digest: 'ods-epcmem.pcts.csv' is written as
    'ods-epcmem.pcts.<digest>.csv'."""
    (found,) = folder.glob(name.removesuffix(".csv") + ".*.csv")
    return found


def assert_clean(result: Result | subprocess.CompletedProcess[str], code: int) -> str:
    """The exit code is `code` and nothing says 'internal error' or prints a traceback; the
    combined output, for the caller's own assertions."""
    out = result.stdout + result.stderr
    exit_code = result.exit_code if isinstance(result, Result) else result.returncode
    assert exit_code == code, out
    assert "internal error" not in out and "Traceback" not in out, out
    return out
