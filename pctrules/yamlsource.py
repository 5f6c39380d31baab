"""Load stage, YAML layer: safe, bounded YAML reading that keeps the file position of every node."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from pctrules.diagnostics import Diagnostic, Diagnostics, did_you_mean, error, warning
from pctrules.source import EmbeddedText, Position, SourceFile, Span


@dataclass(frozen=True)
class Limits:
    """Bounds on what one policy file may ask of the reader (DESIGN §11)."""

    file_bytes: int = 2 * 1024 * 1024
    # Nodes after expanding every alias: a "billion laughs" file is refused at this count.
    nodes: int = 100_000
    depth: int = 64
    expression: int = 10_000


LIMITS = Limits()

_BREAKS = "\r\n\x85\u2028\u2029"
_UNUSUAL_BREAKS = {"\x85": "NEXT LINE", "\u2028": "LINE SEPARATOR",
                   "\u2029": "PARAGRAPH SEPARATOR"}
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_RESOLVER = Resolver()


@dataclass(eq=False)
class YScalar:
    """A scalar as written: its text (`value`, after YAML's unescaping), resolved tag and style."""

    value: str
    tag: str
    style: str | None  # None (plain), "'", '"', "|" or ">"
    span: Span
    start: int  # offsets of the scalar's first and just-past-last characters in the file text
    end: int
    parent_indent: int  # the column (0-based) of the enclosing block collection; -1 at the top
    size: int = 1

    @property
    def is_text(self) -> bool:
        """Whether YAML reads it as text (a date counts: policy files read dates themselves)."""
        return self.tag in (_STR, "tag:yaml.org,2002:timestamp")


@dataclass(eq=False)
class YMap:
    """A mapping: its (key, value) pairs in file order; keys are scalars."""

    items: list[tuple[YScalar, YNode]]
    span: Span
    size: int = 1

    def get(self, key: str) -> YNode | None:
        for k, v in self.items:
            if k.value == key:
                return v
        return None

    def key(self, key: str) -> YScalar | None:
        for k, _ in self.items:
            if k.value == key:
                return k
        return None

    def keys(self) -> list[str]:
        return [k.value for k, _ in self.items]


@dataclass(eq=False)
class YSeq:
    """A sequence of nodes."""

    items: list[YNode]
    span: Span
    size: int = 1


YNode = YScalar | YMap | YSeq


class _Refused(Exception):
    """Stops reading a file: the diagnostic says why."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def decode(data: bytes, path: str, limits: Limits = LIMITS) -> SourceFile | Diagnostic:
    """A policy file's bytes as text, or why they cannot be read (too big, not UTF-8)."""
    empty = SourceFile(path, "")
    if len(data) > limits.file_bytes:
        return error("E-limit", f"the file is {len(data)} bytes, more than the limit of "
                     f"{limits.file_bytes}", Span(empty, 1, 1, 1, 2),
                     "split it into smaller files")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        lines = good.split("\n")
        where = SourceFile(path, good)
        line, column = len(lines), len(lines[-1]) + 1
        return error("E-yaml", f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x})",
                     Span(where, line, column, line, column + 1), "save the file as UTF-8")
    # A byte-order mark is not part of the text; PyYAML does not count it in columns either.
    return SourceFile(path, text.removeprefix("\ufeff"))


class LineIndex:
    """Converts between offsets in a file's text and PyYAML's 0-based (line, column) marks."""

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch in _BREAKS:
                i += 2 if text.startswith("\r\n", i) else 1
                starts.append(i)
            else:
                i += 1
        self.starts = starts

    def offset(self, line: int, column: int) -> int:
        if line >= len(self.starts):
            return len(self.text)
        return min(self.starts[line] + column, len(self.text))

    def position(self, offset: int) -> Position:
        """1-based (line, column) of an offset."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.starts[lo] + 1

    def mark(self, offset: int) -> tuple[int, int]:
        """PyYAML's 0-based (line, column) of an offset."""
        line, column = self.position(offset)
        return line - 1, column - 1

    def column(self, offset: int) -> int:
        return self.position(offset)[1] - 1


def loader_class(use_c: bool | None = None) -> type[Any]:
    """The safe loader: libyaml's when present (faster) unless `use_c` is False."""
    c_loader = getattr(yaml, "CSafeLoader", None)
    if use_c is not False and c_loader is not None:
        return c_loader  # type: ignore[no-any-return]
    return yaml.SafeLoader


def read_yaml(
    source: SourceFile, diagnostics: Diagnostics, limits: Limits = LIMITS,
    use_c: bool | None = None,
) -> YNode | None:
    """Compose one YAML document into located nodes; None (with a diagnostic) when it cannot be.

    An empty document is an empty mapping. Problems are added to `diagnostics`.
    """
    unusual = _unusual_break(source)
    if unusual is not None:
        diagnostics.add(unusual)
    reader = _Composer(source, limits)
    try:
        return reader.compose(loader_class(use_c))
    except _Refused as exc:
        diagnostics.add(exc.diagnostic)
    except yaml.MarkedYAMLError as exc:
        diagnostics.add(_yaml_error(source, exc, limits))
    except yaml.YAMLError as exc:  # a reader error: a character YAML does not allow
        diagnostics.add(_reader_error(source, exc))
    return None


def _unusual_break(source: SourceFile) -> Diagnostic | None:
    """A warning at the first U+0085, U+2028 or U+2029: YAML 1.1 ends a line there, but most
    editors show none, so every line number after it differs from the editor's."""
    if not any(ch in source.text for ch in _UNUSUAL_BREAKS):  # the usual case, at C speed
        return None
    found = [i for i, ch in enumerate(source.text) if ch in _UNUSUAL_BREAKS]
    ch = source.text[found[0]]
    line, column = LineIndex(source.text).position(found[0])
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return warning(
        "W-line-separator", f"the character U+{ord(ch):04X} {_UNUSUAL_BREAKS[ch]} here{more} "
        "ends a line for YAML, but most editors show no break, so later line numbers run "
        "ahead of your editor's",
        _span_at(source, line, column), "replace it with a newline if a line should end "
        "here, or remove it (often pasted from a web page or a word processor)")


def _span_at(source: SourceFile, line: int, column: int) -> Span:
    return Span(source, line, column, line, column + 1)


# PyYAML's problem texts, said for policy authors: (pattern, message, help).
_FRIENDLY: tuple[tuple[str, str, str], ...] = (
    ("found character '\\t' that cannot start any token",
     "a tab character cannot be used for indentation or here",
     "indent YAML with spaces, not tabs"),
    ("did not find expected key",
     "this line's indentation does not match the lines above it",
     "keys of one mapping, and items of one list, must start in the same column"),
    ("expected <block end>",
     "this line's indentation does not match the lines above it",
     "keys of one mapping, and items of one list, must start in the same column"),
    ("mapping values are not allowed",
     "unexpected ':' here",
     "quote a value that contains ': ', or check this line's indentation"),
    ("could not find expected ':'",
     "a key is missing its ':', or this line's indentation does not match the lines above it",
     "write 'key: value', with keys of one mapping in the same column"),
    ("found unexpected end of stream",
     "the file ends inside a quoted text",
     "close the quotes"),
    ("found unknown escape character",
     "unknown escape sequence in double-quoted text",
     "write '\\\\' for a backslash, or use single quotes"),
    ("block sequence entries are not allowed here",
     "a list item ('- ') cannot start here",
     "put the list on its own lines under its key, indented"),
    ("found undefined alias",
     "this alias names no anchor defined above it",
     "define '&name' before using '*name'"),
)


def _yaml_error(source: SourceFile, exc: yaml.MarkedYAMLError, limits: Limits) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    if source.line_text(line)[column - 1: column] == "\t":
        # libyaml does not name the character; a tab is the usual one.
        problem = "found character '\\t' that cannot start any token"
    if "maximum nesting depth" in problem:
        # libyaml (PyYAML >= 6.0.3) stops deep nesting itself, before our own depth limit.
        return error("E-limit", f"the values are nested more than {limits.depth} levels "
                     "deep", _span_at(source, line, column), "flatten the structure")
    for pattern, message, help in _FRIENDLY:
        if pattern in problem:
            return error("E-yaml", message, _span_at(source, line, column), help)
    return error("E-yaml", problem[:1].lower() + problem[1:], _span_at(source, line, column),
                 "check the YAML syntax on this line and the one above")


def _reader_error(source: SourceFile, exc: yaml.YAMLError) -> Diagnostic:
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        line, column = LineIndex(source.text).position(min(position, len(source.text)))
    else:
        line, column = 1, 1
    character = getattr(exc, "character", None)
    what = f" (U+{ord(character):04X})" if isinstance(character, str) else ""
    return error("E-yaml", f"the file contains a character YAML does not allow{what}",
                 _span_at(source, line, column), "remove it, or write it as an escape in "
                 "double-quoted text")


Mark = tuple[int, int]  # PyYAML's 0-based (line, column)


def _mark(mark: Any) -> Mark:
    """PyYAML's and libyaml's marks alike, as (line, column)."""
    return (mark.line, mark.column) if mark is not None else (0, 0)


@dataclass
class _Open:
    kind: str  # "map" or "seq"
    start: Mark
    anchor: str | None
    indent: int
    items: list[Any] = field(default_factory=list)
    size: int = 1


class _Composer:
    """Builds located nodes from PyYAML's event stream, enforcing the limits as it goes.

    `yaml.compose` recurses once per nesting level (a deep file exhausts the stack before any
    limit could be checked) and leaves alias expansion to whoever walks the graph; composing
    from events here bounds depth and the expanded node count while reading.
    """

    def __init__(self, source: SourceFile, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.index = LineIndex(source.text)
        self.anchors: dict[str, YNode] = {}
        self.open_anchors: set[str] = set()

    def span(self, start: Mark, end: Mark) -> Span:
        if end <= start:
            end = (start[0], start[1] + 1)
        return Span(self.source, start[0] + 1, start[1] + 1, end[0] + 1, end[1] + 1)

    def refuse(self, code: str, message: str, event: yaml.Event, help: str) -> _Refused:
        line, column = _mark(event.start_mark)
        return _Refused(error(code, message, _span_at(self.source, line + 1, column + 1), help))

    def compose(self, loader: type[Any]) -> YNode | None:
        stack: list[_Open] = []
        root: YNode | None = None
        documents = 0
        for event in _events(self.source.text, loader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise self.refuse("E-yaml", "a policy file holds one YAML document, this is "
                                      "a second one", event,
                                      "remove the '---' line, or move this part to its own file")
                continue
            if isinstance(event, (yaml.CollectionStartEvent, yaml.ScalarEvent, yaml.AliasEvent)):
                node = self.start(event, stack)
            elif isinstance(event, yaml.CollectionEndEvent):
                node = self.finish(stack.pop(), _mark(event.end_mark))
            else:
                continue
            if node is None:
                continue
            if not stack:
                root = node
            else:
                parent = stack[-1]
                parent.size += node.size
                if parent.size > self.limits.nodes:
                    raise self.refuse(
                        "E-limit", f"the file expands to more than {self.limits.nodes} values",
                        event, "aliases ('*name') repeat what they name; use fewer")
                parent.items.append(node)
        if root is None:
            return YMap([], self.span((0, 0), (0, 0)))
        return root

    def start(self, event: yaml.Event, stack: list[_Open]) -> YNode | None:
        if isinstance(event, yaml.AliasEvent):
            anchor = event.anchor or ""
            if anchor in self.open_anchors:
                raise self.refuse("E-limit", f"the alias '*{anchor}' refers to a value that "
                                  "contains it", event,
                                  "an alias cannot repeat the list or mapping it is inside")
            if anchor not in self.anchors:
                raise self.refuse("E-yaml", f"the alias '*{anchor}' names no anchor defined "
                                  "above it", event,
                                  f"define '&{anchor}' before using '*{anchor}'")
            return self.anchors[anchor]
        indent = self.block_indent(stack)
        if isinstance(event, yaml.ScalarEvent):
            node = self.scalar(event, indent)
            if event.anchor:
                self.anchors[event.anchor] = node
            return node
        assert isinstance(event, yaml.CollectionStartEvent)
        if len(stack) >= self.limits.depth:
            raise self.refuse("E-limit", f"the values are nested more than {self.limits.depth} "
                              "levels deep", event, "flatten the structure")
        kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
        if event.anchor:
            self.open_anchors.add(event.anchor)
        start = _mark(event.start_mark)
        stack.append(_Open(kind, start, event.anchor, start[1]))
        return None

    def block_indent(self, stack: list[_Open]) -> int:
        return stack[-1].indent if stack else -1

    def scalar(self, event: yaml.ScalarEvent, indent: int) -> YScalar:
        # "!" is the non-specific tag: text, whatever it looks like.
        tag = _STR if event.tag == "!" else event.tag or _resolve(event.value, event.implicit)
        first, last = _mark(event.start_mark), _mark(event.end_mark)
        start, end = self.index.offset(*first), self.index.offset(*last)
        if event.anchor or event.tag:
            # The event starts at its anchor or tag; the value starts after them.
            start = min(_skip_properties(self.index.text, start, end), end)
            first = self.index.mark(start)
        # libyaml says '' where PyYAML says None for a plain scalar.
        return YScalar(event.value, tag, event.style or None, self.span(first, last),
                       start, end, indent)

    def finish(self, frame: _Open, end: Mark) -> YNode:
        span = self.span(frame.start, end)
        node: YNode
        if frame.kind == "seq":
            node = YSeq(frame.items, span, frame.size)
        else:
            pairs: list[tuple[YScalar, YNode]] = []
            seen: dict[str, YScalar] = {}
            for key, value in zip(frame.items[::2], frame.items[1::2], strict=True):
                pairs.append((self.key(key, seen), value))
            node = YMap(pairs, span, frame.size)
        if frame.anchor:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = node
        return node

    def key(self, key: YNode, seen: dict[str, YScalar]) -> YScalar:
        if not isinstance(key, YScalar):
            raise _Refused(error("E-yaml", "a key must be text, not a list or mapping",
                                 key.span, "write keys as plain words"))
        if key.tag == _MERGE:
            raise _Refused(error("E-yaml", "merge keys ('<<') are not supported in policy files",
                                 key.span, "repeat the keys, or use an alias ('*name') for a "
                                 "whole value"))
        if key.value in seen:
            first = seen[key.value].span
            raise _Refused(error("E-yaml", f"the key '{key.value}' appears twice in this mapping",
                                 key.span, f"the first is at line {first.line}; keep one"))
        seen[key.value] = key
        return key


def _skip_properties(text: str, i: int, end: int) -> int:
    """The offset after a node's anchor ('&a') and tag ('!t'), and the space or comments after."""
    while i < end and text[i] in "&!":
        if text[i] == "&":  # anchor names: ASCII letters, digits, '-' and '_'
            i += 1
            while i < end and ((text[i].isascii() and text[i].isalnum()) or text[i] in "-_"):
                i += 1
        else:
            while i < end and text[i] not in " \t" + _BREAKS:  # a tag ends at a space
                i += 1
        while i < end and text[i] in " \t#" + _BREAKS:
            if text[i] == "#":
                while i < end and text[i] not in _BREAKS:
                    i += 1
            else:
                i += 1
    return i


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    return tag


def _events(text: str, loader: type[Any]) -> Iterator[yaml.Event]:
    parser = loader(text)
    try:
        while parser.check_event():
            yield parser.get_event()
    finally:
        parser.dispose()


# Position-exact scalar values -------------------------------------------------------------


def embedded(node: YScalar, source: SourceFile, index: LineIndex) -> EmbeddedText:
    """The scalar's value with the file position of each character (DESIGN §7).

    The value is rebuilt from the raw file text by a small scanner per style; if that ever
    disagrees with PyYAML's value, every character maps to the scalar's start instead.
    """
    value, offsets = scalar_offsets(node, index)
    if value == node.value:
        positions = [index.position(o) for o in offsets]
    else:
        start = (node.span.line, node.span.column)
        positions = [start] * (len(node.value) + 1)
        value = node.value
    return EmbeddedText(value, source, tuple(positions))


def scalar_offsets(node: YScalar, index: LineIndex) -> tuple[str, list[int]]:
    """Rebuild a scalar's value from the file text: (value, offset of each character + end)."""
    text = index.text
    out = _Out()
    if node.style in ("'", '"'):
        _flow_scalar(text, node.start, out, node.style == '"')
    elif node.style in ("|", ">"):
        for indent in _indent_candidates(node, index):
            out = _Out()
            _block_scalar(text, node.start, index, indent, out)
            if out.value() == node.value:
                break
    else:
        _plain(text, node.start, node.end, out)
    if node.style in ("'", '"'):
        end = node.end - 1  # the closing quote
    elif node.style in ("|", ">") and out.offsets:
        end = out.offsets[-1] + 1
    else:
        end = node.end
    return out.value(), [*out.offsets, end]


class _Out:
    def __init__(self) -> None:
        self.chars: list[str] = []
        self.offsets: list[int] = []

    def add(self, chars: str, offset: int) -> None:
        for i, ch in enumerate(chars):
            self.chars.append(ch)
            self.offsets.append(offset + i)

    def put(self, ch: str, offset: int) -> None:
        """A character that stands for other text at `offset` (an escape, a folded break)."""
        self.chars.append(ch)
        self.offsets.append(offset)

    def value(self) -> str:
        return "".join(self.chars)


def _line_break(text: str, i: int) -> tuple[str, int]:
    """PyYAML's reading of the break at `i`: what it becomes and how many characters it takes."""
    if text.startswith("\r\n", i):
        return "\n", 2
    ch = text[i]
    return ("\n" if ch in "\r\n\x85" else ch), 1


def _plain(text: str, i: int, end: int, out: _Out) -> None:
    while i < end:
        j = i
        while j < end and text[j] not in " \t" + _BREAKS:
            j += 1
        out.add(text[i:j], i)
        i = _spaces(text, j, end, out)


def _spaces(text: str, i: int, end: int, out: _Out) -> int:
    """Spaces at `i`: kept inside a line; before a line break, folded away with it."""
    j = i
    while j < end and text[j] in " \t":
        j += 1
    if j < end and text[j] in _BREAKS:
        return _fold(text, j, end, out)
    out.add(text[i:j], i)
    return j


def _fold(text: str, i: int, end: int, out: _Out) -> int:
    """Line folding at the break at `i`: one break is a space, each further one a newline."""
    first, width = _line_break(text, i)
    first_at, i = i, i + width
    breaks: list[tuple[str, int]] = []
    while i < end and text[i] in " \t" + _BREAKS:
        if text[i] in " \t":
            i += 1
        else:
            ch, width = _line_break(text, i)
            breaks.append((ch, i))
            i += width
    if first != "\n":
        out.put(first, first_at)
    elif not breaks:
        out.put(" ", first_at)
    for ch, at in breaks:
        out.put(ch, at)
    return i


_ESCAPES: dict[str, str] = Scanner.ESCAPE_REPLACEMENTS
_ESCAPE_CODES: dict[str, int] = Scanner.ESCAPE_CODES


def _flow_scalar(text: str, i: int, out: _Out, double: bool) -> None:
    """Quoted scalars, following PyYAML's scan_flow_scalar."""
    quote = text[i]
    i += 1
    n = len(text)
    while i < n:
        # Non-space runs, quotes and escapes.
        j = i
        while j < n and text[j] not in "'\"\\ \t" + _BREAKS:
            j += 1
        out.add(text[i:j], i)
        i = j
        if i >= n:
            return
        ch = text[i]
        if not double and ch == "'" and text.startswith("''", i):
            out.put("'", i)
            i += 2
        elif ch == quote:
            return
        elif (double and ch == "'") or (not double and ch in '"\\'):
            out.put(ch, i)
            i += 1
        elif double and ch == "\\":
            i = _escape(text, i, out)
        else:
            i = _spaces(text, i, n, out)


def _escape(text: str, i: int, out: _Out) -> int:
    ch = text[i + 1] if i + 1 < len(text) else ""
    if ch in _ESCAPES:
        out.put(_ESCAPES[ch], i)
        return i + 2
    if ch in _ESCAPE_CODES:
        length = _ESCAPE_CODES[ch]
        digits = text[i + 2: i + 2 + length]
        try:
            out.put(chr(int(digits, 16)), i)
        except ValueError:  # the value check falls back to the scalar's start
            out.put("\ufffd", i)
        return i + 2 + length
    if ch and ch in _BREAKS:
        # An escaped line break joins the lines: the break and the next indentation vanish.
        _, width = _line_break(text, i + 1)
        i += 1 + width
        while True:
            while i < len(text) and text[i] in " \t":
                i += 1
            if i < len(text) and text[i] in _BREAKS:
                b, width = _line_break(text, i)
                out.put(b, i)
                i += width
            else:
                return i
    out.put(ch, i)
    return i + 2


def _indent_candidates(node: YScalar, index: LineIndex) -> list[int]:
    """Content indentations to try for a block scalar; the parent's block indent comes first."""
    header = re.match(r"[|>]([-+]?)([1-9]?)([-+]?)", index.text[node.start: node.start + 4])
    increment = int(header.group(2)) if header and header.group(2) else None
    parents = [node.parent_indent, *range(-1, index.column(node.start) + 1)]
    out: list[int] = []
    for parent in parents:
        least = max(1, parent + 1)
        indent = -least if increment is None else least + increment - 1
        if indent not in out:
            out.append(indent)
    return out


def _block_scalar(text: str, i: int, index: LineIndex, indent: int, out: _Out) -> None:
    """Literal and folded scalars, following PyYAML's scan_block_scalar.

    `indent` is the content indentation, or minus the least one when it is to be detected.
    """
    n = len(text)
    folded = text[i] == ">"
    i += 1
    chomping: bool | None = None
    while i < n and text[i] in "+-123456789":
        if text[i] in "+-":
            chomping = text[i] == "+"
        i += 1
    while i < n and text[i] not in _BREAKS:  # the rest of the header line: spaces, a comment
        i += 1
    if i < n:
        i += _line_break(text, i)[1]

    def column(at: int) -> int:
        return index.column(at)

    breaks: list[tuple[str, int]] = []
    if indent < 0:
        least, most = -indent, 0
        while i < n and text[i] in " " + _BREAKS:
            if text[i] == " ":
                i += 1
                most = max(most, column(i))
            else:
                ch, width = _line_break(text, i)
                breaks.append((ch, i))
                i += width
        indent = max(least, most)
    else:
        i = _block_breaks(text, i, indent, column, breaks)
    line_break: tuple[str, int] | None = None
    while i < n and column(i) == indent:
        for ch, at in breaks:
            out.put(ch, at)
        leading_non_space = text[i] not in " \t"
        j = i
        while j < n and text[j] not in _BREAKS:
            j += 1
        out.add(text[i:j], i)
        i = j
        if i < n:
            ch, width = _line_break(text, i)
            line_break = (ch, i)
            i += width
        else:
            line_break = ("", i)
        breaks = []
        i = _block_breaks(text, i, indent, column, breaks)
        if i < n and column(i) == indent:
            if folded and line_break[0] == "\n" and leading_non_space and text[i] not in " \t":
                if not breaks:
                    out.put(" ", line_break[1])
            else:
                out.put(*line_break)
        else:
            break
    if chomping is not False and line_break is not None and line_break[0]:
        out.put(*line_break)
    if chomping is True:
        for ch, at in breaks:
            out.put(ch, at)


def _block_breaks(
    text: str, i: int, indent: int, column: Callable[[int], int], breaks: list[tuple[str, int]],
) -> int:
    n = len(text)
    while i < n and column(i) < indent and text[i] == " ":
        i += 1
    while i < n and text[i] in _BREAKS:
        ch, width = _line_break(text, i)
        breaks.append((ch, i))
        i += width
        while i < n and column(i) < indent and text[i] == " ":
            i += 1
    return i


# Structural checks against the JSON Schemas in pctrules/schemas ------------------------------

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SchemaProblem:
    """A place where a YAML document does not fit its JSON Schema."""

    code: str
    message: str
    span: Span
    help: str | None
    path: KeyPath


_TYPE_WORDS = {"string": "text", "integer": "a whole number", "number": "a number",
               "boolean": "true or false", "object": "a mapping", "array": "a list",
               "null": "empty"}
_TAG_TYPES = {"tag:yaml.org,2002:int": "integer", "tag:yaml.org,2002:float": "number",
              "tag:yaml.org,2002:bool": "boolean", "tag:yaml.org,2002:null": "null"}


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
        self, node: YNode, schema: dict[str, Any], path: KeyPath, key: YScalar | None,
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
        self, node: YNode, s: dict[str, Any], branches: list[dict[str, Any]], path: KeyPath,
        key: YScalar | None, out: list[SchemaProblem],
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
        words = [b.get("x-expects") or _either([_TYPE_WORDS[t] for t in _listed(b["type"])])
                 for b, _ in attempts if "type" in b]
        s = {**s, "x-expects": _either(list(dict.fromkeys(words)))} if words else s
        out.append(self._type_problem(node, s, list(dict.fromkeys(types)), path))

    def _scalar(
        self, node: YScalar, s: dict[str, Any], path: KeyPath, out: list[SchemaProblem],
    ) -> None:
        code = s.get("x-code", "E-type")
        if "enum" in s and node.value not in [str(v) for v in s["enum"]]:
            choices = ", ".join(f"'{v}'" for v in s["enum"])
            out.append(SchemaProblem(
                code, f"{_what(path)} must be one of {choices}, not '{node.value}'", node.span,
                did_you_mean(node.value, [str(v) for v in s["enum"]]) or _help(s),
                path))
        elif "pattern" in s and not re.search(s["pattern"], node.value):
            noun = str(s.get("x-noun") or s.get("title", "value")).lower()
            out.append(SchemaProblem(code, f"'{node.value}' is not a valid {noun}", node.span,
                                     _help(s), path))

    def _mapping(
        self, node: YMap, s: dict[str, Any], path: KeyPath, key: YScalar | None,
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
                out.append(SchemaProblem(
                    "E-unknown-key", f"unknown key '{k.value}' in {noun}", k.span,
                    did_you_mean(k.value, properties)
                    or f"the keys of a {noun} are {_listing(properties)}", (*path, k.value)))
            elif isinstance(extra, dict):
                self._check(v, extra, (*path, k.value), k, out)
        present = set(node.keys())
        for name in s.get("required", []):
            if name not in present:
                described = self.resolve(properties.get(name, {})).get("description", "")
                out.append(SchemaProblem(
                    "E-missing-key", f"{noun} is missing the required key '{name}'",
                    (key or node).span, f"add '{name}:'" + (f", {_lower(described)}"
                                                            if described else ""), path))

    def _type_problem(
        self, node: YNode, s: dict[str, Any], types: list[str], path: KeyPath,
    ) -> SchemaProblem:
        code = s.get("x-code", "E-type")
        expected = s.get("x-expects") or _either([_TYPE_WORDS.get(t, t) for t in types])
        actual = json_type(node)
        if isinstance(node, YScalar) and node.value and actual != "string" \
                and "string" in types:
            help = s.get("x-help") if "x-expects" in s else f"put it in quotes: \"{node.value}\""
            return SchemaProblem(code, f"{_what(path)} must be {expected}, but YAML reads "
                                 f"'{node.value}' as {_TYPE_WORDS[actual]}", node.span,
                                 help, path)
        if isinstance(node, YScalar) and actual != "null":
            found = f"'{node.value}'"
        else:
            found = _TYPE_WORDS[actual]
        return SchemaProblem(code, f"{_what(path)} must be {expected}, not {found}", node.span,
                             _help(s), path)


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


def to_python(node: YNode) -> Any:
    """A node as plain Python values, as `yaml.safe_load` would give (aliases already bounded)."""
    if isinstance(node, YMap):
        return {k.value: to_python(v) for k, v in node.items}
    if isinstance(node, YSeq):
        return [to_python(v) for v in node.items]
    return scalar_value(node)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def scalar_value(node: YScalar) -> Any:
    """A scalar's value by its resolved tag; text when YAML could not build it (a bad date)."""
    if node.tag == _STR or node.style is not None:
        return node.value
    constructors = {
        "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
        "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
        "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
        "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
        "tag:yaml.org,2002:timestamp": _CONSTRUCTOR.construct_yaml_timestamp,
    }
    build = constructors.get(node.tag)
    if build is None:
        return node.value
    try:
        return build(yaml.ScalarNode(node.tag, node.value))
    except (ValueError, OverflowError, TypeError):
        # Out-of-range dates, digits beyond Python's int-from-text limit: keep the text.
        return node.value
