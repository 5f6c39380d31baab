"""Command line: a click group whose commands parse options, call the API and render."""

from __future__ import annotations

import click

from pctrules import __version__


class LazyGroup(click.Group):
    """A group whose commands are imported when used (commands/registry.py), not at start-up:
    `pctrules --version` imports no command, and each command only its own modules."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from pctrules.commands import registry

        table = registry.COMMAND_MODULES
        return [*table, *(n for n in super().list_commands(ctx) if n not in table)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            from pctrules.commands import registry

            command = registry.load(cmd_name)
            if command is not None:
                self.add_command(command, cmd_name)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="pctrules")
@click.option("--debug", is_flag=True, help="Show a traceback for internal errors.")
def cli(debug: bool) -> None:
    """Decide who commissions a person's NHS care in England in the Primary Care Trust era.

    \b
    Exit codes: 0 ok · 1 internal error · 2 usage (or an input/output problem)
                3 invalid policy, bundle or data · 4 policy tests failed
                5 invalid case input · 6 decided with errors (some decision of some
                case failed; the output is complete and says which)
                7 with --exit-code: replay found drift, diff changes, analyze problems
                130 interrupted
    """


def _register() -> None:
    """Load every command now (tests that inspect the group's commands use this)."""
    from pctrules.commands import registry

    for name in registry.COMMAND_MODULES:
        cli.get_command(click.Context(cli), name)


def main() -> None:
    cli(prog_name="pctrules")
