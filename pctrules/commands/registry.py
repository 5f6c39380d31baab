"""The list of CLI commands, in the order `pctrules --help` shows them, loaded on first use.

Each entry names the module and attribute of a click command; cli.py imports a command's
module only when that command runs (or `--help` lists it), so `pctrules --version` and each
command pay only for their own imports. Add a command to COMMAND_MODULES as
`name: "module:attribute"`. `registry.COMMANDS` still gives every command, loaded.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

COMMAND_MODULES: dict[str, str] = {
    "graph": "pctrules.commands.graph:graph_command",
    "import": "pctrules.commands.import_:import_command",
    "report": "pctrules.commands.report:report_command",
    "check": "pctrules.commands.check:check_command",
    "fmt": "pctrules.commands.fmt:fmt_command",
    "compile": "pctrules.commands.compile:compile_command",
    "evaluate": "pctrules.commands.evaluate:evaluate_command",
    "explain": "pctrules.commands.explain:explain_command",
    "test": "pctrules.commands.test:test_command",
    "eval": "pctrules.commands.eval:eval_command",
    "repl": "pctrules.commands.repl:repl_command",
    "lsp": "pctrules.commands.lsp:lsp_command",
    "batch": "pctrules.commands.batch:batch_command",
    "pack": "pctrules.commands.pack:pack_command",
    "replay": "pctrules.commands.replay:replay_command",
    "diff": "pctrules.commands.diff:diff_command",
    "analyze": "pctrules.commands.analyze:analyze_command",
}


def load(name: str) -> click.Command | None:
    """The command called `name`, its module imported now; None for no such command."""
    target = COMMAND_MODULES.get(name)
    if target is None:
        return None
    module, _, attribute = target.partition(":")
    command: click.Command = getattr(importlib.import_module(module), attribute)
    return command


def __getattr__(name: str) -> Any:
    if name == "COMMANDS":  # every command, imported now, in help order
        return [load(n) for n in COMMAND_MODULES]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
