"""`pctrules repl`: lines in, answers out; completion by type, as in the editor."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from pctrules.commands.repl import Repl, lines_of, loop
from pctrules.expression import Session
from pctrules.language.schema import CaseSchema

Run = Callable[..., Result]


@pytest.fixture(scope="module")
def repl() -> Repl:
    return Repl(Session.open(None, None))


def test_a_session_through_the_command(run: Run) -> None:
    result = run(
        "repl",
        input=":set person.residence=E16000141\n:as-of 2011-09-01\n"
        "case.person.residence.covered_by\n:show\ncase.person.resdence\n:quit\n1\n",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "5QL Somerset PCT"
    assert lines[2:4] == ["case: person.residence=E16000141", "as of: 2011-09-01"]
    assert "error[E-unknown-attribute]: unknown attribute 'resdence' on case.person" in lines[4]
    assert lines[-1] == "   = help: did you mean 'residence'?"  # :quit stops before '1'


def test_commands_and_errors_keep_the_session_going(repl: Repl) -> None:
    out: list[str] = []
    loop(
        repl,
        lines_of([":bogus", ":type responsible_pct", ":explain", ":explain", "1 +"]),
        out.append,
    )
    assert out[0] == "error: unknown command ':bogus'; :help lists them"
    assert out[1:4] == ["a pct (or none)", "explain on", "explain off"]
    assert "error[E-syntax]: expression ends after '+'" in out[4]


def test_completion_of_case_fields_follows_the_case_schema(repl: Repl) -> None:
    schema = repl.session.case_schema
    person = schema.fields["person"]
    assert isinstance(person, CaseSchema)
    assert repl.completions("case.") == list(schema.fields)
    assert repl.completions("case.person.") == list(person.fields)
    assert {"practice", "residence", "present_in"} <= set(person.fields)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("case.person.practice.p", ["pct", "population", "postcode", "prescribing_setting"]),
        ("[m in responsible_pct.cluster.members: m.sh", ["sha"]),
        ("count(p in responsible_pct.practices: p.st", ["status"]),
        ("params.emergency_responsibility == ", ["'home'", "'present'"]),
        ("respons", ["responsible_pct"]),
        ("max_", ["max_by"]),
        ("case.date.", []),
    ],
)
def test_completion_by_type(repl: Repl, text: str, expected: list[str]) -> None:
    assert repl.completions(text) == expected


def test_completion_of_relations_and_parameters(repl: Repl) -> None:
    assert {"scg", "sha"} <= set(repl.completions("responsible_pct.s"))
    assert all(c.startswith("s") for c in repl.completions("responsible_pct.s"))
    params = repl.session.bundle.policy.manifest.parameters
    assert repl.completions("params.") == [p.name for p in params]
