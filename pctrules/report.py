"""Report stage: renders diagnostics, decisions and traces as text or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from pctrules.diagnostics import Diagnostic, Diagnostics, Severity

# -- diagnostics ---------------------------------------------------------------------------------

MAX_DIAGNOSTICS = 200
"""The text report shows at most this many diagnostics, then says how many more there are."""

_COLORS = {
    Severity.ERROR: "\x1b[1;31m", Severity.WARNING: "\x1b[1;33m", Severity.NOTE: "\x1b[1;36m",
}
_BOLD, _BLUE, _RESET = "\x1b[1m", "\x1b[1;34m", "\x1b[0m"


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def render_diagnostic(d: Diagnostic, color: bool = False) -> str:
    """One diagnostic like a compiler: header, source line with a gutter, underline, help."""
    severity = _paint(f"{d.severity.value}[{d.code}]", _COLORS[d.severity], color)
    where = f"{d.span}: " if d.span is not None else ""
    lines = [f"{where}{severity}: {_paint(d.message, _BOLD, color)}"]
    width = 1
    if d.span is not None and d.span.line >= 1:
        number = str(d.span.line)
        width = len(number) + 1
        text = d.span.source.line_text(d.span.line)
        start = max(d.span.column - 1, 0)
        # A span over several lines is underlined to the end of its first line.
        end = d.span.end_column - 1 if d.span.end_line == d.span.line else len(text)
        length = max(end - start, 1)
        # Keep tabs under tabs, so the underline lines up however the terminal shows them.
        indent = "".join(ch if ch == "\t" else " " for ch in text[:start])
        indent += " " * (start - len(text[:start]))
        gutter = _paint(f"{number:>{width}} |", _BLUE, color)
        empty = _paint(f"{'':>{width}} |", _BLUE, color)
        lines.append(f"{gutter} {text}".rstrip())
        lines.append(f"{empty} {indent}{_paint('^' * length, _COLORS[d.severity], color)}")
    if d.help:
        lines.append(f"{'':>{width}} = help: {d.help}")
    return "\n".join(lines)


def render_diagnostics(
    diags: Iterable[Diagnostic], color: bool = False, limit: int = MAX_DIAGNOSTICS,
) -> str:
    """Every diagnostic in file order (each once), at most `limit` of them, then '… and N more'."""
    items = _in_order(diags)
    shown = [render_diagnostic(d, color) for d in items[:limit]]
    if len(items) > limit:
        shown.append(f"… and {len(items) - limit} more")
    return "\n\n".join(shown)


def _in_order(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    return Diagnostics(diags).sorted()


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(diags: Iterable[Diagnostic], summary: Mapping[str, int]) -> str:
    """`2 errors, 1 warning in 7 files` or `ok: 7 files, 6 decisions, 24 rules checked, …`."""
    items = _in_order(diags)
    errors = sum(d.is_error for d in items)
    warnings = sum(d.severity is Severity.WARNING for d in items)
    files = _count(summary.get("files", 0), "file")
    if errors:
        problems = _count(errors, "error")
        if warnings:
            problems += ", " + _count(warnings, "warning")
        return f"{problems} in {files}"
    checked = ", ".join([files, _count(summary.get("decisions", 0), "decision"),
                         _count(summary.get("rules", 0), "rule")])
    if summary.get("constraints"):
        checked += ", " + _count(summary["constraints"], "constraint")
    return f"ok: {checked} checked, " + (_count(warnings, "warning") if warnings else "no problems")


def diagnostics_to_json(diags: Iterable[Diagnostic], summary: Mapping[str, int]) -> str:
    """All diagnostics (uncapped) and the counts, as one JSON object with a fixed key order."""
    items = _in_order(diags)
    errors = sum(d.is_error for d in items)
    warnings = sum(d.severity is Severity.WARNING for d in items)
    document = {
        "ok": errors == 0,
        "summary": {**summary, "errors": errors, "warnings": warnings},
        "diagnostics": [d.to_dict() for d in items],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)
