"""Property tests: the parser only ever gives trees or diagnostics, and printing round-trips."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from pctrules.language import ast
from pctrules.language.parser import parse_expression
from pctrules.language.source import EmbeddedText

NAMES = st.sampled_from(["case", "a", "b", "xs", "responsible_pct", "population", "pct"])
LITERALS = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.sampled_from(
        [
            "true",
            "false",
            "none",
            "2011-04-01",
            "0.5",
            "'5NT'",
            '"x y"',
            "pct('5NT')",
            'sha ( "Q\\"39" )',
            "count('x')",
            "x('a\\nb')",
        ]
    ),
)


def _expressions() -> st.SearchStrategy[str]:
    atoms = st.one_of(NAMES, LITERALS, st.builds(lambda n, a: f"{n}.{a}", NAMES, NAMES))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(
                lambda a, op, b: f"{a} {op} {b}",
                inner,
                st.sampled_from(["and", "or", "==", "!=", "<", "+", "*", "in", "not in"]),
                inner,
            ),
            st.builds(lambda a: f"not {a}", inner),
            st.builds(lambda a: f"({a})", inner),
            st.builds(lambda a: f"{a} is not none", inner),
            st.builds(lambda a, b, c: f"if {a} then {b} else {c}", inner, inner, inner),
            st.builds(lambda a: f"count({a})", inner),
            st.builds(lambda v, a, b: f"any({v} in {a}: {b})", NAMES, inner, inner),
            st.builds(lambda v, a, b: f"[{v} in {a}: {b}]", NAMES, inner, inner),
            st.builds(lambda a, v, b: f"sum({a} for {v} in {b})", inner, NAMES, inner),
            st.builds(lambda xs: "[" + ", ".join(xs) + "]", st.lists(inner, max_size=3)),
        )

    return st.recursive(atoms, extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_expressions())
def test_generated_expressions_parse_and_round_trip(source: str) -> None:
    node, problems = parse_expression(source)
    if node is None:
        # Generated text can still be ungrammatical (e.g. `a < b < c`): then it must say why.
        assert problems and all(p.code in {"E-syntax", "E-limit"} for p in problems)
        return
    again, more = parse_expression(ast.unparse(node))
    assert not more and again == node


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=string.printable + "£é→", max_size=80))
def test_any_text_gives_a_tree_or_diagnostics(source: str) -> None:
    node, problems = parse_expression(source)
    assert (node is None) == bool(problems)
    for problem in problems:
        assert problem.span is not None and problem.message and problem.help


@settings(max_examples=300, deadline=None)
@given(_expressions(), st.data())
def test_mutated_expressions_give_a_tree_or_diagnostics(source: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(source)))
    mutation = data.draw(st.sampled_from(["delete", "insert", "swap"]))
    junk = data.draw(st.sampled_from([*"()[]'\".,:=!&|<>+-*/ ", "and", "in", "if"]))
    if mutation == "delete":
        mutated = source[:position] + source[position + 1 :]
    elif mutation == "insert":
        mutated = source[:position] + junk + source[position:]
    else:
        mutated = source[:position] + junk + source[position + 1 :]
    node, problems = parse_expression(mutated)
    assert (node is None) == bool(problems)


def test_positions_follow_the_embedding() -> None:
    # Text embedded at line 7, column 11 of some file: spans must point there, not to 1:1.
    text = "a and b == c"
    positions = tuple((7, 11 + i) for i in range(len(text) + 1))
    embedded = EmbeddedText(text, EmbeddedText.standalone(text, "x.yaml").source, positions)
    node, _ = parse_expression(embedded)
    assert isinstance(node, ast.BoolOp)
    compare = node.operands[1]
    assert (compare.span.line, compare.span.column, compare.span.end_column) == (7, 17, 23)
