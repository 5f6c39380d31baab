"""pctrules analyze: each kind of finding, planted in the toy bundle, found where it is and only
there (checked against brute force), in golden text and JSON."""

from __future__ import annotations

import datetime as dt
import json

import click
import pytest

from pctrules.audit.analyze import analyze
from pctrules.evaluation.engine import Engine
from tests.audit.conftest import TOY_DAYS, compare_golden, decide, run, toy_cases


def test_golden_text(cli: click.Group) -> None:
    result = run(cli, "analyze", "tests/audit/toy")
    assert result.exit_code == 0, result.output
    compare_golden(result.stdout, "analyze-toy.txt")


def test_golden_json(cli: click.Group) -> None:
    result = run(cli, "analyze", "tests/audit/toy", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    report["bundle"]["digest"] = report["bundle"]["data"] = "sha256:…"
    compare_golden(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "analyze-toy.json")


def test_exit_code(cli: click.Group) -> None:
    assert run(cli, "analyze", "tests/audit/toy", "--exit-code").exit_code == 7


def test_each_finding_where_it_is_written(toy: Engine) -> None:
    a = analyze(toy, dt.date(2005, 1, 1), dt.date(2005, 12, 31))
    found = {(f.kind, f.decision, tuple(f.rules)): f for f in a.findings}
    assert set(found) == {
        ("gap", "commissioner", ()),
        ("overlap", "size", ("big", "small")),
        ("disagreement", "label", ("by-region", "emergency")),
        ("rule-error", "home_area", ("only-area",)),
        ("shadowed", "responsible", ("away", "resident")),
        ("never-matches", "commissioner", ("experimental",)),
    }
    shadowed = found[("shadowed", "responsible", ("away", "resident"))]
    assert shadowed.at == [
        "tests/audit/toy/responsible.yaml:16:9",
        "tests/audit/toy/responsible.yaml:11:9",
    ]
    assert all(e["params"] == {"route": "away"} for e in shadowed.examples)
    gap = found[("gap", "commissioner", ())]
    assert gap.practices == 1 and gap.population == 200  # X4, before it joins P2 in April
    assert (
        any(e["fields"].get("practice", {}).get("values") == ["X4"] for e in gap.examples)
        or gap.examples
    )


def test_findings_are_exactly_what_brute_force_finds(toy: Engine) -> None:
    """Every (decision, kind) that brute force meets on the test days is reported, and every
    reported gap, overlap, disagreement and rule error happens on one of its days."""
    a = analyze(toy, dt.date(2005, 1, 1), dt.date(2005, 12, 31))
    reported: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for f in a.findings:
        if f.kind in ("gap", "overlap", "disagreement", "rule-error"):
            reported.setdefault((f.decision, f.kind), []).extend(f.days)
    seen: dict[tuple[str, str], set[int]] = {}
    hits = {"size": "unique", "label": "any"}
    for day in TOY_DAYS:
        for values in toy_cases(toy, day):
            for name, o in decide(toy, values, day).items():
                kind = None
                if o.outcome == "no-match" and o.note is None:  # type: ignore[attr-defined]
                    kind = "gap"
                elif o.outcome == "error" and not o.error.startswith("depends"):  # type: ignore[attr-defined]
                    kind = (
                        {"unique": "overlap", "any": "disagreement"}.get(
                            hits.get(name, ""), "rule-error"
                        )
                        if o.error_rule is None
                        else "rule-error"
                    )  # type: ignore[attr-defined]
                if kind is not None:
                    seen.setdefault((name, kind), set()).add(day.toordinal())
    assert set(seen) == set(reported)
    for key, days in seen.items():
        covered = {d for a_, b in reported[key] for d in range(a_, b + 1)}
        assert days == covered & {d.toordinal() for d in TOY_DAYS}, key


def test_one_day(cli: click.Group) -> None:
    result = run(cli, "analyze", "tests/audit/toy", "--as-of", "2005-02-01")
    assert result.exit_code == 0
    assert result.stdout.startswith("analyze toy 1 from 2005-02-01 to 2005-02-01")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--as-of", "2005-02-01", "--from", "2005-01-01"), "not both"),
        (("--from", "2005-06-01", "--to", "2005-01-01"), "ends (2005-01-01) before it starts"),
        (("--decision", "nope"), "unknown decision 'nope'"),
    ],
)
def test_usage_errors(cli: click.Group, args: tuple[str, ...], message: str) -> None:
    result = run(cli, "analyze", "tests/audit/toy", *args)
    assert result.exit_code == 2 and message in result.output
