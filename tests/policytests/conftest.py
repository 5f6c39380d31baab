"""Fixtures for the policy-test runner tests: the real click group, and bundles with tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import cli, run

__all__ = ["cli", "run"]

REPO = Path(__file__).resolve().parents[2]
ENGLAND = REPO / "policies" / "england"

WithTests = Callable[[str], Path]


@pytest.fixture
def with_tests(tmp_path: Path) -> WithTests:
    """A copy of the default bundle whose only test file holds the given text."""

    def make(text: str) -> Path:
        bundle = tmp_path / "england"
        shutil.copytree(ENGLAND, bundle)
        for old in (bundle / "tests").glob("*.yaml"):
            old.unlink()
        (bundle / "tests" / "t.yaml").write_text(text, encoding="utf-8")
        return bundle

    return make
