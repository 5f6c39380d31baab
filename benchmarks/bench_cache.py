"""How much sooner a command starts with the cache: `pctrules evaluate` on one case, with the
real practice register, the cache off, cold (empty) and warm (filled), run alternately.

    python benchmarks/bench_cache.py                       # 7 rounds
    python benchmarks/bench_cache.py --compare ../main     # the same for another checkout too

Each run is a process of its own (as a user's command is); the figures are the median and the
range of wall time over the rounds. Reads the register from ../shared/data/england/.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EPCMEM = REPO.parent / "shared" / "data" / "england" / "ods_epcmem_2019-08-30.csv"
CASE = REPO / "examples" / "precedence-unregistered-resident.yaml"


def _run(code: Path, cache: str, data: Path) -> float:
    env = {**os.environ, "PCTRULES_CACHE_DIR": cache, "PYTHONPATH": str(code)}
    env.pop("PCTRULES_DATA", None)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pctrules", "evaluate", str(CASE), "--data", str(data)],
        env=env,
        capture_output=True,
        check=False,
        cwd=code,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"pctrules failed ({code}): {done.stderr.decode()[-500:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--epcmem", type=Path, default=EPCMEM, help="the official ODS file")
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        help="another checkout of pctrules to time alike",
    )
    args = parser.parse_args(argv)
    if not args.epcmem.exists():
        print(f"the official register is not at {args.epcmem}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="pctrules-bench-cache-"))
    try:
        data = work / "data"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pctrules",
                "import",
                "ods-epcmem",
                str(args.epcmem),
                "--into",
                str(data),
            ],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=True,
            capture_output=True,
        )
        codes = [REPO, *(c.resolve() for c in args.compare)]
        for code in codes:
            compileall.compile_dir(code / "pctrules", quiet=1)
        times: dict[tuple[str, str], list[float]] = {}
        for round_ in range(args.repeat):
            for n, code in enumerate(codes):
                warm = work / f"warm-{n}"
                if round_ == 0:
                    _run(code, str(warm), data)  # fills it
                cold = work / f"cold-{n}-{round_}"
                for label, cache in (("off", ""), ("cold", str(cold)), ("warm", str(warm))):
                    times.setdefault((str(code), label), []).append(_run(code, cache, data))
        print(
            f"pctrules evaluate, one case, with the register ({args.repeat} rounds; median, range):"
        )
        for (code, label), values in times.items():
            print(
                f"  {code:<40} cache {label:<5} {statistics.median(values):6.3f} s  "
                f"({min(values):.3f}–{max(values):.3f})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
