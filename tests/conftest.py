"""Fixtures for the whole suite, and its own pctrules cache folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from pctrules.graph.importers.registry import run_import
from tests import synthetic

# Set before any test runs pctrules, and inherited by the subprocesses tests start: the suite
# exercises the cache (parser tables, built graphs) without reading or filling the user's own.
_CACHE = tempfile.mkdtemp(prefix="pctrules-test-cache-")
os.environ["PCTRULES_CACHE_DIR"] = _CACHE


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_CACHE, ignore_errors=True)  # a few MB of pickled graphs per run


DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "england"
EPCMEM = DATA / synthetic.EPCMEM
REAL_ONLY = (
    f"the official register '{EPCMEM.name}' is not in {DATA}: this test checks facts "
    "of the real file itself"
)


def _real_official() -> Path:
    if not EPCMEM.exists():
        pytest.skip(REAL_ONLY)
    return DATA


@pytest.fixture(scope="session", params=["synthetic", "real"])
def official(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of official-layout files under their official names: the synthetic register of
    tests/synthetic.py (always there), or the real files of ../shared/data/england (the test
    is skipped, saying so, when they are absent)."""
    if request.param == "real":
        if not EPCMEM.exists():
            pytest.skip(
                f"the official register '{EPCMEM.name}' is not in {DATA}; this test "
                "also ran on the synthetic register"
            )
        return DATA
    return synthetic.write_official(tmp_path_factory.mktemp("synthetic-official"))


@pytest.fixture(scope="session")
def scale(official: Path) -> float:
    """How much of a large test's work to do on this register: all of it on the real one; a
    fifth on the synthetic one, whose 1,500 practices need fewer cases to reach every path."""
    return 1.0 if official == DATA else 0.2


@pytest.fixture(scope="session")
def real_official() -> Path:
    """The real official files, for the few tests about facts of the real files themselves
    (row counts, names); skipped, saying so, when they are absent."""
    return _real_official()


@pytest.fixture(scope="session")
def register(official: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding a practice register (ODS epcmem layout, synthetic or real),
    imported as `pctrules import ods-epcmem` does."""
    into = tmp_path_factory.mktemp("register")
    run_import("ods-epcmem", official / synthetic.EPCMEM, into)
    return into


@pytest.fixture(scope="session")
def real_register(real_official: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real register, imported: for tests of facts only the real file has."""
    into = tmp_path_factory.mktemp("real-register")
    run_import("ods-epcmem", real_official / synthetic.EPCMEM, into)
    return into
