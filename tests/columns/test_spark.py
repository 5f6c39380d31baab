"""pctrules.spark in Spark's local mode, against `pctrules batch` on the same cases."""

from __future__ import annotations

import csv
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from pctrules import cli as cli_module
from tests.columns import synthetic

# pyspark warns about pandas 3 when it checks its version; nothing here goes through pandas.
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[test]')")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (17), which is not on this machine", allow_module_level=True)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local Spark session for the module: one core, no UI, 1 GB, on the loopback."""
    from pyspark.sql import SparkSession

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers import this pctrules
    session = (
        SparkSession.builder.master("local[1]")
        .appName("pctrules-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "5000")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_spark_decides_as_pctrules_batch_row_for_row(
    spark: Any, synthetic_data: tuple[Path, list[str]], tmp_path: Path
) -> None:
    from pctrules import spark as pctrules_spark

    data, practices = synthetic_data
    rows = synthetic.cases(20_000, practices, seed=23)
    for i, row in enumerate(rows):
        # In CSV an empty cell is an absent value; Spark gets null for it. Rows without an id
        # are named by their position, which a partition does not know: give every row one.
        for k, v in row.items():
            if v == "":
                row[k] = None
        row["id"] = row["id"] or f"n{i}"
    src = tmp_path / "cases.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(synthetic.COLUMNS)
        w.writerows([["" if r[c] is None else r[c] for c in synthetic.COLUMNS] for r in rows])
    out = tmp_path / "decided.csv"
    cli_module._register()
    result = CliRunner(env={"PCTRULES_DATA": None}).invoke(
        cli_module.cli,
        ["batch", str(src), "--output", str(out), "--data", str(data), "--workers", "1"],
        catch_exceptions=False,
    )
    assert result.exit_code in (0, 6), result.output
    with out.open(newline="", encoding="utf-8") as f:
        batch = {r["id"]: r for r in csv.DictReader(f)}

    table = pa.Table.from_pylist(
        rows, schema=pa.schema([(c, pa.string()) for c in synthetic.COLUMNS])
    )
    df = spark.createDataFrame(table).repartition(3)  # Spark 4 takes an Arrow table as it is
    decided = pctrules_spark.decide(df, data=data).collect()

    assert len(decided) == len(batch) == 20_000
    columns = [c for c in next(iter(batch.values())) if c != "warnings"]
    failed = 0
    for row in decided:
        got = row.asDict()
        want = batch[got["id"]]
        for c in columns:
            value = got[c.replace(".", "__")]
            if isinstance(value, list):  # a set of codes: in CSV, separated by spaces
                value = " ".join(value)
            assert ("" if value is None else value) == want[c], (got["id"], c)
        if "warnings" in want:
            assert "; ".join(got["warnings"]) == want["warnings"]
        failed += got["error"] is not None
    assert failed > 100  # bad dates, codes of the wrong kind, padded codes, no date
    assert any(row["warnings"] for row in decided)  # codes no register has


def test_dotted_and_struct_columns_and_a_bad_bundle(
    spark: Any, synthetic_data: tuple[Path, list[str]], tmp_path: Path
) -> None:
    from pyspark.sql import functions as F

    from pctrules import PctrulesError
    from pctrules import spark as pctrules_spark

    df = spark.createDataFrame(
        [("a", "2011-09-01", "E16000141"), ("b", "2011-09-01", None)],
        "id string, date string, `person.residence` string",
    )
    got = {
        r["id"]: r.asDict()
        for r in pctrules_spark.decide(df, decisions=["responsible_pct"]).collect()
    }
    assert got["a"]["responsible_pct"] == "5QL"
    assert got["a"]["responsible_pct__rule"] == "unregistered-resident"
    assert got["b"]["responsible_pct__rule"] == "not-known"
    nested = df.select(
        "id", "date", F.struct(F.col("`person.residence`").alias("residence")).alias("person")
    )
    again = {
        r["id"]: r.asDict()
        for r in pctrules_spark.decide(nested, decisions=["responsible_pct"]).collect()
    }
    assert again == got
    (tmp_path / "bundle.yaml").write_text("bundle: broken\n", encoding="utf-8")
    with pytest.raises(PctrulesError):
        pctrules_spark.decide(df, bundle=tmp_path)


@pytest.mark.filterwarnings("ignore:Failed to set spark:UserWarning")
def test_spark_connect_decides_alike(spark: Any) -> None:
    # Spark Connect (what Databricks serverless and shared clusters run): the function and its
    # pack travel to the server, which has no SparkContext for the client to use. A local
    # Connect server is started beside the classic session, which is stopped first.
    pytest.importorskip("grpc", reason="Spark Connect needs pyspark[connect]")
    from pyspark.sql import SparkSession

    from pctrules import spark as pctrules_spark

    spark.stop()
    remote = SparkSession.builder.remote("local[1]").getOrCreate()
    try:
        df = remote.createDataFrame(
            [("a", "2011-09-01", "E16000141")], "id string, date string, `person.residence` string"
        )
        rows = pctrules_spark.decide(df, decisions=["responsible_pct"]).collect()
        assert [r.asDict() for r in rows] == [
            {
                "id": "a",
                "responsible_pct": "5QL",
                "responsible_pct__rule": "unregistered-resident",
                "responsible_pct__reason": "4",
                "error": None,
                "warnings": [],
            }
        ]
    finally:
        remote.stop()
