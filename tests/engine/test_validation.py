"""The library checks what it is given, as the CLI does: parameters (name, type, choices) and
cases; and one reading of text by type (Type.read_text) serves every command."""

from __future__ import annotations

import datetime as dt

import pytest

from pctrules.bundle import open_bundle
from pctrules.evaluation.engine import Engine
from pctrules.language.diagnostics import CaseError, ExitCode
from pctrules.language.schema import Type, check_scalar
from tests.engine.conftest import MakeBundle

CASE = {"id": "c1", "date": "2011-09-01", "person": {"residence": "E16000141"}}


@pytest.fixture(scope="module")
def england() -> Engine:
    return Engine(open_bundle(None))


@pytest.mark.parametrize(
    ("params", "message", "help"),
    [
        (
            {"emergency_responsibility": "presnt"},
            "parameter 'emergency_responsibility' must be one of 'home', 'present', not 'presnt'",
            "did you mean 'present'?",
        ),
        (
            {"emergency_responsibility": 5},
            "parameter 'emergency_responsibility' is 5, but must be text",
            None,
        ),
        (
            {"emergency_responsability": "present"},
            "unknown parameter 'emergency_responsability'",
            "did you mean 'emergency_responsibility'?",
        ),
    ],
)
def test_the_engine_checks_parameters(
    england: Engine, params: dict[str, object], message: str, help: str | None
) -> None:
    with pytest.raises(CaseError) as info:
        england.evaluate(CASE, params=params)
    assert info.value.exit_code == ExitCode.INVALID_CASE
    (d,) = info.value.diagnostics
    assert (d.code, d.message) == ("E-param", message)
    if help is not None:
        assert d.help == help


def test_every_problem_of_the_parameters_at_once(england: Engine) -> None:
    with pytest.raises(CaseError) as info:
        england.evaluate(CASE, params={"a": 1, "emergency_responsibility": "x"})
    assert len(info.value.diagnostics) == 2


PARAMETERS = """\
bundle: tiny
version: "1"
case: {id: string, date: date}
schema:
  kinds:
    pct: {}
parameters:
  limit: {type: int, default: 3}
  start: {type: date, default: 2005-01-01}
  strict: {type: bool, default: false}
"""


def test_text_for_a_typed_parameter_is_read_by_its_type(tiny: MakeBundle) -> None:
    e = tiny(
        {"d.yaml": "decision: d\nrules:\n  - id: r\n    then: params.limit + 1\n"},
        manifest=PARAMETERS,
        tables={},
    )
    assert e.evaluate({"date": "2011-01-01"}, params={"limit": "41"}).decisions["d"].value == 42
    with pytest.raises(CaseError, match="parameter 'limit' is 'x', but must be a whole number"):
        e.evaluate({"date": "2011-01-01"}, params={"limit": "x"})
    with pytest.raises(CaseError, match="must be a real date"):
        e.evaluate({"date": "2011-01-01"}, params={"start": "2011-02-30"})
    assert e.check_params({"strict": "true", "start": "2011-02-03"}) == {
        "limit": 3,
        "start": dt.date(2011, 2, 3),
        "strict": True,
    }


@pytest.mark.parametrize(
    ("t", "text", "value"),
    [
        (Type("int"), "42", 42),
        (Type("int"), "-7", -7),
        (Type("int"), "4.5", "4.5"),  # left as text: the check says what is wrong
        (Type("number"), "4.5", 4.5),
        (Type("number"), "4", 4),
        (Type("number"), "1e3", 1000.0),
        (Type("number"), "nan", "nan"),
        (Type("bool"), "true", True),
        (Type("bool"), "yes", "yes"),
        (Type("date"), "2011-09-01", dt.date(2011, 9, 1)),
        (Type("date"), "20110901", "20110901"),  # ISO YYYY-MM-DD only
        (Type("date"), "2011-02-30", "2011-02-30"),
        (Type("string"), " a ", " a "),
        (Type("pct"), "5NT", "5NT"),
        (Type("grp", is_set=True), "G1, G2 G3", ["G1", "G2", "G3"]),
        (Type("int"), "", None),
    ],
)
def test_read_text(t: Type, text: str, value: object) -> None:
    assert t.read_text(text) == value


@pytest.mark.parametrize(
    ("value", "base", "ok"),
    [
        ("2011-09-01", "date", True),
        ("20110901", "date", False),
        ("2011-W35-4", "date", False),
        (dt.datetime(2011, 9, 1), "date", False),
        (True, "int", False),
        (3, "number", True),
        ("3", "int", False),
        (False, "bool", True),
    ],
)
def test_check_scalar(value: object, base: str, ok: bool) -> None:
    assert check_scalar(value, base)[0] is ok
