"""Property tests of `pctrules fmt`: for generated decision files (keys in any order, any
quoting, expressions spaced and broken anyhow, comments anywhere) formatting is idempotent,
keeps every comment, and changes nothing the bundle decides: `check` gives the same problems
and `evaluate` the same decisions before and after."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctrules.bundle import open_bundle, run_stages
from pctrules.evaluation.engine import Engine
from pctrules.language.diagnostics import Diagnostics
from pctrules.language.format import find_comments, format_source
from pctrules.language.source import SourceFile
from pctrules.language.yamlsource.compose import read_yaml

REPO = Path(__file__).resolve().parents[2]
ENGLAND = REPO / "policies" / "england"

# Conditions and results over the default bundle's schema (some with errors on purpose:
# formatting must keep the problems as they are, too).
WHENS = [
    "case.person.practice.pct is not none",
    "case.person.residence.covered_by is not none and case.date >= 2006-10-01",
    "case.service.category == 'specialised' or case.service.category == 'national'",
    "not (case.person.residence is none)",
    "count(responsible_pct.cluster.members) > 3",
    "any(m in responsible_pct.cluster.members: m.population > 100000)",
    "if case.service is none then true else case.service.emergency == true",
    "case.person.residence.covered_by.sha.ons_code in ['E18000006', 'E18000007']",
    "case.person.practise is not none",
    "responsible_pct.population > -1 * 2 + 3",
]
THENS = [
    "case.person.residence.covered_by",
    "responsible_pct",
    "case.purchaser",
    "only([p in responsible_pct.cluster.members: p.care_trust == true])",
    "none",
    "if case.purchaser is none then responsible_pct else case.purchaser",
]
CASES = [
    {"id": "a", "date": "2011-09-01", "person": {"residence": "E16000141"}},
    {"id": "b", "date": "2012-01-10", "person": {"residence": "E16000023"}, "service": "SSNDS-06"},
    {"id": "c", "date": "2004-05-01", "purchaser": "5QL"},
]
COMMENT = st.sampled_from(["# note", "# a: b", "#", "# 'quoted' \"text\"", "# - item"])


@st.composite
def respaced(draw: st.DrawFn, text: str) -> str:
    """The expression with random extra spaces around its operators and brackets."""
    out = []
    for ch in text:
        if ch in "()[],:" or (ch == " " and draw(st.booleans())):
            out.append(" " * draw(st.integers(0, 2)) + ch + " " * draw(st.integers(0, 2)))
        else:
            out.append(ch)
    return "".join(out).strip()


@st.composite
def value(draw: st.DrawFn, text: str, indent: int) -> str:
    """An expression written plain, quoted or as a block scalar."""
    if ": " in text or text.startswith(("[", "{")) or " #" in text:
        style = draw(st.sampled_from(["double", "block", "folded"]))
    else:
        style = draw(st.sampled_from(["plain", "double", "single", "block", "folded"]))
    pad = " " * (indent + 2)
    if style == "plain":
        return text
    if style == "double":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style == "single":
        return "'" + text.replace("'", "''") + "'"
    words = text.split(" ")
    cut = draw(st.integers(1, max(1, len(words))))
    lines = [" ".join(words[:cut]), " ".join(words[cut:])]
    header = ">-" if style == "folded" else "|-"
    if style == "block":
        return header + "\n" + pad + " ".join(words)
    return header + "\n" + "\n".join(pad + line for line in lines if line)


@st.composite
def decision_file(draw: st.DrawFn) -> str:
    rules = []
    n = draw(st.integers(1, 4))
    for i in range(n):
        fields: list[str] = [f"id: r{i}"]
        if draw(st.booleans()):
            fields.append(
                "title: "
                + draw(
                    st.sampled_from(["Plain title", '"A title: with a colon"', "'it''s quoted'"])
                )
            )
        if draw(st.booleans()):
            fields.append("reason: " + draw(st.sampled_from(["1", '"4"', "X-Y"])))
        if draw(st.booleans()):
            fields.append(draw(st.sampled_from(["tags: [a, b]", "tags:\n      - a\n      - b"])))
        if i < n - 1 or draw(st.booleans()):
            when = draw(respaced(draw(st.sampled_from(WHENS))))
            fields.append("when: " + draw(value(when, 4)))
        then = draw(respaced(draw(st.sampled_from(THENS))))
        fields.append("then: " + draw(value(then, 4)))
        order = draw(st.permutations(fields))
        lines = []
        for j, f in enumerate(order):
            comment = draw(st.none() | COMMENT)
            first, *rest = f.split("\n")
            if comment and not rest and not first.endswith(("-", "|", ">")):
                first += "  " + comment
            prefix = "  - " if j == 0 else "    "
            lines.append(prefix + first)
            lines += rest
            if draw(st.booleans()):
                lines.append("    " + draw(COMMENT))
        rules.append("\n".join(lines))
        if draw(st.booleans()):
            rules.append("")
    head = [
        "decision: generated",
        "output: pct?",
        "hit: first",
        "title: " + draw(st.sampled_from(["Generated", '"Generated: yes"'])),
    ]
    head = list(draw(st.permutations(head)))
    text = "\n".join([draw(COMMENT), *head, "rules:", *rules]) + "\n"
    return text


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fmt") / "england"
    shutil.copytree(ENGLAND, root)
    shutil.rmtree(root / "tests")
    return root


def _meaning(root: Path) -> tuple[object, object]:
    stages = run_stages(root)
    problems = sorted((d.code, d.message) for d in stages.diagnostics)
    if stages.diagnostics.has_errors:
        return problems, None
    engine = Engine(open_bundle(root))
    results = [engine.evaluate(engine.validate_case(c, 1), trace=False).to_dict() for c in CASES]
    for r in results:
        r.pop("bundle")  # its digest covers the file's text
    return problems, results


def _comments(text: str) -> list[str]:
    source = SourceFile("x.yaml", text)
    tree = read_yaml(source, Diagnostics())
    assert tree is not None
    return sorted(c.text for c in find_comments(tree, text))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=decision_file())
def test_formatting_keeps_meaning_and_comments_and_is_idempotent(
    bundle: Path,
    text: str,
) -> None:
    path = bundle / "generated.yaml"
    path.write_text(text)
    before = _meaning(bundle)
    formatted = format_source(SourceFile(str(path), text))
    assert format_source(SourceFile(str(path), formatted)) == formatted
    assert _comments(formatted) == _comments(text)
    path.write_text(formatted)
    assert _meaning(bundle) == before
