"""Checker stage, results: what each name of an expression refers to (CheckedBundle.refs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pctrules.language.ast import FUNCTIONS as FUNCTIONS  # the checker's passes read it here

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
    CaseRoot
    | CaseField
    | ParamsRoot
    | ParamRef
    | DecisionRef
    | VarRef
    | KindRef
    | NodeAttribute
    | HopRef
    | FunctionRef
)
