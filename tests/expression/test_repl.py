"""`pctrules repl`: lines in, answers out; completion by type, as in the editor."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from pctrules.commands.repl import Repl, lines_of, loop
from pctrules.expression import Session

Run = Callable[..., Result]


@pytest.fixture(scope="module")
def repl() -> Repl:
    return Repl(Session.open(None, None))


def test_a_session_through_the_command(run: Run) -> None:
    result = run("repl", input=":set person.residence=E16000141\n:as-of 2011-09-01\n"
                 "case.person.residence.covered_by\n:show\ncase.person.resdence\n:quit\n1\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "5QL Somerset PCT"
    assert lines[2:4] == ["case: person.residence=E16000141", "as of: 2011-09-01"]
    assert "error[E-unknown-attribute]: unknown attribute 'resdence' on case.person" in lines[4]
    assert lines[-1] == "   = help: did you mean 'residence'?"  # :quit stops before '1'


def test_commands_and_errors_keep_the_session_going(repl: Repl) -> None:
    out: list[str] = []
    loop(repl, lines_of([":bogus", ":type responsible_pct", ":explain", ":explain", "1 +"]),
         out.append)
    assert out[0] == "error: unknown command ':bogus'; :help lists them"
    assert out[1:4] == ["a pct (or none)", "explain on", "explain off"]
    assert "error[E-syntax]: expression ends after '+'" in out[4]


@pytest.mark.parametrize(("text", "expected"), [
    ("case.", ["id", "date", "person", "service", "setting", "purchaser"]),
    ("case.person.", ["practice", "residence", "present_in"]),
    ("case.person.practice.p", ["pct", "population", "postcode", "prescribing_setting"]),
    ("responsible_pct.s", ["scg", "sha"]),
    ("[m in responsible_pct.cluster.members: m.sh", ["sha"]),
    ("count(p in responsible_pct.practices: p.st", ["status"]),
    ("params.", ["emergency_responsibility"]),
    ("params.emergency_responsibility == ", ["'home'", "'present'"]),
    ("respons", ["responsible_pct"]),
    ("max_", ["max_by"]),
    ("case.date.", []),
])
def test_completion_by_type(repl: Repl, text: str, expected: list[str]) -> None:
    assert repl.completions(text) == expected
