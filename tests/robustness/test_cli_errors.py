"""Bad input to `check`, `graph` and `import` gets a clean message and its documented exit code.

Each case builds its input in a temporary folder, runs the real CLI (click's CliRunner, and a
subprocess for what only a real process shows), and asserts the exit code, that no traceback
or internal error is printed, and the words that name the file, the position and the value.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pctrules import cli as cli_module
from pctrules.resources import default_bundle_path

ENGLAND = default_bundle_path()
EPCMEM_ROWS = "A81001,5NT,X,20020401,,\nA81002,5NT,X,20020401,,\n"

Setup = Callable[[Path], None]


@pytest.fixture(scope="module")
def cli() -> click.Group:
    cli_module._register()
    return cli_module.cli


def _bundle(edit: Callable[[Path], None] | None = None) -> Setup:
    """A copy of the default bundle as 'b', changed by `edit`."""

    def setup(tmp: Path) -> None:
        shutil.copytree(ENGLAND, tmp / "b")
        if edit is not None:
            edit(tmp / "b")

    return setup


def _replace(relative: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} is not in {path}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return edit


def _files(contents: dict[str, str | bytes]) -> Setup:
    """Files in the temporary folder; a name ending in '/' is a folder."""

    def setup(tmp: Path) -> None:
        for name, content in contents.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith("/"):
                path.mkdir()
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")

    return setup


def _imported(edit: Callable[[Path], None] | None = None) -> Setup:
    """A data folder 'd' with a small register imported, changed by `edit`."""

    def setup(tmp: Path) -> None:
        (tmp / "epcmem.csv").write_text(EPCMEM_ROWS, encoding="utf-8")
        result = CliRunner().invoke(
            cli_module.cli,
            ["import", "ods-epcmem", str(tmp / "epcmem.csv"), "--into", str(tmp / "d")],
        )
        assert result.exit_code == 0, result.output
        if edit is not None:
            edit(tmp / "d")

    return setup


def _table(folder: Path, name: str) -> Path:
    """An imported table by its name without the digest ('ods-epcmem.pcts.csv' is written
    'ods-epcmem.pcts.<digest>.csv'), or any other file of the folder."""
    found = list(folder.glob(name.removesuffix(".csv") + ".*.csv"))
    return found[0] if len(found) == 1 else folder / name


def _write(relative: str, content: str | bytes) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = _table(root, relative)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return edit


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # '{tmp}' is the temporary folder
    code: int
    words: tuple[str, ...]  # each must appear in the output (stdout and stderr)
    setup: Setup | None = None
    env: tuple[tuple[str, str], ...] = ()


CASES = [
    # -- check: the bundle path --------------------------------------------------------------
    Case(
        "check-missing-folder",
        ("check", "{tmp}/nowhere"),
        3,
        ("E-missing-file", "'{tmp}/nowhere' does not exist"),
    ),
    Case(
        "check-a-file",
        ("check", "{tmp}/notes.txt"),
        3,
        ("'{tmp}/notes.txt' is a file, not a folder",),
        _files({"notes.txt": "x"}),
    ),
    Case(
        "check-the-manifest",
        ("check", "{tmp}/b/bundle.yaml"),
        3,
        ("is the manifest, not the bundle folder", "give the folder that holds it: '{tmp}/b'"),
        _bundle(),
    ),
    Case(
        "check-empty-folder",
        ("check", "{tmp}/e"),
        3,
        ("the manifest", "bundle.yaml' does not exist"),
        _files({"e/": ""}),
    ),
    Case(
        "check-manifest-is-a-folder",
        ("check", "{tmp}/e"),
        3,
        ("bundle.yaml' is not a file",),
        _files({"e/bundle.yaml/": ""}),
    ),
    Case(
        "check-binary-manifest",
        ("check", "{tmp}/e"),
        3,
        ("bundle.yaml:1:", "not UTF-8 text (byte 0xff)"),
        _files({"e/bundle.yaml": b"\xff\xfe\x00\x01" * 100}),
    ),
    Case(
        "check-latin1-manifest",
        ("check", "{tmp}/e"),
        3,
        ("bundle.yaml:1:12", "not UTF-8 text (byte 0xe9)"),
        _files({"e/bundle.yaml": b"bundle: caf\xe9\n"}),
    ),
    Case("check-format", ("check", "--format", "yaml"), 2, ("'yaml' is not one of",)),
    # -- check: data entries of bundle.yaml, at their line ------------------------------------
    Case(
        "check-data-file-missing",
        ("check", "{tmp}/b"),
        3,
        ("bundle.yaml:170:5", "the data file", "data/ncg.csv' does not exist"),
        _bundle(lambda root: (root / "data" / "ncg.csv").unlink()),
    ),
    Case(
        "check-data-file-is-a-folder",
        ("check", "{tmp}/b"),
        3,
        ("bundle.yaml:170:5", "data' is a folder"),
        _bundle(_replace("bundle.yaml", "{path: data/ncg.csv,", "{path: data,")),
    ),
    Case(
        "check-data-unknown-kind",
        ("check", "{tmp}/b"),
        3,
        ("bundle.yaml:170:5", "unknown kind 'ncgg'", "did you mean 'ncg'?"),
        _bundle(_replace("bundle.yaml", "kind: ncg}", "kind: ncgg}")),
    ),
    Case(
        "check-data-unknown-layout",
        ("check", "{tmp}/b"),
        3,
        ("bundle.yaml:170:5", "unknown layout 'ods-epcmen'", "did you mean 'ods-epcmem'?"),
        _bundle(_replace("bundle.yaml", "kind: ncg}", "layout: ods-epcmen}")),
    ),
    Case(
        "check-data-kind-and-relation",
        ("check", "{tmp}/b"),
        3,
        ("bundle.yaml:170:5", "has both a 'kind' and a 'relation'"),
        _bundle(_replace("bundle.yaml", "kind: ncg}", "kind: ncg, relation: covers}")),
    ),
    Case(
        "check-schema-unknown-kind-in-relation",
        ("check", "{tmp}/b"),
        3,
        ("bundle.yaml:105:29", "unknown kind 'scgg'", "did you mean 'scg'?"),
        _bundle(
            _replace("bundle.yaml", "in_scg: {from: pct, to: scg,", "in_scg: {from: pct, to: scgg,")
        ),
    ),
    Case(
        "check-crlf-bundle",
        ("check", "{tmp}/b"),
        0,
        ("no problems",),
        _bundle(
            lambda root: [
                p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n")) for p in root.glob("*.yaml")
            ]
        ),
    ),
    # -- graph: the bundle, options --------------------------------------------------------
    Case(
        "graph-missing-bundle",
        ("graph", "--bundle", "{tmp}/nowhere"),
        3,
        ("E-missing-file", "'{tmp}/nowhere' does not exist"),
    ),
    Case(
        "graph-empty-bundle",
        ("graph", "--bundle", "{tmp}/e"),
        3,
        ("bundle.yaml' does not exist",),
        _files({"e/": ""}),
    ),
    Case(
        "graph-bundle-a-file",
        ("graph", "--bundle", "{tmp}/notes.txt"),
        2,
        ("'{tmp}/notes.txt' is a file",),
        _files({"notes.txt": "x"}),
    ),
    Case(
        "graph-data-not-a-list",
        ("graph", "--bundle", "{tmp}/b"),
        3,
        ("bundle.yaml:160:7", "'data' must be a list"),
        _bundle(_replace("bundle.yaml", "data:\n", "data: 5\nold_data:\n")),
    ),
    Case(
        "graph-data-entry-without-path",
        ("graph", "--bundle", "{tmp}/b"),
        3,
        ("bundle.yaml:170:5", "missing the required key 'path'"),
        _bundle(_replace("bundle.yaml", "{path: data/ncg.csv, kind: ncg}", "{kind: ncg}")),
    ),
    Case(
        "graph-data-file-is-a-folder",
        ("graph", "--bundle", "{tmp}/b"),
        3,
        ("bundle.yaml:170:5", "data' is a folder"),
        _bundle(_replace("bundle.yaml", "{path: data/ncg.csv,", "{path: data,")),
    ),
    Case(
        "graph-as-of-not-a-date",
        ("graph", "--as-of", "2011-02-30"),
        2,
        ("'2011-02-30' is not a date", "YYYY-MM-DD"),
    ),
    Case(
        "graph-as-of-outside-bundle",
        ("graph", "--as-of", "1990-01-01"),
        0,
        (
            "england/bundle.yaml:5:1",
            "warning[W-effective-range]",
            "1990-01-01 is outside the dates the bundle speaks for (2002-04-01 to 2013-03-31)",
        ),
    ),
    Case(
        "graph-focus-case",
        ("graph", "--focus", "5nt"),
        2,
        ("unknown organisation '5nt'", "did you mean '5NT'?"),
    ),
    Case(
        "graph-focus-near-miss",
        ("graph", "--focus", "CL-HUMBR"),
        2,
        ("unknown organisation 'CL-HUMBR'", "did you mean 'CL-HUMBER'?"),
    ),
    Case("graph-depth-negative", ("graph", "--depth", "-1"), 2, ("-1 is not in the range",)),
    Case("graph-format", ("graph", "--format", "bogus"), 2, ("'bogus' is not one of",)),
    Case(
        "graph-output-in-missing-folder",
        ("graph", "-o", "{tmp}/nowhere/g.txt"),
        2,
        ("cannot write '{tmp}/nowhere/g.txt': no such file or directory",),
    ),
    Case(
        "graph-output-a-folder",
        ("graph", "-o", "{tmp}/e"),
        2,
        ("'{tmp}/e' is a directory",),
        _files({"e/": ""}),
    ),
    # -- graph: the data folder ----------------------------------------------------------
    Case(
        "data-env-nowhere",
        ("graph",),
        2,
        ("the data folder '{tmp}/nowhere' (from PCTRULES_DATA) does not exist",),
        env=(("PCTRULES_DATA", "{tmp}/nowhere"),),
    ),
    Case(
        "data-env-no-manifest",
        ("graph",),
        2,
        (
            "the data folder '{tmp}/e' (from PCTRULES_DATA) holds no imported tables",
            "pctrules-data.json",
        ),
        _files({"e/": ""}),
        (("PCTRULES_DATA", "{tmp}/e"),),
    ),
    Case(
        "data-a-file",
        ("graph", "--data", "{tmp}/notes.txt"),
        2,
        ("'{tmp}/notes.txt' is a file, not a folder",),
        _files({"notes.txt": "x"}),
    ),
    Case(
        "data-manifest-not-json",
        ("graph", "--data", "{tmp}/d"),
        3,
        ("d/pctrules-data.json:1:2", "is not valid JSON", "damaged"),
        _imported(_write("pctrules-data.json", "{not json")),
    ),
    Case(
        "data-manifest-wrong-shape",
        ("graph", "--data", "{tmp}/d"),
        3,
        ("d/pctrules-data.json:1:1", "does not list imports"),
        _imported(
            _write(
                "pctrules-data.json",
                json.dumps({"imports": {"ods-epcmem": {"tables": [{"rows": 1}]}}}),
            )
        ),
    ),
    Case(
        "data-table-edited",
        ("graph", "--data", "{tmp}/d"),
        0,
        (
            "warning[W-data]",
            "ods-epcmem.part_of.",
            "has changed since 'pctrules import'",
            "--into {tmp}/d",
        ),
        _imported(
            lambda d: _table(d, "ods-epcmem.part_of.csv").write_text(
                _table(d, "ods-epcmem.part_of.csv").read_text().replace("epcmem.csv:", "by hand:")
            )
        ),
    ),
    Case(
        "data-table-missing",
        ("graph", "--data", "{tmp}/d"),
        3,
        ("ods-epcmem.practices.", ".csv' does not exist", "re-run 'pctrules import'"),
        _imported(lambda d: _table(d, "ods-epcmem.practices.csv").unlink()),
    ),
    Case(
        "data-table-is-a-folder",
        ("graph", "--data", "{tmp}/d"),
        3,
        ("ods-epcmem.practices.", ".csv:1:1", "is a folder, not a file"),
        _imported(
            lambda d: (path := _table(d, "ods-epcmem.practices.csv"), path.unlink(), path.mkdir())
        ),
    ),
    Case(
        "data-table-not-utf8",
        ("graph", "--data", "{tmp}/d"),
        3,
        ("ods-epcmem.pcts.", ".csv:2:2", "not UTF-8 text (byte 0xe9)"),
        _imported(_write("ods-epcmem.pcts.csv", b"code,name\n5\xe9T,x\n")),
    ),
    Case(
        "data-table-binary",
        ("graph", "--data", "{tmp}/d"),
        3,
        ("ods-epcmem.pcts.", ".csv:1:1", "holds binary data", "unzip"),
        _imported(_write("ods-epcmem.pcts.csv", b"PK\x03\x04\x00\x00")),
    ),
    Case(
        "data-table-huge-field",
        ("graph", "--data", "{tmp}/d"),
        3,
        ("ods-epcmem.pcts.", ".csv:2:1", "field larger than field limit"),
        _imported(_write("ods-epcmem.pcts.csv", "code\n" + "A" * 200_000 + "\n")),
    ),
    # -- import -----------------------------------------------------------------------------
    Case(
        "import-layout-near-miss",
        ("import", "ods-epcmen", "{tmp}/x.csv", "--into", "{tmp}/d"),
        2,
        ("'ods-epcmen' is not one of", "ods-epcmem"),
        _files({"x.csv": "a\n"}),
    ),
    Case(
        "import-missing-file",
        ("import", "ods-epcmem", "{tmp}/x.csv", "--into", "{tmp}/d"),
        2,
        ("'{tmp}/x.csv' does not exist",),
    ),
    Case(
        "import-a-folder",
        ("import", "ods-epcmem", "{tmp}/e", "--into", "{tmp}/d"),
        2,
        ("'{tmp}/e' is a directory",),
        _files({"e/": ""}),
    ),
    Case(
        "import-into-a-file",
        ("import", "ods-epcmem", "{tmp}/x.csv", "--into", "{tmp}/x.csv"),
        2,
        ("'{tmp}/x.csv' is a file",),
        _files({"x.csv": EPCMEM_ROWS}),
    ),
    Case(
        "import-into-under-a-file",
        ("import", "ods-epcmem", "{tmp}/x.csv", "--into", "{tmp}/x.csv/d"),
        2,
        ("cannot write into '{tmp}/x.csv/d'", "not a directory"),
        _files({"x.csv": EPCMEM_ROWS}),
    ),
    Case(
        "import-empty-file",
        ("import", "ods-epcmem", "{tmp}/x.csv", "--into", "{tmp}/d"),
        3,
        ("the file 'x.csv' is empty",),
        _files({"x.csv": ""}),
    ),
    Case(
        "import-zip",
        ("import", "ods-epcmem", "{tmp}/x.zip", "--into", "{tmp}/d"),
        3,
        ("x.zip:1:1", "holds binary data", "unzip"),
        _files({"x.zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00"}),
    ),
    Case(
        "import-huge-field",
        ("import", "ods-epcmem", "{tmp}/x.csv", "--into", "{tmp}/d"),
        3,
        ("x.csv:1:1", "field larger than field limit"),
        _files({"x.csv": "A" * 200_000 + ",5NT,X,20020401,,\n"}),
    ),
    Case(
        "import-other-layout",
        ("import", "ods-epcmem", "{tmp}/x.csv", "--into", "{tmp}/d"),
        3,
        (
            "no row of 'x.csv' fits the ods-epcmem layout (2 rejected)",
            "row 1 column 2: unknown parent 'THE DENSHAM SURGERY'",
        ),
        _files(
            {
                "x.csv": '"A81001","THE DENSHAM SURGERY","Y63","Q74","","LAWSON STREET"\n'
                '"A81002","QUEENS PARK","Y63","Q74","","FARRER STREET"\n'
            }
        ),
    ),
    Case(
        "import-header-only",
        ("import", "ons-pco-sha", "{tmp}/x.csv", "--into", "{tmp}/d"),
        3,
        ("no row of 'x.csv' fits the ons-pco-sha layout", "the header lacks 'PCO12CDO'"),
        _files({"x.csv": "PCO12CD,x\n"}),
    ),
    Case(
        "import-into-damaged-folder",
        ("import", "ods-epcmem", "{tmp}/epcmem.csv", "--into", "{tmp}/d"),
        3,
        ("d/pctrules-data.json:1:1", "is not valid JSON"),
        _imported(_write("pctrules-data.json", "]")),
    ),
    Case(
        "import-bom-crlf",
        ("import", "ods-epcmem", "{tmp}/x.csv", "--into", "{tmp}/d"),
        0,
        ("read 2 rows of 'x.csv': kept 2, rejected 0",),
        _files({"x.csv": ("\ufeff" + EPCMEM_ROWS.replace("\n", "\r\n")).encode()}),
    ),
]


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_reported_cleanly(
    cli: click.Group,
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if case.setup is not None:
        case.setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    env = {"PCTRULES_DATA": None} | {k: _fill(v, tmp_path) for k, v in case.env}
    result = CliRunner(env=env).invoke(cli, [_fill(a, tmp_path) for a in case.args])
    output = result.output
    assert result.exit_code == case.code, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert "Traceback" not in output and "internal error" not in output, output
    for words in case.words:
        assert _fill(words, tmp_path) in output, output


def test_import_refused_leaves_the_folder_as_it_was(cli: click.Group, tmp_path: Path) -> None:
    _imported()(tmp_path)
    before = {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()}
    (tmp_path / "other.csv").write_text("A81001,THE DENSHAM SURGERY,Y63,Q74,,\n")
    result = CliRunner().invoke(
        cli, ["import", "ods-epcmem", str(tmp_path / "other.csv"), "--into", str(tmp_path / "d")]
    )
    assert result.exit_code == 3, result.output
    assert {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()} == before


def test_a_closed_pipe_is_not_an_internal_error() -> None:
    # Only a real process has a pipe that its reader closes (`pctrules graph | head -c 1`);
    # the JSON graph is larger than a pipe's buffer, so the writer meets the closed end.
    reader = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    writer = subprocess.run(
        [sys.executable, "-m", "pctrules", "graph", "--format", "json"],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=120,
    )
    assert reader.stdin is not None
    reader.stdin.close()
    reader.wait(timeout=10)
    assert "internal error" not in writer.stderr and "Traceback" not in writer.stderr
    assert writer.returncode in (0, 1), writer.stderr
