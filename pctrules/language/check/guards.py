"""Checker, guard facts: which sub-expressions a condition proves not none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pctrules.language import ast
from pctrules.language.check.types import NONE
from pctrules.language.schema import Type

if TYPE_CHECKING:
    pass


def _not_none_chain(node: ast.Expr) -> Iterator[ast.Expr]:
    """A value that is not none, and every path it was reached through (a hop from none is none;
    so are `code`, `name` and `kind` of none)."""
    yield node
    while True:
        if isinstance(node, ast.Attribute):
            node = node.obj
        elif isinstance(node, ast.Call) and node.func in ("code", "name", "kind") and node.args:
            node = node.args[0]
        else:
            return
        yield node


def facts_if_true(node: ast.Expr) -> frozenset[ast.Expr]:
    """The sub-expressions known not to be none when `node` is true."""
    if isinstance(node, ast.IsNone) and node.negated:
        return frozenset(_not_none_chain(node.operand))
    if isinstance(node, ast.Compare):
        if node.op in ("<", "<=", ">", ">="):
            return frozenset([*_not_none_chain(node.left), *_not_none_chain(node.right)])
        if node.op == "!=" and _is_none_literal(node.right):
            return frozenset(_not_none_chain(node.left))
        if node.op == "==" and _is_value_literal(node.right):
            return frozenset(_not_none_chain(node.left))
        if node.op == "==" and _is_value_literal(node.left):
            return frozenset(_not_none_chain(node.right))
        return frozenset()
    if isinstance(node, ast.Membership) and not node.negated:
        return frozenset([*_not_none_chain(node.element), *_not_none_chain(node.collection)])
    if isinstance(node, ast.BoolOp):
        parts = [facts_if_true(o) for o in node.operands]
        if node.op == "and":
            return frozenset().union(*parts)
        return frozenset.intersection(*parts)
    if isinstance(node, ast.Not):
        return facts_if_false(node.operand)
    return frozenset()


def facts_if_false(node: ast.Expr) -> frozenset[ast.Expr]:
    """The sub-expressions known not to be none when `node` is false."""
    if isinstance(node, ast.IsNone) and not node.negated:
        return frozenset(_not_none_chain(node.operand))
    if isinstance(node, ast.BoolOp):
        parts = [facts_if_false(o) for o in node.operands]
        if node.op == "or":
            return frozenset().union(*parts)
        return frozenset.intersection(*parts)
    if isinstance(node, ast.Not):
        return facts_if_true(node.operand)
    return frozenset()


def quote(node: ast.Expr) -> str:
    """An expression as a message shows it: in quotes, unless it is quoted text already."""
    text = ast.unparse(node)
    if isinstance(node, ast.Literal) and isinstance(node.value, str):
        return text
    return f"'{text}'"


def _is_none_literal(node: ast.Expr) -> bool:
    return isinstance(node, ast.Literal) and node.value is None


def _is_value_literal(node: ast.Expr) -> bool:
    return isinstance(node, ast.CodeLiteral) or (
        isinstance(node, ast.Literal) and node.value is not None
    )


def literal_type(value: ast.LiteralValue) -> Type:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return Type("bool")
    if isinstance(value, int):
        return Type("int")
    if isinstance(value, float):
        return Type("number")
    if isinstance(value, str):
        return Type("string")
    return Type("date")
