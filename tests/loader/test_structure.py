"""Structural checks of bundle, decision and constraint files, driven by the JSON Schemas."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pctrules.language.diagnostics import Diagnostic
from pctrules.language.loader import PolicyBundle, json_schema, load_bundle
from pctrules.resources import default_bundle_path
from tests.loader.conftest import FIXTURES

MANIFEST = "bundle: t\nversion: '1'\neffective: {from: 2002-04-01, to: 2013-03-31}\n"


def load(
    tmp_path: Path, decision: str, manifest: str = MANIFEST, **files: str
) -> tuple[PolicyBundle | None, list[Diagnostic]]:
    (tmp_path / "bundle.yaml").write_text(manifest)
    (tmp_path / "d.yaml").write_text(decision)
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    bundle, diagnostics = load_bundle(tmp_path, display_root="t")
    return bundle, diagnostics.sorted()


def one(tmp_path: Path, decision: str, **kw: str) -> Diagnostic:
    _, found = load(tmp_path, decision, **kw)
    assert len(found) == 1, [(d.code, str(d.span), d.message) for d in found]
    d = found[0]
    assert not d.message[0].isupper() and not d.message.endswith(".")
    assert d.help
    return d


def expect(
    d: Diagnostic,
    code: str,
    at: str,
    message: str,
    help: str | None = None,
    rule: str | None = None,
) -> None:
    """States code, position, message, help and rule of a diagnostic in one call."""
    assert (d.code, str(d.span), d.message) == (code, at, message)
    if help is not None:
        assert d.help == help
    assert d.rule == rule


RULE = "decision: d\nrules:\n  - id: r\n    when: a\n    then: b\n"


def test_good_fixture_loads_without_diagnostics() -> None:
    bundle, diagnostics = load_bundle(FIXTURES / "good", display_root="good")
    assert not list(diagnostics)
    assert bundle is not None
    assert [d.name for d in bundle.decisions] == ["lead_pct", "responsible_pct"]
    assert [c.id for c in bundle.constraints] == ["one-lead"]
    assert bundle.manifest.version == "1.0"
    entry = bundle.manifest.data[1]
    assert entry.as_mapping() == {
        "path": "data/practices.csv",
        "layout": "ods-epcmem",
        "optional": True,
        "span": entry.span,
    }
    assert str(entry.span) == "good/bundle.yaml:18:5"
    assert bundle.manifest.parameters[0].choices == ("present", "resident")
    assert bundle.manifest.case["person"] == {"practice": "practice?"}
    where = bundle.manifest.where
    assert str(where(("schema", "relations", "part_of", "to"))) == "good/bundle.yaml:15:35"
    assert str(where(("case", "person"))) == "good/bundle.yaml:8:3"
    assert where(("nothing",)) is None
    lead = bundle.decisions[0]
    assert lead.hit.value == "priority" and lead.for_ is not None
    designated = lead.rules[0]
    assert designated.status == "unconfirmed" and designated.tags == ("lead",)
    assert isinstance(designated.then, dict) and set(designated.then) == {"value", "note"}
    assert str(designated.effective) == "2007-04-01 to 2013-03-31"
    assert bundle.decisions[1].rules[1].reason == "9"
    assert not bundle.embedded


def test_display_paths_relative_to_the_current_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(FIXTURES.parent.parent.parent)
    bundle, _ = load_bundle(Path("tests/loader/fixtures/good"))
    assert bundle is not None
    assert bundle.decisions[1].source.path == "tests/loader/fixtures/good/responsible.yaml"
    monkeypatch.chdir(tmp_path)
    bundle, _ = load_bundle(FIXTURES / "good")
    assert bundle is not None
    assert bundle.manifest.source.path == os.fspath(FIXTURES / "good" / "bundle.yaml")


def test_the_default_bundle_is_embedded() -> None:
    bundle, _ = load_bundle(default_bundle_path())
    assert bundle is not None and bundle.embedded
    assert bundle.manifest.source.path == "england/bundle.yaml"


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    d = one(tmp_path, "decision: d\nrules:\n  - id: r\n    whn: a\n")
    expect(
        d,
        "E-unknown-key",
        "t/d.yaml:4:5",
        "for rule 'r', unknown key 'whn' in rule",
        "did you mean 'when'?",
        "r",
    )


def test_unknown_top_level_key_lists_the_keys(tmp_path: Path) -> None:
    d = one(tmp_path, RULE + "zzz: 1\n")
    expect(d, "E-unknown-key", "t/d.yaml:6:1", "unknown key 'zzz' in decision")
    assert d.help is not None and "'decision', 'title'" in d.help


def test_missing_key(tmp_path: Path) -> None:
    d = one(tmp_path, "decision: d\nrules:\n  - when: a\n")
    expect(d, "E-missing-key", "t/d.yaml:3:5", "rule is missing the required key 'id'")


def test_missing_rules(tmp_path: Path) -> None:
    d = one(tmp_path, "decision: d\n")
    expect(d, "E-missing-key", "t/d.yaml:1:1", "decision is missing the required key 'rules'")


@pytest.mark.parametrize(
    ("text", "at", "message"),
    [
        (
            "decision: d\ntitle: [a]\nrules: []\n",
            "t/d.yaml:2:8",
            "'title' must be text, not a list",
        ),
        (
            "decision: d\ntitle: yes\nrules: []\n",
            "t/d.yaml:2:8",
            "'title' must be text, but YAML reads 'yes' as true or false",
        ),
        (
            "decision: d\nrules:\n  - id: r\n    when: [a]\n",
            "t/d.yaml:4:11",
            "for rule 'r', 'when' must be an expression, not a list",
        ),
        (
            "decision: d\nrules:\n  - id: r\n    then:\n",
            "t/d.yaml:4:10",
            "for rule 'r', 'then' must be an expression or a mapping, not empty",
        ),
        (
            "decision: d\nrules:\n  - id: r\n    priority: high\n",
            "t/d.yaml:4:15",
            "for rule 'r', 'priority' must be a whole number, not 'high'",
        ),
        ("decision: d\nrules: {id: r}\n", "t/d.yaml:2:8", "'rules' must be a list, not a mapping"),
    ],
)
def test_wrong_types(tmp_path: Path, text: str, at: str, message: str) -> None:
    d = one(tmp_path, text)
    assert (d.code, str(d.span), d.message) == ("E-type", at, message)


def test_hit_policy(tmp_path: Path) -> None:
    d = one(tmp_path, "decision: d\nhit: frist\nrules: []\n")
    expect(
        d,
        "E-hit-policy",
        "t/d.yaml:2:6",
        "'hit' must be one of 'first', 'priority', 'unique', 'any', 'collect', not 'frist'",
        "did you mean 'first'?",
    )


def test_priority_missing_and_tied(tmp_path: Path) -> None:
    _, found = load(
        tmp_path,
        "decision: d\nhit: priority\nrules:\n"
        "  - {id: a, priority: 1}\n  - {id: b}\n  - {id: c, priority: 1}\n",
    )
    assert [(d.code, str(d.span), d.rule) for d in found] == [
        ("E-missing-key", "t/d.yaml:5:10", "b"),
        ("E-priority-tie", "t/d.yaml:6:23", "c"),
    ]
    assert found[1].message == "for rule 'c', priority 1 is also the priority of rule 'a'"
    assert found[1].help is not None and "t/d.yaml:4:23" in found[1].help


def test_priority_without_priority_hit_is_a_warning(tmp_path: Path) -> None:
    d = one(tmp_path, "decision: d\nrules:\n  - {id: a, priority: 1}\n")
    assert (d.code, d.severity.value, str(d.span)) == ("W-ignored-key", "warning", "t/d.yaml:3:23")


def test_duplicate_rule_across_files(tmp_path: Path) -> None:
    _, found = load(tmp_path, RULE, e="decision: e\nrules:\n  - id: r\n")
    (d,) = found
    expect(
        d,
        "E-duplicate-rule",
        "t/e.yaml:3:9",
        "the rule id 'r' is used twice",
        "the first is at t/d.yaml:3:9; rule ids must be unique in the bundle",
        "r",
    )


def test_duplicate_decision(tmp_path: Path) -> None:
    _, found = load(tmp_path, "decision: d\nrules: []\n", e="decision: d\nrules: []\n")
    assert [(d.code, str(d.span)) for d in found] == [("E-duplicate-decision", "t/e.yaml:1:11")]


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("2011-02-30", "'2011-02-30' is not a date of the calendar"),
        ("2011-4-1", "'2011-4-1' is not a valid date"),
        ("20110401", "'from' must be a date, but YAML reads '20110401' as a whole number"),
    ],
)
def test_dates(tmp_path: Path, date: str, message: str) -> None:
    d = one(tmp_path, f"decision: d\nrules:\n  - id: r\n    effective: {{from: {date}}}\n")
    assert (d.code, str(d.span), d.message, d.rule) == (
        "E-date",
        "t/d.yaml:4:23",
        f"for rule 'r', {message}",
        "r",
    )


def test_inverted_range(tmp_path: Path) -> None:
    d = one(tmp_path, "decision: d\neffective: {from: 2011-04-01, to: 2010-04-01}\nrules: []\n")
    expect(
        d,
        "E-effective-range",
        "t/d.yaml:2:1",
        "the effective range starts (2011-04-01) after it ends (2010-04-01)",
    )


def test_rule_range_outside_the_decision(tmp_path: Path) -> None:
    d = one(
        tmp_path,
        "decision: d\neffective: {from: 2006-10-01, to: 2009-03-31}\nrules:\n"
        "  - id: r\n    effective: {from: 2011-04-01}\n",
    )
    expect(
        d,
        "E-effective-range",
        "t/d.yaml:5:5",
        "for rule 'r', the effective dates "
        "(2011-04-01 to …) never fall within the decision's (2006-10-01 to 2009-03-31)",
        rule="r",
    )


def test_rule_range_outside_the_bundle(tmp_path: Path) -> None:
    d = one(tmp_path, "decision: d\nrules:\n  - id: r\n    effective: {to: 2001-01-01}\n")
    assert d.code == "E-effective-range" and "bundle's (2002-04-01 to 2013-03-31)" in d.message


@pytest.mark.parametrize(
    ("text", "at", "message"),
    [
        (
            "decision: Responsible-PCT\nrules: []\n",
            "t/d.yaml:1:11",
            "'Responsible-PCT' is not a valid decision name",
        ),
        (
            "decision: d\nrules:\n  - id: Rule One\n",
            "t/d.yaml:3:9",
            "for rule 'Rule One', 'Rule One' is not a valid rule id",
        ),
    ],
)
def test_names(tmp_path: Path, text: str, at: str, message: str) -> None:
    d = one(tmp_path, text)
    assert (d.code, str(d.span), d.message) == ("E-type", at, message)


def test_manifest_checks(tmp_path: Path) -> None:
    _, found = load(
        tmp_path,
        RULE,
        manifest="bundle: t\ntitel: x\ndata: [{path: a.csv, "
        "optinal: true}]\nparameters:\n  p: {type: text}\n",
    )
    assert [(d.code, str(d.span), d.help) for d in found] == [
        (
            "E-missing-key",
            "t/bundle.yaml:1:1",
            "add 'version:', the policy version recorded "
            'with every decision, e.g. "2011.1" (quote it to keep it text)',
        ),
        ("E-unknown-key", "t/bundle.yaml:2:1", "did you mean 'title'?"),
        ("E-unknown-key", "t/bundle.yaml:3:22", "did you mean 'optional'?"),
        ("E-type", "t/bundle.yaml:5:13", "the parameter's type"),
    ]


def test_listed_files(tmp_path: Path) -> None:
    bundle, found = load(
        tmp_path,
        RULE,
        manifest=MANIFEST + "decisions: [d.yaml, x.yaml]\nconstraints: c.yaml\n",
        c="constraints:\n  - {id: c, for: x}\n",
        e="decision: e\nrules: []\n",
    )
    assert [(d.code, str(d.span)) for d in found] == [
        ("E-missing-file", "t/bundle.yaml:4:21"),
        ("E-missing-key", "t/c.yaml:2:5"),
    ]
    assert bundle is not None and [d.name for d in bundle.decisions] == ["d"]


def test_no_manifest(tmp_path: Path) -> None:
    bundle, diagnostics = load_bundle(tmp_path / "nowhere")
    assert bundle is None and [d.code for d in diagnostics] == ["E-missing-file"]


def test_broken_manifest_still_reports_decision_files(tmp_path: Path) -> None:
    bundle, found = load(
        tmp_path, "decision: d\nrules:\n - id: r\n   whn: x\n", manifest="bundle: [\n"
    )
    assert bundle is None
    assert [d.code for d in found] == ["E-yaml", "E-unknown-key"]


def test_constraints(tmp_path: Path) -> None:
    bundle, found = load(
        tmp_path,
        RULE,
        c="constraints:\n  - id: one-lead\n    for: c in xs\n"
        "    require: count(c.lead) == 1\n    severity: warning\n",
    )
    assert not found and bundle is not None
    (c,) = bundle.constraints
    assert (c.severity, c.require.text, str(c.require.whole)) == (
        "warning",
        "count(c.lead) == 1",
        "t/c.yaml:4:14",
    )


@pytest.mark.parametrize("name", ["decision", "bundle", "constraints", "tests"])
def test_schemas_describe_every_property(name: str) -> None:
    schema = json_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                raise AssertionError(f"{path}: additionalProperties not set")
            for key, prop in node.get("properties", {}).items():
                assert "title" in prop and "description" in prop, f"{path}.{key}"
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(schema, name)
