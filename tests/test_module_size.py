"""Issue 11: no module over ~500 lines without its reason stated at its top (STYLE, BRIEFING).

A module over LIMIT lines says why in its docstring, in a sentence containing 'over 500 lines'.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pctrules"
LIMIT = 500
LONG = sorted(
    p for p in PACKAGE.rglob("*.py") if len(p.read_text(encoding="utf-8").splitlines()) > LIMIT
)


def test_some_modules_are_long_so_this_test_checks_something() -> None:
    assert LONG


@pytest.mark.parametrize("module", LONG, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_a_long_module_states_why_at_its_top(module: Path) -> None:
    docstring = " ".join(
        (ast.get_docstring(ast.parse(module.read_text(encoding="utf-8"))) or "").split()
    )
    assert "over 500 lines" in docstring.lower(), (
        f"{module.name} has more than {LIMIT} lines: say why in its docstring ('Over 500 lines "
        "because …'), or split it"
    )
