"""The list of CLI commands, in the order `pctrules --help` shows them."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
