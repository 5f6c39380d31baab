"""Diagnostic codes are one enum (`Code`): no code is written as text elsewhere, and no
diagnostic can carry a code the enum does not have."""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import pytest

from pctrules.language.diagnostics import (
    Code,
    Diagnostic,
    Diagnostics,
    Severity,
    error,
    warning,
)
from pctrules.language.source import SourceFile
from pctrules.language.yamlsource.compose import read_yaml
from pctrules.language.yamlsource.schema import SchemaChecker

PACKAGE = Path(__file__).resolve().parents[2] / "pctrules"
CODE_TEXT = re.compile(r"[EW]-[a-z]+(-[a-z]+)*")


def test_an_unknown_code_cannot_make_a_diagnostic() -> None:
    with pytest.raises(ValueError, match="E-no-such-code"):
        Diagnostic(Severity.ERROR, "E-no-such-code", "a message")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        error("E-Case", "a code differs from a known one by its case")  # type: ignore[arg-type]


def test_a_known_code_given_as_text_becomes_the_member() -> None:
    d = Diagnostic(Severity.ERROR, "E-case", "m")  # type: ignore[arg-type]
    assert d.code is Code.CASE
    assert d.to_dict()["code"] == "E-case"


def test_codes_are_well_formed_and_their_letter_is_their_severity() -> None:
    for code in Code:
        assert CODE_TEXT.fullmatch(code.value), code
    # JSON and the rendered text carry the code's text, never the member's name
    assert json.dumps(error(Code.PARAM, "m").to_dict()["code"]) == '"E-param"'
    assert f"{warning(Code.DATA_WARNING, 'm').code}" == "W-data"


def _code_strings(path: Path) -> list[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING:
            text = token.string.strip("\"'")
            if token.string[0] in "\"'" and CODE_TEXT.fullmatch(text):
                found.append((token.start[0], text))
    return found


def test_no_code_is_written_as_text_outside_the_enum() -> None:
    written = {
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "language" / "diagnostics.py"
        for line, text in _code_strings(path)
    }
    assert not written, "use the member of pctrules.language.diagnostics.Code instead"


def _x_codes(schema: object) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["x-code"]] if "x-code" in schema else []
        return own + [c for v in schema.values() for c in _x_codes(v)]
    if isinstance(schema, list):
        return [c for v in schema for c in _x_codes(v)]
    return []


@pytest.mark.parametrize(
    "schema", sorted((PACKAGE / "schemas").glob("*.json")), ids=lambda p: p.name
)
def test_every_code_a_schema_names_is_a_known_code(schema: Path) -> None:
    for code in _x_codes(json.loads(schema.read_text(encoding="utf-8"))):
        Code(code)


def test_a_schema_naming_an_unknown_code_fails_when_it_reports() -> None:
    node = read_yaml(SourceFile("x.yaml", "a: 1\n"), Diagnostics())
    assert node is not None
    checker = SchemaChecker(
        {"type": "object", "properties": {"a": {"type": "string", "x-code": "E-not-a-code"}}}
    )
    with pytest.raises(ValueError, match="E-not-a-code"):
        checker.check(node)
