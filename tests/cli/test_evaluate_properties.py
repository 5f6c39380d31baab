"""`pctrules evaluate` over arbitrary case documents: a decision or a case error, never a crash."""

from __future__ import annotations

import json
from collections.abc import Callable

import yaml
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

Run = Callable[..., Result]

_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 30_000_000),
    st.floats(),
    st.text(max_size=6),
    st.dates().map(str),
    st.sampled_from(["5NT", "A81001", "E16000141", "2011-09-01", "YDD82"]),
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["practice", "residence", "x", "id"]), inner, max_size=3),
    ),
    max_leaves=6,
)
_CASE = st.dictionaries(
    st.sampled_from(["id", "date", "person", "service", "setting", "unknown"]), _VALUE, max_size=5
)
_DOCUMENT = st.one_of(
    _CASE,
    st.lists(_CASE, max_size=3),
    _SCALAR,
    st.fixed_dictionaries({"cases": st.lists(_CASE, max_size=3)}),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=_DOCUMENT)
def test_any_case_document_gets_decisions_or_a_case_error(run: Run, document: object) -> None:
    result = run("evaluate", "-", "--format", "json", input=yaml.safe_dump(document))
    assert result.exit_code in (0, 5), result.output
    assert "Traceback" not in result.output + result.stderr
    if result.exit_code == 0:
        for line in result.stdout.splitlines():
            assert set(json.loads(line)) >= {"case", "as_of", "bundle", "decisions"}
    else:
        assert result.stderr.strip(), "a case error says what is wrong"


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(alphabet="{}[]:,-\"' \n\tabc1é&*!%", max_size=40))
def test_any_text_on_standard_input_is_a_case_error_at_worst(run: Run, text: str) -> None:
    result = run("evaluate", "-", input=text)
    assert result.exit_code in (0, 5), result.output
    assert "Traceback" not in result.output + result.stderr
