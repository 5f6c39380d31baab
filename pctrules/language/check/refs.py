"""Checker stage, results: what each name of an expression refers to (CheckedBundle.refs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


# -- what names refer to (CheckedBundle.refs) ---------------------------------------------------


@dataclass(frozen=True)
class CaseRoot:
    """`case`: only valid as the root of a path."""


@dataclass(frozen=True)
class CaseField:
    """A case field or group, e.g. `case.person.practice` → ('person', 'practice')."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class ParamsRoot:
    """`params`: only valid as the root of `params.<name>`."""


@dataclass(frozen=True)
class ParamRef:
    """A bundle parameter, `params.<name>`."""

    name: str


@dataclass(frozen=True)
class DecisionRef:
    """Another decision's value."""

    name: str


@dataclass(frozen=True)
class VarRef:
    """A variable bound by a quantifier, filter, generator, `for:` or a constraint's `for`."""

    name: str


@dataclass(frozen=True)
class KindRef:
    """Every node of a kind on the as-of date (`clusters` or `cluster`); constraints only."""

    kind: str


@dataclass(frozen=True)
class NodeAttribute:
    """A typed attribute of an organisation node (none when the node is none)."""

    name: str


@dataclass(frozen=True)
class HopRef:
    """A hop along a relation, edges valid on the as-of date.

    On a value of several kinds the hop may follow a different relation on each; `relation`
    then joins their names with '|' (the graph follows hops by name).
    """

    relation: str
    forward: bool
    one: bool
    hop: str


@dataclass(frozen=True)
class FunctionRef:
    """One of the closed list of functions."""

    name: str


Ref = (
    CaseRoot | CaseField | ParamsRoot | ParamRef | DecisionRef | VarRef | KindRef
    | NodeAttribute | HopRef | FunctionRef
)


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
