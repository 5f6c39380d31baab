"""CLI: `pctrules test` — a bundle's policy tests, reported like a test runner, with coverage."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import click

from pctrules.commands.common import data_option, handle_errors
from pctrules.evaluation.engine import Engine
from pctrules.language.diagnostics import Diagnostics, ExitCode, PctrulesError
from pctrules.policytests import PolicyTest, TestRun, check_tests, read_tests, run_tests, select


def _pattern(
    ctx: click.Context,
    param: click.Parameter,
    value: str | None,
) -> re.Pattern[str] | None:
    if value is None:
        return None
    try:
        return re.compile(value)
    except re.error as exc:
        raise click.BadParameter(f"'{value}' is not a regular expression: {exc}") from None


@click.command("test")
@click.argument("bundle_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@data_option
@click.option("-v", "--verbose", is_flag=True, help="List every test with its time.")
@click.option(
    "--run",
    "pattern",
    metavar="PATTERN",
    callback=_pattern,
    help="Only the tests whose name matches this regular expression.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="text for people, json for tools.",
)
@click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write the results as JUnit XML to FILE (for CI).",
)
@click.option(
    "--coverage",
    is_flag=True,
    help="Rules never fired and conditions never seen true or false (in the JSON too).",
)
@handle_errors
def test_command(
    bundle_dir: Path | None,
    data_dir: Path | None,
    verbose: bool,
    pattern: re.Pattern[str] | None,
    fmt: str,
    junit: Path | None,
    coverage: bool,
) -> None:
    """Run the policy tests of BUNDLE_DIR (default: the embedded 'england' bundle).

    Tests are YAML files in the bundle's tests folder. Tests whose case names a practice need
    the practice register: pass --data DIR (or set PCTRULES_DATA); without it they are skipped.
    The summary line is always printed. Exit 4 when a test fails, 3 when the bundle, its data
    or a test file has errors (each shown at its place).
    """
    from pctrules.bundle import open_bundle, run_stages
    from pctrules.report import render_diagnostics
    from pctrules.testreport import render_text, to_json, to_junit

    stages = run_stages(bundle_dir)
    problems = Diagnostics(stages.diagnostics)
    tests: list[PolicyTest] = []
    if stages.policy is not None:
        tests, test_problems, _ = read_tests(stages.policy)
        problems.extend(test_problems)
        if stages.checked is not None:
            problems.extend(check_tests(tests, stages.checked))
    selected = select(tests, pattern)
    engine: Engine | None = None
    run = TestRun()
    exit_code = ExitCode.OK
    if stages.diagnostics.has_errors or stages.policy is None:
        run.stopped_by, run.not_run = "the bundle has errors", len(selected)
        exit_code = ExitCode.INVALID_POLICY
    else:
        try:
            engine = Engine(open_bundle(bundle_dir, data_dir))
            data_problems = engine.graph.diagnostics.errors
            if data_problems:
                raise PctrulesError(data_problems, ExitCode.INVALID_POLICY)
        except PctrulesError as exc:
            # Data errors stop every command (no test can be trusted on a damaged graph); the
            # run still says how many tests did not run, and the diagnostics say where.
            problems.extend(d for d in exc.diagnostics if d not in list(problems))
            run.stopped_by, run.not_run = "the bundle's data has errors", len(selected)
            exit_code = exc.exit_code
            engine = None
        else:
            run = run_tests(engine, selected, problems)
    if exit_code == ExitCode.OK and (problems.has_errors or run.count("error")):
        exit_code = ExitCode.INVALID_POLICY
    elif exit_code == ExitCode.OK and not run.ok:
        exit_code = ExitCode.TESTS_FAILED

    graph = engine.graph if engine is not None else None
    name = stages.policy.manifest.name if stages.policy is not None else "bundle"
    shown = problems.sorted()
    if fmt == "json":
        bundle_info = (
            None
            if stages.policy is None
            else {"name": name, "version": stages.policy.manifest.version}
        )
        click.echo(to_json(run, bundle_info, shown, coverage=coverage))
    else:
        if shown:
            color = sys.stderr.isatty()
            click.echo(render_diagnostics(shown, color=color) + "\n", err=True)
        click.echo(
            render_text(
                run,
                graph,
                verbose=verbose,
                coverage=coverage,
                skip_help=engine.unavailable_help() if engine else None,
            )
        )
    if junit is not None:
        _write(junit, to_junit(run, name, shown, graph))
    if exit_code != ExitCode.OK:
        click.get_current_context().exit(int(exit_code))


def _write(path: Path, text: str) -> None:
    """Write the whole file or leave what was there (a CI reads it after the run)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent or Path("."))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write '{path}': {(exc.strerror or '').lower()}", param_hint="'--junit'"
        ) from None
