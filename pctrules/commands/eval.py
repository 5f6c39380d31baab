"""CLI: `pctrules eval` — one expression against a case and the graph, with its trace."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from pctrules.commands.common import as_of_option, bundle_option, data_option, handle_errors
from pctrules.language.diagnostics import CaseError, Code, error

EXIT_DECIDED_WITH_ERRORS = 6
"""DESIGN §5: decided, but with errors (the output says which)."""


def set_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="PATH=VALUE",
        help="Set a case field, e.g. --set person.practice=P84004 (repeat for several).",
    )(f)


def case_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--case",
        "case_file",
        metavar="FILE",
        help="Start from the case in FILE (YAML or JSON; one case); --set changes its fields.",
    )(f)


@click.command("eval")
@click.argument("expression")
@case_option
@set_option
@as_of_option
@bundle_option
@data_option
@click.option(
    "--explain",
    is_flag=True,
    help="Also the expression's type, the date and the case it was evaluated on.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for tools.",
)
@handle_errors
def eval_command(
    expression: str,
    case_file: str | None,
    sets: tuple[str, ...],
    as_of: dt.date | None,
    bundle: Path | None,
    data_dir: Path | None,
    explain: bool,
    fmt: str,
) -> None:
    """Evaluate EXPRESSION against a case and the organisation graph, with its trace.

    The expression is checked like a rule of the bundle (exit 3 with the checker's diagnostics
    when it does not check); the case comes from --case and --set (exit 5 when it does not fit
    the bundle's case schema).

    \b
    Examples:
      pctrules eval "case.person.practice.pct" --set person.practice=P84004 \\
          --as-of 2011-09-01 --data DIR
      pctrules eval "count(s in scgs: s.sha is not none)" --as-of 2011-09-01
    """
    from pctrules.expression import Session

    session = Session.open(bundle, data_dir)
    load_case(session, case_file, sets)
    result = session.evaluate(expression, as_of=as_of)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(session.graph), ensure_ascii=False))
    else:
        click.echo(render(result, session, explain=explain))
    if result.outcome == "error":
        # As `evaluate` does for a decision that failed: the output is complete, the status
        # says it failed.
        click.get_current_context().exit(EXIT_DECIDED_WITH_ERRORS)


def load_case(session: object, case_file: str | None, sets: tuple[str, ...]) -> None:
    """The session's case from a case file and `--set PATH=VALUE` options."""
    from pctrules.commands.case_files import read_case_file
    from pctrules.expression import Session

    assert isinstance(session, Session)
    if case_file is not None:
        cases = read_case_file(case_file, session.case_schema)
        if len(cases) != 1:
            raise CaseError(
                error(
                    Code.CASE,
                    f"'{case_file}' holds {len(cases)} cases; eval takes one",
                    None,
                    "give a file with one case, or use --set",
                )
            )
        raw = cases[0].data
        if not isinstance(raw, dict):
            raise CaseError(
                error(
                    Code.CASE,
                    f"the case in '{case_file}' is not a mapping of fields",
                    None,
                    "write a case as a mapping, e.g. {id: c1, date: 2011-09-01}",
                )
            )
        session.case = {"id": "expression", **raw}
    for item in sets:
        path, sep, text = item.partition("=")
        if not sep or not path.strip():
            raise click.BadParameter(f"'{item}' must read PATH=VALUE", param_hint="'--set'")
        session.set(path, text)


def render(result: object, session: object, *, explain: bool) -> str:
    """The value as people read it, then the trace's story (and more with `explain`)."""
    from pctrules.expression import ExpressionResult, Session, case_fields, describe_type
    from pctrules.report import node_text, rule_story

    assert isinstance(result, ExpressionResult) and isinstance(session, Session)
    graph = session.graph
    r = result.result
    if result.outcome == "error" and r.error is not None:
        lines = [f"error: {r.error.message}" + (f" ({r.error.at})" if r.error.at else "")]
    elif result.outcome == "unknown":
        lines = ["unknown"]
    else:
        lines = [node_text(result.value, graph)]
    if explain:
        lines.append(f"  type: {describe_type(result.expression.type)}")
        lines.append(
            f"  as of {result.as_of.isoformat()}, case: "
            + ", ".join(f"{k}={v}" for k, v in case_fields(session.case) if k != "id")
        )
    for rule in r.trace.rules if r.trace is not None else []:
        story = rule_story(rule, result.as_of, graph)
        story[0] = story[0].replace(f" {rule.rule} ", " ", 1)
        lines += ["  " + s for s in story]
    lines += [f"  warning: {w}" for w in result.warnings]
    return "\n".join(lines)
