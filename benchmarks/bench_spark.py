"""Benchmark of `pctrules.spark.decide` in Spark's local mode against `pctrules batch`.

The same case file (benchmarks/generate_cases.py) through `pctrules batch --decision
responsible_pct` (as its own process, bench_batch.measure) and through Spark: read the CSV,
`pctrules.spark.decide`, write the result as CSV. Spark runs `--repeat` times in one session
and the best run counts: the first pays for starting the Python workers and opening the pack,
later ones find them warm, as a long-lived cluster would.

    python benchmarks/bench_spark.py --rows 5000000 --master 'local[2]'
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO.parent / "shared" / "data" / "england"
sys.path.insert(0, str(HERE))

from bench_batch import generated_cases, imported_register, measure  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()))
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--driver-memory", default="2g")
    p.add_argument(
        "--batch-rows",
        type=int,
        default=10_000,
        help="spark.sql.execution.arrow.maxRecordsPerBatch (Spark's default 10,000)",
    )
    args = p.parse_args(argv)
    work: Path = args.work
    cases = work / f"pctrules-bench-cases-{args.rows}.csv"
    generated_cases(cases, args.rows, args.data)
    register = imported_register(work, args.data)
    batch_out = work / "pctrules-bench-batch.csv"
    b = measure(
        [
            sys.executable,
            "-m",
            "pctrules",
            "batch",
            str(cases),
            "--output",
            str(batch_out),
            "--data",
            str(register),
            "--decision",
            "responsible_pct",
        ],
        work / "pctrules-bench-batch.log",
    )

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from pctrules import spark as pctrules_spark

    started = time.perf_counter()
    spark = (
        SparkSession.builder.master(args.master)
        .appName("pctrules-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch_rows))
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    session = time.perf_counter() - started
    out = work / "pctrules-bench-spark"
    runs = []
    for _ in range(args.repeat):
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        df = spark.read.csv(str(cases), header=True, inferSchema=False)
        decided = pctrules_spark.decide(df, data=register, decisions=["responsible_pct"])
        decided.drop("warnings").write.csv(str(out), header=True)
        runs.append(time.perf_counter() - started)
    spark.stop()
    best = min(runs)
    print(f"rows                {args.rows:,}")
    print(
        f"pctrules batch      {b.seconds:7.2f} s  cpu {b.cpu_seconds:7.2f} s  "
        f"peak {b.peak_pss_mb:,.0f} MB PSS"
    )
    print(
        f"spark {args.master:<13} {best:7.2f} s  (runs {', '.join(f'{r:.2f}' for r in runs)} s; "
        f"session start {session:.1f} s; Arrow batches of {args.batch_rows:,} rows)"
    )
    print(f"ratio spark/batch   {best / b.seconds:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
