"""Parser tests: the shape of trees, spans, syntax-error labels and the limits."""

from __future__ import annotations

import datetime as dt

import pytest

from pctrules.language import ast
from pctrules.language.parser import MAX_DEPTH, MAX_EXPRESSION_LENGTH, parse_expression


def parse(text: str) -> ast.Expr:
    node, problems = parse_expression(text)
    assert not problems, [p.message for p in problems]
    assert node is not None
    return node


@pytest.mark.parametrize(
    ("source", "canonical"),
    [
        ("case.person.practice.pct is not none", "case.person.practice.pct is not none"),
        ("a and b or not c", "a and b or not c"),
        ("a and (b or c)", "a and (b or c)"),
        ("not (a == b)", "not a == b"),
        ("a and b and c", "a and b and c"),
        ("1 + 2 * 3", "1 + 2 * 3"),
        ("(1 + 2) * 3", "(1 + 2) * 3"),
        ("1 - (2 - 3)", "1 - (2 - 3)"),
        ("x - -1", "x - -1"),
        ("if a then 1 else 2.5", "if a then 1 else 2.5"),
        ("(if a then 1 else 2) + 1", "(if a then 1 else 2) + 1"),
        ("any(x in xs: x.a > 2011-04-01)", "any(x in xs: x.a > 2011-04-01)"),
        ("all(x in xs: x.a)", "all(x in xs: x.a)"),
        ("[x in xs: x == 'y']", "[x in xs: x == 'y']"),
        ("sum(x.population for x in xs)", "sum(x.population for x in xs)"),
        ("max_by(xs, population)", "max_by(xs, population)"),
        ("f()", "f()"),
        ("a not in [\"x\", 'y']", "a not in ['x', 'y']"),
        ("x is none", "x is none"),
        ("'it\\'s'", "'it\\'s'"),
        ("true != false", "true != false"),
        ("a # a comment\n and b", "a and b"),
        ("sha('Q39')", "sha('Q39')"),
        ("pct ( \"5NT\" ).sha == sha('Q39')", "pct('5NT').sha == sha('Q39')"),
        ("x in [pct('5NT'), pct('5HG')]", "x in [pct('5NT'), pct('5HG')]"),
        ("pct('it\\'s\\n')", "pct('it\\'s\\n')"),
        ("'a\\tb'", "'a\\tb'"),
    ],
)
def test_parse_and_unparse(source: str, canonical: str) -> None:
    node = parse(source)
    assert ast.unparse(node) == canonical
    assert parse(canonical) == node


def test_precedence_builds_the_documented_tree() -> None:
    node = parse("not a == b or c and d")
    assert isinstance(node, ast.BoolOp) and node.op == "or"
    left, right = node.operands
    assert isinstance(left, ast.Not) and isinstance(left.operand, ast.Compare)
    assert isinstance(right, ast.BoolOp) and right.op == "and"


def test_literals_have_their_values() -> None:
    values = [parse(t) for t in ("42", "0.5", "'x'", "2011-04-01", "true", "false", "none")]
    assert [v.value for v in values if isinstance(v, ast.Literal)] == [
        42,
        0.5,
        "x",
        dt.date(2011, 4, 1),
        True,
        False,
        None,
    ]


def test_equality_ignores_spans() -> None:
    assert parse("a  and   b") == parse("a and b")
    assert parse("a and b") != parse("a or b")


def test_spans_are_exact() -> None:
    node = parse("case.person.practice.pctt == x")
    assert isinstance(node, ast.Compare)
    attr = node.left
    assert isinstance(attr, ast.Attribute)
    assert (attr.attr_span.column, attr.attr_span.end_column) == (22, 26)
    assert (node.span.line, node.span.column, node.span.end_column) == (1, 1, 31)


@pytest.mark.parametrize(
    ("source", "message", "column", "help_fragment"),
    [
        ("a = b", "'=' is not a comparison", 3, "'=='"),
        ("a && b", "'&&' is not an operator here", 3, "'and'"),
        ("a || b", "'||' is not an operator here", 3, "'or'"),
        ("!a", "'!' is not an operator here", 1, "'not'"),
        ("a == 'abc", "text is never closed", 6, "matching '"),
        ("f(a, b", "'(' is never closed", 2, "')'"),
        ("[a, b", "'[' is never closed", 1, "']'"),
        ("a and", "expression ends after 'and'", 3, "follow 'and'"),
        ("a +", "expression ends after '+'", 3, "follow '+'"),
        ("a < b < c", "comparisons cannot be chained", 7, "'and'"),
        ("a )", "')' has no matching '('", 3, "opening"),
        ("if a then b", "expression ends too soon", 11, "'else'"),
        ("any(x: y)", "expected 'name in collection' before ':'", 5, "any(x in xs"),
        ("x == 2011-02-30", "'2011-02-30' is not a valid date", 6, "YYYY-MM-DD"),
        ("", "expression is empty", 1, "write an expression"),
        ("a b", "unexpected 'b'", 3, "expected one of"),
        ("a $ b", "unexpected character '$'", 3, "remove it"),
    ],
)
def test_syntax_errors_are_labelled(
    source: str, message: str, column: int, help_fragment: str
) -> None:
    node, problems = parse_expression(source, rule="r1")
    assert node is None
    [problem] = problems
    assert problem.code == "E-syntax"
    assert problem.message == message
    assert problem.span is not None and problem.span.column == column
    assert problem.help is not None and help_fragment in problem.help
    assert problem.rule == "r1"


def test_length_limit() -> None:
    node, [problem] = parse_expression("a or " * (MAX_EXPRESSION_LENGTH // 5) + "b")
    assert node is None and problem.code == "E-limit"


def test_bracket_nesting_limit() -> None:
    deep = "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1)
    node, [problem] = parse_expression(deep)
    assert node is None and problem.code == "E-limit" and "nested" in problem.message


def test_operator_chain_depth_limit() -> None:
    node, [problem] = parse_expression(" + ".join(["1"] * (MAX_DEPTH + 5)))
    assert node is None and problem.code == "E-limit"


def test_flat_boolean_chains_are_not_deep() -> None:
    assert parse(" and ".join(["a"] * 500))


def test_a_code_literal_is_a_node_with_its_kind_and_code_and_their_places() -> None:
    node = parse("case.x == pct( '5NT' )")
    assert isinstance(node, ast.Compare)
    code = node.right
    assert isinstance(code, ast.CodeLiteral)
    assert (code.kind, code.code, code.value) == ("pct", "5NT", "5NT")
    assert (code.span.column, code.span.end_column) == (11, 23)
    assert (code.kind_span.column, code.kind_span.end_column) == (11, 14)
    assert (code.code_span.column, code.code_span.end_column) == (16, 21)


@pytest.mark.parametrize(
    ("source", "text"), [("count('x')", "x"), ("code('5NT')", "5NT"), ('name( "a b" )', "a b")]
)
def test_a_function_applied_to_text_stays_a_call(source: str, text: str) -> None:
    """`count('x')` is the function, given text (a type error the checker explains), not a
    code of a kind named 'count'."""
    node = parse(source)
    assert isinstance(node, ast.Call) and node.args == (ast.Literal(text, span=node.span),)


@pytest.mark.parametrize(
    "source", ["if ('a' == 'b') then 1 else 2", "not('x')", "x in ('a')", "x is('a')"]
)
def test_keywords_before_brackets_are_not_kinds(source: str) -> None:
    node, _ = parse_expression(source)
    assert node is None or not any(isinstance(n, ast.CodeLiteral) for n in ast.walk(node))


def test_text_that_only_looks_like_a_code_literal_is_not_one() -> None:
    # `f('a', 'b')`, `f('a' + 'b')` and `x.pct('a')` are calls or errors, not codes.
    assert isinstance(parse("f('a', 'b')"), ast.Call)
    assert isinstance(parse("f('a' + 'b')"), ast.Call)
    assert parse_expression("x.pct('a')")[0] is None
