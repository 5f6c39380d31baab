"""Fixtures for the batch tests: a practice register (synthetic, or real), an engine over it,
case files."""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

from pctrules import cli as cli_module
from pctrules.batch.run import BatchOptions, BatchSummary, prepare, run_batch
from pctrules.bundle import open_bundle
from pctrules.evaluation.engine import Engine

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def engine(register: Path) -> Engine:
    return Engine(open_bundle(None, register))


@pytest.fixture(scope="session")
def generator(official: Path) -> ModuleType:
    """benchmarks/generate_cases.py, the generator of cases, drawing them over the register the
    tests run on (its DATA is the folder of official files: synthetic or real)."""
    spec = importlib.util.spec_from_file_location(
        "generate_cases", REPO / "benchmarks" / "generate_cases.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.DATA = official
    return module


@pytest.fixture(scope="session")
def floor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("floor", REPO / "benchmarks" / "floor.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run(engine: Engine) -> Callable[..., BatchSummary]:
    """run(input, output, **options): `pctrules batch` through the API, on the shared engine."""

    def go(
        input: Path,
        output: Path,
        progress: Callable[[int, int], None] | None = None,
        **options: object,
    ) -> BatchSummary:
        options.setdefault("decisions", ("responsible_pct",))
        opts = BatchOptions(input=input, output=output, **options)  # type: ignore[arg-type]
        return run_batch(opts, progress, prepare(opts, engine))

    return go


# -- through the command line, on synthetic data --------------------------------------------------

SYNTHETIC_EPCMEM = "".join(
    f'"{practice}","{pct}","W","{joined}","{left}","0"\n'
    for practice, pct, joined, left in [
        ("P84004", "5NT", "20020401", "20130331"),
        ("A81001", "5E1", "20020401", "20130331"),
        ("Y00001", "5NT", "20020401", "20050331"),
    ]
)
"""A tiny practice register in the ODS epcmem layout, so that CLI tests run without the
official file."""


@pytest.fixture(scope="session")
def synthetic_register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder made by `pctrules import ods-epcmem` from `SYNTHETIC_EPCMEM`."""
    folder = tmp_path_factory.mktemp("synthetic-register")
    source = folder / "epcmem.csv"
    source.write_text(SYNTHETIC_EPCMEM, encoding="utf-8")
    result = pctrules("import", "ods-epcmem", str(source), "--into", str(folder / "data"))
    assert result.exit_code == 0, result.output
    return folder / "data"


def pctrules(*args: str, input: str | bytes | None = None) -> Result:
    """The real CLI, in-process (stdout and stderr kept apart), with PCTRULES_DATA unset."""
    cli_module._register()
    runner = CliRunner(env={"PCTRULES_DATA": None})
    return runner.invoke(cli_module.cli, list(args), input=input, catch_exceptions=False)


def read_rows(path: Path) -> list[dict[str, str]]:
    """A CSV output file's rows, as any reader of the file would get them."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
