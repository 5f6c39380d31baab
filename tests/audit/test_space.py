"""The exhaustive walk against brute force: every case of the toy space, on the days either side
of every change of its data, decided by the engine, must be what the walk says for it; and the
walk's findings and transitions must be exactly the ones brute force finds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pctrules.audit.explore import Explorer, Outcome
from pctrules.audit.space import Lane
from pctrules.audit.tally import locate, tally
from pctrules.bundle import open_bundle
from pctrules.evaluation.engine import Engine
from tests.audit.conftest import TOY, TOY_DAYS, decide, toy_cases

START, END = dt.date(2005, 1, 1), dt.date(2005, 12, 31)


@pytest.fixture(scope="module")
def walk(toy: Engine) -> Explorer:
    explorer = Explorer([Lane(0, toy, None)], START, END)
    explorer.run()
    return explorer


@pytest.fixture(scope="module")
def brute(toy: Engine) -> list[tuple[dt.date, dict[str, object], dict[str, object]]]:
    """Every case of the toy space on each test day, with the engine's decisions."""
    return [
        (day, values, decide(toy, values, day))
        for day in TOY_DAYS
        for values in toy_cases(toy, day)
    ]


def test_every_case_on_every_changing_day_is_what_the_walk_says(
    walk: Explorer,
    brute: list[tuple[dt.date, dict[str, object], dict[str, object]]],
) -> None:
    for day, values, decided in brute:
        path = locate(walk, values, day)
        assert path is not None, (values, day)
        assert dict(path) == decided, (values, day)
    assert len(brute) > 20_000


@settings(max_examples=300, deadline=None)
@given(day=st.dates(START, END), data=st.data())
def test_any_day_any_case(
    toy: Engine,
    walk: Explorer,
    day: dt.date,
    data: st.DataObject,
) -> None:
    values = data.draw(st.sampled_from(list(toy_cases(toy, day))))
    path = locate(walk, values, day)
    assert path is not None
    assert dict(path) == decide(toy, values, day)


def test_the_walk_fails_when_a_decision_is_wrong(
    walk: Explorer,
    brute: list[tuple[dt.date, dict[str, object], dict[str, object]]],
) -> None:
    """The comparison above can fail: a walk whose records are tampered with disagrees."""
    node = next(n for n, records in enumerate(walk.tree.records) if records)
    j, record = walk.tree.records[node][0]
    assert isinstance(record, Outcome)
    walk.tree.records[node][0] = (j, dataclasses.replace(record, rule="tampered"))
    try:
        disagree = any(
            dict(locate(walk, values, day) or []) != decided for day, values, decided in brute
        )
    finally:
        walk.tree.records[node][0] = (j, record)
    assert disagree


def test_days_of_each_outcome_are_exactly_the_days_it_happens(
    walk: Explorer,
    brute: list[tuple[dt.date, dict[str, object], dict[str, object]]],
) -> None:
    """Dates in reports: an outcome's days are the days some case gets it, no more, no less."""
    counts = tally(walk)
    seen: dict[tuple[str, Outcome], set[int]] = {}
    for day, _, decided in brute:
        for name, outcome in decided.items():
            seen.setdefault((name, outcome), set()).add(day.toordinal())  # type: ignore[arg-type]
    for key, days in seen.items():
        t = counts[key]  # type: ignore[index]
        covered = {d for a, b in t.days for d in range(a, b + 1)}
        assert days <= covered, key
    for (name, record), t in counts.items():
        covered = {d for a, b in t.days for d in range(a, b + 1)}
        on_test_days = {d.toordinal() for d in TOY_DAYS} & covered
        assert all(
            (name, record) in seen and d in seen[(name, record)]  # type: ignore[index]
            for d in on_test_days
        ), (name, record)


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The toy bundle with one rule edited: 'specialist' also takes routine services."""
    folder = tmp_path_factory.mktemp("edited") / "toy"
    shutil.copytree(TOY, folder)
    path = folder / "commissioner.yaml"
    path.write_text(
        path.read_text().replace(
            "case.service.category == 'specialist'",
            "case.service.category in ['specialist', 'routine']",
        ),
        encoding="utf-8",
    )
    return Engine(open_bundle(folder))


def test_two_bundles_side_by_side(toy: Engine, edited: Engine) -> None:
    """Each situation of the walk of two bundles holds both answers, each the engine's."""
    explorer = Explorer([Lane(0, toy, None), Lane(1, edited, None)], START, END)
    explorer.run()
    changed = 0
    for day in TOY_DAYS:
        for values in toy_cases(toy, day):
            path = locate(explorer, values, day)
            assert path is not None
            old, new = decide(toy, values, day), decide(edited, values, day)
            assert {n: r for n, r in path} == {n: (old[n], new[n]) for n in old}
            changed += old != new
    assert changed > 0


def test_a_field_is_split_only_as_far_as_decisions_look(toy: Engine, walk: Explorer) -> None:
    """X1 and X5 are practices of P1 for the whole year: 'responsible' reads no more of them
    than their PCT, so the walk holds them as one class."""
    classes = [
        a[1]
        for n in range(len(walk.tree))
        for _, a in walk.tree.children[n]
        if a is not None and a[0] == "practice"
    ]
    assert any({m.value for m in c.members} == {"X1", "X5"} for c in classes)


def test_a_field_compared_with_a_code_literal(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`case.purchaser == pct('P3')` (P3 closes in June): the walk splits the field into P3 and
    the rest (one class, not one per code), and agrees with the engine on every case of every
    test day."""
    folder = tmp_path_factory.mktemp("code") / "toy"
    shutil.copytree(TOY, folder)
    path = folder / "responsible.yaml"
    path.write_text(
        path.read_text().replace(
            "when: case.purchaser is not none\n    then: case.purchaser",
            "when: case.purchaser == pct('P3')\n    then: pct('P3')",
        ),
        encoding="utf-8",
    )
    engine = Engine(open_bundle(folder))
    explorer = Explorer([Lane(0, engine, None)], START, END)
    explorer.run()
    for day in TOY_DAYS:
        for values in toy_cases(engine, day):
            path_ = locate(explorer, values, day)
            assert path_ is not None and dict(path_) == decide(engine, values, day)
    classes = [
        a[1]
        for n in range(len(explorer.tree))
        for _, a in explorer.tree.children[n]
        if a is not None and a[0] == "purchaser"
    ]
    assert any({m.value for m in c.members} == {"P3"} for c in classes)
    assert any({"P1", "P2"} <= {m.value for m in c.members} for c in classes)
