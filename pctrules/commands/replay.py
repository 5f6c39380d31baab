"""CLI: `pctrules replay AUDIT`: re-decide what an audit file records, and report drift."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from pctrules.commands.common import handle_errors
from pctrules.language.diagnostics import ExitCode


@click.command("replay")
@click.argument(
    "audit", metavar="AUDIT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--bundle",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Re-decide with this bundle (default: the one the audit names).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("PCTRULES_DATA") or None,
    show_default="$PCTRULES_DATA, else the folder the audit names",
    help="Re-decide with this data folder.",
)
@click.option(
    "--cases",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The run's case file, when it is not where the audit says.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 7 when anything differs (drift, changed inputs, tampered lines).",
)
@handle_errors
def replay_command(
    audit: Path,
    bundle: Path | None,
    data_dir: Path | None,
    cases: Path | None,
    fmt: str,
    exit_code: bool,
) -> None:
    """Re-decide every record of AUDIT (from its recorded inputs, or the case file beside it)
    and report: identical; drift by (decision, old rule → new rule); what differs from the
    header (policy, data files, version); lines whose chain is broken (tampered)."""
    from pctrules.audit.records import AuditError
    from pctrules.audit.replay import render_text, replay
    from pctrules.commands.evaluate import open_engine

    engines: dict[tuple[Path | None, Path | None], object] = {}

    def engine_for(b: Path | None, d: Path | None):  # type: ignore[no-untyped-def]
        if (b, d) not in engines:
            engines[(b, d)] = open_engine(b, d)
        return engines[(b, d)]

    try:
        report = replay(audit, engine_for, bundle=bundle, data=data_dir, cases=cases)
    except AuditError as exc:
        raise click.UsageError(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(render_text(report))
    if exit_code and report.changed:
        raise SystemExit(int(ExitCode.DRIFT))
