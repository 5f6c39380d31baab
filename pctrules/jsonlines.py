"""Output stage, JSON Lines: JSON text that stays on one line for every line-splitting reader."""

from __future__ import annotations

import json
import re
from typing import Final

_LINE_BREAKS_JSON_KEEPS: Final = re.compile("[\x85\u2028\u2029]")
"""Characters JSON leaves raw inside strings but that Python's `str.splitlines`, JavaScript
before ES2019 and many editors take for line ends."""


def one_line(text: str) -> str:
    """`text` (JSON from `json.dumps(..., ensure_ascii=False)`) with those characters escaped,
    so that one record is one line whoever splits it."""
    if text.isascii():
        return text
    return _LINE_BREAKS_JSON_KEEPS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_text(value: object) -> str:
    """Compact JSON for a JSON Lines record or part of one: UTF-8 as given, never a line end."""
    return one_line(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
