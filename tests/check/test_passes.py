"""The checker's passes, one at a time and together, over the default bundle's schemas."""

from __future__ import annotations

import pytest

from pctrules.language import ast
from pctrules.language.check import PASSES, run_passes
from pctrules.language.check.declarations import resolve_declarations
from pctrules.language.check.dependencies import check_dependencies
from pctrules.language.check.guards import facts_if_false, facts_if_true
from pctrules.language.check.names import resolve_names
from pctrules.language.check.parse import parse_expressions
from pctrules.language.check.refs import (
    CaseField,
    CaseRoot,
    DecisionRef,
    FunctionRef,
    HopRef,
    NodeAttribute,
    ParamRef,
    VarRef,
)
from pctrules.language.check.types import UNKNOWN, fits, parse_output_type, unify
from pctrules.language.parser import parse_expression
from pctrules.language.schema import Type
from tests.check.checkhelp import check, default_stages, expect, with_rule


def _expr(text: str) -> ast.Expr:
    node, problems = parse_expression(text)
    assert node is not None, problems
    return node


def test_default_bundle_is_clean_and_ordered_by_dependencies() -> None:
    checked = default_stages().checked
    assert checked is not None
    names = [d.spec.name for d in checked.decisions]
    for d in checked.decisions:
        assert all(names.index(dep) < names.index(d.spec.name) for dep in d.depends_on)
    assert names[0] == "responsible_pct"
    lead = checked.decision("lead_pct")
    assert lead is not None and lead.subject is not None
    assert lead.subject.var == "g" and str(lead.subject.element) == "cluster|scg|collaborative"


def test_every_node_of_the_default_bundle_is_typed() -> None:
    checked = default_stages().checked
    assert checked is not None
    for d in checked.decisions:
        for r in d.rules:
            roots = [r.when, *(r.then.values() if isinstance(r.then, dict) else [r.then])]
            for root in roots:
                for node in ast.walk(root) if root is not None else ():
                    assert checked.type_of(node) != UNKNOWN, ast.unparse(node)


def test_refs_say_what_each_name_is() -> None:
    checked, problems = check(
        "params.emergency_responsibility == 'home' and case.person.practice.pct is not none "
        "and any(p in responsible_pct.practices: p.population > 1)"
    )
    assert [p.code for p in problems] == ["W-unguarded-optional"]
    refs = {ast.unparse(n): checked.ref(n) for n in _nodes(checked) if checked.ref(n) is not None}
    assert refs["case"] == CaseRoot()
    assert refs["case.person.practice"] == CaseField(("person", "practice"))
    assert refs["params.emergency_responsibility"] == ParamRef("emergency_responsibility")
    assert refs["case.person.practice.pct"] == HopRef("part_of", True, True, "pct")
    assert refs["responsible_pct.practices"] == HopRef("part_of", False, False, "practices")
    assert refs["responsible_pct"] == DecisionRef("responsible_pct")
    assert refs["p"] == VarRef("p")
    assert refs["p.population"] == NodeAttribute("population")
    assert FunctionRef("any") in refs.values()


def _nodes(checked: object) -> list[ast.Expr]:
    from pctrules.language.check.state import CheckedBundle

    assert isinstance(checked, CheckedBundle)
    decision = checked.decision("acting_commissioner")
    assert decision is not None
    rule = decision.rules[0]
    assert rule.when is not None
    return list(ast.walk(rule.when))


@pytest.mark.parametrize(
    ("when", "code", "message", "help", "text"),
    [
        (
            "case.person.practice.pctt is not none",
            "E-unknown-attribute",
            "for rule 'national-body', unknown attribute 'pctt' on practice",
            "did you mean 'pct'?",
            "pctt",
        ),
        (
            "case.persn is none",
            "E-unknown-attribute",
            "for rule 'national-body', unknown attribute 'persn' on case",
            "did you mean 'person'?",
            "persn",
        ),
        (
            "responsible_pc is none",
            "E-unknown-decision",
            "for rule 'national-body', unknown decision 'responsible_pc'",
            "did you mean 'responsible_pct'?",
            "responsible_pc",
        ),
        (
            "cnt(responsible_pct.practices) > 1",
            "E-unknown-function",
            "for rule 'national-body', unknown function 'cnt'",
            "did you mean 'count'?",
            "cnt",
        ),
        (
            "count == 1",
            "E-unknown-name",
            "for rule 'national-body', 'count' is a function, not a value",
            "call it: count(xs) or count(x in xs: condition)",
            "count",
        ),
        (
            "case.date < 3",
            "E-type",
            "for rule 'national-body', '<' cannot compare a date with a whole number",
            "order numbers with numbers, dates with dates (e.g. 2011-04-01) and text with text",
            "case.date < 3",
        ),
        (
            "case.person.practice == responsible_pct",
            "E-type",
            "for rule 'national-body', '==' compares a practice with a pct, which are never equal",
            "did you mean 'case.person.practice.pct'?",
            "case.person.practice == responsible_pct",
        ),
        (
            "case.person.practice.pct.population + 'x' > 1",
            "E-type",
            "for rule 'national-body', '+' needs numbers, but 'x' is text",
            "do arithmetic on numbers only",
            "'x'",
        ),
        (
            "any(p in responsible_pct: true)",
            "E-type",
            "for rule 'national-body', 'any' needs a set, but 'responsible_pct' is a pct (or none)",
            "give a set: a relation such as 'pct.practices', a list or a filter",
            "responsible_pct",
        ),
        (
            "count(responsible_pct.practices, 2) > 1",
            "E-type",
            "for rule 'national-body', 'count' takes 1 argument, not 2",
            "write count(xs) or count(x in xs: condition)",
            "count(responsible_pct.practices, 2)",
        ),
        (
            "max_by(responsible_pct.practices, sha) is none",
            "E-unknown-attribute",
            "for rule 'national-body', unknown attribute 'sha' on practice",
            None,
            "sha",
        ),
        (
            "responsible_pct.population > 10",
            "W-unguarded-optional",
            "for rule 'national-body', "
            "'responsible_pct.population' may be none in '>', which is then unknown",
            "guard it first: 'responsible_pct.population is not none and …'",
            "responsible_pct.population",
        ),
        (
            "responsible_pct.sha",
            "E-type",
            "for rule 'national-body', 'when' must be true or false, "
            "but 'responsible_pct.sha' is a sha (or none)",
            "compare it, e.g. 'x is not none' or 'x == y'",
            "responsible_pct.sha",
        ),
    ],
)
def test_one_mistake_one_diagnostic(
    when: str,
    code: str,
    message: str,
    help: str | None,
    text: str,
) -> None:
    _, problems = check(when)
    if code == "E-unknown-attribute" and help is None:
        # max_by's candidates are the element kind's attributes: none is close to 'sha'.
        assert len(problems) == 1 and problems[0].help is not None
        help = problems[0].help
    expect(problems, code, message, help, text)


@pytest.mark.parametrize(
    "when",
    [
        "case.purchaser is not none and within(case.purchaser, case.purchaser)",
        "responsible_pct.population is none or responsible_pct.population > 10",
        "not (responsible_pct.population is none) and responsible_pct.population > 10",
        "if responsible_pct.population is not none then responsible_pct.population > 1 else false",
        "responsible_pct.population is not none and responsible_pct.population > 10",
        "case.purchaser.sha.scg is not none and case.purchaser.sha.scg in "
        "case.service.commissioned_by",
        "code(responsible_pct) == '5NT' and kind(responsible_pct.sha) == 'sha'"
        " and within(responsible_pct, responsible_pct.sha)",
        "responsible_pct.population == 3 and responsible_pct.population > 1",
    ],
)
def test_guards_silence_the_optional_warning(when: str) -> None:
    _, problems = check(when)
    assert problems == []


def test_when_guards_then() -> None:
    _, problems = check("responsible_pct is not none", "responsible_pct", output="pct")
    assert problems == []
    _, problems = check(None, "responsible_pct", output="pct")
    expect(
        problems,
        "E-type",
        "for rule 'national-body', 'then' may be none, but the output is pct",
        "declare 'output: pct?', or guard it in 'when': responsible_pct is not none",
        "responsible_pct",
    )


def test_a_set_where_one_node_is_needed() -> None:
    _, problems = check(None, "responsible_pct.sha.pcts")
    expect(
        problems,
        "E-type",
        "for rule 'national-body', 'then' gives a set of pct, but the output is pct?",
        "pick one node with only(...) or max_by(...)",
        "responsible_pct.sha.pcts",
    )
    _, problems = check(None, "max_by(responsible_pct.sha.pcts, population)")
    assert problems == []


def test_union_outputs() -> None:
    assert parse_output_type("pct|scg?") == Type("pct|scg", optional=True)
    assert parse_output_type("pct|set[scg]") is None
    _, problems = check(None, "responsible_pct.sha.scg", output="pct|scg?")
    assert problems == []
    _, problems = check(None, "responsible_pct.sha", output="pct|scg?")
    assert [p.code for p in problems] == ["E-type"]


def test_type_algebra() -> None:
    assert unify(Type("int"), Type("number")) == Type("number")
    assert unify(Type("pct"), Type("scg", optional=True)) == Type("pct|scg", optional=True)
    assert unify(Type("pct"), Type("string")) is None
    assert fits(Type("int"), Type("number")) and not fits(Type("number"), Type("int"))
    assert fits(Type("pct"), Type("pct|scg")) and not fits(Type("pct|scg"), Type("pct"))
    assert not fits(Type("pct", is_set=True), Type("pct"))


def test_facts() -> None:
    x = _expr("a.b.c")
    assert facts_if_true(_expr("a.b.c is not none and d > 1")) >= {x, _expr("a.b"), _expr("a")}
    assert facts_if_false(_expr("a.b.c is none or d is none")) >= {x, _expr("d")}
    assert facts_if_true(_expr("a is not none or b is not none")) == frozenset()


def test_passes_run_alone() -> None:
    stages = default_stages()
    assert stages.policy is not None and stages.checked is not None
    schema, case_schema = stages.checked.schema, stages.checked.case_schema
    state = run_passes(stages.policy, schema, case_schema, PASSES[:1])
    assert parse_expressions in PASSES and state.refs == {} and state.decisions
    state = run_passes(
        stages.policy, schema, case_schema, (parse_expressions, resolve_declarations, resolve_names)
    )
    assert state.refs and state.types == {}


def test_cycles_are_named_and_order_falls_back_to_file_order() -> None:
    stages = default_stages()
    assert stages.checked is not None
    bundle = with_rule(
        "cluster is not none", "cluster", output="cluster?", decision="responsible_pct"
    )
    state = run_passes(bundle, stages.checked.schema, stages.checked.case_schema)
    cycles = [d for d in state.diagnostics if d.code == "E-decision-cycle"]
    assert [d.message for d in cycles] == [
        "decision 'cluster' depends on itself: cluster → responsible_pct → cluster",
    ]
    assert check_dependencies in PASSES
    assert state.order == [d.name for d in state.decisions]


def test_for_must_bind_a_name() -> None:
    _, problems = check("g is not none", "none", decision="lead_pct", for_="commissioning_group")
    assert [(p.code, p.message) for p in problems][:1] == [
        ("E-syntax", "for decision 'lead_pct', 'for' must read 'name in collection'")
    ]
