"""Any bytes as batch input or as a case file: never an internal error, always the documented
exit codes, and batch output that is UTF-8 with one row per input row.

PCTRULES_FUZZ_EXAMPLES raises the number of inputs each test tries (the suite's default is
small; the campaign behind issue 9 ran thousands each).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.batch.conftest import pctrules

EXAMPLES = int(os.environ.get("PCTRULES_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HEADER = b"id,date,person.practice,person.residence,service\n"

# Bytes that matter to the readers: separators, quotes, line ends, BOMs, NUL, bytes that are
# not UTF-8, JSON and YAML punctuation, escapes, and the text of real values.
_PIECES = st.sampled_from(
    [
        b",",
        b'"',
        b'""',
        b"\n",
        b"\r\n",
        b"\r",
        b"\x00",
        b"\xff",
        b"\xef\xbb\xbf",
        b"\xfe\xff",
        b"\xed\xa0\x80",
        b"\xc3",
        b"{",
        b"}",
        b"[",
        b"]",
        b":",
        b" ",
        b"\t",
        b"\\",
        b"\\u",
        b"\\ud800",
        b"d800",
        b"=",
        b"-",
        b"@",
        b"+",
        b"'",
        b"2011-09-01",
        b"2011-02-30",
        b"E16000141",
        b"P84004",
        b"ZZZZZZ",
        b"SSNDS-06",
        b"id",
        b"date",
        b"person",
        b"practice",
        b"residence",
        b"person.residence",
        b"null",
        b"true",
        b"1e999",
        b"NaN",
        b"0123",
        b"&a",
        b"*a",
        b"!!int",
        b"!!python/object",
        b"- ",
        b"---",
        b"#",
        b"|",
        b">",
        b"? ",
        b"\xe2\x80\xa8",
        b"\xc2\x85",
        b"9" * 50,
        b"x" * 300,
    ]
)
_BYTES = st.one_of(st.binary(max_size=200), st.lists(_PIECES, max_size=60).map(b"".join))


def _batch(folder: Path, name: str, data: bytes) -> tuple[int, str, str, Path]:
    src, out = folder / name, folder / ("out.jsonl" if name.endswith(".jsonl") else "out.csv")
    src.write_bytes(data)
    result = pctrules("batch", str(src), "--output", str(out), "--workers", "1")
    return result.exit_code, result.stdout, result.stderr, out


def _summary_rows(stdout: str) -> int:
    return int(stdout.split(" rows read")[0].replace(",", ""))


@FUZZ
@given(body=_BYTES, header=st.sampled_from([HEADER, b"", b"id,date\n", b"\xef\xbb\xbf" + HEADER]))
def test_any_bytes_as_csv(tmp_path: Path, body: bytes, header: bytes) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        code, stdout, stderr, out = _batch(Path(folder), "in.csv", header + body)
        assert code in (0, 5, 6), stdout + stderr
        assert "internal error" not in stderr and "Traceback" not in stderr
        if code == 5:
            assert not out.exists()
            return
        text = out.read_bytes().decode("utf-8")  # strict
    records = list(csv.reader(io.StringIO(text, newline="")))
    assert len(records) == 1 + _summary_rows(stdout)
    assert len({len(r) for r in records}) == 1


@FUZZ
@given(body=_BYTES)
def test_any_bytes_as_jsonl(tmp_path: Path, body: bytes) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        code, stdout, stderr, out = _batch(Path(folder), "in.jsonl", body)
        assert code in (0, 5, 6), stdout + stderr
        assert "internal error" not in stderr and "Traceback" not in stderr
        if code == 5:
            return
        lines = out.read_bytes().decode("utf-8").split("\n")
    start = 3 if body.startswith(b"\xef\xbb\xbf") else 0
    data = body[start:]
    expected = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    assert lines[-1] == "" and len(lines) - 1 == expected == _summary_rows(stdout)
    for line in lines[:-1]:
        assert isinstance(json.loads(line), dict)


_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=8),
        st.sampled_from(["2011-09-01", "E16000141", "P84004"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "date",
                    "person",
                    "practice",
                    "residence",
                    "person.residence",
                    "service",
                    "x",
                    "",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@FUZZ
@given(values=st.lists(_JSON, min_size=1, max_size=8))
# Found on a clean clone: a group given as an empty mapping under its dotted name and again
# with a value under its nested name ended the run with StopIteration.
@example(values=[{"id": None, "x": None, "person.residence": {}, "person": {"residence": False}}])
def test_any_json_values_as_jsonl(tmp_path: Path, values: list[object]) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        body = "".join(json.dumps(v) + "\n" for v in values).encode()
        code, stdout, stderr, out = _batch(Path(folder), "in.jsonl", body)
        assert code in (0, 6), stdout + stderr
        got = [json.loads(line) for line in out.read_bytes().decode("utf-8").splitlines()]
    assert len(got) == len(values)


@FUZZ
@given(data=_BYTES, suffix=st.sampled_from([".yaml", ".json"]))
def test_any_bytes_as_a_case_file(tmp_path: Path, data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        path = Path(folder) / f"case{suffix}"
        path.write_bytes(data)
        result = pctrules("evaluate", str(path), "--decision", "responsible_pct")
    assert result.exit_code in (0, 5, 6), result.output
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


_YAML_SCALAR = st.one_of(
    st.sampled_from(
        [
            "0123",
            "0x1F",
            "1:20",
            "yes",
            "~",
            "null",
            "2011-09-01",
            "20110901",
            "!!int abc",
            "!!timestamp 2011-02-30",
            "!!str 1",
            '"\\ud800"',
            "&a x",
            "*a",
            "[1, [2]]",
            "{a: 1}",
            "E16000141",
            "'quoted'",
            "|\n  block",
            "1e999",
            ".nan",
            "-",
            "? x",
        ]
    ),
    st.text(alphabet="ab1:- '\"!&*[]{},#|>\\", max_size=10),
)


@FUZZ
@given(
    values=st.dictionaries(
        st.sampled_from(["id", "date", "person", "setting", "service", "x", "cases"]),
        _YAML_SCALAR,
        max_size=5,
    )
)
def test_any_yaml_mapping_as_a_case_file(tmp_path: Path, values: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        path = Path(folder) / "case.yaml"
        path.write_text("".join(f"{k}: {v}\n" for k, v in values.items()), encoding="utf-8")
        result = pctrules("evaluate", str(path), "--decision", "responsible_pct")
    assert result.exit_code in (0, 5, 6), result.output
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
