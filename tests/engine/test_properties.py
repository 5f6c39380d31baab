"""Invariants of evaluation, over hypothesis-generated cases on the default bundle and the real
register: one outcome per decision, the same JSON for the same input, the two evaluators agree."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctrules.evaluation.engine import Engine
from pctrules.language.diagnostics import CaseError

OUTCOMES = {"matched", "no-match", "default", "error"}
# Codes of every kind the case schema names, some unknown to the data, some of the wrong kind
# for the field (the case is then invalid, which is an outcome too).
PRACTICES = ["P84005", "E82001", "A81001", "A81005", "Y01234", "X99999", "P84001"]
AREAS = ["E16000141", "E16000001", "E16000100", "E99999999"]
SERVICES = ["SSNDS-01", "SSNDS-06", "NCG-HEART-TX", "AE", "ROUTINE", "NOPE"]
PCTS = ["5NT", "5HG", "5QV", "5P4", "TAM", "ZZZ"]

dates = st.dates(min_value=dt.date(2001, 1, 1), max_value=dt.date(2014, 12, 31))
cases = st.fixed_dictionaries(
    {"id": st.text(alphabet="abc123", min_size=1, max_size=4), "date": dates},
    optional={
        "person": st.fixed_dictionaries(
            {},
            optional={
                "practice": st.sampled_from(PRACTICES),
                "residence": st.sampled_from(AREAS),
                "present_in": st.sampled_from(AREAS),
            },
        ),
        "service": st.sampled_from(SERVICES),
        "setting": st.sampled_from(["emergency", "elective"]),
        "purchaser": st.sampled_from(PCTS),
    },
)
params = st.fixed_dictionaries({"emergency_responsibility": st.sampled_from(["home", "present"])})
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid(england: Engine, raw: dict[str, object]) -> bool:
    try:
        england.validate_case(raw, 1)
    except CaseError:  # a code of the wrong kind for its field: the case is not evaluated
        return False
    return True


@SETTINGS
@given(raw=cases, p=params)
def test_every_decision_has_exactly_one_outcome(
    england: Engine, raw: dict[str, object], p: dict[str, object]
) -> None:
    if not _valid(england, raw):
        return
    result = england.evaluate(raw, params=p)
    assert list(result.decisions) == [d.name for d in england.compiled.decisions]
    for r in result.decisions.values():
        assert r.outcome in OUTCOMES
        assert (r.outcome == "error") == (r.error is not None)
        if r.outcome in ("no-match", "error"):
            assert r.value is None and (r.rule is None or r.outcome == "error")
        if r.outcome == "matched":
            assert r.rule is not None


@SETTINGS
@given(raw=cases, p=params)
def test_same_input_same_bytes(
    england: Engine, raw: dict[str, object], p: dict[str, object]
) -> None:
    if not _valid(england, raw):
        return
    first = england.evaluate(raw, params=p).to_json()
    assert england.evaluate(dict(raw), params=dict(p)).to_json() == first
    assert json.dumps(json.loads(first), ensure_ascii=False, separators=(", ", ": ")) == first


@SETTINGS
@given(raw=cases, p=params)
def test_traced_and_compiled_agree(
    england: Engine, raw: dict[str, object], p: dict[str, object]
) -> None:
    if not _valid(england, raw):
        return
    fast = england.evaluate(raw, params=p)
    traced = england.evaluate(raw, params=p, trace=True)
    for name, r in fast.decisions.items():
        t = traced.decisions[name]
        assert (r.value, r.rule, r.outcome) == (t.value, t.rule, t.outcome), name
