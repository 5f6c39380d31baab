"""Checker stage, types: the checker's own types and how types combine, fit and compare."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pctrules.language.schema import SCALARS, Type, parse_type

if TYPE_CHECKING:
    pass


# -- the checker's own types --------------------------------------------------------------------
# Kind names are lower-case words, so these bases can never clash with a kind of the schema.

NONE = Type("<none>", optional=True)
"""The type of the literal `none`: fits anything optional."""
GROUP = Type("<group>")
"""`case` and its groups (`case.person`): only a path may continue from them."""
PARAMS = Type("<params>")
"""`params`: only `params.<name>` may continue from it."""
UNKNOWN = Type("<unknown>")
"""A sub-expression that already has an error: it fits everywhere, so one mistake is one report."""
EMPTY = "<empty>"
"""The element base of the empty list `[]`."""

NUMERIC = ("int", "number")
ORDERED = ("int", "number", "date", "string")


def kinds_of(t: Type) -> tuple[str, ...]:
    """The kinds a node type may be (`pct|scg` → ('pct', 'scg'))."""
    return tuple(t.base.split("|")) if is_node(t) else ()


def is_node(t: Type) -> bool:
    """True for a node of the schema (or a set of them), false for scalars and checker types."""
    return t.base not in SCALARS and not t.base.startswith("<")


def describe(t: Type) -> str:
    """A type as users read it in a message."""
    if t == NONE or t.base == "<none>":
        return "none"
    if t.base == "<group>":
        return "a group of case fields"
    if t.base == "<params>":
        return "the parameters"
    if t.base == EMPTY:
        return "an empty list"
    if t.is_set:
        return f"a set of {' or '.join(kinds_of(t)) if is_node(t) else t.base}" + (
            " (or none)" if t.optional else ""
        )
    words = {
        "string": "text",
        "int": "a whole number",
        "number": "a number",
        "date": "a date",
        "bool": "true or false",
    }
    text = words.get(t.base) or ("a " + " or ".join(kinds_of(t)))
    return text + (" (or none)" if t.optional else "")


def parse_output_type(text: str) -> Type | None:
    """An output type: a schema type, or a union of kinds such as `pct|scg|ncg?`."""
    if "|" not in text:
        return parse_type(text)
    body = text.strip()
    optional = body.endswith("?")
    parts = [parse_type(p) for p in body.rstrip("?").split("|")]
    if any(p is None or p.optional or p.is_set for p in parts):
        return None
    return Type("|".join(p.base for p in parts if p is not None), optional=optional)


def unify(a: Type, b: Type) -> Type | None:
    """The type that holds values of both `a` and `b` (for if-branches and list items)."""
    if a == UNKNOWN or b == UNKNOWN:
        return UNKNOWN
    if a.base == "<none>":
        return Type(b.base, True, b.is_set)
    if b.base == "<none>":
        return Type(a.base, True, a.is_set)
    optional = a.optional or b.optional
    if a.is_set != b.is_set:
        return None
    if a.is_set and EMPTY in (a.base, b.base):
        return Type(b.base if a.base == EMPTY else a.base, optional, True)
    if a.base in NUMERIC and b.base in NUMERIC:
        return Type("int" if a.base == b.base == "int" else "number", optional, a.is_set)
    if is_node(a) and is_node(b):
        kinds = list(dict.fromkeys([*kinds_of(a), *kinds_of(b)]))
        return Type("|".join(kinds), optional, a.is_set)
    if a.base == b.base:
        return Type(a.base, optional, a.is_set)
    return None


def fits(value: Type, target: Type) -> bool:
    """Whether a value of type `value` may be given where `target` is declared (ignoring none)."""
    if UNKNOWN in (value, target):
        return True
    if value.base == "<none>":
        return target.optional
    if value.is_set != target.is_set:
        return False
    if value.base == EMPTY:
        return True
    if target.base == "number" and value.base in NUMERIC:
        return True
    if is_node(value) and is_node(target):
        return set(kinds_of(value)) <= set(kinds_of(target))
    return value.base == target.base


def comparable(a: Type, b: Type) -> bool:
    """Whether `a == b` can ever be true: like with like (none compares with anything)."""
    if UNKNOWN in (a, b) or "<none>" in (a.base, b.base):
        return True
    if a.is_set != b.is_set:
        return False
    if EMPTY in (a.base, b.base):
        return True
    if a.base in NUMERIC and b.base in NUMERIC:
        return True
    if is_node(a) and is_node(b):
        return bool(set(kinds_of(a)) & set(kinds_of(b)))
    return a.base == b.base
