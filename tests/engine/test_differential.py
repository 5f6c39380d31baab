"""The two evaluators agree: compiled (fast path) and traced (interpret.py) give the same value,
rule and outcome for every decision of 100,000 generated cases over the real register (20,000
over the synthetic one)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import pytest

from pctrules.evaluation.engine import Case, Engine
from pctrules.evaluation.runtime import DecisionResult

N_CASES = 100_000
ERA = (dt.date(2002, 4, 1).toordinal(), dt.date(2013, 3, 31).toordinal())


def generated_cases(engine: Engine, n: int, seed: int) -> Iterator[tuple[Case, dict[str, object]]]:
    """Seeded cases over the graph's own codes: registered, unregistered, unknown codes, every
    service and setting, purchasers, both settings of the emergency parameter."""
    rng = random.Random(seed)
    by_kind: dict[str, list[str]] = {}
    for code, node in sorted(engine.graph.nodes.items()):
        by_kind.setdefault(node.kind, []).append(code)
    practices, areas = by_kind["practice"], by_kind["area"]
    services, pcts = by_kind["service"], by_kind["pct"]
    settings = ["emergency", "elective", "outpatient", None]
    for i in range(1, n + 1):
        person: dict[str, object] = {}
        roll = rng.random()
        if roll < 0.75:
            person["practice"] = rng.choice(practices)
        elif roll < 0.78:
            person["practice"] = f"X{rng.randrange(10**5):05d}"  # not in the register
        if rng.random() < 0.4:
            person["residence"] = rng.choice(areas)
        if rng.random() < 0.2:
            person["present_in"] = rng.choice(areas)
        raw: dict[str, object] = {
            "id": f"d{i}",
            "date": dt.date.fromordinal(rng.randint(*ERA)),
            "person": person,
        }
        if rng.random() < 0.5:
            raw["service"] = rng.choice(services)
        setting = rng.choice(settings)
        if setting is not None:
            raw["setting"] = setting
        if rng.random() < 0.05:
            raw["purchaser"] = rng.choice(pcts)
        params = {"emergency_responsibility": rng.choice(["home", "present"])}
        yield engine.validate_case(raw, i), params


def _key(r: DecisionResult) -> tuple[object, ...]:
    return (r.value, r.rule, r.outcome, r.error.message if r.error else None)


@pytest.mark.slow
def test_traced_and_compiled_evaluation_agree(england: Engine, scale: float) -> None:
    disagreements: list[str] = []
    rules_seen: set[tuple[str, str | None, str]] = set()
    for case, params in generated_cases(england, int(N_CASES * scale), seed=2011):
        fast = england.evaluate(case, params=params)
        traced = england.evaluate(case, params=params, trace=True)
        for name, r in fast.decisions.items():
            t = traced.decisions[name]
            rules_seen.add((name, r.rule, r.outcome))
            if _key(r) != _key(t) and len(disagreements) < 10:
                disagreements.append(
                    f"case {case.id} on {fast.as_of}, {name}: compiled "
                    f"{_key(r)} but traced {_key(t)}"
                )
        assert traced.warnings == fast.warnings
    assert not disagreements, "\n".join(disagreements)
    # The generator reaches every rule of responsible_pct.
    reached = {rule for name, rule, _ in rules_seen if name == "responsible_pct"}
    assert reached >= {
        "emergency-present",
        "registered-practice",
        "unregistered-resident",
        "purchaser-code",
        "not-known",
    }
