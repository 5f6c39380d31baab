"""An Engine survives a cloudpickle round trip (Spark, Dask and Ray ship it to workers so): the
same answers, untraced and traced, in this process and in another one. A checked bundle does
too on its own: the checker's tables are keyed by each node's own number, which a copy keeps
(they were keyed by id(node), which it does not)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import cloudpickle
import pytest

from pctrules.bundle import open_bundle
from pctrules.evaluation.engine import Engine
from pctrules.evaluation.interpret import TracedEvaluator
from pctrules.evaluation.runtime import EvalContext
from pctrules.language import ast

REPO = Path(__file__).resolve().parents[2]
CASES = [
    {"id": "a", "date": "2011-09-01", "person": {"practice": "P84005"}},
    {"id": "b", "date": "2011-09-01", "person": {"residence": "E16000141"}, "service": "SSNDS-1"},
    {
        "id": "c",
        "date": "2009-02-02",
        "person": {"practice": "E82001", "present_in": "E16000141"},
        "setting": "emergency",
    },
]


@pytest.fixture(scope="module")
def engine(register: Path) -> Engine:
    return Engine(open_bundle(REPO / "policies" / "england", register))


def _answers(e: Engine) -> list[object]:
    """Each decision's value, rule and outcome, and its rules' outcomes when traced (digests
    and file names in traces name the folder the bundle was read from)."""
    out: list[object] = []
    for c in CASES:
        for trace in (False, True):
            for name, r in e.evaluate(c, trace=trace).decisions.items():
                rules = [o.outcome for o in r.trace.rules] if r.trace is not None else None
                out.append(
                    [
                        c["id"],
                        name,
                        json.dumps(r.value, default=str, sort_keys=True),
                        r.rule,
                        r.outcome,
                        rules,
                    ]
                )
    return out


def test_a_cloudpickled_engine_gives_the_same_answers(engine: Engine) -> None:
    copy = cloudpickle.loads(cloudpickle.dumps(engine))
    assert _answers(copy) == _answers(engine)


def test_a_cloudpickled_engine_works_in_another_process(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "engine.pkl").write_bytes(cloudpickle.dumps(engine))
    script = (
        "import cloudpickle, json, sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from tests.engine.test_pickling import _answers\n"
        f"e = cloudpickle.loads(open({str(tmp_path / 'engine.pkl')!r}, 'rb').read())\n"
        "print(json.dumps(_answers(e)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=REPO,
    )
    assert json.loads(out.stdout) == json.loads(json.dumps(_answers(engine)))


def test_a_checked_bundle_keeps_its_tables_through_a_copy(engine: Engine) -> None:
    checked = cloudpickle.loads(cloudpickle.dumps(engine.checked))
    for d in checked.decisions:
        for rule in d.rules:
            for node in ast.walk(rule.when) if rule.when is not None else ():
                assert checked.type_of(node) is not None, ast.unparse(node)
    # The copy evaluates as the original does (with the original's graph).
    copy, original = TracedEvaluator(checked), TracedEvaluator(engine.checked)
    case = engine.validate_case(CASES[0], 1)
    day = dt.date(2011, 9, 1)
    ctx = EvalContext(engine.graph, day, case.fields, engine.params)
    ctx2 = EvalContext(engine.graph, day, case.fields, engine.params)
    for mine, theirs in zip(checked.decisions, engine.checked.decisions, strict=True):
        a, b = copy.evaluate(mine, ctx), original.evaluate(theirs, ctx2)
        ctx.results[mine.spec.name], ctx2.results[theirs.spec.name] = a, b
        assert (a.value, a.rule, a.outcome) == (b.value, b.rule, b.outcome)
