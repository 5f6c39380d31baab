"""The server's analysis and features never fail on half-typed text: hypothesis mutates the
files of a bundle (cut, doubled, deleted and inserted characters, hostile ones included) and
asks hover, definition and completion at positions all over the changed file."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctrules.lsp import features
from pctrules.lsp.analysis import Analysis
from tests.lsp.conftest import DATA, LARGE, MANIFEST, RESPONSIBLE, TESTS

FILES = {
    "bundle.yaml": MANIFEST,
    "responsible-pct.yaml": RESPONSIBLE,
    "large.yaml": LARGE,
    "tests/t.yaml": TESTS,
}
HOSTILE = st.sampled_from(
    [
        "",
        ":",
        "-",
        " ",
        "\n",
        "\t",
        "'",
        '"',
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ".",
        ",",
        "#",
        "&a",
        "*a",
        "!!int",
        ">-\n",
        "\x00",
        "\u2028",
        "case.",
        "any(x in ",
        "responsible_pct.",
        "\ufeff",
        "é",
        "😀",
    ]
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(FILES)))
    text = FILES[name]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        action = draw(st.sampled_from(["cut", "delete", "insert", "double"]))
        if action == "cut":
            text = text[:i]
        elif action == "delete":
            text = text[:i] + text[j:]
        elif action == "insert":
            text = text[:i] + draw(HOSTILE) + text[i:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return name, text


def _bundle(root: Path) -> None:
    (root / "tests").mkdir(parents=True, exist_ok=True)
    for name, text in {**FILES, **DATA}.items():
        (root / name).write_text(text)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    change=mutated(),
    probes=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 90)), min_size=1, max_size=12),
)
def test_features_never_fail_on_mutated_files(
    tmp_path: Path,
    change: tuple[str, str],
    probes: list[tuple[int, int]],
) -> None:
    root = tmp_path / "b"
    _bundle(root)
    name, text = change
    path = (root / name).resolve()
    analysis = Analysis(root.resolve(), {path: text}).run()
    assert all(d.span is None or d.span.path for d in analysis.diagnostics)
    lines = text.split("\n")
    for line, column in probes:
        line_text = lines[line - 1] if line <= len(lines) else ""
        features.hover(analysis, path, (line, column))
        features.definition(analysis, path, (line, column))
        features.completions(analysis, path, (line, column), line_text)
