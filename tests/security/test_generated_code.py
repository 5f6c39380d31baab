"""Nothing from a bundle reaches the generated Python except as a `repr()` literal (issue 9
item 1): file and folder names, decision names, rule ids, titles, reasons and citations may hold
newlines, quotes and Python, and must change nothing but the text they are shown as.

The loader may refuse such names (name validation is its job); these tests make sure the code
generator is safe whatever names reach it, so they go through the loader where it lets the text
through and build the checked bundle by hand where it does not."""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import io
import json
import os
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctrules.bundle import Bundle, open_bundle
from pctrules.evaluation.compile import compile_bundle
from pctrules.evaluation.engine import Engine
from pctrules.graph.model import OrgGraph
from pctrules.language import ast
from pctrules.language.check.state import CheckedBundle, CheckedDecision, CheckedRule
from pctrules.language.diagnostics import PctrulesError
from pctrules.language.source import SourceFile, Span

# Python that, if it ever ran, leaves a mark: a global in builtins, or a file in the folder.
MARK = "PCTRULES_INJECTED"
PAYLOAD = f"__import__('builtins').__dict__.__setitem__('{MARK}', 1)"
FILE_PAYLOAD = "__import__('pathlib').Path('INJECTED').touch()"
# Positions were written into comments of the rule bodies, eight spaces in: the payload's line
# keeps that indentation so that it would compile.
INDENT = " " * 8

MANIFEST = """\
bundle: tiny
version: "1"
case:
  id: string
  date: date
  n: int?
schema:
  kinds:
    pct: {}
data:
  - {path: pct.csv, kind: pct}
"""

DECISION = """\
decision: {name}
title: {title}
rules:
  - id: {rule}
    reason: {reason}
    cite: {cite}
    when: case.n is not none and case.n > 1
    then: "'big'"
  - id: rest
    then: "'small'"
"""


def _bundle(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "bundle.yaml").write_text(MANIFEST, encoding="utf-8")
    (root / "pct.csv").write_text("code,name\nA,Alpha\n", encoding="utf-8")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def _plain_decision(name: str = "d", rule: str = "r1") -> str:
    text = DECISION.format(name=name, title="t", rule=rule, reason="R", cite="C")
    return text.replace("id: rest", f"id: {rule}-rest")


@pytest.fixture(autouse=True)
def _no_mark() -> None:
    builtins.__dict__.pop(MARK, None)


def _assert_no_code_ran(folder: Path | None = None) -> None:
    assert MARK not in builtins.__dict__, "text from the bundle ran as Python"
    if folder is not None:
        assert not (folder / "INJECTED").exists(), "text from the bundle ran as Python"


def _outside_strings(source: str) -> str:
    """The generated source with the text of every string literal left out."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    out, at = [], 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING:
            begin = starts[token.start[0] - 1] + token.start[1]
            out.append(source[at:begin])
            at = starts[token.end[0] - 1] + token.end[1]
    out.append(source[at:])
    return "".join(out)


def _payload_only_in_strings(source: str) -> None:
    # The payloads hold string literals of their own: look for their call, which the
    # generated module never makes.
    assert "__import__" not in _outside_strings(source), "a payload is outside a string literal"


# -- through the loader --------------------------------------------------------------------------


def test_a_decision_file_name_holding_python_runs_no_code(tmp_path: Path) -> None:
    name = f"d.yaml\n{INDENT}{PAYLOAD}\n{INDENT}#.yaml"
    root = _bundle(tmp_path / "b", {name: _plain_decision()})
    try:
        engine = Engine(open_bundle(root))
    except PctrulesError:  # the loader may refuse the name: then nothing was generated at all
        _assert_no_code_ran()
        return
    assert engine.evaluate({"date": "2011-01-01", "n": 2}).decisions["d"].value == "big"
    _payload_only_in_strings(engine.source())
    _assert_no_code_ran()


def test_a_bundle_folder_name_holding_python_runs_no_code(tmp_path: Path) -> None:
    root = _bundle(tmp_path / f"b\n{INDENT}{PAYLOAD}\n{INDENT}#", {"d.yaml": _plain_decision()})
    try:
        engine = Engine(open_bundle(root))
    except PctrulesError:
        _assert_no_code_ran()
        return
    assert engine.evaluate({"date": "2011-01-01", "n": 0}).decisions["d"].value == "small"
    _payload_only_in_strings(engine.source())
    _assert_no_code_ran()


@pytest.mark.parametrize("command", ["check", "evaluate", "compile"])
def test_the_cli_runs_no_code_from_a_file_name(tmp_path: Path, command: str) -> None:
    """The installed entry point, as a user runs it, in a folder where a mark would show."""
    name = f"d.yaml\n{INDENT}{FILE_PAYLOAD}\n{INDENT}#.yaml"
    root = _bundle(tmp_path / "b", {name: _plain_decision()})
    case = tmp_path / "case.yaml"
    case.write_text("id: c1\ndate: 2011-01-01\nn: 2\n", encoding="utf-8")
    args = {
        "check": ["check", "--bundle", str(root)],
        "evaluate": ["evaluate", "--bundle", str(root), str(case)],
        "compile": ["compile", "--bundle", str(root)],
    }[command]
    exe = Path(sys.executable).with_name("pctrules")
    result = subprocess.run(
        [str(exe), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PCTRULES_DATA": ""},
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    if command == "compile" and result.returncode == 0:
        _payload_only_in_strings(result.stdout)
    assert not (tmp_path / "INJECTED").exists(), "text from a file name ran as Python"


def test_a_bundle_title_with_triple_quotes_runs_no_code(tmp_path: Path) -> None:
    """The bundle's name went into the module docstring through repr(), which does not
    escape three double quotes."""
    root = _bundle(tmp_path / "b", {"d.yaml": _plain_decision()})
    name = json.dumps(f'x"""; {PAYLOAD}; """')  # JSON text is YAML too
    manifest = MANIFEST.replace("bundle: tiny", f"bundle: {name}")
    (root / "bundle.yaml").write_text(manifest, encoding="utf-8")
    try:
        engine = Engine(open_bundle(root))
    except PctrulesError:
        _assert_no_code_ran()
        return
    assert engine.evaluate({"date": "2011-01-01", "n": 0}).decisions["d"].value == "small"
    _assert_no_code_ran()


# -- names the code generator meets, whatever the loader lets through ----------------------------


def _checked(tmp_path: Path, files: dict[str, str]) -> CheckedBundle:
    return open_bundle(_bundle(tmp_path / "b", files)).checked


def _rename(
    d: CheckedDecision, name: str | None = None, rule_ids: dict[str, str] | None = None, **spec: Any
) -> CheckedDecision:
    rules = tuple(
        CheckedRule(
            dataclasses.replace(r.spec, id=(rule_ids or {}).get(r.spec.id, r.spec.id)),
            r.when,
            r.then,
        )
        for r in d.rules
    )
    new_spec = dataclasses.replace(d.spec, name=name or d.spec.name, **spec)
    return dataclasses.replace(d, spec=new_spec, rules=rules)


def _with(checked: CheckedBundle, *decisions: CheckedDecision) -> CheckedBundle:
    return dataclasses.replace(checked, decisions=decisions)


def _run(checked: CheckedBundle, graph: OrgGraph, case: dict[str, object]) -> dict[str, object]:
    """Each decision's (value, rule, outcome) from the module compiled for `checked`."""
    compiled = compile_bundle(checked)
    bound = compiled.bind(graph)
    values: dict[str, object] = {}
    out: dict[str, object] = {}
    fields = {"id": "c", "date": None, "n": None, **case}
    for d in compiled.decisions:
        r = bound.functions[d.name](fields, values, dt.date(2011, 1, 1), {})
        values[d.name] = r.value
        out[d.name] = (r.value, r.rule, r.outcome)
    return out


def test_a_decision_named_with_a_trailing_newline_is_its_own_function(tmp_path: Path) -> None:
    """'resp\\n' and 'resp_' were both compiled to `d_resp_`: the later replaced the earlier."""
    files = {
        "a.yaml": _plain_decision("resp_"),
        "b.yaml": _plain_decision("other", "r2").replace("'big'", "'other big'"),
    }
    bundle = open_bundle(_bundle(tmp_path / "b", files))
    checked = bundle.checked
    a, b = checked.decisions
    hostile = _with(checked, a, _rename(b, "resp\n"))
    out = _run(hostile, bundle.graph, {"n": 2})
    assert out == {"resp_": ("big", "r1", "matched"), "resp\n": ("other big", "r2", "matched")}


@pytest.mark.parametrize("rule_id", ["r1\n", "r1\nimport os", "r'1", 'r"""1', "r\\", "r1\r\x0c"])
def test_a_rule_id_of_any_text_compiles(tmp_path: Path, rule_id: str) -> None:
    bundle = open_bundle(_bundle(tmp_path / "b", {"d.yaml": _plain_decision()}))
    (d,) = bundle.checked.decisions
    hostile = _with(bundle.checked, _rename(d, rule_ids={"r1": rule_id}))
    assert _run(hostile, bundle.graph, {"n": 2}) == {"d": ("big", rule_id, "matched")}
    _assert_no_code_ran()


HOSTILE = st.lists(
    st.sampled_from([*"abc_'\"\\\n\r\x0c\x0b\x1c\x85\u2028 #{}()=;:.", PAYLOAD, '"""', "'''"]),
    max_size=12,
).map("".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=HOSTILE,
    rule=HOSTILE,
    title=HOSTILE,
    reason=HOSTILE,
    cite=HOSTILE,
    path=HOSTILE,
    bundle_name=HOSTILE,
)
def test_any_names_change_only_the_names(
    tmp_path: Path,
    name: str,
    rule: str,
    title: str,
    reason: str,
    cite: str,
    path: str,
    bundle_name: str,
) -> None:
    """Whatever text names a decision, a rule or a file, or titles and cites them, the module
    compiles, runs none of it, gives the same answers, and holds the texts only as literals."""
    bundle = _engine_bundle(tmp_path)
    (d,) = bundle.checked.decisions
    source = SourceFile(path, d.spec.source.text)
    renamed = _rename(
        d,
        name or "d",
        {"r1": rule or "r1"},
        title=title,
        source=source,
        name_span=_respan(d.spec.name_span, source),
    )
    renamed = dataclasses.replace(
        renamed,
        rules=tuple(
            CheckedRule(
                dataclasses.replace(
                    r.spec,
                    reason=reason if r.spec.reason else None,
                    cite=cite if r.spec.cite else None,
                    id_span=_respan(r.spec.id_span, source),
                    span=_respan(r.spec.span, source),
                ),
                r.when,
                r.then,
            )
            for r in renamed.rules
        ),
    )
    manifest = dataclasses.replace(bundle.checked.bundle.manifest, name=bundle_name)
    hostile = dataclasses.replace(
        _with(bundle.checked, renamed),
        bundle=dataclasses.replace(bundle.checked.bundle, manifest=manifest),
    )
    out = _run(hostile, bundle.graph, {"n": 2})
    assert out == {name or "d": ("big", rule or "r1", "matched")}
    # Only string literals differ from the module the plain names give.
    plain = _outside_strings(compile_bundle(bundle.checked).source)
    assert _outside_strings(compile_bundle(hostile).source) == plain
    _assert_no_code_ran()


_BUNDLES: dict[str, Bundle] = {}


def _engine_bundle(tmp_path: Path) -> Bundle:
    """One plain bundle for every example (hypothesis runs the test body many times)."""
    if "plain" not in _BUNDLES:
        _BUNDLES["plain"] = open_bundle(_bundle(tmp_path / "plain", {"d.yaml": _plain_decision()}))
    return _BUNDLES["plain"]


def _respan(span: Span, source: SourceFile) -> Span:
    return dataclasses.replace(span, source=source)


# -- organisation codes written in expressions ---------------------------------------------------


def test_a_code_literal_holding_python_runs_no_code(tmp_path: Path) -> None:
    """`pct('…')` puts text of the bundle's own into the generated module: only as repr()."""
    code = f"A'); {PAYLOAD}; ('"
    quoted = code.replace("\\", "\\\\").replace("'", "\\'")
    decision = _plain_decision().replace("then: \"'big'\"", f"then: |-\n      pct('{quoted}')")
    decision = decision.replace("decision: d", "decision: d\noutput: pct?").replace(
        "then: \"'small'\"", "then: none"
    )
    engine = Engine(open_bundle(_bundle(tmp_path / "b", {"d.yaml": decision})))
    result = engine.evaluate({"date": "2011-01-01", "n": 2}).decisions["d"]
    assert (result.value, result.rule) == (code, "r1")
    assert "__import__" in engine.source()
    _payload_only_in_strings(engine.source())
    _assert_no_code_ran()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(code=HOSTILE)
def test_a_code_literal_of_any_text_is_only_a_literal(tmp_path: Path, code: str) -> None:
    """Whatever text a code literal holds (the checker refuses line breaks: the generator must
    not rely on it), the module compiles, runs none of it and gives the code back."""
    bundle = _engine_bundle(tmp_path)
    (d,) = bundle.checked.decisions
    first = d.rules[0]
    assert isinstance(first.then, ast.Expr)
    span = first.then.span
    literal = ast.CodeLiteral("pct", code, span, span, span=span)
    hostile = _with(
        bundle.checked,
        dataclasses.replace(d, rules=(CheckedRule(first.spec, first.when, literal), *d.rules[1:])),
    )
    assert _run(hostile, bundle.graph, {"n": 2}) == {"d": (code, "r1", "matched")}
    plain = _outside_strings(compile_bundle(bundle.checked).source)
    assert _outside_strings(compile_bundle(hostile).source) == plain
    _assert_no_code_ran()
