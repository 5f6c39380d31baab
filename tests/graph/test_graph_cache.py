"""The built graph is kept in the cache, as JSON, under a key of everything it is built from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pctrules.bundle import open_bundle
from pctrules.graph import cache as graphcache
from pctrules.graph.model import OrgGraph
from pctrules.language.diagnostics import error
from pctrules.resources import default_bundle_path


def _graph(bundle: Path) -> OrgGraph:
    return open_bundle(bundle).graph


def _same(a: OrgGraph, b: OrgGraph) -> None:
    assert a.digest == b.digest
    assert {
        c: (n.kind, n.name, n.valid_from, n.valid_to, n.attributes) for c, n in a.nodes.items()
    } == {c: (n.kind, n.name, n.valid_from, n.valid_to, n.attributes) for c, n in b.nodes.items()}
    assert a.edges == b.edges
    assert [d.message for d in a.diagnostics] == [d.message for d in b.diagnostics]


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(tmp_path / "cache"))
    copy = tmp_path / "england"
    shutil.copytree(default_bundle_path(), copy)
    return copy


def test_a_second_load_reads_the_same_graph_from_the_cache(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _graph(bundle)
    (kept,) = (bundle.parent / "cache").glob("graph-*.json")

    def no_build(*args: object, **kwargs: object) -> OrgGraph:
        raise AssertionError("the graph was built again instead of read from the cache")

    monkeypatch.setattr("pctrules.bundle.build_graph", no_build)
    loaded = _graph(bundle)
    assert loaded is not built
    _same(built, loaded)
    assert kept.exists()


def test_a_graph_with_load_errors_is_built_not_kept(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = open_bundle(bundle).graph
    broken.diagnostics.add(error("E-data", "a bad row"))
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(bundle.parent / "other-cache"))
    graph = graphcache.cached_graph(lambda: "k" * 32, broken.schema, lambda: broken)
    assert graph is broken
    assert not list((bundle.parent / "other-cache").glob("graph-*"))


def test_a_graph_whose_files_change_while_it_is_built_is_not_kept(bundle: Path) -> None:
    keys = iter(["a" * 32, "b" * 32])
    built = open_bundle(bundle).graph
    graphcache.cached_graph(lambda: next(keys), built.schema, lambda: built)
    assert not (bundle.parent / "cache" / f"graph-{'a' * 32}.json").exists()


def test_the_json_form_holds_the_whole_graph(bundle: Path) -> None:
    built = open_bundle(bundle).graph
    again = graphcache.graph_from_json(graphcache.graph_to_json(built), built.schema)
    assert again is not None
    _same(built, again)
    assert again.unavailable_kinds() == built.unavailable_kinds()
    assert again.sources == built.sources


def test_an_edited_table_builds_afresh(bundle: Path) -> None:
    before = _graph(bundle)
    table = bundle / "data" / "sha.csv"
    text = table.read_text(encoding="utf-8")
    table.write_text(text.replace("North East", "North-East", 1), encoding="utf-8")
    after = _graph(bundle)
    assert after.digest != before.digest
    assert len(list((bundle.parent / "cache").glob("graph-*.json"))) == 2


def test_a_damaged_cache_file_builds_afresh(bundle: Path) -> None:
    built = _graph(bundle)
    (kept,) = (bundle.parent / "cache").glob("graph-*.json")
    kept.write_bytes(b"not a graph")
    kept.chmod(0o600)
    _same(built, _graph(bundle))
    assert kept.read_bytes() != b"not a graph"


def test_no_cache_when_the_setting_is_empty(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCTRULES_CACHE_DIR", "")
    _graph(bundle)
    assert not (bundle.parent / "cache").exists()


def test_only_the_most_recent_graphs_are_kept(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graphcache, "KEEP", 2)
    table = bundle / "data" / "sha.csv"
    text = table.read_text(encoding="utf-8")
    for i in range(4):
        table.write_text(text.replace("North East", f"North East {i}", 1), encoding="utf-8")
        _graph(bundle)
    assert len(list((bundle.parent / "cache").glob("graph-*.json"))) == 2


def test_an_unreadable_data_folder_has_no_key(tmp_path: Path) -> None:
    bad = tmp_path / "data"
    bad.mkdir()
    (bad / "pctrules-data.json").write_text("{not json", encoding="utf-8")
    assert graphcache.graph_key(default_bundle_path(), [], bad) is None
