"""Options and error handling shared by every CLI command."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from pctrules.language.diagnostics import ExitCode, PctrulesError

F = TypeVar("F", bound=Callable[..., Any])
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(text: str) -> dt.date:
    """A date written YYYY-MM-DD, and only so (Python also reads 20110901 and 2011-W35-4);
    ValueError otherwise."""
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"'{text}' is not written YYYY-MM-DD")
    return dt.date.fromisoformat(text)


class DateParam(click.ParamType):  # type: ignore[type-arg]
    """An ISO date (YYYY-MM-DD) on the command line."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.date):
            return value
        try:
            return iso_date(str(value))
        except ValueError:
            self.fail(
                f"'{value}' is not a date; write it as YYYY-MM-DD, e.g. 2011-09-01", param, ctx
            )


DATE = DateParam()


def bundle_option(f: F) -> F:
    return click.option(
        "--bundle",
        "bundle",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Policy bundle folder (default: the embedded 'england' bundle).",
    )(f)


def data_option(f: F) -> F:
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(path_type=Path),
        callback=_data_folder,
        default=lambda: os.environ.get("PCTRULES_DATA") or None,
        show_default="$PCTRULES_DATA",
        help="Folder of tables written by 'pctrules import' (the practice register, list sizes…).",
    )(f)


def _data_folder(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """A usage error (exit 2) when the data folder named is not one `pctrules import` wrote:
    ignoring it would decide every case as if no register had been given (DESIGN §11)."""
    if value is None:
        return None
    from pctrules.graph.importers.tables import (
        MANIFEST,
        TableError,
        manifest_tables,
        read_manifest,
    )

    given = (
        ""
        if ctx.get_parameter_source(param.name or "") is not ParameterSource.DEFAULT
        else " (from PCTRULES_DATA)"
    )
    fix = f"import tables into it with 'pctrules import LAYOUT FILE --into {value}'"
    if not value.exists():
        problem = "does not exist"
    elif not value.is_dir():
        problem = "is a file, not a folder"
    elif not (value / MANIFEST).exists():
        problem = f"holds no imported tables ('{MANIFEST}' is missing)"
    else:
        try:
            empty = not manifest_tables(value, read_manifest(value))
        except TableError:
            return value  # a damaged folder: its diagnostics come with the data's (exit 3)
        if not empty:
            return value
        problem = "holds no imported tables"
    raise click.BadParameter(f"the data folder '{value}'{given} {problem}; {fix}", ctx, param)


def as_of_option(f: F) -> F:
    return click.option(
        "--as-of",
        "as_of",
        type=DATE,
        default=None,
        help="Evaluate as on this date (YYYY-MM-DD); overrides each case's own 'date'.",
    )(f)


def handle_errors(f: F) -> F:
    """Turn user-facing failures into a clean message and their documented exit code.

    Internal errors exit 1 with a one-line message; `pctrules --debug` shows the traceback.
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        try:
            return f(*args, **kwargs)
        except PctrulesError as exc:
            from pctrules.report import render_diagnostics

            click.echo(render_diagnostics(exc.diagnostics, color=_color(ctx)), err=True)
            ctx.exit(int(exc.exit_code))
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            # A reader that stopped early (`pctrules graph | head`) is not a bug: click
            # silences the broken pipe.
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except OSError as exc:
            # The environment, not a bug: a full disk or device behind standard output, a
            # file that went away. Say what and where.
            reason = (exc.strerror or str(exc)).lower()
            what = f"cannot use '{exc.filename}'" if exc.filename else "input or output failed"
            with contextlib.suppress(OSError):
                click.echo(f"error: {what}: {reason}", err=True)
            ctx.exit(int(ExitCode.USAGE))
        except Exception as exc:  # a bug: say so plainly, and how to see more
            if ctx.find_root().params.get("debug"):
                traceback.print_exc()
            else:
                click.echo(
                    f"internal error: {type(exc).__name__}: {exc}\n"
                    "help: this is a bug in pctrules; run again with 'pctrules --debug …' "
                    "for the traceback and report it",
                    err=True,
                )
            ctx.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]


def _color(ctx: click.Context) -> bool:
    return bool(ctx.color) if ctx.color is not None else sys.stderr.isatty()
