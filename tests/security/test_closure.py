"""Issue 9 item 2: a bundle (and a data folder) is closed.

Every file a bundle names (`data:`, `decisions:`, `constraints:`, `tests:`, the files it finds
by itself, `bundle.yaml`) must lie inside its folder once links are followed; anything else is
an E-path error (exit 3) on every command, and the outside file is never read, so no message
quotes it. Pipes and devices are refused before they are opened (reading one may never end);
so is a data table over the size limit.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.security.conftest import Run, assert_clean, pctrules, replace, table

SECRET = "SECRET-LINE-42"
COMMANDS = {
    "check": ["check", "{b}"],
    "evaluate": ["evaluate", "--bundle", "{b}", "{case}"],
    "explain": ["explain", "--bundle", "{b}", "{case}"],
    "compile": ["compile", "--bundle", "{b}"],
    "test": ["test", "{b}"],
    "graph": ["graph", "--bundle", "{b}"],
    "batch": ["batch", "{cases}", "--output", "{out}", "--bundle", "{b}"],
}


def _args(command: str, tmp: Path, bundle: Path, case_file: Path, *extra: str) -> list[str]:
    cases = tmp / "cases.csv"
    cases.write_text("id,date,practice\nc1,2011-09-01,A1\n", encoding="utf-8")
    values = {
        "b": str(bundle),
        "case": str(case_file),
        "cases": str(cases),
        "out": str(tmp / "out.csv"),
    }
    return [a.format(**values) for a in COMMANDS[command]] + list(extra)


def _secret_csv(tmp: Path) -> Path:
    path = tmp / "outside" / "secret.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"{SECRET},x\n{SECRET},y\n", encoding="utf-8")
    return path


def _secret_yaml(tmp: Path) -> Path:
    path = tmp / "outside" / "secret.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f"decision: x\nrules:\n  - id: r\n    then: '{SECRET}'\n{SECRET}: [\n", encoding="utf-8"
    )
    return path


def _manifest(bundle: Path, line: str) -> None:
    with (bundle / "bundle.yaml").open("a", encoding="utf-8") as f:
        f.write(line + "\n")


Spoil = Callable[[Path, Path], None]

SPOILS: dict[str, Spoil] = {
    "data-absolute": lambda b, t: replace(b / "bundle.yaml", "data/pct.csv", str(_secret_csv(t))),
    "data-dotdot": lambda b, t: (
        _secret_csv(t),
        replace(b / "bundle.yaml", "data/pct.csv", "../outside/secret.csv"),
    ),
    "data-link": lambda b, t: (
        (b / "data" / "pct.csv").unlink(),
        (b / "data" / "pct.csv").symlink_to(_secret_csv(t)),
    ),
    "data-folder-link": lambda b, t: (
        _secret_csv(t),
        (b / "more").symlink_to(t / "outside"),
        replace(b / "bundle.yaml", "data/pct.csv", "more/secret.csv"),
    ),
    "decisions-dotdot": lambda b, t: (
        _secret_yaml(t),
        _manifest(b, "decisions: [pick.yaml, size.yaml, ../outside/secret.yaml]"),
    ),
    "decisions-glob": lambda b, t: (_secret_yaml(t), _manifest(b, "decisions: ['../*/*.yaml']")),
    "decisions-absolute-glob": lambda b, t: (
        _secret_yaml(t),
        _manifest(b, f"decisions: ['{t}/outside/*.yaml']"),
    ),
    "constraints-absolute": lambda b, t: _manifest(b, f"constraints: ['{_secret_yaml(t)}']"),
    "tests-dotdot": lambda b, t: (_secret_yaml(t), _manifest(b, "tests: ../outside")),
    "tests-link": lambda b, t: (_secret_yaml(t), (b / "tests").symlink_to(t / "outside")),
    "found-by-itself": lambda b, t: (b / "evil.yaml").symlink_to(_secret_yaml(t)),
    "manifest-link": lambda b, t: (
        (t / "outside").mkdir(),
        (t / "outside" / "bundle.yaml").write_bytes(
            (b / "bundle.yaml").read_bytes() + f"# {SECRET}\n".encode()
        ),
        (b / "bundle.yaml").unlink(),
        (b / "bundle.yaml").symlink_to(t / "outside" / "bundle.yaml"),
    ),
}


def _reads(spoil: str, command: str) -> bool:
    """Whether `command` looks where `spoil` points: `graph` reads only the manifest (whose
    `tests:` is checked by every command) and the data."""
    return command != "graph" or spoil.startswith(("data-", "manifest-", "tests-"))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("spoil", SPOILS)
def test_a_file_outside_the_bundle_is_refused_unread(
    run: Run, tmp_path: Path, bundle: Path, case_file: Path, spoil: str, command: str
) -> None:
    SPOILS[spoil](bundle, tmp_path)
    result = run(*_args(command, tmp_path, bundle, case_file))
    if _reads(spoil, command):
        out = assert_clean(result, 3)
        assert "error[E-path]" in out
        assert "outside the bundle folder" in out
    else:  # it does not look there at all
        out = assert_clean(result, 0)
    assert SECRET not in out


def _data_folder(tmp: Path, run: Run) -> Path:
    """A data folder as `pctrules import` writes it (a tiny epcmem file)."""
    source = tmp / "epcmem.csv"
    source.write_text("A81001,5NT,X,20020401,,\n", encoding="utf-8")
    data = tmp / "d"
    assert run("import", "ods-epcmem", str(source), "--into", str(data)).exit_code == 0
    return data


def _list_in_manifest(data: Path, path: str) -> None:
    manifest = data / "pctrules-data.json"
    text = manifest.read_text(encoding="utf-8")
    listed = f'"{table(data, "ods-epcmem.pcts.csv").name}"'
    manifest.write_text(text.replace(listed, f'"{path}"'), encoding="utf-8")


DATA_SPOILS: dict[str, Spoil] = {
    "manifest-dotdot": lambda d, t: (_secret_csv(t), _list_in_manifest(d, "../outside/secret.csv")),
    "manifest-absolute": lambda d, t: _list_in_manifest(d, str(_secret_csv(t))),
    "table-link": lambda d, t: (
        path := table(d, "ods-epcmem.pcts.csv"),
        path.unlink(),
        path.symlink_to(_secret_csv(t)),
    ),
}


@pytest.mark.parametrize("command", ["check", "evaluate", "graph", "batch"])
@pytest.mark.parametrize("spoil", DATA_SPOILS)
def test_a_data_folder_is_closed_too(
    run: Run, tmp_path: Path, case_file: Path, spoil: str, command: str
) -> None:
    data = _data_folder(tmp_path, run)
    DATA_SPOILS[spoil](data, tmp_path)
    england = ["--bundle", str(Path(__file__).parents[2] / "policies" / "england")]
    args = {
        "check": ["check"],
        "evaluate": ["evaluate", str(case_file)],
        "graph": ["graph"],
        "batch": _args("batch", tmp_path, Path("."), case_file)[:4],
    }[command]
    if command in ("evaluate", "batch"):
        args += england
        case_file.write_text(
            "{id: c1, date: 2011-09-01, person: {practice: A81001}}\n", encoding="utf-8"
        )
        (tmp_path / "cases.csv").write_text(
            "id,date,person.practice\nc1,2011-09-01,A81001\n", encoding="utf-8"
        )
    out = assert_clean(run(*args, "--data", str(data)), 3)
    assert "error[E-path]" in out and "outside the data folder" in out
    assert SECRET not in out


# -- pipes, devices and size -----------------------------------------------------------------


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


PIPES: dict[str, Spoil] = {
    "data-table": lambda b, t: _fifo(b / "data" / "pct.csv"),
    "decision-listed": lambda b, t: (
        _fifo(b / "pick.yaml"),
        _manifest(b, "decisions: [pick.yaml, size.yaml]"),
    ),
    "tests-file": lambda b, t: ((b / "tests").mkdir(), _fifo(b / "tests" / "t.yaml")),
    "layout-file": lambda b, t: (
        _fifo(b / "data" / "epcmem.csv"),
        replace(
            b / "bundle.yaml",
            "  - {path: data/part-of.csv, relation: part_of}",
            "  - {path: data/part-of.csv, relation: part_of}\n"
            "  - {path: data/epcmem.csv, layout: ods-epcmem}",
        ),
    ),
}


@pytest.mark.parametrize("command", ["check", "evaluate", "test", "graph"])
@pytest.mark.parametrize("where", PIPES)
def test_a_named_pipe_is_refused_not_read_forever(
    tmp_path: Path, bundle: Path, case_file: Path, where: str, command: str
) -> None:
    PIPES[where](bundle, tmp_path)
    # A process of its own, so that a reader stuck on the pipe shows as a timeout, not a hang.
    done = pctrules(*_args(command, tmp_path, bundle, case_file), cwd=tmp_path)
    # Only `test` and `check` read the tests' files; `graph` reads no decision file.
    if (where != "tests-file" or command in ("test", "check")) and (
        command != "graph" or where != "decision-listed"
    ):
        assert "is a named pipe, not a file" in assert_clean(done, 3)
    else:
        assert_clean(done, 0)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="making a device node needs root"
)
def test_a_device_in_the_bundle_is_refused_unopened(
    tmp_path: Path, bundle: Path, case_file: Path
) -> None:
    table = bundle / "data" / "pct.csv"
    table.unlink()
    os.mknod(table, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is
    done = pctrules(*_args("evaluate", tmp_path, bundle, case_file), cwd=tmp_path)
    assert "is a device, not a file" in assert_clean(done, 3)


def test_a_data_table_over_the_limit_is_refused(
    run: Run, bundle: Path, case_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pctrules.files.TABLE_BYTES", 60)
    out = assert_clean(run("evaluate", "--bundle", str(bundle), str(case_file)), 3)
    assert "error[E-limit]" in out and "more than the limit of 60" in out


def test_links_that_stay_inside_are_followed(run: Run, bundle: Path, case_file: Path) -> None:
    (bundle / "shared").symlink_to(bundle / "data")
    replace(bundle / "bundle.yaml", "data/pct.csv", "shared/pct.csv")
    out = assert_clean(run("evaluate", "--bundle", str(bundle), str(case_file)), 0)
    assert "pick = P1 First PCT" in out


def test_a_glob_never_takes_the_manifest_and_takes_each_file_once(
    run: Run, bundle: Path, case_file: Path
) -> None:
    (bundle / "d").mkdir()
    for name in ("pick.yaml", "size.yaml"):
        (bundle / name).rename(bundle / "d" / name)
    (bundle / "d" / "loop").symlink_to("..")  # a loop of links inside the bundle
    _manifest(bundle, "decisions: ['**/*.yaml']")
    out = assert_clean(run("check", str(bundle)), 0)
    assert "2 decisions" in out
