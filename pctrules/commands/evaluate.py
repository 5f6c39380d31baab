"""CLI: `pctrules evaluate` — decide cases and print one result per case (DESIGN §5)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import click

from pctrules.commands.case_files import read_case_file
from pctrules.commands.common import as_of_option, bundle_option, data_option, handle_errors
from pctrules.evaluation.engine import Case, CaseResult, Engine, check_parameter
from pctrules.language.diagnostics import CaseError, Diagnostic, ExitCode, did_you_mean


def param_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--param",
        "params",
        multiple=True,
        metavar="NAME=VALUE",
        help="Set a bundle parameter, e.g. --param emergency_responsibility=present.",
    )(f)


def decision_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--decision",
        "decisions",
        multiple=True,
        metavar="NAME",
        help="Only this decision (and what it depends on); repeat for several.",
    )(f)


def open_engine(bundle: Path | None, data_dir: Path | None) -> Engine:
    """The engine for a bundle folder (None: the embedded default); exit 3 when it or its data
    is invalid. The data's warnings (a table changed since it was imported…) are shown once."""
    from pctrules.bundle import open_bundle
    from pctrules.report import render_diagnostic

    opened = open_bundle(bundle, data_dir)
    for warning in opened.graph.diagnostics.sorted():
        click.echo(render_diagnostic(warning), err=True)
    return Engine(opened)


def audit_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option(
        "--audit-inputs",
        is_flag=True,
        help="Keep each case's input in its audit record, so replay needs no case file.",
    )(f)
    return click.option(
        "--audit",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="Append an audit record per case to FILE (JSON Lines; Parquet for .parquet).",
    )(f)


def write_audit(
    path: Path,
    record_inputs: bool,
    engine: Engine,
    *,
    command: str,
    bundle: Path | None,
    decisions: Sequence[str],
    params: dict[str, object] | None,
    as_of: dt.date | None,
    files: Sequence[str],
    cases: Sequence[tuple[object, CaseResult]],
) -> None:
    """Append the audit run of decided cases; say where, and its last chain, on stderr."""
    from pctrules.audit.records import AuditError
    from pctrules.audit.write import audit_cases, input_entry, run_header

    if "-" in files and not record_inputs:
        click.echo(
            "warning: the cases come from standard input and --audit-inputs is not "
            "given: replay will need them again",
            err=True,
        )
    head = run_header(
        engine,
        command=command,
        bundle_arg=bundle,
        decisions=decisions,
        params=params,
        as_of=as_of,
        inputs=[input_entry(f) for f in files],
        inputs_recorded=record_inputs,
    )
    try:
        sealed = audit_cases(path, head, cases, record_inputs)
    except AuditError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(sealed.line(), err=True)


def parse_params(engine: Engine, given: Sequence[str]) -> dict[str, object] | None:
    """`--param name=value` options as typed values; a usage error (exit 2) when malformed."""
    if not given:
        return None
    specs = {p.name: p for p in engine.bundle.policy.manifest.parameters}
    out: dict[str, object] = {}
    for item in given:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.BadParameter(f"'{item}' must read NAME=VALUE", param_hint="'--param'")
        spec = specs.get(name)
        if spec is None:
            hint = did_you_mean(name, specs) or (
                "the parameters are " + ", ".join(f"'{k}'" for k in sorted(specs))
                if specs
                else "this bundle has no parameters"
            )
            raise click.BadParameter(f"unknown parameter '{name}'; {hint}", param_hint="'--param'")
        # The engine's own check (and reading of text by the parameter's type), as a usage
        # error here.
        value, problem = check_parameter(spec, text.strip())
        if problem is not None:
            raise click.BadParameter(problem.message, param_hint="'--param'")
        out[name] = value
    return out


def load_raw_cases(engine: Engine, paths: Sequence[str]) -> list[tuple[Case, object]]:
    """Every case of the files, validated, with its input as the file gave it (an audit record
    hashes it); every invalid case is reported (exit 5)."""
    problems: list[Diagnostic] = []
    cases: list[tuple[Case, object]] = []
    index = 0
    for path in paths or ("-",):
        for raw in read_case_file(path, engine.case_schema):
            index += 1
            try:
                cases.append((engine.validate_case(raw.data, index), raw.data))
            except CaseError as exc:
                problems.extend(exc.diagnostics)
    if problems:
        raise CaseError(problems)
    return cases


def exit_if_any_failed(results: Sequence[CaseResult]) -> None:
    """Exit 6 (after the output, which is complete) when some decision of some case failed,
    naming the cases and decisions on standard error."""
    failed = [
        (r.case_id, [n for n, d in r.decisions.items() if d.outcome == "error"]) for r in results
    ]
    failed = [(case_id, names) for case_id, names in failed if names]
    if not failed:
        return
    shown = ", ".join(f"'{case_id}' ({', '.join(names)})" for case_id, names in failed[:10])
    more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
    cases = "case" if len(results) == 1 else "cases"
    click.echo(
        f"error: a decision failed for {len(failed)} of {len(results)} {cases}: {shown}{more}",
        err=True,
    )
    click.get_current_context().exit(int(ExitCode.DECIDED_WITH_ERRORS))


def run_cases(
    engine: Engine,
    cases: Sequence[Case],
    *,
    as_of: dt.date | None,
    decisions: Sequence[str],
    trace: bool,
    params: dict[str, object] | None,
) -> list[CaseResult]:
    """Evaluate each case; an unknown decision name is a usage error (exit 2)."""
    known = [d.spec.name for d in engine.checked.decisions]
    for name in decisions:
        if name not in known:
            hint = did_you_mean(name, known) or "the decisions are " + ", ".join(known)
            raise click.BadParameter(
                f"unknown decision '{name}'; {hint}", param_hint="'--decision'"
            )
    wanted = list(decisions) or None
    return [
        engine.evaluate(c, as_of=as_of, decisions=wanted, trace=trace, params=params) for c in cases
    ]


@click.command("evaluate")
@click.argument("case_files", nargs=-1, metavar="[CASE_FILE...]")
@bundle_option
@data_option
@as_of_option
@decision_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Text for people; JSON, one object per case per line.",
)
@click.option("--explain", is_flag=True, help="Add each decision's trace (DESIGN §6).")
@param_option
@audit_options
@handle_errors
def evaluate_command(
    case_files: tuple[str, ...],
    bundle: Path | None,
    data_dir: Path | None,
    as_of: dt.date | None,
    decisions: tuple[str, ...],
    fmt: str,
    explain: bool,
    params: tuple[str, ...],
    audit: Path | None,
    audit_inputs: bool,
) -> None:
    """Decide the cases of CASE_FILE (YAML or JSON; '-' or nothing: standard input).

    A file holds one case (a mapping) or many (a list, or a mapping with 'cases:').
    Exit 6 when some decision of some case failed: every case is still shown, and standard
    error names the cases and decisions that failed.
    """
    engine = open_engine(bundle, data_dir)
    given = parse_params(engine, params)
    loaded = load_raw_cases(engine, case_files)
    results = run_cases(
        engine,
        [c for c, _ in loaded],
        as_of=as_of,
        decisions=decisions,
        trace=explain,
        params=given,
    )
    if audit is not None:
        write_audit(
            audit,
            audit_inputs,
            engine,
            command="evaluate",
            bundle=bundle,
            decisions=decisions,
            params=given,
            as_of=as_of,
            files=case_files or ("-",),
            cases=[(raw, r) for (_, raw), r in zip(loaded, results, strict=True)],
        )
    if fmt == "json":
        for result in results:
            click.echo(result.to_json())
    else:
        from pctrules.report import render_case_text

        click.echo(
            "\n\n".join(
                render_case_text(
                    r.case_id, r.as_of, r.decisions, r.warnings, engine.graph, explain=explain
                )
                for r in results
            )
        )
    exit_if_any_failed(results)
