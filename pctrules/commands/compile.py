"""CLI: `pctrules compile`: the Python a bundle's decisions compile to, for reading."""

from __future__ import annotations

from pathlib import Path

import click

from pctrules.commands.common import bundle_option, data_option, handle_errors
from pctrules.commands.evaluate import open_engine


@click.command("compile")
@bundle_option
@data_option
@handle_errors
def compile_command(bundle: Path | None, data_dir: Path | None) -> None:
    """Print the Python source the bundle's decisions compile to.

    One function per decision, in dependency order, as the engine runs them untraced. The
    source depends on the data: a case field of a kind with no data loaded (a practice, without
    --data) is read through a check that makes its use an error naming the missing data. For
    reading and debugging; `pctrules explain` interprets the checked rules instead.

    \b
    Examples:
      pctrules compile
      pctrules compile --data ~/pct-data | less
    """
    click.echo(open_engine(bundle, data_dir).source(), nl=False)
