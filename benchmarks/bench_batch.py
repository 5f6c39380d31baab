"""Benchmark of `pctrules batch` against the floor script, on cases over the real register.

Generates N cases (benchmarks/generate_cases.py) unless the file exists, imports the ODS epcmem
register once, then runs, alternately and `--repeat` times each, the floor (benchmarks/floor.py)
and `pctrules batch --decision responsible_pct`, each as its own process, and prints cases per
second, the ratio batch / floor (best run of each), the peak memory of the whole process tree,
and whether every output row agrees with the floor's (an independent reading of ODS epcmem).

    python benchmarks/bench_batch.py --rows 1000000
    python benchmarks/bench_batch.py --rows 10000000 --repeat 1 --skip-floor
    python benchmarks/bench_batch.py --rows 1000000 --differential   # fast path = per case

With `--all-decisions`, the cases are hospital episodes (`generate_cases.py --activity`: services,
settings, emergencies) and `pctrules batch` decides every decision of the default bundle, the
commissioner and the lead PCT included; the floor decides only the responsible PCT, so it is not
run: compare with the per-case evaluator through `--differential` instead.

    python benchmarks/bench_batch.py --rows 1000000 --all-decisions --differential
"""

from __future__ import annotations

import argparse
import filecmp
import os
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
    peak_rss_mb: float   # sum of the resident sets of the process and its children (sampled)
    peak_pss_mb: float   # the same, shared pages divided among their sharers (sampled)
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


def measure(cmd: list[str], log: Path) -> Run:
    """Run `cmd`, sampling the memory of its process tree every 100 ms."""
    peak = [0, 0]
    with log.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT, env=_ENV)
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
        done.set()
        sampler.join()
    return Run(seconds, peak[0] / 1024, peak[1] / 1024, code)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--cases", type=Path, default=None,
                   help="case file (default: <tmp>/pctrules-bench-cases-<rows>.csv, or "
                        "…-episodes-… with --all-decisions; made if missing)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()),
                   help="folder for the register, the case file and the outputs")
    p.add_argument("--data", type=Path, default=DATA, help=f"official data ({DATA})")
    p.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--skip-floor", action="store_true", help="time pctrules batch alone")
    p.add_argument("--no-cache", action="store_true",
                   help="build the graph on every run (PCTRULES_CACHE_DIR empty), as a first "
                        "run does")
    p.add_argument("--differential", action="store_true",
                   help="also run the per-case evaluator and compare its output byte for byte")
    p.add_argument("--all-decisions", action="store_true",
                   help="hospital episodes through every decision (no floor: it decides one)")
    args = p.parse_args(argv)
    if args.all_decisions:
        args.skip_floor = True

    if args.no_cache:
        _ENV["PCTRULES_CACHE_DIR"] = ""
    work: Path = args.work
    kind = "episodes" if args.all_decisions else "cases"
    cases = args.cases or work / f"pctrules-bench-{kind}-{args.rows}.csv"
    if not cases.exists():
        print(f"generating {args.rows:,} {kind} into {cases} …", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "generate_cases.py"), str(args.rows),
                        "--output", str(cases), "--data", str(args.data),
                        *(["--activity"] if args.all_decisions else [])], check=True)
    register = work / "pctrules-bench-register"
    subprocess.run([sys.executable, "-m", "pctrules", "import", "ods-epcmem",
                    str(args.data / "ods_epcmem_2019-08-30.csv"), "--into", str(register)],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "pctrules")],
                   check=True, env=_ENV)
    rows = sum(1 for _ in cases.open("rb")) - 1
    floor_out, batch_out = work / "pctrules-bench-floor.csv", work / "pctrules-bench-batch.csv"
    floor_cmd = [sys.executable, str(HERE / "floor.py"), str(cases), "--output", str(floor_out),
                 "--data", str(args.data)]
    batch_cmd = [sys.executable, "-m", "pctrules", "batch", str(cases), "--output",
                 str(batch_out), "--data", str(register),
                 *([] if args.all_decisions else ["--decision", "responsible_pct"])]
    if args.workers:
        batch_cmd += ["--workers", str(args.workers)]
    floors: list[Run] = []
    batches: list[Run] = []
    for _ in range(args.repeat):
        if not args.skip_floor:
            floors.append(measure(floor_cmd, work / "pctrules-bench-floor.log"))
        batches.append(measure(batch_cmd, work / "pctrules-bench-batch.log"))
        if batches[-1].exit_code != 0:
            print((work / "pctrules-bench-batch.log").read_text(), file=sys.stderr)
            return 1
    b = min(batches, key=lambda r: r.seconds)
    print(f"rows                {rows:,}")
    print(f"pctrules batch      {b.seconds:7.2f} s  {rows / b.seconds:>12,.0f} cases/s  "
          f"peak memory {max(r.peak_pss_mb for r in batches):,.0f} MB PSS "
          f"({max(r.peak_rss_mb for r in batches):,.0f} MB RSS summed over processes)")
    print(f"  runs              {', '.join(f'{r.seconds:.2f}' for r in batches)} s")
    print(f"  reconciliation    {(work / 'pctrules-bench-batch.log').read_text().strip()}")
    if floors:
        f = min(floors, key=lambda r: r.seconds)
        print(f"floor (floor.py)    {f.seconds:7.2f} s  {rows / f.seconds:>12,.0f} cases/s  "
              f"peak memory {max(r.peak_rss_mb for r in floors):,.0f} MB")
        print(f"  runs              {', '.join(f'{r.seconds:.2f}' for r in floors)} s")
        print(f"ratio batch/floor   {b.seconds / f.seconds:7.2f}")
        same = filecmp.cmp(floor_out, batch_out, shallow=False)
        print(f"agreement           {'every row agrees with' if same else 'DIFFERS from'} the "
              "floor's reading of ODS epcmem")
        if not same:
            return 1
    if args.differential:
        slow_out = work / "pctrules-bench-percase.csv"
        s = measure([*batch_cmd[:6], str(slow_out), *batch_cmd[7:], "--per-case"],
                    work / "pctrules-bench-percase.log")
        same = filecmp.cmp(slow_out, batch_out, shallow=False)
        print(f"per-case evaluator  {s.seconds:7.2f} s  {rows / s.seconds:>12,.0f} cases/s; "
              f"output {'identical to' if same else 'DIFFERS from'} the fast path's")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
