"""Fixtures for the organisation-graph tests: the default bundle and the real official data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "england"
BUNDLE = REPO / "policies" / "england"


def _real(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(
            f"the official data file '{name}' is not in {DATA}: this test checks "
            "facts of the real file itself"
        )
    return path


@pytest.fixture(scope="session")
def real() -> Callable[[str], Path]:
    """A file of the shared official data by name, for tests of facts of the real files (row
    counts, names); the test is skipped when it is absent. Tests that hold on any register use
    the `official` fixture (synthetic or real) instead."""
    return _real


@pytest.fixture(scope="session")
def bundle_dir() -> Path:
    return BUNDLE
