"""Benchmark of `pctrules batch` against the floor script, on cases over the real register.

Generates N cases (benchmarks/generate_cases.py) unless the file exists, imports the ODS epcmem
register once, then runs, alternately and `--repeat` times each, the floor (benchmarks/floor.py),
`pctrules batch --decision responsible_pct` and, with `--duckdb`, the same job as one DuckDB
query (benchmarks/duckdb_join.py), each as its own process, and prints for each the wall time,
the CPU time of the whole process tree, cases per second, the ratio to the floor (best run of
each), the peak memory of the process tree, and whether every output row agrees with the
floor's (an independent reading of ODS epcmem).

    python benchmarks/bench_batch.py --rows 1000000
    python benchmarks/bench_batch.py --rows 10000000 --repeat 1 --duckdb
    python benchmarks/bench_batch.py --rows 10000000 --repeat 1 --skip-floor
    python benchmarks/bench_batch.py --rows 1000000 --differential   # fast path = per case

With `--baseline DIR`, a second `pctrules batch` runs from another source tree (DIR on
PYTHONPATH, e.g. main's, exported with `git archive main | tar -x -C DIR`), alternately with the
others on the same input, and its output is compared byte for byte with this tree's:

    python benchmarks/bench_batch.py --rows 2000000 --repeat 1 --duckdb --baseline /tmp/main

With `--all-decisions`, the cases are hospital episodes (`generate_cases.py --activity`: services,
settings, emergencies) and `pctrules batch` decides every decision of the default bundle, the
commissioner and the lead PCT included. The floor (and DuckDB) still decide only the responsible
PCT, on the same file: the ratio says what every decision costs against that one lookup, and
no output is compared (hold the run to the per-case evaluator with `--differential`).

    python benchmarks/bench_batch.py --rows 1000000 --all-decisions --differential
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO.parent / "shared" / "data" / "england"


@dataclass
class Run:
    seconds: float
    cpu_seconds: float  # user + system time of the process and every descendant it waited for
    peak_rss_mb: float  # sum of the resident sets of the process and its children (sampled)
    peak_pss_mb: float  # the same, shared pages divided among their sharers (sampled)
    exit_code: int


def _tree(pid: int) -> list[int]:
    """The process and its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, ()))
    return out


def _memory(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) in kB summed over the processes."""
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup", encoding="ascii") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


# Installed packages carry their bytecode; a source checkout run with PYTHONDONTWRITEBYTECODE
# (set on some machines) would compile every module on every run, which no user pays.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Run:
    """Run `cmd`, sampling the memory of its process tree every 100 ms."""
    peak = [0, 0]
    with log.open("w") as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT, env=env or _ENV)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                rss, pss = _memory(_tree(proc.pid))
                peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        done.set()
        sampler.join()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(seconds, cpu, peak[0] / 1024, peak[1] / 1024, code)


def report(name: str, runs: list[Run], rows: int, floor: Run | None) -> Run:
    """One line per tool: its best run, its CPU time, its peak memory and its ratio to the
    floor's best run."""
    b = min(runs, key=lambda r: r.seconds)
    ratio = f"  ratio {b.seconds / floor.seconds:5.2f}" if floor is not None else ""
    print(
        f"{name:<19} {b.seconds:7.2f} s  cpu {b.cpu_seconds:7.2f} s  "
        f"{rows / b.seconds:>11,.0f} cases/s  peak {max(r.peak_pss_mb for r in runs):,.0f} MB "
        f"PSS ({max(r.peak_rss_mb for r in runs):,.0f} MB RSS){ratio}"
    )
    print(f"  runs              {', '.join(f'{r.seconds:.2f}' for r in runs)} s")
    return b


def _rows(cases: Path) -> int:
    """The cases in a CSV (lines after the header), JSONL or Parquet file (with `--skip-floor`:
    the floor and DuckDB read CSV only)."""
    if cases.suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(cases).metadata.num_rows)
    lines = sum(1 for _ in cases.open("rb"))
    return lines if cases.suffix == ".jsonl" else lines - 1


def generated_cases(path: Path, rows: int, data: Path, activity: bool = False) -> Path:
    """`path`, generated by generate_cases.py unless it is there already (kept between runs):
    `rows` cases over the register in `data`, hospital episodes with `activity`."""
    if not path.exists():
        print(
            f"generating {rows:,} {'episodes' if activity else 'cases'} into {path} …",
            file=sys.stderr,
        )
        command = [
            sys.executable,
            str(HERE / "generate_cases.py"),
            str(rows),
            "--output",
            str(path),
            "--data",
            str(data),
        ]
        subprocess.run([*command, *(["--activity"] if activity else [])], check=True)
    return path


def imported_register(work: Path, data: Path) -> Path:
    """The ODS register in `data` imported into a data folder under `work` (idempotent)."""
    register = work / "pctrules-bench-register"
    command = [
        sys.executable,
        "-m",
        "pctrules",
        "import",
        "ods-epcmem",
        str(data / "ods_epcmem_2019-08-30.csv"),
        "--into",
        str(register),
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return register


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument(
        "--cases",
        type=Path,
        default=None,
        help="case file (default: <tmp>/pctrules-bench-cases-<rows>.csv, or "
        "…-episodes-… with --all-decisions; made if missing)",
    )
    p.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="folder for the register, the case file and the outputs",
    )
    p.add_argument("--data", type=Path, default=DATA, help=f"official data ({DATA})")
    p.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--skip-floor", action="store_true", help="time pctrules batch alone")
    p.add_argument(
        "--duckdb",
        action="store_true",
        help="also run the same job as a DuckDB dated join (duckdb_join.py)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="build the graph on every run (PCTRULES_CACHE_DIR empty), as a first run does",
    )
    p.add_argument(
        "--differential",
        action="store_true",
        help="also run the per-case evaluator and compare its output byte for byte",
    )
    p.add_argument(
        "--all-decisions",
        action="store_true",
        help="hospital episodes through every decision (no floor: it decides one)",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="also run pctrules batch from this source tree (on PYTHONPATH), and "
        "compare the two outputs",
    )
    args = p.parse_args(argv)

    if args.no_cache:
        _ENV["PCTRULES_CACHE_DIR"] = ""
    work: Path = args.work
    kind = "episodes" if args.all_decisions else "cases"
    cases = args.cases or work / f"pctrules-bench-{kind}-{args.rows}.csv"
    generated_cases(cases, args.rows, args.data, args.all_decisions)
    register = imported_register(work, args.data)
    for tree in [REPO, *([args.baseline] if args.baseline else [])]:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(tree / "pctrules")], check=True, env=_ENV
        )
    rows = _rows(cases)
    floor_out, batch_out = work / "pctrules-bench-floor.csv", work / "pctrules-bench-batch.csv"
    floor_cmd = [
        sys.executable,
        str(HERE / "floor.py"),
        str(cases),
        "--output",
        str(floor_out),
        "--data",
        str(args.data),
    ]
    batch_cmd = [
        sys.executable,
        "-m",
        "pctrules",
        "batch",
        str(cases),
        "--output",
        str(batch_out),
        "--data",
        str(register),
        *([] if args.all_decisions else ["--decision", "responsible_pct"]),
    ]
    if args.workers:
        batch_cmd += ["--workers", str(args.workers)]
    duck_out = work / "pctrules-bench-duckdb.csv"
    duck_cmd = [
        sys.executable,
        str(HERE / "duckdb_join.py"),
        str(cases),
        "--output",
        str(duck_out),
        "--data",
        str(args.data),
    ]
    base_out = work / "pctrules-bench-baseline.csv"
    base_cmd = [*batch_cmd[:6], str(base_out), *batch_cmd[7:]]
    # PYTHONSAFEPATH: `python -m` would otherwise put the working folder (this tree, when run
    # from it) before PYTHONPATH.
    base_env = (
        {**_ENV, "PYTHONPATH": str(args.baseline), "PYTHONSAFEPATH": "1"} if args.baseline else _ENV
    )
    floors: list[Run] = []
    batches: list[Run] = []
    bases: list[Run] = []
    ducks: list[Run] = []
    for _ in range(args.repeat):
        if not args.skip_floor:
            floors.append(measure(floor_cmd, work / "pctrules-bench-floor.log"))
        batches.append(measure(batch_cmd, work / "pctrules-bench-batch.log"))
        if batches[-1].exit_code != 0:
            print((work / "pctrules-bench-batch.log").read_text(), file=sys.stderr)
            return 1
        if args.baseline:
            bases.append(measure(base_cmd, work / "pctrules-bench-baseline.log", base_env))
        if args.duckdb:
            ducks.append(measure(duck_cmd, work / "pctrules-bench-duckdb.log"))
    print(
        f"rows                {rows:,}"
        + (
            "  (every decision by pctrules batch; the floor and DuckDB decide responsible_pct)"
            if args.all_decisions
            else ""
        )
    )
    f = report("floor (floor.py)", floors, rows, None) if floors else None
    report("pctrules batch", batches, rows, f)
    print(f"  reconciliation    {(work / 'pctrules-bench-batch.log').read_text().strip()}")
    if bases:
        report("batch (baseline)", bases, rows, f)
        same = filecmp.cmp(batch_out, base_out, shallow=False)
        print(
            f"  baseline output   {'identical to' if same else 'DIFFERS from'} this tree's "
            f"({args.baseline})"
        )
        if not same:
            return 1
    if ducks:
        report("DuckDB dated join", ducks, rows, f)
    if f is not None and not args.all_decisions:
        outputs = [("pctrules batch", batch_out)] + ([("DuckDB", duck_out)] if ducks else [])
        for name, out in outputs:
            same = filecmp.cmp(floor_out, out, shallow=False)
            verdict = "every row agrees with" if same else "DIFFERS from"
            print(f"agreement           {name}: {verdict} the floor's reading of ODS epcmem")
            if not same:
                return 1
    if args.differential:
        slow_out = work / "pctrules-bench-percase.csv"
        s = measure(
            [*batch_cmd[:6], str(slow_out), *batch_cmd[7:], "--per-case"],
            work / "pctrules-bench-percase.log",
        )
        same = filecmp.cmp(slow_out, batch_out, shallow=False)
        print(
            f"per-case evaluator  {s.seconds:7.2f} s  {rows / s.seconds:>12,.0f} cases/s; "
            f"output {'identical to' if same else 'DIFFERS from'} the fast path's"
        )
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
