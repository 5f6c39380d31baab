"""CLI: `pctrules lsp` — the language server for editors, over standard input and output."""

from __future__ import annotations

from pathlib import Path

import click

from pctrules.commands.common import data_option


@click.command("lsp")
@data_option
def lsp_command(data_dir: Path | None) -> None:
    """Serve the Language Server Protocol on stdin/stdout for policy bundles.

    Editors start it themselves (docs/editor-setup.md): diagnostics as you type, hover,
    go to definition, completion and quick fixes. --data DIR (or PCTRULES_DATA) adds the
    imported register to the graph that hovers name organisation codes from. Needs the
    `lsp` extra: pip install 'pctrules[lsp]'.
    """
    try:
        from pctrules.lsp.server import serve
    except ImportError as exc:
        raise click.UsageError(
            f"the language server needs pygls ({exc.name} is not installed); install it "
            "with: pip install 'pctrules[lsp]'"
        ) from None
    serve(data_dir)
