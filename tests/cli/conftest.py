"""Fixtures for the CLI tests: the real click group, and a practice register (synthetic or real)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from pctrules import cli as cli_module
from tests import synthetic
from tests.conftest import DATA

# The official register's path (tests/expression reads it).
EPCMEM = DATA / synthetic.EPCMEM


@pytest.fixture(scope="session")
def cli() -> click.Group:
    cli_module._register()
    return cli_module.cli


Run = Callable[..., Result]


@pytest.fixture(scope="session")
def run(cli: click.Group) -> Run:
    """`run(*args, input=None)`: invoke pctrules in-process (stdout and stderr kept apart),
    with PCTRULES_DATA unset so that only `--data` loads a register."""

    def invoke(*args: str, input: str | None = None) -> Result:
        runner = CliRunner(env={"PCTRULES_DATA": None})
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture(scope="session")
def register(cli: click.Group, official: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the practice register (synthetic or real) imported through the CLI."""
    into = tmp_path_factory.mktemp("register")
    source = official / synthetic.EPCMEM
    result = CliRunner().invoke(cli, ["import", "ods-epcmem", str(source), "--into", str(into)])
    assert result.exit_code == 0, result.output
    return into
