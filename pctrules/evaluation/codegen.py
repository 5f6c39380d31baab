"""Compile stage, expressions: an expression tree becomes Python source text (the compiled backend).

`ExpressionCompiler` is a NodeVisitor with one `visit_<Node>` per expression class, giving the
text of a Python expression. The value semantics are runtime.py's: the text inlines the cheap,
certain cases (a hop, a case field, `is none`, `==` between values that cannot be unknown) and
calls runtime for the rest. What surrounds the expressions (which rules run, what a result is)
is compile.py's, from the decision protocol.

The generated names are the module's own (`_t1`, `v1`, `q1`, `H1`, `D_2011_04_01`): nothing
from the bundle is written into the source except as a `repr()` literal (issue 9).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator

from pctrules.language import ast
from pctrules.language.check.refs import (
    CaseField,
    DecisionRef,
    HopRef,
    NodeAttribute,
    ParamRef,
    VarRef,
)
from pctrules.language.check.state import CheckedBundle
from pctrules.language.check.types import is_node, kinds_of
from pctrules.language.schema import Type
from pctrules.language.source import Span

# Operators and functions by their names in the language: the generated text comes from these
# tables, never from the tree (the checker has already refused anything else).
_EQUALITY_OPS = {"==": "==", "!=": "!="}
_EQUALITY_CALLS = {"==": "eq", "!=": "ne"}
_ORDER_OPS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_ARITH_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div"}
_BOOL_OPS = {"and": "and", "or": "or"}
_ONE_ARGUMENT = {
    "count": "count",
    "only": "only",
    "code": "code",
    "sum": "sum_of",
    "min": "min_of",
    "max": "max_of",
}
_GRAPH_ARGUMENT = {"name": "name", "kind": "kind"}
_BY = {"max_by": "max_by", "min_by": "min_by"}
_BINDERS = {"any": "any", "all": "all", "count": "count"}
_AGGREGATES = {"sum": "sum_of", "min": "min_of", "max": "max_of"}

Tag = tuple[str | None, Span | None]
"""What a generated line evaluates: the rule (None: the decision itself) and the expression."""


class Writer:
    """Lines of generated Python, written as jinja's CodeGenerator writes them (`writeline`,
    `indent`, `outdent`): a line may carry a tag, which goes to the side table and never into
    the text."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, Tag | None]] = []
        self._level = 0

    def indent(self) -> None:
        self._level += 1

    def outdent(self, levels: int = 1) -> None:
        self._level -= levels

    def writeline(self, text: str, tag: Tag | None = None) -> None:
        self.lines.append(("    " * self._level + text, tag))


class Module:
    """What the expressions of a whole module share: constants, index bindings, the Python
    names of the language's variables, and the helper functions written so far."""

    def __init__(self, checked: CheckedBundle, unavailable: frozenset[str]) -> None:
        self.checked = checked
        self.unavailable = unavailable
        self.constants: dict[str, str] = {}
        self.bindings: dict[str, str] = {}
        self._binding_names: dict[tuple[str, str, str], str] = {}
        self._variables: dict[str, str] = {}
        self.helpers: list[Writer] = []
        self.node_fields = {
            ".".join(path): t for path, t in checked.case_schema.leaves() if is_node(t)
        }

    def variable(self, name: str) -> str:
        """The Python name of a variable of the language (`v1`, `v2`…), the same in every
        function: a quantifier's helper receives the enclosing variables under their names."""
        return self._variables.setdefault(name, f"v{len(self._variables) + 1}")

    def literal(self, value: object) -> str:
        if isinstance(value, dt.date):
            return self.date_constant(value)
        if isinstance(value, float) and not math.isfinite(value):
            # repr() gives 'inf', which is no Python literal (a decimal too long for a float).
            name = f"F{len(self.constants)}"
            self.constants[name] = f"float({repr(value)!r})"
            return name
        return repr(value)

    def date_constant(self, d: dt.date) -> str:
        name = f"D_{d.year:04d}_{d.month:02d}_{d.day:02d}"
        self.constants.setdefault(name, f"date({d.year}, {d.month}, {d.day})")
        return name

    def constant(self, prefix: str, source: str) -> str:
        """A module-level name for a value written as `source` (already safe text)."""
        name = f"{prefix}{len(self.constants)}"
        self.constants[name] = source
        return name

    def index(self, kind: str, hop: str, method: str) -> str:
        """The name bound to `G.index(kind, hop).<method>` when the module is bound."""
        key = (kind, hop, method)
        name = self._binding_names.get(key)
        if name is None:
            name = self._binding_names[key] = (
                f"{'H' if method == 'one' else 'M'}{len(self.bindings)}"
            )
            self.bindings[name] = f"G.index({kind!r}, {hop!r}).{method}"
        return name


class ExpressionCompiler(ast.NodeVisitor):
    """The compiled backend's expressions, for one generated function: fresh temporaries, the
    language's variables in scope, and the rule whose lines they are (for the side table)."""

    def __init__(self, module: Module, variables: tuple[str, ...], rule: str | None) -> None:
        self.module = module
        self.checked = module.checked
        self.variables = variables
        self.rule = rule
        self._temps = 0
        # Paths computed once per rule: a path the `when` surely evaluated whenever it is true
        # is kept in a temporary there (`assign_at`, by node) and read in the `then` (`reuse`,
        # by equal path): `when: X is not none`, `then: X` looks X up once.
        self.assign_at: dict[int, str] = {}
        self.reuse: dict[ast.Expr, str] = {}
        self._names: dict[ast.Expr, str] = {}

    def temp(self) -> str:
        self._temps += 1
        return f"_t{self._temps}"

    def share(self, when: ast.Expr, thens: tuple[ast.Expr, ...]) -> None:
        """Before compiling a rule's `when`: which paths to keep for its `then`."""
        wanted = {n for t in thens for n in ast.walk(t) if isinstance(n, ast.Attribute)}
        for node in surely_evaluated(when):
            if node in wanted:
                name = self._names.setdefault(node, f"_p{len(self._names) + 1}")
                self.assign_at[node.nid] = name

    def start_then(self) -> None:
        """After the `when`: its kept paths are read, not computed, from here on."""
        self.reuse = self._names
        self.assign_at = {}

    def expr(self, node: ast.Expr) -> str:
        if self.reuse and isinstance(node, ast.Attribute):
            kept = self.reuse.get(node)
            if kept is not None:
                return kept
        code: str = self.visit(node)
        name = self.assign_at.get(node.nid) if self.assign_at else None
        return code if name is None else f"({name} := {code})"

    def condition(self, node: ast.Expr) -> str:
        """A test that holds only when the expression is true (unknown and none do not)."""
        code = self.expr(node)
        return code if boolean(node) else f"{code} is True"

    def settled(self, node: ast.Expr) -> str:
        """A result value: UNKNOWN becomes none (a decision's value is never unknown)."""
        code = self.expr(node)
        if certain(node):
            return code
        t = self.temp()
        return f"(None if ({t} := {code}) is UNKNOWN else {t})"

    def generic_visit(self, node: ast.Expr, *args: object, **kwargs: object) -> str:
        raise NotImplementedError(f"the compiler has no visit_{type(node).__name__}")

    def visit_Literal(self, node: ast.Literal) -> str:
        return self.module.literal(node.value)

    def visit_CodeLiteral(self, node: ast.CodeLiteral) -> str:
        # The code is text from the bundle: into the source only as its repr() (issue 9).
        return repr(node.code)

    def visit_ListExpr(self, node: ast.ListExpr) -> str:
        # The checker types a list as a set: `x in ['5NT', '5HG']`, `members == [...]`.
        if not node.items:
            return "EMPTY"
        return "frozenset((" + ", ".join(self.expr(i) for i in node.items) + ",))"

    def visit_Name(self, node: ast.Name) -> str:
        ref = self.checked.ref(node)
        if isinstance(ref, VarRef):
            return self.module.variable(ref.name)
        if isinstance(ref, DecisionRef):
            return f"V[{ref.name!r}]"
        raise AssertionError(f"name {node.id!r} ({ref}) cannot be a value")

    def visit_Attribute(self, node: ast.Attribute) -> str:
        ref = self.checked.ref(node)
        if isinstance(ref, CaseField):
            return self._case_field(ref.path)
        if isinstance(ref, ParamRef):
            return f"P[{ref.name!r}]"
        obj = self.expr(node.obj)
        if isinstance(ref, NodeAttribute):
            return f"G.attr({obj}, {ref.name!r}, on)"
        if isinstance(ref, HopRef):
            return self._hop(self.checked.type_of(node.obj), ref, obj)
        raise AssertionError(f"attribute {node.attr!r} ({ref}) has no value")

    def _case_field(self, path: tuple[str, ...]) -> str:
        key = ".".join(path)
        t = self.module.node_fields.get(key)
        if t is None or not set(kinds_of(t)) & self.module.unavailable:
            return f"C[{key!r}]"
        # A node field whose data is not loaded (no register) holds an Unavailable: reading it
        # is the rule's error, never a silent none (DESIGN §11).
        v = self.temp()
        return f"(read_unavailable({v}) if ({v} := C[{key!r}]).__class__ is Unavailable else {v})"

    def _hop(self, obj_type: Type | None, ref: HopRef, obj: str) -> str:
        kinds = kinds_of(obj_type) if obj_type is not None else ()
        method = "one" if ref.one else "many"
        if len(kinds) == 1 and self.checked.schema.hop(kinds[0], ref.hop) is not None:
            index = self.module.index(kinds[0], ref.hop, method)
            if obj_type is not None and not obj_type.optional:
                return f"{index}({obj}, on)"
            # A hop from none is none (or the empty set) without a call: most cases leave most
            # node fields empty.
            t = self.temp()
            empty = "None" if ref.one else "EMPTY"
            return f"({empty} if ({t} := {obj}) is None else {index}({t}, on))"
        # A value of several kinds: the graph finds the node's kind, then the index.
        follow = "follow_one" if ref.one else "follow_many"
        return f"G.{follow}({obj}, {ref.hop!r}, on)"

    def visit_Call(self, node: ast.Call) -> str:
        args = [self.expr(a) for a in node.args[:1]]
        fn = node.func
        if fn in _BY:
            attr = node.args[1]
            assert isinstance(attr, ast.Name)
            return f"{_BY[fn]}(G, {args[0]}, {attr.id!r}, on)"
        if fn == "within":
            return f"within(G, {args[0]}, {self.expr(node.args[1])}, on)"
        if fn in _GRAPH_ARGUMENT:
            return f"{_GRAPH_ARGUMENT[fn]}(G, {args[0]})"
        if fn == "exists":
            return f"exists(G, {args[0]}, on)"
        return f"{_ONE_ARGUMENT[fn]}({args[0]})"

    def visit_BinderCall(self, node: ast.BinderCall) -> str:
        return self._helper(node, node.var, node.collection, node.condition, _BINDERS[node.func])

    def visit_Filter(self, node: ast.Filter) -> str:
        return self._helper(node, node.var, node.collection, node.condition, "filter")

    def visit_Generator(self, node: ast.Generator) -> str:
        what = "count-of" if node.func == "count" else _AGGREGATES[node.func]
        return self._helper(node, node.var, node.collection, node.element, what)

    def visit_Compare(self, node: ast.Compare) -> str:
        left, right = self.expr(node.left), self.expr(node.right)
        if node.op in _EQUALITY_OPS:
            if certain(node.left) and certain(node.right):
                return f"({left} {_EQUALITY_OPS[node.op]} {right})"
            return f"{_EQUALITY_CALLS[node.op]}({left}, {right})"
        return f"{_ORDER_OPS[node.op]}({left}, {right})"

    def visit_Membership(self, node: ast.Membership) -> str:
        fn = "not_contains" if node.negated else "contains"
        return f"{fn}({self.expr(node.collection)}, {self.expr(node.element)})"

    def visit_IsNone(self, node: ast.IsNone) -> str:
        if isinstance(node.operand, ast.Literal | ast.CodeLiteral):
            # Known now; and Python warns on `'5NT' is None` ("is" with a literal).
            return repr((node.operand.value is None) != node.negated)
        operand = self.expr(node.operand)
        if certain(node.operand):
            return f"({operand} is {'not ' if node.negated else ''}None)"
        return f"{'is_not_none' if node.negated else 'is_none'}({operand})"

    def visit_BoolOp(self, node: ast.BoolOp) -> str:
        op = _BOOL_OPS[node.op]
        if all(boolean(o) for o in node.operands):
            # Only true or false can come out of each operand: Python's own `and`/`or` are
            # Kleene's then, short-circuit included.
            return "(" + f" {op} ".join(self.expr(o) for o in node.operands) + ")"
        # Kleene logic as one flat conditional chain: `and` stops at the first false operand,
        # `or` at the first true one; the temporaries keep each operand's value for the end.
        stop, other = ("False", "True") if op == "and" else ("True", "False")
        temps = [self.temp() for _ in node.operands]
        parts = [
            f"{stop} if ({t} := {self.expr(o)}) is {stop} else"
            for t, o in zip(temps, node.operands, strict=True)
        ]
        all_other = " and ".join(f"{t} is {other}" for t in temps)
        return f"({' '.join(parts)} {other} if {all_other} else UNKNOWN)"

    def visit_Not(self, node: ast.Not) -> str:
        if boolean(node.operand):
            return f"(not {self.expr(node.operand)})"
        t = self.temp()
        return (
            f"(False if ({t} := {self.expr(node.operand)}) is True else True if {t} is False"
            " else UNKNOWN)"
        )

    def visit_Arith(self, node: ast.Arith) -> str:
        return f"{_ARITH_OPS[node.op]}({self.expr(node.left)}, {self.expr(node.right)})"

    def visit_Neg(self, node: ast.Neg) -> str:
        return f"neg({self.expr(node.operand)})"

    def visit_Conditional(self, node: ast.Conditional) -> str:
        # Like a rule's `when`: the `then` branch only when the test is true. The test is
        # compiled first: it runs first, whatever the order of the generated text.
        test = self.condition(node.test)
        return f"({self.expr(node.body)} if {test} else {self.expr(node.orelse)})"

    def _helper(
        self, node: ast.Expr, var: str, collection: ast.Expr, inner: ast.Expr, what: str
    ) -> str:
        """A quantifier, filter or generator as a module-level function: a call per use, no
        closure per case. Variables of the enclosing scope are passed as arguments."""
        module = self.module
        name = f"q{len(module.helpers) + 1}"
        outer = [module.variable(v) for v in self.variables]
        inner_fn = ExpressionCompiler(module, (*self.variables, var), self.rule)
        v = module.variable(var)
        w = Writer()
        module.helpers.append(w)  # before the body: helpers inside it take the next numbers
        tag = (self.rule, inner.span)
        w.writeline(f"def {name}({', '.join(['xs', 'C', 'V', 'on', 'P', *outer])}):")
        w.indent()
        w.writeline(repr(f"{what}: {ast.unparse(node)}"))
        w.writeline("if xs is None or xs is UNKNOWN:")
        w.indent()
        w.writeline("return UNKNOWN")
        w.outdent()
        if what in ("any", "all", "count"):
            stop = "True" if what == "any" else "False"
            w.writeline(f"r = {({'count': '0', 'any': 'False', 'all': 'True'})[what]}")
            w.writeline(f"for {v} in members(xs):")
            w.indent()
            w.writeline(f"c = {inner_fn.expr(inner)}", tag)
            if what == "count":
                w.writeline("if c is True:")
                w.indent()
                w.writeline("r += 1")
                w.outdent()
            else:
                w.writeline(f"if c is {stop}:")
                w.indent()
                w.writeline(f"return {stop}")
                w.outdent()
                w.writeline(f"if c is not {'False' if what == 'any' else 'True'}:")
                w.indent()
                w.writeline("r = UNKNOWN")
                w.outdent()
            w.outdent()
            w.writeline("return r")
        elif what == "filter":
            w.writeline("r = []")
            w.writeline(f"for {v} in members(xs):")
            w.indent()
            w.writeline(f"if {inner_fn.expr(inner)} is True:", tag)
            w.indent()
            w.writeline(f"r.append({v})")
            w.outdent(2)
            w.writeline("return frozenset(r)")
        else:
            w.writeline("r = []")
            w.writeline(f"for {v} in members(xs):")
            w.indent()
            w.writeline(f"r.append({inner_fn.expr(inner)})", tag)
            w.outdent()
            if what == "count-of":
                # count(e for x in xs): the members whose element is true (unknown does not count)
                w.writeline("return r.count(True)")
            else:
                w.writeline(f"return {what}(r)", (self.rule, node.span))  # may raise
        args = ", ".join(["C", "V", "on", "P", *outer])
        return f"{name}({self.expr(collection)}, {args})"


def certain(node: ast.Expr) -> bool:
    """Whether an expression's value can never be UNKNOWN, so Python's own operators apply:
    paths, names (decision values are settled: never unknown), literals (codes too), and what
    is built from them by `==`, `!=`, `is none`, `code`, `name`, `kind`, `and`, `or` and
    `not`."""
    if isinstance(node, (ast.Literal, ast.CodeLiteral, ast.ListExpr, ast.Name, ast.Attribute)):
        return True
    if isinstance(node, ast.Call):
        return node.func in ("code", "name", "kind")
    return boolean(node)


def boolean(node: ast.Expr) -> bool:
    """Whether an expression always gives true or false (never none, never unknown)."""
    if isinstance(node, ast.Literal):
        return isinstance(node.value, bool)
    if isinstance(node, ast.Compare):
        return node.op in ("==", "!=") and certain(node.left) and certain(node.right)
    if isinstance(node, ast.IsNone):
        return certain(node.operand)
    if isinstance(node, ast.BoolOp):
        return all(boolean(o) for o in node.operands)
    if isinstance(node, ast.Not):
        return boolean(node.operand)
    return False


def surely_evaluated(when: ast.Expr) -> Iterator[ast.Expr]:
    """The paths a `when` has evaluated whenever it is true: not those behind a later operand of
    `or`, an `if` branch, or inside a quantifier."""
    stack = [when]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Attribute):
            yield node
        elif isinstance(node, ast.BoolOp):
            stack.extend(node.operands if node.op == "and" else node.operands[:1])
        elif isinstance(node, ast.Conditional):
            stack.append(node.test)
        elif isinstance(node, (ast.Compare, ast.Arith)):
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.Membership):
            stack.extend((node.element, node.collection))
        elif isinstance(node, (ast.IsNone, ast.Not, ast.Neg)):
            stack.append(node.operand)
        elif isinstance(node, ast.Call):
            stack.extend(node.args[:1] if node.func in ("max_by", "min_by") else node.args)
        elif isinstance(node, (ast.BinderCall, ast.Filter, ast.Generator)):
            stack.append(node.collection)
