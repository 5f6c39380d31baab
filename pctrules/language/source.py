"""Source stage: source files, spans, and where embedded expression text sits in its YAML file."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True, eq=False)
class SourceFile:
    """A file's text as read, and the path users see for it."""

    path: str
    text: str

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines() or [""]

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its line ending ('' past the end)."""
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return ""


@dataclass(frozen=True)
class Span:
    """A region of a source file: 1-based lines and columns, the end column exclusive."""

    source: SourceFile = field(repr=False, compare=False)
    line: int
    column: int
    end_line: int
    end_column: int

    @property
    def path(self) -> str:
        return self.source.path

    def __str__(self) -> str:
        return f"{self.source.path}:{self.line}:{self.column}"

    def to(self, other: Span) -> Span:
        """The span from the start of this one to the end of another."""
        return Span(self.source, self.line, self.column, other.end_line, other.end_column)


Position = tuple[int, int]


@dataclass(frozen=True, eq=False)
class EmbeddedText:
    """An expression's text together with the file position of each of its characters.

    YAML scalars fold lines, strip indentation and unescape quotes, so an offset into the
    expression is not an offset into the file; `positions[i]` is the (line, column) in the file
    of character `i`, and `positions[len(text)]` the position just after the last one.
    """

    text: str
    source: SourceFile
    positions: tuple[Position, ...]

    def __post_init__(self) -> None:
        if len(self.positions) != len(self.text) + 1:
            raise ValueError("positions must hold one entry per character, plus the end")

    @classmethod
    def standalone(cls, text: str, path: str = "<expression>") -> EmbeddedText:
        """Text that is its own file: used for the command line, tests and the REPL."""
        positions: list[Position] = []
        line, column = 1, 1
        for ch in text:
            positions.append((line, column))
            if ch == "\n":
                line, column = line + 1, 1
            else:
                column += 1
        positions.append((line, column))
        return cls(text, SourceFile(path, text), tuple(positions))

    def span(self, start: int, end: int) -> Span:
        """The file span of the expression characters `start` to `end` (exclusive)."""
        start = max(0, min(start, len(self.text)))
        end = max(start, min(end, len(self.text)))
        line, column = self.positions[start]
        if end > start:
            # The end is just past the last character, on that character's line.
            last_line, last_column = self.positions[end - 1]
            end_line, end_column = last_line, last_column + 1
        else:
            end_line, end_column = line, column + 1
        return Span(self.source, line, column, end_line, end_column)

    @property
    def whole(self) -> Span:
        return self.span(0, len(self.text))
