"""Format stage: a policy file in one canonical layout, every comment kept (`pctrules fmt`).

The file is read into located nodes (yamlsource), its comments found in the text between
them, and the document written again: keys in the order of the file's JSON Schema (unknown
keys after, as they were), two spaces per level, lists indented under their key, one blank
line at most between entries (where the source had one), trailing comments two spaces after
their line (aligned within a run of commented lines), and expressions re-printed by the AST
printer with canonical spacing, plain when they fit on the line and as `>-` blocks split at
top-level `and`/`or` (or `if`/`then`/`else`) when they do not. Scalars that are not
expressions keep their text (quoted or block scalars re-indented only). A collection written
in flow style (`{a: b}`, `[a, b]`) stays so while it fits on its line and holds no comment.

The result is read back before it is returned: the same data, the same expressions (as
trees) and the same comments, or the file is left as it is (FormatError).

Over 500 lines on purpose: finding comments, attaching them to entries and writing the
layout work on one shared reading of the file (the _Writer's state), and read badly apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pctrules.language import ast
from pctrules.language.diagnostics import Diagnostics
from pctrules.language.parser import parse_expression
from pctrules.language.source import SourceFile
from pctrules.language.yamlsource.compose import LineIndex, read_yaml
from pctrules.language.yamlsource.nodes import KeyPath, YMap, YNode, YScalar, YSeq, to_python

WIDTH = 100
INDENT = 2


class FormatError(Exception):
    """The file cannot be formatted (it does not read, or uses what fmt does not rewrite)."""


@dataclass
class Comment:
    line: int  # 1-based
    column: int
    text: str  # '# …', without trailing spaces
    own_line: bool
    blank_after: bool = False  # an empty line follows it (kept: it separates a header)


@dataclass(eq=False)
class _Entry:
    """A key of a block mapping or an item of a block sequence: what comments attach to."""

    first: int  # its first line
    last: int  # its last line
    leading: list[Comment] = field(default_factory=list)
    trailing: list[Comment] = field(default_factory=list)
    continued: list[Comment] = field(default_factory=list)  # lines of its trailing comment
    blank_before: bool = False


# -- reading: nodes, comments, entries ----------------------------------------------------------


def _scalar_ranges(node: YNode, text: str, out: list[tuple[int, int]]) -> None:
    """Where scalars (keys too) sit in the text: no '#' there starts a comment. A block
    scalar's header line is left out (a comment may follow its indicator)."""
    stack: list[YNode] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, YScalar):
            start = n.start
            if n.style in ("|", ">"):
                eol = text.find("\n", start)
                start = len(text) if eol < 0 else eol + 1
            out.append((start, n.end))
        elif isinstance(n, YMap):
            for k, v in n.items:
                stack += [k, v]
        else:
            stack.extend(n.items)


def find_comments(root: YNode, text: str) -> list[Comment]:
    """Every comment of the file, in order."""
    ranges: list[tuple[int, int]] = []
    _scalar_ranges(root, text, ranges)
    ranges.sort()
    index = LineIndex(text)
    out: list[Comment] = []
    i, r = 0, 0
    n = len(text)
    while i < n:
        while r < len(ranges) and ranges[r][1] <= i:
            r += 1
        if r < len(ranges) and ranges[r][0] <= i < ranges[r][1]:
            i = ranges[r][1]
            continue
        if text[i] == "#" and (i == 0 or text[i - 1] in " \t\n\r"):
            end = text.find("\n", i)
            end = n if end < 0 else end
            line, column = index.position(i)
            own = not text[i - column + 1 : i].strip()
            after = text[end + 1 : text.find("\n", end + 1) if "\n" in text[end + 1 :] else n]
            out.append(
                Comment(
                    line, column, text[i:end].rstrip(), own, own and end < n and not after.strip()
                )
            )
            i = end
        else:
            i += 1
    return out


def _uses_anchors_or_tags(text: str) -> bool:
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            return True
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)) and (
            event.anchor or (event.tag and event.tag != "!")
        ):
            return True
    return False


# -- the schema: key order and which values are expressions -----------------------------------


class _Schema:
    """Key order and expression places from one of pctrules' JSON Schemas."""

    def __init__(self, name: str | None) -> None:
        from pctrules.language.loader import json_schema

        self.root: dict[str, Any] | None = json_schema(name) if name else None

    def at(self, path: KeyPath) -> dict[str, Any] | None:
        if self.root is None:
            return None
        current: dict[str, Any] | None = self._resolve(self.root)
        for part in path:
            if current is None:
                return None
            current = self._step(current, part)
        return current

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        assert self.root is not None
        while "$ref" in schema:
            target: Any = self.root
            for part in str(schema["$ref"]).removeprefix("#/").split("/"):
                target = target[part]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def _options(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        return [schema, *(self._resolve(o) for o in schema.get("anyOf", schema.get("oneOf", [])))]

    def _step(self, schema: dict[str, Any], part: str | int) -> dict[str, Any] | None:
        for option in self._options(schema):
            if isinstance(part, int) and isinstance(option.get("items"), dict):
                return self._resolve(option["items"])
            if isinstance(part, str):
                if part in option.get("properties", {}):
                    return self._resolve(option["properties"][part])
                if isinstance(option.get("additionalProperties"), dict):
                    return self._resolve(option["additionalProperties"])
        return None

    def order(self, path: KeyPath) -> list[str]:
        schema = self.at(path)
        keys: list[str] = []
        for option in self._options(schema) if schema else []:
            keys += [k for k in option.get("properties", {}) if k not in keys]
        return keys

    def is_expression(self, path: KeyPath) -> bool:
        schema = self.at(path)
        return (
            any(o.get("x-expects") == "an expression" for o in self._options(schema))
            if schema
            else False
        )


def schema_for(path: str, tree: YNode) -> str | None:
    """Which schema a policy file follows: by its name, its folder, or its first key."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if name in ("bundle.yaml", "bundle.yml"):
        return "bundle"
    if "/tests/" in "/" + path.replace("\\", "/"):
        return "tests"
    if isinstance(tree, YMap):
        if tree.key("decision") is not None:
            return "decision"
        if tree.key("constraints") is not None:
            return "constraints"
    return None


# -- expressions --------------------------------------------------------------------------------

_PLAIN_START = set("-?:,[]{}#&*!|>'\"%@`")


def plain_safe(text: str) -> bool:
    """Whether text can be written as a plain YAML scalar on one line and read back as is."""
    if not text or text != text.strip() or text[0] in _PLAIN_START or "\n" in text:
        return False
    if ": " in text or " #" in text or text.endswith(":") or "\t" in text:
        return False
    try:
        node = yaml.compose(f"k: {text}\n", Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return False
    if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
        return False
    value = node.value[0][1]
    return isinstance(value, yaml.ScalarNode) and value.value == text and not value.style


def expression_lines(text: str) -> list[str] | None:
    """The expression re-printed: one line, or the lines of a block (split at top-level
    `and`/`or`, or `if`/`then`/`else`); None to keep the text as written (it does not parse,
    holds a comment, or the printer cannot give the same tree)."""
    if "#" in text:
        return None  # it may hold a comment, which the printer would drop
    tree, problems = parse_expression(text)
    if tree is None or problems:
        return None
    try:
        one = ast.unparse(tree)
    except Exception:  # a node the printer does not know yet: keep the author's text
        return None
    again, problems = parse_expression(one)
    if again != tree or problems:
        return None
    lines = [one]
    if isinstance(tree, ast.BoolOp):
        strength = "or" if tree.op == "or" else "and"
        parts = [ast.unparse(ast.BoolOp(strength, (o,), span=tree.span)) for o in tree.operands]
        lines = [parts[0], *(f"{tree.op} {p}" for p in parts[1:])]
    elif isinstance(tree, ast.Conditional):
        cond = ast.unparse(ast.Conditional(tree.test, tree.body, tree.orelse, span=tree.span))
        test, _, rest = cond.removeprefix("if ").partition(" then ")
        if rest:
            body, _, orelse = rest.partition(" else ")
            lines = [f"if {test}", f"then {body}", f"else {orelse}"]
    joined, problems = parse_expression(" ".join(lines))
    return [one, *lines] if joined == tree and not problems else [one, one]


# -- writing ------------------------------------------------------------------------------------


class _Writer:
    def __init__(self, source: SourceFile, root: YNode, schema: str | None) -> None:
        self.text = source.text
        self.lines_in = source.text.split("\n")
        self.schema = _Schema(schema)
        self.comments = find_comments(root, source.text)
        self.out: list[tuple[str, str | None]] = []  # (line, trailing comment)
        self.entries: list[tuple[_Entry, int]] = []  # with depth
        self.entry_of: dict[int, _Entry] = {}
        self.flow: dict[int, bool] = {}

    # Entries and comments ------------------------------------------------------------------

    def collect(self, node: YNode, depth: int, path: KeyPath) -> None:
        """Decide flow or block for every collection and list the entries comments attach to."""
        if isinstance(node, YScalar):
            return
        block = not self._is_flow(node) or self._flow_text(node, path) is None
        self.flow[id(node)] = not block
        if not block:
            return
        if isinstance(node, YMap):
            for k, v in node.items:
                self._entry(k, v, k.span.line, depth)
                self.collect(v, depth + 1, (*path, k.value))
        else:
            for i, item in enumerate(node.items):
                self._entry(item, item, self._dash_line(item), depth)
                self.collect(item, depth + 1, (*path, i))

    def _entry(self, key: YNode, node: YNode, first: int, depth: int) -> None:
        entry = _Entry(first, max(first, self._last_line(node)))
        self.entry_of[id(key)] = entry
        self.entries.append((entry, depth))

    def _dash_line(self, item: YNode) -> int:
        return item.span.line

    def _last_line(self, node: YNode) -> int:
        if isinstance(node, YScalar):
            if node.style in ("|", ">"):
                return self._block_lines(node)[1]
            return (
                LineIndex(self.text).position(max(node.end - 1, node.start))[0]
                if node.end > node.start
                else node.span.line
            )
        if self._is_flow(node) or not node.items:
            return node.span.end_line
        if isinstance(node, YMap):
            key, value = node.items[-1]
            return max(key.span.line, self._last_line(value))
        return self._last_line(node.items[-1])

    def attach(self) -> tuple[list[Comment], list[Comment]]:
        """Give each comment to an entry; those before the first entry (the file's header)
        and after the last are returned."""
        ordered = sorted(self.entries, key=lambda e: (e[0].first, e[1]))
        tail: list[Comment] = []
        header: list[Comment] = []
        first = ordered[0][0].first if ordered else 0
        last: tuple[Comment, _Entry] | None = None  # the last trailing comment, and its entry
        for c in self.comments:
            if (
                c.own_line
                and last is not None
                and last[0].line == c.line - 1
                and last[0].column == c.column
            ):
                # A comment under a trailing comment, in its column: it goes on with it.
                last[1].continued.append(c)
                last = (c, last[1])
                continue
            last = None
            if c.own_line and c.line < first:
                header.append(c)
            elif c.own_line:
                following = next((e for e, _ in ordered if e.first > c.line), None)
                (following.leading if following else tail).append(c)
            else:
                holders = [(e, d) for e, d in ordered if e.first <= c.line <= e.last]
                if holders:
                    holder = max(holders, key=lambda h: h[1])[0]
                    holder.trailing.append(c)
                    last = (c, holder)
                else:
                    tail.append(c)
        for entry, _ in ordered:
            top = min([entry.first, *(c.line for c in entry.leading)])
            entry.blank_before = top >= 2 and not self.lines_in[top - 2].strip()
        return header, tail

    # Flow collections ------------------------------------------------------------------------

    def _is_flow(self, node: YMap | YSeq) -> bool:
        opener = self.text[self._offset(node.span.line, node.span.column) :][:1]
        return opener in ("{", "[")

    def _offset(self, line: int, column: int) -> int:
        return LineIndex(self.text).offset(line - 1, column - 1)

    def _flow_text(self, node: YNode, path: KeyPath) -> str | None:
        """The flow collection on one line, or None when it holds a comment or a multi-line
        value (it is then written as a block)."""
        if isinstance(node, YScalar):
            text = self.scalar_text(node, path, 0)
            return text[0] if len(text) == 1 and node.style not in ("|", ">") else None
        start = self._offset(node.span.line, node.span.column)
        end = self._offset(node.span.end_line, node.span.end_column)
        if any(
            node.span.line <= c.line <= node.span.end_line
            and c.line > 0
            and self._inside(c, start, end)
            for c in self.comments
        ):
            return None
        parts: list[str] = []
        if isinstance(node, YMap):
            for k, v in self._ordered(node, path):
                value = self._flow_text(v, (*path, k.value))
                if value is None:
                    return None
                parts.append(f"{self.raw(k)}: {value}")
            return "{" + ", ".join(parts) + "}"
        for i, item in enumerate(node.items):
            value = self._flow_text(item, (*path, i))
            if value is None:
                return None
            parts.append(value)
        return "[" + ", ".join(parts) + "]"

    def _inside(self, c: Comment, start: int, end: int) -> bool:
        offset = self._offset(c.line, 1) + self.lines_in[c.line - 1].find(c.text)
        return start <= offset < end

    # Scalars -----------------------------------------------------------------------------

    def raw(self, node: YScalar) -> str:
        return self.text[node.start : node.end]

    def scalar_text(self, node: YScalar, path: KeyPath, indent: int) -> list[str]:
        """A scalar's lines: the first follows its key; the rest are indented already."""
        if node.is_text and self.schema.is_expression(path):
            lines = expression_lines(node.value)
            if lines is not None:
                one, *block = lines
                if plain_safe(one) and indent + len(str(path[-1])) + 2 + len(one) <= WIDTH:
                    return [one]
                return [">-", *(" " * (indent + INDENT) + line for line in block)]
        if node.style in ("|", ">"):
            return self._block_scalar(node, indent)
        raw = self.raw(node).split("\n")
        return [
            raw[0].rstrip(),
            *(" " * (indent + INDENT) + line.strip() if line.strip() else "" for line in raw[1:]),
        ]

    def _block_lines(self, node: YScalar) -> tuple[int, int]:
        """The first and last line of a block scalar's content (its header line first)."""
        header = node.span.line
        body = self._block_body(node)
        return header, header + len(body)

    def _block_body(self, node: YScalar) -> list[str]:
        header = self.lines_in[node.span.line - 1][node.span.column - 1 :]
        found = re.match(r"[|>]([-+]?)([1-9]?)([-+]?)", header)
        explicit = int(found.group(2)) if found and found.group(2) else None
        keep = bool(found and "+" in (found.group(1) + found.group(3)))
        body: list[str] = []
        content_indent: int | None = None
        parent = node.parent_indent
        for line in self.lines_in[node.span.line :]:
            if not line.strip():
                body.append("")
                continue
            indent = len(line) - len(line.lstrip(" "))
            if content_indent is None:
                content_indent = parent + explicit if explicit else indent
                if indent <= max(parent, -1) or indent < content_indent:
                    break
            if indent < content_indent:
                break
            body.append(line)
        if not keep:
            while body and not body[-1]:
                body.pop()
        else:
            while body and not body[-1] and len(body) > 1 and not body[-2]:
                body.pop()
        return body

    def _block_scalar(self, node: YScalar, indent: int) -> list[str]:
        header = self.lines_in[node.span.line - 1][node.span.column - 1 :]
        found = re.match(r"[|>][-+1-9]*", header)
        head = found.group(0) if found else header.split()[0]
        body = self._block_body(node)
        lines = [line for line in body if line]
        old = min((len(line) - len(line.lstrip(" ")) for line in lines), default=0)
        explicit = re.search(r"[1-9]", head)
        new = indent + (int(explicit.group(0)) if explicit else INDENT)
        if explicit:
            old = node.parent_indent + int(explicit.group(0))
        return [head, *(" " * new + line[old:] if line else "" for line in body)]

    # Documents -------------------------------------------------------------------------------

    def _ordered(self, node: YMap, path: KeyPath) -> list[tuple[YScalar, YNode]]:
        order = self.schema.order(path)
        rank = {k: i for i, k in enumerate(order)}
        return sorted(node.items, key=lambda kv: rank.get(kv[0].value, len(rank)))

    def emit(
        self, line: str, trailing: list[Comment] | None = None, entry: _Entry | None = None
    ) -> None:
        text = " ".join(c.text for c in trailing) if trailing else None
        self.out.append((line.rstrip(), text))
        if entry is not None and trailing:
            self.out += [(_GOES_ON, c.text) for c in entry.continued]

    def _leading(self, entry: _Entry | None, indent: int, first: bool) -> None:
        if entry is None:
            return
        if entry.blank_before and not first and self.out and self.out[-1][0] != "":
            self.emit("")
        for c in entry.leading:
            self.emit(" " * indent + c.text)
            if c.blank_after:
                self.emit("")

    def write_map(self, node: YMap, indent: int, path: KeyPath, first_prefix: str = "") -> None:
        for n, (key, value) in enumerate(self._ordered(node, path)):
            entry = self.entry_of.get(id(key))
            # Above a list item's first key, a comment reads as the item's: it goes at the
            # item's indentation (where a second run would put it).
            self._leading(entry, indent - INDENT if first_prefix and n == 0 else indent, n == 0)
            prefix = first_prefix if first_prefix and n == 0 else " " * indent
            self.write_value(prefix + self.raw(key) + ":", value, indent, (*path, key.value), entry)

    def write_seq(self, node: YSeq, indent: int, path: KeyPath) -> None:
        for i, item in enumerate(node.items):
            entry = self.entry_of.get(id(item))
            self._leading(entry, indent, i == 0)
            head = " " * indent + "-"
            if isinstance(item, YMap) and item.items and self.flow.get(id(item)):
                text = self._flow_text(item, (*path, i))
                if text is None or len(head) + 1 + len(text) > WIDTH:
                    self.flow[id(item)] = False
                    self._entries_for(item, (*path, i), indent)
            if isinstance(item, YMap) and item.items and not self.flow.get(id(item)):
                before = len(self.out)
                self.write_map(item, indent + INDENT, (*path, i), first_prefix=head + " ")
                if entry and entry.trailing and len(self.out) > before:
                    line, old = self.out[before]
                    extra = " ".join(c.text for c in entry.trailing)
                    self.out[before] = (line, f"{old} {extra}" if old else extra)
                    self.out[before + 1 : before + 1] = [
                        (_GOES_ON, c.text) for c in entry.continued
                    ]
            else:
                self.write_value(head, item, indent, (*path, i), entry)

    def write_value(
        self, head: str, value: YNode, indent: int, path: KeyPath, entry: _Entry | None
    ) -> None:
        trailing = entry.trailing if entry else []
        if isinstance(value, YScalar):
            lines = self.scalar_text(value, path, indent)
            if value.tag == "tag:yaml.org,2002:null" and not self.raw(value):
                self.emit(head, trailing)
                return
            self.emit(f"{head} {lines[0]}", trailing, entry)
            for line in lines[1:]:
                self.emit(line)
            return
        if not value.items:
            self.emit(f"{head} {'{}' if isinstance(value, YMap) else '[]'}", trailing)
            return
        if self.flow.get(id(value)):
            text = self._flow_text(value, path)
            if text is not None and len(head) + 1 + len(text) <= WIDTH:
                self.emit(f"{head} {text}", trailing, entry)
                return
            self.flow[id(value)] = False
            self._entries_for(value, path, indent)
        self.emit(head, trailing, entry)
        if isinstance(value, YMap):
            self.write_map(value, indent + INDENT, path)
        else:
            self.write_seq(value, indent + INDENT, path)

    def _entries_for(self, node: YMap | YSeq, path: KeyPath, indent: int) -> None:
        """A flow collection too long for its line becomes a block: its items get entries
        (it holds no comment), and what it holds is laid out afresh."""
        if isinstance(node, YMap):
            for k, v in node.items:
                self.entry_of.setdefault(id(k), _Entry(k.span.line, k.span.line))
                self.collect(v, 0, (*path, k.value))
        else:
            for i, item in enumerate(node.items):
                self.entry_of.setdefault(id(item), _Entry(item.span.line, item.span.line))
                self.collect(item, 0, (*path, i))

    def document(self, root: YNode) -> str:
        self.collect(root, 0, ())
        header, tail = self.attach()
        if self.text.lstrip().startswith("---"):
            self.emit("---")
        for c in header:
            self.emit(c.text)
            if c.blank_after:
                self.emit("")
        if isinstance(root, YMap) and not self.flow.get(id(root)):
            self.write_map(root, 0, ())
        elif isinstance(root, YSeq) and not self.flow.get(id(root)):
            self.write_seq(root, 0, ())
        elif isinstance(root, YScalar):
            self.emit(self.scalar_text(root, (), 0)[0])
        else:
            self.emit(self._flow_text(root, ()) or self.raw_node(root))
        if (
            tail
            and self.out
            and self.out[-1][0] != ""
            and any(not self.lines_in[c.line - 2].strip() for c in tail[:1] if c.line >= 2)
        ):
            self.emit("")
        for c in tail:
            self.emit(c.text)
        return _align(self.out)

    def raw_node(self, node: YNode) -> str:
        start = self._offset(node.span.line, node.span.column)
        end = self._offset(node.span.end_line, node.span.end_column)
        return self.text[start:end]


_GOES_ON = "\x00"
"""The line part of a comment line that continues the trailing comment above it."""


def _depth(line: str) -> int:
    """A line's nesting, for aligning comments: its indentation, '- ' counted as space."""
    return len(line) - len(line.lstrip(" -"))


def _align(lines: list[tuple[str, str | None]]) -> str:
    """Lines with their trailing comments, aligned among the lines of the same nesting in
    each paragraph (a run of lines with no empty line): two spaces after the longest."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and lines[j][0].strip():
            j += 1
        paragraph = lines[i : max(j, i + 1)]
        widths: dict[int, int] = {}
        for line, comment in paragraph:
            if comment is not None and line != _GOES_ON:
                depth = _depth(line)
                widths[depth] = max(widths.get(depth, 0), len(line))
        column = 0
        for line, comment in paragraph:
            if comment is None:
                out.append(line)
            elif line == _GOES_ON:
                out.append(" " * column + str(comment))
            elif line.strip():
                column = widths[_depth(line)] + 2
                out.append(f"{line.ljust(column - 2)}  {comment}")
            else:
                out.append(str(comment))
        i = max(j, i + 1)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


# -- the API ------------------------------------------------------------------------------------


def format_source(source: SourceFile) -> str:
    """The file's text in the canonical layout; FormatError when it cannot be formatted."""
    problems = Diagnostics()
    root = read_yaml(source, problems)
    if root is None or problems.has_errors:
        first = problems.errors[0] if problems.errors else None
        raise FormatError(
            f"it is not valid YAML ({first.message} at {first.span})"
            if first
            else "it is not valid YAML"
        )
    if _uses_anchors_or_tags(source.text):
        raise FormatError("it uses anchors, aliases or tags, which fmt does not rewrite")
    if not source.text.strip():
        return source.text
    formatted = _Writer(source, root, schema_for(source.path, root)).document(root)
    _verify(source, root, formatted)
    return formatted


def _verify(source: SourceFile, root: YNode, formatted: str) -> None:
    """The formatted text holds the same data, expressions and comments, or FormatError."""
    problems = Diagnostics()
    again = read_yaml(SourceFile(source.path, formatted), problems)
    if again is None or problems.has_errors:
        raise FormatError("formatting would not give valid YAML (a bug in pctrules fmt)")
    schema = _Schema(schema_for(source.path, root))
    if _meaning(root, schema, ()) != _meaning(again, schema, ()):
        raise FormatError("formatting would change what the file says (a bug in pctrules fmt)")
    before = [c.text for c in find_comments(root, source.text)]
    after = [c.text for c in find_comments(again, formatted)]
    if sorted(before) != sorted(after):
        raise FormatError("formatting would lose a comment (a bug in pctrules fmt)")


def _meaning(node: YNode, schema: _Schema, path: KeyPath) -> Any:
    """What a node says: its data, expressions as trees (their layout does not count)."""
    if isinstance(node, YMap):
        return {k.value: _meaning(v, schema, (*path, k.value)) for k, v in node.items}
    if isinstance(node, YSeq):
        return [_meaning(v, schema, (*path, i)) for i, v in enumerate(node.items)]
    if node.is_text and schema.is_expression(path):
        tree, problems = parse_expression(node.value)
        if tree is not None and not problems:
            return ("expression", tree)
    return to_python(node)


def policy_files(given: Path) -> list[Path]:
    """The policy files under a folder: each bundle's YAML files and policy tests (its data
    folders are not policy); a file given is itself."""
    if not given.is_dir():
        return [given]
    out: list[Path] = []
    for manifest in sorted(given.rglob("bundle.yaml")):
        root = manifest.parent
        for pattern in ("*.yaml", "*.yml", "tests/*.yaml", "tests/*.yml"):
            out += sorted(p for p in root.glob(pattern) if p.is_file() and p not in out)
    return out
