"""OrgSchema and CaseSchema: built from the manifest's plain data, problems as diagnostics."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from pctrules.language.diagnostics import Diagnostics
from pctrules.language.schema import CaseSchema, Hop, OrgSchema, Type, parse_type
from pctrules.language.source import SourceFile, Span


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("string", Type("string")),
        ("int?", Type("int", optional=True)),
        ("practice?", Type("practice", optional=True)),
        ("set[pct]", Type("pct", is_set=True)),
        ("set[ pct ]?", Type("pct", optional=True, is_set=True)),
        ("set[int]", None),
        ("Practice", None),
        ("pct??", None),
    ],
)
def test_parse_type(text: str, expected: Type | None) -> None:
    assert parse_type(text) == expected


def england(bundle_dir: Path) -> tuple[OrgSchema, CaseSchema]:
    manifest = yaml.safe_load((bundle_dir / "bundle.yaml").read_text())
    diagnostics = Diagnostics()
    org = OrgSchema.from_mapping(manifest["schema"], diagnostics)
    case = CaseSchema.from_mapping(manifest["case"], org, diagnostics)
    assert [d.message for d in diagnostics] == []
    return org, case


@pytest.mark.parametrize(
    ("kind", "name", "relation", "forward", "one", "targets"),
    [
        ("practice", "pct", "part_of", True, True, ("pct",)),
        ("pct", "practices", "part_of", False, False, ("practice",)),
        ("pct", "sha", "managed_by", True, True, ("sha",)),
        ("sha", "pcts", "managed_by", False, False, ("pct",)),
        ("area", "covered_by", "covers", False, True, ("pct",)),
        ("pct", "areas", "covers", True, False, ("area",)),
        ("pct", "cluster", "in_cluster", True, True, ("cluster",)),
        ("cluster", "members", "in_cluster", False, False, ("pct",)),
        ("cluster", "lead", "lead_of", False, True, ("pct",)),
        ("sha", "scg", "scg_for", False, True, ("scg",)),
        ("pct", "scg", "in_scg", True, True, ("scg",)),
        ("scg", "members", "in_scg", False, False, ("pct",)),
        ("collaborative", "lead", "lead_of", False, True, ("pct",)),
        ("collaborative", "services", "commissions", True, False, ("service",)),
        ("pct", "partners", "partner_of", True, False, ("local_authority", "nhs_trust")),
    ],
)
def test_the_hops_decision_authors_need(
    bundle_dir: Path,
    kind: str,
    name: str,
    relation: str,
    forward: bool,
    one: bool,
    targets: tuple[str, ...],
) -> None:
    org, _ = england(bundle_dir)
    assert org.hop(kind, name) == Hop(relation, forward, one, targets)


def test_attributes_and_names(bundle_dir: Path) -> None:
    org, case = england(bundle_dir)
    assert org.attribute("service", "category") == Type("string")
    assert org.attribute("pct", "population") == Type("int", optional=True)
    assert org.attribute("pct", "pctt") is None
    assert "pct" in org.names_on("practice") and "population" in org.names_on("practice")
    assert case.lookup(("person", "practice")) == Type("practice", optional=True)
    assert case.lookup(("date",)) == Type("date")
    assert case.lookup(("person", "nope")) is None
    assert ("person", "residence") in dict(case.leaves())


def test_schema_problems_are_all_reported_with_spans() -> None:
    source = SourceFile("bundle.yaml", "")
    seen: list[tuple[str, ...]] = []

    def where(path: tuple[str, ...]) -> Span:
        seen.append(path)
        return Span(source, len(seen), 1, len(seen), 2)

    data = {
        "kinds": {
            "pct": {"attributes": {"population": "integer", "sha": "sha", "areas": "set[int]"}},
            "practice": {"titel": "GP practice"},
        },
        "relations": {
            "part_of": {"from": "practice", "to": "pcts", "one": True},
            "managed_by": {"from": "pct", "to": "sha"},
            "dup": {"from": "practice", "to": "pct", "name": "pct"},
            "dup2": {"from": "practice", "to": "pct", "name": "pct"},
        },
    }
    diagnostics = Diagnostics()
    OrgSchema.from_mapping(data, diagnostics, where)
    messages = [(d.code, d.message, d.help) for d in diagnostics]
    assert (
        "E-unknown-name",
        "unknown kind 'integer', for attribute 'population' of kind 'pct'",
        "did you mean 'int'?",
    ) in messages
    assert (
        "E-type",
        "'set[int]' is not a type, for attribute 'areas' of kind 'pct'",
        "write string, int, number, date, bool, a kind, or set[kind]; add '?' when it may "
        "be absent",
    ) in messages
    assert (
        "E-unknown-name",
        "unknown kind 'sha', for attribute 'sha' of kind 'pct'",
        None,
    ) in messages
    assert (
        "E-unknown-key",
        "unknown key 'titel' in kind 'practice'",
        "did you mean 'title'?",
    ) in messages
    assert (
        "E-unknown-name",
        "unknown kind 'pcts' in 'to' of relation 'part_of'",
        "did you mean 'pct'?",
    ) in messages
    assert any(
        m[1] == "'pct' on practice is declared twice: by relation 'dup' and by relation 'dup2'"
        for m in messages
    )
    assert all(d.span is not None for d in diagnostics)
    assert ("schema", "kinds", "practice", "titel") in seen


def test_case_schema_problems() -> None:
    org = OrgSchema.from_mapping({"kinds": {"practice": {}}}, Diagnostics())
    diagnostics = Diagnostics()
    case = CaseSchema.from_mapping(
        {"id": "string", "person": {"practice": "practise?", "age": "years"}}, org, diagnostics
    )
    assert [d.message for d in diagnostics] == [
        "unknown kind 'practise', for case field 'person.practice'",
        "unknown kind 'years', for case field 'person.age'",
    ]
    assert diagnostics.errors[0].help == "did you mean 'practice'?"
    assert case.lookup(("id",)) == Type("string")


# -- what a bundle declares about its kinds: registers and roll-ups ------------------------------

SMALL = {
    "kinds": {
        "pct": {"attributes": {"population": "int?", "label": "string?"}},
        "practice": {
            "attributes": {"size": "int?"},
            "register": {
                "name": "practice register",
                "relation": "part_of",
                "unloaded": "cannot be placed",
                "absent": "unregistered",
                "help": "import it",
            },
        },
    },
    "relations": {
        "part_of": {
            "from": "practice",
            "to": "pct",
            "one": True,
            "inverse": "practices",
            "name": "pct",
        }
    },
    "rollups": [{"attribute": "pct.population", "sum": "size", "over": "practices"}],
}


def test_registers_and_rollups_are_declared() -> None:
    diagnostics = Diagnostics()
    org = OrgSchema.from_mapping(SMALL, diagnostics)
    assert [d.message for d in diagnostics] == []
    reg = org.kinds["practice"].register
    assert reg is not None and (reg.name, reg.relation, reg.absent) == (
        "practice register",
        "part_of",
        "unregistered",
    )
    assert org.kinds["pct"].register is None
    (rollup,) = org.rollups
    assert (rollup.kind, rollup.attribute, rollup.sum, rollup.over) == (
        "pct",
        "population",
        "size",
        "practices",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s["kinds"]["practice"]["register"].update(relation="part_off"),
            "the register of kind 'practice' names relation 'part_off', "
            "which does not join practices",
        ),
        (
            lambda s: s["kinds"]["practice"]["register"].update(colour="red"),
            "unknown key 'colour' in the register of kind 'practice'",
        ),
        (
            lambda s: s["rollups"][0].update(attribute="pct.label"),
            "roll-up attribute 'pct.label' is not a number attribute of a kind",
        ),
        (lambda s: s["rollups"][0].update(over="pct"), "'pct' is not a hop from pct to a set"),
        (lambda s: s["rollups"][0].update(sum="sizes"), "'sizes' is not an attribute of practice"),
        (lambda s: s["rollups"][0].pop("over"), "a roll-up needs 'attribute', 'sum' and 'over'"),
    ],
)
def test_bad_declarations_are_diagnostics(change: Any, message: str) -> None:
    data = copy.deepcopy(SMALL)
    change(data)
    diagnostics = Diagnostics()
    OrgSchema.from_mapping(data, diagnostics)
    assert [d.message for d in diagnostics] == [message]
