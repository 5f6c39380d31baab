"""Case files (issue 9, items 17–19): bad input exits 5 with a message, never 1; values stay as
written unless their field's type says otherwise; each key once; ISO dates only; libyaml where
installed, with the same bounds as PyYAML's own parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pctrules.commands import case_files
from tests.batch.conftest import pctrules

resource = pytest.importorskip("resource", reason="POSIX: resource limits")

RESIDENT = "person: {residence: E16000141}"  # Somerset: 5QL, with no register needed

PARSERS = ["libyaml", "python"] if yaml.__with_libyaml__ else ["python"]


@pytest.fixture(params=PARSERS)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs with libyaml's parser (when installed) and with PyYAML's own."""
    if request.param == "python":
        monkeypatch.setattr(case_files, "_EventParser", yaml.SafeLoader)
    return str(request.param)


def _evaluate(path: Path, *options: str) -> tuple[int, str, str]:
    result = pctrules("evaluate", str(path), "--decision", "responsible_pct", *options)
    return result.exit_code, result.stdout, result.stderr


DEEP_FLOW = "[" * 400 + "]" * 400
DEEP_BLOCK = "".join(" " * i + "- \n" for i in range(0, 800, 2))

HOSTILE_YAML = {
    # name: (text, message fragment)
    "timestamp": (
        "id: a\ndate: !!timestamp 2011-02-30\n",
        "field 'date' is '2011-02-30', but must be a real date",
    ),
    "int-tag": (
        f"id: a\ndate: 2011-09-01\n{RESIDENT}\nx: !!int abc\n",
        ":4:4: error[E-case]: 'abc' is not a whole number, as its tag '!!int' requires",
    ),
    "long-int-tag": (f"id: a\nx: !!int {'1' * 5000}\n", "is not a whole number"),
    "long-int": (f"id: a\ndate: 2011-09-01\nx: {'1' * 5000}\n", "unknown field 'x'"),
    "float-tag": ("id: a\nx: !!float 1e999\n", "is not a number, as its tag '!!float'"),
    "python-tag": (
        "id: !!python/object:os.system a\n",
        "the tag '!!python/object:os.system' is not allowed in case files",
    ),
    "local-tag": ("id: !thing a\n", "the tag '!thing' is not allowed in case files"),
    "binary": ("id: !!binary aGVsbG8=\n", "the tag '!!binary' is not allowed"),
    "set": ("id: a\nx: !!set {a, b}\n", "the tag '!!set' is not allowed"),
    "deep-flow": (f"id: a\nx: {DEEP_FLOW}\n", "nests mappings or lists more than 32 deep"),
    "deep-block": (f"x:\n{DEEP_BLOCK}", "nests mappings or lists more than 32 deep"),
    "surrogate": ('id: a\ndate: 2011-09-01\nperson: {residence: "\\ud800"}\n', ":3:"),
    "alias": ("a: &x [1]\nb: *x\n", "aliases ('*name') are not allowed in case files"),
    "merge": ("base: &b {date: 2011-09-01}\ncase:\n  <<: *b\n", "aliases ('*name')"),
    "two-documents": ("id: a\n---\nid: b\n", "a case file holds one YAML document"),
    "complex-key": ("? [a, b]\n: c\n", "a key must be text, not a mapping or a list"),
    "duplicate": (
        f"id: a\ndate: 2011-09-01\n{RESIDENT}\ndate: 2012-09-01\n",
        ":4:1: error[E-case]: key 'date' appears twice in one mapping (first on line 2)",
    ),
    "nested-duplicate": (
        "id: a\nperson: {residence: E16000141, residence: E16000011}\n",
        "key 'residence' appears twice in one mapping",
    ),
    "empty-list": ("[]\n", "holds no cases (an empty list)"),
    "empty-cases": ("cases: []\n", "holds no cases (an empty list)"),
    "basic-date": (
        "id: a\ndate: 20110901\n",
        "field 'date' is '20110901', but must be a date (YYYY-MM-DD)",
    ),
    "week-date": ("id: a\ndate: 2011-W35-4\n", "field 'date' is '2011-W35-4', but must be"),
    "bad-utf8": (b"id: a\xff\n", "is not UTF-8 text (byte 5)"),
    "utf16": ("id: a\n".encode("utf-16"), "is UTF-16 text, not UTF-8"),
    "nul": ("id: a\x00b\n", "case file is not valid YAML"),
}


@pytest.mark.parametrize("name", HOSTILE_YAML)
def test_hostile_yaml_exits_5_naming_the_problem(tmp_path: Path, parser: str, name: str) -> None:
    text, fragment = HOSTILE_YAML[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    code, stdout, stderr = _evaluate(path)
    assert code == 5, stdout + stderr
    assert fragment in stderr
    assert "internal error" not in stderr and stdout == ""


HOSTILE_JSON = {
    "long-int": (
        '{"id": "a", "x": ' + "1" * 5000 + "}",
        "holds a number of more than 4,300 digits",
    ),
    "deep": (
        '{"id": "a", "x": ' + "[" * 400 + "]" * 400 + "}",
        "the value of 'x' nests mappings or lists more than 32 deep",
    ),
    "deeper": (
        '{"id": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "nests mappings or lists more than 32 deep",
    ),
    "surrogate": (
        '{"id": "a", "date": "2011-09-01", "person": {"residence": "\\ud800"}}',
        "the text of 'person.residence' holds '\\ud800', a lone UTF-16 surrogate",
    ),
    "surrogate-key": ('{"id": "a", "\\udfff": 1}', "lone UTF-16 surrogate"),
    "duplicate": (
        '{"id": "a", "date": "2011-09-01", "date": "2012-09-01"}',
        "gives key 'date' twice in one object",
    ),
    "nan": ('{"id": "a", "x": NaN}', "NaN is not a number JSON allows"),
    "huge": ('{"id": "a", "x": 1e999}', "the number 1e999 is too large"),
    "empty": ("[]", "holds no cases (an empty list)"),
    "basic-date": ('{"id": "a", "date": "20110901"}', "field 'date' is '20110901'"),
}


@pytest.mark.parametrize("name", HOSTILE_JSON)
def test_hostile_json_exits_5_naming_the_problem(tmp_path: Path, name: str) -> None:
    text, fragment = HOSTILE_JSON[name]
    path = tmp_path / f"{name}.json"
    path.write_text(text, encoding="utf-8")
    code, stdout, stderr = _evaluate(path)
    assert code == 5, stdout + stderr
    assert fragment in stderr
    assert "internal error" not in stderr


def test_paths_that_cannot_be_read_exit_5(tmp_path: Path) -> None:
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    (tmp_path / "file").write_text("id: a\n", encoding="utf-8")
    for path, fragment in [
        (tmp_path / "loop-a", "cannot be read: too many levels of symbolic links"),
        (tmp_path / "file" / "x", "cannot be read: not a directory"),
        (tmp_path / ("n" * 300), "cannot be read: file name too long"),
        (tmp_path, "is a folder"),
        (tmp_path / "missing.yaml", "does not exist"),
    ]:
        code, stdout, stderr = _evaluate(path)
        assert code == 5, (path, stdout + stderr)
        assert fragment in stderr, stderr


def _memory_cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_that_never_ends_is_capped_by_what_is_read() -> None:
    # /dev/zero reports a size of 0; what is read is capped (64 MiB), not what is reported.
    done = subprocess.run(
        [sys.executable, "-m", "pctrules", "evaluate", "/dev/zero"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        preexec_fn=_memory_cap,
    )
    assert done.returncode == 5, done.stderr
    assert "case file '/dev/zero' is larger than 64 MiB" in done.stderr


# -- values as written ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "0123",
        "0x1F",
        "1:20",
        "1_000",
        "0o17",
        "+1",
        ".inf",
        "1e3",
        "010",
        "yes",
        "off",
        "2011-09-01",
    ],
)
def test_ids_and_text_fields_stay_as_written(tmp_path: Path, parser: str, written: str) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(
        f"id: {written}\ndate: 2011-09-01\nsetting: {written}\n{RESIDENT}\n", encoding="utf-8"
    )
    code, stdout, stderr = _evaluate(path, "--format", "json")
    assert code == 0, stderr
    assert json.loads(stdout)["case"] == written
    assert json.loads(stdout)["decisions"]["responsible_pct"]["value"] == "5QL"


@pytest.mark.parametrize(
    ("written", "warning"),
    [
        ("~", None),
        ("null", None),
        ("", None),
        ("'null'", "area 'null' is not in the data"),
        ("'~'", "area '~' is not in the data"),
    ],
)
def test_null_is_absent_but_quoted_text_is_text(
    tmp_path: Path, parser: str, written: str, warning: str | None
) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(
        f"id: a\ndate: 2011-09-01\nperson: {{residence: {written}}}\n", encoding="utf-8"
    )
    code, stdout, stderr = _evaluate(path, "--format", "json")
    assert code == 0, stderr
    warnings = json.loads(stdout)["warnings"]
    assert warnings == ([] if warning is None else [f"{warning} on 2011-09-01; treated as absent"])


def test_a_json_case_file_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(
            {"id": "a", "date": "2011-09-01", "person": {"residence": "E16000141"}}
        ).encode()
    )
    code, stdout, stderr = _evaluate(path)
    assert code == 0, stderr
    assert "5QL" in stdout


@pytest.mark.parametrize("date", ["20110901", "2011-W35-4", "2011-244"])
def test_dates_are_iso_only_in_batch_and_on_the_command_line(tmp_path: Path, date: str) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(f"id,date,person.residence\na,{date},E16000141\n", encoding="utf-8")
    result = pctrules("batch", str(src), "--output", str(out))
    assert result.exit_code == 6, result.output
    assert f"field 'date' is '{date}', but must be a date (YYYY-MM-DD)" in out.read_text(
        encoding="utf-8"
    )
    result = pctrules("batch", str(src), "--output", str(out), "--as-of", date)
    assert result.exit_code == 2, result.output
    assert f"'{date}' is not a date; write it as YYYY-MM-DD" in result.stderr


# -- libyaml -------------------------------------------------------------------------------------


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML is built without libyaml here")
def test_case_files_are_read_with_libyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With libyaml installed, PyYAML's pure-Python scanner (about fifteen times slower on a
    # 1.3 MB case file) is never used.
    def python_scanner(*args: object) -> None:
        raise AssertionError("the pure-Python YAML scanner was used")

    monkeypatch.setattr(yaml.scanner.Scanner, "check_token", python_scanner)
    path = tmp_path / "cases.yaml"
    path.write_text(
        "cases:\n" + "".join(f"- {{id: c{i}, date: 2011-09-01, {RESIDENT}}}\n" for i in range(50)),
        encoding="utf-8",
    )
    code, stdout, stderr = _evaluate(path)
    assert code == 0, stderr
    assert stdout.count("5QL") == 50
