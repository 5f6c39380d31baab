"""The curated public API: every exported name resolves, and the docstring's example runs."""

from __future__ import annotations

import json

import pytest

import pctrules


@pytest.mark.parametrize("name", pctrules.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(pctrules, name) is not None


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = pctrules.nope  # type: ignore[attr-defined]


def test_the_documented_example_decides_a_case() -> None:
    engine = pctrules.Engine(pctrules.open_bundle(None))
    case = engine.validate_case(
        {"id": "c1", "date": "2011-09-01", "person": {"residence": "E16000141"}}, 1
    )
    out = json.loads(engine.evaluate(case).to_json())
    assert out["decisions"]["responsible_pct"]["value"] == "5QL"
    assert out["decisions"]["responsible_pct"]["rule"] == "unregistered-resident"
