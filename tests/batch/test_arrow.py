"""Batch on Arrow: plain CSV chunks by Arrow write what the usual path writes, and Parquet in
and out hold what CSV and JSONL do. Synthetic data only (tests/columns/synthetic.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctrules.batch.run import BatchOptions, BatchSummary, run_batch
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
    return run_batch(BatchOptions(input=src, output=out, data_dir=register,
                                  **options))  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_plain_chunks_by_arrow_write_what_the_usual_path_writes(
        data: tuple[Path, list[str]], tmp_path: Path, suffix: str) -> None:
    register, practices = data
    src = tmp_path / "cases.csv"
    # Plain chunks, and chunks the usual path must take: a quoted cell, a short row, an empty
    # line, a CR, bytes that are not UTF-8, a bad date, a formula in an id.
    _write_csv(src, synthetic.cases(30_000, practices, seed=5),
               '"q1",2011-09-01,,E16000141,,,\nshort,2011-09-01\n\ncr,2011-09-01,\r,,,,\n'
               "=bad,2011-02-30,,,,,\n")
    with src.open("ab") as f:
        f.write(b"bytes,2011-09-01,\xff\xfe,,,,\n")
    by_arrow, usual = tmp_path / f"arrow{suffix}", tmp_path / f"usual{suffix}"
    a = _run(src, by_arrow, register, workers=2, block_bytes=64 << 10)
    u = _run(src, usual, register, workers=2, block_bytes=64 << 10, arrow=False)
    assert by_arrow.read_bytes() == usual.read_bytes()
    assert (a.rows, a.decided, a.failed, a.warned) == (u.rows, u.decided, u.failed, u.warned)
    assert a.failed > 100 and a.warned > 100


_CELL = st.sampled_from(["", "A90000", "B90001", "5QL", "E16000141", "SSNDS-06", "2011-09-01",
                         "2011-02-30", "Y99999", "e16000141", "=1+2", "-x", " x", "é"])


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_CELL, min_size=len(COLUMNS), max_size=len(COLUMNS)), min_size=1,
                max_size=60), st.sampled_from(["csv", "jsonl"]))
def test_any_plain_csv_gives_the_same_output_by_arrow(
        data: tuple[Path, list[str]], tmp_path: Path, rows: list[list[str]], fmt: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text(",".join(COLUMNS) + "\n" + "".join(",".join(r) + "\n" for r in rows),
                   encoding="utf-8")
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
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(
        [(c, pa.string()) for c in COLUMNS])), src_pq, row_group_size=3_000)
    from_csv, from_pq = tmp_path / "from-csv.csv", tmp_path / "from-parquet.csv"
    a = _run(src_csv, from_csv, register, workers=2)
    b = _run(src_pq, from_pq, register, workers=2)
    assert from_csv.read_bytes() == from_pq.read_bytes()
    assert (a.rows, a.failed, a.warned) == (b.rows, b.failed, b.warned) and b.failed > 100


def test_parquet_out_holds_the_jsonl_records(data: tuple[Path, list[str]],
                                             tmp_path: Path) -> None:
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
