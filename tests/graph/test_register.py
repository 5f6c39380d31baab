"""The practice register imported from a whole epcmem file (synthetic, or the real one) agrees
with the file."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from pctrules.graph.build import load_bundle_graph
from pctrules.graph.importers.registry import run_import
from pctrules.graph.model import OrgGraph
from tests import synthetic
from tests.conftest import DATA

DATES = {
    "2009-04-01": 152,
    "2010-04-01": 151,
    "2011-04-01": 151,
    "2012-03-31": 151,
    "2013-03-31": 151,
}


@pytest.fixture(scope="module")
def imported(
    tmp_path_factory: pytest.TempPathFactory,
    official: Path,
    bundle_dir: Path,
) -> tuple[Path, OrgGraph, bool]:
    """(the epcmem file, the graph built over it, whether it is the real one)."""
    source = official / synthetic.EPCMEM
    into = tmp_path_factory.mktemp("data")
    run_import("ods-epcmem", source, into)
    _, graph = load_bundle_graph(bundle_dir, into)
    return source, graph, official == DATA


def memberships_on(source: Path, on: dt.date) -> dict[str, str]:
    """epcmem's active PCT-era memberships on a date, read straight from the file."""
    out: dict[str, str] = {}
    day = on.strftime("%Y%m%d")
    with source.open(newline="") as f:
        for code, parent, _, joined, left, *_ in csv.reader(f):
            if len(parent) == 3 and parent[0] in "5T" and joined <= day <= (left or "99999999"):
                assert code not in out, f"{code} in two PCTs on {on}"
                out[code] = parent
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("day", "pct_count"), DATES.items())
def test_practice_to_pct_equals_epcmem(
    imported: tuple[Path, OrgGraph, bool],
    day: str,
    pct_count: int,
) -> None:
    source, graph, real = imported
    on = dt.date.fromisoformat(day)
    expected = memberships_on(source, on)
    index = graph.index("practice", "pct")
    practices = [c for c, n in graph.nodes.items() if n.kind == "practice"]
    actual = {c: p for c in practices if (p := index.one(c, on)) is not None}
    assert actual == expected
    if real:  # the counts of the 2006 map, as the real register shows them
        assert len(set(actual.values())) == pct_count
        assert len(graph.nodes_of_kind("pct", on)) == pct_count


def test_register_loads_without_problems(imported: tuple[Path, OrgGraph, bool]) -> None:
    _, graph, _ = imported
    assert [d.message for d in graph.diagnostics] == []
    assert graph.loaded("practice")


@pytest.mark.parametrize(
    ("practice", "day", "pct"),
    [
        # Predecessors resolve by date (PROVENANCE.md): Hertfordshire, Blackburn, Solihull.
        ("E82001", "2010-03-31", "5P4"),
        ("E82001", "2010-04-01", "5QV"),
    ],
)
def test_predecessors_resolve_by_date(
    imported: tuple[Path, OrgGraph, bool],
    practice: str,
    day: str,
    pct: str,
) -> None:
    _, graph, _ = imported
    assert graph.follow_one(practice, "pct", dt.date.fromisoformat(day)) == pct


def test_every_predecessor_code_is_a_named_node(imported: tuple[Path, OrgGraph, bool]) -> None:
    _, graph, _ = imported
    for code, before, after, successor in [
        ("5P3", "2010-03-31", "2010-04-01", "5QV"),
        ("5P4", "2010-03-31", "2010-04-01", "5QV"),
        ("5CC", "2010-03-31", "2010-04-01", "TAP"),
        ("TAM", "2011-04-14", "2011-04-15", "5QW"),
        ("5AN", "2007-08-31", "2007-09-01", "TAN"),
        ("5CR", "2006-09-30", "2006-10-01", "5NT"),
    ]:
        assert graph.kind(code) == "pct" and graph.name(code)
        b, a = dt.date.fromisoformat(before), dt.date.fromisoformat(after)
        assert graph.exists(code, b) and not graph.exists(code, a)
        moved = graph.follow_many(code, "practices", b)
        assert moved, code
        assert {graph.follow_one(p, "pct", a) for p in moved} <= {successor, None}


def test_a_pcts_population_rolls_up_from_its_practices_list_sizes(
    official: Path, bundle_dir: Path, tmp_path: Path
) -> None:
    """The bundle's roll-up (pct.population: sum of population over practices, on the last day
    of membership), over a register and list sizes (synthetic or real)."""
    into = tmp_path / "data"
    run_import("ods-epcmem", official / synthetic.EPCMEM, into)
    run_import("nhsbsa-list-size", official / synthetic.LIST_SIZES, into)
    _, graph = load_bundle_graph(bundle_dir, into)
    index = graph.index("pct", "practices")
    checked = 0
    for code in graph.nodes_of_kind("pct", dt.date(2012, 3, 31)):
        ends = [e.valid_to for e in index.all_edges(code)]
        if not ends:
            continue
        last = min(max(ends), graph.nodes[code].valid_to)
        sizes = [graph.attr(p, "population", last) for p in index.many(code, last)]
        known = [s for s in sizes if isinstance(s, int)]
        assert graph.attr(code, "population", last) == (sum(known) if known else None), code
        checked += 1
    assert checked > 100
