"""Completion stage: what may be typed at a point of a half-written expression, by its type.

The text before the cursor is closed into an expression the checker can read (the name being
typed becomes a placeholder attribute or name, open brackets are closed), put in the place of
the expression being edited, and the bundle is checked again: the placeholder's object then
has the type the checker infers there, with every variable, `for:` subject and decision in
scope, whatever nodes the language has. The editor (language server) and the REPL both ask
here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pctrules.language import ast
from pctrules.language.check import check_bundle
from pctrules.language.check.refs import FUNCTIONS, CaseField, CaseRoot
from pctrules.language.check.types import GROUP, PARAMS, describe, is_node, kinds_of
from pctrules.language.loader import ConstraintSpec, DecisionSpec, PolicyBundle
from pctrules.language.schema import CaseSchema, OrgSchema, Type
from pctrules.language.source import EmbeddedText

PLACEHOLDER = "__pctrules_completion__"
KEYWORDS = ("and", "or", "not", "in", "is", "none", "true", "false", "if", "then", "else", "for")


@dataclass(frozen=True)
class Candidate:
    """One completion: the text to insert, what it is, and a line of detail."""

    label: str
    kind: str  # field | attribute | relation | decision | function | variable | keyword | value
    detail: str = ""


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_AFTER_DOT = re.compile(r"\.\s*([A-Za-z_][A-Za-z0-9_]*)?$")
_PARAM_VALUE = re.compile(
    r"params\s*\.\s*([A-Za-z_]\w*)\s*(?:==|!=|in\s*\[(?:[^\]]*,)?)\s*(['\"]?)([^'\"]*)$"
)
_BINDERS = re.compile(r"(?:[(\[,]|\bfor)\s*([A-Za-z_]\w*)\s+in\b")


def typed_word(prefix: str) -> str:
    """The part of a name already typed just before the cursor ('' after a space or a dot)."""
    found = _WORD.search(prefix)
    return found.group(0) if found else ""


def complete(
    policy: PolicyBundle,
    schema: OrgSchema,
    case_schema: CaseSchema,
    text: EmbeddedText,
    cursor: int,
    typed_after: str = "",
) -> list[Candidate]:
    """Candidates at offset `cursor` of the expression `text`, one of `policy`'s expressions
    (or an expression of its own: the REPL's); `typed_after` is what the editor holds after
    the text's end that YAML dropped (trailing spaces). Filtering by the typed word is left to
    the caller, which knows how its client matches."""
    prefix = text.text[:cursor] + typed_after
    value = _PARAM_VALUE.search(prefix)
    if value is not None:
        spec = next((p for p in policy.manifest.parameters if p.name == value.group(1)), None)
        if spec is not None and spec.choices:
            quote = "" if value.group(2) else "'"
            return [
                Candidate(
                    f"{quote}{c}{quote}" if isinstance(c, str) else str(c),
                    "value",
                    f"a value of parameter '{spec.name}'",
                )
                for c in spec.choices
            ]
    dot = _AFTER_DOT.search(prefix)
    if dot is not None:
        head = prefix[: dot.start()]
        return _members(policy, schema, case_schema, text, head)
    return _names(policy, text, prefix)


def _members(
    policy: PolicyBundle, schema: OrgSchema, case_schema: CaseSchema, text: EmbeddedText, head: str
) -> list[Candidate]:
    """What may follow `head.`: case fields, parameters, a node's attributes and hops."""
    found = _placeholder_type(policy, schema, case_schema, text, head + "." + PLACEHOLDER)
    if found is None:
        return []
    t, ref = found
    if t == GROUP:
        path = ref.path if isinstance(ref, CaseField) else ()
        group = case_schema.lookup(path)
        if not isinstance(group, CaseSchema):
            return []
        return [
            Candidate(
                name,
                "field",
                "a group of case fields"
                if isinstance(f, CaseSchema)
                else f"case field: {describe(f)}",
            )
            for name, f in group.fields.items()
        ]
    if t == PARAMS:
        return [
            Candidate(
                p.name,
                "field",
                f"parameter: {p.type}"
                + (f", one of {', '.join(map(str, p.choices))}" if p.choices else ""),
            )
            for p in policy.manifest.parameters
        ]
    if not is_node(t):
        return []
    out: dict[str, Candidate] = {}
    for kind in kinds_of(t):
        kd = schema.kinds.get(kind)
        for name, at in kd.attributes.items() if kd else ():
            out.setdefault(name, Candidate(name, "attribute", f"{kind}.{name}: {describe(at)}"))
        for name, hop in schema.hops(kind).items():
            direction = "" if hop.forward else " (inverse)"
            out.setdefault(
                name,
                Candidate(
                    name,
                    "relation",
                    f"{kind}.{name}: {describe(hop.type)} — relation '{hop.relation}'{direction}",
                ),
            )
    return sorted(out.values(), key=lambda c: c.label)


def _placeholder_type(
    policy: PolicyBundle,
    schema: OrgSchema,
    case_schema: CaseSchema,
    text: EmbeddedText,
    closed: str,
) -> tuple[Type, object] | None:
    """The type (and ref) of the object of the placeholder attribute, once checked in place."""
    source = closed + _closers(closed)
    substitute = EmbeddedText.standalone(source, text.source.path)
    bundle = with_text(policy, text, substitute)
    checked, _ = check_bundle(bundle, schema, case_schema)
    for tree in expression_trees(checked):
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == PLACEHOLDER:
                t = checked.type_of(node.obj)
                if t is None:
                    return None
                ref = checked.ref(node.obj)
                return t, CaseField(()) if isinstance(ref, CaseRoot) else ref
    return None


def expression_trees(checked: object) -> Iterator[ast.Expr]:
    """Every checked expression of a CheckedBundle: subjects, defaults, conditions, results,
    constraints (what completion and the language server search by position)."""
    from pctrules.language.check.state import CheckedBundle

    assert isinstance(checked, CheckedBundle)
    for d in checked.decisions:
        if d.subject is not None:
            yield d.subject.collection
        if d.default is not None:
            yield d.default
        for r in d.rules:
            if r.when is not None:
                yield r.when
            if isinstance(r.then, dict):
                yield from r.then.values()
            elif r.then is not None:
                yield r.then
    for c in checked.constraints:
        if c.subject is not None:
            yield c.subject.collection
        if c.require is not None:
            yield c.require


def _closers(text: str) -> str:
    """The brackets that close what `text` left open (quoted text skipped)."""
    stack: list[str] = []
    quote: str | None = None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            stack.append(")" if ch == "(" else "]")
        elif ch in ")]" and stack:
            stack.pop()
    return "".join(reversed(stack))


def _names(policy: PolicyBundle, text: EmbeddedText, prefix: str) -> list[Candidate]:
    """Names that may start an operand here: variables, case, params, decisions, functions, and
    kinds (`sha('Q39')` names an organisation by its code)."""
    out: list[Candidate] = []
    owner = owner_of(policy, text)
    variables = set(_BINDERS.findall(prefix))
    subject = owner.for_ if owner is not None else None
    if subject is not None and subject is not text:
        variables.update(_BINDERS.findall("(" + subject.text))
    out += [Candidate(v, "variable", "a variable bound here") for v in sorted(variables)]
    out.append(Candidate("case", "field", "the case being decided"))
    if policy.manifest.parameters:
        out.append(Candidate("params", "field", "the bundle's parameters"))
    current = owner.name if isinstance(owner, DecisionSpec) else None
    for d in policy.decisions:
        if d.name != current:
            out.append(Candidate(d.name, "decision", d.title or f"decision '{d.name}'"))
    if isinstance(owner, ConstraintSpec):
        out += [
            Candidate(k + "s", "variable", f"every {k} on the as-of date")
            for k in sorted(_kinds(policy))
        ]
    out += [Candidate(name, "function", form) for name, form in FUNCTIONS.items()]
    out += [
        Candidate(k, "function", f"{k}('code'): the {k} with that code")
        for k in sorted(_kinds(policy))
        if k not in FUNCTIONS
    ]
    out += [Candidate(k, "keyword") for k in KEYWORDS]
    return out


def _kinds(policy: PolicyBundle) -> list[str]:
    kinds = policy.manifest.schema.get("kinds")
    return [str(k) for k in kinds] if isinstance(kinds, dict) else []


def owner_of(policy: PolicyBundle, text: EmbeddedText) -> DecisionSpec | ConstraintSpec | None:
    """The decision or constraint an expression belongs to (by identity), if any."""
    for d in policy.decisions:
        if any(t is text for t in _texts_of_decision(d)):
            return d
    for c in policy.constraints:
        if text is c.for_ or text is c.require:
            return c
    return None


def _texts_of_decision(d: DecisionSpec) -> Iterator[EmbeddedText]:
    for t in (d.for_, d.default):
        if t is not None:
            yield t
    for r in d.rules:
        if r.when is not None:
            yield r.when
        if isinstance(r.then, dict):
            yield from r.then.values()
        elif r.then is not None:
            yield r.then


def with_text(policy: PolicyBundle, old: EmbeddedText, new: EmbeddedText) -> PolicyBundle:
    """The bundle with one expression's text replaced (found by identity)."""

    def swap(t: EmbeddedText | None) -> EmbeddedText | None:
        return new if t is old else t

    decisions = []
    for d in policy.decisions:
        rules = tuple(
            dataclasses.replace(
                r,
                when=swap(r.when),
                then={k: new if v is old else v for k, v in r.then.items()}
                if isinstance(r.then, dict)
                else swap(r.then),
            )
            for r in d.rules
        )
        decisions.append(
            dataclasses.replace(d, for_=swap(d.for_), default=swap(d.default), rules=rules)
        )
    constraints = tuple(
        dataclasses.replace(c, for_=swap(c.for_) or c.for_, require=swap(c.require) or c.require)
        for c in policy.constraints
    )
    return dataclasses.replace(policy, decisions=tuple(decisions), constraints=constraints)
