"""Benchmark of the auditor's tools on the real register: replay, diff --exhaustive, analyze.

Imports the ODS epcmem register and the NHS BSA list sizes once, generates N hospital episodes
(benchmarks/generate_cases.py --activity) unless the file exists, then runs, each as its own
process and side by side in one run:

1. `pctrules batch` (every decision), `pctrules batch --audit`, and `pctrules replay` of that
   audit (which must report identical): wall and CPU seconds of each process tree, and the
   ratio replay / batch --audit (and replay / plain batch);
2. `pctrules replay --data` on a copy of the register with one row changed: how many records
   drift, against the cases that hold that practice (counted from the input);
3. `pctrules diff --exhaustive` of the default bundle against a copy with one rule edited, and
   `pctrules analyze`, over the whole register: seconds and situations.

    python benchmarks/bench_audit.py --rows 1000000
    python benchmarks/bench_audit.py --rows 100000 --repeat 1 --official DIR
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO.parent / "shared" / "data" / "england"


def _pctrules(*args: str) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, CPU seconds of the process tree, the result) of one pctrules command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pctrules", *args], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 7):
        sys.exit(f"pctrules {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return wall, cpu, done


def _line(label: str, wall: float, cpu: float) -> str:
    return f"  {label:<34} {wall:7.2f} s wall  {cpu:7.2f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "pctrules-bench-audit"
    )
    parser.add_argument(
        "--official",
        type=Path,
        default=DATA,
        help=f"the folder of official files (default: {DATA})",
    )
    opts = parser.parse_args()
    official = opts.official
    if not (official / "ods_epcmem_2019-08-30.csv").exists():
        sys.exit(f"the real register is not in {official}")
    work = opts.work
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    if not (data / "pctrules-data.json").exists():
        _pctrules(
            "import", "ods-epcmem", str(official / "ods_epcmem_2019-08-30.csv"), "--into", str(data)
        )
        _pctrules(
            "import",
            "nhsbsa-list-size",
            str(official / "nhsbsa_patient_list_size_2013-04_to_06.csv"),
            "--into",
            str(data),
        )
    cases = work / f"episodes-{opts.rows}.csv"
    if not cases.exists():
        subprocess.run(
            [
                sys.executable,
                str(HERE / "generate_cases.py"),
                str(opts.rows),
                "--activity",
                "--output",
                str(cases),
                "--data",
                str(official),
            ],
            check=True,
        )

    print(f"replay: {opts.rows:,} episodes, every decision, {data}")
    best: dict[str, tuple[float, float]] = {}
    for _ in range(opts.repeat):
        audit = work / "audit.jsonl"
        audit.unlink(missing_ok=True)
        for label, args in (
            ("batch", ("batch", str(cases), "-o", str(work / "out.csv"), "--data", str(data))),
            (
                "batch --audit",
                (
                    "batch",
                    str(cases),
                    "-o",
                    str(work / "out.csv"),
                    "--data",
                    str(data),
                    "--audit",
                    str(audit),
                ),
            ),
            ("replay", ("replay", str(audit), "--exit-code")),
        ):
            wall, cpu, done = _pctrules(*args)
            if label == "replay" and (done.returncode != 0 or "identical" not in done.stdout):
                sys.exit(f"replay did not report identical:\n{done.stdout}")
            if label not in best or wall < best[label][0]:
                best[label] = (wall, cpu)
    for label, (wall, cpu) in best.items():
        print(_line(label, wall, cpu))
    print(
        f"  replay / batch --audit: {best['replay'][0] / best['batch --audit'][0]:.2f} wall, "
        f"{best['replay'][1] / best['batch --audit'][1]:.2f} CPU; replay / batch: "
        f"{best['replay'][0] / best['batch'][0]:.2f} wall, "
        f"{best['replay'][1] / best['batch'][1]:.2f} CPU"
    )

    changed = work / "data-changed"
    shutil.rmtree(changed, ignore_errors=True)
    shutil.copytree(data, changed)
    (part_of,) = changed.glob("ods-epcmem.part_of.*.csv")  # named with its digest
    rows = part_of.read_text().splitlines()
    practice, old, new = "G84026", "5A7", "5A8"
    i = next(k for k, r in enumerate(rows) if r.startswith(f"{practice},{old},"))
    start, end = rows[i].split(",")[2:4]
    rows[i] = rows[i].replace(f"{practice},{old},", f"{practice},{new},", 1)
    part_of.write_text("\n".join(rows) + "\n")
    wall, cpu, done = _pctrules(
        "replay", str(work / "audit.jsonl"), "--data", str(changed), "--format", "json"
    )
    report = json.loads(done.stdout)
    drifted = report["runs"][0]["drifted"]
    expected = sum(
        1
        for line in cases.read_text().splitlines()[1:]
        if line.split(",")[2] == practice and start <= line.split(",")[1] <= end
    )
    named = [d for d in report["runs"][0]["differences"] if "part_of" in d]
    print(
        f"one register row changed ({practice} {old} → {new}, {start} to {end}): "
        f"{drifted:,} records drift, {expected:,} cases hold that practice on those dates; "
        f"named: {named}"
    )
    print(_line("replay, one row changed", wall, cpu))

    edited = work / "england-edited"
    shutil.rmtree(edited, ignore_errors=True)
    shutil.copytree(REPO / "policies" / "england", edited)
    path = edited / "commissioner.yaml"
    text = path.read_text()
    rule = "case.service.category == 'national'"
    assert rule in text
    path.write_text(text.replace(rule, f"{rule} and responsible_pct is not none", 1))
    print(f"exhaustive: the default bundle over {data}")
    for label, args in (
        (
            "diff --exhaustive (1 rule edited)",
            (
                "diff",
                str(REPO / "policies" / "england"),
                str(edited),
                "--exhaustive",
                "--data",
                str(data),
                "--format",
                "json",
            ),
        ),
        (
            "analyze",
            (
                "analyze",
                str(REPO / "policies" / "england"),
                "--data",
                str(data),
                "--format",
                "json",
            ),
        ),
    ):
        wall, cpu, done = _pctrules(*args)
        report = json.loads(done.stdout)
        if label == "analyze":
            count, what = report["situations"], f"{len(report['findings'])} findings"
        else:
            impact = report["impact"][0]
            count = impact["total"]
            moved = impact["total"] - impact["unchanged"]
            what = f"{len(impact['transitions'])} transitions, {moved:,} situations changed"
        print(_line(label, wall, cpu) + f"  {count:,} situations; {what}")


if __name__ == "__main__":
    main()
