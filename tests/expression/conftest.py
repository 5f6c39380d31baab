"""Fixtures for `pctrules eval` and the REPL: the CLI, and a practice register (the real one
when ../shared holds it, else a synthetic one with the same layout)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.conftest import EPCMEM, cli, run

__all__ = ["cli", "run"]

# ODS epcmem rows (no header): practice, parent, type, joined, left, amended. P84004 has been a
# member of 5CR (North Manchester PCT) and then of 5NT (Manchester Teaching PCT), as the real
# file says; later CCG parents are skipped by the importer.
SYNTHETIC = """\
"P84004","5CR","W","20001001","20060930","0"
"P84004","5NT","W","20061001","20130331","0"
"P84004","01M","W","20130401","20170331","0"
"L85061","5QL","W","20061001","20130331","0"
"""


@pytest.fixture(scope="session", params=["synthetic", "real"])
def register(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder made by `pctrules import ods-epcmem`: from a synthetic file, and from the
    official one when it is there."""
    source = tmp_path_factory.mktemp("epcmem") / "epcmem.csv"
    if request.param == "real":
        if not EPCMEM.exists():
            pytest.skip(f"the official ODS epcmem file is not at {EPCMEM}")
        source = EPCMEM
    else:
        source.write_text(SYNTHETIC, encoding="utf-8")
    from pctrules import cli as cli_module

    cli_module._register()
    into = tmp_path_factory.mktemp("register")
    result = CliRunner().invoke(
        cli_module.cli, ["import", "ods-epcmem", str(source), "--into", str(into)]
    )
    assert result.exit_code == 0, result.output
    return into
