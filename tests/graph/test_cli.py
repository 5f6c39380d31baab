"""The `pctrules graph` and `pctrules import` commands, through the real click group."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pctrules import cli as cli_module


@pytest.fixture(scope="module")
def cli() -> click.Group:
    cli_module._register()
    return cli_module.cli


@pytest.fixture(scope="module")
def data_dir(
    cli: click.Group,
    tmp_path_factory: pytest.TempPathFactory,
    real: Callable[[str], Path],
) -> Path:
    into = tmp_path_factory.mktemp("data")
    for layout, name in [
        ("ods-epcmem", "ods_epcmem_2019-08-30.csv"),
        ("ods-epraccur", "ods_epraccur_2019.csv"),
        ("nhsbsa-list-size", "nhsbsa_patient_list_size_2013-04_to_06.csv"),
    ]:
        result = CliRunner().invoke(cli, ["import", layout, str(real(name)), "--into", str(into)])
        assert result.exit_code == 0, result.output
    return into


def test_import_reports_counts(
    cli: click.Group,
    tmp_path: Path,
    real: Callable[[str], Path],
) -> None:
    result = CliRunner().invoke(
        cli,
        ["import", "ods-epcmem", str(real("ods_epcmem_2019-08-30.csv")), "--into", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "ods-epcmem: read 47,822 rows of 'ods_epcmem_2019-08-30.csv': kept 20,595, rejected 0, "
        "skipped 27,227"
    )


def test_import_unknown_layout_is_a_usage_error(cli: click.Group, tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("a\n")
    result = CliRunner().invoke(cli, ["import", "ods-epcmen", str(f), "--into", str(tmp_path)])
    assert result.exit_code == 2 and "ods-epcmem" in result.output


def test_graph_summary_with_register(cli: click.Group, data_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["graph", "--as-of", "2011-09-01", "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    counts = {
        line.split()[1]: int(line.split()[0].replace(",", ""))
        for line in result.stdout.splitlines()
        if line.startswith("  ")
    }
    assert (counts["sha"], counts["pct"], counts["cluster"], counts["scg"]) == (10, 151, 50, 10)
    assert counts["practice"] == counts["part_of"] == 12_817


def test_graph_data_from_environment(cli: click.Group, data_dir: Path) -> None:
    result = CliRunner(env={"PCTRULES_DATA": str(data_dir)}).invoke(
        cli, ["graph", "--as-of", "2011-09-01"]
    )
    assert result.exit_code == 0 and "12,817  practice" in result.stdout


def test_graph_focus_tree(cli: click.Group, data_dir: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "graph",
            "--as-of",
            "2011-09-01",
            "--data",
            str(data_dir),
            "--focus",
            "A91117",
            "--depth",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "A91117 HERON MEDICAL CENTRE [practice] on 2011-09-01 (2010-10-01 → 2013-03-31)"
    )
    assert lines[1].startswith(
        "└── pct → 5QL Somerset PCT [pct] (2010-10-01 → 2013-03-31; ods_epcmem_2019-08-30.csv:"
    )
    assert any("sha → Q39 NHS South West [sha]" in line for line in lines)
    assert any("partners → E10000027 Somerset County Council" in line for line in lines)


@pytest.mark.parametrize("fmt", ["json", "graphml", "dot"])
def test_graph_exports(cli: click.Group, fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"q31.{fmt}"
    result = CliRunner().invoke(
        cli, ["graph", "--as-of", "2011-09-01", "--focus", "Q31", "--format", fmt, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    if fmt == "json":
        doc = json.loads(text)
        # The SHA, its 24 PCTs, its SCG, and what spans it: the NCG, the ambulance collaborative.
        assert doc["focus"] == "Q31" and len(doc["nodes"]) == 1 + 24 + 1 + 1 + 1
        assert {"from": "5NT", "rel": "managed_by", "to": "Q31"}.items() <= next(
            e for e in doc["edges"] if e["from"] == "5NT"
        ).items()
    elif fmt == "graphml":
        assert text.startswith("<?xml") and 'id="5NT"' in text
    else:
        assert text.startswith('digraph "Q31 on 2011-09-01" {') and '"5NT" -> "Q31"' in text


PICTURE = ["graph", "--as-of", "2011-09-01", "--focus", "5QL", "--format", "svg"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_graph_picture(cli: click.Group, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [*PICTURE, "-o", str(tmp_path / "5ql.svg")])
    assert result.exit_code == 0, result.output
    assert "<svg" in (tmp_path / "5ql.svg").read_text()


def test_graph_picture_without_graphviz(
    cli: click.Group,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("pctrules.report")  # renders the diagnostic (another stage)
    args = [*PICTURE, "-o", str(tmp_path / "5ql.svg")]
    monkeypatch.setenv("PATH", str(tmp_path))  # no Graphviz here
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "cannot draw a picture: Graphviz 'dot' is not installed" in result.output
    assert "apt-get install graphviz" in result.output
