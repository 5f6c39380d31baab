"""`pctrules test` as people use test runners: -v, --run, failure diffs, JSON, JUnit, a summary
line always (even when the bundle or its data is broken), problems at the value that is wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema
from click.testing import Result

from pctrules.language.loader import json_schema
from tests.policytests.conftest import WithTests

Run = Callable[..., Result]
HERE = Path(__file__).resolve().parent
JUNIT = xmlschema.XMLSchema(str(HERE / "junit.xsd"))

SOMERSET = "{id: a, date: 2011-09-01, person: {residence: E16000141}}"
PASSING = f"- name: right\n  case: {SOMERSET}\n  expect: {{responsible_pct: 5QL}}\n"
FAILING = (
    f"- name: wrong\n  case: {SOMERSET}\n  expect:\n"
    "    responsible_pct: {value: 5F5, rule: registered-practice, reason: 1}\n"
)


def report(result: Result) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(document, json_schema("test-report"))
    return document


def junit(path: Path) -> Any:
    JUNIT.validate(str(path))
    return JUNIT.to_dict(str(path))


def test_verbose_lists_every_test_with_its_time(run: Run, with_tests: WithTests) -> None:
    result = run("test", str(with_tests(PASSING + PASSING.replace("right", "again"))), "-v")
    assert result.exit_code == 0, result.output
    lines = [
        re.sub(r"^PASS \S+/tests/t\.yaml:", "PASS t.yaml:", line)
        for line in result.stdout.splitlines()
    ]
    assert [re.sub(r"\(\d+\.\d ms\)$", "(T)", line) for line in lines] == [
        "PASS t.yaml:1 right (T)",
        "PASS t.yaml:4 again (T)",
        "2 passed, 0 failed",
    ]


def test_without_verbose_only_failures_and_the_summary(run: Run, with_tests: WithTests) -> None:
    result = run("test", str(with_tests(PASSING)))
    assert result.stdout.splitlines() == ["1 passed, 0 failed"]


def test_run_selects_tests_by_pattern(run: Run, with_tests: WithTests) -> None:
    bundle = with_tests(PASSING + FAILING)
    only = run("test", str(bundle), "--run", "^ri")
    assert only.exit_code == 0, only.output
    assert only.stdout.splitlines() == ["1 passed, 0 failed"]
    bad = run("test", str(bundle), "--run", "(")
    assert bad.exit_code == 2
    assert "'(' is not a regular expression" in bad.stderr


def test_a_failure_shows_expected_actual_the_deciding_rule_and_a_diff(
    run: Run,
    with_tests: WithTests,
) -> None:
    result = run("test", str(with_tests(PASSING + FAILING)))
    assert result.exit_code == 4, result.output
    lines = [re.sub(r"\(\d+\.\d ms\)", "(T)", line) for line in result.stdout.splitlines()]
    assert lines[0].startswith("FAIL ") and lines[0].endswith("tests/t.yaml:4 wrong (T)")
    assert lines[1].startswith("  responsible_pct (") and lines[1].endswith("t.yaml:7:5):")
    assert lines[2:4] == [
        "    expected value '5F5', rule 'registered-practice', reason '1'",
        "    actual   5QL Somerset PCT by rule unregistered-resident, reason 4",
    ]
    assert lines[4].startswith(
        "    ✓ unregistered-resident matched: pct 5QL Somerset PCT "
        "covers E16000141 Somerset (statutory area) on 2011-09-01"
    )
    assert lines[5:] == [
        "    - value: '5F5'",
        "    + value: '5QL'",
        "    - rule: 'registered-practice'",
        "    + rule: 'unregistered-resident'",
        "    - reason: '1'",
        "    + reason: '4'",
        "1 passed, 1 failed",
    ]


def test_json_validates_and_carries_mismatches_and_coverage(
    run: Run,
    with_tests: WithTests,
) -> None:
    result = run("test", str(with_tests(PASSING + FAILING)), "--format", "json", "--coverage")
    assert result.exit_code == 4, result.output
    doc = report(result)
    assert doc["ok"] is False and doc["stopped_by"] is None
    assert doc["summary"] | {"seconds": 0} == {
        "total": 2,
        "passed": 1,
        "failed": 1,
        "skipped": 0,
        "errors": 0,
        "not_run": 0,
        "seconds": 0,
        "line": "1 passed, 1 failed",
    }
    right, wrong = doc["tests"]
    assert right["status"] == "passed" and "mismatches" not in right
    (mismatch,) = wrong["mismatches"]
    assert mismatch["expected"] == {"value": "5F5", "rule": "registered-practice", "reason": "1"}
    assert mismatch["actual"] == {
        "value": "5QL",
        "rule": "unregistered-resident",
        "reason": "4",
        "outcome": "matched",
    }
    assert mismatch["differing"] == ["value", "rule", "reason"]
    assert doc["coverage"]["rules"]["fired"] >= 1
    assert {"rule": "registered-practice"}.items() <= next(
        r for r in doc["coverage"]["never_fired"] if r["rule"] == "registered-practice"
    ).items()


def test_junit_validates_against_the_xsd(run: Run, with_tests: WithTests, tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    result = run("test", str(with_tests(PASSING + FAILING)), "--junit", str(out))
    assert result.exit_code == 4, result.output
    doc = junit(out)
    assert (doc["@tests"], doc["@failures"], doc["@errors"]) == (2, 1, 0)
    (suite,) = doc["testsuite"]
    right, wrong = suite["testcase"]
    assert right["@name"] == "right" and "failure" not in right
    assert wrong["failure"]["@message"].startswith("responsible_pct: expected value '5F5'")
    assert "- value: '5F5'" in wrong["failure"]["$"]


def test_the_default_bundle_report_validates(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    result = run("test", "--format", "json", "--coverage", "--junit", str(out))
    assert result.exit_code == 0, result.output
    doc = report(result)
    assert doc["ok"] and doc["summary"]["skipped"] > 0
    assert junit(out)["@skipped"] == doc["summary"]["skipped"]


def test_a_junit_file_that_cannot_be_written_is_a_usage_error(
    run: Run,
    with_tests: WithTests,
    tmp_path: Path,
) -> None:
    result = run("test", str(with_tests(PASSING)), "--junit", str(tmp_path / "no" / "j.xml"))
    assert result.exit_code == 2
    assert "cannot write" in result.stderr


# -- broken tests, bundles and data --------------------------------------------------------------

BROKEN = (
    "- name: x\n"
    "  case: {id: a, date: 2011-02-30, person: {residense: E16000141}}\n"
    "  expect:\n"
    "    responsible_pc: 5QL\n"
    "    cluster: {value: null, rule: no-clustr}\n"
    "- name: y\n"
    f"  case: {SOMERSET}\n"
    "  params: {emergency_responsibility: elsewhere}\n"
    "  expect:\n"
    "    comissioner: 5QL\n"
    "    responsible_pct: {value: 5QL, rule: own-pct}\n"
) + PASSING


def _at(text: str) -> list[str]:
    """`file:line:col: error[CODE]` headers of rendered diagnostics, file as its last part."""
    return [re.sub(r"^.*/", "", m) for m in re.findall(r"^(\S+: \w+\[[\w-]+\])", text, re.M)]


EXPECTED_PROBLEMS = [
    "t.yaml:2:23: error[E-case]",  # 2011-02-30
    "t.yaml:2:44: error[E-case]",  # residense
    "t.yaml:4:5: error[E-unknown-decision]",  # responsible_pc
    "t.yaml:5:34: error[E-unknown-rule]",  # no-clustr
    "t.yaml:8:38: error[E-param]",  # elsewhere
    "t.yaml:10:5: error[E-unknown-decision]",  # comissioner
    "t.yaml:11:41: error[E-unknown-rule]",  # own-pct is commissioner's
]


def test_check_reports_every_problem_of_the_tests_at_its_key(
    run: Run,
    with_tests: WithTests,
) -> None:
    result = run("check", str(with_tests(BROKEN)))
    assert result.exit_code == 3, result.output
    assert _at(result.stdout) == EXPECTED_PROBLEMS
    assert "did you mean 'responsible_pct'?" in result.stdout
    assert (
        "the rule 'own-pct' belongs to decision 'commissioner', not 'responsible_pct'"
        in result.stdout
    )
    assert result.stdout.splitlines()[-1].startswith("7 errors in ")


def test_test_reports_the_same_problems_and_runs_the_other_tests(
    run: Run,
    with_tests: WithTests,
) -> None:
    result = run("test", str(with_tests(BROKEN)))
    assert result.exit_code == 3, result.output
    assert _at(result.stderr) == EXPECTED_PROBLEMS
    assert (
        result.stdout.splitlines()[-1] == "1 passed, 0 failed, 2 errors (tests that could not run)"
    )
    assert "ERROR " in result.stdout and "t.yaml:1 x: 4 problems in the test" in result.stdout


def test_a_broken_bundle_still_gives_the_summary_line(
    run: Run,
    with_tests: WithTests,
    tmp_path: Path,
) -> None:
    bundle = with_tests(PASSING + FAILING)
    decision = bundle / "responsible-pct.yaml"
    decision.write_text(
        decision.read_text().replace("practice.pct is not none", "practice.pctt is not none")
    )
    out = tmp_path / "junit.xml"
    result = run("test", str(bundle), "--junit", str(out))
    assert result.exit_code == 3, result.output
    assert result.stdout.splitlines() == ["0 passed, 0 failed, 2 not run (the bundle has errors)"]
    assert "responsible-pct.yaml:" in result.stderr and "unknown attribute 'pctt'" in result.stderr
    assert junit(out)["@errors"] == 1
    doc = report(run("test", str(bundle), "--format", "json"))
    assert doc["stopped_by"] == "the bundle has errors" and doc["summary"]["not_run"] == 2
    assert any("'pctt'" in d["message"] for d in doc["diagnostics"])


def test_broken_data_gives_the_summary_line_and_points_at_the_bad_value(
    run: Run,
    with_tests: WithTests,
) -> None:
    bundle = with_tests(PASSING)
    pct = bundle / "data" / "pct.csv"
    pct.write_text(
        pct.read_text().replace(
            "5QL,Somerset PCT,E16000141,false,2006-10-01",
            "5QL,Somerset PCT,E16000141,false,2006-10-41",
        )
    )
    result = run("test", str(bundle))
    assert result.exit_code == 3, result.output
    assert result.stdout.splitlines() == [
        "0 passed, 0 failed, 1 not run (the bundle's data has errors)"
    ]
    line = next(
        n for n, text in enumerate(pct.read_text().splitlines(), 1) if text.startswith("5QL,")
    )
    assert re.search(
        rf"data/pct\.csv:{line}:\d+: error\[E-data\]: '2006-10-41' in column "
        "'valid_from' is not a date",
        result.stderr,
    )
    assert "t.yaml" not in result.stderr  # not at an unrelated test


def test_a_bad_fact_is_reported_at_the_fact_not_a_scratch_file(
    run: Run,
    with_tests: WithTests,
) -> None:
    result = run(
        "test",
        str(
            with_tests(
                "- name: with facts\n"
                "  facts:\n"
                "    - {code: COLLAB-X, kind: collaborative, name: X, valid_from: 2009-02-30}\n"
                f"  case: {SOMERSET}\n"
                "  expect: {responsible_pct: 5QL}\n" + PASSING
            )
        ),
    )
    assert result.exit_code == 3, result.output
    assert (
        result.stdout.splitlines()[-1] == "1 passed, 0 failed, 1 error (tests that could not run)"
    )
    assert re.search(
        r"tests/t\.yaml:3:\d+: for test 'with facts', '2009-02-30' in column "
        "'valid_from' is not a date",
        result.stdout,
    )
    assert "pctrules-test-" not in result.output


def test_an_unknown_fact_kind_is_checked_before_running(run: Run, with_tests: WithTests) -> None:
    result = run(
        "check",
        str(
            with_tests(
                "- name: f\n  facts:\n    - {code: X, kind: colaborative}\n"
                f"  case: {SOMERSET}\n  expect: {{responsible_pct: 5QL}}\n"
            )
        ),
    )
    assert result.exit_code == 3
    assert _at(result.stdout) == ["t.yaml:3:23: error[E-unknown-name]"]
    assert "did you mean 'collaborative'?" in result.stdout


@pytest.mark.parametrize("broken", ["bundle", "data"])
def test_junit_and_json_validate_when_nothing_ran(
    run: Run,
    with_tests: WithTests,
    tmp_path: Path,
    broken: str,
) -> None:
    bundle = with_tests(PASSING)
    if broken == "bundle":
        (bundle / "cluster.yaml").write_text("decision: cluster\nrules: []\nhit: furst\n")
    else:
        (bundle / "data" / "sha.csv").write_text("code,name\nQ30,\n,nameless\n")
    out = tmp_path / "j.xml"
    doc = report(run("test", str(bundle), "--format", "json", "--junit", str(out)))
    assert doc["ok"] is False and doc["summary"]["not_run"] == 1 and doc["diagnostics"]
    assert junit(out)["@errors"] == 1
