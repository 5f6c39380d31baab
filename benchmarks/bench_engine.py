"""Benchmark of the evaluator: decisions per second through the in-process API, on one core.

Cases are drawn over the real practice register (ODS epcmem, imported into a temporary data
folder) by benchmarks/generate_cases.py's sampler and validated once, up front; the timed loops
call `Engine.evaluate` only. Figures: untraced `responsible_pct`, untraced all decisions, traced
`responsible_pct` and traced all decisions; the plain dict-lookup floor loop for scale.

    python benchmarks/bench_engine.py               # 200,000 cases (traced: 20,000)
    python benchmarks/bench_engine.py --profile     # also a cProfile of the untraced loop
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from generate_cases import COVERS, DATA, EPCMEM, areas, memberships  # noqa: E402

from pctrules.bundle import open_bundle  # noqa: E402
from pctrules.evaluation.engine import Case, Engine  # noqa: E402
from pctrules.graph.importers.registry import run_import  # noqa: E402


def raw_cases(n: int, seed: int) -> list[dict[str, object]]:
    """The generator's mix: ~90% registered (a fifth with a residence elsewhere), ~10% not."""
    rng = random.Random(seed)
    members = memberships(DATA / EPCMEM)
    covered = areas(COVERS)
    out: list[dict[str, object]] = []
    for i in range(1, n + 1):
        if rng.random() < 0.1:
            area, start, end = rng.choice(covered)
            person: dict[str, object] = {"residence": area}
        else:
            practice, start, end = rng.choice(members)
            person = {"practice": practice}
            if rng.random() < 0.2:
                person["residence"] = rng.choice(covered)[0]
        out.append(
            {
                "id": f"c{i:08d}",
                "date": dt.date.fromordinal(rng.randint(start, end)),
                "person": person,
            }
        )
    return out


def rate(
    label: str, n_decisions: int, fn: Callable[[], object], repeat: int = 3
) -> tuple[str, float, float, float]:
    """The best of `repeat` runs: the machine is shared, and the best run is the least disturbed.
    Decisions per second of wall time and of this process's CPU time (what other work on the
    machine disturbs least)."""
    best = best_cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return label, n_decisions / best, best, n_decisions / best_cpu


def floor_loop(cases: list[Case], engine: Engine) -> Callable[[], object]:
    """For scale: the registered-practice lookup alone, as a plain loop over the same index."""
    one = engine.graph.index("practice", "pct").one

    def run() -> object:
        out = None
        for c in cases:
            out = one(c.fields["person.practice"], c.date)  # type: ignore[arg-type]
        return out

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=200_000, help="cases for the untraced loops")
    p.add_argument("--traced", type=int, default=20_000, help="cases for the traced loops")
    p.add_argument("--seed", type=int, default=2011)
    p.add_argument("--profile", action="store_true", help="cProfile the untraced loop")
    args = p.parse_args(argv)
    if not (DATA / EPCMEM).exists():
        print(f"error: '{DATA / EPCMEM}' does not exist", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pctrules-bench-") as tmp:
        data = Path(tmp) / "data"
        run_import("ods-epcmem", DATA / EPCMEM, data)
        t0 = time.perf_counter()
        engine = Engine(open_bundle(REPO / "policies" / "england", data))
        setup = time.perf_counter() - t0
    raw = raw_cases(args.n, args.seed)
    t0 = time.perf_counter()
    cases = [engine.validate_case(r, i) for i, r in enumerate(raw, 1)]
    validate = time.perf_counter() - t0
    traced_cases = cases[: args.traced]
    n_all = len(engine.compiled.decisions)
    evaluate = engine.evaluate
    only = ["responsible_pct"]

    def untraced_one() -> None:
        for c in cases:
            evaluate(c, decisions=only)

    def untraced_all() -> None:
        for c in cases:
            evaluate(c)

    def traced_one() -> None:
        for c in traced_cases:
            evaluate(c, decisions=only, trace=True)

    def traced_all() -> None:
        for c in traced_cases:
            evaluate(c, trace=True)

    def to_json() -> None:
        for c in traced_cases:
            evaluate(c).to_json()

    untraced_one()  # warm the indexes' lazy parts and the plan cache
    rows = [
        rate("responsible_pct, untraced", len(cases), untraced_one),
        rate(f"all {n_all} decisions, untraced", len(cases) * n_all, untraced_all),
        rate("responsible_pct, traced", len(traced_cases), traced_one),
        rate(f"all {n_all} decisions, traced", len(traced_cases) * n_all, traced_all),
        rate(f"all {n_all} decisions + to_json()", len(traced_cases) * n_all, to_json),
        rate("floor: index lookup loop", len(cases), floor_loop(cases, engine)),
    ]
    print(
        f"setup (load, check, graph, compile, bind): {setup:.2f} s; "
        f"validate {len(cases):,} cases: {len(cases) / validate:,.0f} cases/s"
    )
    print(f"{'loop (best of 3)':<36} {'decisions/s':>14} {'seconds':>9} {'per CPU s':>12}")
    for label, per_second, seconds, per_cpu_second in rows:
        print(f"{label:<36} {per_second:>14,.0f} {seconds:>9.2f} {per_cpu_second:>12,.0f}")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(untraced_one)
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    sys.exit(main())
