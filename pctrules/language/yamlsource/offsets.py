"""YAML layer, positions: the file offset of every character of a scalar's value."""

from __future__ import annotations

import re
from collections.abc import Callable

from yaml.scanner import Scanner

from pctrules.language.source import EmbeddedText, SourceFile
from pctrules.language.yamlsource.compose import LINE_BREAKS, LineIndex
from pctrules.language.yamlsource.nodes import YScalar

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
        while j < end and text[j] not in " \t" + LINE_BREAKS:
            j += 1
        out.add(text[i:j], i)
        i = _spaces(text, j, end, out)


def _spaces(text: str, i: int, end: int, out: _Out) -> int:
    """Spaces at `i`: kept inside a line; before a line break, folded away with it."""
    j = i
    while j < end and text[j] in " \t":
        j += 1
    if j < end and text[j] in LINE_BREAKS:
        return _fold(text, j, end, out)
    out.add(text[i:j], i)
    return j


def _fold(text: str, i: int, end: int, out: _Out) -> int:
    """Line folding at the break at `i`: one break is a space, each further one a newline."""
    first, width = _line_break(text, i)
    first_at, i = i, i + width
    breaks: list[tuple[str, int]] = []
    while i < end and text[i] in " \t" + LINE_BREAKS:
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
        while j < n and text[j] not in "'\"\\ \t" + LINE_BREAKS:
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
        digits = text[i + 2 : i + 2 + length]
        try:
            out.put(chr(int(digits, 16)), i)
        except ValueError:  # the value check falls back to the scalar's start
            out.put("\ufffd", i)
        return i + 2 + length
    if ch and ch in LINE_BREAKS:
        # An escaped line break joins the lines: the break and the next indentation vanish.
        _, width = _line_break(text, i + 1)
        i += 1 + width
        while True:
            while i < len(text) and text[i] in " \t":
                i += 1
            if i < len(text) and text[i] in LINE_BREAKS:
                b, width = _line_break(text, i)
                out.put(b, i)
                i += width
            else:
                return i
    out.put(ch, i)
    return i + 2


def _indent_candidates(node: YScalar, index: LineIndex) -> list[int]:
    """Content indentations to try for a block scalar; the parent's block indent comes first."""
    header = re.match(r"[|>]([-+]?)([1-9]?)([-+]?)", index.text[node.start : node.start + 4])
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
    while i < n and text[i] not in LINE_BREAKS:  # the rest of the header line: spaces, a comment
        i += 1
    if i < n:
        i += _line_break(text, i)[1]

    def column(at: int) -> int:
        return index.column(at)

    breaks: list[tuple[str, int]] = []
    if indent < 0:
        least, most = -indent, 0
        while i < n and text[i] in " " + LINE_BREAKS:
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
        while j < n and text[j] not in LINE_BREAKS:
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
    text: str,
    i: int,
    indent: int,
    column: Callable[[int], int],
    breaks: list[tuple[str, int]],
) -> int:
    n = len(text)
    while i < n and column(i) < indent and text[i] == " ":
        i += 1
    while i < n and text[i] in LINE_BREAKS:
        ch, width = _line_break(text, i)
        breaks.append((ch, i))
        i += width
        while i < n and column(i) < indent and text[i] == " ":
            i += 1
    return i
