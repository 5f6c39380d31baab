"""Benchmark: the start-up parts that the code defers or caches, side by side in one run.

Each in a new process, alternately, `--repeat` times, best and median wall time:
importing networkx (which the commands import only when they need the networkx graph), building
the expression parser's LALR tables from the grammar, and loading the same tables from the JSON
that pctrules keeps in its cache (language/parser.py).

    python benchmarks/bench_parts.py --repeat 15
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

SETUP = """
import json, time, lark
from lark.grammar import Rule
from lark.lexer import TerminalDef
from pctrules.language import parser as p
from pctrules.resources import grammar_path
text = grammar_path().read_text(encoding="utf-8")
"""
PARTS = {
    "import networkx": "import time\nt = time.perf_counter()\nimport networkx\n",
    "build the parser tables": SETUP + "t = time.perf_counter()\n"
    "lark.Lark(text, parser='lalr', propagate_positions=True, maybe_placeholders=True)\n",
    "load them from the cache's JSON": SETUP
    + "built = lark.Lark(text, parser='lalr', propagate_positions=True, maybe_placeholders=True)\n"
    "data, memo = built.memo_serialize([TerminalDef, Rule])\n"
    "kept = json.dumps(p._tag({'data': data, 'memo': memo}))\n"
    "t = time.perf_counter()\n"
    "lark.Lark.load(json.loads(kept, object_hook=p._untag))\n",
}


def once(code: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", code + "print(time.perf_counter() - t)\n"],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout)


def main(argv: list[str] | None = None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--repeat", type=int, default=15)
    args = a.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in PARTS}
    for _ in range(args.repeat):
        for name, code in PARTS.items():
            times[name].append(once(code))
    print("| part | best | median |\n|---|---:|---:|")
    for name, ts in times.items():
        print(f"| {name} | {min(ts) * 1000:.0f} ms | {statistics.median(ts) * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
