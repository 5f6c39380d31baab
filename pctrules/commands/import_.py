"""CLI: `pctrules import LAYOUT FILE --into DIR`: official layouts → tables for `--data DIR`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pctrules.commands.common import handle_errors
from pctrules.graph.importers.registry import LAYOUTS, run_import
from pctrules.report import render_diagnostic

SHOWN = 20  # rejections printed; the rest are in the folder's <layout>.rejected.csv


@click.command("import")
@click.argument("layout", type=click.Choice(sorted(LAYOUTS)), metavar="LAYOUT")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--into",
    "into",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder to write the tables to (created if needed); use it as --data.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="How to print the import report.",
)
@handle_errors
def import_command(layout: str, file: Path, into: Path, fmt: str) -> None:
    """Import an official file in LAYOUT into a data folder, for '--data DIR'."""
    report = run_import(layout, file, into)
    diagnostics = report.diagnostics()
    for d in diagnostics[:SHOWN]:
        click.echo(render_diagnostic(d), err=True)
    if len(diagnostics) > SHOWN:
        click.echo(
            f"… and {len(diagnostics) - SHOWN} more rejected rows; all are listed in "
            f"'{into / (layout + '.rejected.csv')}'",
            err=True,
        )
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        return
    click.echo(
        f"{layout}: read {report.rows_read:,} rows of '{file.name}': kept "
        f"{report.kept:,}, rejected {len(report.rejections):,}, skipped "
        f"{sum(report.skipped.values()):,}"
    )
    for reason, count in sorted(report.skipped.items()):
        click.echo(f"  skipped {count:,}: {reason}")
    click.echo(f"  wrote {', '.join(report.tables)} into '{into}'")


# The layouts are listed in the help from the registry, so the two never disagree.
import_command.help = (
    (import_command.help or "")
    + "\n\n\b\nLayouts:"
    + "".join(f"\n  {name:<17} {layout.title}" for name, layout in sorted(LAYOUTS.items()))
)
