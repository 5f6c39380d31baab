"""Checker pass 6: unreachable rules under `hit: first`, certain overlaps under `hit: unique`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pctrules.language import ast
from pctrules.language.check.state import CheckState, DecisionState, RuleState
from pctrules.language.diagnostics import Code, warning

if TYPE_CHECKING:
    pass


# -- pass 6: reachability under `hit: first` ---------------------------------------------------


def _always_matches(rule: RuleState) -> bool:
    if rule.spec.effective is not None:
        return False
    when = rule.when
    return rule.spec.when is None or (isinstance(when, ast.Literal) and when.value is True)


def check_reachability(state: CheckState) -> None:
    """Under `hit: first`, rules after one that always matches can never decide; under
    `hit: unique`, rules that certainly match together make a conflict of every such case."""
    for d in state.decisions:
        if d.spec.hit.value == "unique":
            _check_unique_overlaps(state, d)
        if d.spec.hit.value != "first":
            continue
        catch_all = next((r for r in d.rules if _always_matches(r)), None)
        if catch_all is None:
            continue
        for later in d.rules[d.rules.index(catch_all) + 1 :]:
            state.report(
                warning(
                    Code.UNREACHABLE_RULE,
                    f"for rule '{later.spec.id}', the rule is never reached: rule "
                    f"'{catch_all.spec.id}' before it always matches",
                    later.spec.id_span,
                    f"move rule '{catch_all.spec.id}' last, or give it a 'when'",
                    later.spec.id,
                )
            )


def _check_unique_overlaps(state: CheckState, d: DecisionState) -> None:
    """Rules that match the same cases whatever the case: one with no condition, or two with
    the same condition, in effect on a common day; reported once per rule, at the later one.
    (Other overlaps show at run time, where a conflict names every matching rule.)"""
    for j, b in enumerate(d.rules):
        overlapping = [a.spec.id for a in d.rules[:j] if _certainly_together(a, b)]
        if not overlapping:
            continue
        names = ", ".join(f"'{n}'" for n in overlapping)
        state.report(
            warning(
                Code.UNIQUE_OVERLAP,
                f"under 'hit: unique', rule '{b.spec.id}' and "
                f"{'rule' if len(overlapping) == 1 else 'rules'} {names} match the same cases (no "
                "'when', or the same 'when'): every such case is a conflict",
                b.spec.id_span,
                "give the rules conditions that cannot hold together, or use 'hit: first' or "
                "'hit: priority'",
                b.spec.id,
            )
        )


def _certainly_together(a: RuleState, b: RuleState) -> bool:
    ea, eb = a.spec.effective, b.spec.effective
    if ea is not None and eb is not None and not ea.intersects(eb):
        return False
    return a.spec.when is None or b.spec.when is None or (a.when is not None and a.when == b.when)
