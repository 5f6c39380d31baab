"""CLI: `pctrules pack`: a bundle and its data folder in one verified archive, for workers."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import click

from pctrules.commands.common import bundle_option, data_option, handle_errors


@click.command("pack")
@bundle_option
@data_option
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The pack file to write (e.g. england.pack).",
)
@handle_errors
def pack_command(bundle: Path | None, data_dir: Path | None, output: Path) -> None:
    """Write the bundle and its data folder as one pack file.

    A pack holds every file of the bundle folder and of the data folder with a manifest of
    their sha256s, checked when it is opened (`Decider.from_pack`), so the engine ships to
    Spark, Dask or Ray workers that share no file system with you. The bundle is checked
    first: a bundle with errors is not packed (exit 3).

    \b
    Examples:
      pctrules pack --data ~/pct-data --output england.pack
      then, in Python: Decider.from_pack(Path('england.pack').read_bytes())
    """
    from pctrules.bundle import open_bundle
    from pctrules.columns.pack import pack_bundle
    from pctrules.evaluation.engine import bundle_digest

    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise click.UsageError(f"the folder '{folder}' does not exist")
    b = open_bundle(bundle, data_dir)
    data = pack_bundle(b, bundle_digest(b))
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    manifest = b.policy.manifest
    click.echo(
        f"packed bundle '{manifest.name}' {manifest.version}"
        + (f" with the data in '{data_dir}'" if data_dir else "")
        + f": {len(data):,} bytes, sha256:{hashlib.sha256(data).hexdigest()}; "
        f"wrote '{output}'"
    )
