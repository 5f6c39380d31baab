"""Packs (bundle + data in one verified archive) and pickling an Engine or a Decider."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import cloudpickle
import pyarrow as pa
import pytest

from pctrules.bundle import open_bundle
from pctrules.columns import Decider, PackError
from pctrules.columns.pack import MANIFEST, unpack
from pctrules.evaluation.engine import Engine
from tests.columns import synthetic


@pytest.fixture(scope="module")
def rows(synthetic_data: tuple[Path, list[str]]) -> pa.Table:
    return pa.Table.from_pylist(
        synthetic.cases(2_000, synthetic_data[1], seed=3),
        schema=pa.schema([(c, pa.string()) for c in synthetic.COLUMNS]),
    )


def test_a_pack_gives_the_same_decider(decider: Decider, rows: pa.Table) -> None:
    pack = decider.pack()
    again = Decider.from_pack(pack)
    assert (again.engine.info.name, again.engine.info.version) == (
        decider.engine.info.name,
        decider.engine.info.version,
    )
    assert again.decide_arrow(rows).to_pylist() == decider.decide_arrow(rows).to_pylist()
    assert again.pack() == pack
    # Packed again from where it was unpacked: the same files, byte for byte.
    repacked = Decider(again.engine).pack()
    assert _files(repacked) == _files(pack) and len(_files(pack)) > 20


def _files(pack: bytes) -> dict[str, str]:
    files: dict[str, str] = json.loads(zipfile.ZipFile(io.BytesIO(pack)).read(MANIFEST))["files"]
    return files


def test_cloudpickle_round_trip_of_a_decider(
    synthetic_data: tuple[Path, list[str]], rows: pa.Table
) -> None:
    d = Decider.open(
        data=synthetic_data[0],
        decisions=["commissioner"],
        as_of="2010-06-01",
        params={"emergency_responsibility": "present"},
    )
    again = cloudpickle.loads(cloudpickle.dumps(d))
    assert (again.decisions, again.as_of, again.params) == (d.decisions, d.as_of, d.params)
    assert again.decide_arrow(rows).to_pylist() == d.decide_arrow(rows).to_pylist()


def test_cloudpickle_round_trip_of_an_engine(synthetic_data: tuple[Path, list[str]]) -> None:
    # An engine travels as its pack (the bundle and data files, verified when loaded).
    engine = Engine(open_bundle(None, synthetic_data[0]))
    again = cloudpickle.loads(cloudpickle.dumps(engine))
    case = {
        "id": "c",
        "date": "2011-09-01",
        "person": {"practice": synthetic_data[1][0]},
        "service": "SSNDS-06",
    }
    # (Digests and file names in traces name the folder the bundle was read from.)
    want = engine.evaluate(engine.validate_case(case, 1), trace=True)
    got = again.evaluate(again.validate_case(case, 1), trace=True)
    assert got.to_dict()["decisions"].keys() == want.to_dict()["decisions"].keys()
    for name, result in want.decisions.items():
        assert (got.decisions[name].value, got.decisions[name].rule) == (result.value, result.rule)
        assert [r.outcome for r in got.decisions[name].trace.rules] == [
            r.outcome for r in result.trace.rules
        ]


def _rewrite(pack: bytes, change: dict[str, bytes | None], manifest: bool = False) -> bytes:
    """The pack with entries replaced (None: removed), its manifest's sha256s left as they
    were unless `manifest`."""
    src = zipfile.ZipFile(io.BytesIO(pack))
    entries = {i.filename: src.read(i) for i in src.infolist()}
    for name, content in change.items():
        if content is None:
            entries.pop(name, None)
        else:
            entries[name] = content
    if manifest:
        m = json.loads(entries[MANIFEST])
        m["files"] = {k: hashlib.sha256(v).hexdigest() for k, v in entries.items() if k != MANIFEST}
        entries[MANIFEST] = json.dumps(m).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return out.getvalue()


def test_a_changed_file_is_refused(decider: Decider) -> None:
    pack = decider.pack()
    name = "bundle/england/responsible-pct.yaml"
    text = zipfile.ZipFile(io.BytesIO(pack)).read(name).replace(b'reason: "1"', b'reason: "2"')
    with pytest.raises(PackError, match="does not match its sha256"):
        Decider.from_pack(_rewrite(pack, {name: text}))


@pytest.mark.parametrize(
    "entry",
    [
        "../evil.yaml",
        "/etc/evil",
        "bundle/england/../../x",
        "elsewhere/x.csv",
        "bundle\\england\\x",
        "data/../../x",
    ],
)
def test_paths_leaving_the_pack_are_refused(decider: Decider, entry: str, tmp_path: Path) -> None:
    bad = _rewrite(decider.pack(), {entry: b"x"}, manifest=True)
    with pytest.raises(PackError, match=r"outside its folder|neither in"):
        unpack(bad, tmp_path / "into")
    assert not (tmp_path / "evil.yaml").exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data/extra.csv": b"x"}, "do not match its manifest"),
        ({"bundle/england/bundle.yaml": None}, "do not match its manifest"),
        ({MANIFEST: b"{"}, "cannot be read"),
        ({MANIFEST: None}, "has no 'pctrules-pack.json'"),
        ({MANIFEST: b'{"format": 9}'}, "not in format 1"),
    ],
)
def test_broken_packs_are_refused(
    decider: Decider, change: dict[str, bytes | None], message: str, tmp_path: Path
) -> None:
    with pytest.raises(PackError, match=message):
        unpack(_rewrite(decider.pack(), change), tmp_path)


def test_not_a_pack(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="not a pctrules pack"):
        unpack(b"hello", tmp_path)


def test_pctrules_pack_writes_a_pack_that_decides_alike(
    synthetic_data: tuple[Path, list[str]], decider: Decider, rows: pa.Table, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from pctrules import cli as cli_module

    cli_module._register()
    out = tmp_path / "england.pack"
    result = CliRunner(env={"PCTRULES_DATA": None}).invoke(
        cli_module.cli,
        ["pack", "--data", str(synthetic_data[0]), "--output", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("packed bundle 'england' 2011.1 with the data in ")
    assert result.output.rstrip().endswith(f"wrote '{out}'")
    again = Decider.from_pack(out.read_bytes())
    assert again.decide_arrow(rows).to_pylist() == decider.decide_arrow(rows).to_pylist()
    missing = CliRunner().invoke(cli_module.cli, ["pack", "-o", str(tmp_path / "no" / "x")])
    assert missing.exit_code == 2 and "the folder" in missing.output
