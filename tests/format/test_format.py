"""`pctrules fmt`: one canonical layout, every comment kept, idempotent; the golden fixture
shows the layout; the CLI's --check and --diff; files fmt leaves alone, and why."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from pctrules.language.format import FormatError, expression_lines, format_source
from pctrules.language.source import SourceFile
from tests.cli.conftest import cli, run

__all__ = ["cli", "run"]

Run = Callable[..., Result]
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
REPO = HERE.parents[1]
ENGLAND = REPO / "policies" / "england"


def fmt(text: str, path: str = "b/decision.yaml") -> str:
    return format_source(SourceFile(path, text))


def test_the_golden_fixture() -> None:
    """Regenerate on purpose with: python -c 'from tests.format.test_format import *; regen()'"""
    got = fmt((FIXTURES / "messy.yaml").read_text(), "b/messy.yaml")
    assert got == (FIXTURES / "messy.expected.yaml").read_text()
    assert fmt(got, "b/messy.yaml") == got


def regen() -> None:
    text = fmt((FIXTURES / "messy.yaml").read_text(), "b/messy.yaml")
    (FIXTURES / "messy.expected.yaml").write_text(text)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a  and(b or c)", ["a and (b or c)", "a", "and (b or c)"]),
        (
            "x == pct ( \"5NT\" ) or x in [sha('Q39'),sha( 'Q\\'1' )]",
            [
                "x == pct('5NT') or x in [sha('Q39'), sha('Q\\'1')]",
                "x == pct('5NT')",
                "or x in [sha('Q39'), sha('Q\\'1')]",
            ],
        ),
        (
            "x==1 and y!=2 and not z",
            ["x == 1 and y != 2 and not z", "x == 1", "and y != 2", "and not z"],
        ),
        ("if a then b else c", ["if a then b else c", "if a", "then b", "else c"]),
        ("count( [ m in g.members : m.n > 1 ] )", ["count([m in g.members: m.n > 1])"] * 2),
        ("a and # a comment\n b", None),
        ("a and", None),
    ],
)
def test_expressions_are_reprinted_or_kept(given: str, expected: list[str] | None) -> None:
    assert expression_lines(given) == expected


def test_keys_follow_the_schema_and_unknown_keys_stay_after_them() -> None:
    text = "rules:\n  - then: none\n    zzz: 1\n    id: r\nhit: first\ndecision: d\n"
    assert fmt(text) == "decision: d\nhit: first\nrules:\n  - id: r\n    then: none\n    zzz: 1\n"


def test_a_long_flow_mapping_becomes_a_block_a_short_one_stays() -> None:
    long = "x" * 60
    text = (
        f"- name: t\n  case: {{id: a, note: {long}, person: {{residence: E1}}}}\n"
        "  expect: {d: 1}\n"
    )
    assert fmt(text, "b/tests/t.yaml") == (
        f"- name: t\n  case:\n    id: a\n    note: {long}\n    person: {{residence: E1}}\n"
        "  expect: {d: 1}\n"
    )


def test_a_flow_mapping_with_a_comment_inside_becomes_a_block_keeping_it() -> None:
    text = "- name: t\n  case: {id: a,   # the id\n         date: 2011-09-01}\n  expect: {}\n"
    assert fmt(text, "b/tests/t.yaml") == (
        "- name: t\n  case:\n    id: a  # the id\n    date: 2011-09-01\n  expect: {}\n"
    )


def test_trailing_comments_align_by_paragraph_and_depth() -> None:
    text = (
        "case:\n  id: string # a\n  date: date      # b\n  person:\n    practice: practice?   # c\n"
    )
    assert fmt(text, "b/bundle.yaml") == (
        "case:\n  id: string  # a\n  date: date  # b\n  person:\n    practice: practice?  # c\n"
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a: [\n", "not valid YAML"),
        ("decision: &n d\nrules: []\ntitle: *n\n", "anchors, aliases or tags"),
        ("decision: !!str d\nrules: []\n", "anchors, aliases or tags"),
    ],
)
def test_files_fmt_leaves_alone(text: str, why: str) -> None:
    with pytest.raises(FormatError, match=why):
        fmt(text)


def test_fmt_check_diff_and_write(run: Run, tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(ENGLAND, bundle)
    (bundle / "messy.yaml").write_text((FIXTURES / "messy.yaml").read_text())
    checked = run("fmt", "--check", str(bundle))
    assert checked.exit_code == 1
    assert f"would reformat {bundle / 'messy.yaml'}" in checked.stdout
    diff = run("fmt", "--diff", str(bundle / "messy.yaml"))
    assert diff.exit_code == 0
    assert "+rules:  # the rules, in order" in diff.stdout
    assert (bundle / "messy.yaml").read_text() == (FIXTURES / "messy.yaml").read_text()
    written = run("fmt", str(bundle))
    assert written.exit_code == 0, written.output
    assert (bundle / "messy.yaml").read_text() == (FIXTURES / "messy.expected.yaml").read_text()
    again = run("fmt", "--check", str(bundle))
    assert again.exit_code == 0, again.output
    assert again.stdout.endswith(" unchanged\n") and again.stdout.startswith("0 files ")


def test_a_file_that_is_not_yaml_exits_3(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("decision: [\n")
    result = run("fmt", "--check", str(bad))
    assert result.exit_code == 3
    assert f"{bad}: not formatted: it is not valid YAML" in result.stderr


def test_a_trailing_comment_that_goes_on_below_stays_with_its_line() -> None:
    text = (
        "case:\n  person:\n    prison: practice?   # a prisoner's prison: (a\n"
        "                        # prescribing cost centre)\n  service: service?\n"
    )
    assert fmt(text, "b/bundle.yaml") == (
        "case:\n  person:\n    prison: practice?  # a prisoner's prison: (a\n"
        "                       # prescribing cost centre)\n  service: service?\n"
    )


def test_the_default_bundle_is_formatted(run: Run) -> None:
    result = run("fmt", "--check", str(ENGLAND))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("0 files would be formatted, ")
