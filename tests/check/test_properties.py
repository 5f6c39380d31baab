"""Property tests: whatever a rule holds, parse + check give diagnostics, never an exception."""

from __future__ import annotations

import re
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctrules.language.diagnostics import Severity
from tests.check.checkhelp import check, default_stages


def _default_expressions() -> list[str]:
    policy = default_stages().policy
    assert policy is not None
    texts: list[str] = []
    for d in policy.decisions:
        for r in d.rules:
            for text in (r.when, r.then):
                if text is not None and not isinstance(text, dict):
                    texts.append(text.text)
    return texts


EXPRESSIONS = _default_expressions()
TOKEN = re.compile(r"\w+|[^\w\s]+|\s+")
JUNK = [
    *"()[]'\".,:=!&|<>+-*/ ",
    "and",
    "or",
    "not",
    "in",
    "is",
    "none",
    "if",
    "then",
    "else",
    "case",
    "count",
    "max_by",
    "x",
    "responsible_pct",
    "2011-04-01",
    "1",
    "population",
    "for",
]


def _assert_only_diagnostics(when: str, then: str) -> None:
    _, problems = check(when, then)
    for p in problems:
        assert p.span is not None and p.message and p.code.startswith(("E-", "W-"))
        assert p.message == p.message.strip() and not p.message.endswith(".")
        assert p.severity in (Severity.ERROR, Severity.WARNING)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXPRESSIONS), st.sampled_from(EXPRESSIONS), st.data())
def test_mutated_default_expressions_give_diagnostics(
    when: str,
    then: str,
    data: st.DataObject,
) -> None:
    tokens = TOKEN.findall(when)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, max(len(tokens) - 1, 0)))
        mutation = data.draw(st.sampled_from(["delete", "insert", "swap", "char"]))
        if mutation == "delete" and tokens:
            del tokens[i]
        elif mutation == "insert":
            tokens.insert(i, data.draw(st.sampled_from(JUNK)))
        elif mutation == "swap" and len(tokens) > 1:
            j = data.draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif tokens:
            chars = list(tokens[i])
            k = data.draw(st.integers(0, len(chars) - 1))
            chars[k] = data.draw(st.sampled_from(string.printable))
            tokens[i] = "".join(chars)
    _assert_only_diagnostics("".join(tokens), then)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(JUNK), min_size=1, max_size=12).map(" ".join),
    st.sampled_from(EXPRESSIONS),
)
def test_random_token_soup_gives_diagnostics(when: str, then: str) -> None:
    _assert_only_diagnostics(when, then)
    _assert_only_diagnostics(then, when)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "£é→", max_size=60))
def test_any_text_gives_diagnostics(text: str) -> None:
    _assert_only_diagnostics(text, text)
