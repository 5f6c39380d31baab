"""CLI: `pctrules repl` — an interactive session: expressions against a case, with completion.

prompt_toolkit gives completion as you type and a history file; without it (the `[repl]`
extra not installed, or input that is not a terminal) lines are read with `input()`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from pctrules.commands.common import DATE, as_of_option, bundle_option, data_option, handle_errors
from pctrules.commands.eval import case_option, load_case, render, set_option
from pctrules.expression import Session, case_fields, describe_type
from pctrules.language.diagnostics import PctrulesError

HELP = """\
Type an expression to evaluate it against the case, e.g. case.person.practice.pct
  :set PATH=VALUE   set a case field (:set person.practice=P84004)
  :unset PATH       remove a case field
  :case FILE        start from the case in FILE
  :as-of DATE       evaluate as on DATE (:as-of none: the case's own date)
  :show             the case and the date
  :type EXPR        the expression's type, without evaluating it
  :explain          show or hide the type and the case with each value
  :help             this text
  :quit             leave (or Ctrl-D)"""


class Repl:
    """Reads lines, runs them against a Session, and returns what to print."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.explain = False

    def run_line(self, line: str) -> str:
        """The answer to one line of input ('' for nothing to print)."""
        from pctrules.report import render_diagnostics

        line = line.strip()
        if not line or line.startswith("#"):
            return ""
        try:
            if line.startswith(":"):
                return self.command(line)
            result = self.session.evaluate(line)
            return render(result, self.session, explain=self.explain)
        except PctrulesError as exc:
            return render_diagnostics(exc.diagnostics)
        except click.ClickException as exc:
            return f"error: {exc.format_message()}"

    def command(self, line: str) -> str:
        name, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        s = self.session
        if name in ("q", "quit", "exit"):
            raise EOFError
        if name in ("h", "help", "?"):
            return HELP
        if name == "set":
            load_case(s, None, (rest,))
            return ""
        if name == "unset":
            s.unset(rest)
            return ""
        if name == "case":
            load_case(s, rest, ())
            return ""
        if name == "as-of":
            s.as_of = None if rest in ("", "none") else DATE.convert(rest, None, None)
            return ""
        if name == "show":
            fields = ", ".join(f"{k}={v}" for k, v in case_fields(s.case) if k != "id")
            day = s.as_of.isoformat() if isinstance(s.as_of, dt.date) else "the case's date"
            return f"case: {fields or '(empty)'}\nas of: {day}"
        if name == "type":
            checked = s.check(rest)
            if checked.problems:
                raise PctrulesError(checked.problems)
            return describe_type(checked.type)
        if name == "explain":
            self.explain = not self.explain
            return f"explain {'on' if self.explain else 'off'}"
        return f"error: unknown command ':{name}'; :help lists them"

    def completions(self, text: str) -> list[str]:
        """Labels that may complete the last word of `text`."""
        from pctrules.language.complete import typed_word

        if text.startswith(":"):
            return []
        word = typed_word(text)
        return [c.label for c in self.session.completions(text) if c.label.startswith(word)]


def history_file() -> Path | None:
    """Where the history is kept: beside the cache, or nowhere without a home."""
    base = os.environ.get("XDG_STATE_HOME") or (
        str(Path.home() / ".local" / "state") if Path.home().is_dir() else None
    )
    return Path(base) / "pctrules" / "repl-history" if base else None


def _prompt_toolkit(repl: Repl) -> Callable[[], str] | None:
    try:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.document import Document
        from prompt_toolkit.history import FileHistory, InMemoryHistory
    except ImportError:
        return None

    class _Completer(Completer):
        def get_completions(self, document: Document, event: Any) -> Iterator[Completion]:
            from pctrules.language.complete import typed_word

            before = document.text_before_cursor
            word = typed_word(before)
            for label in repl.completions(before):
                yield Completion(label, start_position=-len(word))

    path = history_file()
    history: Any = InMemoryHistory()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            history = FileHistory(str(path))
        except OSError:
            pass
    session: Any = PromptSession(
        history=history, completer=_Completer(), complete_while_typing=False
    )
    return lambda: str(session.prompt("pctrules> "))


def loop(repl: Repl, read: Callable[[], str], write: Callable[[str], None]) -> None:
    """Read, answer, print, until end of input or :quit."""
    while True:
        try:
            line = read()
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
        try:
            answer = repl.run_line(line)
        except EOFError:
            return
        if answer:
            write(answer)


def lines_of(stream: Iterable[str]) -> Callable[[], str]:
    """A reader over given lines (standard input that is not a terminal)."""
    it = iter(stream)

    def read() -> str:
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None

    return read


@click.command("repl")
@case_option
@set_option
@as_of_option
@bundle_option
@data_option
@handle_errors
def repl_command(
    case_file: str | None,
    sets: tuple[str, ...],
    as_of: dt.date | None,
    bundle: Path | None,
    data_dir: Path | None,
) -> None:
    """An interactive session: evaluate expressions against a case you build with :set.

    Completion (Tab) offers case fields, attributes and relations after '.', decisions,
    functions and parameter values; the history is kept between sessions. :help lists the
    commands.
    """
    import sys

    session = Session.open(bundle, data_dir)
    load_case(session, case_file, sets)
    session.as_of = as_of
    repl = Repl(session)
    read = _prompt_toolkit(repl) if sys.stdin.isatty() and sys.stdout.isatty() else None
    if read is None:
        read = lines_of(sys.stdin)
    else:
        click.echo(f"pctrules {session.bundle.policy.manifest.name} bundle; :help for help")
    loop(repl, read, click.echo)
