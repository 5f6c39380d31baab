"""CLI: `pctrules batch INPUT --output FILE`: cases (CSV, JSONL, Parquet) decided in parallel."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

from pctrules.batch.files import check_input, check_output
from pctrules.batch.io import FORMATS, detect_format
from pctrules.batch.pool import Progress, default_workers
from pctrules.batch.run import (
    BatchOptions,
    BatchStopped,
    BatchUsageError,
    prepare,
    run_batch,
)
from pctrules.commands.common import as_of_option, bundle_option, data_option, handle_errors
from pctrules.commands.evaluate import (
    audit_options,
    decision_option,
    open_engine,
    param_option,
    parse_params,
)
from pctrules.language.diagnostics import ExitCode


@click.command("batch")
@click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--output",
    "-o",
    "output_name",
    required=True,
    type=click.Path(dir_okay=False),
    help="File to write (replaced only when the run completes).",
)
@bundle_option
@data_option
@as_of_option
@decision_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help=f"Worker processes (default: the machine's cores, here {default_workers()}).",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format (default: from the output file name: .jsonl → jsonl, "
    ".parquet → parquet, else csv).",
)
@click.option(
    "--input-format",
    "in_format",
    type=click.Choice(FORMATS),
    default=None,
    help="Input format (default: from the input file name: .jsonl → jsonl, "
    ".parquet → parquet, else csv).",
)
@param_option
@click.option(
    "--per-case",
    is_flag=True,
    help="Evaluate every case with the per-case evaluator, not by columns (slower; "
    "for checking the fast path).",
)
@audit_options
@handle_errors
def batch_command(
    input_path: Path,
    output_name: str,
    bundle: Path | None,
    data_dir: Path | None,
    as_of: dt.date | None,
    decisions: Sequence[str],
    workers: int | None,
    out_format: str | None,
    in_format: str | None,
    params: Sequence[str],
    per_case: bool,
    audit: Path | None,
    audit_inputs: bool,
) -> None:
    """Decide every case of INPUT (CSV with dotted column names, JSONL or Parquet) into --output.

    \b
    One output row per input row, in input order: id, then for each decision
    <decision>, <decision>.rule, <decision>.reason, then error (empty when decided).
    The last line printed reconciles the run: rows read = decided + failed.
    Exit codes: 0 every row decided · 6 the run completed but some rows failed (their
    error column says why) · 2 usage or an input/output problem · 3 invalid bundle or data
    5 no CSV header line · 130 interrupted · 1 a worker died
    """
    if not output_name:
        raise click.BadParameter(
            "is empty; name the file to write, e.g. --output decided.csv", param_hint="'--output'"
        )
    output = Path(output_name)
    # The files first: a pipe given as input would block the reading of its header.
    check_output(output, check_input(input_path))
    engine = open_engine(bundle, data_dir)
    if audit is not None:
        from pctrules.audit.records import AuditError, check_appendable

        # The audit reads the input and output back as text (audit/batchlog.py).
        for path, given, option in (
            (input_path, in_format, "--input-format"),
            (output, out_format, "--format"),
        ):
            if detect_format(path, given) == "parquet":
                raise click.UsageError(
                    f"--audit reads back CSV or JSONL, and '{path}' is Parquet; audit a run "
                    f"with another {option}"
                )

        try:  # before the run, not after it: an audit that cannot be written stops it
            check_appendable(audit)
        except AuditError as exc:
            raise click.UsageError(str(exc)) from None
    opts = BatchOptions(
        input=input_path,
        output=output,
        bundle=bundle,
        data_dir=data_dir,
        as_of=as_of,
        decisions=tuple(decisions),
        workers=workers,
        in_format=in_format,
        out_format=out_format,
        params=parse_params(engine, params),
        fast=not per_case,
    )
    try:
        prepared = prepare(opts, engine)
        for warning in prepared[0].warnings:
            click.echo(f"warning: {warning}", err=True)
        if sys.stderr.isatty():
            with _progress_bar(input_path) as show:
                summary = run_batch(opts, show, prepared)
        else:
            summary = run_batch(opts, None, prepared)
    except BatchUsageError as exc:
        raise click.UsageError(str(exc)) from None
    except BatchStopped as exc:
        click.echo(exc.message, err=True)
        sys.exit(exc.exit_code)
    if summary.note and not per_case:
        click.echo(f"note: cases were evaluated one by one, as {summary.note}", err=True)
    click.echo(summary.line())
    if audit is not None:
        from pctrules.audit.batchlog import audit_batch
        from pctrules.audit.records import AuditError

        try:
            click.echo(audit_batch(audit, audit_inputs, engine, opts), err=True)
        except AuditError as exc:
            raise click.UsageError(str(exc)) from None
    if summary.failed:
        # The output is complete; its error column says which rows failed, and why.
        click.get_current_context().exit(int(ExitCode.DECIDED_WITH_ERRORS))


class _progress_bar:
    """A rich progress bar on the terminal: bytes of input done, rows, rows per second, ETA."""

    def __init__(self, path: Path) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:>12,} rows"),
            TextColumn("{task.fields[rate]:>9,}/s"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.task = self.progress.add_task(
            path.name, total=path.stat().st_size or 1, rows=0, rate=0
        )
        self.started = time.perf_counter()

    def __enter__(self) -> Progress:
        self.progress.start()
        return self.update

    def update(self, rows: int, done: int) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.task, completed=done, rows=rows, rate=int(rows / elapsed))

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
