"""The engine: case validation, as-of dates, absent and unavailable data, hit policies, errors,
dependencies, subjects, and the JSON of DESIGN §5."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pctrules.evaluation.engine import Engine
from pctrules.language.diagnostics import CaseError, ExitCode
from tests.engine.conftest import MakeBundle

DAY = "2011-09-01"


def decide(engine: Engine, case: dict[str, object], **kw: object) -> dict[str, dict[str, object]]:
    out = engine.evaluate(case, **kw).to_dict()  # type: ignore[arg-type]
    decisions = out["decisions"]
    assert isinstance(decisions, dict)
    return decisions


# -- the default bundle over the real register ----------------------------------------------------


def test_registered_practice_decides_wherever_the_person_lives(england: Engine) -> None:
    case = {"id": "c1", "date": DAY, "person": {"practice": "P84005", "residence": "E16000141"}}
    out = england.evaluate(case).to_dict()
    assert list(out) == ["case", "as_of", "bundle", "decisions", "warnings"]
    assert out["case"] == "c1" and out["as_of"] == DAY and out["warnings"] == []
    bundle = out["bundle"]
    assert isinstance(bundle, dict) and bundle["name"] == "england"
    assert str(bundle["digest"]).startswith("sha256:")
    r = out["decisions"]["responsible_pct"]  # type: ignore[index]
    assert r == {
        "value": "5NT",
        "name": "Manchester Teaching PCT",
        "rule": "registered-practice",
        "reason": "1",
        "cite": r["cite"],
    }
    assert "regardless of where the person is resident" in r["cite"]


def test_a_practice_missing_from_the_register_is_absent_with_a_warning(england: Engine) -> None:
    case = {"id": "c2", "date": DAY, "person": {"practice": "X99999", "residence": "E16000141"}}
    result = england.evaluate(case)
    assert result.warnings == [
        "practice 'X99999' is not in the practice register on 2011-09-01; treated as unregistered"
    ]
    r = result.decisions["responsible_pct"]
    assert (r.rule, r.reason) == ("unregistered-resident", "4")


def test_no_rule_matched_and_no_value_are_different(england: Engine) -> None:
    out = decide(england, {"id": "c3", "date": DAY})
    assert out["responsible_pct"]["rule"] == "not-known"
    assert "outcome" not in out["responsible_pct"]
    assert out["lead_pct"]["value"] is None and out["lead_pct"]["rule"] is None
    assert out["lead_pct"]["outcome"] == "no-match"
    assert out["lead_pct"]["note"] == "no subject: commissioning_group is none"


def test_as_of_overrides_the_case_date(england: Engine) -> None:
    # E82001 moved from 5P4 West Hertfordshire to 5QV Hertfordshire on 2010-04-01.
    case = {"id": "c4", "date": "2010-03-31", "person": {"practice": "E82001"}}
    assert decide(england, case)["responsible_pct"]["value"] == "5P4"
    later = england.evaluate(case, as_of=dt.date(2010, 4, 1))
    assert later.as_of == dt.date(2010, 4, 1)
    assert later.decisions["responsible_pct"].value == "5QV"


def test_no_date_at_all_is_a_case_error(england: Engine) -> None:
    with pytest.raises(CaseError, match="for case 'c5', there is no date") as info:
        england.evaluate({"id": "c5", "person": {"practice": "P84005"}})
    assert info.value.exit_code == ExitCode.INVALID_CASE


def test_only_the_requested_decisions_are_reported(england: Engine) -> None:
    case = {"id": "c6", "date": DAY, "person": {"practice": "P84005"}}
    result = england.evaluate(case, decisions=["cluster"])
    assert list(result.decisions) == ["cluster"]
    assert result.decisions["cluster"].value == "CL-GREATER-MANCHESTER"
    with pytest.raises(KeyError, match="unknown decision 'clustr'"):
        england.evaluate(case, decisions=["clustr"])


def test_parameters_switch_the_emergency_rule(england: Engine) -> None:
    case = {
        "id": "c7",
        "date": DAY,
        "setting": "emergency",
        "person": {"practice": "P84005", "present_in": "E16000141"},
    }
    assert decide(england, case)["responsible_pct"]["rule"] == "registered-practice"
    present = decide(england, case, params={"emergency_responsibility": "present"})
    assert present["responsible_pct"]["rule"] == "emergency-present"
    with pytest.raises(CaseError, match="unknown parameter 'emergency'"):
        england.evaluate(case, params={"emergency": "present"})


def test_same_input_gives_byte_identical_json(england: Engine) -> None:
    case = {"id": "c8", "date": DAY, "person": {"practice": "P84005"}, "service": "SSNDS-1"}
    first = england.evaluate(case).to_json()
    assert england.evaluate(case).to_json() == first
    assert json.loads(first)["case"] == "c8"


def test_the_generated_source_is_readable(england: Engine) -> None:
    source = england.source()
    number = [d.name for d in england.compiled.decisions].index("responsible_pct")
    assert f"def d{number}(C, V, on, P):" in source
    assert f"'responsible_pct': d{number}" in source  # the DECISIONS table at the end
    assert "= G.index('practice', 'pct').one" in source


def test_without_a_register_a_named_practice_is_an_error_not_a_fallback(
    england_no_register: Engine,
) -> None:
    case = {"id": "c9", "date": DAY, "person": {"practice": "P84005", "residence": "E16000141"}}
    out = decide(england_no_register, case)
    r = out["responsible_pct"]
    assert r["value"] is None and r["outcome"] == "error"
    error = r["error"]
    assert isinstance(error, dict)
    assert error["rule"] == "registered-practice"
    assert "no practice register is loaded, so practice 'P84005'" in str(error["message"])
    assert "pctrules import ods-epcmem FILE --into DIR" in str(error["message"])
    assert str(error["at"]).startswith("england/responsible-pct.yaml:")
    assert out["cluster"]["error"] == {
        "message": "depends on 'responsible_pct', which failed",
        "rule": None,
        "at": out["cluster"]["error"]["at"],
    }  # type: ignore[index]
    # A case that names no practice is decided as usual.
    resident = decide(
        england_no_register, {"id": "c10", "date": DAY, "person": {"residence": "E16000141"}}
    )
    assert resident["responsible_pct"]["rule"] == "unregistered-resident"


# -- case validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message", "help"),
    [
        (
            {"id": "c1", "date": DAY, "person": {"pratice": "P84005"}},
            "for case 'c1', unknown field 'person.pratice' (given 'P84005'); did you mean "
            "'person.practice'?",
            "did you mean 'person.practice'?",
        ),
        (
            {"id": "c1", "date": DAY, "person": {"practice": 84005}},
            "for case 'c1', field 'person.practice' is 84005, but must be a practice code (text)",
            None,
        ),
        (
            {"id": "c1", "date": "2011-02-30"},
            "for case 'c1', field 'date' is '2011-02-30', but must be a real date (YYYY-MM-DD)",
            "write dates as YYYY-MM-DD, e.g. 2011-04-01",
        ),
        (
            {"id": "c1", "date": DAY, "person": "P84005"},
            "for case 'c1', field 'person' is 'P84005', but must be a mapping of fields",
            None,
        ),
        (
            {"id": "c1", "date": DAY, "person": {"practice": "5NT"}},
            "for case 'c1', field 'person.practice' is '5NT', but must be a practice code, "
            "but '5NT' is a pct",
            None,
        ),
        (["not", "a", "case"], "case 3 is a list, not a mapping of fields", None),
        (
            {"date": DAY, "setting": 5},
            "for case 'case-3', field 'setting' is 5, but must be text",
            None,
        ),
    ],
)
def test_invalid_cases_name_the_case_field_value_and_expectation(
    england: Engine, raw: object, message: str, help: str | None
) -> None:
    with pytest.raises(CaseError) as info:
        england.validate_case(raw, 3)
    assert info.value.exit_code == ExitCode.INVALID_CASE
    (d,) = info.value.diagnostics
    assert (d.code, d.message) == ("E-case", message)
    if help is not None:
        assert d.help == help


def test_every_problem_of_a_case_is_reported(england: Engine) -> None:
    with pytest.raises(CaseError) as info:
        england.validate_case({"id": "c1", "date": "x", "purchaser": 1, "colour": "red"}, 1)
    assert len(info.value.diagnostics) == 3


def test_a_case_without_id_is_numbered(england: Engine) -> None:
    case = england.validate_case({"date": dt.date(2011, 9, 1)}, 7)
    assert case.id == "case-7" and case.date == dt.date(2011, 9, 1)
    assert case.fields["person.practice"] is None


# -- semantics on a small bundle ------------------------------------------------------------------

PCT_OF_PRACTICE = """\
decision: pct
output: pct?
hit: first
rules:
  - id: reg
    reason: R
    when: case.practice.pct is not none
    then: case.practice.pct
"""


def test_no_match_without_default(tiny: MakeBundle) -> None:
    e = tiny({"pct.yaml": PCT_OF_PRACTICE})
    r = decide(e, {"date": "2011-01-01"})["pct"]
    assert r == {
        "value": None,
        "name": None,
        "rule": None,
        "reason": None,
        "cite": None,
        "outcome": "no-match",
    }


def test_default_when_nothing_matched(tiny: MakeBundle) -> None:
    e = tiny({"pct.yaml": PCT_OF_PRACTICE + "default: none\n"})
    r = e.evaluate({"date": "2011-01-01"}).decisions["pct"]
    assert (r.outcome, r.value, r.rule) == ("default", None, None)


@pytest.mark.parametrize(
    ("hit", "case", "outcome", "value", "rules"),
    [
        ("unique", {"n": -1}, "matched", "small", ("small",)),
        ("unique", {"n": 5}, "error", None, ()),
        ("any", {"n": 5, "note": "same"}, "matched", "x", ("a1", "a2")),
        ("collect", {"n": 5}, "matched", ("small", "positive"), ("small", "positive")),
        ("priority", {"n": 5}, "matched", "positive", ("positive",)),
    ],
)
def test_hit_policies(
    tiny: MakeBundle,
    hit: str,
    case: dict[str, object],
    outcome: str,
    value: object,
    rules: tuple[str, ...],
) -> None:
    if hit == "any":
        body = """\
            - id: a1
              when: case.note == 'same'
              then: "'x'"
            - id: a2
              when: case.n > 1
              then: "'x'"
        """
    else:
        body = """\
            - id: small
              priority: 1
              when: case.n < 10
              then: "'small'"
            - id: positive
              priority: 2
              when: case.n > 0 and case.n < 100
              then: "'positive'"
        """
    if hit != "priority":
        body = "\n".join(line for line in body.splitlines() if "priority" not in line)
    text = f"decision: d\noutput: string\nhit: {hit}\nrules:\n" + _dedent(body)
    e = tiny({"d.yaml": text})
    r = e.evaluate({"date": "2011-01-01", **case}).decisions["d"]
    assert r.outcome == outcome and r.value == value
    if outcome == "matched":
        assert (r.rules or (r.rule,)) == rules
    else:
        assert r.error is not None and r.error.rule is None
        assert r.error.message == (
            "rules 'small' and 'positive' all matched; hit policy 'unique' allows only one"
        )
        assert r.error.at is not None and r.error.at.endswith(":1:11")


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.indent(textwrap.dedent(text), "  ")


def test_a_rule_error_names_the_rule_and_the_expression(tiny: MakeBundle) -> None:
    e = tiny(
        {
            "d.yaml": """\
        decision: d
        output: grp?
        rules:
          - id: first
            when: case.n == 1 and case.groups is not none
            then: only(case.groups)
          - id: one-group
            when: case.groups is not none
            then: "only([g in case.groups: count(g.members) > 0])"
        """,
            "later.yaml": """\
        decision: later
        rules:
          - id: copy
            then: d
        """,
            "other.yaml": """\
        decision: other
        rules:
          - id: fine
            then: case.n
        """,
        }
    )
    result = e.evaluate({"date": "2011-01-01", "groups": ["G1", "G2", "G3"], "n": 2})
    d = result.decisions["d"]
    assert d.outcome == "error" and d.rule == "one-group"
    assert d.error is not None
    assert d.error.message == "only() needs at most one member, but there are 2: 'G1', 'G2'"
    assert d.error.at is not None and d.error.at.endswith("d.yaml:9:12")
    assert result.decisions["later"].error is not None
    assert result.decisions["later"].error.message == "depends on 'd', which failed"
    assert result.decisions["other"].value == 2  # other decisions of the case still run


def test_effective_dates_of_rules_and_decisions(tiny: MakeBundle) -> None:
    e = tiny(
        {
            "d.yaml": """\
        decision: d
        effective: {from: 2005-01-01, to: 2012-12-31}
        rules:
          - id: late
            effective: {from: 2010-01-01}
            then: "'late'"
          - id: early
            then: "'early'"
        """
        }
    )
    assert e.evaluate({"date": "2009-12-31"}).decisions["d"].rule == "early"
    assert e.evaluate({"date": "2010-01-01"}).decisions["d"].rule == "late"
    outside = e.evaluate({"date": "2013-01-01"}).decisions["d"]
    assert (outside.outcome, outside.value) == ("no-match", None)
    assert outside.note == (
        "decision 'd' is not in effect on 2013-01-01 (in effect 2005-01-01 to 2012-12-31)"
    )


def test_unknown_results_are_none_and_tie_breaks_go_to_the_lowest_code(tiny: MakeBundle) -> None:
    e = tiny(
        {
            "d.yaml": """\
        decision: d
        rules:
          - id: add
            then: case.n + 1
        """,
            "lead.yaml": """\
        decision: lead
        output: pct?
        for: "g in case.groups"
        rules:
          - id: biggest
            then: max_by(g.members, population)
        """,
        }
    )
    result = e.evaluate({"date": "2011-01-01", "groups": ["G2", "G1", "G3"]})
    assert result.decisions["d"].value is None and result.decisions["d"].rule == "add"
    lead = result.decisions["lead"]
    assert lead.value == {"G1": "A", "G2": "B", "G3": None}
    assert result.to_dict()["decisions"]["lead"]["value"] == {  # type: ignore[index]
        "G1": "A",
        "G2": "B",
        "G3": None,
    }


def test_three_valued_conditions_in_generated_code(tiny: MakeBundle) -> None:
    e = tiny(
        {
            "d.yaml": """\
        decision: d
        rules:
          - id: not-small
            when: not (case.n < 3) or case.flag == true
            then: "'big or flagged'"
          - id: rest
            then: "'other'"
        """
        }
    )

    def rule(case: dict[str, object]) -> str | None:
        return e.evaluate({"date": "2011-01-01", **case}).decisions["d"].rule

    assert rule({"n": 5}) == "not-small"
    assert rule({"n": 1}) == "rest"
    assert rule({}) == "rest"  # none < 3 is unknown: not true
    assert rule({"flag": True}) == "not-small"  # unknown or true is true
