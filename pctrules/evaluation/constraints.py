"""Evaluation stage, data constraints: a bundle's `check: data` constraints, whenever data loads.

A constraint is a condition over the organisation graph written in the language (constraints
file: `for: "p in pcts"`, `require: p.sha is not none`). With `check: data` it must hold on every
day of its `effective` range: it is evaluated on the first day of each period in which nothing
it reads changes (reads.py), and each subject that fails is reported once per run of failing
days, with the days: "every PCT is under one SHA: '5QL' from 2009-04-01 to 2013-03-31". The
engine knows no organisation's rules; a bundle states its own (the default bundle: a PCT under
one SHA, an SCG's members its SHA's PCTs, every PCT of the 2006 map named).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from pctrules.evaluation.interpret import constraint_violations
from pctrules.evaluation.protocol import Period
from pctrules.evaluation.reads import Reads
from pctrules.evaluation.runtime import EvalContext, RuleError
from pctrules.graph.model import OrgGraph, day_text
from pctrules.language.check.state import CheckedBundle, CheckedConstraint
from pctrules.language.diagnostics import Code, Diagnostic, Diagnostics, error, warning


def data_constraint_problems(checked: CheckedBundle, graph: OrgGraph) -> Diagnostics:
    """Every `check: data` constraint of the bundle over the graph: a diagnostic per subject and
    run of days on which it fails (E-constraint, or W-constraint for a warning)."""
    out = Diagnostics()
    params = {p.name: p.default for p in checked.bundle.manifest.parameters}
    for constraint in checked.constraints:
        if constraint.spec.check == "data":
            out.extend(_problems(checked, graph, constraint, params))
    return out


def _days(
    checked: CheckedBundle, graph: OrgGraph, constraint: CheckedConstraint, period: Period | None
) -> list[tuple[dt.date, dt.date]]:
    """The periods (first, last day) on which what the constraint reads is the same."""
    assert constraint.subject is not None and constraint.require is not None
    reads = Reads(checked)
    reads.add(constraint.subject.collection)
    reads.add(constraint.require)
    starts = reads.breakpoints(graph, () if period is None else (period,))
    first, last = (
        period.ordinals()
        if period is not None
        else (dt.date.min.toordinal(), dt.date.max.toordinal())
    )
    # Before the first change nothing the constraint reads exists yet (unless its range says
    # otherwise); after the last, nothing changes again.
    starts = [d for d in starts if first <= d <= last]
    if period is not None and period.start is not None and (not starts or starts[0] > first):
        starts.insert(0, first)
    ends = [d - 1 for d in starts[1:]] + [last]
    return [
        (dt.date.fromordinal(a), dt.date.fromordinal(b)) for a, b in zip(starts, ends, strict=True)
    ]


def _problems(
    checked: CheckedBundle,
    graph: OrgGraph,
    constraint: CheckedConstraint,
    params: dict[str, object],
) -> Iterator[Diagnostic]:
    spec = constraint.spec
    if constraint.subject is None or constraint.require is None:
        return
    failing: dict[str, list[tuple[dt.date, dt.date]]] = {}
    for first, last in _days(checked, graph, constraint, Period.of(spec.effective)):
        ctx = EvalContext(graph, first, {}, params, {}, [])
        try:
            subjects = constraint_violations(checked, constraint, ctx)
        except RuleError as exc:
            yield error(
                Code.CONSTRAINT,
                f"constraint '{spec.id}' fails on {first}: {exc.message}",
                exc.span,
                None,
                spec.id,
            )
            return
        for code in subjects:
            runs = failing.setdefault(code, [])
            if runs and runs[-1][1] + dt.timedelta(days=1) == first:
                runs[-1] = (runs[-1][0], last)
            else:
                runs.append((first, last))
    what = spec.message or spec.title or f"constraint '{spec.id}' does not hold"
    make = warning if spec.severity == "warning" else error
    code = Code.CONSTRAINT_WARNING if spec.severity == "warning" else Code.CONSTRAINT
    for subject, runs in sorted(failing.items()):
        for first, last in runs:
            yield make(
                code, f"{what}: '{subject}' from {first} to {day_text(last)}", None, None, spec.id
            )
