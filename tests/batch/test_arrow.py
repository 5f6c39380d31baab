"""Batch on Arrow: plain CSV and JSONL chunks by Arrow write what the usual path writes, byte
for byte, and Parquet in and out hold what CSV and JSONL do. Synthetic data only
(tests/columns/synthetic.py)."""

from __future__ import annotations

import csv
import gc
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctrules.batch.run import BatchOptions, BatchStopped, BatchSummary, prepare, run_batch
from tests.batch.conftest import pctrules, read_rows
from tests.columns import synthetic

COLUMNS = synthetic.COLUMNS


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("arrow-batch")
    return folder / "register", synthetic.register(folder)


def _write_csv(path: Path, rows: list[dict[str, object]], extra: str = "") -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows([["" if r[c] is None else r[c] for c in COLUMNS] for r in rows])
        f.write(extra)


def _run(src: Path, out: Path, register: Path, **options: object) -> BatchSummary:
    return run_batch(BatchOptions(input=src, output=out, data_dir=register, **options))  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_plain_chunks_by_arrow_write_what_the_usual_path_writes(
    data: tuple[Path, list[str]], tmp_path: Path, suffix: str
) -> None:
    register, practices = data
    src = tmp_path / "cases.csv"
    # Plain chunks, and chunks the usual path must take: a quoted cell, a short row, an empty
    # line, a CR, bytes that are not UTF-8, a bad date, a formula in an id.
    _write_csv(
        src,
        synthetic.cases(30_000, practices, seed=5),
        '"q1",2011-09-01,,E16000141,,,\nshort,2011-09-01\n\ncr,2011-09-01,\r,,,,\n'
        "=bad,2011-02-30,,,,,\n",
    )
    with src.open("ab") as f:
        f.write(b"bytes,2011-09-01,\xff\xfe,,,,\n")
    by_arrow, usual = tmp_path / f"arrow{suffix}", tmp_path / f"usual{suffix}"
    a = _run(src, by_arrow, register, workers=2, block_bytes=64 << 10)
    u = _run(src, usual, register, workers=2, block_bytes=64 << 10, arrow=False)
    assert by_arrow.read_bytes() == usual.read_bytes()
    assert (a.rows, a.decided, a.failed, a.warned) == (u.rows, u.decided, u.failed, u.warned)
    assert a.failed > 100 and a.warned > 100


_CELL = st.sampled_from(
    [
        "",
        "A90000",
        "B90001",
        "5QL",
        "E16000141",
        "SSNDS-06",
        "2011-09-01",
        "2011-02-30",
        "Y99999",
        "e16000141",
        "=1+2",
        "-x",
        " x",
        "é",
    ]
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.lists(_CELL, min_size=len(COLUMNS), max_size=len(COLUMNS)), min_size=1, max_size=60
    ),
    st.sampled_from(["csv", "jsonl"]),
)
def test_any_plain_csv_gives_the_same_output_by_arrow(
    data: tuple[Path, list[str]], tmp_path: Path, rows: list[list[str]], fmt: str
) -> None:
    src = tmp_path / "in.csv"
    src.write_text(
        ",".join(COLUMNS) + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8"
    )
    outs = [tmp_path / f"arrow.{fmt}", tmp_path / f"usual.{fmt}"]
    for out, arrow in zip(outs, (True, False), strict=True):
        _run(src, out, data[0], workers=1, arrow=arrow, decisions=("responsible_pct",))
    assert outs[0].read_bytes() == outs[1].read_bytes()


def test_parquet_in_decides_as_csv_in(data: tuple[Path, list[str]], tmp_path: Path) -> None:
    register, practices = data
    rows = synthetic.cases(20_000, practices, seed=9)
    for row in rows:  # an empty CSV cell is absent; in Parquet that is a null
        for k, v in row.items():
            if v == "":
                row[k] = None
    src_csv, src_pq = tmp_path / "cases.csv", tmp_path / "cases.parquet"
    _write_csv(src_csv, rows)
    pq.write_table(
        pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in COLUMNS])),
        src_pq,
        row_group_size=3_000,
    )
    from_csv, from_pq = tmp_path / "from-csv.csv", tmp_path / "from-parquet.csv"
    a = _run(src_csv, from_csv, register, workers=2)
    b = _run(src_pq, from_pq, register, workers=2)
    assert from_csv.read_bytes() == from_pq.read_bytes()
    assert (a.rows, a.failed, a.warned) == (b.rows, b.failed, b.warned) and b.failed > 100


def test_parquet_out_holds_the_jsonl_records(data: tuple[Path, list[str]], tmp_path: Path) -> None:
    register, practices = data
    src = tmp_path / "cases.csv"
    _write_csv(src, synthetic.cases(10_000, practices, seed=13), "short,2011-09-01\n")
    jsonl, parquet = tmp_path / "out.jsonl", tmp_path / "out.parquet"
    _run(src, jsonl, register, workers=2)
    s = _run(src, parquet, register, workers=2)
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    table = pq.read_table(parquet)
    assert table.to_pylist() == records and s.rows == len(records) == 10_001
    assert table.schema.field("commissioner_spans").type == pa.list_(pa.string())
    assert records[-1]["error"] == "row has 2 fields; the header has 7"


def test_plain_chunks_go_by_arrow_and_the_others_do_not(
    data: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """The tests above compare the two paths; this one checks that the Arrow path is taken at
    all (for a plain chunk) and declines every kind of chunk it cannot vouch for."""
    register, practices = data
    src = tmp_path / "cases.csv"
    _write_csv(src, synthetic.cases(50, practices, seed=3, bad=False))
    state, _ = prepare(BatchOptions(input=src, output=tmp_path / "out.csv", data_dir=register))
    assert state.arrow is not None
    header = ",".join(COLUMNS) + "\n"
    plain = src.read_bytes()[len(header) :]
    done = state.arrow.run(plain, 0)
    assert done is not None and done.rows == 50 and done.failed == 0
    line = b"c1,2011-09-01,,E16000141,,,\n"
    for chunk in [
        b'"c1",2011-09-01,,E16000141,,,\n',
        b"c1,2011-09-01\n",
        line + b"\n" + line,
        b"c1\r,2011-09-01,,E16000141,,,\n",
        b"c\xff,2011-09-01,,E16000141,,,\n",
    ]:
        assert state.arrow.run(chunk, 0) is None, chunk
    # Rows the columns cannot vouch for, in a chunk Arrow can read, go to the engine there.
    for chunk in [b"c1,2011-02-30,,E16000141,,,\n", b"c1,2011-09-01,,5QL,,,\n"]:
        done = state.arrow.run(line + chunk, 0)
        assert done is not None and (done.rows, done.failed, done.fast_rows) == (2, 1, 1)
    crlf = line.replace(b"\n", b"\r\n")
    assert state.arrow.run(crlf * 2, 0) is not None
    assert state.arrow.run(line + crlf, 0) is not None  # records end at LF or CRLF, mixed too


def test_odd_columns_send_csv_chunks_the_usual_way(
    data: tuple[Path, list[str]], tmp_path: Path
) -> None:
    src = tmp_path / "cases.csv"
    src.write_text("id,date,person.practise\nc1,2011-09-01,A90000\n", encoding="utf-8")
    state, _ = prepare(BatchOptions(input=src, output=tmp_path / "o.csv", data_dir=data[0]))
    assert state.arrow is None and state.warnings


def _parquet(path: Path, rows: list[dict[str, object]], columns: list[str]) -> None:
    pq.write_table(
        pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in columns])), path
    )


def test_parquet_input_problems_through_the_cli(
    data: tuple[Path, list[str]], tmp_path: Path
) -> None:
    register = str(data[0])
    not_parquet = tmp_path / "cases.parquet"
    not_parquet.write_text("id,date\nc1,2011-09-01\n", encoding="utf-8")
    r = pctrules("batch", str(not_parquet), "--output", str(tmp_path / "o.csv"), "--data", register)
    assert r.exit_code == 5 and "cannot be read as Parquet: " in r.stderr
    assert "help: give a Parquet file" in r.stderr and not (tmp_path / "o.csv").exists()

    row = {"id": "c1", "date": "2011-09-01", "person.practice": "A90000"}
    twice = tmp_path / "twice.parquet"
    _parquet(twice, [{**row, "person__practice": "A90000"}], [*row, "person__practice"])
    r = pctrules("batch", str(twice), "--output", str(tmp_path / "o.csv"), "--data", register)
    assert r.exit_code == 5, r.output
    assert (
        "2 columns of '" in r.stderr
        and "name the case field 'person.practice' (columns 3 and 4); keep one" in r.stderr
    )

    odd = tmp_path / "odd.parquet"
    _parquet(
        odd, [{**row, "person.practise": "A90000"}, {**row, "id": "c2"}], [*row, "person.practise"]
    )
    out = tmp_path / "odd.csv"
    r = pctrules("batch", str(odd), "--output", str(out), "--data", register)
    assert r.exit_code == 6, r.output
    assert (
        "warning: column 'person.practise' is not a case field (did you mean 'person.practice'?)"
    ) in r.stderr
    rows = read_rows(out)
    assert [x["id"] for x in rows] == ["c1", "c2"] and rows[1]["error"] == ""
    assert rows[0]["error"] == (
        "for case 'c1', unknown field 'person.practise' (given "
        "'A90000'); did you mean 'person.practice'?"
    )

    r = pctrules(
        "batch",
        str(odd),
        "--output",
        str(tmp_path / "o.jsonl"),
        "--data",
        register,
        "--audit",
        str(tmp_path / "audit.jsonl"),
    )
    assert r.exit_code == 2 and "--audit reads back CSV or JSONL, and '" in r.stderr


def test_parquet_by_case_equals_parquet_by_columns(
    data: tuple[Path, list[str]], tmp_path: Path
) -> None:
    register, practices = data
    rows = [
        {k: (None if v == "" else v) for k, v in r.items()}
        for r in synthetic.cases(3_000, practices, seed=21)
    ]
    src = tmp_path / "cases.parquet"
    _parquet(src, rows, COLUMNS)
    outs = [tmp_path / "columns.jsonl", tmp_path / "by-case.jsonl"]
    a = _run(src, outs[0], register, workers=1)
    b = _run(src, outs[1], register, workers=1, fast=False)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert a.fast_rows > 2_000 and b.fast_rows == 0 and a.failed == b.failed > 10


def test_parquet_typed_columns_read_as_jsonl_values(
    data: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """Typed Parquet columns (a date column, a struct, a list where a code belongs, a
    dictionary-encoded column) give what the same values give in JSONL, errors included."""
    import datetime as dt

    table = pa.table(
        {
            "id": pa.array(["a", "=b", "c"]).dictionary_encode(),
            "date": pa.array([dt.date(2011, 9, 1), dt.date(2011, 9, 1), None], pa.date32()),
            "person": pa.array(
                [{"practice": ["A90000"]}, {"practice": None}, {"practice": ["B90001"]}]
            ),
        }
    )
    src = tmp_path / "typed.parquet"
    pq.write_table(table, src)
    lines = [
        {"id": "a", "date": "2011-09-01", "person": {"practice": ["A90000"]}},
        {"id": "=b", "date": "2011-09-01", "person": {}},
        {"id": "c", "person": {"practice": ["B90001"]}},
    ]
    same = tmp_path / "same.jsonl"
    same.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    outs = [tmp_path / "from-parquet.csv", tmp_path / "from-jsonl.csv"]
    a = _run(src, outs[0], data[0], workers=1)
    b = _run(same, outs[1], data[0], workers=1)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert (a.rows, a.failed) == (b.rows, b.failed) == (3, 2)
    assert "field 'person.practice' is ['A90000'], but must be" in outs[0].read_text("utf-8")


def _jsonl_lines(rows: list[dict[str, object]], seed: int, per_key: bool = False) -> list[str]:
    """Rows as JSONL objects, absent values left out, each field nested or dotted at random:
    row by row, or (`per_key`) once for the whole file."""
    rng = random.Random(seed)
    nest = {key: rng.random() < 0.5 for key in COLUMNS}
    lines = []
    for row in rows:
        obj: dict[str, object] = {}
        for key, value in row.items():
            if value is None or value == "":
                continue
            head, _, rest = key.partition(".")
            if rest and (nest[key] if per_key else rng.random() < 0.5):
                group = obj.setdefault(head, {})
                assert isinstance(group, dict)
                group[rest] = value
            else:
                obj[key] = value
        lines.append(json.dumps(obj, ensure_ascii=False))
    return lines


@pytest.mark.parametrize("out_suffix", [".csv", ".jsonl"])
def test_plain_jsonl_chunks_by_arrow_write_what_the_usual_path_writes(
    data: tuple[Path, list[str]], tmp_path: Path, out_suffix: str
) -> None:
    register, practices = data
    rows = synthetic.cases(20_000, practices, seed=17)
    plain = [
        json.dumps({k: v for k, v in r.items() if v not in (None, "")})
        for r in synthetic.cases(3_000, practices, seed=18, bad=False)
    ]
    # Then chunks the usual path must take: a number, null, an escape, an empty object, a key
    # given twice, two objects on a line, a blank line, a BOM inside, not UTF-8, not an object.
    odd = [
        '{"id":"n","date":"2011-09-01","person.practice":42}',
        '{"id":"u","date":"2011-09-01","person":{"practice":null}}',
        '{"id":"e\\u00e9","date":"2011-09-01"}',
        '{"id":"o","date":"2011-09-01","person":{}}',
        '{"id":"t","id":"t2","date":"2011-09-01"}',
        '{"id":"a"} {"id":"b"}',
        "",
        '\ufeff{"id":"bom"}',
        "[1]",
        '{"id":"x","date":"2011-09-01","person.practice":"A90000","person":{"practice":"B90001"}}',
    ]
    src = tmp_path / "cases.jsonl"
    with src.open("wb") as f:
        f.write("\n".join([*plain, *_jsonl_lines(rows, 3), *odd]).encode("utf-8"))
        f.write(b'\n{"id":"bytes\xff","date":"2011-09-01"}\n')
    by_arrow, usual = tmp_path / f"arrow{out_suffix}", tmp_path / f"usual{out_suffix}"
    a = _run(src, by_arrow, register, workers=2, block_bytes=32 << 10)
    u = _run(src, usual, register, workers=2, block_bytes=32 << 10, arrow=False)
    assert by_arrow.read_bytes() == usual.read_bytes()
    assert (a.rows, a.decided, a.failed, a.warned) == (u.rows, u.decided, u.failed, u.warned)
    assert a.rows == 23_011 and a.failed > 100 and a.warned > 100


def test_plain_jsonl_chunks_go_by_arrow_and_the_others_do_not(
    data: tuple[Path, list[str]], tmp_path: Path
) -> None:
    src = tmp_path / "cases.jsonl"
    src.write_text('{"id":"c0"}\n', encoding="utf-8")
    state, _ = prepare(BatchOptions(input=src, output=tmp_path / "out.csv", data_dir=data[0]))
    assert state.arrow is not None
    line = b'{"id":"c1","date":"2011-09-01","person":{"residence":"E16000141"}}\n'
    dotted = b'{"id":"c1","date":"2011-09-01","person.residence":"E16000141"}\n'
    for plain in (line * 2, dotted * 2):
        done = state.arrow.run(plain, 0)
        assert done is not None and (done.rows, done.failed, done.fast_rows) == (2, 0, 2)
    assert state.arrow.run(line + dotted, 0) is None  # one field, two columns: the usual way
    for odd in [
        line.replace(b"09-01", b"02-30"),
        b'{"id":"c2","date":"2011-09-01","n":1}\n',
        b'{"id":3}\n',
        b'{"id":null}\n',
        b'{"id":"c\\n"}\n',
        b'{"id":"c2"}\n\n',
        b'{"id":"c2","person":{}}\n',
        b'{"id":"a"}{"id":"b"}\n',
        b'{"id":"\xff"}\n',
        b'{"id":"c2"\n',
        b'{"id":"c2","person":{"practice":"A90000"},"person.practice":"A90000"}\n',
        b'{"id":"c2","person.extra":"x"}\n',
    ]:
        assert state.arrow.run(line + odd, 0) is None, odd


_VALUE = st.sampled_from(
    [
        "A90000",
        "B90001",
        "5QL",
        "E16000141",
        "2011-09-01",
        "2011-02-30",
        "",
        " x",
        "é",
        "=1",
        "Y99999",
        "e16000141",
        "SSNDS-06",
        "\u2028",
    ]
)
_KEY = st.sampled_from(
    ["id", "date", "person.practice", "person.residence", "service", "setting", "person.present_in"]
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(st.dictionaries(_KEY, _VALUE, max_size=6), min_size=1, max_size=40),
    st.integers(0, 3),
    st.sampled_from(["csv", "jsonl"]),
)
def test_any_plain_jsonl_gives_the_same_output_by_arrow(
    data: tuple[Path, list[str]], tmp_path: Path, rows: list[dict[str, str]], seed: int, fmt: str
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(
            line + "\n"
            for line in _jsonl_lines(
                [{k: v or " " for k, v in r.items()} for r in rows], seed, per_key=True
            )
        ),
        encoding="utf-8",
    )
    outs = [tmp_path / f"arrow.{fmt}", tmp_path / f"usual.{fmt}"]
    for out, arrow in zip(outs, (True, False), strict=True):
        _run(src, out, data[0], workers=1, arrow=arrow, decisions=("responsible_pct",))
    assert outs[0].read_bytes() == outs[1].read_bytes()


def test_an_interrupted_parquet_output_is_not_written(
    data: tuple[Path, list[str]], tmp_path: Path
) -> None:
    register, practices = data
    src = tmp_path / "cases.csv"
    _write_csv(src, synthetic.cases(3_000, practices, seed=23))
    out = tmp_path / "out.parquet"
    out.write_bytes(b"the previous output")

    def interrupt(rows: int, nbytes: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(BatchStopped) as stopped:
        run_batch(
            BatchOptions(input=src, output=out, data_dir=register, workers=1, block_bytes=16 << 10),
            interrupt,
        )
    gc.collect()  # the writer is closed, its footer dropped: nothing left to finish the file
    assert stopped.value.exit_code == 130 and "was not written" in stopped.value.message
    assert out.read_bytes() == b"the previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, out.name])
