"""`pctrules report population` on a small register and list sizes written by the test."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from pctrules.graph.importers.registry import run_import

Run = Callable[..., Result]

# Two Somerset practices and one Manchester practice, 2002 -> 2013; list sizes for two of them.
EPCMEM = [
    ["L85001", "5QL", "W", "20061001", "20130331", "0"],
    ["L85002", "5QL", "W", "20061001", "20130331", "0"],
    ["P84001", "5NT", "W", "20061001", "20130331", "0"],
]
BANDS = [
    f"{sex} {band}"
    for sex in ("Male", "Female")
    for band in ("0-4", "5-14", "15-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+")
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    with (tmp / "epcmem.csv").open("w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(EPCMEM)
    with (tmp / "nhsbsa_patient_list_size_2013-04_to_06.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Practice Code", *BANDS])
        w.writerow(["L85001", *([10] * 18)])  # 180
        w.writerow(["P84001", *([1] * 18)])  # 18
    into = tmp / "data"
    run_import("ods-epcmem", tmp / "epcmem.csv", into)
    run_import("nhsbsa-list-size", tmp / "nhsbsa_patient_list_size_2013-04_to_06.csv", into)
    return into


def test_population_by_sha_json(run: Run, data: Path) -> None:
    result = run(
        "report",
        "population",
        "--as-of",
        "2011-09-01",
        "--by",
        "sha",
        "--format",
        "json",
        "--data",
        str(data),
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    rows = {r["code"]: r for r in doc["rows"]}
    assert rows["Q39"]["patients"] == 180 and rows["Q39"]["practices"] == 2
    assert rows["Q39"]["practices_with_list_size"] == 1 and rows["Q39"]["pcts"] == 14
    assert rows["Q31"]["patients"] == 18
    assert doc["total"]["pcts"] == 151 and doc["total"]["clusters"] == 50
    assert doc["total"]["patients"] == 198
    assert "2013-04 to 2013-06" in doc["list_sizes"] and "2011-09-01" in doc["list_sizes"]


def test_population_by_cluster_before_the_clusters_puts_every_pct_unassigned(
    run: Run, data: Path
) -> None:
    result = run(
        "report",
        "population",
        "--as-of",
        "2010-06-01",
        "--by",
        "cluster",
        "--format",
        "json",
        "--data",
        str(data),
    )
    doc = json.loads(result.stdout)
    assert doc["rows"] == [] and doc["unassigned"]["pcts"] == 151
    assert doc["unassigned"]["patients"] == 198


@pytest.mark.parametrize("fmt", ["table", "csv", "html"])
def test_population_formats(run: Run, data: Path, fmt: str) -> None:
    result = run(
        "report",
        "population",
        "--as-of",
        "2011-09-01",
        "--by",
        "pct",
        "--format",
        fmt,
        "--data",
        str(data),
    )
    assert result.exit_code == 0, result.stderr
    assert "5QL" in result.stdout and "180" in result.stdout
    if fmt == "html":
        assert 'class="fill" style="width:100.0%"' in result.stdout  # the bar chart
    if fmt == "csv":
        assert result.stdout.splitlines()[-1].startswith("England,all PCTs,151,")


def test_population_needs_list_sizes(run: Run) -> None:
    result = run("report", "population", "--as-of", "2011-09-01")
    assert result.exit_code == 2
    assert "pctrules import nhsbsa-list-size" in result.stderr


def test_population_unknown_grouping(run: Run, data: Path) -> None:
    result = run(
        "report", "population", "--as-of", "2011-09-01", "--by", "region", "--data", str(data)
    )
    assert result.exit_code == 2
    assert "cannot group by 'region'" in result.stderr and "'sha'" in result.stderr
