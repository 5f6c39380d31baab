"""Found beyond issue 9's list: text from files reached the terminal as it was. A name in a data
table, a rule id, a case id holding escape sequences could clear the screen, retitle the window
or hide text from the auditor reading it (ESC, OSC, BEL, a right-to-left override). Every text
report escapes them; JSON escapes them by itself. And a relative XDG_CACHE_HOME (which the XDG
specification says to ignore) put the cache in whatever folder pctrules ran in."""

from __future__ import annotations

from pathlib import Path

import pytest

from pctrules.resources import cache_dir
from tests.security.conftest import Run, assert_clean, replace

HOSTILE = "\x1b[2J\x1b]0;owned\x07\u202e"


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--bundle", "{b}", "{case}"],
        ["explain", "--bundle", "{b}", "{case}"],
        ["graph", "--bundle", "{b}", "--focus", "P1"],
        ["graph", "--bundle", "{b}", "--as-of", "2011-09-01", "--focus", "P1"],
    ],
    ids=["evaluate", "explain", "graph-tree", "graph-tree-on-a-date"],
)
def test_no_text_report_sends_control_characters_from_a_file(
    run: Run, bundle: Path, case_file: Path, command: list[str]
) -> None:
    replace(bundle / "data" / "pct.csv", "P1,First PCT", f"P1,First{HOSTILE} PCT")
    case_file.write_text(
        f'{{id: "c{HOSTILE}", date: 2011-09-01, practice: A1}}\n'.replace("\x1b", "\\e")
        .replace("\x07", "\\a")
        .replace("\u202e", "\\u202e"),
        encoding="utf-8",
    )
    args = [a.format(b=bundle, case=case_file) for a in command]
    out = assert_clean(run(*args), 0)
    assert not any(c in out for c in "\x1b\x07\u202e"), repr(out)
    assert "First\\x1b[2J\\x1b]0;owned\\x07\\u202e PCT" in out


def test_a_relative_xdg_cache_home_is_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PCTRULES_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert cache_dir() == tmp_path / ".cache" / "pctrules"
