"""CLI: `pctrules graph`: the organisation graph's summary, a focus tree, exports and pictures."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pctrules.commands.common import as_of_option, bundle_option, data_option, handle_errors
from pctrules.files import Refused, write_whole
from pctrules.graph.build import manifest_graph
from pctrules.graph.model import Edge, OrgGraph
from pctrules.language.diagnostics import (
    Code,
    ExitCode,
    PctrulesError,
    did_you_mean,
    error,
    visible,
    warning,
)
from pctrules.language.loader import Manifest, load_manifest
from pctrules.report import render_diagnostic
from pctrules.resources import default_bundle_path

if TYPE_CHECKING:
    import networkx as nx

FORMATS = ("summary", "json", "graphml", "dot", "svg", "png")
GRAPHVIZ_HELP = (
    "install Graphviz for pictures: 'apt-get install graphviz' (Debian, Ubuntu), "
    "'brew install graphviz' (macOS), 'winget install graphviz' (Windows); or write "
    "'--format dot' and render it elsewhere"
)


def _check_data(bundle_dir: Path, graph: OrgGraph) -> None:
    """Add the bundle's data constraints that the data breaks (when its policies check clean:
    the constraints are written in them)."""
    from pctrules.bundle import run_stages
    from pctrules.evaluation.constraints import data_constraint_problems

    stages = run_stages(bundle_dir)
    if stages.checked is not None and not stages.diagnostics.has_errors:
        graph.diagnostics.extend(data_constraint_problems(stages.checked, graph))


@click.command("graph")
@bundle_option
@data_option
@as_of_option
@click.option(
    "--focus",
    "focus",
    default=None,
    metavar="CODE",
    help="Show only the neighbourhood of this organisation (e.g. 5NT, P84001).",
)
@click.option(
    "--depth",
    "depth",
    type=click.IntRange(0, 6),
    default=1,
    show_default=True,
    help="How many hops around --focus.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="summary",
    show_default=True,
    help="summary (text; a tree with --focus), json, graphml, dot, or a picture "
    "(svg, png; needs Graphviz).",
)
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Write to this file ('-': standard output). Without it, text goes to "
    "standard output and a picture to <focus>-<date>.<format>.",
)
@handle_errors
def graph_command(
    bundle: Path | None,
    data_dir: Path | None,
    as_of: dt.date | None,
    focus: str | None,
    depth: int,
    fmt: str,
    output: Path | None,
) -> None:
    """Show the organisation graph: counts on a date, a neighbourhood, or an export.

    \b
    Examples:
      pctrules graph --as-of 2011-09-01 --data DIR
      pctrules graph --as-of 2011-09-01 --focus 5NT --depth 2
      pctrules graph --as-of 2011-09-01 --focus Q31 --format svg -o q31.svg
      pctrules graph --as-of 2011-09-01 --focus 5ET --format png   # writes 5ET-2011-09-01.png
    """
    bundle_dir = bundle or default_bundle_path()
    manifest, diagnostics = load_manifest(bundle_dir)
    if manifest is None:
        raise PctrulesError(diagnostics.sorted())
    _, graph = manifest_graph(manifest, bundle_dir, data_dir, diagnostics)
    _check_data(bundle_dir, graph)
    # In the order found, not by file: a table that cannot be read comes before the rows of
    # other tables that name what it would have defined.
    problems = list(graph.diagnostics)
    for d in problems[:50]:
        click.echo(render_diagnostic(d), err=True)
    if len(problems) > 50:
        click.echo(f"… and {len(problems) - 50} more", err=True)
    if any(d.is_error for d in problems):
        # Never a picture of what is left: the data that failed to load is part of the answer.
        click.get_current_context().exit(int(ExitCode.INVALID_POLICY))
    span = manifest.effective
    if (
        as_of is not None
        and span is not None
        and not ((span.start or dt.date.min) <= as_of <= (span.end or dt.date.max))
    ):
        click.echo(
            render_diagnostic(
                warning(
                    Code.OUTSIDE_EFFECTIVE_RANGE,
                    f"{as_of} is outside the dates the bundle speaks for ({span})",
                    span.span,
                    "the organisation graph holds nothing on it; give '--as-of' a date in "
                    "that range",
                )
            ),
            err=True,
        )
    if focus is not None and graph.kind(focus) is None:
        raise PctrulesError(
            error(
                Code.UNKNOWN_NAME,
                f"unknown organisation '{focus}'",
                None,
                _suggest(focus, graph.nodes)
                or "give an organisation code such as '5NT' (a PCT) "
                "or 'Q31' (an SHA); import the practice register with 'pctrules import "
                "ods-epcmem' for practice codes",
            ),
            ExitCode.USAGE,
        )
    if fmt in ("svg", "png", "dot") and focus is None and as_of is None:
        raise PctrulesError(
            error(
                Code.USAGE,
                f"a '{fmt}' drawing of every organisation at every date is unreadable",
                None,
                "add '--focus CODE' and '--as-of DATE'",
            ),
            ExitCode.USAGE,
        )
    if fmt == "summary":
        text = tree(graph, focus, depth, as_of) if focus else summary(graph, manifest, as_of)
        # Names come from data files: shown, never obeyed by the terminal.
        _emit("\n".join(visible(line) for line in text.split("\n")), output)
    elif fmt == "json":
        _emit(json.dumps(to_json(graph, focus, depth, as_of), indent=1, sort_keys=True), output)
    elif fmt == "graphml":
        buf = io.BytesIO()
        import networkx as nx

        nx.write_graphml(_export(graph, focus, depth, as_of), buf)
        _emit(buf.getvalue().decode("utf-8"), output)
    elif fmt == "dot":
        _emit(to_dot(graph, focus, depth, as_of), output)
    else:
        _draw(to_dot(graph, focus, depth, as_of), fmt, output, _picture_name(focus, as_of, fmt))


def _suggest(code: str, known: Iterable[str]) -> str | None:
    """A did-you-mean for an organisation code: codes are upper case, and near misses."""
    return f"did you mean '{code.upper()}'?" if code.upper() in known else did_you_mean(code, known)


def _emit(text: str, output: Path | None) -> None:
    if output is None or str(output) == "-":
        click.echo(text)
    else:
        _write(output, (text + "\n").encode("utf-8"))


def _write(output: Path, data: bytes) -> None:
    """Write `--output` whole or not at all (never a truncated file, on a full disk say)."""
    try:
        write_whole(output, data)
    except Refused as exc:
        raise PctrulesError(
            error(
                Code.USAGE,
                exc.message,
                None,
                "'--output' names a file to write whole, or '-' for "
                "standard output; a device or pipe is never replaced",
            ),
            ExitCode.USAGE,
        ) from None
    except OSError as exc:
        raise PctrulesError(
            error(
                Code.USAGE,
                f"cannot write '{output}': {(exc.strerror or str(exc)).lower()}",
                None,
                "give '--output' a file in a folder that exists and can be written to",
            ),
            ExitCode.USAGE,
        ) from None


def _draw(dot_text: str, fmt: str, output: Path | None, default: str) -> None:
    dot = shutil.which("dot")
    if dot is None:
        raise PctrulesError(
            error(
                Code.USAGE,
                "cannot draw a picture: Graphviz 'dot' is not installed",
                None,
                GRAPHVIZ_HELP,
            ),
            ExitCode.USAGE,
        )
    done = subprocess.run(
        [dot, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise PctrulesError(
            error(
                Code.USAGE,
                f"Graphviz 'dot' failed: '{done.stderr.decode(errors='replace').strip()}'",
                None,
                "check the Graphviz installation, or write '--format dot' and render it elsewhere",
            ),
            ExitCode.USAGE,
        )
    if output is not None and str(output) == "-":
        sys.stdout.buffer.write(done.stdout)
        return
    # A picture is a file (a PNG on a terminal is noise): named after what it shows.
    target = output or Path(default)
    _write(target, done.stdout)
    if output is None:
        click.echo(f"wrote '{target}'", err=True)


def _picture_name(focus: str | None, on: dt.date | None, fmt: str) -> str:
    """`5ET-2011-09-01.png`: what the picture shows, in characters any file system takes."""
    what = re.sub(r"[^A-Za-z0-9_-]", "_", focus or "organisations")
    return f"{what}-{on.isoformat() if on else 'all-dates'}.{fmt}"


def _day(d: dt.date) -> str:
    return "…" if d in (dt.date.min, dt.date.max) else d.isoformat()


def _label(graph: OrgGraph, code: str) -> str:
    name = graph.name(code)
    return f"{code} {name}" if name else code


def summary(graph: OrgGraph, manifest: Manifest, on: dt.date | None) -> str:
    """Counts by kind and relation on a date (or over all dates)."""
    when = f"on {on}" if on else "over all dates (use --as-of DATE for one day)"
    lines = [f"bundle {manifest.name} {manifest.version} · data {graph.digest[:19]}… · {when}"]
    if on is not None:
        counts = graph.summary(on)
    else:
        kinds = dict.fromkeys(graph.schema.kinds, 0)
        for node in graph.nodes.values():
            kinds[node.kind] += 1
        rels = dict.fromkeys(graph.schema.relations, 0)
        for e in graph.edges:
            rels[e.rel] += 1
        counts = {"kinds": kinds, "relations": rels}
    lines.append("organisations:")
    for kind, count in counts["kinds"].items():
        lines.append(f"  {count:>7,}  {kind:<16} {graph.schema.kinds[kind].title}")
        if on is not None and count and graph.schema.hop(kind, "members") is not None:
            # Groups of one (the 2011 standalone PCTs) are part of what a group count means.
            alone = sum(
                len(graph.follow_many(c, "members", on)) == 1 for c in graph.nodes_of_kind(kind, on)
            )
            lines.append(f"  {'':>7}  {'':<16} {alone:,} of them with one member")
    lines.append("relations:")
    for rel, count in counts["relations"].items():
        r = graph.schema.relations[rel]
        lines.append(f"  {count:>7,}  {rel:<16} {'|'.join(r.from_kinds)} → {'|'.join(r.to_kinds)}")
    for kd in graph.schema.kinds.values():
        if kd.register is not None and not graph.loaded(kd.name):
            lines.append(f"no {kd.register.name} loaded: {kd.register.help}")
    return "\n".join(lines)


def _edges(graph: OrgGraph, focus: str | None, depth: int, on: dt.date | None) -> list[Edge]:
    if focus is not None:
        if on is None:
            return [e for _, e, _ in _neighbourhood_all_dates(graph, focus, depth)]
        return [e for _, e, _ in graph.neighbourhood(focus, depth, on)]
    return [e for e in graph.edges if on is None or e.valid_from <= on <= e.valid_to]


def _neighbourhood_all_dates(
    graph: OrgGraph,
    focus: str,
    depth: int,
) -> list[tuple[int, Edge, bool]]:
    by_node: dict[str, list[Edge]] = {}
    for e in graph.edges:
        by_node.setdefault(e.from_, []).append(e)
        by_node.setdefault(e.to, []).append(e)
    out: list[tuple[int, Edge, bool]] = []
    seen, frontier = {focus}, [focus]
    for level in range(1, depth + 1):
        nxt: list[str] = []
        for c in frontier:
            for e in by_node.get(c, ()):
                other = e.to if e.from_ == c else e.from_
                out.append((level, e, e.from_ == c))
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        frontier = nxt
    return out


def _nodes(graph: OrgGraph, focus: str | None, edges: list[Edge], on: dt.date | None) -> list[str]:
    if focus is None:
        return sorted(c for c, n in graph.nodes.items() if on is None or n.alive(on))
    codes = {focus}
    for e in edges:
        codes.update((e.from_, e.to))
    return sorted(codes)


def tree(graph: OrgGraph, focus: str, depth: int, on: dt.date | None) -> str:
    """The focus organisation and its neighbours as an indented tree, hop names on the branches."""
    when = f" on {on}" if on else ""
    node = graph.nodes[focus]
    lines = [
        f"{_label(graph, focus)} [{node.kind}]{when} "
        f"({_day(node.valid_from)} → {_day(node.valid_to)})"
    ]
    items = (
        graph.neighbourhood(focus, depth, on)
        if on
        else _neighbourhood_all_dates(graph, focus, depth)
    )
    children: dict[str, list[tuple[Edge, bool]]] = {}
    for _, e, forward in items:
        parent = e.from_ if forward else e.to
        children.setdefault(parent, []).append((e, forward))

    def walk(code: str, prefix: str, level: int, seen: set[str]) -> None:
        kids = sorted(children.get(code, ()), key=lambda t: (_hop(graph, *t), t[0].to, t[0].from_))
        for i, (e, forward) in enumerate(kids):
            other = e.to if forward else e.from_
            last = i == len(kids) - 1
            arrow = "→" if forward else "←"
            lines.append(
                f"{prefix}{'└── ' if last else '├── '}{_hop(graph, e, forward)} {arrow} "
                f"{_label(graph, other)} [{graph.kind(other)}] "
                f"({_day(e.valid_from)} → {_day(e.valid_to)}; {e.source})"
            )
            if level < depth and other not in seen:
                walk(other, prefix + ("    " if last else "│   "), level + 1, seen | {other})

    walk(focus, "", 1, {focus})
    return "\n".join(lines)


def _hop(graph: OrgGraph, e: Edge, forward: bool) -> str:
    rel = graph.schema.relations[e.rel]
    return rel.hop_name if forward else (rel.inverse or f"{e.rel} (inverse)")


def to_json(
    graph: OrgGraph,
    focus: str | None,
    depth: int,
    on: dt.date | None,
) -> dict[str, object]:
    """Nodes and edges (of the focus neighbourhood, on the date when given) as plain JSON."""
    edges = _edges(graph, focus, depth, on)
    nodes = []
    for code in _nodes(graph, focus, edges, on):
        n = graph.nodes[code]
        nodes.append(
            {
                "code": code,
                "kind": n.kind,
                "name": n.name,
                "valid": [_json_day(n.valid_from), _json_day(n.valid_to)],
                "attributes": {
                    k: v.isoformat() if isinstance(v, dt.date) else v
                    for k, v in sorted(n.attributes.items())
                },
            }
        )
    return {
        "as_of": on.isoformat() if on else None,
        "focus": focus,
        "digest": graph.digest,
        "nodes": nodes,
        "edges": [
            e.evidence.to_dict() | ({"attributes": dict(e.attributes)} if e.attributes else {})
            for e in edges
        ],
    }


def _json_day(d: dt.date) -> str | None:
    return None if d in (dt.date.min, dt.date.max) else d.isoformat()


def _export(graph: OrgGraph, focus: str | None, depth: int, on: dt.date | None) -> nx.MultiDiGraph:
    """A networkx copy with GraphML-safe attributes (dates as ISO text, no empty values)."""
    edges = _edges(graph, focus, depth, on)
    import networkx as nx

    g = nx.MultiDiGraph()
    for code in _nodes(graph, focus, edges, on):
        n = graph.nodes[code]
        attrs: dict[str, object] = {"kind": n.kind, "name": n.name or ""}
        for k, v in [
            ("valid_from", _json_day(n.valid_from)),
            ("valid_to", _json_day(n.valid_to)),
            *n.attributes.items(),
        ]:
            if v is not None:
                attrs[k] = v.isoformat() if isinstance(v, dt.date) else v
        g.add_node(code, **attrs)
    for e in edges:
        ev = e.evidence
        attrs = {"relation": e.rel, "source": e.source}
        if ev.valid_from:
            attrs["valid_from"] = ev.valid_from.isoformat()
        if ev.valid_to:
            attrs["valid_to"] = ev.valid_to.isoformat()
        g.add_edge(e.from_, e.to, key=e.rel, **attrs)
    return g


_COLOURS = {
    "sha": "#d9e7f5",
    "pct": "#fde9c9",
    "practice": "#eeeeee",
    "area": "#e3f1de",
    "cluster": "#f3dff0",
    "scg": "#fbe0dc",
    "ncg": "#fbe0dc",
    "service": "#f5f5dc",
}


def to_dot(graph: OrgGraph, focus: str | None, depth: int, on: dt.date | None) -> str:
    """Graphviz DOT text: one box per organisation, one labelled arrow per relation."""
    edges = _edges(graph, focus, depth, on)

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    title = f"{focus or 'organisations'}{' on ' + on.isoformat() if on else ''}"
    lines = [
        f"digraph {q(title)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=8];',
    ]
    for code in _nodes(graph, focus, edges, on):
        n = graph.nodes[code]
        # The code and name as DOT text (quotes, backslashes and line ends escaped, so a name
        # cannot end the label and add attributes), on two lines of the box.
        label = q(f"{code}\n{n.name}" if n.name else code).replace("\n", "\\n")
        extra = ", penwidth=2" if code == focus else ""
        lines.append(
            f'  {q(code)} [label={label}, fillcolor="{_COLOURS.get(n.kind, "#ffffff")}"{extra}];'
        )
    for e in edges:
        lines.append(f"  {q(e.from_)} -> {q(e.to)} [label={q(e.rel)}];")
    lines.append("}")
    return "\n".join(lines)
