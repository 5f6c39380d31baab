"""CLI: `pctrules diff OLD NEW [CASES]`: what a policy revision changes, for whom, by which rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from pctrules.commands.analyze import period, period_options
from pctrules.commands.common import data_option, handle_errors
from pctrules.commands.evaluate import decision_option, open_engine, param_option, parse_params
from pctrules.language.diagnostics import ExitCode


@click.command("diff")
@click.argument("old", metavar="OLD_BUNDLE", type=click.Path(file_okay=False, path_type=Path))
@click.argument("new", metavar="NEW_BUNDLE", type=click.Path(file_okay=False, path_type=Path))
@click.argument(
    "cases",
    metavar="[CASES]",
    required=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@data_option
@click.option(
    "--exhaustive",
    is_flag=True,
    help="Compare over every situation the data can produce, not only the cases.",
)
@period_options
@decision_option
@param_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
)
@click.option("--exit-code", is_flag=True, help="Exit 7 when anything changes.")
@handle_errors
def diff_command(
    old: Path,
    new: Path,
    cases: Path | None,
    data_dir: Path | None,
    exhaustive: bool,
    as_of: dt.date | None,
    from_: dt.date | None,
    to: dt.date | None,
    decisions: tuple[str, ...],
    params: tuple[str, ...],
    fmt: str,
    exit_code: bool,
) -> None:
    """Compare OLD_BUNDLE with NEW_BUNDLE: the policy changes (rules added, removed, moved,
    edited) and their impact, as transitions (decision, old value/rule → new value/rule,
    count, examples) over CASES (a case file, or a CSV/JSONL batch input) and, with
    --exhaustive, over every situation the data can produce, weighted by registered patients.
    --as-of/--from/--to bound the exhaustive comparison (default: both bundles' dates)."""
    from pctrules.audit import diff as impact
    from pctrules.audit.explore import TooLarge

    before = open_engine(old, data_dir)
    after = open_engine(new, data_dir)
    given = parse_params(after, params) if params else None
    known = {d.name for e in (before, after) for d in e.compiled.decisions}
    for name in decisions:
        if name not in known:
            raise click.BadParameter(
                f"unknown decision '{name}'; the decisions are " + ", ".join(sorted(known)),
                param_hint="'--decision'",
            )
    if (as_of or from_ or to) and not exhaustive:
        raise click.UsageError(
            "--as-of, --from and --to bound --exhaustive; for cases, each case's date is used"
        )
    report = impact.Report(
        impact.bundle_info(before, old),
        impact.bundle_info(after, new),
        impact.static_diff(before.bundle.policy, after.bundle.policy),
        [],
    )
    if cases is not None:
        report.impacts.append(
            impact.cases_diff(before, after, cases, decisions=decisions, as_of=None, params=given)
        )
    if exhaustive:
        a, b = period(before, as_of, from_, to)
        c, d = period(after, as_of, from_, to)
        try:
            report.impacts.append(
                impact.exhaustive_diff(before, after, min(a, c), max(b, d), decisions or None)
            )
        except TooLarge as exc:
            raise click.UsageError(
                f"{exc}: the bundles differ in too many situations at once to compare them "
                "all together; narrow it with --decision NAME, --as-of DATE or --from/--to"
            ) from None
    render = {"text": impact.render_text, "json": impact.render_json, "html": impact.render_html}[
        fmt
    ]
    click.echo(render(report), nl=fmt != "html")
    if exit_code and report.changed:
        raise SystemExit(int(ExitCode.DRIFT))
