"""CLI: `pctrules check`: every problem of a policy bundle, found before anything runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pctrules.bundle import check_path
from pctrules.commands.common import data_option, handle_errors
from pctrules.language.diagnostics import ExitCode
from pctrules.report import diagnostics_to_json, render_diagnostics, summary_line


@click.command("check")
@click.argument("bundle", required=False, type=click.Path(path_type=Path))
@data_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="text for people, json for tools.",
)
@handle_errors
def check_command(bundle: Path | None, data_dir: Path | None, fmt: str) -> None:
    """Check a policy bundle: syntax, names, types, hit policies, dependencies, and its data
    (the bundle's tables and, with --data, the imported ones): every bad row, every broken
    constraint.

    Without BUNDLE, checks the embedded default bundle. Exits 0 when there are no errors
    (warnings are shown), 3 when there are.

    \b
    Examples:
      pctrules check
      pctrules check policies/england --format json
    """
    summary, diagnostics = check_path(bundle, data_dir)
    if fmt == "json":
        click.echo(diagnostics_to_json(diagnostics, summary))
    else:
        ctx = click.get_current_context()
        color = ctx.color if ctx.color is not None else sys.stdout.isatty()
        if len(diagnostics):
            click.echo(render_diagnostics(diagnostics, color=color) + "\n")
        click.echo(summary_line(diagnostics, summary))
    if diagnostics.has_errors:
        click.get_current_context().exit(int(ExitCode.INVALID_POLICY))
