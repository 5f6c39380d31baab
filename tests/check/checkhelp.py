"""Helpers for checker tests: the default bundle with one rule swapped for a test's expressions."""

from __future__ import annotations

import dataclasses
import functools

from pctrules.bundle import Stages, run_stages
from pctrules.language.check import check_bundle
from pctrules.language.check.state import CheckedBundle
from pctrules.language.diagnostics import Diagnostic
from pctrules.language.loader import PolicyBundle
from pctrules.language.source import EmbeddedText

DECISION = "acting_commissioner"
"""The decision tests rewrite: no other decision depends on it."""


@functools.cache
def default_stages() -> Stages:
    stages = run_stages(None)
    assert not stages.diagnostics.has_errors, stages.diagnostics.sorted()
    return stages


def with_rule(
    when: str | None,
    then: str | None = "none",
    output: str = "pct?",
    decision: str = DECISION,
    for_: str | None = None,
) -> PolicyBundle:
    """The default bundle with `decision` holding one rule (`when`, `then`) and `output`."""
    stages = default_stages()
    assert stages.policy is not None
    policy = stages.policy
    spec = next(d for d in policy.decisions if d.name == decision)
    rule = dataclasses.replace(
        spec.rules[0],
        when=EmbeddedText.standalone(when) if when is not None else None,
        then=EmbeddedText.standalone(then) if then is not None else None,
        effective=None,
    )
    assert spec.output is not None
    new = dataclasses.replace(
        spec,
        rules=(rule,),
        output=dataclasses.replace(spec.output, value=output),
        for_=EmbeddedText.standalone(for_) if for_ is not None else None,
    )
    decisions = tuple(new if d is spec else d for d in policy.decisions)
    return dataclasses.replace(policy, decisions=decisions)


def check(
    when: str | None,
    then: str | None = "none",
    output: str = "pct?",
    decision: str = DECISION,
    for_: str | None = None,
) -> tuple[CheckedBundle, list[Diagnostic]]:
    stages = default_stages()
    assert stages.checked is not None
    bundle = with_rule(when, then, output, decision, for_)
    checked, diagnostics = check_bundle(bundle, stages.checked.schema, stages.checked.case_schema)
    return checked, diagnostics.sorted()


def underlined(d: Diagnostic) -> str:
    """The text a diagnostic's span covers (its first line)."""
    assert d.span is not None
    line = d.span.source.line_text(d.span.line)
    end = d.span.end_column - 1 if d.span.end_line == d.span.line else len(line)
    return line[d.span.column - 1 : end]


def expect(
    diagnostics: list[Diagnostic],
    code: str,
    message: str,
    help: str | None,
    text: str,
) -> None:
    """Exactly one diagnostic, with this code, message, help and underlined text."""
    assert len(diagnostics) == 1, [f"{d.code}: {d.message}" for d in diagnostics]
    (d,) = diagnostics
    assert (d.code, d.message, d.help, underlined(d)) == (code, message, help, text)
