"""Rendering diagnostics: snippet, underline, help, the cap and the summary line."""

from __future__ import annotations

from pctrules.language.diagnostics import Code, error, warning
from pctrules.language.source import SourceFile, Span
from pctrules.report import render_diagnostic, render_diagnostics, summary_line

SOURCE = SourceFile("p/d.yaml", "rules:\n\t- when: |\n      a.pctt\n      and b\n")


def test_underline_sits_under_the_span_even_after_tabs() -> None:
    d = error(Code.TYPE, "bad", Span(SOURCE, 2, 4, 2, 8), "fix it", "r")
    assert render_diagnostic(d) == (
        "p/d.yaml:2:4: error[E-type]: bad\n 2 | \t- when: |\n   | \t  ^^^^\n   = help: fix it"
    )


def test_a_span_over_several_lines_is_underlined_to_the_end_of_its_first() -> None:
    d = warning(Code.UNGUARDED_OPTIONAL, "long", Span(SOURCE, 3, 9, 4, 12))
    assert render_diagnostic(d).splitlines()[1:] == [" 3 |       a.pctt", "   |         ^^^^"]


def test_without_a_span_only_the_message() -> None:
    assert render_diagnostic(error(Code.TYPE, "no place", None, "try")) == (
        "error[E-type]: no place\n  = help: try"
    )


def test_the_report_is_capped() -> None:
    many = [error(Code.TYPE, f"problem {i}", Span(SOURCE, 3, 7, 3, 8)) for i in range(5)]
    text = render_diagnostics(many, limit=3)
    assert text.count("error[E-type]") == 3 and text.endswith("… and 2 more")


def test_summary_lines() -> None:
    counts = {"files": 7, "decisions": 6, "rules": 23}
    assert summary_line([], counts) == "ok: 7 files, 6 decisions, 23 rules checked, no problems"
    w = warning(Code.UNGUARDED_OPTIONAL, "w", Span(SOURCE, 1, 1, 1, 2))
    e = error(Code.TYPE, "e", Span(SOURCE, 2, 1, 2, 2))
    assert summary_line([w], counts) == "ok: 7 files, 6 decisions, 23 rules checked, 1 warning"
    assert summary_line([e, w], counts) == "1 error, 1 warning in 7 files"
