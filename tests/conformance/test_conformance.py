"""The conformance corpus (tests/conformance/*.yaml) through every evaluation path: each path
must give what each case wants, with no file from outside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from pctrules.evaluation.engine import Engine
from pctrules.evaluation.runtime import FUNCTIONS
from pctrules.language import ast
from pctrules.language.loader import HIT_POLICIES
from tests.conformance import runner

FILES = runner.all_files()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, tuple[runner.CorpusFile, Engine]]:
    return {}


def _engine(
    built: dict[Path, tuple[runner.CorpusFile, Engine]],
    file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[runner.CorpusFile, Engine]:
    if file not in built:
        corpus = runner.load(file)
        built[file] = corpus, runner.build(corpus, tmp_path_factory.mktemp("corpus"))
    return built[file]


@pytest.mark.parametrize("path", sorted(runner.PATHS))
@pytest.mark.parametrize("file", FILES, ids=lambda f: f.stem)
def test_every_case_through_every_path(
    file: Path,
    path: str,
    built: dict[Path, tuple[runner.CorpusFile, Engine]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    corpus, engine = _engine(built, file, tmp_path_factory)
    observed = runner.PATHS[path](engine, corpus.cases)
    problems = [
        f"{case.name}: {problem}"
        for case, seen in zip(corpus.cases, observed, strict=True)
        for problem in runner.mismatches(case, seen)
    ]
    assert not problems, "\n".join(problems)


def _corpus_nodes(
    built: dict[Path, tuple[runner.CorpusFile, Engine]], tmp_path_factory: pytest.TempPathFactory
) -> list[ast.Expr]:
    nodes: list[ast.Expr] = []
    for file in FILES:
        _, engine = _engine(built, file, tmp_path_factory)
        for d in engine.checked.decisions:
            roots = (
                [r.when for r in d.rules]
                + [d.default]
                + [d.subject.collection if d.subject else None]
            )
            for r in d.rules:
                roots.extend(r.then.values() if isinstance(r.then, dict) else [r.then])
            nodes.extend(n for root in roots if root is not None for n in ast.walk(root))
    return nodes


def test_the_corpus_has_every_construct_of_the_language(
    built: dict[Path, tuple[runner.CorpusFile, Engine]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A new expression node, operator, function or hit policy needs its conformance cases."""
    nodes = _corpus_nodes(built, tmp_path_factory)
    classes = {type(n) for n in nodes}
    every = {
        c
        for c in vars(ast).values()
        if isinstance(c, type) and issubclass(c, ast.Expr) and c is not ast.Expr
    }
    assert every - classes == set()
    ops = {n.op for n in nodes if isinstance(n, ast.Compare | ast.Arith | ast.BoolOp)}
    assert {"==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "and", "or"} <= ops
    assert {n.negated for n in nodes if isinstance(n, ast.Membership | ast.IsNone)} == {True, False}
    functions = {n.func for n in nodes if isinstance(n, ast.Call | ast.BinderCall | ast.Generator)}
    assert FUNCTIONS - functions == set()
    hits = {d.spec.hit.value for _, e in built.values() for d in e.checked.decisions}
    assert set(HIT_POLICIES) - hits == set()
