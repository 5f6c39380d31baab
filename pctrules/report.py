"""Report stage: renders diagnostics, decisions and traces as text or JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from pctrules.evaluation import runtime
from pctrules.evaluation.trace import Because, DecisionTrace, Evidence, Named, RuleOutcome
from pctrules.graph.model import valid_text
from pctrules.language.diagnostics import Diagnostic, Diagnostics, Severity, visible

# -- diagnostics ---------------------------------------------------------------------------------

MAX_DIAGNOSTICS = 200
"""The text report shows at most this many diagnostics, then says how many more there are."""

_COLORS = {
    Severity.ERROR: "\x1b[1;31m",
    Severity.WARNING: "\x1b[1;33m",
    Severity.NOTE: "\x1b[1;36m",
}
_BOLD, _BLUE, _RESET = "\x1b[1m", "\x1b[1;34m", "\x1b[0m"


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def render_diagnostic(d: Diagnostic, color: bool = False) -> str:
    """One diagnostic like a compiler: header, source line with a gutter, underline, help."""
    # Every piece of text that came from a file is shown through `visible` (a hostile name
    # must not split the message or reach the terminal as an escape sequence).
    severity = _paint(f"{d.severity.value}[{d.code}]", _COLORS[d.severity], color)
    where = f"{visible(str(d.span))}: " if d.span is not None else ""
    lines = [f"{where}{severity}: {_paint(visible(d.message), _BOLD, color)}"]
    width = 1
    text = d.span.source.line_text(d.span.line) if d.span is not None else ""
    # Large data files are not kept in memory: their spans name the row but carry no text.
    if d.span is not None and d.span.line >= 1 and text:
        number = str(d.span.line)
        width = len(number) + 1
        start = max(d.span.column - 1, 0)
        # A span over several lines is underlined to the end of its first line.
        end = d.span.end_column - 1 if d.span.end_line == d.span.line else len(text)
        length = max(len(visible(text[start:end])), 1)
        # Keep tabs under tabs, so the underline lines up however the terminal shows them.
        indent = "".join(ch if ch == "\t" else " " for ch in visible(text[:start]))
        indent += " " * (start - len(text[:start]))
        gutter = _paint(f"{number:>{width}} |", _BLUE, color)
        empty = _paint(f"{'':>{width}} |", _BLUE, color)
        lines.append(f"{gutter} {visible(text)}".rstrip())
        lines.append(f"{empty} {indent}{_paint('^' * length, _COLORS[d.severity], color)}")
    if d.help:
        lines.append(f"{'':>{width}} = help: {visible(d.help)}")
    return "\n".join(lines)


def render_diagnostics(
    diags: Iterable[Diagnostic],
    color: bool = False,
    limit: int = MAX_DIAGNOSTICS,
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
        return f"{problems} in {files}" if summary.get("files") else problems
    checked = ", ".join(
        [
            files,
            _count(summary.get("decisions", 0), "decision"),
            _count(summary.get("rules", 0), "rule"),
        ]
    )
    if summary.get("constraints"):
        checked += ", " + _count(summary["constraints"], "constraint")
    if summary.get("tests"):
        checked += ", " + _count(summary["tests"], "test")
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


# == Decisions and traces =========================================================================
# Rendering of decisions (evaluate) and their traces (explain, evaluate --explain): a short story
# an auditor can follow in text, and a self-contained HTML page. The JSON form is the engine's
# CaseResult.to_dict() (DESIGN §5, §6).


class NameLookup(Protocol):
    """What the renderers need of the organisation graph: a node's kind and name."""

    def kind(self, code: str) -> str | None: ...

    def name(self, code: str) -> str | None: ...


_MARKS = {"matched": "✓", "not-matched": "✗", "unknown": "?", "skipped": "·", "error": "!"}


def node_text(value: object, graph: NameLookup) -> str:
    """A value for people: a node as its code and name, a set as its members, none as 'none'."""
    if isinstance(value, str) and graph.kind(value) is not None:
        name = graph.name(value)
        return f"{value} {name}" if name else value
    if isinstance(value, frozenset | set):
        return "{" + ", ".join(node_text(v, graph) for v in runtime.members(value)) + "}"
    if isinstance(value, tuple):
        return "[" + ", ".join(node_text(v, graph) for v in value) + "]"
    return runtime.describe(value)


def decision_headline(result: runtime.DecisionResult, graph: NameLookup) -> str:
    """`responsible_pct = 5NT Manchester Teaching PCT (rule registered-practice, reason 1)`."""
    trace = result.trace
    name = result.name
    if trace is not None and trace.subject is not None:
        name = f"{name} for {node_text(trace.subject, graph)}"
    if result.outcome == "error" and result.error is not None:
        where = f" at {result.error.at}" if result.error.at else ""
        rule = f" in rule {result.error.rule}" if result.error.rule else ""
        return f"{name}: error{rule}{where}: {result.error.message}"
    if result.outcome == "no-match":
        why = f" ({result.note})" if result.note else ""
        return f"{name}: no rule matched{why}"
    if result.outcome == "default":
        return f"{name} = {node_text(result.value, graph)} (no rule matched; the default)"
    detail = f"rule {result.rule}"
    if result.reason is not None:
        detail += f", reason {result.reason}"
    return f"{name} = {node_text(result.value, graph)} ({detail})"


def _relation_words(rel: str) -> str:
    """`part_of` → 'is part of', `covers` → 'covers': relation names read as verbs."""
    words = rel.replace("_", " ")
    first = words.split(" ", 1)[0]
    return words if first.endswith("s") and not first.endswith("ss") else f"is {words}"


def _edge_story(e: Evidence, on: dt.date | None, graph: NameLookup) -> str:
    start = e.valid_from.isoformat() if e.valid_from else "…"
    end = e.valid_to.isoformat() if e.valid_to else "…"
    when = f" on {on.isoformat()}" if on is not None else ""
    subject = f"{e.from_kind} {e.from_}" if e.from_kind else e.from_
    if e.from_name:
        subject += f" {e.from_name}"
    source = f", {e.source}" if e.source else ""
    return (
        f"{subject} {_relation_words(e.rel)} {node_text(e.to, graph)}{when} "
        f"({start} → {end}{source})"
    )


def _because_story(because: list[Because]) -> str:
    """Why a condition was false or unknown: the path that was none, else the deciding part."""
    nones = [b for b in because if b.none_of is not None]
    if nones:
        return "; ".join(f"{b.expr} is none ({b.at})" for b in nones)
    parts = []
    for b in because:
        value = "unknown" if b.unknown else runtime.describe(b.value)
        parts.append(f"{b.expr} is {value} ({b.at})")
    return "; ".join(parts)


def named_story(n: Named, as_of: dt.date) -> str:
    """`pct('D') is D Delta PCT, which does not exist on 2011-01-01 (2002-04-01 → 2010-03-31)`:
    a code the rule wrote, and what the data has under it."""
    if n.valid_from is None or n.valid_to is None:
        return f"{n.expr} names no organisation in the data"
    what = f"{n.expr} is {n.code}" + (f" {n.name}" if n.name else "")
    valid = valid_text(n.valid_from, n.valid_to)
    if not n.exists:
        return f"{what}, which does not exist on {as_of.isoformat()} ({valid})"
    return what if valid == valid_text(dt.date.min, dt.date.max) else f"{what} ({valid})"


def rule_story(rule: RuleOutcome, as_of: dt.date, graph: NameLookup) -> list[str]:
    """One rule's line(s) in a trace: what happened to it and why, then the organisations it
    names by code."""
    mark = _MARKS[rule.outcome]
    if rule.outcome == "skipped":
        return [f"{mark} {rule.rule} skipped ({rule.note or 'not evaluated'})"]
    named = [f"    {named_story(n, as_of)}" for n in rule.named]
    if rule.outcome == "error":
        return [f"{mark} {rule.rule} failed: {rule.error} ({rule.error_at or rule.at})", *named]
    if rule.outcome == "not-matched":
        why = rule.note or _because_story(rule.because)
        return [f"{mark} {rule.rule} did not match: {why}", *named]
    if rule.outcome == "unknown":
        why = _because_story(rule.because)
        return [f"{mark} {rule.rule} could not be decided (unknown): {why}", *named]
    lines: list[str] = []
    if rule.evidence:
        first, *rest = rule.evidence
        lines.append(f"{mark} {rule.rule} matched: {_edge_story(first, as_of, graph)}")
        shown = rest[: _MAX_EDGES - 1]
        lines += [f"    and {_edge_story(e, None, graph)}" for e in shown]
        if len(rest) > len(shown):
            more = len(rest) - len(shown)
            edges = "edge" if more == 1 else "edges"
            lines.append(f"    … and {more} more {edges} (--format json lists them)")
    elif rule.because:
        lines.append(f"{mark} {rule.rule} matched: {_because_story(rule.because)}")
    else:
        lines.append(f"{mark} {rule.rule} matched (a rule with no condition always applies)")
    for ranking in rule.rankings:
        told = ranking.result.explain(ranking.attribute, ranking.largest)
        lines.append(f"    {ranking.expr}: {told}")
        for step in ranking.result.ranking[:_MAX_EDGES]:
            value = "no value" if step.value is None else runtime.describe(step.value)
            lines.append(f"      {step.place}. {node_text(step.code, graph)}: {value}")
        hidden = len(ranking.result.ranking) - _MAX_EDGES
        if hidden > 0:
            lines.append(f"      … and {hidden} more")
    return lines + named


_MAX_EDGES = 8
"""Edges and ranked members a text story shows per rule; the JSON trace has all of them."""


def render_case_text(
    case_id: str | None,
    as_of: dt.date,
    results: Mapping[str, runtime.DecisionResult],
    warnings: Sequence[str],
    graph: NameLookup,
    *,
    explain: bool,
) -> str:
    """One case's decisions as text; with `explain`, each decision's trace as a story."""
    lines = [f"case {case_id or '(no id)'} as of {as_of.isoformat()}"]
    for result in results.values():
        lines.append(f"  {decision_headline(result, graph)}")
        if explain and result.trace is not None:
            trace: DecisionTrace = result.trace
            if trace.subject_expr is not None and trace.subject is not None:
                lines.append(f"    for {trace.subject_expr} = {node_text(trace.subject, graph)}")
            for rule in trace.rules:
                story = rule_story(rule, as_of, graph)
                lines += [f"    {story[0]}", *(f"    {s}" for s in story[1:])]
    lines += [f"  warning: {w}" for w in warnings]
    # Names, ids and values come from files: shown, never obeyed by the terminal.
    return "\n".join(visible(line) for line in lines)
