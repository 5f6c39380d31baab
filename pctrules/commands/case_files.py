"""Case input for the CLI: case files (YAML or JSON, one case or many, or standard input).

YAML is read as a stream of events (libyaml's C parser where installed, else PyYAML's own) and
built here, so that the bounds hold whatever the parser: at most MAX_CASE_FILE_BYTES read, no
aliases, nesting at most MAX_NESTING deep, each key once per mapping, only the standard tags,
text that is text. A plain scalar keeps its text until the case schema says what its field is:
ids and codes stay as written (`0123`, `0x1F`, `1:20`), an int field takes decimal digits, a
bool field true or false. Every problem is a CaseError (exit 5) naming the file, and where.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from pctrules.caseinput import (
    MAX_DIGITS,
    MAX_NESTING,
    duplicate_keys_hook,
    is_text,
    typed_scalar,
    value_problem,
)
from pctrules.language.diagnostics import CaseError, Code, error
from pctrules.language.schema import CaseSchema, Type
from pctrules.language.source import SourceFile, Span

MAX_CASE_FILE_BYTES = 64 * 1024 * 1024
"""Larger inputs belong to `pctrules batch`, which streams them."""

try:
    from yaml import CSafeLoader as _EventParser
except ImportError:  # PyYAML built without libyaml: the same events, in Python
    from yaml import SafeLoader as _EventParser  # type: ignore[assignment]


@dataclass(frozen=True)
class RawCase:
    """One case as read, its scalars typed by the case schema, before it is validated."""

    data: object
    origin: str  # "file:index" (or the file alone for a one-case file), for messages


def read_case_file(path: str, schema: CaseSchema) -> list[RawCase]:
    """The cases of one file: a mapping is one case; a list, or a mapping with `cases:`, many.

    `-` reads standard input. Broken YAML or JSON raises a CaseError with its line and column.
    """
    label = "<stdin>" if path == "-" else path
    text = _decode(_read(path), label)
    source = SourceFile(label, text)
    as_json = path.lower().endswith(".json") or (path == "-" and text.lstrip()[:1] in ("{", "["))
    data = _parse_json(source) if as_json else _parse_yaml(source)
    return [RawCase(by_schema(c.data, schema), c.origin) for c in _split(data, label)]


# -- bytes and text --------------------------------------------------------------------------------


def _read(path: str) -> bytes:
    """At most MAX_CASE_FILE_BYTES + 1 bytes: what is read is capped, not what the file says
    its size is (a device reports 0 and never ends)."""
    if path == "-":
        return sys.stdin.buffer.read(MAX_CASE_FILE_BYTES + 1)
    try:
        with open(path, "rb") as f:
            return f.read(MAX_CASE_FILE_BYTES + 1)
    except FileNotFoundError:
        raise CaseError(error(Code.CASE, f"case file '{path}' does not exist")) from None
    except IsADirectoryError:
        raise CaseError(error(Code.CASE, f"case file '{path}' is a folder")) from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise CaseError(error(Code.CASE, f"case file '{path}' cannot be read: {reason}")) from None


_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _decode(data: bytes, label: str) -> str:
    if len(data) > MAX_CASE_FILE_BYTES:
        raise CaseError(
            error(
                Code.CASE,
                f"case file '{label}' is larger than 64 MiB",
                help="evaluate large inputs with 'pctrules batch', which streams them",
            )
        )
    wide = next((name for bom, name in _WIDE_BOMS if data.startswith(bom)), None)
    if wide is not None:
        raise CaseError(
            error(
                Code.CASE, f"case file '{label}' is {wide} text, not UTF-8", help="save it as UTF-8"
            )
        )
    try:
        return data.decode("utf-8-sig")  # a byte-order mark is allowed, and dropped
    except UnicodeDecodeError as exc:
        raise CaseError(
            error(
                Code.CASE,
                f"case file '{label}' is not UTF-8 text (byte {exc.start})",
                help="save it as UTF-8",
            )
        ) from None


# -- JSON ------------------------------------------------------------------------------------------


class _Refused(ValueError):
    """JSON that Python's reader takes but case input does not."""


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"the number {text[:20]} is too large")
    return value


def _no_constant(name: str) -> object:
    raise _Refused(f"{name} is not a number JSON allows")


def _parse_json(source: SourceFile) -> object:
    twice: list[str] = []
    decoder = json.JSONDecoder(
        object_pairs_hook=duplicate_keys_hook(twice),
        parse_float=_finite,
        parse_constant=_no_constant,
    )
    try:
        data = decoder.decode(source.text)
    except json.JSONDecodeError as exc:
        at = Span(source, exc.lineno, exc.colno, exc.lineno, exc.colno + 1)
        raise CaseError(
            error(Code.CASE, f"case file is not valid JSON: {exc.msg.lower()}", at)
        ) from None
    except RecursionError:
        raise _too_deep(source.path) from None
    except _Refused as exc:
        raise CaseError(
            error(Code.CASE, f"case file '{source.path}' is not valid JSON: {exc}")
        ) from None
    except ValueError:  # an integer of more digits than Python reads
        raise CaseError(
            error(
                Code.CASE,
                f"case file '{source.path}' holds a number of more than {MAX_DIGITS:,} digits",
                help="write an id or a code as text, in quotes",
            )
        ) from None
    if twice:
        raise CaseError(
            error(
                Code.CASE,
                f"case file '{source.path}' gives key '{twice[0]}' twice in one object",
                help="give each field once; JSON readers disagree on which of the two counts",
            )
        )
    problem = value_problem(data)
    if problem is not None:
        raise CaseError(error(Code.CASE, f"in case file '{source.path}', {problem}"))
    return data


def _too_deep(label: str) -> CaseError:
    return CaseError(
        error(
            Code.CASE, f"case file '{label}' nests mappings or lists more than {MAX_NESTING} deep"
        )
    )


# -- YAML ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plain:
    """A plain (unquoted, untagged) YAML scalar: its type comes from the case schema."""

    text: str


_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_STR = "tag:yaml.org,2002:str"
_TAGGED: dict[str, Callable[[str], object]] = {
    _STR: str,
    "tag:yaml.org,2002:null": lambda text: None,
    "tag:yaml.org,2002:bool": lambda text: _tagged(text, "bool", "true or false"),
    "tag:yaml.org,2002:int": lambda text: _tagged(text, "int", "a whole number"),
    "tag:yaml.org,2002:float": lambda text: _tagged(text, "number", "a number"),
    # A date is text the engine reads strictly (YYYY-MM-DD), naming the field when it is not.
    "tag:yaml.org,2002:timestamp": str,
}
_COLLECTION_TAGS = frozenset({None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


class _TagValue(ValueError):
    pass


def _tagged(text: str, base: str, expected: str) -> object:
    value = typed_scalar(text, base)
    if value is text:
        raise _TagValue(f"'{text[:40]}' is not {expected}")
    return value


def _parse_yaml(source: SourceFile) -> object:
    parser = None
    try:
        parser = _EventParser(source.text)  # PyYAML's own refuses control characters here
        return _Builder(source, parser).document()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "malformed YAML").strip()
        raise CaseError(
            error(Code.CASE, f"case file is not valid YAML: {problem}", _span(source, mark))
        ) from None
    except yaml.YAMLError as exc:
        raise CaseError(
            error(Code.CASE, f"case file is not valid YAML: {_first_line(exc)}")
        ) from None
    finally:
        if parser is not None:
            parser.dispose()


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else "malformed YAML"


def _span(source: SourceFile, mark: Any) -> Span | None:
    if mark is None:
        return None
    return Span(source, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)


class _Builder:
    """The one document of a YAML event stream as dicts, lists, text, typed tagged scalars and
    _Plain scalars; iterative, so nesting costs no Python stack."""

    def __init__(self, source: SourceFile, parser: Any) -> None:
        self.source = source
        self.parser = parser

    def fail(self, message: str, mark: Any, help: str | None = None) -> CaseError:
        return CaseError(error(Code.CASE, message, _span(self.source, mark), help))

    def document(self) -> object:
        get = self.parser.get_event
        get()  # the stream's start
        if isinstance(self.parser.peek_event(), yaml.StreamEndEvent):
            return None  # an empty file
        get()  # the document's start
        value = self.node()
        get()  # the document's end
        extra = get()
        if not isinstance(extra, yaml.StreamEndEvent):
            raise self.fail(
                "a case file holds one YAML document; this is a second one",
                extra.start_mark,
                "list several cases under 'cases:' instead",
            )
        return value

    def node(self) -> object:
        # Each open collection: its value, the key waiting for a value (mappings), where each
        # key was first given (mappings), and the mark it started at.
        stack: list[tuple[dict[str, object] | list[object], list[str | None], dict[str, Any]]] = []
        get = self.parser.get_event
        while True:
            event = get()
            value: object
            if isinstance(event, yaml.ScalarEvent):
                if stack and isinstance(stack[-1][0], dict) and stack[-1][1][0] is None:
                    self.key(event, stack[-1])
                    continue
                value = self.scalar(event)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if stack and isinstance(stack[-1][0], dict) and stack[-1][1][0] is None:
                    raise self.fail("a key must be text, not a mapping or a list", event.start_mark)
                if event.tag not in _COLLECTION_TAGS:
                    raise self._tag_refused(event)
                if len(stack) >= MAX_NESTING:
                    raise self.fail(
                        f"case file nests mappings or lists more than {MAX_NESTING} deep",
                        event.start_mark,
                    )
                mapping = isinstance(event, yaml.MappingStartEvent)
                stack.append(({} if mapping else [], [None], {}))
                continue
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                value = stack.pop()[0]
            elif isinstance(event, yaml.AliasEvent):
                raise self.fail("aliases ('*name') are not allowed in case files", event.start_mark)
            else:
                raise self.fail("case file is not valid YAML", event.start_mark)
            if not stack:
                return value
            into, key, _ = stack[-1]
            if isinstance(into, list):
                into.append(value)
            else:
                into[key[0]] = value  # type: ignore[index]
                key[0] = None

    def key(self, event: Any, top: tuple[Any, list[str | None], dict[str, Any]]) -> None:
        if event.tag not in (None, "!", _STR):
            raise self._tag_refused(event)
        text = event.value
        self.check_text(text, event)
        mapping, key, marks = top
        if text in mapping:
            first = marks[text]
            raise self.fail(
                f"key '{text}' appears twice in one mapping (first on line {first.line + 1})",
                event.start_mark,
                "give each field once: which of the two values counts is not something to guess",
            )
        marks[text] = event.start_mark
        key[0] = text

    def scalar(self, event: Any) -> object:
        text: str = event.value
        self.check_text(text, event)
        tag = event.tag
        if tag is None:
            # libyaml calls the plain style '', PyYAML None; quoted and block scalars are text
            return _Plain(text) if event.style in (None, "") else text
        if tag == "!":
            return text  # the non-specific tag: text
        convert = _TAGGED.get(tag)
        if convert is None:
            raise self._tag_refused(event)
        try:
            return convert(text)
        except _TagValue as exc:
            raise self.fail(
                f"{exc}, as its tag '{_short_tag(tag)}' requires", event.start_mark
            ) from None

    def check_text(self, text: str, event: Any) -> None:
        if not is_text(text):
            raise self.fail(
                "the text holds a lone UTF-16 surrogate (an escape such as "
                "'\\ud800'), which is not a character",
                event.start_mark,
            )

    def _tag_refused(self, event: Any) -> CaseError:
        return self.fail(
            f"the tag '{_short_tag(event.tag)}' is not allowed in case files",
            event.start_mark,
            "write the value without a tag: its field's type says how to read it",
        )


def _short_tag(tag: str) -> str:
    return (
        "!!" + tag.removeprefix("tag:yaml.org,2002:")
        if tag.startswith("tag:yaml.org,2002:")
        else tag
    )


# -- cases -----------------------------------------------------------------------------------------


def _split(data: object, label: str) -> list[RawCase]:
    if isinstance(data, Mapping) and "cases" in data:
        items = data["cases"]
        if not isinstance(items, list):
            raise CaseError(
                error(
                    Code.CASE,
                    f"'cases' in '{label}' must be a list of cases",
                    help="write 'cases:' followed by one '- id: …' entry per case",
                )
            )
        cases = [RawCase(item, f"{label}:{i + 1}") for i, item in enumerate(items)]
    elif isinstance(data, list):
        cases = [RawCase(item, f"{label}:{i + 1}") for i, item in enumerate(data)]
    elif data is None or (isinstance(data, _Plain) and data.text in _NULLS):
        raise CaseError(error(Code.CASE, f"case file '{label}' holds no case"))
    else:
        return [RawCase(data, label)]
    if not cases:
        raise CaseError(
            error(
                Code.CASE,
                f"case file '{label}' holds no cases (an empty list)",
                help="give at least one case, e.g. '- {id: c1, date: "
                "2011-09-01, person: {practice: P84001}}'",
            )
        )
    return cases


def by_schema(value: object, schema: CaseSchema | Type | None) -> object:
    """A case (or part of one) with each plain YAML scalar read as its field's type wants:
    null forms are none, an int field takes decimal digits, a bool field true or false, and
    everything else (ids, codes, dates, fields the schema does not have) stays text."""
    if isinstance(value, _Plain):
        if value.text in _NULLS:
            return None
        if isinstance(schema, Type) and not schema.is_set:
            return typed_scalar(value.text, schema.base)
        if schema is None:
            # No field type (an unknown field, a value of the wrong shape): the error shows
            # it as written, a number as a number.
            number = typed_scalar(value.text, "int")
            return typed_scalar(value.text, "bool") if isinstance(number, str) else number
        return value.text
    if isinstance(value, dict):
        fields = schema.fields if isinstance(schema, CaseSchema) else {}
        return {k: by_schema(v, fields.get(k)) for k, v in value.items()}
    if isinstance(value, list):
        item = Type(schema.base) if isinstance(schema, Type) and schema.is_set else None
        return [by_schema(v, item) for v in value]
    return value
