"""The list of CLI commands, in the order `pctrules --help` shows them."""

from __future__ import annotations

import click

from pctrules.commands.analyze import analyze_command
from pctrules.commands.batch import batch_command
from pctrules.commands.check import check_command
from pctrules.commands.compile import compile_command
from pctrules.commands.diff import diff_command
from pctrules.commands.eval import eval_command
from pctrules.commands.evaluate import evaluate_command
from pctrules.commands.explain import explain_command
from pctrules.commands.fmt import fmt_command
from pctrules.commands.graph import graph_command
from pctrules.commands.import_ import import_command
from pctrules.commands.lsp import lsp_command
from pctrules.commands.repl import repl_command
from pctrules.commands.replay import replay_command
from pctrules.commands.report import report_command
from pctrules.commands.test import test_command

COMMANDS: list[click.Command] = []
COMMANDS += [graph_command, import_command, report_command]
COMMANDS += [check_command, fmt_command, compile_command]
COMMANDS += [evaluate_command, explain_command, test_command]
COMMANDS += [eval_command, repl_command]
COMMANDS += [lsp_command]
COMMANDS += [batch_command]
COMMANDS += [replay_command, diff_command, analyze_command]
