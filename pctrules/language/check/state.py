"""Checker stage, state: what the passes read and write, and the checked bundle they give."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pctrules.language import ast
from pctrules.language.check.refs import Ref
from pctrules.language.check.types import UNKNOWN
from pctrules.language.diagnostics import Diagnostic, Diagnostics
from pctrules.language.schema import CaseSchema, OrgSchema, Type

if TYPE_CHECKING:
    from pctrules.language.loader import ConstraintSpec, DecisionSpec, PolicyBundle, RuleSpec


# -- the checker's output -------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """`for: "g in <expr>"`: the decision is evaluated once per element of the collection."""

    var: str
    collection: ast.Expr
    element: Type


@dataclass(frozen=True)
class CheckedRule:
    spec: RuleSpec
    when: ast.Expr | None
    then: ast.Expr | dict[str, ast.Expr] | None


@dataclass(frozen=True)
class CheckedDecision:
    spec: DecisionSpec
    output: Type
    rules: tuple[CheckedRule, ...]
    depends_on: frozenset[str]
    subject: Subject | None
    default: ast.Expr | None


@dataclass(frozen=True)
class CheckedConstraint:
    """An integrity rule over the graph: `require` holds for every element of the subject."""

    spec: ConstraintSpec
    subject: Subject | None
    require: ast.Expr | None


@dataclass(frozen=True)
class CheckedBundle:
    """The checker's output: decisions in dependency order, and for each expression node (by
    its `nid`) its static type and what a name, path or call refers to."""

    bundle: PolicyBundle
    schema: OrgSchema
    case_schema: CaseSchema
    decisions: tuple[CheckedDecision, ...]
    constraints: tuple[CheckedConstraint, ...]
    types: dict[int, Type]
    refs: dict[int, Ref]

    def decision(self, name: str) -> CheckedDecision | None:
        return next((d for d in self.decisions if d.spec.name == name), None)

    def ref(self, node: ast.Expr) -> Ref | None:
        """What a Name, Attribute or Call refers to (None for other nodes)."""
        return self.refs.get(node.nid)

    def type_of(self, node: ast.Expr) -> Type | None:
        return self.types.get(node.nid)


# -- the state the passes share -------------------------------------------------------------------


@dataclass
class RuleState:
    """One rule while it is being checked: its parsed expressions."""

    spec: RuleSpec
    when: ast.Expr | None = None
    then: ast.Expr | dict[str, ast.Expr] | None = None


@dataclass
class DecisionState:
    """One decision while it is being checked."""

    spec: DecisionSpec
    rules: list[RuleState] = field(default_factory=list)
    output: Type = UNKNOWN
    subject_var: str | None = None
    subject_var_node: ast.Name | None = None
    subject: ast.Expr | None = None
    default: ast.Expr | None = None
    depends_on: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class ConstraintState:
    spec: ConstraintSpec
    var: str | None = None
    var_node: ast.Name | None = None
    subject: ast.Expr | None = None
    require: ast.Expr | None = None


@dataclass
class CheckState:
    """Everything the passes read and write; each pass does one job over it."""

    bundle: PolicyBundle
    schema: OrgSchema
    case_schema: CaseSchema
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    decisions: list[DecisionState] = field(default_factory=list)
    constraints: list[ConstraintState] = field(default_factory=list)
    params: dict[str, Type] = field(default_factory=dict)
    refs: dict[int, Ref] = field(default_factory=dict)
    types: dict[int, Type] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def decision_outputs(self) -> dict[str, Type]:
        return {d.name: d.output for d in self.decisions}

    def report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.add(diagnostic)


def describe_owner(
    rule: str | None,
    decision: str | None = None,
    constraint: str | None = None,
) -> str:
    """Who an expression belongs to, as a message names it: a rule, a constraint or a decision."""
    if rule is not None:
        return f"rule '{rule}'"
    if constraint is not None:
        return f"constraint '{constraint}'"
    return f"decision '{decision}'"


def thens_of(rule: RuleState) -> list[ast.Expr]:
    if rule.then is None:
        return []
    return list(rule.then.values()) if isinstance(rule.then, dict) else [rule.then]
