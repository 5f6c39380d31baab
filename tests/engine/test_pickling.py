"""An Engine survives a cloudpickle round trip (Spark, Dask and Ray ship it to workers so):
the same answers, untraced and traced, in this process and in another one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cloudpickle
import pytest

from pctrules.bundle import open_bundle
from pctrules.evaluation.engine import Engine
from pctrules.language import ast

REPO = Path(__file__).resolve().parents[2]
CASES = [
    {"id": "a", "date": "2011-09-01", "person": {"practice": "P84005"}},
    {"id": "b", "date": "2011-09-01", "person": {"residence": "E16000141"},
     "service": "SSNDS-1"},
    {"id": "c", "date": "2009-02-02", "person": {"practice": "E82001", "present_in": "E16000141"},
     "setting": "emergency"},
]


@pytest.fixture(scope="module")
def engine(register: Path) -> Engine:
    return Engine(open_bundle(REPO / "policies" / "england", register))


def _answers(e: Engine) -> list[str]:
    return [e.evaluate(c, trace=trace).to_json() for c in CASES for trace in (False, True)]


def test_a_cloudpickled_engine_gives_the_same_answers(engine: Engine) -> None:
    copy = cloudpickle.loads(cloudpickle.dumps(engine))
    assert _answers(copy) == _answers(engine)
    # The checker's tables are keyed by each node's own number, which the copy keeps.
    for d in copy.checked.decisions:
        for rule in d.rules:
            for node in ast.walk(rule.when) if rule.when is not None else ():
                assert copy.checked.type_of(node) is not None, ast.unparse(node)


def test_a_cloudpickled_engine_works_in_another_process(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "engine.pkl").write_bytes(cloudpickle.dumps(engine))
    script = (
        "import cloudpickle, json, sys\n"
        f"e = cloudpickle.loads(open({str(tmp_path / 'engine.pkl')!r}, 'rb').read())\n"
        f"cases = {CASES!r}\n"
        "answers = [e.evaluate(c, trace=t).to_json() for c in cases for t in (False, True)]\n"
        "print(json.dumps(answers))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout) == _answers(engine)
