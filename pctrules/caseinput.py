"""Case input stage: the bounds every reader of cases keeps, and scalars read by the case schema.

Case files (YAML, JSON) and batch input (CSV, JSONL) all end as the nested mappings that
`Engine.validate_case` checks. What they share is here: how deep a value may nest, which text
is not text (a lone UTF-16 surrogate, from a `\\ud800` escape or a byte that is not UTF-8), keys
given twice, and how a scalar written as text (a CSV cell, a plain YAML scalar) becomes the
value its field's type wants, without the rewrites YAML 1.1 and Python's `int()` allow (`0123`,
`0x1F`, `1:20`, `1_000`, non-ASCII digits).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Final

MAX_NESTING: Final = 32
"""Mappings and lists inside one another in a case; a case schema is a few levels deep, and a
deeper value is refused before anything walks it recursively."""

MAX_DIGITS: Final = 4300
"""Python's own limit for turning text into an integer (`sys.get_int_max_str_digits`)."""

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_BAD_BYTE: Final = re.compile("[\udc80-\udcff]")
_INT: Final = re.compile(r"[-+]?[0-9]+")
_NUMBER: Final = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_BOOLS: Final = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}


def is_text(s: str) -> bool:
    """Whether `s` is text that can be written as UTF-8 (no lone surrogate)."""
    return s.isascii() or _SURROGATE.search(s) is None


def printable(s: str) -> str:
    """`s` with each lone surrogate (a byte that was not UTF-8, or a `\\ud800` escape) shown as
    U+FFFD, so that it can name a row in output that stays UTF-8."""
    return s if is_text(s) else _SURROGATE.sub("\ufffd", s)


def not_utf8(line: str) -> str:
    """The problem of a line decoded with `surrogateescape` that held bytes that are not UTF-8,
    naming the first one and where it is."""
    return f"the line is not valid UTF-8 text: {not_utf8_byte(line)}"


def not_utf8_byte(text: str) -> str:
    """The first byte of `text` (decoded with `surrogateescape`) that was not UTF-8, and where."""
    m = _BAD_BYTE.search(text)
    if m is None:
        m = _SURROGATE.search(text)
        return "a lone surrogate" + (f" at character {m.start() + 1}" if m else "")
    return f"byte 0x{ord(m.group()) - 0xDC00:02x} at character {m.start() + 1}"


def value_problem(value: object, limit: int = MAX_NESTING) -> str | None:
    """What makes a parsed JSON or YAML value unusable as case input, if anything: nesting
    deeper than `limit`, or a key or a string that is not text. Iterative: the value may be
    as deep as its parser allowed."""
    stack: list[tuple[object, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, str):
            if not is_text(item):
                return _surrogate_problem(item, where)
        elif isinstance(item, (Mapping, list)):
            if depth >= limit:
                return (
                    f"the value{_at(where.split('.')[0])} nests mappings or lists more "
                    f"than {limit} deep"
                )
            pairs = item.items() if isinstance(item, Mapping) else enumerate(item)
            for key, inner in pairs:
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and not is_text(key):
                    return _surrogate_problem(key, where)
                stack.append((inner, depth + 1, name))
    return None


def _surrogate_problem(s: str, where: str) -> str:
    m = _SURROGATE.search(s)
    assert m is not None
    return (
        f"the text{_at(where)} holds '\\u{ord(m.group()):04x}', a lone UTF-16 surrogate, "
        "which is not a character"
    )


def _at(where: str) -> str:
    return f" of '{where}'" if where else ""


Pairs = list[tuple[str, object]]


def duplicate_keys_hook(found: list[str]) -> Callable[[Pairs], dict[str, object]]:
    """A `json.loads` object_pairs_hook that builds the object and appends each key given twice
    in one object to `found` (JSON leaves duplicates undefined; Python keeps the last)."""

    def hook(pairs: Pairs) -> dict[str, object]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    found.append(key)
                seen.add(key)
        return obj

    return hook


def typed_scalar(text: str, base: str) -> object:
    """A scalar written as text (a CSV cell, a plain YAML scalar) as a value of type `base`:
    an int from decimal digits, a number from a decimal, a bool from true/false; anything else,
    and any text that is not such a literal, stays text as written (the engine then says what
    was expected). Ids, codes and dates are text: `0123` stays `0123`."""
    if base == "int":
        if _INT.fullmatch(text) and len(text) <= MAX_DIGITS:
            return int(text)
    elif base == "number":
        if len(text) <= MAX_DIGITS:
            if _INT.fullmatch(text):
                return int(text)
            if _NUMBER.fullmatch(text) and math.isfinite(number := float(text)):
                return number
    elif base == "bool":
        return _BOOLS.get(text, text)
    return text
