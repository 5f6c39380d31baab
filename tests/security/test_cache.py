"""Issue 9 item 3: the cache cannot be used to run code or to change answers.

Each test fills a cache folder by running pctrules, then plays the stranger: plants code, or a
graph with a changed answer, the way an attacker would (under the names and keys pctrules uses,
as a pickle and as the current JSON form, with a correct header), and runs pctrules again."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import pytest

from pctrules.graph import cache as graphcache
from pctrules.privatecache import FORMAT
from tests.security.conftest import Run, assert_clean, pctrules

root_only = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="giving a file to another user needs root",
)


class _Payload:
    """Unpickling this runs code: it writes the file `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch '{self.marker}'",))


def _framed(key: str, payload: bytes) -> bytes:
    digest = hashlib.sha256(payload).hexdigest()
    return (
        b" ".join([FORMAT, key.encode(), digest.encode(), str(len(payload)).encode()])
        + b"\n"
        + payload
    )


def _key_of(name: str) -> str:
    return name.split("-", 1)[1].split(".", 1)[0]


def _fill(cache: Path, bundle: Path, case_file: Path) -> None:
    done = pctrules(
        "evaluate",
        "--bundle",
        str(bundle),
        str(case_file),
        env={"PCTRULES_CACHE_DIR": str(cache)},
        cwd=bundle.parent,
    )
    assert done.returncode == 0, done.stderr
    assert any(cache.iterdir())


def test_a_planted_pickle_never_runs(tmp_path: Path, bundle: Path, case_file: Path) -> None:
    cache, marker = tmp_path / "cache", tmp_path / "ran"
    _fill(cache, bundle, case_file)
    code = pickle.dumps(_Payload(marker))
    for kept in list(cache.iterdir()):
        # As a bare pickle, and framed as pctrules frames its files: neither may run.
        kept.write_bytes(_framed(_key_of(kept.name), code))
        (cache / (kept.stem + ".pickle")).write_bytes(code)
        (cache / (kept.stem + ".lark")).write_bytes(code)
    for path in cache.iterdir():
        path.chmod(0o600)
    done = pctrules(
        "evaluate",
        "--bundle",
        str(bundle),
        str(case_file),
        env={"PCTRULES_CACHE_DIR": str(cache)},
        cwd=bundle.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "pick = P1 First PCT" in done.stdout
    assert not marker.exists()


def _plant_changed_graph(cache: Path, bundle: Path, run: Run, case_file: Path) -> None:
    """A graph in which practice A1 is part of P2, not P1, under the key pctrules asks for."""
    from pctrules.bundle import open_bundle

    opened = open_bundle(bundle)
    entries = [e.as_mapping() for e in opened.policy.manifest.data]
    key = graphcache.graph_key(bundle, entries, None)
    assert key is not None
    graph = opened.graph
    graph.edges = [
        e
        if (e.from_, e.to) != ("A1", "P1")
        else type(e)(e.from_, e.rel, "P2", e.valid_from, e.valid_to, e.source, e.attributes)
        for e in graph.edges
    ]
    cache.mkdir(exist_ok=True)
    for old in cache.iterdir():
        old.unlink()
    # The pickle is what pctrules kept before it kept JSON: planted too, so that these tests
    # show the old cache changing the answer.
    (cache / f"graph-{key}.pickle").write_bytes(pickle.dumps(graph))
    to_json = getattr(graphcache, "graph_to_json", None)
    if to_json is not None:
        document = to_json(graph)
        assert b'"P2"' in document
        (cache / f"graph-{key}.json").write_bytes(_framed(key, document))


def test_a_graph_planted_in_a_folder_others_can_write_is_not_used(
    tmp_path: Path, bundle: Path, run: Run, case_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "shared-cache"
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)
    _plant_changed_graph(cache, bundle, run, case_file)
    cache.chmod(0o777)  # a folder a stranger can write to
    result = run(
        "evaluate", "--bundle", str(bundle), str(case_file), env={"PCTRULES_CACHE_DIR": str(cache)}
    )
    out = assert_clean(result, 0)
    assert "pick = P1 First PCT" in out
    assert "it is now private to you, and what it held is dropped" in out
    assert cache.stat().st_mode & 0o777 == 0o700


def test_a_cache_file_others_can_write_is_not_used(
    tmp_path: Path, bundle: Path, run: Run, case_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)
    _plant_changed_graph(cache, bundle, run, case_file)
    cache.chmod(0o700)
    for path in cache.iterdir():
        path.chmod(0o666)
    result = run(
        "evaluate", "--bundle", str(bundle), str(case_file), env={"PCTRULES_CACHE_DIR": str(cache)}
    )
    assert "pick = P1 First PCT" in assert_clean(result, 0)


@root_only
def test_a_cache_file_of_another_user_is_not_used(
    tmp_path: Path, bundle: Path, run: Run, case_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)
    _plant_changed_graph(cache, bundle, run, case_file)
    cache.chmod(0o700)
    for path in cache.iterdir():
        path.chmod(0o600)
        os.chown(path, 65534, 65534)
    result = run(
        "evaluate", "--bundle", str(bundle), str(case_file), env={"PCTRULES_CACHE_DIR": str(cache)}
    )
    assert "pick = P1 First PCT" in assert_clean(result, 0)


@root_only
def test_a_cache_folder_of_another_user_is_not_used(
    tmp_path: Path, bundle: Path, run: Run, case_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)
    _plant_changed_graph(cache, bundle, run, case_file)
    cache.chmod(0o700)
    os.chown(cache, 65534, 65534)
    result = run(
        "evaluate", "--bundle", str(bundle), str(case_file), env={"PCTRULES_CACHE_DIR": str(cache)}
    )
    assert "pick = P1 First PCT" in assert_clean(result, 0)


def test_a_file_renamed_from_another_key_or_damaged_is_not_used(
    tmp_path: Path, bundle: Path, run: Run, case_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)
    _plant_changed_graph(cache, bundle, run, case_file)
    cache.chmod(0o700)
    (planted,) = cache.glob("graph-*.json") or cache.glob("graph-*.pickle")
    header, _, payload = planted.read_bytes().partition(b"\n")
    for changed in (
        header.replace(b" ", b" 0", 1) + b"\n" + payload,  # another key
        header + b"\n" + payload.replace(b'"P2"', b'"P1"', 1) + b" ",
    ):  # edited
        planted.write_bytes(changed)
        planted.chmod(0o600)
        result = run(
            "evaluate",
            "--bundle",
            str(bundle),
            str(case_file),
            env={"PCTRULES_CACHE_DIR": str(cache)},
        )
        assert "pick = P1 First PCT" in assert_clean(result, 0)
        _plant_changed_graph(cache, bundle, run, case_file)


def test_a_link_planted_as_a_cache_file_is_not_followed(
    tmp_path: Path, bundle: Path, run: Run, case_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PCTRULES_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)
    _plant_changed_graph(cache, bundle, run, case_file)
    (planted,) = cache.glob("graph-*.json") or cache.glob("graph-*.pickle")
    elsewhere = tmp_path / "elsewhere.json"
    planted.rename(elsewhere)
    planted.symlink_to(elsewhere)
    cache.chmod(0o700)
    result = run(
        "evaluate", "--bundle", str(bundle), str(case_file), env={"PCTRULES_CACHE_DIR": str(cache)}
    )
    assert "pick = P1 First PCT" in assert_clean(result, 0)


def test_the_cache_folder_is_created_private_and_files_are_json(
    tmp_path: Path, bundle: Path, case_file: Path
) -> None:
    cache = tmp_path / "new" / "cache"
    old = os.umask(0o022)
    try:
        _fill(cache, bundle, case_file)
    finally:
        os.umask(old)
    assert cache.stat().st_mode & 0o777 == 0o700
    for path in cache.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
        header, _, payload = path.read_bytes().partition(b"\n")
        assert header.startswith(FORMAT + b" ")
        json.loads(payload)  # data, not code
