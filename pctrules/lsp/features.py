"""Language server, features: hover, go to definition and completion at a position of a file,
answered from an Analysis (positions and results as the checker's Spans; server.py converts).

Expression nodes are found and described generically (a node's checked type and what it
refers to), so nodes the language gains later are hovered and completed without changes here.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from pctrules.language import ast
from pctrules.language.check.refs import (
    FUNCTIONS,
    CaseField,
    DecisionRef,
    FunctionRef,
    HopRef,
    KindRef,
    NodeAttribute,
    ParamRef,
    VarRef,
)
from pctrules.language.check.types import describe, kinds_of
from pctrules.language.complete import Candidate, complete
from pctrules.language.diagnostics import Diagnostics
from pctrules.language.loader import DecisionSpec, RuleSpec
from pctrules.language.schema import CaseSchema
from pctrules.language.source import SourceFile, Span
from pctrules.language.yamlsource.compose import read_yaml
from pctrules.language.yamlsource.nodes import YMap, YScalar
from pctrules.lsp.analysis import (
    Analysis,
    Position,
    YamlPlace,
    contains,
    file_schema,
    maps,
    node_at,
    schema_text,
    subschema,
    yaml_at,
)

# -- lookups shared by the features --------------------------------------------------------------


def _decision(analysis: Analysis, name: str) -> DecisionSpec | None:
    policy = analysis.policy
    return next((d for d in policy.decisions if d.name == name), None) if policy else None


def _rule(analysis: Analysis, rule_id: str) -> tuple[DecisionSpec, RuleSpec] | None:
    for d in analysis.policy.decisions if analysis.policy else ():
        for r in d.rules:
            if r.id == rule_id:
                return d, r
    return None


def _where(analysis: Analysis, *path: str | int) -> Span | None:
    """Where a key of bundle.yaml is written (the key, not its value)."""
    tree = analysis.yaml(analysis.root / "bundle.yaml")
    node, key_span = tree, None
    for part in path:
        if not isinstance(node, YMap) or not isinstance(part, str):
            return None
        key = node.key(part)
        if key is None:
            return None
        node, key_span = node.get(part), key.span
    return key_span


def _decision_text(d: DecisionSpec) -> str:
    out = [f"**decision** `{d.name}`" + (f": {d.title}" if d.title else "")]
    details = [
        f"output `{d.output.value}`" if d.output else "output not declared",
        f"hit `{d.hit.value}`",
        f"{len(d.rules)} rule{'s' if len(d.rules) != 1 else ''}",
    ]
    out.append(", ".join(details))
    if d.description:
        out.append(d.description)
    return "\n\n".join(out)


def _rule_text(d: DecisionSpec, r: RuleSpec) -> str:
    out = [f"**rule** `{r.id}` of `{d.name}`" + (f": {r.title}" if r.title else "")]
    if r.cite:
        out.append(f"cite: {r.cite}")
    if r.reason is not None:
        out.append(f"reason: `{r.reason}`")
    if r.status:
        out.append(f"status: {r.status}")
    return "\n\n".join(out)


def _code_text(analysis: Analysis, code: str) -> str | None:
    """An organisation code's name, kind and validity, from the bundle's graph."""
    graph = analysis.graph()
    node = graph.node(code) if graph is not None else None
    if node is None:
        return None
    until = "" if node.valid_to >= dt.date(9999, 1, 1) else node.valid_to.isoformat()
    return (
        f"**{node.kind}** `{node.code}`"
        + (f" {node.name}" if node.name else "")
        + f"\n\nvalid {node.valid_from.isoformat()} → {until or 'open'} ({node.source})"
    )


# -- hover ---------------------------------------------------------------------------------------


def hover(analysis: Analysis, path: Path, at: Position) -> tuple[str, Span] | None:
    """What the thing under the position is: markdown text and the span it describes."""
    found = analysis.expression_at(path, at)
    if found is not None:
        tree = found[1]
        node = node_at(tree, at) if tree is not None else None
        if node is not None:
            described = _expression_hover(analysis, node)
            if described is not None:
                span = node.attr_span if isinstance(node, ast.Attribute) else node.span
                return described, span
        return None
    tree_root = analysis.yaml(path)
    place = yaml_at(tree_root, at) if tree_root is not None else None
    if place is None:
        return None
    described = _yaml_hover(analysis, path, place)
    return (described, place.node.span) if described else None


def _expression_hover(analysis: Analysis, node: ast.Expr) -> str | None:
    checked = analysis.checked
    if checked is None:
        return None
    ref = checked.ref(node)
    t = checked.type_of(node)
    shown = (
        f"`{t}` ({describe(t)})"
        if t is not None and not t.base.startswith("<")
        else (describe(t) if t is not None else "")
    )
    if isinstance(ref, DecisionRef):
        d = _decision(analysis, ref.name)
        return _decision_text(d) if d is not None else None
    if isinstance(ref, FunctionRef):
        return f"**function** `{FUNCTIONS.get(ref.name, ref.name)}`" + (
            f"\n\ngives {shown}" if shown else ""
        )
    if isinstance(ref, NodeAttribute) and isinstance(node, ast.Attribute):
        owner = checked.type_of(node.obj)
        kinds = " or ".join(kinds_of(owner)) if owner is not None else "a node"
        return f"**attribute** `{ref.name}` of {kinds}: {shown}"
    if isinstance(ref, HopRef):
        relations = []
        for name in ref.relation.split("|"):
            rel = checked.schema.relations.get(name)
            if rel is not None:
                relations.append(
                    f"`{rel.name}`: {'|'.join(rel.from_kinds)} → "
                    f"{'|'.join(rel.to_kinds)}" + (" (one)" if rel.one else "")
                )
        way = "" if ref.forward else ", followed backwards"
        return f"**relation** `{ref.hop}`{way}: {shown}\n\n" + "\n\n".join(relations)
    if isinstance(ref, CaseField):
        field = checked.case_schema.lookup(ref.path)
        what = "a group of case fields" if isinstance(field, CaseSchema) else shown
        return f"**case field** `{'.'.join(ref.path)}`: {what}"
    if isinstance(ref, ParamRef):
        spec = next((p for p in checked.bundle.manifest.parameters if p.name == ref.name), None)
        if spec is None:
            return None
        out = f"**parameter** `{spec.name}`: `{spec.type}`, default `{spec.default}`"
        if spec.choices:
            out += ", one of " + ", ".join(f"`{c}`" for c in spec.choices)
        return out + (f"\n\n{spec.description}" if spec.description else "")
    if isinstance(ref, VarRef):
        return f"**variable** `{ref.name}`: {shown}"
    if isinstance(ref, KindRef):
        return f"**every {ref.kind}** on the as-of date: {shown}"
    if isinstance(node, ast.Literal) and isinstance(node.value, str):
        code = _code_text(analysis, node.value)
        if code is not None:
            return code
    if isinstance(node, ast.CodeLiteral):
        return _code_text(analysis, node.code) or (
            f"**{node.kind}** `{node.code}`: not in the data loaded now"
        )
    return f"{shown}" if shown else None


def _yaml_hover(analysis: Analysis, path: Path, place: YamlPlace) -> str | None:
    value = place.node.value
    if not place.is_key:
        if place.path == ("decision",):
            d = _decision(analysis, value)
            return _decision_text(d) if d else None
        if place.path[-1:] == ("id",) or place.path[-1:] == ("rule",):
            found = _rule(analysis, value)
            if found is not None:
                return _rule_text(*found)
        code = _code_text(analysis, value)
        if code is not None:
            return code
    name = file_schema(path, analysis.root, analysis.yaml(path))
    if name == "tests" and place.is_key and "expect" in place.path[:-1]:
        d = _decision(analysis, value)
        if d is not None:
            return _decision_text(d)
    if name is None:
        return None
    schema = subschema(name, place.path)
    return schema_text(schema) if schema and place.is_key else None


# -- go to definition -------------------------------------------------------------------------


def definition(analysis: Analysis, path: Path, at: Position) -> list[Span]:
    """Where the thing under the position is defined."""
    found = analysis.expression_at(path, at)
    if found is not None:
        _, tree = found
        node = node_at(tree, at) if tree is not None else None
        return _expression_definition(analysis, node) if node is not None else []
    tree_root = analysis.yaml(path)
    place = yaml_at(tree_root, at) if tree_root is not None else None
    return _yaml_definition(analysis, path, place) if place is not None else []


def _expression_definition(analysis: Analysis, node: ast.Expr) -> list[Span]:
    checked = analysis.checked
    if checked is None:
        return []
    ref = checked.ref(node)
    out: list[Span | None] = []
    if isinstance(ref, DecisionRef):
        d = _decision(analysis, ref.name)
        out.append(d.name_span if d else None)
    elif isinstance(ref, HopRef):
        out += [_where(analysis, "schema", "relations", r) for r in ref.relation.split("|")]
    elif isinstance(ref, NodeAttribute) and isinstance(node, ast.Attribute):
        owner = checked.type_of(node.obj)
        out += [
            _where(analysis, "schema", "kinds", k, "attributes", ref.name)
            for k in (kinds_of(owner) if owner is not None else ())
        ]
    elif isinstance(ref, CaseField):
        out.append(_where(analysis, "case", *ref.path))
    elif isinstance(ref, ParamRef):
        out.append(_where(analysis, "parameters", ref.name))
    elif isinstance(ref, KindRef):
        out.append(_where(analysis, "schema", "kinds", ref.kind))
    elif isinstance(node, ast.CodeLiteral):
        out.append(_where(analysis, "schema", "kinds", node.kind))
    return [s for s in out if s is not None]


_KIND = re.compile(r"[a-z_][a-z0-9_]*")


def _yaml_definition(analysis: Analysis, path: Path, place: YamlPlace) -> list[Span]:
    value = place.node.value
    kind = file_schema(path, analysis.root, analysis.yaml(path))
    out: list[Span | None] = []
    if kind == "tests":
        if place.is_key and len(place.path) >= 2 and place.path[-2] == "expect":
            d = _decision(analysis, value)
            out.append(d.name_span if d else None)
        elif not place.is_key and place.path[-1:] == ("rule",):
            found = _rule(analysis, value)
            out.append(found[1].id_span if found else None)
        elif place.is_key and "case" in place.path:
            i = place.path.index("case")
            out.append(_where(analysis, "case", *[str(p) for p in place.path[i + 1 :]]))
    elif not place.is_key and (
        place.path == ("output",)
        or place.path[-1:] in (("from",), ("to",))
        or (len(place.path) > 2 and place.path[-2] in ("from", "to"))
    ):
        out += [_where(analysis, "schema", "kinds", k) for k in _KIND.findall(value)]
    elif (
        not place.is_key
        and place.path[:1] in (("decisions",), ("constraints",))
        and kind == "bundle"
    ):
        target = analysis.root / value
        source = analysis.source(target)
        out.append(Span(source or SourceFile(str(target), ""), 1, 1, 1, 1))
    elif not place.is_key and place.path[-1:] == ("path",) and kind == "bundle":
        target = analysis.root / value
        out.append(Span(SourceFile(str(target), ""), 1, 1, 1, 1))
    return [s for s in out if s is not None]


# -- completion -------------------------------------------------------------------------------


def completions(analysis: Analysis, path: Path, at: Position, line_text: str) -> list[Candidate]:
    """What may be typed at the position: in an expression by type; elsewhere the keys the
    schema allows in that mapping, or the values it lists for that key."""
    policy, checked = analysis.policy, analysis.checked
    found = analysis.expression_at(path, at)
    after = ""
    if found is None:
        # Just after an expression, past spaces YAML does not keep (`when: a == `).
        stripped = line_text[: at[1] - 1].rstrip(" ")
        before = (at[0], len(stripped) + 1)
        found = analysis.expression_at(path, before)
        after = line_text[len(stripped) : at[1] - 1] if found is not None else ""
        if found is not None and found[0].whole.end_column != before[1]:
            found = None
    if found is not None and policy is not None and checked is not None:
        text, _ = found
        cursor = next((i for i, p in enumerate(text.positions) if p >= at), len(text.text))
        return complete(policy, checked.schema, checked.case_schema, text, cursor, after)
    return _yaml_completions(analysis, path, at, line_text)


_KEY_LINE = re.compile(r"^(\s*)(?:- )?\s*([A-Za-z_][\w-]*)?$")
_VALUE_LINE = re.compile(r"^(\s*)(?:- )?([A-Za-z_][\w-]*):\s+(\S*)$")


def _yaml_completions(
    analysis: Analysis, path: Path, at: Position, line_text: str
) -> list[Candidate]:
    before = line_text[: at[1] - 1]
    source = analysis.source(path)
    if source is None:
        return []
    # The line being typed may not read as YAML yet (a key without its ':'): read the file
    # without it, and place the cursor by its indentation.
    lines = source.text.split("\n")
    if 0 < at[0] <= len(lines):
        lines[at[0] - 1] = ""
    tree = read_yaml(SourceFile(source.path, "\n".join(lines)), Diagnostics())
    name = file_schema(path, analysis.root, tree)
    if tree is None or name is None:
        return []
    value = _VALUE_LINE.match(before)
    if value is not None:
        key_column = len(value.group(1)) + (2 if before.lstrip().startswith("- ") else 0) + 1
        owner = _mapping_at(tree, at[0], key_column)
        if owner is None:
            return []
        _, keypath = owner
        return _values(analysis, name, (*keypath, value.group(2)))
    key = _KEY_LINE.match(before)
    if key is None:
        return []
    column = len(before) - len(before.lstrip(" ")) + 1
    if before.lstrip().startswith("- "):
        column += 2
    owner = _mapping_at(tree, at[0], column)
    if owner is None:
        return []
    mapping, keypath = owner
    schema = subschema(name, keypath)
    if schema is None:
        return []
    present = set(mapping.keys())
    out = []
    for prop, body in schema.get("properties", {}).items():
        if prop not in present:
            out.append(Candidate(prop, "key", str(body.get("title") or "")))
    return out


def _values(analysis: Analysis, name: str, keypath: tuple[str | int, ...]) -> list[Candidate]:
    schema = subschema(name, keypath)
    if schema is not None and "enum" in schema:
        return [Candidate(str(v), "value", str(schema.get("title") or "")) for v in schema["enum"]]
    if name == "tests" and len(keypath) >= 2 and keypath[-2] == "params" and analysis.policy:
        spec = next((p for p in analysis.policy.manifest.parameters if p.name == keypath[-1]), None)
        if spec is not None and spec.choices:
            return [Candidate(str(c), "value", f"parameter '{spec.name}'") for c in spec.choices]
    return []


def _mapping_at(tree: object, line: int, column: int) -> tuple[YMap, tuple[str | int, ...]] | None:
    """The mapping whose keys start at `column` and whose lines reach `line` (or just above)."""
    from pctrules.language.yamlsource.nodes import YNode

    assert isinstance(tree, YMap | YScalar) or tree is not None
    best: tuple[YMap, tuple[str | int, ...]] | None = None
    node: YNode = tree  # type: ignore[assignment]
    for mapping, keypath in maps(node):
        if not mapping.items or mapping.items[0][0].span.column != column:
            continue
        first = mapping.items[0][0].span.line
        if first <= line <= mapping.span.end_line + 1 and (
            best is None or first >= best[0].items[0][0].span.line
        ):
            best = (mapping, keypath)
    return best


__all__ = ["completions", "contains", "definition", "hover"]
