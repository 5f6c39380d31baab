"""Property tests: the loader only ever gives diagnostics, and position maps agree with PyYAML."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctrules.language.diagnostics import Diagnostics
from pctrules.language.loader import load_bundle
from pctrules.language.source import EmbeddedText, SourceFile
from pctrules.language.yamlsource.compose import LineIndex, read_yaml
from pctrules.language.yamlsource.nodes import YMap, YNode, YScalar, YSeq
from pctrules.language.yamlsource.offsets import scalar_offsets
from tests.loader.conftest import FIXTURES

# Text YAML can hold: printable characters, including the awkward ones for each style.
TEXT = st.text(
    st.one_of(
        st.sampled_from(list(" \t\n'\"\\:#-|>{}[],&*!%@`?é—")),
        st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]),
    ),
    max_size=60,
)
STYLES = st.sampled_from([None, "'", '"', "|", ">"])


def scalars(node: YNode) -> list[YScalar]:
    if isinstance(node, YScalar):
        return [node]
    if isinstance(node, YMap):
        return [s for k, v in node.items for s in (k, *scalars(v))]
    if isinstance(node, YSeq):
        return [s for v in node.items for s in scalars(v)]
    return []


def consistent(text: str, use_c: bool) -> None:
    diagnostics = Diagnostics()
    root = read_yaml(SourceFile("t.yaml", text), diagnostics, use_c=use_c)
    if root is None:
        assert diagnostics.has_errors
        return
    index = LineIndex(text)
    for node in scalars(root):
        value, offsets = scalar_offsets(node, index)
        assert value == node.value, (text, node.style)
        assert len(offsets) == len(value) + 1


@settings(max_examples=400, deadline=None)
@given(
    TEXT,
    STYLES,
    st.integers(min_value=10, max_value=80),
    st.booleans(),
    st.sampled_from(["\n", "\r\n"]),
    st.integers(0, 3),
)
def test_position_map_reproduces_each_style(
    value: str,
    style: str | None,
    width: int,
    use_c: bool,
    newline: str,
    depth: int,
) -> None:
    doc: object = {"e": value}
    for i in range(depth):
        doc = {f"k{i}": doc} if i % 2 else [doc]
    text = yaml.safe_dump(
        doc, default_style=style, width=width, allow_unicode=True, line_break=newline
    )
    consistent(text, use_c)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("ab: -'\"|>\n\t#&*[]{},?!%\\é")), max_size=120), st.booleans())
def test_yamlish_text_gives_nodes_or_diagnostics(text: str, use_c: bool) -> None:
    consistent(text, use_c)


GOOD = {p.name: p.read_text(encoding="utf-8") for p in (FIXTURES / "good").glob("*.yaml")}


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, str]:
    files = dict(GOOD)
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(sorted(files)))
        text = files[name]
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 12))
        insert = draw(st.text(st.sampled_from(list("ab:- '\"|>\n#&*[]{},\t0129é")), max_size=8))
        files[name] = text[:at] + insert + text[at + cut :]
    return files


def walk_texts(found: object) -> list[EmbeddedText]:
    if isinstance(found, EmbeddedText):
        return [found]
    if isinstance(found, dict):
        return [t for v in found.values() for t in walk_texts(v)]
    return []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_bundles_only_give_diagnostics(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        bundle, diagnostics = load_bundle(root, display_root="m")
    assert isinstance(diagnostics, Diagnostics)
    if bundle is None:
        return
    for decision in bundle.decisions:
        for rule in decision.rules:
            for e in [*walk_texts(rule.then), *walk_texts(rule.when)]:
                lines = e.source.text.splitlines() or [""]
                for line, column in e.positions[:-1]:
                    assert 1 <= line <= len(lines) + 1 and column >= 1
