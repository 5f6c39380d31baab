"""Language server, analysis: a bundle checked with the editor's unsaved text, and what sits at
a position of one of its files (a YAML key or value, an expression node).

The whole bundle is checked again on every change (a check takes tens of milliseconds), so a
change in one file re-checks every file that depends on it: a renamed decision shows up in the
files that refer to it, a schema change in bundle.yaml in every decision and test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pctrules.bundle import Bundle, run_stages
from pctrules.graph.model import OrgGraph
from pctrules.language import ast
from pctrules.language.check.codes import code_problems
from pctrules.language.check.state import CheckedBundle
from pctrules.language.complete import expression_trees
from pctrules.language.diagnostics import Diagnostic, Diagnostics
from pctrules.language.loader import PolicyBundle, json_schema
from pctrules.language.source import EmbeddedText, SourceFile, Span
from pctrules.language.yamlsource.compose import read_yaml
from pctrules.language.yamlsource.nodes import KeyPath, YMap, YNode, YScalar, YSeq
from pctrules.policytests import PolicyTest, check_tests, read_tests

Position = tuple[int, int]  # 1-based line and column, as Span has them


def bundle_root(path: Path) -> Path | None:
    """The bundle a file belongs to: the nearest folder (itself, or up to two above) holding
    a bundle.yaml (a policy test lives in the bundle's tests folder)."""
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, *list(folder.parents)[:2]):
        if (candidate / "bundle.yaml").is_file():
            return candidate
    return None


def contains(span: Span, at: Position) -> bool:
    """Whether a position is inside a span, its end included (a cursor just after a word)."""
    return (span.line, span.column) <= at <= (span.end_line, span.end_column)


def schema_name(path: Path, root: Path) -> str | None:
    """Which JSON Schema a bundle file follows, from where it is and what it holds."""
    if path.name in ("bundle.yaml", "bundle.yml") and path.parent == root:
        return "bundle"
    if path.parent != root:
        return "tests"
    return None  # a decision or constraints file: decided by its first key


@dataclass
class Analysis:
    """One bundle checked with the open editors' text: every file's diagnostics, and lookups."""

    root: Path
    overlay: Mapping[Path, str]
    data_dir: Path | None = None
    graphs: dict[str, OrgGraph] = field(default_factory=dict)  # kept between analyses

    policy: PolicyBundle | None = None
    checked: CheckedBundle | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    tests: list[PolicyTest] = field(default_factory=list)
    files: dict[str, SourceFile] = field(default_factory=dict)  # by absolute path
    _yaml: dict[str, YNode | None] = field(default_factory=dict)

    def run(self) -> Analysis:
        def read(path: Path) -> bytes:
            text = self.overlay.get(path.resolve())
            return text.encode("utf-8") if text is not None else path.read_bytes()

        stages = run_stages(self.root, display_root=str(self.root), read=read)
        self.policy, self.checked = stages.policy, stages.checked
        found = Diagnostics(stages.diagnostics)
        if self.policy is not None:
            self.tests, problems, test_files = read_tests(self.policy, read)
            found.extend(problems)
            if self.checked is not None:
                found.extend(check_tests(self.tests, self.checked))
                found.extend(self._code_problems(self.checked))
            for f in (*self.policy.files, *test_files):
                self.files[f.path] = f
        self.diagnostics = found.sorted()
        return self

    def _code_problems(self, checked: CheckedBundle) -> Diagnostics:
        """The code literals (`sha('Q39')`) that the data contradicts; the graph is built only
        for a bundle that has some."""
        if not any(
            isinstance(n, ast.CodeLiteral) for t in expression_trees(checked) for n in ast.walk(t)
        ):
            return Diagnostics()
        graph = self.graph()
        return code_problems(checked, graph) if graph is not None else Diagnostics()

    # -- files and their YAML -------------------------------------------------------------------

    def file_paths(self) -> list[Path]:
        """Every file of the bundle the analysis read (policy files and tests)."""
        paths = {Path(p) for p in self.files}
        paths.add(self.root / "bundle.yaml")
        return sorted(paths)

    def by_file(self) -> dict[Path, list[Diagnostic]]:
        """The diagnostics of each file; those without a place go to bundle.yaml."""
        out: dict[Path, list[Diagnostic]] = {p: [] for p in self.file_paths()}
        for d in self.diagnostics:
            path = Path(d.span.path) if d.span is not None else self.root / "bundle.yaml"
            out.setdefault(path, []).append(d)
        return out

    def source(self, path: Path) -> SourceFile | None:
        return self.files.get(str(path))

    def yaml(self, path: Path) -> YNode | None:
        """The located YAML tree of a file of the bundle (None when it does not read)."""
        key = str(path)
        if key not in self._yaml:
            source = self.source(path)
            self._yaml[key] = None if source is None else read_yaml(source, Diagnostics())
        return self._yaml[key]

    # -- expressions ------------------------------------------------------------------------

    def expression_at(
        self,
        path: Path,
        at: Position,
    ) -> tuple[EmbeddedText, ast.Expr | None] | None:
        """The expression text of the bundle under a position, and its checked tree if any."""
        if self.policy is None:
            return None
        for text in _texts(self.policy):
            if text.source.path == str(path) and contains(text.whole, at):
                return text, self.tree_of(text)
        return None

    def tree_of(self, text: EmbeddedText) -> ast.Expr | None:
        """The checked tree parsed from an expression text (same file, same place)."""
        if self.checked is None:
            return None
        whole = text.whole
        for tree in expression_trees(self.checked):
            s = tree.span
            if (
                s.path == whole.path
                and (s.line, s.column) >= (whole.line, whole.column)
                and (s.end_line, s.end_column) <= (whole.end_line, whole.end_column)
            ):
                return tree
        return None

    def graph(self) -> OrgGraph | None:
        """The organisation graph of the bundle (built once per manifest text and data)."""
        if self.policy is None or self.checked is None:
            return None
        key = self.policy.manifest.source.text + "\0" + str(self.data_dir)
        if key not in self.graphs:
            bundle = Bundle(self.root, self.policy, self.checked, Diagnostics(), self.data_dir)
            self.graphs.clear()
            self.graphs[key] = bundle.graph
        return self.graphs[key]


def node_at(tree: ast.Expr, at: Position) -> ast.Expr | None:
    """The innermost expression node under a position (an attribute when on its name)."""
    best: ast.Expr | None = None
    for node in ast.walk(tree):
        if contains(node.span, at):
            if isinstance(node, ast.Attribute) and not contains(node.attr_span, at):
                continue  # the position is in the object, deeper in the tree
            best = node
    return best


def _texts(policy: PolicyBundle) -> Iterator[EmbeddedText]:
    for d in policy.decisions:
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
    for c in policy.constraints:
        yield c.for_
        yield c.require


# -- YAML positions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class YamlPlace:
    """What is under a position of a YAML file: a key or a value, and its key path."""

    path: KeyPath
    node: YScalar
    is_key: bool


def yaml_at(root: YNode, at: Position) -> YamlPlace | None:
    """The scalar (key or value) under a position, with the key path that leads to it."""
    stack: list[tuple[YNode, KeyPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, YScalar):
            if contains(node.span, at):
                return YamlPlace(path, node, False)
        elif isinstance(node, YMap):
            for key, value in node.items:
                if contains(key.span, at):
                    return YamlPlace((*path, key.value), key, True)
                stack.append((value, (*path, key.value)))
        else:
            stack.extend((item, (*path, i)) for i, item in enumerate(node.items))
    return None


def maps(root: YNode) -> Iterator[tuple[YMap, KeyPath]]:
    """Every mapping of a YAML tree with its key path."""
    stack: list[tuple[YNode, KeyPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, YMap):
            yield node, path
            stack.extend((v, (*path, k.value)) for k, v in node.items)
        elif isinstance(node, YSeq):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.items))


def file_schema(path: Path, root: Path, tree: YNode | None) -> str | None:
    """The JSON Schema a file follows: bundle, tests, decision or constraints."""
    name = schema_name(path, root)
    if name is not None:
        return name
    if isinstance(tree, YMap):
        if tree.key("constraints") is not None:
            return "constraints"
        return "decision"
    return None


def subschema(name: str, path: KeyPath) -> dict[str, Any] | None:
    """The part of a JSON Schema that describes the value at a key path (through $ref,
    anyOf, items and additionalProperties), or None where the schema says nothing."""
    root = json_schema(name)
    current: dict[str, Any] | None = _resolve(root, root)
    for part in path:
        if current is None:
            return None
        current = _step(root, current, part)
    return current


def _resolve(root: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _step(root: dict[str, Any], schema: dict[str, Any], part: str | int) -> dict[str, Any] | None:
    options = [schema, *(_resolve(root, o) for o in schema.get("anyOf", schema.get("oneOf", [])))]
    for option in options:
        option = _resolve(root, option)
        if isinstance(part, int) and isinstance(option.get("items"), dict):
            return _resolve(root, option["items"])
        if isinstance(part, str):
            props = option.get("properties", {})
            if part in props:
                return _resolve(root, props[part])
            extra = option.get("additionalProperties")
            if isinstance(extra, dict):
                return _resolve(root, extra)
    return None


def schema_text(schema: Mapping[str, Any]) -> str:
    """A schema part's title and description, for a hover."""
    title = schema.get("title")
    description = schema.get("description")
    parts = [f"**{title}**" if title else "", str(description or "")]
    if "enum" in schema:
        parts.append("one of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"]))
    return "\n\n".join(p for p in parts if p)
