"""The built LALR parser is kept in the user's cache as JSON; a damaged cache file is rebuilt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pctrules.language import parser


def _build() -> Any:
    return parser._parser.__wrapped__()  # the uncached function: read or write the file


def _parses(p: Any) -> None:
    tree = p.parse("person.practice.pct is not none and date >= 2006-10-01")
    assert tree.data


def test_the_parser_is_saved_then_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(tmp_path))
    _parses(_build())
    files = list(tmp_path.glob("parser-*.json"))
    assert len(files) == 1
    assert not list(tmp_path.glob(".tmp-*"))  # no temporary file left behind
    stamp = files[0].stat().st_mtime_ns
    _parses(_build())
    assert files[0].stat().st_mtime_ns == stamp  # read, not written again


def test_a_damaged_cache_file_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(tmp_path))
    _build()
    (cached,) = tmp_path.glob("parser-*.json")
    cached.write_bytes(b"not a parser")
    _parses(_build())
    assert cached.read_bytes() != b"not a parser"


def test_an_empty_cache_dir_setting_turns_the_cache_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCTRULES_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _parses(_build())
    assert not list(tmp_path.rglob("parser-*"))


def test_an_unwritable_cache_folder_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be", encoding="utf-8")
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(blocker / "pctrules"))
    _parses(_build())


def test_a_loaded_parser_gives_the_same_tree_and_positions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCTRULES_CACHE_DIR", "")
    fresh: Any = _build()
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(tmp_path))
    _build()
    loaded: Any = _build()
    text = (
        "if person.practice is none\n then [1, 2] else date >= 2006-10-01 and "
        "not (1 + 2 * 3 in [7])"
    )
    a, b = fresh.parse(text), loaded.parse(text)
    assert a == b
    assert [(t.meta.line, t.meta.column, t.meta.end_pos) for t in a.iter_subtrees()] == [
        (t.meta.line, t.meta.column, t.meta.end_pos) for t in b.iter_subtrees()
    ]
