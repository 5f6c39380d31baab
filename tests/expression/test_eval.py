"""`pctrules eval`: one expression against a case and the graph, checked like a rule, traced."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

Run = Callable[..., Result]


def test_the_practice_of_p84004_is_manchester_in_2011(run: Run, register: Path) -> None:
    result = run(
        "eval",
        "case.person.practice.pct",
        "--set",
        "person.practice=P84004",
        "--as-of",
        "2011-09-01",
        "--data",
        str(register),
    )
    assert result.exit_code == 0, result.output
    value, trace, *rest = result.stdout.splitlines()
    assert value == "5NT Manchester Teaching PCT"
    assert trace.startswith("  ✓ matched: practice P84004")
    assert (
        "is part of 5NT Manchester Teaching PCT on 2011-09-01 (2006-10-01 → 2013-03-31, " in trace
    )
    assert rest == []


def test_the_same_practice_in_2005_was_in_north_manchester(run: Run, register: Path) -> None:
    result = run(
        "eval",
        "case.person.practice.pct",
        "--set",
        "person.practice=P84004",
        "--as-of",
        "2005-01-01",
        "--data",
        str(register),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["value"], doc["name"], doc["outcome"]) == ("5CR", "North Manchester PCT", "value")
    (rule,) = doc["trace"]["rules"]
    assert rule["evidence"][0]["from"] == "P84004" and rule["evidence"][0]["to"] == "5CR"


def test_a_condition_says_true_or_false_and_why(run: Run, tmp_path: Path) -> None:
    case = tmp_path / "c.yaml"
    case.write_text("id: s\ndate: 2011-09-01\nperson: {residence: E16000141}\n")
    true = run("eval", "case.person.residence.covered_by is not none", "--case", str(case))
    assert true.exit_code == 0, true.output
    assert true.stdout.splitlines()[0] == "true"
    false = run(
        "eval",
        "case.person.residence.covered_by == case.purchaser and case.date > 2012-01-01",
        "--case",
        str(case),
        "--explain",
    )
    assert false.exit_code == 0, false.output
    lines = false.stdout.splitlines()
    assert lines[:2] == ["false", "  type: true or false"]
    assert lines[2] == "  as of 2011-09-01, case: date=2011-09-01, person.residence=E16000141"
    assert lines[3].startswith("  ✗ did not match: ")


def test_a_condition_on_none_is_unknown(run: Run) -> None:
    result = run("eval", "case.person.residence.covered_by.population > 1", "--as-of", "2011-09-01")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "unknown"


def test_the_checkers_diagnostics_exit_3(run: Run) -> None:
    result = run("eval", "case.person.practice.pctt", "--as-of", "2011-09-01")
    assert result.exit_code == 3
    assert result.stderr.splitlines()[:4] == [
        "<expression>:1:22: error[E-unknown-attribute]: unknown attribute 'pctt' on practice",
        " 1 | case.person.practice.pctt",
        "   |                      ^^^^",
        "   = help: did you mean 'pct'?",
    ]


def test_an_organisation_by_its_code(run: Run) -> None:
    """`sha('Q39')` is the SHA on any day; the trace says when the data has it; a code of
    another kind is an error at the literal, as in a rule."""
    result = run("eval", "exists(sha('Q39'))", "--as-of", "2005-09-01")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "false"
    assert (
        "sha('Q39') is Q39 NHS South West, which does not exist on 2005-09-01 "
        "(2006-07-01 → 2013-03-31)" in result.stdout
    )
    wrong = run("eval", "sha('5NT')", "--as-of", "2011-09-01")
    assert wrong.exit_code == 3
    assert (
        wrong.stderr.splitlines()[0]
        == "<expression>:1:1: error[E-type]: '5NT' is a pct in the data, not a sha"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "person.practise=P84004"], "did you mean 'person.practice'?"),
        (["--set", "person=P84004"], "'person' is a group of fields, not a field"),
        (["--set", "date=2011-02-30"], "field 'date'"),
    ],
)
def test_a_bad_case_exits_5(run: Run, args: list[str], message: str) -> None:
    result = run("eval", "case.date", *args)
    assert result.exit_code == 5, result.output
    assert message in result.stderr


def test_set_must_read_path_equals_value(run: Run) -> None:
    result = run("eval", "case.date", "--set", "date")
    assert result.exit_code == 2
    assert "'date' must read PATH=VALUE" in result.stderr


def test_a_rule_error_exits_6_with_the_error(run: Run) -> None:
    result = run(
        "eval",
        "only(case.person.residence.covered_by.sha.pcts)",
        "--set",
        "person.residence=E16000141",
        "--as-of",
        "2011-09-01",
    )
    assert result.exit_code == 6, result.output
    assert result.stdout.startswith("error: ")
