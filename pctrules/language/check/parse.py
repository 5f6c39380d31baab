"""Checker pass 1: parse every expression of the bundle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pctrules.language import ast
from pctrules.language.check.state import (
    CheckState,
    ConstraintState,
    DecisionState,
    RuleState,
    describe_owner,
)
from pctrules.language.diagnostics import Code, error
from pctrules.language.parser import parse_expression
from pctrules.language.source import EmbeddedText

if TYPE_CHECKING:
    pass


# -- pass 1: parse every expression ----------------------------------------------------------------


def _parse(state: CheckState, text: EmbeddedText | None, rule: str | None) -> ast.Expr | None:
    if text is None:
        return None
    node, problems = parse_expression(text, rule)
    state.diagnostics.extend(problems)
    return node


def _binding(
    state: CheckState,
    node: ast.Expr | None,
    owner: str,
    rule: str | None,
) -> tuple[ast.Name, ast.Expr] | None:
    """A `for:` expression's variable and collection; it must read `name in <expr>`."""
    if node is None:
        return None
    if isinstance(node, ast.Membership) and not node.negated and isinstance(node.element, ast.Name):
        return node.element, node.collection
    state.report(
        error(
            Code.SYNTAX,
            f"for {owner}, 'for' must read 'name in collection'",
            node.span,
            "write e.g. 'g in responsible_pct.collaboratives': the name is bound to each member",
            rule,
        )
    )
    return None


def parse_expressions(state: CheckState) -> None:
    """Parse `when`, `then`, `default`, `for` and constraints' `for`/`require` of the bundle."""
    for spec in state.bundle.decisions:
        decision = DecisionState(spec)
        state.decisions.append(decision)
        owner = describe_owner(None, spec.name)
        binding = _binding(state, _parse(state, spec.for_, None), owner, None)
        if binding is not None:
            decision.subject_var_node, decision.subject = binding
            decision.subject_var = binding[0].id
        decision.default = _parse(state, spec.default, None)
        for rule in spec.rules:
            then: ast.Expr | dict[str, ast.Expr] | None
            if isinstance(rule.then, Mapping):
                parsed = {key: _parse(state, text, rule.id) for key, text in rule.then.items()}
                then = {k: v for k, v in parsed.items() if v is not None}
            else:
                then = _parse(state, rule.then, rule.id)
            decision.rules.append(RuleState(rule, _parse(state, rule.when, rule.id), then))
    for cspec in state.bundle.constraints:
        constraint = ConstraintState(cspec)
        state.constraints.append(constraint)
        owner = describe_owner(None, constraint=cspec.id)
        binding = _binding(state, _parse(state, cspec.for_, cspec.id), owner, cspec.id)
        if binding is not None:
            constraint.var_node, constraint.subject = binding
            constraint.var = binding[0].id
        constraint.require = _parse(state, cspec.require, cspec.id)
