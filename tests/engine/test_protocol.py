"""The decision protocol (protocol.py): hit policies, effective ranges, rule results, which rules
can decide; and that every evaluation backend handles every kind of expression node."""

from __future__ import annotations

import datetime as dt

import pytest

from pctrules.evaluation import codegen, interpret, vector
from pctrules.evaluation.protocol import Hit, Match, Period, plan_decision, resolve_hit
from pctrules.evaluation.runtime import UNKNOWN, RuleError
from pctrules.language import ast
from pctrules.language.check import infer
from tests.engine.conftest import MakeBundle

# -- hit policies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "matches", "value", "rules"),
    [
        ("first", [Match("a", 1), Match("b", 2)], 1, ("a",)),
        ("priority", [Match("a", 1, 1), Match("b", 2, 5), Match("c", 3, 2)], 2, ("b",)),
        ("unique", [Match("a", 1)], 1, ("a",)),
        ("any", [Match("a", "5NT"), Match("b", "5NT")], "5NT", ("a", "b")),
        ("collect", [Match("a", 1), Match("b", 1), Match("c", 2)], (1, 1, 2), ("a", "b", "c")),
    ],
)
def test_hit_policies(
    policy: str, matches: list[Match], value: object, rules: tuple[str, ...]
) -> None:
    assert resolve_hit(policy, matches) == Hit(value, rules)


@pytest.mark.parametrize(
    ("policy", "matches", "message"),
    [
        (
            "unique",
            [Match("a", 1), Match("b", 1), Match("c", 2)],
            "rules 'a', 'b' and 'c' all matched; hit policy 'unique' allows only one",
        ),
        (
            "any",
            [Match("a", "5NT"), Match("b", "5HG")],
            "rules 'a' and 'b' matched with different results "
            "\\('a' gives '5NT', 'b' gives '5HG'\\)",
        ),
    ],
)
def test_hit_conflicts_name_every_rule(policy: str, matches: list[Match], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        resolve_hit(policy, matches)


def test_any_tells_one_from_true() -> None:
    with pytest.raises(RuleError):
        resolve_hit("any", [Match("a", 1), Match("b", True)])


# -- effective ranges -----------------------------------------------------------------------------


def test_a_period_holds_on_both_of_its_ends() -> None:
    p = Period(dt.date(2005, 1, 1), dt.date(2010, 12, 31))
    assert [
        p.contains(dt.date(*d))
        for d in [(2004, 12, 31), (2005, 1, 1), (2010, 12, 31), (2011, 1, 1)]
    ] == [False, True, True, False]
    assert list(p.bounds()) == [dt.date(2005, 1, 1).toordinal(), dt.date(2011, 1, 1).toordinal()]
    assert p.why_not(dt.date(2011, 1, 1)) == (
        "not in effect on 2011-01-01 (in effect 2005-01-01 to 2010-12-31)"
    )
    open_end = Period(dt.date(2005, 1, 1), None)
    assert open_end.contains(dt.date.max) and list(open_end.bounds()) == [
        dt.date(2005, 1, 1).toordinal()
    ]
    assert open_end.ordinals() == (dt.date(2005, 1, 1).toordinal(), dt.date.max.toordinal())
    assert Period.of(None) is None


# -- plans ----------------------------------------------------------------------------------------

RULES = """\
decision: d
hit: {hit}
rules:
  - id: a
    when: case.n is not none and case.n > 1
    then: case.n
  - id: named
    when: case.n is not none
    then:
      twice: case.n * 2
      none: case.note
  - id: always
  - id: after
    then: 1
"""


def test_under_first_hit_the_rules_after_one_that_always_matches_cannot_decide(
    tiny: MakeBundle,
) -> None:
    engine = tiny({"d.yaml": RULES.format(hit="first")})
    plan = plan_decision(engine.checked.decisions[0])
    assert [r.id for r in plan.all_rules] == ["a", "named", "always", "after"]
    assert [r.id for r in plan.rules] == ["a", "named", "always"]
    collect = plan_decision(tiny({"d.yaml": RULES.format(hit="collect")}).checked.decisions[0])
    assert [r.id for r in collect.rules] == ["a", "named", "always", "after"]


def test_a_rules_result_is_settled_named_or_true(tiny: MakeBundle) -> None:
    plan = plan_decision(tiny({"d.yaml": RULES.format(hit="first")}).checked.decisions[0])
    a, named, always, _ = plan.all_rules
    assert a.result([UNKNOWN]) is None and a.result([3]) == 3
    assert named.result([4, UNKNOWN]) == {"twice": 4, "none": None}
    assert always.result([]) is True and always.thens == ()
    assert a.matched(3).outcome == "matched" and a.matched(3).rule == "a"


# -- one dispatch, every node ---------------------------------------------------------------------

BACKENDS = {
    "compiled (codegen.ExpressionCompiler)": codegen.ExpressionCompiler,
    "traced (interpret._Evaluator)": interpret._Evaluator,
    "columns (vector.Vectoriser)": vector.Vectoriser,
    "checker (infer._Typer)": infer._Typer,
    "printer (ast._Unparser)": ast._Unparser,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("node", ast.node_classes(), ids=lambda c: c.__name__)
def test_every_backend_handles_every_node(backend: str, node: type[ast.Expr]) -> None:
    """A new kind of expression node fails here until each backend says what it does with it
    (the column backend may decline it: its method then raises Unsupported, and the decision
    goes to the grouped path)."""
    cls = BACKENDS[backend]
    assert issubclass(cls, ast.NodeVisitor)
    assert callable(getattr(cls, f"visit_{node.__name__}", None)), (
        f"{backend} has no visit_{node.__name__}"
    )
