"""Fixtures for the audit tools: the toy bundle, a synthetic register for the default bundle,
the CLI, and a brute-force decider that the exhaustive walk must agree with."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from pctrules import cli as cli_module
from pctrules.bundle import open_bundle
from pctrules.evaluation.engine import Engine
from pctrules.graph.importers.registry import run_import

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TOY = HERE / "toy"
GOLDEN = HERE / "golden"
REGENERATE = os.environ.get("PCTRULES_REGENERATE") == "1"

# Days on which the toy data changes, the days before them, and a few ordinary ones.
TOY_DAYS = [
    dt.date(2005, 1, 1),
    dt.date(2005, 2, 14),
    dt.date(2005, 3, 31),
    dt.date(2005, 4, 1),
    dt.date(2005, 5, 20),
    dt.date(2005, 6, 30),
    dt.date(2005, 7, 1),
    dt.date(2005, 10, 9),
    dt.date(2005, 12, 31),
]


@pytest.fixture(scope="session")
def cli() -> click.Group:
    cli_module._register()
    return cli_module.cli


def run(cli: click.Group, *args: str, cwd: Path | None = None) -> Result:
    """The CLI, from the repository (so paths in reports read as in the docs)."""
    old = Path.cwd()
    os.chdir(cwd or REPO)
    try:
        return CliRunner(env={"PCTRULES_DATA": None}).invoke(
            cli, list(args), catch_exceptions=False
        )
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def toy() -> Engine:
    return Engine(open_bundle(TOY))


def toy_cases(engine: Engine, day: dt.date) -> Iterator[dict[str, object]]:
    """Every case of the toy space on `day`: each code alive that day (or none) for each node
    field, the literals the rules name (and another text) for the setting, each route."""
    graph = engine.graph

    def codes(kind: str) -> list[str | None]:
        return [
            None,
            *sorted(
                c
                for c, n in graph.nodes.items()
                if n.kind == kind and n.valid_from <= day <= n.valid_to
            ),
        ]

    for practice, residence, service, setting, purchaser, route in itertools.product(
        codes("practice"),
        codes("area"),
        codes("service"),
        [None, "emergency", "other"],
        codes("pct"),
        ["home", "away"],
    ):
        yield {
            "practice": practice,
            "residence": residence,
            "service": service,
            "setting": setting,
            "purchaser": purchaser,
            "params.route": route,
        }


def decide(engine: Engine, values: dict[str, object], day: dt.date) -> dict[str, object]:
    """What the engine decides for one case of the space (each decision's Outcome)."""
    from pctrules.audit.explore import Outcome

    raw: dict[str, object] = {"id": "c", "date": day.isoformat()}
    raw.update({k: v for k, v in values.items() if v is not None and "." not in k})
    params = {k[7:]: v for k, v in values.items() if k.startswith("params.")}
    result = engine.evaluate(engine.validate_case(raw, 1), params=params)
    return {name: Outcome.of(r) for name, r in result.decisions.items()}


def compare_golden(actual: str, name: str) -> None:
    golden = GOLDEN / name
    if REGENERATE or not golden.exists():
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
        if not REGENERATE:
            pytest.fail(f"wrote a new golden file {name}; review it and run again")
    assert actual == golden.read_text(encoding="utf-8")


# -- a synthetic register for the default bundle ----------------------------------------------

# Real PCT codes of the default bundle; each practice's history is drawn from these moves.
_HISTORIES: Sequence[Sequence[tuple[str, str, str]]] = (
    (("5NT", "20061001", "20130331"),),
    (("5CR", "20021001", "20060930"), ("5NT", "20061001", "20130331")),
    (("5P3", "20021001", "20100331"), ("5QV", "20100401", "20130331")),
    (("5P4", "20061001", "20100331"), ("5QV", "20100401", "20130331")),
    (("TAM", "20061001", "20110414"), ("5QW", "20110415", "20130331")),
    (("5QL", "20061001", "20130331"),),
    (("5ET", "20061001", "20090630"),),
    (("5QL", "20080101", "20130331"),),
)


def synthetic_register(folder: Path, practices: int = 40, seed: int = 7) -> Path:
    """A data folder as `pctrules import` writes it, from ODS epcmem and NHS BSA list-size files
    in the official layouts, made up here: `practices` practices, each with one history of
    `_HISTORIES` and a list size."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    epcmem = folder.parent / f"{folder.name}-epcmem.csv"
    sizes = folder.parent / f"{folder.name}-list-size.csv"
    rows = []
    bands = [
        "Male 0-4",
        "Female 0-4",
        "Male 5-14",
        "Female 5-14",
        "Male 15-24",
        "Female 15-24",
        "Male 25-34",
        "Female 25-34",
        "Male 35-44",
        "Female 35-44",
        "Male 45-54",
        "Female 45-54",
        "Male 55-64",
        "Female 55-64",
        "Male 65-74",
        "Female 65-74",
        "Male 75+",
        "Female 75+",
    ]
    head = [
        "Regional Office Name",
        "Regional Office Code",
        "Area Team Name",
        "Area Team Code",
        "PCO Name",
        "PCO Code",
        "Practice Name",
        "Practice Code",
        *bands,
    ]
    size_rows = [",".join(head)]
    for i in range(practices):
        code = f"Y9{i:04d}"
        for parent, start, end in _HISTORIES[i % len(_HISTORIES)]:
            rows.append(f'"{code}","{parent}","W","{start}","{end}","0"')
        counts = [str(rnd.randint(0, 300)) for _ in bands]
        size_rows.append(
            ",".join(["X", "Y", "Z", "Q", "PCO", "5XX", f"Practice {i}", code, *counts])
        )
    epcmem.write_text("\n".join(rows) + "\n", encoding="utf-8")
    sizes.write_text("\n".join(size_rows) + "\n", encoding="utf-8")
    run_import("ods-epcmem", epcmem, folder)
    run_import("nhsbsa-list-size", sizes, folder)
    return folder


@pytest.fixture(scope="session")
def register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_register(tmp_path_factory.mktemp("synthetic") / "register")


def cases_csv(path: Path, n: int, seed: int = 3) -> Path:
    """A batch input over the synthetic register: practices, residences, services, dates."""
    rnd = random.Random(seed)
    practices = [f"Y9{i:04d}" for i in range(40)] + ["", "", "Y99999"]
    areas = ["", "E16000141", "E16000023", "E16000150"]
    services = ["", "ROUTINE", "SSNDS-06", "NCG-HEART-TX", "MATERNITY"]
    lines = ["id,date,person.practice,person.residence,service"]
    for i in range(n):
        day = dt.date(2003, 1, 1) + dt.timedelta(days=rnd.randrange(0, 3650))
        lines.append(
            f"c{i:05d},{day.isoformat()},{rnd.choice(practices)},"
            f"{rnd.choice(areas)},{rnd.choice(services)}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
