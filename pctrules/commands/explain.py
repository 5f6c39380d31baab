"""CLI: `pctrules explain` — why each decision came out as it did (DESIGN §5, §6)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from pctrules.commands.common import as_of_option, bundle_option, data_option, handle_errors
from pctrules.commands.evaluate import (
    decision_option,
    exit_if_any_failed,
    load_raw_cases,
    open_engine,
    param_option,
    parse_params,
    run_cases,
)


@click.command("explain")
@click.argument("case_file", metavar="CASE_FILE")
@bundle_option
@data_option
@as_of_option
@decision_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
    help="A story (text), the trace (JSON) or a web page (HTML).",
)
@param_option
@handle_errors
def explain_command(
    case_file: str,
    bundle: Path | None,
    data_dir: Path | None,
    as_of: dt.date | None,
    decisions: tuple[str, ...],
    fmt: str,
    params: tuple[str, ...],
) -> None:
    """Explain the decisions for the cases of CASE_FILE ('-': standard input): every rule
    considered, why it matched or not, and the organisation facts (with their dates) used.
    Exit 6 when some decision of some case failed (every case is still explained)."""
    engine = open_engine(bundle, data_dir)
    given = parse_params(engine, params)
    loaded = load_raw_cases(engine, [case_file])
    results = run_cases(
        engine, [c for c, _ in loaded], as_of=as_of, decisions=decisions, trace=True, params=given
    )
    if fmt == "json":
        for result in results:
            click.echo(result.to_json())
    elif fmt == "html":
        from pctrules.page import PageCase, render_page

        info = engine.info
        depends = {d.name: sorted(d.depends_on) for d in engine.compiled.decisions}
        click.echo(
            render_page(
                [
                    PageCase(r.case_id, r.as_of, r.decisions, r.warnings, raw)
                    for r, (_, raw) in zip(results, loaded, strict=True)
                ],
                engine.graph,
                title=f"pctrules explain {case_file}",
                bundle=f"{info.name} {info.version} ({info.digest})",
                depends=depends,
            ),
            nl=False,
        )
    else:
        from pctrules.report import render_case_text

        click.echo(
            "\n\n".join(
                render_case_text(
                    r.case_id, r.as_of, r.decisions, r.warnings, engine.graph, explain=True
                )
                for r in results
            )
        )
    exit_if_any_failed(results)
