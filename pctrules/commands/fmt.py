"""CLI: `pctrules fmt` — policy files in one canonical layout, comments kept."""

from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path

import click

from pctrules.commands.common import handle_errors
from pctrules.language.diagnostics import ExitCode


@click.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--check", is_flag=True, help="Change nothing; exit 1 when a file would change (for CI)."
)
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Change nothing; print what would change as a unified diff.",
)
@handle_errors
def fmt_command(paths: tuple[Path, ...], check: bool, show_diff: bool) -> None:
    """Format policy files: key order, indentation, expressions, keeping every comment.

    PATHS are files or folders (default: the current folder); in a folder, every bundle's
    YAML files and policy tests are formatted. Formatting never changes what a file says:
    the result is read back and compared first. Exit 1 with --check when a file would
    change, 3 when a file cannot be formatted (not valid YAML).
    """
    from pctrules.language.format import FormatError, format_source, policy_files
    from pctrules.language.source import SourceFile

    files = [f for p in (paths or (Path("."),)) for f in policy_files(p)]
    changed: list[Path] = []
    failed = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            formatted = format_source(SourceFile(str(path), text))
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"{path}: cannot read it: {exc}", err=True)
            failed += 1
            continue
        except FormatError as exc:
            click.echo(f"{path}: not formatted: {exc}", err=True)
            failed += 1
            continue
        if formatted == text:
            continue
        changed.append(path)
        if show_diff:
            click.echo(
                "".join(
                    difflib.unified_diff(
                        text.splitlines(keepends=True),
                        formatted.splitlines(keepends=True),
                        f"{path}",
                        f"{path} (formatted)",
                    )
                ),
                nl=False,
            )
        elif check:
            click.echo(f"would reformat {path}")
        else:
            _write(path, formatted)
            click.echo(f"formatted {path}")
    n, same = len(files), len(files) - len(changed) - failed
    verb = "would be formatted" if check or show_diff else "formatted"
    click.echo(
        f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}, {same} "
        f"unchanged"
        + (f", {failed} not formatted" if failed else "")
        + ("" if n else " (no policy files found)"),
        err=show_diff,
    )
    if failed:
        click.get_current_context().exit(int(ExitCode.INVALID_POLICY))
    if check and changed:
        click.get_current_context().exit(1)


def _write(path: Path, text: str) -> None:
    """Replace the file whole (an editor or a reader never sees half of it)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
