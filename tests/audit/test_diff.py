"""pctrules diff: the static diff, transitions over cases (the same counts as deciding the cases
with both bundles and comparing), and over every situation (checked against brute force)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path

import click
import pytest

from pctrules.bundle import open_bundle
from pctrules.evaluation.engine import Engine
from pctrules.resources import default_bundle_path
from tests.audit.conftest import (
    TOY,
    TOY_DAYS,
    cases_csv,
    compare_golden,
    decide,
    json_lines,
    run,
    toy_cases,
)


def _edit(folder: Path, file: str, old: str, new: str) -> None:
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(scope="module")
def england_edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default bundle with one rule edited: registration counts only for people whose
    record gives no residence."""
    folder = tmp_path_factory.mktemp("edited") / "england"
    shutil.copytree(default_bundle_path(), folder)
    _edit(
        folder,
        "responsible-pct.yaml",
        "when: case.person.practice.pct is not none",
        "when: case.person.practice.pct is not none and case.person.residence is none",
    )
    return folder


def _transitions(report: dict[str, object], over: str) -> Counter[tuple[str, str, str]]:
    impact = next(i for i in report["impact"] if i["over"] == over)  # type: ignore[attr-defined,index]
    return Counter(
        {
            (
                t["decision"],
                json.dumps(t["old"], sort_keys=True),
                json.dumps(t["new"], sort_keys=True),
            ): t["count"]
            for t in impact["transitions"]
        }
    )


def test_counts_over_cases_are_those_of_deciding_with_both_and_comparing(
    cli: click.Group, register: Path, england_edited: Path, tmp_path: Path
) -> None:
    """`diff` decides a CSV input through batch; here each case is decided by `evaluate`
    with each bundle and compared: the transition counts must be the same."""
    cases = cases_csv(tmp_path / "cases.csv", 1500)
    result = run(
        cli,
        "diff",
        str(default_bundle_path()),
        str(england_edited),
        str(cases),
        "--data",
        str(register),
        "--format",
        "json",
        "--exit-code",
    )
    assert result.exit_code == 7, result.output
    via_diff = _transitions(json.loads(result.stdout), "cases")
    as_yaml = tmp_path / "cases.json"
    header, *rows = cases.read_text().splitlines()
    columns = header.split(",")
    listed = []
    for row in rows:
        case: dict[str, object] = {}
        for name, cell in zip(columns, row.split(","), strict=True):
            if cell:
                *groups, last = name.split(".")
                target = case
                for g in groups:
                    target = target.setdefault(g, {})  # type: ignore[assignment]
                target[last] = cell
        listed.append(case)
    as_yaml.write_text(json.dumps(listed), encoding="utf-8")
    decided = []
    for bundle in (default_bundle_path(), england_edited):
        out = run(
            cli,
            "evaluate",
            str(as_yaml),
            "--bundle",
            str(bundle),
            "--data",
            str(register),
            "--format",
            "json",
        )
        assert out.exit_code == 0, out.output
        decided.append(json_lines(out.stdout))
    expected: Counter[tuple[str, str, str]] = Counter()
    for old, new in zip(*decided, strict=True):
        for name, a in old["decisions"].items():  # type: ignore[attr-defined]
            b = new["decisions"][name]  # type: ignore[index]
            sides = [
                None
                if d is None
                else {
                    "value": d["value"],
                    "rule": d["rule"],
                    "reason": d["reason"],
                    "outcome": d.get("outcome", "matched"),
                }
                for d in (a, b)
            ]
            if sides[0] != sides[1]:
                expected[
                    (
                        name,
                        json.dumps(sides[0], sort_keys=True),
                        json.dumps(sides[1], sort_keys=True),
                    )
                ] += 1
    assert expected and via_diff == expected
    # and the case file itself, decided by the engine rather than batch, says the same
    again = run(
        cli,
        "diff",
        str(default_bundle_path()),
        str(england_edited),
        str(as_yaml),
        "--data",
        str(register),
        "--format",
        "json",
    )
    assert _transitions(json.loads(again.stdout), "cases") == expected


@pytest.fixture(scope="module")
def toy_edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("toy-edited") / "toy"
    shutil.copytree(TOY, folder)
    _edit(
        folder,
        "commissioner.yaml",
        "case.service.category == 'specialist'",
        "case.service.category in ['specialist', 'routine']",
    )
    return folder


def test_exhaustive_transitions_are_those_brute_force_finds(
    cli: click.Group, toy: Engine, toy_edited: Path
) -> None:
    result = run(
        cli, "diff", "tests/audit/toy", str(toy_edited), "--exhaustive", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    impact = report["impact"][0]
    reported = {}
    for t in impact["transitions"]:
        key = (
            t["decision"],
            t["old"]["value"],
            t["old"]["rule"],
            t["new"]["value"],
            t["new"]["rule"],
        )
        reported[key] = {
            d
            for a, b in t["dates"]
            for d in range(
                dt.date.fromisoformat(a).toordinal(), dt.date.fromisoformat(b).toordinal() + 1
            )
        }
    edited = Engine(open_bundle(toy_edited))
    seen: dict[tuple[object, ...], set[int]] = {}
    for day in TOY_DAYS:
        for values in toy_cases(toy, day):
            old, new = decide(toy, values, day), decide(edited, values, day)
            for name in old:
                a, b = old[name], new[name]
                if (a.value, a.rule, a.reason, a.outcome) != (  # type: ignore[attr-defined]
                    b.value,
                    b.rule,
                    b.reason,
                    b.outcome,
                ):  # type: ignore[attr-defined]
                    key = (
                        name,
                        json.loads(a.value),
                        a.rule,  # type: ignore[attr-defined]
                        json.loads(b.value),
                        b.rule,
                    )  # type: ignore[attr-defined]
                    seen.setdefault(key, set()).add(day.toordinal())
    assert seen and set(seen) == set(reported)
    test_days = {d.toordinal() for d in TOY_DAYS}
    for key, days in seen.items():
        assert days == reported[key] & test_days, key


def test_static_diff(cli: click.Group, tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    shutil.copytree(TOY, folder)
    _edit(folder, "commissioner.yaml", "reason: OWN", "reason: OWN-PCT")
    _edit(folder, "size.yaml", "hit: unique", "hit: first")
    path = folder / "responsible.yaml"
    text = path.read_text()
    start, end = text.index("  - id: away"), text.index("  - id: purchaser")
    text = text[:start] + text[end:]  # 'away' removed
    text = text.replace(
        "  - id: unknown",
        "  - id: late\n    reason: L\n    when: case.setting "
        "== 'late'\n    then: none\n  - id: unknown",
    )
    path.write_text(text, encoding="utf-8")
    label = folder / "label.yaml"
    text = label.read_text()
    start, end = text.index("  - id: by-region"), text.index("  - id: emergency")
    label.write_text(text[:start] + text[end:] + text[start:end], encoding="utf-8")  # moved
    result = run(cli, "diff", str(TOY), str(folder))
    assert result.exit_code == 0, result.output
    text_out = result.stdout.replace(str(tmp_path.parent), "…")
    assert "responsible: rule 'away' removed" in text_out
    assert "responsible: rule 'late' added: at position 4" in text_out
    assert "commissioner: rule 'own' edited: reason" in text_out
    assert "size: setting: hit: unique → first" in text_out
    assert "label: rule 'emergency' moved: from position 2 to 1" in text_out


def test_golden_text_and_json(cli: click.Group, toy_edited: Path, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - {id: t1, date: 2005-02-01, practice: X1, service: S1}\n"
        "  - {id: t2, date: 2005-02-01, practice: X1, service: S2}\n"
        "  - {id: t3, date: 2005-08-01, residence: A4, service: S1}\n",
        encoding="utf-8",
    )
    shutil.copytree(toy_edited, tmp_path / "toy")
    args = ["diff", str(TOY), "toy", "cases.yaml", "--exhaustive"]
    text = run(cli, *args, cwd=tmp_path).stdout.replace(str(TOY), "tests/audit/toy")
    compare_golden(text, "diff-toy.txt")
    report = json.loads(run(cli, *args, "--format", "json", cwd=tmp_path).stdout)
    for side in ("old", "new"):
        report[side]["digest"] = "sha256:…"
        report[side]["path"] = report[side]["path"].replace(str(TOY), "tests/audit/toy")
    compare_golden(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "diff-toy.json")
    page = run(cli, *args, "--format", "html", cwd=tmp_path).stdout
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page and "<script" not in page


def test_identical_bundles_have_nothing_to_say(cli: click.Group) -> None:
    result = run(cli, "diff", "tests/audit/toy", "tests/audit/toy", "--exhaustive", "--exit-code")
    assert result.exit_code == 0, result.output
    assert "policy: no changes" in result.stdout and ", 0 changed" in result.stdout


def test_period_options_need_exhaustive(cli: click.Group) -> None:
    result = run(cli, "diff", "tests/audit/toy", "tests/audit/toy", "--as-of", "2005-01-01")
    assert result.exit_code == 2 and "--exhaustive" in result.output
