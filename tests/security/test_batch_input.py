"""Hostile batch input (issue 9, items 10–12): a line or a record that cannot be used is that
row's error, named and kept in its place; the run goes on, the output stays UTF-8 (and JSON),
and a file that is not UTF-8 at all gets one message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.batch.conftest import pctrules, read_rows

HEADER = "id,date,person.practice,person.residence\n"
GOOD = "2011-09-01,,E16000141"  # a resident of Somerset: 5QL


def _batch(src: Path, out: Path, *options: str) -> tuple[int, str, str]:
    result = pctrules(
        "batch", str(src), "--output", str(out), "--decision", "responsible_pct", *options
    )
    return result.exit_code, result.stdout, result.stderr


def _jsonl(out: Path) -> list[dict[str, object]]:
    # Strict: every byte UTF-8, every line one JSON object.
    return [json.loads(line) for line in out.read_bytes().decode("utf-8").splitlines()]


# -- JSONL lines that cannot be used -------------------------------------------------------------

_DEEP = '{"id": "deep", "x": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}"
_DEEPER = '{"id": "deeper", "x": ' + "[" * 5000 + "]" * 5000 + "}"
HOSTILE_JSONL = [
    # (line, id in the output, error fragment)
    ('{"id": "ok1", "date": "2011-09-01", "person": {"residence": "E16000141"}}', "ok1", None),
    (_DEEP, "deep", "the value of 'x' nests mappings or lists more than 32 deep"),
    (_DEEPER, "case-3", "the line nests mappings or lists more than 32 deep"),
    (
        '{"id": "sur", "date": "2011-09-01", "person": {"residence": "\\ud800"}}',
        "sur",
        "the text of 'person.residence' holds '\\ud800', a lone UTF-16 surrogate",
    ),
    ('{"id": "key", "date": "2011-09-01", "\\udc80": 1}', "key", "lone UTF-16 surrogate"),
    ('{"id": "\\ud800x", "date": "2011-09-01"}', "\ufffdx", "lone UTF-16 surrogate"),
    (
        '{"id": "twice", "date": "2011-09-01", "date": "2012-09-01"}',
        "twice",
        "the line gives key 'date' twice in one object",
    ),
    (
        '{"id": "clash", "date": "2011-09-01", "person.residence": "E16000141", '
        '"person": {"residence": "E16000011"}}',
        "clash",
        "field 'person.residence' is given twice, as 'E16000141' and 'E16000011'",
    ),
    (
        '{"id": "group", "date": "2011-09-01", "person": "x", "person.residence": "E16000141"}',
        "group",
        "field 'person' is given as 'x' and also has a field of its own, 'person.residence'",
    ),
    ('{"id": "nan", "date": "2011-09-01", "x": NaN}', "case-10", "NaN is not a number JSON"),
    ('{"id": "huge", "date": "2011-09-01", "x": 1e999}', "case-11", "is too large"),
    ('{"id": "digits", "x": ' + "1" * 5000 + "}", "case-12", "the line is not valid JSON"),
    ('{"id": "ok2", "date": "2011-09-01", "person": {"residence": "E16000141"}}', "ok2", None),
]


@pytest.mark.parametrize("per_case", [False, True])
def test_a_jsonl_line_that_cannot_be_used_is_that_rows_error(
    tmp_path: Path, per_case: bool
) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(line + "\n" for line, _, _ in HOSTILE_JSONL), encoding="utf-8")
    code, stdout, stderr = _batch(src, out, *(["--per-case"] if per_case else []))
    assert code == 6, stdout + stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    n = len(HOSTILE_JSONL)
    assert f"{n} rows read: 2 decided, {n - 2} failed" in stdout
    got = _jsonl(out)
    assert [r["id"] for r in got] == [i for _, i, _ in HOSTILE_JSONL]
    for row, (_, _, problem) in zip(got, HOSTILE_JSONL, strict=True):
        if problem is None:
            assert row["error"] is None and row["responsible_pct"] == "5QL", row
        else:
            assert problem in str(row["error"]), row


# -- bytes that are not UTF-8 ------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["plain", "quoted", "multi-line"])
def test_a_csv_cell_that_is_not_utf8_is_that_rows_error(tmp_path: Path, shape: str) -> None:
    # 'plain': the whole-block split; 'quoted': the csv module line by line; 'multi-line': a
    # quoted newline before it sends the rest to the sequential reader.
    first = {"plain": "a", "quoted": '"a"', "multi-line": '"a\nb"'}[shape]
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(
        HEADER.encode()
        + f"{first},{GOOD}\n".encode()
        + b"bad\xff\xfeid,2011-09-01,,E16000141\n"
        + b"c,"
        + GOOD.encode()
        + b"\n"
    )
    code, stdout, stderr = _batch(src, out)
    assert code == 6, stdout + stderr
    text = out.read_bytes().decode("utf-8")  # strict: the output is UTF-8
    got = read_rows(out)
    assert [r["id"] for r in got] == [first.strip('"'), "bad\ufffd\ufffdid", "c"]
    assert got[1]["error"] == (
        "the row is not valid UTF-8 text: byte 0xff at character 4 in column 1 ('id')"
    )
    assert [r["responsible_pct"] for r in got] == ["5QL", "", "5QL"]
    assert "\udcff" not in text


def test_a_jsonl_line_that_is_not_utf8_is_that_rows_error(tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(
        b'{"id": "a\xff", "date": "2011-09-01"}\n'
        b'{"id": "b", "date": "2011-09-01", "person": {"residence": "E16000141"}}\n'
    )
    code, stdout, stderr = _batch(src, out)
    assert code == 6, stdout + stderr
    got = _jsonl(out)
    assert [r["id"] for r in got] == ["a\ufffd", "b"]
    assert got[0]["error"] == "the line is not valid UTF-8 text: byte 0xff at character 10"
    assert got[1]["responsible_pct"] == "5QL"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_utf16_file_gets_one_message(tmp_path: Path, encoding: str, suffix: str) -> None:
    src, out = tmp_path / f"in{suffix}", tmp_path / "out.csv"
    text = HEADER + f"a,{GOOD}\n" if suffix == ".csv" else '{"id": "a", "date": "2011-09-01"}\n'
    src.write_bytes(text.encode(encoding))
    code, stdout, stderr = _batch(src, out)
    assert code == 5, stdout + stderr
    wide = "UTF-32" if "32" in encoding else "UTF-16"
    assert stderr.startswith(f"error[E-case]: '{src}' is {wide} text, not UTF-8\n")
    assert stderr.count("error") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (b"id,da\xfete\n", "the header is not valid UTF-8 text (byte 0xfe at character 6)"),
        (
            b"id,date\r,person.residence\n",
            "the header holds a carriage return (CR) that does not end the line",
        ),
        (
            b"id,date,person.residence\ra,2011-09-01,E16000141\r",
            "the header holds a carriage return (CR)",
        ),
    ],
)
def test_a_header_that_cannot_be_read_gets_one_message(
    tmp_path: Path, header: bytes, problem: str
) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(header + f"a,{GOOD}\n".encode())
    code, stdout, stderr = _batch(src, out)
    assert code == 5, stdout + stderr
    assert f"'{src}' line 1: {problem}" in stderr
    assert "internal error" not in stderr
    assert not out.exists()


def test_a_jsonl_file_may_start_with_a_utf8_byte_order_mark(tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(
        b'\xef\xbb\xbf{"id": "a", "date": "2011-09-01", "person": {"residence": "E16000141"}}\n'
    )
    code, stdout, stderr = _batch(src, out)
    assert code == 0, stdout + stderr
    assert _jsonl(out)[0]["responsible_pct"] == "5QL"


# -- a record the csv module refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    "inside",
    [
        "x" * 70_000,
        # Lines that look like records, and quotes (doubled: a quote inside the cell) that would
        # open a cell if read from the start of their line.
        f'c-fake,{GOOD}\n""d-fake,{GOOD}\n' + "x" * 140_000,
        'x""' * 50_000,
    ],
)
def test_after_a_cell_over_the_csv_limit_the_next_records_are_read(
    tmp_path: Path, inside: str
) -> None:
    # A quoted cell of three lines, over the csv module's 131,072-character limit in total:
    # the record is that row's error, with its id; the records after it are decided.
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    cell = '"' + "\n".join([inside, inside, inside]) + '"'
    src.write_text(
        HEADER
        + f'"multi\nline",{GOOD}\n'
        + f"big,2011-09-01,,{cell}\n"
        + f"c,{GOOD}\n"
        + f'"d",{GOOD}\n'
        + f"e,{GOOD}\n",
        encoding="utf-8",
    )
    code, stdout, stderr = _batch(src, out)
    assert code == 6, stdout + stderr
    got = read_rows(out)
    assert [r["id"] for r in got] == ["multi\nline", "big", "c", "d", "e"]
    assert got[1]["error"] == (
        "the row cannot be read as CSV: field larger than field limit (131072)"
    )
    assert [r["responsible_pct"] for r in got] == ["5QL", "", "5QL", "5QL", "5QL"]


@pytest.mark.parametrize("big_id", [False, True])
def test_a_one_line_record_over_the_limit_keeps_its_id(tmp_path: Path, big_id: bool) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    big = f'"{"y" * 140_000}"'
    line = f"{big},{GOOD}" if big_id else f'"big",2011-09-01,,{big}'
    src.write_text(HEADER + f'"a",{GOOD}\n{line}\n"c",{GOOD}\n', encoding="utf-8")
    code, stdout, stderr = _batch(src, out)
    assert code == 6, stdout + stderr
    got = read_rows(out)
    assert [r["id"] for r in got] == ["a", "case-2" if big_id else "big", "c"]
    assert [r["responsible_pct"] for r in got] == ["5QL", "", "5QL"]


def test_a_quote_the_csv_module_reads_as_open_does_not_swallow_the_next_rows(
    tmp_path: Path,
) -> None:
    # Found by the hostile-input campaign: `""x",` holds an even number of quotes, so the
    # planner cuts the record at its line end, but the csv module reads the last quote as
    # opening a cell and ran on into the next line (and then out of lines: StopIteration).
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(HEADER + f'a,{GOOD}\n""x",",{GOOD}\n""\nc,{GOOD}\n', encoding="utf-8")
    code, stdout, stderr = _batch(src, out)
    assert code == 6, stdout + stderr
    got = read_rows(out)
    assert [r["id"] for r in got] == ["a", 'x"', "case-3", "c"]
    assert [r["responsible_pct"] for r in got] == ["5QL", "", "", "5QL"]
    assert got[1]["error"] == "row has 2 fields; the header has 4"


def test_a_header_of_no_columns_keeps_every_row(tmp_path: Path) -> None:
    # Found by the campaign: a header that is only a byte-order mark names no column, and
    # Arrow's reader read such a chunk as no rows at all (a row went missing, and an empty
    # chunk then stopped the column evaluator). Every row is written, with its error.
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("\ufeff\n\uffff:\uffff\u2028>-~}-\n\ufeff", encoding="utf-8")
    result = pctrules("batch", str(src), "--output", str(out), "--workers", "1")
    assert result.exit_code == 6, result.output
    got = read_rows(out)
    assert [r["id"] for r in got] == ["case-1", "case-2"]
    assert {r["error"] for r in got} == {"row has 1 field; the header has 0"}
