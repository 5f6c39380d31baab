"""Report stage, the explain page: one self-contained HTML page (no scripts) per set of cases.

For each case: its inputs (with the organisations they name), a diagram of how its decisions
feed each other (with their values), and for each decision its headline, the picture of the
organisation path that decided it (the nodes and the dated edges the deciding rule walked),
and every rule considered, with its title, its outcome and why. The why column holds the
conditions; the facts (edges) are in the picture and, in full, in a folded list beside it.

Pictures are inline SVG: drawn by Graphviz `dot` when it is installed, else by a plain layered
layout of our own, so the page never depends on it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pctrules.evaluation import runtime
from pctrules.evaluation.trace import Because, Evidence, RuleOutcome
from pctrules.report import NameLookup, decision_headline, named_story, node_text

PATH_COLOUR = "#1f6feb"
"""Edges and borders of what decided; the browser test looks for this colour."""

KIND_COLOURS = {
    "sha": "#d9e7f5",
    "pct": "#fde9c9",
    "practice": "#eeeeee",
    "area": "#e3f1de",
    "cluster": "#f3dff0",
    "scg": "#fbe0dc",
    "ncg": "#fbe0dc",
    "service": "#f5f5dc",
    "collaborative": "#e6e0f8",
}
FOLD = 5
"""Lists longer than this are folded: the first few show, the rest opens on a click."""


@dataclass
class PageCase:
    """One case on the page: its id, as-of date, results, warnings, and its input as given."""

    case_id: str | None
    as_of: dt.date
    results: Mapping[str, runtime.DecisionResult]
    warnings: Sequence[str]
    inputs: object = None


# -- diagrams ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    id: str
    lines: tuple[str, ...]
    fill: str = "#ffffff"
    strong: bool = False


@dataclass(frozen=True)
class Arrow:
    start: str
    end: str
    label: tuple[str, ...] = ()
    strong: bool = False


def diagram(
    boxes: Sequence[Box],
    arrows: Sequence[Arrow],
    title: str,
    draw: str = "auto",
) -> str:
    """An inline SVG of boxes and arrows, left to right: by Graphviz when `draw` is 'auto' and
    `dot` is installed (or 'graphviz'), else by the plain layout."""
    if draw != "plain" and shutil.which("dot") is not None:
        svg = _graphviz(boxes, arrows, title)
        if svg is not None:
            return svg
    return _plain(boxes, arrows, title)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _graphviz(boxes: Sequence[Box], arrows: Sequence[Arrow], title: str) -> str | None:
    lines = [
        f"digraph {_q(title)} {{",
        "  rankdir=LR; bgcolor=transparent;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=8];',
    ]
    for b in boxes:
        label = "\\n".join(_q(line)[1:-1] for line in b.lines)
        extra = f', color="{PATH_COLOUR}", penwidth=2' if b.strong else ""
        lines.append(f'  {_q(b.id)} [label="{label}", fillcolor="{b.fill}"{extra}];')
    for a in arrows:
        label = "\\n".join(_q(line)[1:-1] for line in a.label)
        extra = f', color="{PATH_COLOUR}", penwidth=2' if a.strong else ""
        lines.append(f'  {_q(a.start)} -> {_q(a.end)} [label="{label}"{extra}];')
    lines.append("}")
    try:
        done = subprocess.run(
            ["dot", "-Tsvg"],
            input="\n".join(lines).encode("utf-8"),
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    svg = done.stdout.decode("utf-8", errors="replace")
    start = svg.find("<svg")
    # The XML prolog and doctype are for a file of its own; inline, the <svg> element is all.
    return None if start < 0 else re.sub(r"<!--.*?-->\n?", "", svg[start:], flags=re.S)


_CHAR, _LINE, _PAD, _GAP_X, _GAP_Y = 7.0, 14, 8, 90, 24


def _plain(boxes: Sequence[Box], arrows: Sequence[Arrow], title: str) -> str:
    """Layers left to right by the longest path from a box nothing points to; boxes of a layer
    top to bottom in the order given; straight arrows with their labels at the middle."""
    layer = {b.id: 0 for b in boxes}
    for _ in range(len(boxes)):  # longest path, stopping at cycles
        moved = False
        for a in arrows:
            if (
                a.start in layer
                and a.end in layer
                and layer[a.end] <= layer[a.start]
                and layer[a.start] + 1 < len(boxes)
            ):
                layer[a.end] = layer[a.start] + 1
                moved = True
        if not moved:
            break
    size = {
        b.id: (
            max(len(line) for line in b.lines) * _CHAR + 2 * _PAD,
            len(b.lines) * _LINE + 2 * _PAD,
        )
        for b in boxes
    }
    columns: dict[int, list[Box]] = {}
    for b in boxes:
        columns.setdefault(layer[b.id], []).append(b)
    label_room = max((max(len(t) for t in a.label) * 6.0 for a in arrows if a.label), default=0.0)
    gap = max(_GAP_X, label_room + 20)
    place: dict[str, tuple[float, float]] = {}
    x = 10.0
    height = 0.0
    for col in sorted(columns):
        y = 10.0
        width = max(size[b.id][0] for b in columns[col])
        for b in columns[col]:
            place[b.id] = (x, y)
            y += size[b.id][1] + _GAP_Y
        height = max(height, y)
        x += width + gap
    width_all = x - gap + 10
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_all:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width_all:.0f} {height:.0f}" role="img">',
        f"<title>{esc(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
        'fill="context-stroke"/></marker></defs>',
    ]
    for a in arrows:
        if a.start not in place or a.end not in place:
            continue
        (x1, y1), (w1, h1) = place[a.start], size[a.start]
        (x2, y2), (_, h2) = place[a.end], size[a.end]
        sx, sy, ex, ey = x1 + w1, y1 + h1 / 2, x2, y2 + h2 / 2
        if x2 <= x1:  # pointing back: from the bottom of one to the bottom of the other
            sx, sy, ex, ey = x1 + w1 / 2, y1 + h1, x2 + size[a.end][0] / 2, y2 + h2
        colour = PATH_COLOUR if a.strong else "#555555"
        out.append(
            f'<line x1="{sx:.0f}" y1="{sy:.0f}" x2="{ex:.0f}" y2="{ey:.0f}" '
            f'stroke="{colour}" stroke-width="{2 if a.strong else 1}" '
            'marker-end="url(#arrow)"/>'
        )
        for i, text in enumerate(a.label):
            ty = (sy + ey) / 2 - 4 - 11 * (len(a.label) - 1 - i)
            out.append(
                f'<text x="{(sx + ex) / 2:.0f}" y="{ty:.0f}" font-size="10" '
                f'text-anchor="middle" fill="#333">{esc(text)}</text>'
            )
    for b in boxes:
        (x0, y0), (w, h) = place[b.id], size[b.id]
        stroke = PATH_COLOUR if b.strong else "#888888"
        out.append(
            f'<rect x="{x0:.0f}" y="{y0:.0f}" width="{w:.0f}" height="{h:.0f}" rx="6" '
            f'fill="{b.fill}" stroke="{stroke}" stroke-width="{2 if b.strong else 1}"/>'
        )
        for i, text in enumerate(b.lines):
            weight = ' font-weight="bold"' if i == 0 else ""
            out.append(
                f'<text x="{x0 + _PAD:.0f}" y="{y0 + _PAD + 11 + i * _LINE:.0f}" '
                f'font-size="11"{weight} fill="#222">{esc(text)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


def _day(d: dt.date | None) -> str:
    return "…" if d is None else d.isoformat()


def path_picture(
    evidence: Sequence[Evidence], graph: NameLookup, title: str, draw: str
) -> str | None:
    """The organisations and dated edges a deciding rule walked, as a picture."""
    if not evidence:
        return None
    seen: dict[str, Box] = {}
    for e in evidence:
        for code in (e.from_, e.to):
            if code not in seen:
                kind = graph.kind(code) or ""
                name = graph.name(code)
                lines = (code, *([name] if name else []), *([kind] if kind else []))
                seen[code] = Box(code, tuple(lines), KIND_COLOURS.get(kind, "#ffffff"), True)
    arrows = [
        Arrow(e.from_, e.to, (e.rel, f"{_day(e.valid_from)} → {_day(e.valid_to)}"), True)
        for e in evidence
    ]
    return diagram(list(seen.values()), arrows, title, draw)


def dependency_picture(
    depends: Mapping[str, Sequence[str]],
    results: Mapping[str, runtime.DecisionResult],
    graph: NameLookup,
    title: str,
    draw: str,
) -> str:
    """Which decision feeds which, each with the value it had for this case."""
    boxes = []
    for name in depends:
        r = results.get(name)
        if r is None:
            lines: tuple[str, ...] = (name,)
        elif r.outcome == "error":
            lines = (name, "error")
        elif r.outcome == "no-match":
            lines = (name, "no rule matched")
        else:
            lines = (name, _short(node_text(r.value, graph)), f"rule {r.rule or '(default)'}")
        boxes.append(Box(name, lines, "#f8f8f8", r is not None))
    arrows = [
        Arrow(dep, name, (), False)
        for name, deps in depends.items()
        for dep in deps
        if dep in depends
    ]
    return diagram(boxes, arrows, title, draw)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the page ----------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:75em;color:#222;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:2.2em;border-bottom:2px solid #ccc}
h3{font-size:1.05em;margin:1.6em 0 .3em}code,.at{font-family:ui-monospace,monospace;font-size:.9em}
.at{color:#666}table{border-collapse:collapse;width:100%;margin:.3em 0 1em}
td,th{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.matched{background:#e8f6e8}.not-matched{background:#fff}
.unknown{background:#fff6dd}.skipped{color:#888}.error{background:#fde8e8}
.warn{color:#8a5a00}ul{margin:.2em 0;padding-left:1.2em}figure{margin:.6em 0;overflow-x:auto}
figcaption{color:#555;font-size:.9em}summary{cursor:pointer;color:#1f4f9f}
figure svg{max-width:100%;height:auto}
.title{color:#444}.inputs td:first-child{width:14em}
"""


def render_page(
    cases: Sequence[PageCase],
    graph: NameLookup,
    *,
    title: str,
    bundle: str,
    depends: Mapping[str, Sequence[str]] | None = None,
    draw: str = "auto",
) -> str:
    """The page for the cases; `depends` maps each decision to those it reads (in order)."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1><p>Bundle {esc(bundle)}</p>",
    ]
    for case in cases:
        out += _case(case, graph, depends, draw)
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _case(
    case: PageCase, graph: NameLookup, depends: Mapping[str, Sequence[str]] | None, draw: str
) -> list[str]:
    esc = html.escape
    name = case.case_id or "(no id)"
    out = [f'<section class="case"><h2>Case {esc(name)} as of {case.as_of.isoformat()}</h2>']
    inputs = _inputs(case.inputs)
    if inputs:
        out.append('<table class="inputs"><tr><th>input</th><th>value</th></tr>')
        out += [
            f"<tr><td><code>{esc(k)}</code></td><td>{esc(_shown(v, graph))}</td></tr>"
            for k, v in inputs
        ]
        out.append("</table>")
    out += [f'<p class="warn">warning: {esc(w)}</p>' for w in case.warnings]
    if depends:
        shown = {n: [d for d in ds if d in depends] for n, ds in depends.items()}
        picture = dependency_picture(shown, case.results, graph, f"decisions of case {name}", draw)
        out.append(
            f'<figure class="decisions">{picture}<figcaption>How the decisions feed '
            "each other (an arrow from a decision to one that reads it), with this "
            "case's values.</figcaption></figure>"
        )
    for result in case.results.values():
        out += _decision(result, case.as_of, graph, draw)
    out.append("</section>")
    return out


def _inputs(raw: object, prefix: str = "") -> list[tuple[str, object]]:
    if not isinstance(raw, Mapping):
        return []
    out: list[tuple[str, object]] = []
    for key, value in raw.items():
        if isinstance(value, Mapping):
            out += _inputs(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _shown(value: object, graph: NameLookup) -> str:
    if isinstance(value, str) and graph.kind(value) is not None:
        return f"{node_text(value, graph)} ({graph.kind(value)})"
    return runtime.describe(value) if not isinstance(value, str) else value


def _decision(
    result: runtime.DecisionResult, as_of: dt.date, graph: NameLookup, draw: str
) -> list[str]:
    esc = html.escape
    out = [f'<h3 id="{esc(result.name)}">{esc(decision_headline(result, graph))}</h3>']
    trace = result.trace
    if trace is None:
        return out
    deciding = [r for r in trace.rules if r.outcome == "matched"]
    if deciding and deciding[0].title:
        out.append(f'<p class="title">{esc(deciding[0].title)}</p>')
    if result.cite:
        out.append(f"<p>Cited: {esc(result.cite)}</p>")
    evidence = [e for r in deciding for e in r.evidence]
    picture = path_picture(evidence, graph, f"{result.name}: what decided", draw)
    if picture is not None:
        out.append(
            f'<figure class="path">{picture}<figcaption>The organisations and dated '
            f"relations that decided {esc(result.name)} on {as_of.isoformat()}."
            "</figcaption></figure>"
        )
    out.append(
        "<table><tr><th>rule</th><th>title</th><th>outcome</th><th>why</th><th>facts used</th></tr>"
    )
    for rule in trace.rules:
        out.append(_rule_row(rule, graph, as_of))
    out.append("</table>")
    return out


_MARKS = {"matched": "✓", "not-matched": "✗", "unknown": "?", "skipped": "·", "error": "!"}


def _rule_row(rule: RuleOutcome, graph: NameLookup, as_of: dt.date) -> str:
    esc = html.escape
    facts = [_edge_text(e, graph) for e in rule.evidence]
    facts += [named_story(n, as_of) for n in rule.named]
    for ranking in rule.rankings:
        told = ranking.result.explain(ranking.attribute, ranking.largest)
        steps = [
            f"{s.place}. {node_text(s.code, graph)}: "
            f"{'no value' if s.value is None else runtime.describe(s.value)}"
            for s in ranking.result.ranking
        ]
        facts.append(f"{ranking.expr}: {told}")
        facts += steps
    return (
        f'<tr class="{rule.outcome}"><td><code>{esc(rule.rule)}</code><br>'
        f'<span class="at">{esc(rule.at)}</span></td>'
        f"<td>{esc(rule.title or '')}</td>"
        f"<td>{_MARKS[rule.outcome]} {rule.outcome}</td><td>{_why(rule)}</td>"
        f"<td>{folded(facts)}</td></tr>"
    )


def _why(rule: RuleOutcome) -> str:
    """The conditions that decided the rule's outcome, with their values (not the facts)."""
    esc = html.escape
    if rule.outcome == "skipped":
        return esc(rule.note or "an earlier rule decided")
    if rule.outcome == "error":
        return esc(f"{rule.error} ({rule.error_at or rule.at})")
    if rule.note:
        return esc(rule.note)
    if not rule.because:
        return "a rule with no condition always applies" if rule.outcome == "matched" else ""
    return folded(_because_texts(rule.because))


def _because_texts(because: list[Because]) -> list[str]:
    """Why a condition was false or unknown, as the text trace says it: the paths that were none
    (the condition's own value then follows from them), else each deciding part and its value."""
    nones = [b for b in because if b.none_of is not None]
    if nones:
        return [f"{b.expr} is none" for b in nones]
    return [f"{b.expr} is {'unknown' if b.unknown else runtime.describe(b.value)}" for b in because]


def _edge_text(e: Evidence, graph: NameLookup) -> str:
    source = f" ({e.source})" if e.source else ""
    return (
        f"{node_text(e.from_, graph)} {e.rel.replace('_', ' ')} {node_text(e.to, graph)}, "
        f"{_day(e.valid_from)} → {_day(e.valid_to)}{source}"
    )


def folded(items: Sequence[str]) -> str:
    """A list; past FOLD items the rest is folded away, and opens in full on a click."""
    esc = html.escape
    if not items:
        return ""
    if len(items) <= FOLD:
        return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"
    head = "".join(f"<li>{esc(i)}</li>" for i in items[: FOLD - 1])
    rest = "".join(f"<li>{esc(i)}</li>" for i in items[FOLD - 1 :])
    return (
        f"<ul>{head}</ul><details><summary>{len(items) - FOLD + 1} more (show all)"
        f"</summary><ul>{rest}</ul></details>"
    )
