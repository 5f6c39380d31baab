"""The grouped fast path of `pctrules batch` (groups.py) against the per-case evaluator, on a
small bundle whose rules change on days its data does not."""

from __future__ import annotations

import csv
from pathlib import Path

from pctrules.batch.io import parse_csv
from pctrules.batch.run import BatchOptions, BatchSummary, ChunkEvaluator, prepare, run_batch
from pctrules.evaluation.engine import Engine
from pctrules.evaluation.groups import GroupedDecision

from .conftest import MakeBundle

# Collect (not by columns): one rule starts on a day nothing in the data changes, one reads an
# attribute across practice P1's move from A (100) to B (300) on 2008-04-01.
COLLECT = """\
decision: labels
hit: collect
rules:
  - id: late
    effective: {from: 2005-01-01}
    then: "'late'"
  - id: big
    when: case.practice.pct.population is not none and case.practice.pct.population > 200
    then: "'big'"
  - id: its-pct
    when: case.practice.pct is not none
    then: code(case.practice.pct)
"""
# A decision per subject, reading the one above and a case field.
LEAD = """\
decision: lead
output: pct?
for: "g in case.practice.pct.groups"
rules:
  - id: late-and-many
    when: "'late' in labels and case.n > 1"
    then: max_by(g.members, population)
  - id: any-member
    when: "count(g.members) > 0"
    then: "only([m in g.members: m == case.practice.pct])"
"""
# By columns, reading the case's own id and date.
ECHO = """\
decision: echo
rules:
  - id: late-id
    when: case.date >= 2008-04-01
    then: case.id
"""
# Reading a `for:` decision's value: a mapping, which cannot be a dictionary key.
AFTER_LEAD = """\
decision: led
rules:
  - id: has-lead
    when: lead is not none and case.n is not none
    then: "'led'"
"""
DAYS = [
    "2004-12-31",
    "2005-01-01",
    "2008-03-31",
    "2008-04-01",
    "2009-12-31",
    "2010-01-01",
    "2010-03-31",
    "2010-04-01",
    "bad",
]


def _batch(engine: Engine, src: Path, out: Path, fast: bool) -> BatchSummary:
    opts = BatchOptions(input=src, output=out, workers=1, fast=fast)
    return run_batch(opts, None, prepare(opts, engine))


def test_groups_tell_apart_the_days_either_side_of_every_change(
    tiny: MakeBundle, tmp_path: Path
) -> None:
    engine = tiny(
        {"labels.yaml": COLLECT, "lead.yaml": LEAD, "echo.yaml": ECHO, "led.yaml": AFTER_LEAD}
    )
    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "date", "practice", "n"])
        for i, (day, practice, n) in enumerate(
            (d, p, n) for d in DAYS for p in ("P1", "P2", "P3", "", "NOPE") for n in ("", "2")
        ):
            w.writerow([f"c{i}", day, practice, n])
    fast, slow = tmp_path / "fast.csv", tmp_path / "slow.csv"
    s_fast = _batch(engine, src, fast, fast=True)
    s_slow = _batch(engine, src, slow, fast=False)
    assert fast.read_text(encoding="utf-8") == slow.read_text(encoding="utf-8")
    assert s_fast.note is None and s_fast.fast_rows == s_fast.decided > 0
    assert s_slow.fast_rows == 0
    with fast.open(newline="", encoding="utf-8") as f:
        got = {r["id"]: r for r in csv.DictReader(f)}
    # The rows either side of each change differ, so one result per group would be wrong.
    labels = {k: r["labels"] for k, r in got.items()}
    # c0, c10, …: P1 with no n on each day of DAYS in turn; +2: P2 with n = 2; +4: P3.
    assert (labels["c0"], labels["c10"]) == ("A", "late A")  # a rule's first day
    assert (labels["c20"], labels["c30"]) == ("late A", "late big B")  # P1 moves to B
    assert (labels["c44"], labels["c54"]) == ("late D", "late")  # P3 closes
    assert (got["c3"]["lead"], got["c13"]["lead"]) == ('{"G2": "C"}', '{"G2": "B"}')
    assert (got["c2"]["led"], got["c3"]["led"]) == ("", "led")
    # The id is read where a rule asks for it (the columns once gave none).
    assert (got["c20"]["echo"], got["c30"]["echo"]) == ("", "c30")


def test_groups_whose_ids_outgrow_their_key_are_still_right(
    tiny: MakeBundle, tmp_path: Path
) -> None:
    # With one bit per input's ids, a chunk's values outgrow the packed key: the decision starts
    # over, then groups the chunk without remembering it. The output must not change.
    engine = tiny(
        {"labels.yaml": COLLECT, "lead.yaml": LEAD, "echo.yaml": ECHO, "led.yaml": AFTER_LEAD}
    )
    header = ("id", "date", "practice", "n")
    text = (
        ",".join(header)
        + "\n"
        + "".join(
            f"c{i},{d},{p},{n}\n"
            for i, (d, p, n) in enumerate(
                (d, p, n) for d in DAYS for p in ("P1", "P2", "P3", "") for n in ("", "2", "3")
            )
        )
    )
    outputs = []
    for fast, bits in ((True, None), (True, 1), (False, None)):
        evaluator = ChunkEvaluator(
            engine, [d.name for d in engine.compiled.decisions], None, "csv", None, fast, True
        )
        grouped = [d for d in (evaluator.plan or []) if isinstance(d, GroupedDecision)]
        assert len(grouped) == (2 if fast else 0)  # labels (collect), lead (for:)
        for d in grouped:
            d.bits = bits or d.bits
        for _ in range(2):  # a second chunk meets what the first remembered
            data = evaluator.run(parse_csv(text.encode(), None, False, header), 0).data
        outputs.append(data)
    assert outputs[0] == outputs[1] == outputs[2]
