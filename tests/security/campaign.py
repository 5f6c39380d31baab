"""Run the hostile-input campaign and report it: how many inputs, and every bad run, grouped.

    python tests/security/campaign.py --examples 100000 [--workers 2] [--log campaign.jsonl]

The inputs are the properties of tests/security/test_campaign.py (case files, batch files,
bundles, data folders, official files), each run for examples / 5 inputs through the real CLI.
A bad run (an internal error: exit 1, a traceback, an exception escaping a command; or an exit
code the command does not document) is logged with its input and output, and the campaign goes
on. Exits 0 when there was none. See docs/security.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROPERTIES = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100_000, help="inputs in all")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers")
    parser.add_argument("--log", type=Path, default=None, help="where bad runs are written")
    args = parser.parse_args(argv)
    log = args.log or Path(tempfile.mkstemp(prefix="pctrules-campaign-", suffix=".jsonl")[1])
    log.write_text("", encoding="utf-8")
    each = math.ceil(args.examples / PROPERTIES)
    env = {
        **os.environ,
        "PCTRULES_CAMPAIGN_LOG": str(log.resolve()),
        "PCTRULES_CAMPAIGN_EXAMPLES": str(each),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/security/test_campaign.py",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    if args.workers > 1:
        command += ["-n", str(args.workers)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, check=False)
    elapsed = time.perf_counter() - started
    counts: Counter[str] = Counter()
    problems: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for line in log.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "counts" in record:
            counts.update(record["counts"])
        else:
            known = f" [known: {record['known']}]" if record.get("known") else ""
            problems[(str(record["category"]), _signature(str(record["problem"])) + known)].append(
                record
            )
    total = sum(counts.values())
    print(
        f"\ncampaign: {total:,} inputs in {elapsed / 60:.1f} min "
        f"({', '.join(f'{n:,} {c}s' for c, n in sorted(counts.items()))})"
    )
    bad = sum(len(v) for v in problems.values())
    print(f"bad runs: {bad:,} ({len(problems)} kinds); log: {log}")
    for (category, signature), records in sorted(problems.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(records):>6,}  {category}: {signature}")
        print(f"          e.g. {str(records[0]['input'])[:160]}")
    if done.returncode not in (0, 1) or total < args.examples:
        print(f"the campaign did not run in full (pytest exit {done.returncode})")
        return 2
    return 0 if bad == 0 else 1


def _signature(problem: str) -> str:
    """A problem without what varies between inputs (positions, quoted values)."""
    text = re.sub(r"'[^']*'", "'…'", problem)
    return re.sub(r"\d+", "N", text)[:160]


if __name__ == "__main__":
    sys.exit(main())
