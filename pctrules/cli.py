"""Command line: a click group whose commands parse options, call the API and render."""

from __future__ import annotations

import click

from pctrules import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pctrules")
@click.option("--debug", is_flag=True, help="Show a traceback for internal errors.")
def cli(debug: bool) -> None:
    """Decide who commissions a person's NHS care in England in the Primary Care Trust era.

    \b
    Exit codes: 0 ok · 1 internal error · 2 usage · 3 invalid policy, bundle or data
                4 policy tests failed · 5 invalid case input
                7 with --exit-code: replay found drift, diff changes, analyze problems
    """


def _register() -> None:
    # Each command lives in pctrules/commands/<name>.py.
    from pctrules.commands import registry

    for command in registry.COMMANDS:
        cli.add_command(command)


def main() -> None:
    _register()
    cli(prog_name="pctrules")
