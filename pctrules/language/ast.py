"""AST stage: the expression tree as frozen dataclasses, each node carrying its source span."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from pctrules.language.source import Span

LiteralValue = int | float | str | bool | dt.date | None


FUNCTIONS: dict[str, str] = {
    "count": "count(xs) or count(x in xs: condition)",
    "any": "any(x in xs: condition)",
    "all": "all(x in xs: condition)",
    "sum": "sum(xs) or sum(e for x in xs)",
    "min": "min(xs) or min(e for x in xs)",
    "max": "max(xs) or max(e for x in xs)",
    "max_by": "max_by(xs, attribute)",
    "min_by": "min_by(xs, attribute)",
    "only": "only(xs)",
    "within": "within(x, y)",
    "code": "code(x)",
    "name": "name(x)",
    "kind": "kind(x)",
    "exists": "exists(x)",
}
"""The closed list of functions, each with the form its help line shows."""


_NODE_IDS = itertools.count(1)


@dataclass(frozen=True)
class Expr:
    """Base of every expression node. The span is left out of equality so that tests can
    compare trees parsed from differently laid-out text.

    `nid` is the node's own number, given when it is made and kept when it is pickled: the
    checker's tables (types, refs) are keyed by it, since equal nodes (two rules' `case.n`)
    must not share an entry and `id()` does not survive a copy to another process."""

    span: Span = field(compare=False, repr=False, kw_only=True)
    nid: int = field(default_factory=lambda: next(_NODE_IDS), init=False, compare=False, repr=False)


@dataclass(frozen=True)
class Literal(Expr):
    """A number, text, date, `true`, `false` or `none`."""

    value: LiteralValue


@dataclass(frozen=True)
class CodeLiteral(Expr):
    """`kind('code')`: an organisation of a declared kind, named by its code, e.g. `sha('Q39')`.

    A constant, like a date: the same code on every day. Whether the organisation exists on
    the as-of date is `exists(sha('Q39'))`; the checker looks the code up in the data."""

    kind: str
    code: str
    kind_span: Span = field(compare=False, repr=False)
    code_span: Span = field(compare=False, repr=False)

    @property
    def value(self) -> str:
        """The value it gives at run time: its code (nodes are their codes)."""
        return self.code


@dataclass(frozen=True)
class ListExpr(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Name(Expr):
    """`case`, a decision name, a parameter group, or a variable bound by a quantifier."""

    id: str


@dataclass(frozen=True)
class Attribute(Expr):
    """`obj.attr`: a case field, a node attribute, or a hop along a relation."""

    obj: Expr
    attr: str
    attr_span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Call(Expr):
    """`func(args…)`: one of the language's closed list of functions."""

    func: str
    args: tuple[Expr, ...]
    func_span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class BinderCall(Expr):
    """`func(var in collection: condition)`: `any`, `all` and `count` with a condition."""

    func: str
    var: str
    collection: Expr
    condition: Expr
    func_span: Span = field(compare=False, repr=False)
    var_span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Filter(Expr):
    """`[var in collection: condition]`: the members of a set for which the condition holds."""

    var: str
    collection: Expr
    condition: Expr
    var_span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Generator(Expr):
    """`func(element for var in collection)`: `sum`, `min`, `max` or `count` over a set."""

    func: str
    element: Expr
    var: str
    collection: Expr
    func_span: Span = field(compare=False, repr=False)
    var_span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Compare(Expr):
    op: str  # one of == != < <= > >=
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Membership(Expr):
    """`element in collection` or `element not in collection`."""

    negated: bool
    element: Expr
    collection: Expr


@dataclass(frozen=True)
class IsNone(Expr):
    """`operand is none` or `operand is not none`."""

    negated: bool
    operand: Expr


@dataclass(frozen=True)
class BoolOp(Expr):
    """`a and b and …` or `a or b or …`, flattened so a trace can name the deciding operand."""

    op: str  # "and" | "or"
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True)
class Arith(Expr):
    op: str  # one of + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Neg(Expr):
    operand: Expr


@dataclass(frozen=True)
class Conditional(Expr):
    """`if test then body else orelse`."""

    test: Expr
    body: Expr
    orelse: Expr


def iter_child_nodes(node: Expr) -> Iterator[Expr]:
    """The direct sub-expressions of a node, in source order."""
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, Expr):
            yield value
        elif isinstance(value, tuple):
            yield from (item for item in value if isinstance(item, Expr))


def walk(node: Expr) -> Iterator[Expr]:
    """Every node of a tree, parents before children (iteratively: trees may be deep)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(iter_child_nodes(current))))


def depth(node: Expr) -> int:
    """The number of levels in a tree (a lone literal is 1)."""
    deepest = 0
    stack: list[tuple[Expr, int]] = [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in iter_child_nodes(current))
    return deepest


def node_classes() -> tuple[type[Expr], ...]:
    """Every kind of expression node: what each backend must handle (a test holds them to it)."""
    return tuple(
        c
        for c in globals().values()
        if isinstance(c, type) and issubclass(c, Expr) and c is not Expr
    )


class NodeVisitor:
    """Calls `visit_<ClassName>` for a node, or `generic_visit` when there is none (jinja's way),
    the one dispatch of every pass and backend. The method for each node class is looked up
    once per visitor class, not per node: the traced evaluator visits every node of every case."""

    _methods: ClassVar[dict[type[Expr], Callable[..., Any]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._methods = {}

    def visit(self, node: Expr, *args: Any, **kwargs: Any) -> Any:
        method = self._methods.get(node.__class__)
        if method is None:
            method = (
                getattr(type(self), f"visit_{type(node).__name__}", None)
                or type(self).generic_visit
            )
            self._methods[node.__class__] = method
        return method(self, node, *args, **kwargs)

    def generic_visit(self, node: Expr, *args: Any, **kwargs: Any) -> Any:
        for child in iter_child_nodes(node):
            self.visit(child, *args, **kwargs)
        return None


NodeVisitor._methods = {}


# Binding strength of each node kind, for printing parentheses only where they are needed.
_OR, _AND, _NOT, _CMP, _SUM, _PRODUCT, _UNARY, _ATOM = range(8)


class _Unparser(NodeVisitor):
    def text(self, node: Expr, floor: int) -> str:
        strength, out = self.visit(node)
        return f"({out})" if strength < floor else out

    def visit_Literal(self, node: Literal) -> tuple[int, str]:
        value = node.value
        if value is None:
            return _ATOM, "none"
        if isinstance(value, bool):
            return _ATOM, "true" if value else "false"
        if isinstance(value, str):
            return _ATOM, quote_text(value)
        if isinstance(value, dt.date):
            return _ATOM, value.isoformat()
        if isinstance(value, float):
            # Decimal keeps every digit of the shortest repr, without exponent notation.
            text = format(decimal.Decimal(repr(value)), "f")
            return (_UNARY if value < 0 else _ATOM), text if "." in text else text + ".0"
        return (_UNARY if value < 0 else _ATOM), str(value)

    def visit_CodeLiteral(self, node: CodeLiteral) -> tuple[int, str]:
        return _ATOM, f"{node.kind}({quote_text(node.code)})"

    def visit_ListExpr(self, node: ListExpr) -> tuple[int, str]:
        return _ATOM, "[" + ", ".join(self.text(i, _OR) for i in node.items) + "]"

    def visit_Name(self, node: Name) -> tuple[int, str]:
        return _ATOM, node.id

    def visit_Attribute(self, node: Attribute) -> tuple[int, str]:
        return _ATOM, f"{self.text(node.obj, _ATOM)}.{node.attr}"

    def visit_Call(self, node: Call) -> tuple[int, str]:
        return _ATOM, f"{node.func}(" + ", ".join(self.text(a, _OR) for a in node.args) + ")"

    def visit_BinderCall(self, node: BinderCall) -> tuple[int, str]:
        coll, cond = self.text(node.collection, _SUM), self.text(node.condition, _OR)
        return _ATOM, f"{node.func}({node.var} in {coll}: {cond})"

    def visit_Filter(self, node: Filter) -> tuple[int, str]:
        coll, cond = self.text(node.collection, _SUM), self.text(node.condition, _OR)
        return _ATOM, f"[{node.var} in {coll}: {cond}]"

    def visit_Generator(self, node: Generator) -> tuple[int, str]:
        element, coll = self.text(node.element, _OR), self.text(node.collection, _OR)
        return _ATOM, f"{node.func}({element} for {node.var} in {coll})"

    def visit_Compare(self, node: Compare) -> tuple[int, str]:
        return _CMP, f"{self.text(node.left, _SUM)} {node.op} {self.text(node.right, _SUM)}"

    def visit_Membership(self, node: Membership) -> tuple[int, str]:
        op = "not in" if node.negated else "in"
        return _CMP, f"{self.text(node.element, _SUM)} {op} {self.text(node.collection, _SUM)}"

    def visit_IsNone(self, node: IsNone) -> tuple[int, str]:
        op = "is not none" if node.negated else "is none"
        return _CMP, f"{self.text(node.operand, _SUM)} {op}"

    def visit_BoolOp(self, node: BoolOp) -> tuple[int, str]:
        strength = _OR if node.op == "or" else _AND
        parts = [self.text(o, strength + 1) for o in node.operands]
        return strength, f" {node.op} ".join(parts)

    def visit_Not(self, node: Not) -> tuple[int, str]:
        return _NOT, f"not {self.text(node.operand, _NOT)}"

    def visit_Arith(self, node: Arith) -> tuple[int, str]:
        strength = _SUM if node.op in "+-" else _PRODUCT
        left, right = self.text(node.left, strength), self.text(node.right, strength + 1)
        return strength, f"{left} {node.op} {right}"

    def visit_Neg(self, node: Neg) -> tuple[int, str]:
        return _UNARY, f"-{self.text(node.operand, _UNARY)}"

    def visit_Conditional(self, node: Conditional) -> tuple[int, str]:
        test, body = self.text(node.test, _OR), self.text(node.body, _OR)
        return _OR - 1, f"if {test} then {body} else {self.text(node.orelse, _OR - 1)}"


def quote_text(value: str) -> str:
    """Text as a literal of the language: in single quotes, escaped so that it reads back the
    same (line breaks and tabs too, since a literal is one line)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + escaped.replace("\n", "\\n").replace("\t", "\\t") + "'"


def unparse(node: Expr) -> str:
    """The expression as canonical source text (parsing it again gives an equal tree)."""
    return _Unparser().text(node, _OR - 1)
