"""Benchmark of the columnar API (`pctrules.columns.Decider`) in one process, against the floor.

Streams the case file with pyarrow's CSV reader (empty cells absent, as in `pctrules batch`),
decides each batch with `Decider.decide_arrow`, writes the decisions with pyarrow's CSV
writer; the floor script (benchmarks/floor.py) runs beside it, alternately, each as its own
process. Prints wall and CPU time of each (the CPU time includes Arrow's reader threads),
the time spent deciding, and the peak memory.

    python benchmarks/bench_columns.py --rows 2000000 [--all-decisions]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO.parent / "shared" / "data" / "england"
sys.path.insert(0, str(HERE))

from bench_batch import generated_cases, imported_register, measure, report  # noqa: E402


def decide_file(cases: Path, output: Path, register: Path, decisions: list[str] | None) -> None:
    """The job itself (run in a child process by main)."""
    import pyarrow as pa
    import pyarrow.csv as csv

    from pctrules.columns import Decider

    decider = Decider.open(data=register, decisions=decisions)
    header = cases.open(encoding="utf-8").readline().strip().split(",")
    reader = csv.open_csv(
        cases,
        read_options=csv.ReadOptions(block_size=4 << 20),
        convert_options=csv.ConvertOptions(
            column_types={c: pa.string() for c in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    writer = None
    deciding = 0.0
    rows = 0
    for batch in reader:
        started = time.process_time()
        out = decider.decide_arrow(batch, first_row=rows).drop_columns(["warnings"])
        deciding += time.process_time() - started
        if writer is None:
            writer = csv.CSVWriter(output, out.schema)
        writer.write_batch(out)
        rows += batch.num_rows
    if writer is not None:
        writer.close()
    print(json.dumps({"rows": rows, "deciding_cpu": round(deciding, 2)}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()))
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--all-decisions", action="store_true")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    decisions = None if args.all_decisions else ["responsible_pct"]
    if args.child:
        decide_file(Path(args.child[0]), Path(args.child[1]), Path(args.child[2]), decisions)
        return 0
    work: Path = args.work
    kind = "episodes" if args.all_decisions else "cases"
    cases = work / f"pctrules-bench-{kind}-{args.rows}.csv"
    generated_cases(cases, args.rows, args.data, args.all_decisions)
    register = imported_register(work, args.data)
    floor_cmd = [
        sys.executable,
        str(HERE / "floor.py"),
        str(cases),
        "--output",
        str(work / "pctrules-bench-floor.csv"),
        "--data",
        str(args.data),
    ]
    cols_cmd = [
        sys.executable,
        __file__,
        "--child",
        str(cases),
        str(work / "pctrules-bench-columns.csv"),
        str(register),
        *(["--all-decisions"] if args.all_decisions else []),
    ]
    floors, cols = [], []
    for _ in range(args.repeat):
        floors.append(measure(floor_cmd, work / "pctrules-bench-floor.log"))
        cols.append(measure(cols_cmd, work / "pctrules-bench-columns.log"))
    print(f"rows                {args.rows:,}")
    f = report("floor (floor.py)", floors, args.rows, None)
    report("columns, 1 process", cols, args.rows, f)
    print(f"  deciding          {(work / 'pctrules-bench-columns.log').read_text().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
