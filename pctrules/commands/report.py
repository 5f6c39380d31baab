"""CLI: `pctrules report population`: registered patients on a date, by PCT, cluster, SHA or SCG."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
from pathlib import Path

import click

from pctrules.commands.common import bundle_option, data_option, handle_errors
from pctrules.graph.build import manifest_graph
from pctrules.graph.importers.tables import TableError, read_manifest
from pctrules.graph.model import OrgGraph
from pctrules.graph.population import Report, Row, groupings, population
from pctrules.language.diagnostics import Code, ExitCode, PctrulesError, error
from pctrules.language.loader import load_manifest
from pctrules.resources import default_bundle_path

FORMATS = ("table", "csv", "json", "html")
LIST_SIZES = "nhsbsa-list-size"
COLUMNS = (
    "code",
    "name",
    "pcts",
    "clusters",
    "practices",
    "practices_with_list_size",
    "patients",
    "patients_per_pct",
    "patients_per_cluster",
)


@click.group("report")
def report_command() -> None:
    """Reports over the organisation graph."""


@report_command.command("population")
@bundle_option
@data_option
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help="The date (YYYY-MM-DD) whose PCTs, practices and groups are counted.",
)
@click.option(
    "--by",
    "by",
    default="pct",
    show_default=True,
    metavar="GROUPING",
    help="pct, or a group a PCT belongs to: cluster, sha, scg (the bundle's one-hops).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table (text), csv, json, or html (with a bar chart).",
)
@handle_errors
def population_command(
    bundle: Path | None, data_dir: Path | None, as_of: dt.datetime, by: str, fmt: str
) -> None:
    """Registered patients on a date (imported list sizes over the practice register), with
    counts of PCTs and clusters and the averages per PCT and per cluster.

    \b
    Examples:
      pctrules report population --as-of 2011-09-01 --by sha --data DIR
      pctrules report population --as-of 2011-09-01 --by cluster --format html --data DIR
    """
    on = as_of.date()
    bundle_dir = bundle or default_bundle_path()
    manifest, diagnostics = load_manifest(bundle_dir)
    if manifest is None:
        raise PctrulesError(diagnostics.sorted())
    _, graph = manifest_graph(manifest, bundle_dir, data_dir, diagnostics)
    if graph.diagnostics.has_errors:
        raise PctrulesError(graph.diagnostics.sorted())
    choices = groupings(graph)
    if by not in choices:
        raise PctrulesError(
            error(
                Code.USAGE,
                f"cannot group by '{by}'",
                None,
                f"use one of {', '.join(repr(c) for c in choices)}",
            ),
            ExitCode.USAGE,
        )
    source = _list_size_source(data_dir)
    if source is None or not graph.loaded("practice"):
        raise PctrulesError(
            error(
                Code.DATA,
                "registered patients need the practice register and its list sizes",
                None,
                "import them into a data folder: 'pctrules import ods-epcmem FILE --into DIR' and "
                "'pctrules import nhsbsa-list-size FILE --into DIR', then add '--data DIR'",
            ),
            ExitCode.USAGE,
        )
    report = population(graph, on, by)
    note = (
        f"registered patients on {on}: the list sizes of '{source}'{_period(source)}, "
        f"summed over the practices that were part of each PCT on {on} (the same list "
        "sizes serve every as-of date)"
    )
    click.echo(RENDER[fmt](report, graph, note), nl=False)


def _list_size_source(data_dir: Path | None) -> str | None:
    if data_dir is None:
        return None
    try:
        imports = read_manifest(data_dir).get("imports", {})
    except TableError as exc:
        raise PctrulesError(exc.diagnostic(str(data_dir))) from None
    entry = imports.get(LIST_SIZES)
    source = entry.get("source", {}) if isinstance(entry, dict) else {}
    name = source.get("file") if isinstance(source, dict) else None
    return name if isinstance(name, str) else None


def _period(file_name: str) -> str:
    # The NHS BSA files name their quarter (e.g. 2013-04_to_06); say it when the name does.
    m = re.search(r"(\d{4})-(\d{2})(?:_to_(\d{2}))?", file_name)
    if m is None:
        return " (its date is not in the file name)"
    year, first, last = m.groups()
    return f" ({year}-{first}" + (f" to {year}-{last})" if last else ")")


def _cells(row: Row) -> list[str]:
    d = row.to_dict()
    return ["" if d[c] is None else str(d[c]) for c in COLUMNS]


def _table(report: Report, graph: OrgGraph, note: str) -> str:
    rows = [list(COLUMNS), *(_cells(r) for r in report.rows)]
    if report.unassigned.pcts:
        rows.append(_cells(report.unassigned))
    rows.append(_cells(report.total))
    widths = [min(max(len(r[i]) for r in rows), 48) for i in range(len(COLUMNS))]
    out = [f"population by {report.by} on {report.on}", note, ""]
    for r in rows:
        out.append(
            "  ".join(
                c[:w].ljust(w) if i == 1 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    return "\n".join(out) + "\n"


def _csv(report: Report, graph: OrgGraph, note: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in [*report.rows, *([report.unassigned] if report.unassigned.pcts else []), report.total]:
        w.writerow(_cells(r))
    return buf.getvalue()


def _json(report: Report, graph: OrgGraph, note: str) -> str:
    doc = {
        "as_of": report.on.isoformat(),
        "by": report.by,
        "list_sizes": note,
        "rows": [r.to_dict() for r in report.rows],
        "unassigned": report.unassigned.to_dict() if report.unassigned.pcts else None,
        "total": report.total.to_dict(),
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def _html(report: Report, graph: OrgGraph, note: str) -> str:
    esc = html.escape
    top = max((r.patients for r in report.rows), default=0) or 1
    bars = "\n".join(
        f'<div class="bar"><span class="label">{esc(r.code)} {esc(r.name)}</span>'
        f'<span class="fill" style="width:{100 * r.patients / top:.1f}%"></span>'
        f'<span class="value">{r.patients:,}</span></div>'
        for r in report.rows
    )
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _cells(r)) + "</tr>"
        for r in [*report.rows, report.total]
    )
    title = f"Registered patients by {report.by} on {report.on}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
.bar {{ display: flex; align-items: center; margin: 2px 0; }}
.label {{ width: 22em; font-size: 0.8em; overflow: hidden; white-space: nowrap; }}
.fill {{ background: #4a78b0; height: 0.9em; }}
.value {{ font-size: 0.8em; margin-left: 0.5em; }}
table {{ border-collapse: collapse; margin-top: 2em; font-size: 0.85em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>{esc(note)}</p>
<p>{report.total.pcts} PCTs, {len(report.total.clusters)} clusters, {report.total.patients:,}
registered patients; per PCT {report.total.per_pct or 0:,.0f}, per cluster
{report.total.per_cluster or 0:,.0f}.</p>
<div class="chart">
{bars}
</div>
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
</body></html>
"""


RENDER = {"table": _table, "csv": _csv, "json": _json, "html": _html}
