"""Load stage: a bundle folder's YAML files → PolicyBundle, each expression with its position.

Over 500 lines because one reader (_Reader) turns the manifest and every policy file into
located specs, sharing its file limits, positions and diagnostics, and the checks that need all
specs at once (unique ids, priorities, effective ranges) sit beside it."""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

from pctrules.files import Folder, Refused, check_plain
from pctrules.language.diagnostics import Code, Diagnostic, Diagnostics, error, warning
from pctrules.language.source import EmbeddedText, SourceFile, Span
from pctrules.language.yamlsource.compose import LIMITS, Limits, LineIndex, decode, read_yaml
from pctrules.language.yamlsource.nodes import (
    KeyPath,
    YMap,
    YNode,
    YScalar,
    YSeq,
    scalar_value,
    to_python,
)
from pctrules.language.yamlsource.offsets import embedded
from pctrules.language.yamlsource.schema import SchemaChecker
from pctrules.resources import default_bundle_path

T = TypeVar("T")

HIT_POLICIES = ("first", "priority", "unique", "any", "collect")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Located(Generic[T]):
    """A value and where it was written."""

    value: T
    span: Span


@dataclass(frozen=True)
class EffectiveRange:
    """Inclusive as-of dates; None is an open end."""

    start: date | None
    end: date | None
    span: Span

    def intersects(self, other: EffectiveRange) -> bool:
        return (self.start or date.min) <= (other.end or date.max) and (
            other.start or date.min
        ) <= (self.end or date.max)

    def __str__(self) -> str:
        return f"{self.start or '…'} to {self.end or '…'}"


@dataclass(frozen=True)
class RuleSpec:
    """A rule as written in its decision file."""

    id: str
    id_span: Span
    span: Span
    title: str | None
    cite: str | None
    reason: str | None
    when: EmbeddedText | None
    then: EmbeddedText | dict[str, EmbeddedText] | None
    priority: Located[int] | None
    effective: EffectiveRange | None
    tags: tuple[str, ...]
    status: str | None


@dataclass(frozen=True)
class DecisionSpec:
    """A decision file: the decision's settings and its rules in file order."""

    name: str
    name_span: Span
    span: Span
    source: SourceFile
    title: str | None
    output: Located[str] | None
    hit: Located[str]
    for_: EmbeddedText | None
    default: EmbeddedText | None
    effective: EffectiveRange | None
    rules: tuple[RuleSpec, ...]
    description: str | None


@dataclass(frozen=True)
class ConstraintSpec:
    """An integrity rule over the organisation graph: for each subject, `require` must hold."""

    id: str
    id_span: Span
    span: Span
    for_: EmbeddedText
    require: EmbeddedText
    message: str | None
    severity: str  # 'error' or 'warning'
    title: str | None = None
    check: str = "tests"  # 'tests': on the policy tests' dates; 'data': whenever data loads
    effective: EffectiveRange | None = None  # the days a 'data' constraint holds on


@dataclass(frozen=True)
class DataEntry:
    """One `data:` entry of the manifest (docs/data-tables.md)."""

    path: str
    layout: str | None
    optional: bool
    span: Span
    kind: str | None = None
    relation: str | None = None
    merge: bool = False
    clip: bool = False

    def as_mapping(self) -> dict[str, Any]:
        """The entry as `graph.build_graph` takes it."""
        out: dict[str, Any] = {"path": self.path, "span": self.span}
        for key in ("layout", "kind", "relation"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in ("optional", "merge", "clip"):
            if getattr(self, key):
                out[key] = True
        return out


@dataclass(frozen=True)
class ParameterSpec:
    """A bundle parameter, read in expressions as `params.<name>`."""

    name: str
    type: str
    default: object
    choices: tuple[object, ...] | None
    description: str | None
    span: Span


@dataclass(frozen=True)
class Manifest:
    """`bundle.yaml`. `where(keypath)` gives the span of the value at a key path (see `locate`)."""

    name: str
    version: str
    title: str | None
    effective: EffectiveRange | None
    case: dict[str, Any]
    schema: dict[str, Any]
    data: tuple[DataEntry, ...]
    parameters: tuple[ParameterSpec, ...]
    decision_files: tuple[str, ...] | None
    constraint_files: tuple[str, ...] | None
    tests_dir: str | None
    attribution: str | None
    source: SourceFile
    where: Callable[[KeyPath], Span | None]


@dataclass(frozen=True)
class PolicyBundle:
    """Everything a bundle folder says; `embedded` when it is the default bundle in the package."""

    root: Path
    manifest: Manifest
    decisions: tuple[DecisionSpec, ...]
    constraints: tuple[ConstraintSpec, ...]
    files: tuple[SourceFile, ...]
    embedded: bool


@functools.cache
def json_schema(name: str) -> dict[str, Any]:
    """One of the JSON Schemas in pctrules/schemas: 'decision', 'bundle', 'constraints', 'tests'."""
    text = (resources.files("pctrules") / "schemas" / f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def locate(root: YNode, path: KeyPath) -> Span | None:
    """The span at a key path: of a scalar value, or of the key naming a list or mapping."""
    node, key_span = root, None
    for part in path:
        if isinstance(node, YMap) and isinstance(part, str):
            key = node.key(part)
            found = node.get(part)
            if key is None or found is None:
                return None
            node, key_span = found, key.span
        elif isinstance(node, YSeq) and isinstance(part, int) and 0 <= part < len(node.items):
            node, key_span = node.items[part], None
        else:
            return None
    if isinstance(node, YScalar) or key_span is None:
        return node.span
    return key_span


class _Reader:
    """Reads one bundle's files: display paths, limits, schema checks and spec building."""

    def __init__(
        self, root: Path, display: str, limits: Limits, read: Callable[[Path], bytes] | None = None
    ) -> None:
        self.root = root
        self.folder = Folder(root)
        self.display = display
        self.limits = limits
        self.read_bytes = read
        self.diagnostics = Diagnostics()
        self.files: list[SourceFile] = []
        self.indexes: dict[int, LineIndex] = {}

    def show(self, path: Path) -> str:
        try:
            relative = path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)
        return f"{self.display}/{relative}" if self.display else relative

    def read(self, path: Path, where: Span | None = None) -> tuple[SourceFile, YNode] | None:
        """A policy file read and composed; None, with a diagnostic (at `where`, the entry
        that named it, if any), when it cannot be: outside the bundle, not a plain file, too
        big, not UTF-8 or not YAML."""
        shown = self.show(path)
        try:
            if self.read_bytes is None:
                data = self.folder.read(path, self.limits.file_bytes, shown)
            else:  # the caller's reader (an editor's unsaved text), after the same checks
                check_plain(self.folder.inside(path, shown), shown)
                data = self.read_bytes(path)
        except Refused as exc:
            if exc.code == Code.LIMIT:  # where the file starts, as for any other limit
                where = Span(SourceFile(shown, ""), 1, 1, 1, 2)
            self.diagnostics.add(exc.diagnostic(where))
            return None
        except OSError as exc:
            self.diagnostics.add(
                error(
                    Code.MISSING_FILE,
                    f"cannot read '{shown}'",
                    None,
                    _lower(exc.strerror or "check the path"),
                )
            )
            return None
        source = decode(data, shown, self.limits)
        if isinstance(source, Diagnostic):
            self.diagnostics.add(source)
            return None
        self.files.append(source)
        node = read_yaml(source, self.diagnostics, self.limits)
        return None if node is None else (source, node)

    def check(self, node: YNode, schema: str, rule_of: Callable[[KeyPath], str | None]) -> None:
        for p in SchemaChecker(json_schema(schema)).check(node):
            rule = rule_of(p.path)
            message = f"for rule '{rule}', {p.message}" if rule else p.message
            self.diagnostics.add(error(p.code, message, p.span, p.help, rule))

    # Values -------------------------------------------------------------------------------

    def text(self, m: YMap, key: str) -> str | None:
        node = m.get(key)
        return node.value if isinstance(node, YScalar) and node.is_text else None

    def word(self, m: YMap, key: str) -> str | None:
        """A scalar as written (`reason: 1` is the code '1'); None when empty or not a scalar."""
        node = m.get(key)
        if isinstance(node, YScalar) and node.value and node.tag != "tag:yaml.org,2002:null":
            return node.value
        return None

    def expression(
        self, m: YMap, key: str, source: SourceFile, rule: str | None = None
    ) -> EmbeddedText | None:
        node = m.get(key)
        if not isinstance(node, YScalar) or node.tag == "tag:yaml.org,2002:null":
            return None  # the schema check has said what is wrong
        return self.embedded(node, source, rule, key)

    def embedded(
        self, node: YScalar, source: SourceFile, rule: str | None, key: str
    ) -> EmbeddedText | None:
        if len(node.value) > self.limits.expression:
            prefix = f"for rule '{rule}', " if rule else ""
            self.diagnostics.add(
                error(
                    Code.LIMIT,
                    f"{prefix}the expression for '{key}' is {len(node.value)} characters "
                    f"long, more than the limit of {self.limits.expression}",
                    node.span,
                    "split it into smaller decisions",
                    rule,
                )
            )
            return None
        index = self.indexes.get(id(source))
        if index is None:
            index = self.indexes[id(source)] = LineIndex(source.text)
        return embedded(node, source, index)

    def effective(self, m: YMap, rule: str | None = None) -> EffectiveRange | None:
        node = m.get("effective")
        if not isinstance(node, YMap):
            return None
        ends: list[date | None] = []
        for key in ("from", "to"):
            value = node.get(key)
            ends.append(self.date(value, rule) if isinstance(value, YScalar) else None)
        span = (m.key("effective") or node).span
        found = EffectiveRange(ends[0], ends[1], span)
        if found.start and found.end and found.start > found.end:
            self.diagnostics.add(
                error(
                    Code.EFFECTIVE_RANGE,
                    _rule_prefix(rule) + f"the effective range starts "
                    f"({found.start}) after it ends ({found.end})",
                    span,
                    "swap 'from' and 'to'",
                    rule,
                )
            )
            return None
        return found

    def date(self, node: YScalar, rule: str | None) -> date | None:
        # Dates are read from the text: YAML's own resolution accepts forms ISO does not.
        if not _DATE.fullmatch(node.value):
            return None  # the schema check has reported the form
        try:
            return date.fromisoformat(node.value)
        except ValueError:
            self.diagnostics.add(
                error(
                    Code.DATE,
                    _rule_prefix(rule) + f"'{node.value}' is not a date of the calendar",
                    node.span,
                    "check the month and the day",
                    rule,
                )
            )
            return None

    # Files --------------------------------------------------------------------------------

    def manifest(self, path: Path) -> Manifest | None:
        found = self.read(path)
        if found is None:
            return None
        source, root = found
        self.check(root, "bundle", lambda _: None)
        if not isinstance(root, YMap):
            return None
        name = self.text(root, "bundle") or self.root.name
        return Manifest(
            name=name,
            version=self.word(root, "version") or "",
            title=self.text(root, "title"),
            effective=self.effective(root),
            case=_mapping(root.get("case")),
            schema=_mapping(root.get("schema")),
            data=self.data_entries(root.get("data")),
            parameters=self.parameters(root.get("parameters")),
            decision_files=_names(root.get("decisions")),
            constraint_files=_names(root.get("constraints")),
            tests_dir=self.tests_dir(root),
            attribution=self.text(root, "attribution"),
            source=source,
            where=functools.partial(locate, root),
        )

    def tests_dir(self, root: YMap) -> str | None:
        """The policy tests' folder: as given (inside the bundle), else 'tests' if present."""
        given = self.text(root, "tests")
        name = given or "tests"
        try:
            path = self.folder.path(name)
        except Refused as exc:
            self.diagnostics.add(exc.diagnostic(locate(root, ("tests",))))
            return None
        return given or ("tests" if path.is_dir() else None)

    def data_entries(self, node: YNode | None) -> tuple[DataEntry, ...]:
        if not isinstance(node, YSeq):
            return ()
        out: list[DataEntry] = []
        for item in node.items:
            if isinstance(item, YScalar) and item.is_text:
                out.append(DataEntry(item.value, None, False, item.span))
            elif isinstance(item, YMap) and (path := self.text(item, "path")):
                flags = {
                    k.value: scalar_value(v) is True
                    for k, v in item.items
                    if k.value in ("optional", "merge", "clip") and isinstance(v, YScalar)
                }
                out.append(
                    DataEntry(
                        path,
                        self.text(item, "layout"),
                        flags.get("optional", False),
                        item.span,
                        self.text(item, "kind"),
                        self.text(item, "relation"),
                        flags.get("merge", False),
                        flags.get("clip", False),
                    )
                )
        return tuple(out)

    def parameters(self, node: YNode | None) -> tuple[ParameterSpec, ...]:
        if not isinstance(node, YMap):
            return ()
        out: list[ParameterSpec] = []
        for key, value in node.items:
            if not isinstance(value, YMap) or not (kind := self.text(value, "type")):
                continue
            default = value.get("default")
            choices = value.get("values") or value.get("choices")
            out.append(
                ParameterSpec(
                    key.value,
                    kind,
                    to_python(default) if default is not None else None,
                    tuple(to_python(choices)) if isinstance(choices, YSeq) else None,
                    self.text(value, "description") or self.text(value, "title"),
                    key.span,
                )
            )
        return tuple(out)

    def decision(self, path: Path, found: tuple[SourceFile, YNode]) -> DecisionSpec | None:
        source, root = found
        rules_node = root.get("rules") if isinstance(root, YMap) else None

        def rule_of(p: KeyPath) -> str | None:
            if (
                len(p) >= 2
                and p[0] == "rules"
                and isinstance(p[1], int)
                and isinstance(rules_node, YSeq)
                and p[1] < len(rules_node.items)
            ):
                item = rules_node.items[p[1]]
                return self.text(item, "id") if isinstance(item, YMap) else None
            return None

        self.check(root, "decision", rule_of)
        if not isinstance(root, YMap):
            return None
        name_node = root.get("decision")
        if not isinstance(name_node, YScalar) or not name_node.is_text or not name_node.value:
            return None
        hit_node = root.get("hit")
        hit = (
            Located(hit_node.value, hit_node.span)
            if isinstance(hit_node, YScalar) and hit_node.value in HIT_POLICIES
            else Located("first", name_node.span)
        )
        output = root.get("output")
        rules = tuple(
            r
            for item in (rules_node.items if isinstance(rules_node, YSeq) else [])
            if isinstance(item, YMap) and (r := self.rule(item, source)) is not None
        )
        return DecisionSpec(
            name=name_node.value,
            name_span=name_node.span,
            span=root.span,
            source=source,
            title=self.text(root, "title"),
            output=Located(output.value, output.span)
            if isinstance(output, YScalar) and output.is_text
            else None,
            hit=hit,
            for_=self.expression(root, "for", source),
            default=self.expression(root, "default", source),
            effective=self.effective(root),
            rules=rules,
            description=self.text(root, "description"),
        )

    def rule(self, m: YMap, source: SourceFile) -> RuleSpec | None:
        id_node = m.get("id")
        if not isinstance(id_node, YScalar) or not id_node.is_text or not id_node.value:
            return None
        rid = id_node.value
        then_node = m.get("then")
        then: EmbeddedText | dict[str, EmbeddedText] | None
        if isinstance(then_node, YMap):
            then = {
                k.value: e
                for k, v in then_node.items
                if isinstance(v, YScalar)
                and (e := self.embedded(v, source, rid, k.value)) is not None
            }
        else:
            then = self.expression(m, "then", source, rid)
        priority = m.get("priority")
        tags = m.get("tags")
        return RuleSpec(
            id=rid,
            id_span=id_node.span,
            span=m.span,
            title=self.text(m, "title"),
            cite=self.text(m, "cite"),
            reason=self.word(m, "reason"),
            when=self.expression(m, "when", source, rid),
            then=then,
            priority=Located(int(priority.value), priority.span)
            if isinstance(priority, YScalar)
            and isinstance(scalar_value(priority), int)
            and priority.value.lstrip("+-").isdigit()
            else None,
            effective=self.effective(m, rid),
            tags=tuple(t.value for t in tags.items if isinstance(t, YScalar))
            if isinstance(tags, YSeq)
            else (),
            status=self.text(m, "status"),
        )

    def constraints(self, found: tuple[SourceFile, YNode]) -> list[ConstraintSpec]:
        source, root = found
        self.check(root, "constraints", lambda _: None)
        items = root.get("constraints") if isinstance(root, YMap) else None
        out: list[ConstraintSpec] = []
        for item in items.items if isinstance(items, YSeq) else []:
            if not isinstance(item, YMap):
                continue
            cid = self.text(item, "id")
            id_node = item.get("id")
            for_ = self.expression(item, "for", source, cid)
            require = self.expression(item, "require", source, cid)
            if cid and id_node is not None and for_ is not None and require is not None:
                out.append(
                    ConstraintSpec(
                        cid,
                        id_node.span,
                        item.span,
                        for_,
                        require,
                        self.text(item, "message"),
                        self.text(item, "severity") or "error",
                        self.text(item, "title"),
                        self.text(item, "check") or "tests",
                        self.effective(item, cid),
                    )
                )
        return out


def _rule_prefix(rule: str | None) -> str:
    return f"for rule '{rule}', " if rule else ""


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _mapping(node: YNode | None) -> dict[str, Any]:
    value = to_python(node) if isinstance(node, YMap) else {}
    return value if isinstance(value, dict) else {}


def _names(node: YNode | None) -> tuple[str, ...] | None:
    if isinstance(node, YScalar) and node.is_text:
        return (node.value,)
    if isinstance(node, YSeq):
        return tuple(i.value for i in node.items if isinstance(i, YScalar) and i.is_text)
    return None


def display_base(root: Path, display_root: str | None = None) -> tuple[str, bool]:
    """The prefix users see for the bundle's files, and whether it is the embedded default.

    Given `display_root`, that; for the default bundle shipped in the package, its name
    (`england`); for a folder under the current directory, its path relative to it; else the
    path as given.
    """
    embedded_bundle = _same(root, default_bundle_path())
    if display_root is not None:
        return display_root.rstrip("/"), embedded_bundle
    if embedded_bundle:
        return default_bundle_path().name, True
    try:
        relative = root.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(root).rstrip("/") or "/", False
    return ("" if relative == "." else relative), False


def path_label(root: Path) -> Callable[[Path], str]:
    """How users see a data file of the bundle at `root`: under the bundle's display name
    (`england/data/pct.csv`, as policy files are shown, wherever the package is installed),
    else as given."""
    display, _ = display_base(root)

    def show(path: Path) -> str:
        try:
            relative = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return str(path)
        return f"{display}/{relative}" if display else relative

    return show


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def load_bundle(
    root: Path,
    *,
    display_root: str | None = None,
    limits: Limits = LIMITS,
    read: Callable[[Path], bytes] | None = None,
) -> tuple[PolicyBundle | None, Diagnostics]:
    """Load a bundle folder: manifest, decisions and constraints, with all their problems.

    Never raises for anything in the files: problems are diagnostics. The bundle is None only
    when nothing usable loaded (no readable `bundle.yaml`). `read` gives a file's bytes (the
    language server reads the text of files open in the editor through it).
    """
    root = Path(root)
    display, embedded_bundle = display_base(root, display_root)
    reader = _Reader(root, display, limits, read)
    manifest = _read_manifest(reader)
    if manifest is None and not (root / "bundle.yaml").is_file():
        return None, reader.diagnostics
    decision_paths, constraint_paths = _policy_files(reader, manifest)
    decisions: list[DecisionSpec] = []
    constraints: list[ConstraintSpec] = []
    for path, found in decision_paths:
        spec = reader.decision(path, found)
        if spec is not None:
            decisions.append(spec)
    for _, found in constraint_paths:
        constraints.extend(reader.constraints(found))
    if manifest is None:
        return None, reader.diagnostics
    for check in _BUNDLE_CHECKS:
        reader.diagnostics.extend(check(manifest, decisions, constraints))
    bundle = PolicyBundle(
        root, manifest, tuple(decisions), tuple(constraints), tuple(reader.files), embedded_bundle
    )
    return bundle, reader.diagnostics


def load_manifest(
    root: Path,
    *,
    display_root: str | None = None,
    limits: Limits = LIMITS,
) -> tuple[Manifest | None, Diagnostics]:
    """Load only a bundle's `bundle.yaml` (for commands that need its schema and data, not its
    decisions); None when it is missing or unusable, with the problems in the diagnostics."""
    root = Path(root)
    reader = _Reader(root, display_base(root, display_root)[0], limits)
    return _read_manifest(reader), reader.diagnostics


def _read_manifest(reader: _Reader) -> Manifest | None:
    """The manifest, or None with a diagnostic saying what the bundle path is instead."""
    root = reader.root
    manifest_path = root / "bundle.yaml"
    if manifest_path.is_file():
        return reader.manifest(manifest_path)
    if root.name in ("bundle.yaml", "bundle.yml") and root.is_file():
        problem, fix = (
            f"'{root}' is the manifest, not the bundle folder",
            f"give the folder that holds it: '{root.parent}'",
        )
    elif root.is_file():
        problem, fix = (
            f"the bundle '{root}' is a file, not a folder",
            "a bundle is a folder with a 'bundle.yaml' manifest",
        )
    elif not root.is_dir():
        problem, fix = (
            f"the bundle folder '{root}' does not exist",
            "a bundle is a folder with a 'bundle.yaml' manifest",
        )
    elif manifest_path.exists():
        problem, fix = (
            f"the manifest '{reader.show(manifest_path)}' is not a file",
            "a bundle's 'bundle.yaml' is a YAML file",
        )
    else:
        problem, fix = (
            f"the manifest '{reader.show(manifest_path)}' does not exist",
            "a bundle is a folder with a 'bundle.yaml' manifest",
        )
    reader.diagnostics.add(error(Code.MISSING_FILE, problem, None, fix))
    return None


Found = tuple[Path, tuple[SourceFile, YNode]]


def _policy_files(reader: _Reader, manifest: Manifest | None) -> tuple[list[Found], list[Found]]:
    """The decision and constraint files: as listed in the manifest, else found by their key."""
    listed_decisions = manifest.decision_files if manifest else None
    listed_constraints = manifest.constraint_files if manifest else None
    decisions: list[Found] = []
    constraints: list[Found] = []
    for names, into, key in (
        (listed_decisions, decisions, "decisions"),
        (listed_constraints, constraints, "constraints"),
    ):
        for index, name in enumerate(names or ()):
            where = (
                manifest.where((key, index)) or manifest.where((key,))
                if manifest is not None
                else None
            )
            for path in _expand(reader, name, key, where):
                found = reader.read(path, where)
                if found is not None:
                    into.append((path, found))
    if listed_decisions is not None and listed_constraints is not None:
        return decisions, constraints
    taken = {p.resolve() for p, _ in decisions + constraints}
    skip = {(reader.root / e.path).resolve() for e in (manifest.data if manifest else ())}
    for path in sorted(reader.root.glob("*.y*ml")):
        if (
            path.suffix not in (".yaml", ".yml")
            or path.name in ("bundle.yaml", "bundle.yml")
            or path.resolve() in taken | skip
            or not path.is_file()
        ):
            continue
        try:
            reader.folder.inside(path, reader.show(path))
        except Refused as exc:
            reader.diagnostics.add(exc.diagnostic())
            continue
        found = reader.read(path)
        if found is None or not isinstance(found[1], YMap):
            continue
        keys = found[1].keys()
        if "decision" in keys and listed_decisions is None:
            decisions.append((path, found))
        elif "constraints" in keys and listed_constraints is None:
            constraints.append((path, found))
        else:
            # Neither kind of policy file (or one the manifest lists elsewhere): not shown.
            reader.files.remove(found[0])
    return decisions, constraints


def _expand(reader: _Reader, name: str, key: str, where: Span | None) -> list[Path]:
    """The files an entry of `decisions:` or `constraints:` names: one path, or a glob's
    matches; each inside the bundle, or an E-path diagnostic at the entry."""
    try:
        if any(ch in name for ch in "*?["):
            # Where the pattern starts looking must be inside; so must every match.
            parts = Path(name).parts
            fixed = [
                p for p in itertools.takewhile(lambda p: not any(c in p for c in "*?["), parts)
            ]
            if Path(name).is_absolute():
                reader.folder.path(name)
            reader.folder.inside(reader.root.joinpath(*fixed), name)
            manifest_file = (reader.root / "bundle.yaml").resolve()
            try:  # every match once, the manifest never (a pattern such as '*.yaml')
                matches = sorted(
                    {
                        p.resolve(): p
                        for p in reader.root.glob(name)
                        if p.is_file() and p.resolve() != manifest_file
                    }.values()
                )
            except ValueError:  # not a glob pattern after all ('a[b')
                matches = []
            if matches:
                return [reader.folder.inside(p, reader.show(p)) for p in matches]
        path = reader.folder.path(name)
    except Refused as exc:
        reader.diagnostics.add(exc.diagnostic(where))
        return []
    if path.exists():
        return [path]  # read() refuses what is not a plain file
    reader.diagnostics.add(
        error(
            Code.MISSING_FILE,
            f"the file '{name}' listed under '{key}' does not exist",
            where,
            "check the path: it is relative to the bundle folder",
        )
    )
    return []


# Bundle-wide checks: ordered passes over what loaded -------------------------------------

BundleCheck = Callable[[Manifest, list[DecisionSpec], list[ConstraintSpec]], Iterable[Diagnostic]]


def check_unique_ids(
    manifest: Manifest,
    decisions: list[DecisionSpec],
    constraints: list[ConstraintSpec],
) -> Iterable[Diagnostic]:
    """Rule ids are unique in the bundle, constraint ids among constraints, decision names too."""
    seen: dict[str, Span] = {}
    for d in decisions:
        for r in d.rules:
            if r.id in seen:
                yield error(
                    Code.DUPLICATE_RULE,
                    f"the rule id '{r.id}' is used twice",
                    r.id_span,
                    f"the first is at {seen[r.id]}; rule ids must be unique in the bundle",
                    r.id,
                )
            else:
                seen[r.id] = r.id_span
    names: dict[str, Span] = {}
    for d in decisions:
        if d.name in names:
            yield error(
                Code.DUPLICATE_DECISION,
                f"the decision '{d.name}' is defined twice",
                d.name_span,
                f"the first is at {names[d.name]}; rename one",
            )
        else:
            names[d.name] = d.name_span
    ids: dict[str, Span] = {}
    for c in constraints:
        if c.id in ids:
            yield error(
                Code.DUPLICATE_RULE,
                f"the constraint id '{c.id}' is used twice",
                c.id_span,
                f"the first is at {ids[c.id]}; constraint ids must be unique",
            )
        else:
            ids[c.id] = c.id_span


def check_priorities(
    manifest: Manifest,
    decisions: list[DecisionSpec],
    constraints: list[ConstraintSpec],
) -> Iterable[Diagnostic]:
    """Under `hit: priority` every rule has a distinct priority; elsewhere it means nothing."""
    for d in decisions:
        if d.hit.value != "priority":
            for r in d.rules:
                if r.priority is not None:
                    yield warning(
                        Code.IGNORED_KEY,
                        f"for rule '{r.id}', 'priority' has no effect under 'hit: {d.hit.value}'",
                        r.priority.span,
                        "remove it, or set 'hit: priority' on the decision",
                        r.id,
                    )
            continue
        first: dict[int, RuleSpec] = {}
        for r in d.rules:
            if r.priority is None:
                yield error(
                    Code.MISSING_KEY,
                    f"for rule '{r.id}', 'priority' is missing under 'hit: priority'",
                    r.id_span,
                    "add 'priority: N'; the highest priority among the matching rules wins",
                    r.id,
                )
            elif r.priority.value in first:
                other = first[r.priority.value]
                yield error(
                    Code.PRIORITY_TIE,
                    f"for rule '{r.id}', priority {r.priority.value} "
                    f"is also the priority of rule '{other.id}'",
                    r.priority.span,
                    f"'{other.id}' is at {other.priority.span if other.priority else ''}"
                    "; give each rule its own priority",
                    r.id,
                )
            else:
                first[r.priority.value] = r


def check_effective_ranges(
    manifest: Manifest,
    decisions: list[DecisionSpec],
    constraints: list[ConstraintSpec],
) -> Iterable[Diagnostic]:
    """Decisions and rules apply to some date the bundle (and the decision) speaks for."""
    outer = manifest.effective
    for d in decisions:
        if d.effective and outer and not d.effective.intersects(outer):
            yield error(
                Code.EFFECTIVE_RANGE,
                f"the decision's effective dates ({d.effective}) "
                f"never fall within the bundle's ({outer})",
                d.effective.span,
                "correct the dates, or the bundle's 'effective:'",
            )
        for r in d.rules:
            if r.effective is None:
                continue
            for what, other in (("decision's", d.effective), ("bundle's", outer)):
                if other and not r.effective.intersects(other):
                    yield error(
                        Code.EFFECTIVE_RANGE,
                        f"for rule '{r.id}', the effective dates "
                        f"({r.effective}) never fall within the {what} ({other})",
                        r.effective.span,
                        "the rule could never apply; correct its dates",
                        r.id,
                    )
                    break


_BUNDLE_CHECKS: tuple[BundleCheck, ...] = (
    check_unique_ids,
    check_priorities,
    check_effective_ranges,
)

__all__ = [
    "HIT_POLICIES",
    "ConstraintSpec",
    "DataEntry",
    "DecisionSpec",
    "EffectiveRange",
    "Located",
    "Manifest",
    "ParameterSpec",
    "PolicyBundle",
    "RuleSpec",
    "display_base",
    "json_schema",
    "load_bundle",
    "load_manifest",
    "locate",
    "path_label",
]
