"""Hostile and broken YAML gives diagnostics with positions, fast, never a crash."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from pctrules.language.diagnostics import Diagnostic, Diagnostics
from pctrules.language.loader import load_bundle
from pctrules.language.source import SourceFile
from pctrules.language.yamlsource.compose import Limits, decode, read_yaml
from tests.loader.conftest import LOADERS

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def only(text: str, use_c: bool = False) -> Diagnostic:
    diagnostics = Diagnostics()
    assert read_yaml(SourceFile("t.yaml", text), diagnostics, use_c=use_c) is None
    (d,) = diagnostics
    return d


@pytest.mark.parametrize("use_c", LOADERS)
def test_billion_laughs_is_refused_at_once(use_c: bool) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    d = only(LAUGHS, use_c)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert d.code == "E-limit"
    assert "100000" in d.message
    assert d.span is not None and d.span.line == 6
    assert elapsed < 0.5
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize("use_c", LOADERS)
def test_recursive_alias(use_c: bool) -> None:
    d = only("a: &x [1, *x]\n", use_c)
    assert (d.code, str(d.span)) == ("E-limit", "t.yaml:1:11")


def test_aliases_of_scalars_are_fine() -> None:
    diagnostics = Diagnostics()
    root = read_yaml(SourceFile("t.yaml", "a: &d 2011-04-01\nb: *d\n"), diagnostics)
    assert root is not None and not list(diagnostics)


@pytest.mark.parametrize("use_c", LOADERS)
def test_deep_nesting(use_c: bool) -> None:
    d = only("a: " + "[" * 5000 + "]" * 5000 + "\n", use_c)
    assert d.code == "E-limit" and "64 levels" in d.message


def test_huge_file_is_refused_before_parsing() -> None:
    d = decode(b"a: " + b"x" * 3_000_000, "big.yaml")
    assert isinstance(d, Diagnostic) and d.code == "E-limit"
    small = decode(b"a: 1\n", "ok.yaml", Limits(file_bytes=10))
    assert isinstance(small, SourceFile)


def test_not_utf8() -> None:
    d = decode("a: 'caf\u00e9'\nb: x\n".encode("latin-1"), "t.yaml")
    assert isinstance(d, Diagnostic)
    assert (d.code, str(d.span)) == ("E-yaml", "t.yaml:1:8")
    assert "UTF-8" in d.message


@pytest.mark.parametrize("use_c", LOADERS)
@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("a:\n\tb: 1\n", "t.yaml:2:1", "tab"),
        ("a:\n  b: 1\n c: 2\n", "t.yaml:3:2", "the key 'c' is less indented than 'b' above it"),
        ("a: b: c\n", "t.yaml:1:5", "unexpected ':'"),
        ("a: 'open\n", "t.yaml:2:1", "quoted"),
        ("a: 1\na: 2\n", "t.yaml:2:1", "appears twice"),
        ("a: 1\n---\nb: 2\n", "t.yaml:2:1", "second"),
        ("a: *nothing\n", "t.yaml:1:4", "no anchor"),
        ("<<: {a: 1}\n", "t.yaml:1:1", "merge keys"),
        ("? [a]\n: 1\n", "t.yaml:1:3", "key must be text"),
    ],
)
def test_broken_yaml(text: str, where: str, words: str, use_c: bool) -> None:
    d = only(text, use_c)
    assert d.code == "E-yaml"
    assert str(d.span) == where
    assert words in d.message
    assert d.help
    assert d.message[0].islower()


def test_long_expression(tmp_path: Path) -> None:
    (tmp_path / "bundle.yaml").write_text("bundle: t\nversion: '1'\n")
    (tmp_path / "d.yaml").write_text(
        "decision: d\nrules:\n  - id: r\n    when: " + "a and " * 2000 + "b\n"
    )
    bundle, diagnostics = load_bundle(tmp_path, display_root="t")
    (d,) = diagnostics
    assert (d.code, str(d.span), d.rule) == ("E-limit", "t/d.yaml:4:11", "r")
    assert bundle is not None and bundle.decisions[0].rules[0].when is None
