"""Every character of an embedded expression maps to its exact place in the YAML file."""

from __future__ import annotations

import pytest

from pctrules.language.diagnostics import Diagnostics
from pctrules.language.source import SourceFile
from pctrules.language.yamlsource.compose import LineIndex, read_yaml
from pctrules.language.yamlsource.nodes import YMap, YScalar
from pctrules.language.yamlsource.offsets import embedded
from tests.loader.conftest import LOADERS, exact

STYLES = [
    (
        "plain",
        "e: case.person.practice.pct is not none\n",
        "case.person.practice.pct is not none",
        (1, 4),
    ),
    ("single", "e: 'a == ''x'' and b'\n", "a == 'x' and b", (1, 5)),
    ("double", 'e: "a == \\"x\\"\\tb\\x41"\n', 'a == "x"\tbA', (1, 5)),
    ("literal", "e: |\n  first\n    second\n", "first\n  second\n", (2, 3)),
    ("literal-strip", "e: |-\n  first\n  second\n\n", "first\nsecond", (2, 3)),
    ("literal-keep", "e: |+\n  first\n\n", "first\n\n", (2, 3)),
    ("folded", "e: >\n  a\n  b\n\n  c\n", "a b\nc\n", (2, 3)),
    ("folded-strip", "e: >-\n  count(x)\n  == 1\n", "count(x) == 1", (2, 3)),
    ("indicator", "e: |1\n  x\n   y\n", " x\n  y\n", (2, 2)),
    ("plain-multiline", "e: a and\n   b\n\n   c\n", "a and b\nc", (1, 4)),
    ("single-multiline", "e: 'a and\n    b'\n", "a and b", (1, 5)),
    ("double-continued", 'e: "a and \\\n    b"\n', "a and b", (1, 5)),
    ("crlf", "e: >-\r\n  a\r\n  b\r\n", "a b", (2, 3)),
    ("crlf-plain", "e: a\r\n  b\r\n", "a b", (1, 4)),
    (
        "unicode",
        "e: name(x) == 'Ynys Môn — Anglesey'\n",
        "name(x) == 'Ynys Môn — Anglesey'",
        (1, 4),
    ),
    ("tab-in-block", "e: |\n  a\tb\n", "a\tb\n", (2, 3)),
    ("number", "e: 5\n", "5", (1, 4)),
    ("date", "e: 2011-04-01\n", "2011-04-01", (1, 4)),
    ("bool", "e: true\n", "true", (1, 4)),
    ("anchored", "e: &x !!str case.a\n", "case.a", (1, 13)),
    ("anchored-block", "e: &x |\n  a\n", "a\n", (2, 3)),
]


@pytest.mark.parametrize("use_c", LOADERS)
@pytest.mark.parametrize(("name", "text", "value", "first"), STYLES, ids=[s[0] for s in STYLES])
def test_each_style_maps_each_character(
    name: str,
    text: str,
    value: str,
    first: tuple[int, int],
    use_c: bool,
) -> None:
    e = exact(text, use_c=use_c)
    assert e.text == value
    assert e.positions[0] == first


@pytest.mark.parametrize("use_c", LOADERS)
def test_nested_indicator(use_c: bool) -> None:
    text = "k:\n  e: |2-\n      x\n     y\n"
    root = read_yaml(SourceFile("t.yaml", text), Diagnostics(), use_c=use_c)
    assert isinstance(root, YMap)
    inner = root.get("k")
    assert isinstance(inner, YMap)
    node = inner.get("e")
    assert isinstance(node, YScalar)
    e = embedded(node, SourceFile("t.yaml", text), LineIndex(text))
    assert e.text == "  x\n y"
    assert e.positions[2] == (3, 7)  # 'x'
    assert e.positions[5] == (4, 6)  # 'y'


def test_spans_point_inside_block_scalars() -> None:
    text = "e: |\n  case.person\n    and foo.pctt\n"
    e = exact(text)
    at = e.text.index("pctt")
    span = e.span(at, at + 4)
    assert (span.line, span.column, span.end_line, span.end_column) == (3, 13, 3, 17)


def test_escapes_map_to_the_backslash() -> None:
    e = exact('e: "x\\ty"\n')
    assert e.text == "x\ty"
    assert e.positions[1] == (1, 6)
    assert e.positions[2] == (1, 8)


def test_folded_line_maps_to_the_next_line() -> None:
    e = exact("e: >-\n  count(x)\n  == 1\n")
    assert e.positions[e.text.index("==")] == (3, 3)


def test_end_position_follows_the_last_character() -> None:
    e = exact("e: 'ab'\n")
    assert e.positions[-1] == (1, 7)
    assert e.whole.end_column == 7
