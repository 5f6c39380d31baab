"""CLI: `pctrules analyze`: gaps, overlaps and dead rules over every situation the data holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from pctrules.commands.common import DATE, data_option, handle_errors
from pctrules.commands.evaluate import decision_option, open_engine
from pctrules.language.diagnostics import ExitCode


def period_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option(
        "--to",
        "to",
        type=DATE,
        default=None,
        help="Last day of the period (default: the bundle's last effective day).",
    )(f)
    f = click.option(
        "--from",
        "from_",
        type=DATE,
        default=None,
        help="First day of the period (default: the bundle's first effective day).",
    )(f)
    return click.option(
        "--as-of", "as_of", type=DATE, default=None, help="One day only (instead of --from/--to)."
    )(f)


def period(
    engine: object, as_of: dt.date | None, from_: dt.date | None, to: dt.date | None
) -> tuple[dt.date, dt.date]:
    """The days to cover: --as-of, else --from/--to, else the bundle's effective dates."""
    from pctrules.audit.analyze import default_range

    if as_of is not None:
        if from_ is not None or to is not None:
            raise click.UsageError("give --as-of, or --from and --to, not both")
        return as_of, as_of
    first, last = default_range(engine)  # type: ignore[arg-type]
    start, end = from_ or first, to or last
    if start > end:
        raise click.BadParameter(
            f"the period ends ({end}) before it starts ({start})", param_hint="'--from'/'--to'"
        )
    return start, end


@click.command("analyze")
@click.argument("bundle", required=False, type=click.Path(file_okay=False, path_type=Path))
@data_option
@period_options
@decision_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--exit-code", is_flag=True, help="Exit 7 when a problem is found.")
@handle_errors
def analyze_command(
    bundle: Path | None,
    data_dir: Path | None,
    as_of: dt.date | None,
    from_: dt.date | None,
    to: dt.date | None,
    decisions: tuple[str, ...],
    fmt: str,
    exit_code: bool,
) -> None:
    """Decide every situation the data can produce (each practice class and period, each area
    for the unregistered, each service, each parameter choice) and report the gaps (no rule
    matches), overlaps (hit: unique), disagreements (hit: any), rule errors, and rules that
    never decide (shadowed by an earlier rule, or never matching over the data)."""
    from pctrules.audit.analyze import analyze, render_text, to_json
    from pctrules.audit.explore import TooLarge

    engine = open_engine(bundle, data_dir)
    known = [d.name for d in engine.compiled.decisions]
    for name in decisions:
        if name not in known:
            raise click.BadParameter(
                f"unknown decision '{name}'; the decisions are " + ", ".join(known),
                param_hint="'--decision'",
            )
    start, end = period(engine, as_of, from_, to)
    try:
        result = analyze(engine, start, end, decisions or None)
    except TooLarge as exc:
        raise click.UsageError(
            f"{exc}: narrow it with --decision NAME, --as-of DATE or --from/--to"
        ) from None
    click.echo(to_json(result) if fmt == "json" else render_text(result))
    if exit_code and result.problems:
        raise SystemExit(int(ExitCode.DRIFT))
