"""The value semantics of runtime.py, table by table: none, unknown, operators, functions, hits."""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import pytest

from pctrules.evaluation import runtime as rt
from pctrules.evaluation.runtime import UNKNOWN, RuleError

T, F, U, N = True, False, UNKNOWN, None

# Kleene's tables; none counts as unknown in `and`, `or` and `not`.
AND = [
    (T, T, T),
    (T, F, F),
    (T, U, U),
    (F, U, F),
    (U, F, F),
    (U, U, U),
    (F, F, F),
    (N, T, U),
    (N, F, F),
]
OR = [
    (T, T, T),
    (T, F, T),
    (T, U, T),
    (F, U, U),
    (U, T, T),
    (U, U, U),
    (F, F, F),
    (N, T, T),
    (N, F, U),
]


@pytest.mark.parametrize(("a", "b", "want"), AND)
def test_and(a: object, b: object, want: object) -> None:
    assert rt.and_lazy([lambda: a, lambda: b]) is want


@pytest.mark.parametrize(("a", "b", "want"), OR)
def test_or(a: object, b: object, want: object) -> None:
    assert rt.or_lazy([lambda: a, lambda: b]) is want


@pytest.mark.parametrize(("a", "want"), [(T, F), (F, T), (U, U), (N, U)])
def test_not(a: object, want: object) -> None:
    assert rt.not_(a) is want


def test_and_stops_at_the_first_false_and_or_at_the_first_true() -> None:
    def boom() -> object:
        raise RuleError("evaluated")

    assert rt.and_lazy([lambda: U, lambda: F, boom]) is F
    assert rt.or_lazy([lambda: U, lambda: T, boom]) is T
    with pytest.raises(RuleError):
        rt.and_lazy([lambda: U, boom])


@pytest.mark.parametrize(
    ("op", "a", "b", "want"),
    [
        ("==", None, None, True),
        ("!=", None, None, False),
        ("==", "5NT", None, False),
        ("!=", "5NT", None, True),
        ("==", U, 1, U),
        ("!=", 1, U, U),
        ("<", None, 1, U),
        ("<=", 1, None, U),
        (">", U, 1, U),
        (">=", 2, 1, True),
        ("<", dt.date(2011, 4, 1), dt.date(2011, 4, 2), True),
        ("<", "A", "B", True),
        ("<", 1, 1.5, True),
        (">=", 1, 1.0, True),
    ],
)
def test_compare(op: str, a: object, b: object, want: object) -> None:
    assert rt.compare(op, a, b) is want


def test_ordering_unlike_values_is_a_rule_error() -> None:
    with pytest.raises(RuleError, match="cannot compare 'a' with 1 using '<'"):
        rt.lt("a", 1)


@pytest.mark.parametrize(
    ("xs", "x", "want"),
    [
        (frozenset({"5NT"}), "5NT", True),
        (frozenset({"5NT"}), "5HG", False),
        (frozenset(), "5NT", False),
        (None, "5NT", U),
        (frozenset({"5NT"}), None, U),
        (U, "5NT", U),
        (("a", "b"), "b", True),
    ],
)
def test_membership(xs: object, x: object, want: object) -> None:
    assert rt.contains(xs, x) is want
    assert rt.not_contains(xs, x) is rt.not_(want)


@pytest.mark.parametrize(("a", "want"), [(None, True), ("x", False), (U, U)])
def test_is_none(a: object, want: object) -> None:
    assert rt.is_none(a) is want
    assert rt.is_not_none(a) is rt.not_(want)


@pytest.mark.parametrize(
    ("op", "a", "b", "want"),
    [
        ("+", 1, 2, 3),
        ("-", 1, 2, -1),
        ("*", 2, 2.5, 5.0),
        ("/", 3, 2, 1.5),
        ("+", None, 1, U),
        ("*", 1, U, U),
        ("+", "a", "b", "ab"),
        ("+", dt.date(2011, 2, 28), 1, dt.date(2011, 3, 1)),
        ("-", dt.date(2011, 3, 1), dt.date(2011, 2, 1), 28),
    ],
)
def test_arith(op: str, a: object, b: object, want: object) -> None:
    assert rt.arith(op, a, b) == want
    assert type(rt.arith(op, a, b)) is type(want)


@pytest.mark.parametrize(
    ("op", "a", "b", "message"),
    [
        ("/", 1, 0, "division by zero"),
        ("+", "a", 1, "cannot apply '\\+'"),
        ("*", True, 2, "cannot apply '\\*'"),
    ],
)
def test_arith_errors(op: str, a: object, b: object, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        rt.arith(op, a, b)


def test_neg() -> None:
    assert rt.neg(2) == -2
    assert rt.neg(None) is U
    with pytest.raises(RuleError):
        rt.neg("x")


@pytest.mark.parametrize(
    ("fn", "arg", "want"),
    [
        (rt.count, frozenset({"a", "b"}), 2),
        (rt.count, None, U),
        (rt.sum_of, [1, 2, 3], 6),
        (rt.sum_of, [], 0),
        (rt.sum_of, [1, None], U),
        (rt.min_of, [3, 1], 1),
        (rt.min_of, [], None),
        (rt.max_of, [3, 1], 3),
        (rt.max_of, [1, U], U),
        (rt.max_of, None, U),
        (rt.only, frozenset(), None),
        (rt.only, frozenset({"5NT"}), "5NT"),
        (rt.only, None, U),
        (rt.any_of, [F, U, T], T),
        (rt.any_of, [F, U], U),
        (rt.any_of, [], F),
        (rt.all_of, [T, U, F], F),
        (rt.all_of, [T, U], U),
        (rt.all_of, [], T),
        (rt.count_true, [T, U, F, T], 2),
        (rt.code, "5NT", "5NT"),
        (rt.code, None, None),
    ],
)
def test_functions(fn: Any, arg: object, want: object) -> None:
    got = fn(arg)
    assert got == want and type(got) is type(want)


def test_only_names_every_member_in_code_order() -> None:
    with pytest.raises(RuleError, match="there are 3: '5HG', '5NT', 'Q31'"):
        rt.only(frozenset({"5NT", "Q31", "5HG"}))


def test_members_are_visited_in_code_order() -> None:
    assert list(rt.members(frozenset({"b", "c", "a"}))) == ["a", "b", "c"]
    assert list(rt.members(("b", "a"))) == ["b", "a"]


class _Graph:
    """Just what max_by, within, name, kind and exists ask of an OrgGraph."""

    def __init__(self, population: dict[str, int | None]) -> None:
        self.population = population

    def attr(self, code: str, name: str, on: dt.date) -> object:
        return self.population.get(code)

    def within(self, x: str, y: str, on: dt.date) -> bool:
        return (x, y) == ("P1", "5NT")

    def name(self, code: str) -> str | None:
        return {"5NT": "Manchester"}.get(code)

    def kind(self, code: str) -> str | None:
        return {"5NT": "pct"}.get(code)

    def exists(self, code: str, on: dt.date) -> bool:
        return code == "5NT"


DAY = dt.date(2011, 9, 1)


@pytest.mark.parametrize(
    ("population", "largest", "smallest", "tied"),
    [
        ({"A": 10, "B": 30, "C": 20}, "B", "A", ("B",)),
        ({"A": 10, "B": 30, "C": 30}, "B", "A", ("B", "C")),  # tie: the lowest code
        ({"A": None, "B": 5}, "B", "B", ("B",)),  # none ranks after values
        ({"B": None, "A": None}, "A", "A", ("A", "B")),  # all none: the lowest code
        ({}, None, None, ()),
    ],
)
def test_max_by_and_min_by(
    population: dict[str, int | None],
    largest: str | None,
    smallest: str | None,
    tied: tuple[str, ...],
) -> None:
    g: Any = _Graph(population)
    xs = frozenset(population)
    assert rt.max_by(g, xs, "population", DAY) == largest
    assert rt.min_by(g, xs, "population", DAY) == smallest
    steps = rt.max_by_steps(g, xs, "population", DAY)
    assert steps is not None and steps.winner == largest and steps.tied == tied
    assert [s.place for s in steps.ranking] == list(range(1, len(population) + 1))
    assert rt.max_by(g, None, "population", DAY) is U


def test_max_by_steps_explains_a_tie_break() -> None:
    g: Any = _Graph({"5NT": 5, "5HG": 5, "5F5": 1})
    steps = rt.max_by_steps(g, frozenset({"5NT", "5HG", "5F5"}), "population", DAY)
    assert steps is not None
    assert steps.explain("population", largest=True) == (
        "'5HG', '5NT' share the largest population (5); '5HG' has the lowest code"
    )


def test_graph_functions_on_none() -> None:
    g: Any = _Graph({})
    assert rt.within(g, "P1", "5NT", DAY) is True
    assert rt.within(g, None, "5NT", DAY) is U
    assert rt.name(g, "5NT") == "Manchester" and rt.name(g, None) is None
    assert rt.kind(g, "5NT") == "pct" and rt.kind(g, None) is None
    assert rt.exists(g, "5NT", DAY) is True and rt.exists(g, None, DAY) is False


def test_unknown_is_one_object_without_a_truth_value() -> None:
    assert pickle.loads(pickle.dumps(UNKNOWN)) is UNKNOWN
    assert type(UNKNOWN)() is UNKNOWN
    with pytest.raises(TypeError):
        bool(UNKNOWN)
    assert rt.settle(UNKNOWN) is None and rt.settle(0) == 0


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (frozenset({"b", "a"}), ["a", "b"]),
        (dt.date(2011, 4, 1), "2011-04-01"),
        (None, None),
        (U, None),
        (("x", frozenset({"2", "1"})), ["x", ["1", "2"]]),
        ({"k": U}, {"k": None}),
        (1.5, 1.5),
        (True, True),
    ],
)
def test_json_value(value: object, want: object) -> None:
    assert rt.json_value(value) == want


def test_unavailable_field_raises_when_read() -> None:
    v = rt.Unavailable("P1", "no practice register is loaded", "import one")
    with pytest.raises(RuleError, match="no practice register is loaded; import one"):
        rt.read_field(v)
    assert rt.read_field("P1") == "P1"
