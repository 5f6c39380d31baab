"""YAML layer, reading: safe, bounded YAML reading that keeps the file position of every node.

Over 500 lines since `ruff format` lays out its diagnostics one argument per line: the composer
is one state machine over PyYAML's events (bounds, anchors, positions and the errors that name
them), which reads best whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.resolver import Resolver

from pctrules.language.diagnostics import Code, Diagnostic, Diagnostics, error, warning
from pctrules.language.source import Position, SourceFile, Span
from pctrules.language.yamlsource.nodes import MERGE_TAG, STR_TAG, YMap, YNode, YScalar, YSeq


@dataclass(frozen=True)
class Limits:
    """Bounds on what one policy file may ask of the reader (DESIGN §11)."""

    file_bytes: int = 2 * 1024 * 1024
    # Nodes after expanding every alias: a "billion laughs" file is refused at this count.
    nodes: int = 100_000
    depth: int = 64
    expression: int = 10_000


LIMITS = Limits()

LINE_BREAKS = "\r\n\x85\u2028\u2029"
_UNUSUAL_BREAKS = {"\x85": "NEXT LINE", "\u2028": "LINE SEPARATOR", "\u2029": "PARAGRAPH SEPARATOR"}


_RESOLVER = Resolver()


class _Refused(Exception):
    """Stops reading a file: the diagnostic says why."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def decode(data: bytes, path: str, limits: Limits = LIMITS) -> SourceFile | Diagnostic:
    """A policy file's bytes as text, or why they cannot be read (too big, not UTF-8)."""
    empty = SourceFile(path, "")
    if len(data) > limits.file_bytes:
        return error(
            Code.LIMIT,
            f"the file is {len(data)} bytes, more than the limit of {limits.file_bytes}",
            Span(empty, 1, 1, 1, 2),
            "split it into smaller files",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        lines = good.split("\n")
        where = SourceFile(path, good)
        line, column = len(lines), len(lines[-1]) + 1
        return error(
            Code.YAML,
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            Span(where, line, column, line, column + 1),
            "save the file as UTF-8",
        )
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
            if ch in LINE_BREAKS:
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
    source: SourceFile,
    diagnostics: Diagnostics,
    limits: Limits = LIMITS,
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
        Code.LINE_SEPARATOR,
        f"the character U+{ord(ch):04X} {_UNUSUAL_BREAKS[ch]} here{more} "
        "ends a line for YAML, but most editors show no break, so later line numbers run "
        "ahead of your editor's",
        _span_at(source, line, column),
        "replace it with a newline if a line should end "
        "here, or remove it (often pasted from a web page or a word processor)",
    )


def _span_at(source: SourceFile, line: int, column: int) -> Span:
    return Span(source, line, column, line, column + 1)


# PyYAML's problem texts, said for policy authors: (pattern, message, help).
_FRIENDLY: tuple[tuple[str, str, str], ...] = (
    (
        "found character '\\t' that cannot start any token",
        "a tab character cannot be used for indentation or here",
        "indent YAML with spaces, not tabs",
    ),
    (
        "did not find expected key",
        "this line's indentation does not match the lines above it",
        "keys of one mapping, and items of one list, must start in the same column",
    ),
    (
        "expected <block end>",
        "this line's indentation does not match the lines above it",
        "keys of one mapping, and items of one list, must start in the same column",
    ),
    (
        "mapping values are not allowed",
        "unexpected ':' here",
        "quote a value that contains ': ', or check this line's indentation",
    ),
    (
        "could not find expected ':'",
        "a key is missing its ':', or this line's indentation does not match the lines above it",
        "write 'key: value', with keys of one mapping in the same column",
    ),
    ("found unexpected end of stream", "the file ends inside a quoted text", "close the quotes"),
    (
        "found unknown escape character",
        "unknown escape sequence in double-quoted text",
        "write '\\\\' for a backslash, or use single quotes",
    ),
    (
        "block sequence entries are not allowed here",
        "a list item ('- ') cannot start here",
        "put the list on its own lines under its key, indented",
    ),
    (
        "found undefined alias",
        "this alias names no anchor defined above it",
        "define '&name' before using '*name'",
    ),
)


def _yaml_error(source: SourceFile, exc: yaml.MarkedYAMLError, limits: Limits) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    if source.line_text(line)[column - 1 : column] == "\t":
        # libyaml does not name the character; a tab is the usual one.
        problem = "found character '\\t' that cannot start any token"
    if "maximum nesting depth" in problem:
        # libyaml (PyYAML >= 6.0.3) stops deep nesting itself, before our own depth limit.
        return error(
            Code.LIMIT,
            f"the values are nested more than {limits.depth} levels deep",
            _span_at(source, line, column),
            "flatten the structure",
        )
    if any(pattern in problem for pattern in _INDENTATION):
        broken = _broken_structure(source, line)
        if broken is not None:
            return broken
    for pattern, message, help in _FRIENDLY:
        if pattern in problem:
            return error(Code.YAML, message, _span_at(source, line, column), help)
    return error(
        Code.YAML,
        problem[:1].lower() + problem[1:],
        _span_at(source, line, column),
        "check the YAML syntax on this line and the one above",
    )


# PyYAML's problems that follow from a line indented wrongly: it reports them where the file
# can no longer be read, which may be lines after the line that broke the structure.
_INDENTATION = (
    "did not find expected key",
    "expected <block end>",
    "mapping values are not allowed",
    "did not find expected '-' indicator",
    "could not find expected ':'",
    "block sequence entries are not allowed",
)


@dataclass
class _Block:
    """A block mapping or list open at some point of the file, for `_broken_structure`."""

    kind: str  # "map" or "seq"
    column: int  # 1-based
    under: str | None  # the key whose value it is


@dataclass
class _Shift:
    """A key that starts in another column than the key before it in the file."""

    line: int
    column: int
    closed: list[_Block]  # the blocks its indentation closed, innermost first
    sibling: tuple[str, int, int]  # the key before it: name, line, column
    name: str = ""


def _broken_structure(source: SourceFile, line: int) -> Diagnostic | None:
    """Where an indentation mistake broke the structure, for a YAML error found on `line`.

    A key less indented than the keys above it closes their mapping (and the lists holding it):
    a dedented `then:` ends its rule, and YAML may object only lines later, when the rules go
    on. The last key that changed column before the error is blamed when it is on the error's
    line, or when the error's line goes on with a block that it closed; else None."""
    stack: list[_Block] = []
    run: list[_Block] = []  # blocks closed since the last key
    moved = False  # a block opened or closed since the last key
    last: tuple[str, int, int] | None = None  # the innermost mapping's last key, before `run`
    shift: _Shift | None = None
    key_at: tuple[int, int] | None = None
    try:
        for token in yaml.scan(source.text, Loader=yaml.SafeLoader):
            at = (token.start_mark.line + 1, token.start_mark.column + 1)
            if at[0] > line:
                break
            if isinstance(token, yaml.BlockEndToken):
                if stack:
                    run.append(stack.pop())
                moved = True
            elif isinstance(token, (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken)):
                kind = "map" if isinstance(token, yaml.BlockMappingStartToken) else "seq"
                stack.append(_Block(kind, at[1], last[0] if last else None))
                moved = True
            elif isinstance(token, yaml.KeyToken):
                # A key that starts its line (not the first key of a '- ' item).
                starts = not source.line_text(at[0])[: at[1] - 1].strip()
                if moved and starts and last is not None and last[2] != at[1]:
                    shift = _Shift(at[0], at[1], run, last)
                run, moved, key_at = [], False, at
            elif isinstance(token, yaml.ScalarToken) and key_at is not None:
                last = (str(token.value), *key_at)
                if shift is not None and (shift.line, shift.column) == key_at:
                    shift.name = last[0]
                key_at = None
    except yaml.YAMLError:
        pass
    if shift is None or not shift.name:
        return None
    name, sibling_line, sibling_column = shift.sibling
    how = "less" if shift.column < sibling_column else "more"
    fix = (
        f"indent it to column {sibling_column}, like '{name}' on line {sibling_line}, if it "
        "belongs with it"
    )
    span = Span(source, shift.line, shift.column, shift.line, shift.column + len(shift.name))
    if shift.line == line:
        return error(
            Code.YAML,
            f"the key '{shift.name}' is {how} indented than '{name}' above "
            "it, so it is not part of the same mapping",
            span,
            fix,
        )
    indent = len(source.line_text(line)) - len(source.line_text(line).lstrip(" ")) + 1
    continued = next((b for b in shift.closed if b.column == indent), None)
    if continued is None:
        return None
    what = ("list" if continued.kind == "seq" else "mapping") + (
        f" under '{continued.under}'" if continued.under else ""
    )
    return error(
        Code.YAML,
        f"the key '{shift.name}' is {how} indented than '{name}' above it, "
        f"so it ends the {what}, which line {line} goes on with",
        span,
        fix + f"; else move it below the {what}",
    )


def _reader_error(source: SourceFile, exc: yaml.YAMLError) -> Diagnostic:
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        line, column = LineIndex(source.text).position(min(position, len(source.text)))
    else:
        line, column = 1, 1
    character = getattr(exc, "character", None)
    what = f" (U+{ord(character):04X})" if isinstance(character, str) else ""
    return error(
        Code.YAML,
        f"the file contains a character YAML does not allow{what}",
        _span_at(source, line, column),
        "remove it, or write it as an escape in double-quoted text",
    )


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

    def refuse(self, code: Code, message: str, event: yaml.Event, help: str) -> _Refused:
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
                    raise self.refuse(
                        Code.YAML,
                        "a policy file holds one YAML document, this is a second one",
                        event,
                        "remove the '---' line, or move this part to its own file",
                    )
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
                        Code.LIMIT,
                        f"the file expands to more than {self.limits.nodes} values",
                        event,
                        "aliases ('*name') repeat what they name; use fewer",
                    )
                parent.items.append(node)
        if root is None:
            return YMap([], self.span((0, 0), (0, 0)))
        return root

    def start(self, event: yaml.Event, stack: list[_Open]) -> YNode | None:
        if isinstance(event, yaml.AliasEvent):
            anchor = event.anchor or ""
            if anchor in self.open_anchors:
                raise self.refuse(
                    Code.LIMIT,
                    f"the alias '*{anchor}' refers to a value that contains it",
                    event,
                    "an alias cannot repeat the list or mapping it is inside",
                )
            if anchor not in self.anchors:
                raise self.refuse(
                    Code.YAML,
                    f"the alias '*{anchor}' names no anchor defined above it",
                    event,
                    f"define '&{anchor}' before using '*{anchor}'",
                )
            return self.anchors[anchor]
        indent = self.block_indent(stack)
        if isinstance(event, yaml.ScalarEvent):
            node = self.scalar(event, indent)
            if event.anchor:
                self.anchors[event.anchor] = node
            return node
        assert isinstance(event, yaml.CollectionStartEvent)
        if len(stack) >= self.limits.depth:
            raise self.refuse(
                Code.LIMIT,
                f"the values are nested more than {self.limits.depth} levels deep",
                event,
                "flatten the structure",
            )
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
        tag = STR_TAG if event.tag == "!" else event.tag or _resolve(event.value, event.implicit)
        first, last = _mark(event.start_mark), _mark(event.end_mark)
        start, end = self.index.offset(*first), self.index.offset(*last)
        if event.anchor or event.tag:
            # The event starts at its anchor or tag; the value starts after them.
            start = min(_skip_properties(self.index.text, start, end), end)
            first = self.index.mark(start)
        # libyaml says '' where PyYAML says None for a plain scalar.
        return YScalar(
            event.value, tag, event.style or None, self.span(first, last), start, end, indent
        )

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
            raise _Refused(
                error(
                    Code.YAML,
                    "a key must be text, not a list or mapping",
                    key.span,
                    "write keys as plain words",
                )
            )
        if key.tag == MERGE_TAG:
            raise _Refused(
                error(
                    Code.YAML,
                    "merge keys ('<<') are not supported in policy files",
                    key.span,
                    "repeat the keys, or use an alias ('*name') for a whole value",
                )
            )
        if key.value in seen:
            first = seen[key.value].span
            raise _Refused(
                error(
                    Code.YAML,
                    f"the key '{key.value}' appears twice in this mapping",
                    key.span,
                    f"the first is at line {first.line}; keep one",
                )
            )
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
            while i < end and text[i] not in " \t" + LINE_BREAKS:  # a tag ends at a space
                i += 1
        while i < end and text[i] in " \t#" + LINE_BREAKS:
            if text[i] == "#":
                while i < end and text[i] not in LINE_BREAKS:
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
