"""Checker pass 3: resolve names (case, params, decisions, variables, kinds) and functions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pctrules.language import ast
from pctrules.language.check.refs import (
    FUNCTIONS,
    CaseRoot,
    DecisionRef,
    FunctionRef,
    KindRef,
    ParamsRoot,
    Ref,
    VarRef,
)
from pctrules.language.check.state import CheckState, describe_owner, thens_of
from pctrules.language.diagnostics import Code, did_you_mean, error
from pctrules.language.source import Span

if TYPE_CHECKING:
    pass


# -- pass 3: resolve names ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    owner: str
    rule: str | None
    variables: frozenset[str]
    kinds_as_sets: bool


class _Resolver(ast.NodeVisitor):
    """Resolves every Name and function of one expression; attributes need types (pass 4)."""

    def __init__(self, state: CheckState, decisions: Iterable[str]) -> None:
        self.state = state
        self.decisions = set(decisions)

    def visit_Name(self, node: ast.Name, scope: _Scope) -> None:
        ref = self._lookup(node.id, scope)
        if ref is not None:
            self.state.refs[node.nid] = ref
            return
        code, message = Code.UNKNOWN_NAME, f"unknown name '{node.id}'"
        help: str | None
        if node.id in FUNCTIONS:
            message, help = (
                f"'{node.id}' is a function, not a value",
                f"call it: {FUNCTIONS[node.id]}",
            )
        else:
            candidates = [*scope.variables, "case", "params", *self.decisions]
            if scope.kinds_as_sets:
                candidates += [f"{k}s" for k in self.state.schema.kinds]
            help = did_you_mean(node.id, candidates)
            # A near miss of a decision's name is most likely meant as that decision.
            if help is not None and help == did_you_mean(node.id, self.decisions):
                code, message = Code.UNKNOWN_DECISION, f"unknown decision '{node.id}'"
            help = help or "a name is 'case', 'params', a decision or a variable bound by 'x in xs'"
        self.state.report(error(code, f"for {scope.owner}, {message}", node.span, help, scope.rule))

    def _lookup(self, name: str, scope: _Scope) -> Ref | None:
        if name in scope.variables:
            return VarRef(name)
        if name == "case":
            return CaseRoot()
        if name == "params":
            return ParamsRoot()
        if name in self.decisions:
            return DecisionRef(name)
        if scope.kinds_as_sets:
            kinds = self.state.schema.kinds
            if name in kinds:
                return KindRef(name)
            if name.endswith("s") and name[:-1] in kinds:
                return KindRef(name[:-1])
        return None

    def visit_CodeLiteral(self, node: ast.CodeLiteral, scope: _Scope) -> None:
        # The type is the kind (pass 4); here only whether there is such a kind.
        kinds = self.state.schema.kinds
        if node.kind in kinds:
            return
        self.state.report(
            error(
                Code.UNKNOWN_NAME,
                f"for {scope.owner}, unknown kind '{node.kind}' in {ast.unparse(node)}",
                node.kind_span,
                did_you_mean(node.kind, kinds)
                or (
                    "write an organisation's code as <kind>('<code>'); the kinds are "
                    + ", ".join(kinds)
                    if kinds
                    else "declare kinds under 'schema:' in bundle.yaml"
                ),
                scope.rule,
            )
        )

    def _function(self, func: str, span: Span, scope: _Scope) -> None:
        if func in FUNCTIONS:
            return
        self.state.report(
            error(
                Code.UNKNOWN_FUNCTION,
                f"for {scope.owner}, unknown function '{func}'",
                span,
                did_you_mean(func, FUNCTIONS) or "the functions are " + ", ".join(FUNCTIONS),
                scope.rule,
            )
        )

    def visit_Call(self, node: ast.Call, scope: _Scope) -> None:
        self._function(node.func, node.func_span, scope)
        if node.func in FUNCTIONS:
            self.state.refs[node.nid] = FunctionRef(node.func)
        for i, arg in enumerate(node.args):
            # max_by(xs, population): the second argument names an attribute, not a value.
            if not (i == 1 and node.func in ("max_by", "min_by") and isinstance(arg, ast.Name)):
                self.visit(arg, scope)

    def _bound(self, var: str, scope: _Scope) -> _Scope:
        return _Scope(scope.owner, scope.rule, scope.variables | {var}, scope.kinds_as_sets)

    def visit_BinderCall(self, node: ast.BinderCall, scope: _Scope) -> None:
        self._function(node.func, node.func_span, scope)
        if node.func in FUNCTIONS:
            self.state.refs[node.nid] = FunctionRef(node.func)
        self.visit(node.collection, scope)
        self.visit(node.condition, self._bound(node.var, scope))

    def visit_Filter(self, node: ast.Filter, scope: _Scope) -> None:
        self.visit(node.collection, scope)
        self.visit(node.condition, self._bound(node.var, scope))

    def visit_Generator(self, node: ast.Generator, scope: _Scope) -> None:
        self._function(node.func, node.func_span, scope)
        if node.func in FUNCTIONS:
            self.state.refs[node.nid] = FunctionRef(node.func)
        self.visit(node.collection, scope)
        self.visit(node.element, self._bound(node.var, scope))


def _expressions(state: CheckState) -> Iterator[tuple[ast.Expr, _Scope, str]]:
    """Every parsed top-level expression with its scope and role ('when', 'then', …)."""
    for d in state.decisions:
        owner = describe_owner(None, d.name)
        variables = frozenset({d.subject_var} if d.subject_var else ())
        if d.subject is not None:
            yield d.subject, _Scope(owner, None, frozenset(), False), "for"
        if d.default is not None:
            yield d.default, _Scope(owner, None, variables, False), "default"
        for r in d.rules:
            scope = _Scope(describe_owner(r.spec.id), r.spec.id, variables, False)
            if r.when is not None:
                yield r.when, scope, "when"
            for then in thens_of(r):
                yield then, scope, "then"
    for c in state.constraints:
        owner = describe_owner(None, constraint=c.spec.id)
        if c.subject is not None:
            yield c.subject, _Scope(owner, c.spec.id, frozenset(), True), "for"
        if c.require is not None:
            variables = frozenset({c.var} if c.var else ())
            yield c.require, _Scope(owner, c.spec.id, variables, True), "require"


def resolve_names(state: CheckState) -> None:
    """Resolve names (case, params, decisions, bound variables, kinds) and functions → refs."""
    resolver = _Resolver(state, (d.name for d in state.decisions))
    for node, scope, _ in _expressions(state):
        resolver.visit(node, scope)
    for d in state.decisions:
        if d.subject_var_node is not None:
            state.refs[d.subject_var_node.nid] = VarRef(d.subject_var_node.id)
    for c in state.constraints:
        if c.var_node is not None:
            state.refs[c.var_node.nid] = VarRef(c.var_node.id)
