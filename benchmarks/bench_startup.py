"""Benchmark: how long `pctrules --version` takes, this checkout against another, side by side.

Runs `python -P -c <the entry point>` with each checkout alone at the head of the path, alternately,
`--repeat` times each, and prints the best and the median wall time of each (a new process
each time, bytecode already compiled, as an installed package has it).

    python benchmarks/bench_startup.py --baseline /path/to/other/checkout --repeat 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENTRY = "import sys; sys.argv = ['pctrules', *sys.argv[1:]]; from pctrules.cli import main; main()"


def once(checkout: Path, args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-P", "-c", ENTRY, *args],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**env, "PYTHONPATH": str(checkout)},
    )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", type=Path, help="another checkout to compare with")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("args", nargs="*", default=["--version"], help="(default: --version)")
    a = p.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    checkouts = {"this checkout": REPO} | ({"baseline": a.baseline} if a.baseline else {})
    for c in checkouts.values():
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(c / "pctrules")], check=True, env=env
        )
    times: dict[str, list[float]] = {name: [] for name in checkouts}
    for _ in range(a.repeat):
        for name, c in checkouts.items():
            times[name].append(once(c, a.args, env))
    for name, t in times.items():
        print(
            f"{name:<14} pctrules {' '.join(a.args)}: best {min(t):.3f} s, "
            f"median {statistics.median(t):.3f} s ({a.repeat} runs, {checkouts[name]})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
