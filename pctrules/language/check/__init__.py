"""Checker stage: parses, resolves and types every expression of a bundle; reports all problems."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from pctrules.language.check.declarations import resolve_declarations
from pctrules.language.check.dependencies import check_dependencies
from pctrules.language.check.infer import infer_types
from pctrules.language.check.names import resolve_names
from pctrules.language.check.outputs import check_outputs
from pctrules.language.check.parse import parse_expressions
from pctrules.language.check.reachability import check_reachability
from pctrules.language.check.state import (
    CheckedBundle,
    CheckedConstraint,
    CheckedDecision,
    CheckedRule,
    CheckState,
    DecisionState,
    Subject,
)
from pctrules.language.check.types import UNKNOWN
from pctrules.language.diagnostics import Diagnostics
from pctrules.language.schema import CaseSchema, OrgSchema

if TYPE_CHECKING:
    from pctrules.language.loader import PolicyBundle


PASSES: tuple[Callable[[CheckState], None], ...] = (
    parse_expressions,
    resolve_declarations,
    resolve_names,
    infer_types,
    check_outputs,
    check_reachability,
    check_dependencies,
)
"""The checker, in order; each pass reads what the earlier ones wrote to the CheckState."""


def run_passes(
    bundle: PolicyBundle,
    schema: OrgSchema,
    case_schema: CaseSchema,
    passes: Iterable[Callable[[CheckState], None]] = PASSES,
) -> CheckState:
    """Run passes over a bundle (all of them by default) and return their shared state."""
    state = CheckState(bundle, schema, case_schema)
    for check in passes:
        check(state)
    return state


def check_bundle(
    bundle: PolicyBundle,
    schema: OrgSchema,
    case_schema: CaseSchema,
) -> tuple[CheckedBundle, Diagnostics]:
    """Check every expression of a bundle against its schemas; all problems, not the first."""
    state = run_passes(bundle, schema, case_schema)
    by_name = {d.name: d for d in state.decisions}
    decisions = tuple(_checked_decision(state, by_name[name]) for name in state.order)
    constraints = tuple(
        CheckedConstraint(
            c.spec,
            Subject(c.var, c.subject, state.types.get(c.var_node.nid, UNKNOWN))
            if c.var is not None and c.var_node is not None and c.subject is not None
            else None,
            c.require,
        )
        for c in state.constraints
    )
    checked = CheckedBundle(
        bundle, schema, case_schema, decisions, constraints, state.types, state.refs
    )
    return checked, state.diagnostics


def _checked_decision(state: CheckState, d: DecisionState) -> CheckedDecision:
    subject = None
    if d.subject_var is not None and d.subject_var_node is not None and d.subject is not None:
        subject = Subject(
            d.subject_var, d.subject, state.types.get(d.subject_var_node.nid, UNKNOWN)
        )
    rules = tuple(CheckedRule(r.spec, r.when, r.then) for r in d.rules)
    return CheckedDecision(d.spec, d.output, rules, frozenset(d.depends_on), subject, d.default)
