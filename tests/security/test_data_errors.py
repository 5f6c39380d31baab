"""Issue 9 items 4 and 5: no silent wrong answers from data.

Item 4: `--data DIR` (or PCTRULES_DATA) naming a folder that does not exist or holds no tables
was ignored, and every case decided as if no register were given: now a usage error (exit 2)
on every command. Item 5: a damaged data folder, or a bad row in the bundle's own tables, was
reported only by `graph`; every other command dropped the row and decided on what was left.
Now every command that loads data reports it at file:line:col and stops (exit 3); a warning
(a table changed since its import) is shown once, and the command goes on.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pctrules.resources import default_bundle_path
from tests.security.conftest import Run, assert_clean, replace, table

EPCMEM = (
    '"A81001","5NT","W","20020401","20130331","0"\n'
    '"A81002","5NT","W","20020401","20130331","0"\n'
    '"A81003","5NT","W","20020401","20130331","0"\n'
)
CASE = "{id: c1, date: 2011-09-01, person: {practice: A81001}}\n"
COMMANDS = ["check", "evaluate", "explain", "compile", "test", "graph", "batch"]


def _args(command: str, tmp: Path, *extra: str) -> list[str]:
    case = tmp / "case.yaml"
    case.write_text(CASE, encoding="utf-8")
    cases = tmp / "cases.csv"
    cases.write_text("id,date,person.practice\nc1,2011-09-01,A81001\n", encoding="utf-8")
    return {
        "check": ["check"],
        "evaluate": ["evaluate", str(case)],
        "explain": ["explain", str(case)],
        "compile": ["compile"],
        "test": ["test"],
        "graph": ["graph"],
        "batch": ["batch", str(cases), "--output", str(tmp / "out.csv")],
    }[command] + list(extra)


@pytest.fixture
def register(tmp_path: Path, run: Run) -> Path:
    """A data folder with a small practice register, imported as `pctrules import` does."""
    source = tmp_path / "epcmem.csv"
    source.write_text(EPCMEM, encoding="utf-8")
    data = tmp_path / "d"
    assert run("import", "ods-epcmem", str(source), "--into", str(data)).exit_code == 0
    return data


# -- item 4 ----------------------------------------------------------------------------------


def _folder(tmp: Path, name: str, files: dict[str, str]) -> Path:
    folder = tmp / name
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text, encoding="utf-8")
    return folder


def _file(tmp: Path) -> Path:
    path = tmp / "f.txt"
    path.write_text("x", encoding="utf-8")
    return path


FOLDERS: dict[str, Callable[[Path], Path]] = {
    "missing": lambda t: t / "nowhere",
    "a-file": _file,
    "no-manifest": lambda t: _folder(t, "e", {}),
    "no-tables": lambda t: _folder(
        t, "z", {"pctrules-data.json": '{"format": "pctrules-data/1", "imports": {}}'}
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("given", ["option", "environment"])
def test_a_data_folder_without_tables_is_a_usage_error(
    run: Run, tmp_path: Path, folder: str, command: str, given: str
) -> None:
    data = FOLDERS[folder](tmp_path)
    if given == "option":
        result = run(*_args(command, tmp_path, "--data", str(data)))
    else:
        result = run(*_args(command, tmp_path), env={"PCTRULES_DATA": str(data)})
    out = assert_clean(result, 2)
    assert f"the data folder '{data}'" in out
    assert "(from PCTRULES_DATA)" in out if given == "environment" else True
    assert "pctrules import" in out


# -- item 5 ----------------------------------------------------------------------------------


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def _edit(name: str, old: str, new: str) -> Callable[[Path], None]:
    return lambda d: replace(table(d, name), old, new)


DAMAGE: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # name: (how the folder is damaged, where it is reported, what is said)
    "bad-date": (
        _edit("ods-epcmem.part_of.csv", "A81001,5NT,2002-04-01", "A81001,5NT,2002-13-01"),
        ".csv:2:",
        "is not a date",
    ),
    "dangling-code": (
        _edit("ods-epcmem.part_of.csv", "A81002,5NT", "A81009,5NT"),
        ".csv:3:",
        "which no table defines",
    ),
    "overlap": (
        lambda d: _append(
            table(d, "ods-epcmem.part_of.csv"), "A81001,5QL,2010-01-01,2013-03-31,\n"
        ),
        ".csv:5:",
        "overlap",
    ),
    "not-a-table": (
        lambda d: table(d, "ods-epcmem.pcts.csv").write_bytes(b"PK\x03\x04\x00"),
        ".csv:1:1",
        "binary data",
    ),
    "not-utf8": (
        lambda d: table(d, "ods-epcmem.pcts.csv").write_bytes(b"code,name\n5\xe9T,x\n"),
        ".csv:2:2",
        "not UTF-8",
    ),
    "table-missing": (
        lambda d: table(d, "ods-epcmem.practices.csv").unlink(),
        "ods-epcmem.practices.",
        "does not exist",
    ),
    "manifest-damaged": (
        lambda d: (d / "pctrules-data.json").write_text("{not json"),
        "pctrules-data.json:1:2",
        "not valid JSON",
    ),
    # Found by the campaign: Python's json refuses these with errors of its own (a traceback).
    "manifest-huge-number": (
        lambda d: (d / "pctrules-data.json").write_text("9" * 5000),
        "pctrules-data.json:1:1",
        "a number too long",
    ),
    "manifest-too-deep": (
        lambda d: (d / "pctrules-data.json").write_text("[" * 100_000),
        "pctrules-data.json:1:1",
        "nested too deep",
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_data_folder_stops_every_command(
    run: Run, tmp_path: Path, register: Path, damage: str, command: str
) -> None:
    spoil, where, words = DAMAGE[damage]
    spoil(register)
    out = assert_clean(run(*_args(command, tmp_path, "--data", str(register))), 3)
    assert where in out and words in out
    assert not (tmp_path / "out.csv").exists()


@pytest.fixture
def england(tmp_path: Path) -> Path:
    copy = tmp_path / "england"
    shutil.copytree(default_bundle_path(), copy)
    return copy


BUNDLE_DAMAGE: dict[str, tuple[str, str, str, str, str]] = {
    # name: (table, text, replaced by, where it is reported, what is said)
    "bad-date": (
        "data/sha.csv",
        "Q30,NHS North East,E18000001,2006-07-01",
        "Q30,NHS North East,E18000001,2006-07-32",
        "data/sha.csv:6:",
        "is not a date",
    ),
    "dangling": (
        "data/managed-by.csv",
        "5NT,Q31",
        "5NT,Q99",
        "data/managed-by.csv:",
        "which no table defines",
    ),
    "constraint": ("data/managed-by.csv", "5NT,Q31", "5NT,Q30", "error[E-constraint]", "'SCG-Q30'"),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("damage", BUNDLE_DAMAGE)
def test_a_bad_row_in_the_bundle_own_tables_stops_every_command(
    run: Run, tmp_path: Path, england: Path, damage: str, command: str
) -> None:
    table, old, new, where, words = BUNDLE_DAMAGE[damage]
    replace(england / table, old, new)
    bundle = [str(england)] if command in ("check", "test") else ["--bundle", str(england)]
    out = assert_clean(run(*_args(command, tmp_path, *bundle)), 3)
    assert where in out and words in out


@pytest.mark.parametrize("command", ["evaluate", "explain", "compile", "batch", "graph"])
def test_a_table_changed_since_import_is_said_once_and_the_command_goes_on(
    run: Run, tmp_path: Path, register: Path, command: str
) -> None:
    _append(table(register, "ods-epcmem.practices.csv"), "A81099,2002-04-01,2013-03-31,by hand\n")
    out = assert_clean(run(*_args(command, tmp_path, "--data", str(register))), 0)
    assert out.count("has changed since 'pctrules import' wrote it") == 1


@pytest.mark.parametrize("mark", [b"", b"\xef\xbb\xbf"], ids=["plain", "byte-order mark"])
def test_a_table_that_is_not_utf8_is_named_at_the_byte(mark: bytes) -> None:
    # Found by the campaign: after a byte-order mark, the position of the bad byte was counted
    # from after the mark and the text before it cut from before: an internal error.
    from pctrules.graph.importers.tables import TableError, decode_text

    with pytest.raises(TableError) as refused:
        decode_text(mark + b"code\n|\xed\xa0\x80 :''\n")
    assert (refused.value.message, refused.value.line, refused.value.column) == (
        "the file is not UTF-8 text (byte 0xed)",
        2,
        2,
    )
