"""Issue 9 item 1: every name is matched whole; a name ending in a newline is an error where it
is written (today's `re.search('^…$')` accepted 'resp\\n', which then reached the compiler)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.conftest import Run, assert_clean, replace

# (file, text written, the name with a newline, file:line:col of the error)
PLACES = [
    ("pick.yaml", "decision: pick", 'decision: "pick\\n"', "pick.yaml:1:11"),
    ("pick.yaml", "id: only-one", 'id: "only-one\\n"', "pick.yaml:6:9"),
    ("bundle.yaml", "bundle: tiny", 'bundle: "tiny\\n"', "bundle.yaml:3:9"),
    ("bundle.yaml", "  minimum: int?", '  "minimum\\n": int?', "bundle.yaml:9:16"),
    ("bundle.yaml", "    pct:\n", '    "pct\\n":\n', "bundle.yaml:12:5"),
    (
        "bundle.yaml",
        "        population: int?\n    practice",
        '        "population\\n": int?\n    practice',
        "bundle.yaml:15:25",
    ),
    ("bundle.yaml", "    part_of: {", '    "part_of\\n": {', "bundle.yaml:21:5"),
    ("bundle.yaml", "inverse: practices", 'inverse: "practices\\n"', "bundle.yaml:21:60"),
    ("bundle.yaml", "name: pct}", 'name: "pct\\n"}', "bundle.yaml:21:77"),
    ("bundle.yaml", "  minimum: int?", '  minimum: "int?\\n"', "bundle.yaml:9:12"),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "at"),
    PLACES,
    ids=[p[2].split(":")[0].strip().strip('"') for p in PLACES],
)
def test_a_name_ending_in_a_newline_is_an_error_at_its_place(
    run: Run, bundle: Path, file: str, old: str, new: str, at: str
) -> None:
    replace(bundle / file, old, new)
    out = assert_clean(run("check", str(bundle)), 3)
    assert f"{at}: error[E-" in out
    assert "\\n" in out  # the newline is shown as an escape: the message stays one line


def test_a_parameter_name_ending_in_a_newline_is_an_error(run: Run, bundle: Path) -> None:
    manifest = bundle / "bundle.yaml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8")
        + 'parameters:\n  "limit\\n": {type: int, default: 1}\n',
        encoding="utf-8",
    )
    out = assert_clean(run("check", str(bundle)), 3)
    assert "bundle.yaml:27:3: error[E-" in out


def test_a_constraint_id_ending_in_a_newline_is_an_error(run: Run, bundle: Path) -> None:
    (bundle / "constraints.yaml").write_text(
        'constraints:\n  - id: "one-pct\\n"\n    for: "p in practice"\n'
        '    require: "count(p.pct) <= 1"\n',
        encoding="utf-8",
    )
    out = assert_clean(run("check", str(bundle)), 3)
    assert "constraints.yaml:2:9: error[E-" in out


@pytest.mark.parametrize("command", ["evaluate", "explain", "compile"])
def test_no_command_runs_a_bundle_whose_rule_id_ends_in_a_newline(
    run: Run, bundle: Path, case_file: Path, command: str
) -> None:
    replace(bundle / "pick.yaml", "id: only-one", 'id: "only-one\\n"')
    args = [command, "--bundle", str(bundle)] + ([str(case_file)] if command != "compile" else [])
    out = assert_clean(run(*args), 3)
    assert "pick.yaml:6:9: error[E-type]" in out


def test_a_diagnostic_never_writes_control_characters_from_a_file(run: Run, bundle: Path) -> None:
    replace(bundle / "pick.yaml", "id: only-one", 'id: "only\\e[31m\\u202eone"')
    out = assert_clean(run("check", str(bundle)), 3)
    assert "\x1b" not in out and "\u202e" not in out
    assert "only\\x1b[31m\\u202eone" in out
