"""Helpers for the loader tests: read a YAML snippet, check an embedded text against the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pctrules.language.diagnostics import Diagnostics
from pctrules.language.source import EmbeddedText, SourceFile
from pctrules.language.yamlsource.compose import LineIndex, read_yaml
from pctrules.language.yamlsource.nodes import YMap, YScalar
from pctrules.language.yamlsource.offsets import embedded, scalar_offsets

LOADERS = [pytest.param(False, id="pure"), pytest.param(True, id="libyaml")]
FIXTURES = Path(__file__).parent / "fixtures"


def scalar(text: str, key: str = "e", use_c: bool = False) -> tuple[SourceFile, YScalar]:
    source = SourceFile("t.yaml", text)
    diagnostics = Diagnostics()
    root = read_yaml(source, diagnostics, use_c=use_c)
    assert not list(diagnostics), [d.message for d in diagnostics]
    assert isinstance(root, YMap)
    node = root.get(key)
    assert isinstance(node, YScalar)
    return source, node


def exact(text: str, key: str = "e", use_c: bool = False) -> EmbeddedText:
    """The embedded text of `key`, after asserting each character sits where the file has it."""
    source, node = scalar(text, key, use_c)
    index = LineIndex(text)
    value, _ = scalar_offsets(node, index)
    assert value == node.value, "the position scanner disagrees with PyYAML"
    e = embedded(node, source, index)
    for ch, (line, column) in zip(e.text, e.positions, strict=False):
        raw = text[index.offset(line - 1, column - 1)]
        if ch == raw:
            continue
        # Characters YAML makes from other text: folded breaks, escapes.
        assert (ch in " \n" and raw in "\r\n") or raw == "\\", (ch, raw, line, column)
    return e
