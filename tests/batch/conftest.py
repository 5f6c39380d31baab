"""Fixtures for the batch tests: a practice register (synthetic, or real), an engine over it,
case files."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

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
        "generate_cases", REPO / "benchmarks" / "generate_cases.py")
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

    def go(input: Path, output: Path, progress: Callable[[int, int], None] | None = None,
           **options: object) -> BatchSummary:
        options.setdefault("decisions", ("responsible_pct",))
        opts = BatchOptions(input=input, output=output, **options)  # type: ignore[arg-type]
        return run_batch(opts, progress, prepare(opts, engine))
    return go
