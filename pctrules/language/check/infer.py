"""Checker pass 4: infer the type of every node, resolve attributes and hops, report type errors.

Over 500 lines because the typer has one method per expression node, all sharing its
environment (bound names, the rule in hand) and the checker's state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pctrules.language import ast
from pctrules.language.check.codes import malformed_code
from pctrules.language.check.guards import facts_if_false, facts_if_true, literal_type, quote
from pctrules.language.check.refs import (
    FUNCTIONS,
    CaseField,
    CaseRoot,
    DecisionRef,
    HopRef,
    KindRef,
    NodeAttribute,
    ParamRef,
    ParamsRoot,
    VarRef,
)
from pctrules.language.check.state import CheckState, describe_owner, thens_of
from pctrules.language.check.types import (
    EMPTY,
    GROUP,
    NUMERIC,
    ORDERED,
    PARAMS,
    UNKNOWN,
    comparable,
    describe,
    is_node,
    kinds_of,
    unify,
)
from pctrules.language.diagnostics import Code, did_you_mean, error, warning
from pctrules.language.schema import CaseSchema, Type
from pctrules.language.source import Span

if TYPE_CHECKING:
    pass


# -- pass 4: infer types -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Env:
    """Where an expression is typed: who owns it, the variables' types, and what is not none."""

    owner: str
    rule: str | None
    variables: Mapping[str, Type]
    guards: frozenset[ast.Expr] = frozenset()

    def bind(self, var: str, t: Type) -> _Env:
        return _Env(self.owner, self.rule, {**self.variables, var: t}, self.guards)

    def guarded(self, facts: Iterable[ast.Expr]) -> _Env:
        facts = frozenset(facts)
        if not facts:
            return self
        return _Env(self.owner, self.rule, self.variables, self.guards | facts)


class _Typer(ast.NodeVisitor):
    """Gives every node its static type, resolves attributes, and reports type errors."""

    def __init__(self, state: CheckState) -> None:
        self.state = state
        self.schema = state.schema
        self.outputs = state.decision_outputs()

    # Dispatch: every node's type is recorded; a guarded optional value is not none. `case`,
    # `params` and groups of case fields (`case.person`) only lead to a value (`path=True`).
    def visit(self, node: ast.Expr, *args: Any, **kwargs: Any) -> Type:
        env: _Env = args[0]
        t: Type = super().visit(node, env)
        if t.optional and env.guards and t.base != "<none>" and node in env.guards:
            t = t.required()
        if t in (GROUP, PARAMS) and not kwargs.get("path"):
            t = self._not_a_value(node, t, env)
        self.state.types[node.nid] = t
        return t

    def _not_a_value(self, node: ast.Expr, t: Type, env: _Env) -> Type:
        text = ast.unparse(node)
        if t == PARAMS:
            names = sorted(self.state.params)
            return self._error(
                env,
                "'params' holds the bundle's parameters; it is not a value",
                node.span,
                "use one of them: " + ", ".join(f"params.{n}" for n in names)
                if names
                else "declare parameters under 'parameters:' in bundle.yaml",
            )
        ref = self.state.refs.get(node.nid)
        group = (
            self.state.case_schema.lookup(ref.path)
            if isinstance(ref, CaseField)
            else (self.state.case_schema)
        )
        names = group.names() if isinstance(group, CaseSchema) else []
        what = "the case itself" if text == "case" else "a group of case fields"
        return self._error(
            env,
            f"'{text}' is {what}, not a value",
            node.span,
            "use one of its fields: " + ", ".join(f"{text}.{n}" for n in names),
        )

    def _error(
        self, env: _Env, message: str, span: Span, help: str | None = None, code: Code = Code.TYPE
    ) -> Type:
        self.state.report(error(code, f"for {env.owner}, {message}", span, help, env.rule))
        return UNKNOWN

    def defined(self, node: ast.Expr, t: Type, env: _Env, use: str) -> None:
        """Warn when a value that may be none is used where none makes the result unknown."""
        if t.optional and t.base != "<none>":
            text = ast.unparse(node)
            self.state.report(
                warning(
                    Code.UNGUARDED_OPTIONAL,
                    f"for {env.owner}, '{text}' may be none {use}",
                    node.span,
                    f"guard it first: '{text} is not none and …'",
                    env.rule,
                )
            )

    def condition(self, node: ast.Expr, env: _Env, what: str) -> Type:
        """Type a sub-expression that must be true or false."""
        t = self.visit(node, env)
        if t == UNKNOWN:
            return t
        if t.base == "<none>" or t.base != "bool" or t.is_set:
            return self._error(
                env,
                f"{what} must be true or false, but {quote(node)} is {describe(t)}",
                node.span,
                "compare it, e.g. 'x is not none' or 'x == y'",
            )
        self.defined(node, t, env, f"in {what}, which is then unknown")
        return t

    def collection(self, node: ast.Expr, env: _Env, what: str) -> Type:
        """Type a sub-expression that must be a set; returns its element type."""
        t = self.visit(node, env)
        if t == UNKNOWN:
            return t
        if not t.is_set:
            return self._error(
                env,
                f"{what} needs a set, but {quote(node)} is {describe(t)}",
                node.span,
                "give a set: a relation such as 'pct.practices', a list or a filter",
            )
        self.defined(node, t, env, f"in {what}, which is then unknown")
        return Type(t.base)

    def one_node(self, node: ast.Expr, env: _Env, what: str) -> Type:
        t = self.visit(node, env)
        if t == UNKNOWN or t.base == "<none>":
            return t
        if not is_node(t) or t.is_set:
            help = (
                "pick one with only(...) or max_by(...)"
                if t.is_set
                else "give an organisation, e.g. case.person.practice"
            )
            return self._error(
                env,
                f"{what} needs one organisation, but {quote(node)} is {describe(t)}",
                node.span,
                help,
            )
        return t

    # Leaves
    def visit_Literal(self, node: ast.Literal, env: _Env) -> Type:
        return literal_type(node.value)

    def visit_CodeLiteral(self, node: ast.CodeLiteral, env: _Env) -> Type:
        if node.kind not in self.schema.kinds:
            return UNKNOWN  # reported by pass 3
        problem = malformed_code(node.code)
        if problem is not None:
            fixed = node.code.strip()
            return self._error(
                env,
                f"{ast.quote_text(node.code)} is not a code: {problem}",
                node.code_span,
                f"write the code as the data does: {node.kind}({ast.quote_text(fixed)})"
                if fixed and fixed.isprintable()
                else "write the organisation's code in the "
                f"quotes, as the data does, e.g. {node.kind}('A01')",
            )
        # A constant: the same code on every day, never none (codes.py looks it up in the data).
        return Type(node.kind)

    def visit_ListExpr(self, node: ast.ListExpr, env: _Env) -> Type:
        result = Type(EMPTY, is_set=True)
        element: Type | None = None
        for item in node.items:
            t = self.visit(item, env)
            if t == UNKNOWN:
                return t
            if t.is_set or t.base == "<none>" or t.base.startswith("<"):
                return self._error(
                    env,
                    f"a list holds values, not {describe(t)}",
                    item.span,
                    "write single values, e.g. ['5NT', '5HG']",
                )
            joined = t.required() if element is None else unify(element, t.required())
            if joined is None:
                assert element is not None
                return self._error(
                    env,
                    f"a list mixes {describe(element)} with {describe(t)}",
                    node.span,
                    "put values of one type in a list",
                )
            element = joined
        if element is not None:
            result = Type(element.base, is_set=True)
        return result

    def visit_Name(self, node: ast.Name, env: _Env) -> Type:
        ref = self.state.refs.get(node.nid)
        if isinstance(ref, VarRef):
            return env.variables.get(node.id, UNKNOWN)
        if isinstance(ref, CaseRoot):
            return GROUP
        if isinstance(ref, ParamsRoot):
            return PARAMS
        if isinstance(ref, DecisionRef):
            return self.outputs.get(node.id, UNKNOWN)
        if isinstance(ref, KindRef):
            return Type(ref.kind, is_set=True)
        return UNKNOWN

    # Paths
    def visit_Attribute(self, node: ast.Attribute, env: _Env) -> Type:
        obj = self.visit(node.obj, env, path=True)
        if obj == UNKNOWN:
            return obj
        owner = ast.unparse(node.obj)
        if obj == GROUP:
            return self._case_field(node, env, owner)
        if obj == PARAMS:
            declared = self.state.params.get(node.attr)
            if declared is None:
                return self._error(
                    env,
                    f"unknown parameter '{node.attr}'",
                    node.attr_span,
                    did_you_mean(node.attr, self.state.params)
                    or "declare it under 'parameters:' in bundle.yaml",
                    Code.UNKNOWN_NAME,
                )
            self.state.refs[node.nid] = ParamRef(node.attr)
            return declared
        if obj.is_set:
            return self._error(
                env,
                f"'{owner}' is {describe(obj)}, so it has no attribute '{node.attr}'",
                node.attr_span,
                "pick one with only(...) or max_by(...), or test each "
                f"member with any(x in {owner}: x.{node.attr} …)",
            )
        if not is_node(obj):
            return self._error(
                env,
                f"'{owner}' is {describe(obj)}, so it has no attribute '{node.attr}'",
                node.attr_span,
            )
        return self._node_name(node, obj, env)

    def _case_field(self, node: ast.Attribute, env: _Env, owner: str) -> Type:
        ref = self.state.refs.get(node.obj.nid)
        path = (*(ref.path if isinstance(ref, CaseField) else ()), node.attr)
        found = self.state.case_schema.lookup(path)
        if found is None:
            group = self.state.case_schema.lookup(path[:-1])
            names = group.names() if isinstance(group, CaseSchema) else []
            return self._error(
                env,
                f"unknown attribute '{node.attr}' on {owner}",
                node.attr_span,
                did_you_mean(node.attr, names)
                or (
                    "the fields are " + ", ".join(names)
                    if names
                    else "declare the case's fields under 'case:' in bundle.yaml"
                ),
                Code.UNKNOWN_ATTRIBUTE,
            )
        self.state.refs[node.nid] = CaseField(path)
        return GROUP if isinstance(found, CaseSchema) else found

    def _node_name(self, node: ast.Attribute, obj: Type, env: _Env) -> Type:
        """An attribute or a hop on a node of one or several kinds."""
        attrs: list[Type] = []
        hops = []
        for kind in kinds_of(obj):
            attr = self.schema.attribute(kind, node.attr)
            hop = self.schema.hop(kind, node.attr)
            if attr is None and hop is None:
                return self._error(
                    env,
                    f"unknown attribute '{node.attr}' on {kind}",
                    node.attr_span,
                    did_you_mean(node.attr, self.schema.names_on(kind))
                    or f"{kind} has " + (", ".join(self.schema.names_on(kind)) or "no attributes"),
                    Code.UNKNOWN_ATTRIBUTE,
                )
            if attr is not None:
                attrs.append(attr)
            if hop is not None:
                hops.append(hop)
        if attrs and hops:
            return self._error(
                env,
                f"'{node.attr}' is an attribute of some of {' or '.join(kinds_of(obj))} "
                "and a relation of others",
                node.attr_span,
                "narrow the value to one kind first",
            )
        if attrs:
            t: Type | None = attrs[0]
            for other in attrs[1:]:
                t = unify(t, other) if t is not None else None
            if t is None:
                return self._error(
                    env,
                    f"attribute '{node.attr}' has different types on {' and '.join(kinds_of(obj))}",
                    node.attr_span,
                )
            self.state.refs[node.nid] = NodeAttribute(node.attr)
            return Type(t.base, t.optional or obj.optional, t.is_set)
        if len({h.one for h in hops}) > 1 or len({h.forward for h in hops}) > 1:
            return self._error(
                env,
                f"'{node.attr}' leads to one node from some of "
                f"{' or '.join(kinds_of(obj))} and to a set from others",
                node.attr_span,
                "narrow the value to one kind first",
            )
        relation = "|".join(dict.fromkeys(h.relation for h in hops))
        self.state.refs[node.nid] = HopRef(relation, hops[0].forward, hops[0].one, node.attr)
        targets = "|".join(dict.fromkeys(k for h in hops for k in h.target_kinds))
        # A `one` hop may find nothing; a set hop from none is the empty set (runtime.py).
        return Type(targets, optional=hops[0].one, is_set=not hops[0].one)

    # Functions
    def visit_Call(self, node: ast.Call, env: _Env) -> Type:
        if node.func not in FUNCTIONS:
            for arg in node.args:
                self.visit(arg, env)
            return UNKNOWN
        expected = 2 if node.func in ("within", "max_by", "min_by") else 1
        if node.func in ("any", "all"):
            return self._error(
                env, f"'{node.func}' needs a condition", node.span, f"write {FUNCTIONS[node.func]}"
            )
        if len(node.args) != expected:
            for arg in node.args:
                self.visit(arg, env)
            plural = "argument" if expected == 1 else "arguments"
            return self._error(
                env,
                f"'{node.func}' takes {expected} {plural}, not {len(node.args)}",
                node.span,
                f"write {FUNCTIONS[node.func]}",
            )
        what = f"'{node.func}'"
        if node.func == "count":
            self.collection(node.args[0], env, what)
            return Type("int")
        if node.func in ("sum", "min", "max"):
            element = self.collection(node.args[0], env, what)
            return self._aggregate(node.func, element, node.args[0], env)
        if node.func == "only":
            element = self.collection(node.args[0], env, what)
            return Type(element.base, optional=True) if element != UNKNOWN else UNKNOWN
        if node.func in ("max_by", "min_by"):
            element = self.collection(node.args[0], env, what)
            return self._by_attribute(node, element, env)
        if node.func == "within":
            for arg in node.args:
                t = self.one_node(arg, env, what)
                self.defined(arg, t, env, "in 'within', which is then unknown")
            return Type("bool")
        # code, name, kind, exists: none gives none (exists: false).
        t = self.one_node(node.args[0], env, what)
        if node.func == "exists":
            return Type("bool")
        return Type("string", optional=t.optional)

    def _aggregate(self, func: str, element: Type, node: ast.Expr, env: _Env) -> Type:
        if element == UNKNOWN or element.base == EMPTY:
            return Type("int") if func == "sum" else UNKNOWN
        allowed = NUMERIC if func == "sum" else ORDERED
        if element.base not in allowed:
            kind = "numbers" if func == "sum" else "numbers, dates or text"
            return self._error(
                env,
                f"'{func}' needs {kind}, but {quote(node)} holds {describe(element)}",
                node.span,
                "use max_by(xs, attribute) to pick a node by an attribute"
                if is_node(element)
                else None,
            )
        self.defined(node, element, env, f"in '{func}', which is then unknown")
        if func == "sum":
            return Type(element.base)
        return Type(element.base, optional=True)

    def _by_attribute(self, node: ast.Call, element: Type, env: _Env) -> Type:
        arg = node.args[1]
        if not isinstance(arg, ast.Name):
            self.visit(arg, env)
            return self._error(
                env,
                f"the second argument of '{node.func}' must be an attribute name",
                arg.span,
                f"write e.g. {node.func}(xs, population)",
            )
        if element == UNKNOWN:
            return UNKNOWN
        if not is_node(element):
            return self._error(
                env,
                f"'{node.func}' needs a set of organisations, not {describe(element)}",
                node.args[0].span,
            )
        for kind in kinds_of(element):
            attr = self.schema.attribute(kind, arg.id)
            if attr is None:
                names = (
                    sorted(self.schema.kinds[kind].attributes) if kind in self.schema.kinds else []
                )
                return self._error(
                    env,
                    f"unknown attribute '{arg.id}' on {kind}",
                    arg.span,
                    did_you_mean(arg.id, names)
                    or f"{kind} has " + (", ".join(names) or "no attributes"),
                    Code.UNKNOWN_ATTRIBUTE,
                )
            if attr.base not in ORDERED or attr.is_set:
                return self._error(
                    env,
                    f"'{node.func}' compares '{arg.id}', which is {describe(attr)}",
                    arg.span,
                    "choose a number, date or text attribute",
                )
            self.state.types[arg.nid] = attr
        self.state.refs[arg.nid] = NodeAttribute(arg.id)
        return Type(element.base, optional=True)

    def visit_BinderCall(self, node: ast.BinderCall, env: _Env) -> Type:
        if node.func not in FUNCTIONS:
            self.visit(node.collection, env)
            return UNKNOWN
        if node.func not in ("any", "all", "count"):
            self.visit(node.collection, env)
            return self._error(
                env,
                f"'{node.func}' does not take a condition",
                node.span,
                f"write {FUNCTIONS[node.func]}",
            )
        element = self.collection(node.collection, env, f"'{node.func}'")
        self.condition(
            node.condition, env.bind(node.var, element), f"the condition of '{node.func}'"
        )
        return Type("int") if node.func == "count" else Type("bool")

    def visit_Filter(self, node: ast.Filter, env: _Env) -> Type:
        element = self.collection(node.collection, env, "a filter")
        self.condition(node.condition, env.bind(node.var, element), "the filter's condition")
        return UNKNOWN if element == UNKNOWN else Type(element.base, is_set=True)

    def visit_Generator(self, node: ast.Generator, env: _Env) -> Type:
        if node.func not in FUNCTIONS:
            self.visit(node.collection, env)
            return UNKNOWN
        if node.func not in ("sum", "min", "max", "count"):
            self.visit(node.collection, env)
            return self._error(
                env,
                f"'{node.func}' does not take 'e for x in xs'",
                node.span,
                f"write {FUNCTIONS[node.func]}",
            )
        element = self.collection(node.collection, env, f"'{node.func}'")
        value = self.visit(node.element, env.bind(node.var, element))
        if node.func == "count":
            return Type("int")
        return self._aggregate(node.func, value, node.element, env)

    # Operators
    def visit_Compare(self, node: ast.Compare, env: _Env) -> Type:
        left = self.visit(node.left, env)
        right = self.visit(node.right, env)
        if UNKNOWN in (left, right):
            return Type("bool")
        if node.op in ("==", "!="):
            if not comparable(left, right):
                return self._error(
                    env,
                    f"'{node.op}' compares {describe(left.required())} with "
                    f"{describe(right.required())}, which are never equal",
                    node.span,
                    self._compare_help(node, left, right),
                )
            return Type("bool")
        for side, t in ((node.left, left), (node.right, right)):
            if t.base == "<none>":
                return self._error(
                    env,
                    f"'{node.op}' on none is never true",
                    side.span,
                    "test for none with 'is none' or 'is not none'",
                )
        if (
            left.base not in ORDERED
            or right.base not in ORDERED
            or left.is_set
            or right.is_set
            or not comparable(left, right)
        ):
            return self._error(
                env,
                f"'{node.op}' cannot compare {describe(left.required())} with "
                f"{describe(right.required())}",
                node.span,
                "order numbers with numbers, dates with dates (e.g. 2011-04-01) and text with text",
            )
        for side, t in ((node.left, left), (node.right, right)):
            self.defined(side, t, env, f"in '{node.op}', which is then unknown")
        return Type("bool")

    def _compare_help(self, node: ast.Compare, left: Type, right: Type) -> str:
        # practice == pct: suggest the hop that reaches the other kind, when there is one.
        if is_node(left) and is_node(right) and not left.is_set and not right.is_set:
            for kind in kinds_of(left):
                for name, hop in sorted(self.schema.hops(kind).items()):
                    if hop.one and set(hop.target_kinds) & set(kinds_of(right)):
                        return f"did you mean '{ast.unparse(node.left)}.{name}'?"
        return "compare like with like, e.g. a pct with a pct, a date with a date"

    def visit_Membership(self, node: ast.Membership, env: _Env) -> Type:
        element = self.visit(node.element, env)
        op = "not in" if node.negated else "in"
        members = self.collection(node.collection, env, f"'{op}'")
        if UNKNOWN in (element, members):
            return Type("bool")
        if element.is_set or not comparable(element.required(), members):
            return self._error(
                env,
                f"'{op}' looks for {describe(element.required())} in "
                f"{describe(Type(members.base, is_set=True))}",
                node.span,
                "look for a member of the same kind as the set's",
            )
        self.defined(node.element, element, env, f"in '{op}', which is then unknown")
        return Type("bool")

    def visit_IsNone(self, node: ast.IsNone, env: _Env) -> Type:
        self.visit(node.operand, env)
        return Type("bool")

    def visit_BoolOp(self, node: ast.BoolOp, env: _Env) -> Type:
        facts: set[ast.Expr] = set()
        for operand in node.operands:
            # `x is not none and x.y > 1`: each operand may rely on the ones before it.
            self.condition(operand, env.guarded(facts), f"'{node.op}'")
            facts |= facts_if_true(operand) if node.op == "and" else facts_if_false(operand)
        return Type("bool")

    def visit_Not(self, node: ast.Not, env: _Env) -> Type:
        self.condition(node.operand, env, "'not'")
        return Type("bool")

    def visit_Arith(self, node: ast.Arith, env: _Env) -> Type:
        left = self.visit(node.left, env)
        right = self.visit(node.right, env)
        if UNKNOWN in (left, right):
            return UNKNOWN
        for side, t in ((node.left, left), (node.right, right)):
            if t.base not in NUMERIC or t.is_set:
                return self._error(
                    env,
                    f"'{node.op}' needs numbers, but {quote(side)} is {describe(t)}",
                    side.span,
                    "do arithmetic on numbers only",
                )
        for side, t in ((node.left, left), (node.right, right)):
            self.defined(side, t, env, f"in '{node.op}', which is then unknown")
        both_int = left.base == right.base == "int" and node.op != "/"
        return Type("int" if both_int else "number")

    def visit_Neg(self, node: ast.Neg, env: _Env) -> Type:
        t = self.visit(node.operand, env)
        if t == UNKNOWN:
            return t
        if t.base not in NUMERIC or t.is_set:
            return self._error(
                env, f"'-' needs a number, but {quote(node.operand)} is {describe(t)}", node.span
            )
        self.defined(node.operand, t, env, "in '-', which is then unknown")
        return t.required()

    def visit_Conditional(self, node: ast.Conditional, env: _Env) -> Type:
        self.condition(node.test, env, "the test of 'if'")
        body = self.visit(node.body, env.guarded(facts_if_true(node.test)))
        orelse = self.visit(node.orelse, env.guarded(facts_if_false(node.test)))
        joined = unify(body, orelse)
        if joined is None:
            return self._error(
                env,
                f"the branches of 'if' give {describe(body)} and {describe(orelse)}",
                node.span,
                "make both branches give the same type",
            )
        return joined


def _bind_subject(
    typer: _Typer,
    var: ast.Name | None,
    collection: ast.Expr | None,
    env: _Env,
) -> Type:
    """Type a `for:` collection; its variable is each member (or the one node)."""
    if collection is None or var is None:
        return UNKNOWN
    t = typer.visit(collection, env)
    element = UNKNOWN
    if t == UNKNOWN:
        element = UNKNOWN
    elif t.is_set:
        element = Type(t.base)
    elif is_node(t):
        element = t.required()
    else:
        typer._error(
            env,
            f"'for' needs a set or an organisation, but {quote(collection)} is {describe(t)}",
            collection.span,
            "give a set such as 'responsible_pct.collaboratives'",
        )
    typer.state.types[var.nid] = element
    return element


def infer_types(state: CheckState) -> None:
    """Type every node, resolve attributes and hops, and report type errors inside expressions.

    A rule's `then` is typed knowing what its `when` proved not none.
    """
    typer = _Typer(state)
    for d in state.decisions:
        owner = describe_owner(None, d.name)
        element = _bind_subject(typer, d.subject_var_node, d.subject, _Env(owner, None, {}))
        variables = {d.subject_var: element} if d.subject_var else {}
        if d.default is not None:
            typer.visit(d.default, _Env(owner, None, variables))
        for r in d.rules:
            env = _Env(describe_owner(r.spec.id), r.spec.id, variables)
            if r.when is not None:
                typer.condition(r.when, env, "'when'")
                env = env.guarded(facts_if_true(r.when))
            for then in thens_of(r):
                typer.visit(then, env)
    for c in state.constraints:
        env = _Env(describe_owner(None, constraint=c.spec.id), c.spec.id, {})
        element = _bind_subject(typer, c.var_node, c.subject, env)
        if c.require is not None:
            variables = {c.var: element} if c.var else {}
            typer.condition(c.require, _Env(env.owner, env.rule, variables), "'require'")
