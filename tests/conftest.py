"""Fixtures for the whole suite, and its own pctrules cache folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from pctrules.graph.importers.registry import run_import

# Set before any test runs pctrules, and inherited by the subprocesses tests start: the suite
# exercises the cache (parser tables, built graphs) without reading or filling the user's own.
_CACHE = tempfile.mkdtemp(prefix="pctrules-test-cache-")
os.environ["PCTRULES_CACHE_DIR"] = _CACHE


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_CACHE, ignore_errors=True)  # a few MB of pickled graphs per run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "england"
EPCMEM = DATA / "ods_epcmem_2019-08-30.csv"


@pytest.fixture(scope="session")
def register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding the real practice register (NHS Digital ODS epcmem), imported as
    `pctrules import ods-epcmem` does; the tests that need it skip when the file is absent."""
    if not EPCMEM.exists():
        pytest.skip(f"the official register '{EPCMEM.name}' is not in {DATA}")
    into = tmp_path_factory.mktemp("register")
    run_import("ods-epcmem", EPCMEM, into)
    return into
