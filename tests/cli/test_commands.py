"""`pctrules evaluate`, `explain` and `test` through the real click group: output, exit codes."""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

Run = Callable[..., Result]
REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "policies" / "england"
EXAMPLES = REPO / "examples"

SOMERSET = "id: s1\ndate: 2011-09-01\nperson: {residence: E16000141}\n"


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- evaluate ----------------------------------------------------------------------------------


def test_evaluate_text(run: Run, tmp_path: Path) -> None:
    result = run("evaluate", write(tmp_path, "c.yaml", SOMERSET))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "case s1 as of 2011-09-01",
        "  responsible_pct = 5QL Somerset PCT (rule unregistered-resident, reason 4)",
    ]


def test_evaluate_json_is_one_object_per_case_per_line(run: Run, tmp_path: Path) -> None:
    cases = (
        "cases:\n  - {id: a, date: 2011-09-01, person: {residence: E16000141}}\n"
        "  - {id: b, date: 2013-06-01, person: {residence: E16000141}}\n"
    )
    result = run(
        "evaluate",
        write(tmp_path, "c.yaml", cases),
        "--format",
        "json",
        "--decision",
        "responsible_pct",
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    a, b = (json.loads(line) for line in lines)
    assert a["case"] == "a" and a["as_of"] == "2011-09-01"
    assert a["bundle"]["name"] == "england" and a["bundle"]["digest"].startswith("sha256:")
    assert a["decisions"] == {
        "responsible_pct": {
            "value": "5QL",
            "name": "Somerset PCT",
            "rule": "unregistered-resident",
            "reason": "4",
            "cite": a["decisions"]["responsible_pct"]["cite"],
        }
    }
    assert b["decisions"]["responsible_pct"]["value"] is None
    assert b["decisions"]["responsible_pct"]["rule"] == "not-known"


def test_evaluate_json_keeps_a_case_on_one_line_whatever_its_id(run: Run, tmp_path: Path) -> None:
    # JSON leaves U+0085, U+2028 and U+2029 raw; str.splitlines and many editors break on them
    ids = ["a\u0085b", "c\u2028d", "e\u2029f"]
    cases = "cases:\n" + "".join(
        f'  - {{id: "{i}", date: 2011-09-01, person: {{residence: E16000141}}}}\n'
        for i in (r"a\Nb", r"c\Ld", r"e\Pf")
    )
    result = run(
        "evaluate",
        write(tmp_path, "c.yaml", cases),
        "--format",
        "json",
        "--decision",
        "responsible_pct",
    )
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["case"] for line in result.stdout.splitlines()] == ids


def test_evaluate_json_is_deterministic(run: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", SOMERSET)
    first = run("evaluate", path, "--format", "json", "--explain")
    second = run("evaluate", path, "--format", "json", "--explain")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == second.stdout


def test_evaluate_reads_json_from_standard_input(run: Run) -> None:
    text = json.dumps([{"id": "j1", "date": "2011-09-01", "person": {"residence": "E16000141"}}])
    result = run("evaluate", "-", "--format", "json", "--decision", "responsible_pct", input=text)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["decisions"]["responsible_pct"]["value"] == "5QL"


def test_as_of_overrides_the_case_date(run: Run, tmp_path: Path) -> None:
    result = run(
        "evaluate",
        write(tmp_path, "c.yaml", SOMERSET),
        "--as-of",
        "2014-01-01",
        "--decision",
        "responsible_pct",
    )
    assert result.exit_code == 0, result.stderr
    assert "responsible_pct = none (rule not-known, reason 9)" in result.stdout


def test_explain_flag_adds_the_trace_to_json(run: Run, tmp_path: Path) -> None:
    result = run(
        "evaluate",
        write(tmp_path, "c.yaml", SOMERSET),
        "--format",
        "json",
        "--explain",
        "--decision",
        "responsible_pct",
    )
    trace = json.loads(result.stdout)["decisions"]["responsible_pct"]["trace"]
    assert [r["outcome"] for r in trace["rules"]] == [
        "not-matched",
        "not-matched",
        "not-matched",
        "not-matched",
        "matched",
        "skipped",
        "skipped",
    ]


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        (
            "id: c1\ndate: 2011-09-01\nperson: {practise: P84004}\n",
            "c.yaml",
            "for case 'c1', unknown field 'person.practise'",
        ),
        (
            "id: c1\ndate: 2011-09-01\nservice: [7]\n",
            "c.yaml",
            "for case 'c1', field 'service' is [7], but must be a service code",
        ),
        (
            "id: c1\ndate: 2011-02-30\n",
            "c.yaml",
            "for case 'c1', field 'date' is '2011-02-30', but must be a real date",
        ),
        ("- just text\n", "c.yaml", "case 1 is the text 'just text', not a mapping of fields"),
        (
            "id: c1\n  date: : 2\n",
            "c.yaml",
            "c.yaml:2:7: error[E-case]: case file is not valid YAML",
        ),
        (
            '{"id": "c1", "date": }',
            "c.json",
            "c.json:1:22: error[E-case]: case file is not valid JSON",
        ),
        ("cases: 5\n", "c.yaml", "'cases' in"),
        ("a: &x [1]\nb: *x\n", "c.yaml", "aliases ('*name') are not allowed in case files"),
    ],
)
def test_bad_case_input_exits_5_without_a_traceback(
    run: Run,
    tmp_path: Path,
    text: str,
    name: str,
    message: str,
) -> None:
    result = run("evaluate", write(tmp_path, name, text))
    assert result.exit_code == 5, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_a_missing_case_file_exits_5(run: Run, tmp_path: Path) -> None:
    result = run("evaluate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 5
    assert "does not exist" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "nope=1"], "unknown parameter 'nope'"),
        (["--param", "emergency_responsibility=away"], "must be one of 'home', 'present'"),
        (["--param", "emergency_responsibility"], "must read NAME=VALUE"),
        (["--decision", "comissioner"], "did you mean 'commissioner'?"),
        (["--as-of", "2011-13-01"], "is not a date"),
        (["--format", "xml"], "'xml' is not one of"),
    ],
)
def test_usage_errors_exit_2(run: Run, tmp_path: Path, args: list[str], message: str) -> None:
    result = run("evaluate", write(tmp_path, "c.yaml", SOMERSET), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_an_invalid_bundle_exits_3(run: Run, tmp_path: Path) -> None:
    bundle = tmp_path / "england"
    shutil.copytree(BUNDLE, bundle)
    path = bundle / "cluster.yaml"
    path.write_text(
        path.read_text().replace(
            "responsible_pct.cluster is not none", "responsible_pct.clustr is not none"
        )
    )
    result = run("evaluate", "--bundle", str(bundle), write(tmp_path, "c.yaml", SOMERSET))
    assert result.exit_code == 3, result.output
    assert "unknown attribute 'clustr' on pct" in result.stderr
    assert "did you mean 'cluster'?" in result.stderr


# -- explain -----------------------------------------------------------------------------------


def test_explain_text_story(run: Run) -> None:
    result = run(
        "explain", str(EXAMPLES / "specialised-bassetlaw.yaml"), "--decision", "commissioner"
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == (
        "  commissioner = SCG-Q33 East Midlands Specialised Commissioning Group "
        "(rule specialised-scg, reason SCG-DELEGATED)"
    )
    assert lines[2].startswith(
        "    ✗ national-service did not match: "
        "case.service.category == 'national' is false (england/"
    )
    assert lines[3].startswith(
        "    ✓ specialised-scg matched: pct 5ET Bassetlaw PCT is managed by "
        "Q33 NHS East Midlands on 2012-01-10 (2006-10-01 → 2013-03-31, "
    )
    assert "    · own-pct skipped (an earlier rule decided)" in lines


def test_explain_html_is_one_self_contained_page(run: Run) -> None:
    result = run("explain", str(EXAMPLES / "lead-no-designated-lead.yaml"), "--format", "html")
    assert result.exit_code == 0, result.stderr
    page = result.stdout
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "http" not in page.split("</style>")[0]
    assert "no-designated-lead" in page and "East Midlands Specialised Commissioning" in page


def test_explain_json_has_the_trace_contract(run: Run) -> None:
    result = run(
        "explain",
        str(EXAMPLES / "lead-designated.yaml"),
        "--format",
        "json",
        "--decision",
        "lead_pct",
    )
    assert result.exit_code == 0, result.stderr
    trace = json.loads(result.stdout)["decisions"]["lead_pct"]["trace"]
    assert trace["hit"] == "first" and trace["as_of"] == "2012-01-10"
    first = trace["rules"][0]
    assert first["rule"] == "designated-lead" and first["outcome"] == "matched"
    assert first["evidence"] == [
        {
            "from": "5H8",
            "rel": "lead_of",
            "to": "CL-SOUTH-YORKSHIRE-AND-BASSETLAW",
            "valid": ["2011-06-01", "2013-03-31"],
            "source": first["evidence"][0]["source"],
        }
    ]
    # The row's own source column: the citation key of data/SOURCES.md.
    assert first["evidence"][0]["source"] == "HSJ-2011-04-28"


def test_explain_without_register_names_the_import_command(run: Run) -> None:
    result = run(
        "explain",
        str(EXAMPLES / "with-register" / "registered-away-from-home.yaml"),
        "--decision",
        "responsible_pct",
    )
    assert result.exit_code == 6, result.stderr  # decided with errors
    assert "! registered-practice failed: no practice register is loaded" in result.stdout
    assert "unregistered-resident skipped (an earlier rule failed)" in result.stdout


# -- test --------------------------------------------------------------------------------------


def test_the_default_bundle_tests_pass_without_a_register(run: Run) -> None:
    result = run("test")
    assert result.exit_code == 0, result.output
    summary = result.stdout.splitlines()[-1]
    assert " passed, 0 failed, " in summary and "skipped" in summary
    assert "pctrules import ods-epcmem" in summary


def test_the_default_bundle_tests_cover_every_rule(run: Run, real_register: Path) -> None:
    # Register-only: the bundle's policy tests name real practices and their real PCTs.
    result = run("test", str(BUNDLE), "--data", str(real_register), "--coverage")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith(" passed, 0 failed")
    assert lines[1].startswith("coverage: 30 of 30 rules fired (100.0%), ")
    assert not any("rule never fired" in line for line in lines)


def _bundle_with_tests(tmp_path: Path, text: str) -> Path:
    bundle = tmp_path / "england"
    shutil.copytree(BUNDLE, bundle)
    for old in (bundle / "tests").glob("*.yaml"):
        old.unlink()
    (bundle / "tests" / "t.yaml").write_text(text, encoding="utf-8")
    return bundle


def test_a_failing_policy_test_exits_4_with_a_diff(run: Run, tmp_path: Path) -> None:
    bundle = _bundle_with_tests(
        tmp_path,
        (
            "- name: right\n  case: {id: a, date: 2011-09-01, person: {residence: E16000141}}\n"
            "  expect: {responsible_pct: 5QL}\n"
            "- name: wrong\n  case: {id: b, date: 2011-09-01, person: {residence: E16000141}}\n"
            "  expect:\n    responsible_pct: {value: 5F5, rule: registered-practice, reason: 1}\n"
        ),
    )
    result = run("test", str(bundle), "--coverage")
    assert result.exit_code == 4, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAIL ") and "t.yaml:4 wrong (" in lines[0]
    _, cover, *rest = lines[lines.index("1 passed, 1 failed") :]
    assert cover.startswith("coverage: 7 of 30 rules fired (23.3%)")
    assert any(
        line.startswith("  rule never fired: ") and line.endswith(" registered-practice")
        for line in rest
    )
    assert any(
        "condition never true or false: " in line and "case.purchaser is not none" in line
        for line in rest
    )


def test_facts_of_a_test_stay_in_that_test(run: Run, tmp_path: Path) -> None:
    facts = (
        "  facts:\n"
        "    - {code: COLLAB-X, kind: collaborative, name: X}\n"
        "    - {from: 5QL, relation: in_collaborative, to: COLLAB-X, valid_from: 2009-04-01,"
        " valid_to: 2013-03-31}\n"
        "    - {from: COLLAB-X, relation: commissions, to: MATERNITY}\n"
    )
    case = "  case: {id: a, date: 2010-06-01, service: MATERNITY, person: {residence: E16000141}}\n"
    bundle = _bundle_with_tests(
        tmp_path,
        (
            "- name: with\n" + facts + case + "  expect: {commissioner: COLLAB-X}\n"
            "- name: without\n" + case + "  expect: {commissioner: 5QL}\n"
        ),
    )
    result = run("test", str(bundle))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "2 passed, 0 failed"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- name: x\n  case: {}\n  expect: {responsible_pc: 5QL}\n",
            "unknown decision 'responsible_pc'",
        ),
        ("- name: x\n  case: {}\n", "'expect'"),
    ],
)
def test_a_broken_test_file_exits_3(run: Run, tmp_path: Path, text: str, message: str) -> None:
    result = run("test", str(_bundle_with_tests(tmp_path, text)))
    assert result.exit_code == 3, result.output
    assert message in result.stderr


def test_an_invalid_case_in_a_policy_test_is_an_error_at_its_value(
    run: Run,
    tmp_path: Path,
) -> None:
    bundle = _bundle_with_tests(
        tmp_path,
        ("- name: x\n  case: {id: a, date: 2011-02-30}\n  expect: {responsible_pct: null}\n"),
    )
    result = run("test", str(bundle))
    assert result.exit_code == 3, result.output
    assert (
        "t.yaml:2:23: error[E-case]: for test 'x', case field 'date' must be a real date"
        in result.stderr
    )
    assert (
        result.stdout.splitlines()[-1] == "0 passed, 0 failed, 1 error (tests that could not run)"
    )


def test_a_violated_constraint_fails_the_tests(run: Run, tmp_path: Path) -> None:
    bundle = _bundle_with_tests(
        tmp_path,
        (
            "- name: x\n  case: {id: a, date: 2012-01-10, person: {residence: E16000141}}\n"
            "  expect: {responsible_pct: 5QL}\n"
        ),
    )
    leads = bundle / "data" / "cluster-leads.csv"
    leads.write_text(leads.read_text().replace("5H8,CL-SOUTH-YORKSHIRE", "5QL,CL-SOUTH-YORKSHIRE"))
    result = run("test", str(bundle))
    assert result.exit_code == 4, result.output
    assert (
        "FAIL constraint designated-lead-is-member" in result.stdout
        and "on 2012-01-10: the designated lead of a cluster is not one of its members: "
        "CL-SOUTH-YORKSHIRE-AND-BASSETLAW"
        in result.stdout
    )


def test_compile_prints_the_generated_python(run: Run, register: Path) -> None:
    plain = run("compile")
    assert plain.exit_code == 0, plain.output
    module = ast.parse(plain.stdout)
    functions = [n.name for n in module.body if isinstance(n, ast.FunctionDef)]
    table = next(
        n.value
        for n in module.body
        if isinstance(n, ast.Assign)
        and isinstance(n.targets[0], ast.Name)
        and n.targets[0].id == "DECISIONS"
    )
    assert isinstance(table, ast.Dict)
    named = {
        ast.literal_eval(k): v.id
        for k, v in zip(table.keys, table.values, strict=True)
        if k is not None and isinstance(v, ast.Name)
    }
    for decision in ("responsible_pct", "cluster", "commissioner", "lead_pct"):
        assert named[decision] in functions
    # Without a register a practice is read through the check that names the missing data.
    assert "read_unavailable" in plain.stdout
    with_data = run("compile", "--data", str(register))
    assert with_data.exit_code == 0, with_data.output
    number = named["responsible_pct"]
    body = with_data.stdout.split(f"def {number}(", 1)[1].split("\ndef ", 1)[0]
    assert "read_unavailable(" not in body
