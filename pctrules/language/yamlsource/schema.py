"""YAML layer, structure: checks located YAML nodes against the JSON Schemas in pctrules/schemas."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from pctrules.language.diagnostics import Code, did_you_mean
from pctrules.language.source import Span
from pctrules.language.yamlsource.nodes import KeyPath, YMap, YNode, YScalar, YSeq

# Structural checks against the JSON Schemas in pctrules/schemas ------------------------------


@dataclass(frozen=True)
class SchemaProblem:
    """A place where a YAML document does not fit its JSON Schema."""

    code: Code
    message: str
    span: Span
    help: str | None
    path: KeyPath


_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "empty",
}
_TAG_TYPES = {
    "tag:yaml.org,2002:int": "integer",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:bool": "boolean",
    "tag:yaml.org,2002:null": "null",
}


def json_type(node: YNode) -> str:
    """The JSON Schema type a node has (YAML dates count as text: policy files read them)."""
    if isinstance(node, YMap):
        return "object"
    if isinstance(node, YSeq):
        return "array"
    return _TAG_TYPES.get(node.tag, "string")


def _fits(node: YNode, types: list[str]) -> bool:
    t = json_type(node)
    return t in types or (t == "integer" and "number" in types)


class SchemaChecker:
    """Checks located YAML nodes against a JSON Schema (the subset pctrules' schemas use).

    Keywords: type, properties, required, additionalProperties, propertyNames, enum, pattern,
    items, anyOf/oneOf (oneOf is read as anyOf), $ref to $defs. Annotations read here: title and
    description (for messages), x-code (the diagnostic code for problems with that value),
    x-help, x-expects, and x-validated-by (a part another stage checks, skipped here).
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.root = schema

    def check(self, node: YNode) -> list[SchemaProblem]:
        out: list[SchemaProblem] = []
        self._check(node, self.root, (), None, out)
        return out

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            target: Any = self.root
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def _check(
        self,
        node: YNode,
        schema: dict[str, Any],
        path: KeyPath,
        key: YScalar | None,
        out: list[SchemaProblem],
    ) -> None:
        s = self.resolve(schema)
        if "x-validated-by" in s:
            return
        branches = s.get("anyOf") or s.get("oneOf")
        if branches:
            self._branches(node, s, branches, path, key, out)
            return
        types = s.get("type")
        if types is not None:
            types = [types] if isinstance(types, str) else list(types)
            if not _fits(node, types):
                out.append(self._type_problem(node, s, types, path))
                return
        if isinstance(node, YScalar):
            self._scalar(node, s, path, out)
        elif isinstance(node, YMap):
            self._mapping(node, s, path, key, out)
        elif "items" in s:
            for i, item in enumerate(node.items):
                self._check(item, s["items"], (*path, i), None, out)

    def _branches(
        self,
        node: YNode,
        s: dict[str, Any],
        branches: list[dict[str, Any]],
        path: KeyPath,
        key: YScalar | None,
        out: list[SchemaProblem],
    ) -> None:
        attempts: list[tuple[dict[str, Any], list[SchemaProblem]]] = []
        for branch in branches:
            found: list[SchemaProblem] = []
            self._check(node, {**branch, **_annotations(s)}, path, key, found)
            if not found:
                return
            attempts.append((self.resolve(branch), found))
        # Report the branch that fits the node's shape; else say what shapes were allowed.
        for branch, found in attempts:
            if "type" in branch and _fits(node, _listed(branch["type"])):
                out.extend(found)
                return
        types = [t for branch, _ in attempts for t in _listed(branch.get("type", []))]
        words = [
            b.get("x-expects") or _either([_TYPE_WORDS[t] for t in _listed(b["type"])])
            for b, _ in attempts
            if "type" in b
        ]
        s = {**s, "x-expects": _either(list(dict.fromkeys(words)))} if words else s
        out.append(self._type_problem(node, s, list(dict.fromkeys(types)), path))

    def _scalar(
        self,
        node: YScalar,
        s: dict[str, Any],
        path: KeyPath,
        out: list[SchemaProblem],
    ) -> None:
        code = Code(s.get("x-code", Code.TYPE))
        if "enum" in s and node.value not in [str(v) for v in s["enum"]]:
            choices = ", ".join(f"'{v}'" for v in s["enum"])
            out.append(
                SchemaProblem(
                    code,
                    f"{_what(path)} must be one of {choices}, not '{node.value}'",
                    node.span,
                    did_you_mean(node.value, [str(v) for v in s["enum"]]) or _help(s),
                    path,
                )
            )
        elif "pattern" in s and not pattern(s["pattern"]).search(node.value):
            noun = str(s.get("x-noun") or s.get("title", "value")).lower()
            out.append(
                SchemaProblem(
                    code, f"'{node.value}' is not a valid {noun}", node.span, _help(s), path
                )
            )

    def _mapping(
        self,
        node: YMap,
        s: dict[str, Any],
        path: KeyPath,
        key: YScalar | None,
        out: list[SchemaProblem],
    ) -> None:
        properties: dict[str, Any] = s.get("properties", {})
        extra = s.get("additionalProperties", True)
        names = s.get("propertyNames")
        noun = str(s.get("title", "mapping")).lower()
        for k, v in node.items:
            if names is not None:
                self._check(k, names, (*path, k.value), None, out)
            if k.value in properties:
                self._check(v, properties[k.value], (*path, k.value), k, out)
            elif extra is False:
                out.append(
                    SchemaProblem(
                        Code.UNKNOWN_KEY,
                        f"unknown key '{k.value}' in {noun}",
                        k.span,
                        did_you_mean(k.value, properties)
                        or f"the keys of a {noun} are {_listing(properties)}",
                        (*path, k.value),
                    )
                )
            elif isinstance(extra, dict):
                self._check(v, extra, (*path, k.value), k, out)
        present = set(node.keys())
        for name in s.get("required", []):
            if name not in present:
                described = self.resolve(properties.get(name, {})).get("description", "")
                out.append(
                    SchemaProblem(
                        Code.MISSING_KEY,
                        f"{noun} is missing the required key '{name}'",
                        (key or node).span,
                        f"add '{name}:'" + (f", {_lower(described)}" if described else ""),
                        path,
                    )
                )

    def _type_problem(
        self,
        node: YNode,
        s: dict[str, Any],
        types: list[str],
        path: KeyPath,
    ) -> SchemaProblem:
        code = Code(s.get("x-code", Code.TYPE))
        expected = s.get("x-expects") or _either([_TYPE_WORDS.get(t, t) for t in types])
        actual = json_type(node)
        if isinstance(node, YScalar) and node.value and actual != "string" and "string" in types:
            help = s.get("x-help") if "x-expects" in s else f'put it in quotes: "{node.value}"'
            return SchemaProblem(
                code,
                f"{_what(path)} must be {expected}, but YAML reads "
                f"'{node.value}' as {_TYPE_WORDS[actual]}",
                node.span,
                help,
                path,
            )
        if isinstance(node, YScalar) and actual != "null":
            found = f"'{node.value}'"
        else:
            found = _TYPE_WORDS[actual]
        return SchemaProblem(
            code, f"{_what(path)} must be {expected}, not {found}", node.span, _help(s), path
        )


@functools.cache
def pattern(text: str) -> re.Pattern[str]:
    """A JSON Schema `pattern` as Python reads it with JSON Schema's meaning: there `$` is the
    end of the text, where Python's `$` also matches before a final newline (so that 'resp\\n'
    would pass '^[a-z_]+$' and reach the compiler as a name)."""
    out: list[str] = []
    in_class = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            out.append(r"\Z")
            continue
        out.append(ch)
    return re.compile("".join(out))


def _annotations(s: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in s.items() if k in ("title", "description", "x-code")}


def _listed(types: Any) -> list[str]:
    return [types] if isinstance(types, str) else list(types)


def _what(path: KeyPath) -> str:
    if not path:
        return "the file"
    last = path[-1]
    if isinstance(last, int):
        owner = next((p for p in reversed(path) if isinstance(p, str)), None)
        return f"item {last + 1} of '{owner}'" if owner else f"item {last + 1}"
    return f"'{last}'"


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _listing(names: dict[str, Any]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _lower(text: str) -> str:
    """A description as a help line: no final period, lower case unless it starts an acronym."""
    text = text.rstrip(".")
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def _help(s: dict[str, Any]) -> str | None:
    if "x-help" in s:
        return str(s["x-help"])
    return _lower(str(s["description"])) if "description" in s else None
