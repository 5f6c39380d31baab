"""Fixtures for the columnar API: a synthetic register, and a Decider and an engine over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pctrules.columns import Decider
from tests.columns import synthetic


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """(a data folder with a synthetic practice register, its practice codes)."""
    folder = tmp_path_factory.mktemp("synthetic")
    codes = synthetic.register(folder)
    return folder / "register", codes


@pytest.fixture(scope="session")
def decider(synthetic_data: tuple[Path, list[str]]) -> Decider:
    return Decider.open(data=synthetic_data[0])
