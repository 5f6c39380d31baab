"""Diagnostics stage: problems found in policies, data and cases, as data, and the exit codes."""

from __future__ import annotations

import difflib
import enum
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pctrules.language.source import Span


class ExitCode(enum.IntEnum):
    """The documented process exit codes (DESIGN §5)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    INVALID_POLICY = 3
    TESTS_FAILED = 4
    INVALID_CASE = 5
    DECIDED_WITH_ERRORS = 6  # every case decided and reported, but some decision failed
    DRIFT = 7  # replay found drift, diff found changes (with --exit-code)


class Code(enum.StrEnum):
    """Every diagnostic code. The text (`E-…` an error, `W-…` a warning) is what users see and
    what JSON carries; docs/diagnostics.md documents each with an example and its fix."""

    # Reading files and folders
    PATH = "E-path"  # a file that may not be read: outside its folder, a link out, a device, a pipe
    MISSING_FILE = "E-missing-file"  # a file the bundle or a command names is missing or unreadable
    LIMIT = "E-limit"  # a file, document or expression over one of the documented size limits
    IO = "E-io"  # batch input or output that cannot be read or written (a folder, a full disk)
    # YAML and the policy files' structure
    YAML = "E-yaml"  # not YAML: bad syntax, not UTF-8, a duplicate key, a tab in indentation
    LINE_SEPARATOR = "W-line-separator"  # a character YAML reads as a line break that editors hide
    UNKNOWN_KEY = "E-unknown-key"  # a key the file's schema does not know
    MISSING_KEY = "E-missing-key"  # a key the file's schema requires is absent
    IGNORED_KEY = "W-ignored-key"  # a key with no effect where it is (priority, not under priority)
    TYPE = "E-type"  # a value of the wrong type or shape, or an expression of the wrong type
    DATE = "E-date"  # a date that is not a date of the calendar
    HIT_POLICY = "E-hit-policy"  # a decision's 'hit:' is not first, unique, priority or collect
    # Expressions and rules
    SYNTAX = "E-syntax"  # an expression the grammar cannot parse
    UNKNOWN_NAME = "E-unknown-name"  # a name, kind, relation or organisation that is not defined
    UNKNOWN_ATTRIBUTE = "E-unknown-attribute"  # a case field, attribute or hop that does not exist
    UNKNOWN_DECISION = "E-unknown-decision"  # a decision that the bundle does not define
    UNKNOWN_FUNCTION = "E-unknown-function"  # a function that the language does not have
    UNKNOWN_RULE = "E-unknown-rule"  # a policy test expects a rule its decision does not have
    UNGUARDED_OPTIONAL = "W-unguarded-optional"  # a value that may be none, used without a guard
    DUPLICATE_RULE = "E-duplicate-rule"  # two rules (or two constraints) with the same id
    DUPLICATE_DECISION = "E-duplicate-decision"  # two decisions with the same name
    DUPLICATE_TEST = "W-duplicate-test"  # two policy tests in one file with the same name
    UNREACHABLE_RULE = "W-unreachable-rule"  # under 'hit: first', a rule after a catch-all
    UNIQUE_OVERLAP = "W-unique-overlap"  # under 'hit: unique', rules that match the same cases
    PRIORITY_TIE = "E-priority-tie"  # under 'hit: priority', two rules with the same priority
    EFFECTIVE_RANGE = "E-effective-range"  # an effective range empty or outside the bundle's
    OUTSIDE_EFFECTIVE_RANGE = "W-effective-range"  # a date outside the dates the bundle speaks for
    DECISION_CYCLE = "E-decision-cycle"  # a decision that depends on itself
    BUNDLE = "E-bundle"  # (JUnit report) the bundle did not load, so no policy test ran
    # Data and constraints
    DATA = "E-data"  # a data table or imported file that cannot be read or does not fit its layout
    DATA_WARNING = "W-data"  # data that is read but partly unused (unknown nodes, a changed file)
    CONSTRAINT = "E-constraint"  # a constraint of the bundle that the data violates
    CONSTRAINT_WARNING = "W-constraint"  # a warning-severity constraint that the data violates
    UNKNOWN_CODE = "W-unknown-code"  # a code literal (pct('5NT')) the data does not hold (yet)
    # Cases, parameters and commands
    CASE = "E-case"  # a case that does not fit the bundle's case schema
    PARAM = "E-param"  # an unknown parameter, or a value it cannot take
    USAGE = "E-usage"  # a command-line option or combination that cannot be used


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Diagnostic:
    """One problem: what is wrong (`message`), how to fix it (`help`), and where (`span`)."""

    severity: Severity
    code: Code
    message: str
    span: Span | None = None
    help: str | None = None
    rule: str | None = None

    def __post_init__(self) -> None:
        # A code is one of Code's, even from text (a schema's x-code): an unknown one fails here.
        object.__setattr__(self, "code", Code(self.code))

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        if self.span is None:
            return ("", 0, 0, self.code)
        return (self.span.path, self.span.line, self.span.column, self.code)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "severity": self.severity.value,
            "code": self.code.value,
            "message": self.message,
            "help": self.help,
            "rule": self.rule,
            "at": str(self.span) if self.span else None,
        }
        if self.span is not None:
            out["span"] = {
                "path": self.span.path,
                "line": self.span.line,
                "column": self.span.column,
                "end_line": self.span.end_line,
                "end_column": self.span.end_column,
            }
        return out


def error(
    code: Code,
    message: str,
    span: Span | None = None,
    help: str | None = None,
    rule: str | None = None,
) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, span, help, rule)


def warning(
    code: Code,
    message: str,
    span: Span | None = None,
    help: str | None = None,
    rule: str | None = None,
) -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, message, span, help, rule)


class Diagnostics:
    """An ordered collection of diagnostics; stages add to it and carry on (collect, don't stop)."""

    def __init__(self, items: Iterable[Diagnostic] = ()) -> None:
        self._items: list[Diagnostic] = list(items)

    def add(self, diagnostic: Diagnostic) -> None:
        self._items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self._items.extend(diagnostics)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self._items if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self._items if d.severity is Severity.WARNING]

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self._items)

    def sorted(self) -> list[Diagnostic]:
        """In file order, each diagnostic once (two passes may find the same problem)."""
        seen: set[tuple[object, ...]] = set()
        out: list[Diagnostic] = []
        for d in sorted(self._items, key=Diagnostic.sort_key):
            key = (d.code, d.message, d.sort_key())
            if key not in seen:
                seen.add(key)
                out.append(d)
        return out


class PctrulesError(Exception):
    """A user-facing failure: carries its diagnostics and the exit code the CLI should use."""

    def __init__(
        self,
        diagnostics: Sequence[Diagnostic] | Diagnostic,
        exit_code: ExitCode = ExitCode.INVALID_POLICY,
    ) -> None:
        items = [diagnostics] if isinstance(diagnostics, Diagnostic) else list(diagnostics)
        self.diagnostics = items
        self.exit_code = exit_code
        super().__init__("; ".join(d.message for d in items))


class CaseError(PctrulesError):
    """A case that does not fit the bundle's case schema (exit 5)."""

    def __init__(self, diagnostics: Sequence[Diagnostic] | Diagnostic) -> None:
        super().__init__(diagnostics, ExitCode.INVALID_CASE)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}


def visible(text: str) -> str:
    """Text from a file as a terminal may show it: control, format and line-separator
    characters (a newline in a name, an escape sequence, a right-to-left override) written as
    escapes, so a hostile file cannot split a message, recolour the terminal or reorder what an
    auditor reads. Tabs are kept."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch != "\t" and not ch.isprintable() and unicodedata.category(ch) != "Zs":
            out.append(
                _ESCAPES.get(ch)
                or (
                    f"\\x{ord(ch):02x}"
                    if ord(ch) < 0x100
                    else f"\\u{ord(ch):04x}"
                    if ord(ch) < 0x10000
                    else f"\\U{ord(ch):08x}"
                )
            )
        else:
            out.append(ch)
    return "".join(out)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A `help:` line suggesting the closest known name, or None when nothing is close."""
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None
