"""`pctrules batch`: every row out in input order, errors filled, atomic output, same decisions
from CSV and JSONL, and the column fast path equal to the per-case evaluator."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import click
import click.testing
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pctrules.batch.io import csv_line, safe_cell, safe_column
from pctrules.batch.run import BatchStopped, BatchSummary
from pctrules.cli import cli
from pctrules.commands import registry

Run = Callable[..., BatchSummary]

HEADER = "id,date,person.practice,person.residence\n"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def cases(
    generator: ModuleType,
    tmp_path: Path,
    n: int,
    name: str = "cases.csv",
    seed: int = 7,
    activity: bool = False,
) -> Path:
    path = tmp_path / name
    generator.generate(
        n, path, "jsonl" if name.endswith(".jsonl") else "csv", seed, generator.DATA, activity
    )
    return path


# -- bad rows among good ones ---------------------------------------------------------------

BAD_ROWS = [
    # (line, expected decision value, error fragment or None)
    ("g1,2011-04-01,A81001,", "5E1", None),
    ("short,2011-04-01,A81001", "", "row has 3 fields; the header has 4"),
    ("baddate,2011-02-30,A81001,", "", "field 'date' is '2011-02-30'"),
    ("g2,2008-09-09,,E16000011", "5C4", None),
    ("wrongkind,2011-04-01,5E1,", "", "but '5E1' is a pct"),
    ("", "", "the line is empty"),
    ("long,2011-04-01,A81001,,x", "", "row has 5 fields; the header has 4"),
    ("nodate,,A81001,", "", "there is no date to evaluate on"),
    ("unknown,2011-04-01,ZZZZZZ,", "", None),  # not in the register: not an error
    ("closed,2015-01-01,A81001,", "", None),  # no PCT after 2013: reason 9
    ('"=HYPERLINK(""x"")",2011-04-01,A81001,', "5E1", None),
    ("g3,2011-04-01,A81001,", "5E1", None),
]


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_rows_keep_their_place_with_the_error_filled(
    run: Run, tmp_path: Path, workers: int
) -> None:
    src = tmp_path / "in.csv"
    # Many copies, in small blocks, so that the rows cross chunks and both workers run.
    body = "\n".join(line for line, _, _ in BAD_ROWS) + "\n"
    src.write_text(HEADER + body * 300, encoding="utf-8")
    out = tmp_path / "out.csv"
    summary = run(src, out, workers=workers, block_bytes=4096)
    got = rows(out)
    assert len(got) == summary.rows == len(BAD_ROWS) * 300
    assert summary.decided + summary.failed == summary.rows
    assert summary.failed == 6 * 300
    for i, row in enumerate(got):
        line, value, problem = BAD_ROWS[i % len(BAD_ROWS)]
        assert row["responsible_pct"] == value, (i, line, row)
        if problem is None:
            assert row["error"] == "", (i, line, row)
        else:
            assert problem in row["error"], (i, line, row)
    # An absent id is the row's position in the input, as `pctrules evaluate` numbers cases.
    assert got[5]["id"] == "case-6"
    assert got[len(BAD_ROWS) + 5]["id"] == f"case-{len(BAD_ROWS) + 6}"
    # A cell a spreadsheet would run as a formula is shown as text.
    assert got[10]["id"] == '\'=HYPERLINK("x")'


def batch_cli(
    register: Path, tmp_path: Path, text: str, *options: str
) -> tuple[click.testing.Result, Path]:
    """`pctrules batch` through the real CLI on an input file holding `text`."""
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        _cli(), ["batch", str(src), "--output", str(out), "--data", str(register), *options]
    )
    return result, out


def test_reconciliation_line_and_exit_code(register: Path, tmp_path: Path) -> None:
    result, out = batch_cli(
        register,
        tmp_path,
        HEADER + "a,2011-04-01,A81001,\nb,2011-13-01,A81001,\n",
        "--decision",
        "responsible_pct",
    )
    assert result.exit_code == 6, result.output  # complete, with a failed row
    assert "2 rows read: 1 decided, 1 failed" in result.output
    assert out.exists()


def test_an_unknown_column_fails_only_the_rows_that_use_it(register: Path, tmp_path: Path) -> None:
    result, out = batch_cli(
        register,
        tmp_path,
        "id,date,person.practice,person.practise\n"
        "a,2011-04-01,A81001,\n"
        "b,2011-04-01,,A81001\n"
        "c,2011-04-01,A81001,\n",
        "--decision",
        "responsible_pct",
    )
    assert result.exit_code == 6, result.output
    assert (
        "warning: column 'person.practise' is not a case field (did you mean "
        "'person.practice'?); rows with a value in it fail, naming it"
    ) in result.output
    assert "3 rows read: 2 decided, 1 failed" in result.output
    got = rows(out)
    assert [r["id"] for r in got] == ["a", "b", "c"]
    assert [r["responsible_pct"] for r in got] == ["5E1", "", "5E1"]
    assert got[1]["error"] == (
        "for case 'b', unknown field 'person.practise' (given 'A81001'); "
        "did you mean 'person.practice'?"
    )


@pytest.mark.parametrize("per_case", [False, True])
def test_a_column_named_twice_fails_the_rows_where_its_cells_disagree(
    register: Path, tmp_path: Path, per_case: bool
) -> None:
    result, out = batch_cli(
        register,
        tmp_path,
        "id,date,person.practice,date\n"
        "a,2011-04-01,A81001,2011-04-01\n"
        "b,2011-04-01,A81001,2012-04-01\n"
        "c,,A81001,2011-04-01\n",
        "--decision",
        "responsible_pct",
        *(["--per-case"] if per_case else []),
    )
    assert result.exit_code == 6, result.output
    assert "warning: column 'date' appears 2 times in the header (columns 2 and 4)" in (
        result.output
    )
    got = rows(out)
    assert [r["responsible_pct"] for r in got] == ["5E1", "", "5E1"]
    assert got[1]["error"] == (
        "column 'date' appears 2 times in the header (columns 2 and 4) "
        "and this row gives it different values: '2011-04-01', "
        "'2012-04-01'"
    )
    assert got[0]["error"] == got[2]["error"] == ""


def test_a_csv_without_a_header_line_is_invalid_input(register: Path, tmp_path: Path) -> None:
    result, out = batch_cli(register, tmp_path, "\na,2011-04-01,A81001\n")
    assert result.exit_code == 5
    assert "has no header line" in result.output
    assert not out.exists()


def test_unknown_decision_is_a_usage_error(register: Path, tmp_path: Path) -> None:
    result, out = batch_cli(
        register, tmp_path, HEADER + "a,2011-04-01,A81001,\n", "--decision", "responsible"
    )
    assert result.exit_code == 2
    assert "unknown decision 'responsible'" in result.output
    assert not out.exists()


# -- interrupted runs --------------------------------------------------------------------------


def _stop_after_first_chunk(rows: int, done: int) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupted_run_leaves_the_previous_output(
    run: Run, generator: ModuleType, tmp_path: Path, workers: int
) -> None:
    src = cases(generator, tmp_path, 3000)
    out = tmp_path / "out.csv"
    out.write_text("the previous output\n", encoding="utf-8")
    with pytest.raises(BatchStopped) as stopped:
        run(src, out, _stop_after_first_chunk, workers=workers, block_bytes=8192)
    assert stopped.value.exit_code == 130
    assert stopped.value.message.startswith("interrupted after ")
    assert "rows; " in stopped.value.message and "was not written" in stopped.value.message
    assert out.read_text(encoding="utf-8") == "the previous output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv", "out.csv"]
    assert not multiprocessing.active_children()


def test_a_killed_worker_stops_the_run(run: Run, generator: ModuleType, tmp_path: Path) -> None:
    src = cases(generator, tmp_path, 3000)
    out = tmp_path / "out.csv"

    def kill_the_workers(rows: int, done: int) -> None:
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]

    with pytest.raises(BatchStopped) as stopped:
        run(src, out, kill_the_workers, workers=2, block_bytes=4096)
    assert stopped.value.exit_code == 1
    assert "a worker process stopped unexpectedly (killed by signal 9)" in stopped.value.message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["cases.csv"]


# -- formats and paths agree -----------------------------------------------------------------


def test_jsonl_and_csv_give_the_same_decisions(
    run: Run, generator: ModuleType, tmp_path: Path
) -> None:
    as_csv = cases(generator, tmp_path, 20_000, "cases.csv")
    as_jsonl = cases(generator, tmp_path, 20_000, "cases.jsonl")
    run(as_csv, tmp_path / "a.csv", workers=2, block_bytes=65536)
    run(as_jsonl, tmp_path / "b.csv", workers=2, block_bytes=65536)
    run(as_jsonl, tmp_path / "c.jsonl", workers=2, block_bytes=65536)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    from_jsonl = [
        json.loads(line) for line in (tmp_path / "c.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert [{k: v or None for k, v in r.items()} for r in rows(tmp_path / "a.csv")] == from_jsonl


def test_quoted_csv_and_quoted_newlines(run: Run, tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    quoted = tmp_path / "quoted.csv"
    multiline = tmp_path / "multiline.csv"
    lines = [("a", "2011-04-01", "A81001", ""), ("b", "2008-09-09", "", "E16000011")] * 500
    plain.write_text(HEADER + "".join(",".join(r) + "\n" for r in lines), encoding="utf-8")
    quoted.write_text(
        HEADER + "".join(",".join(f'"{c}"' for c in r) + "\n" for r in lines), encoding="utf-8"
    )
    # A quoted newline inside an id sends the rest of the file to the sequential reader.
    odd = ["x", *lines[0][1:]]
    odd[0] = '"line\none"'
    multiline.write_text(
        HEADER
        + "".join(",".join(r) + "\n" for r in lines[:300])
        + ",".join(odd)
        + "\n"
        + "".join(",".join(r) + "\n" for r in lines[300:]),
        encoding="utf-8",
    )
    for src in (plain, quoted, multiline):
        run(src, src.with_suffix(".out.csv"), workers=2, block_bytes=2048)
    assert rows(plain.with_suffix(".out.csv")) == rows(quoted.with_suffix(".out.csv"))
    odd_rows = rows(multiline.with_suffix(".out.csv"))
    assert len(odd_rows) == len(lines) + 1
    assert odd_rows[300]["id"] == "line\none"
    assert odd_rows[:300] + odd_rows[301:] == rows(plain.with_suffix(".out.csv"))


def test_fast_path_equals_the_per_case_evaluator(
    run: Run, generator: ModuleType, tmp_path: Path
) -> None:
    src = cases(generator, tmp_path, 60_000)
    # Edge cases the generator does not make: dates outside a practice's membership, unknown
    # codes, codes of the wrong kind, bad dates, blank fields.
    with src.open("a", encoding="utf-8") as f:
        f.write("\n".join(EDGE_ROWS * 50) + "\n")
    fast, slow = tmp_path / "fast.csv", tmp_path / "slow.csv"
    s_fast = run(src, fast, workers=2)
    s_slow = run(src, slow, workers=2, fast=False)
    assert s_fast.fast_rows > 60_000 and s_slow.fast_rows == 0
    assert fast.read_bytes() == slow.read_bytes()
    assert (s_fast.rows, s_fast.decided, s_fast.failed) == (
        s_slow.rows,
        s_slow.decided,
        s_slow.failed,
    )


EDGE_ROWS = [
    "e1,1999-01-01,A81001,",
    "e2,2013-04-01,A81001,E16000011",
    "e3,2011-04-01,NOPE,",
    "e4,2011-04-01,,NOPE",
    "e5,2011-04-01,5E1,",
    "e6,2011-4-1,A81001,",
    "e7,,,",
    "e8,2011-04-01,,",
    "e9,2006-09-30,,E16000011",
    "e10,2006-10-01,,E16000011",
    ",2011-04-01,A81002,",
    "e11,2010-04-01,,AREA-5P3",
    "-5,2011-04-01,A81001,",
    "e12,2011-04-01, A81001,",
    "short,2011-04-01",
    "e13,2011-02-29,,E16000141",
]


@pytest.mark.parametrize("emergency", ["home", "present"])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_every_decision_by_columns_and_groups_equals_the_engine_alone(
    run: Run, generator: ModuleType, tmp_path: Path, suffix: str, emergency: str
) -> None:
    # Hospital episodes (services, settings, emergencies) through all six decisions: by columns
    # where the column compiler allows, else once per group of rows reading the same values in
    # the same period (groups.py); against the per-case evaluator, edge rows included.
    src = cases(generator, tmp_path, 20_000, "cases" + suffix, activity=True)
    with src.open("a", encoding="utf-8") as f:
        for line in EDGE_ROWS * 20:
            if suffix == ".csv":
                f.write(line + ",SSNDS-06,elective,\n")
            else:
                keys = ["id", "date", "person.practice", "person.residence"]
                given = zip(keys, line.split(","), strict=False)  # a short row: fewer cells
                f.write(json.dumps({k: v for k, v in given if v}) + "\n")
    fast, slow = tmp_path / "fast.csv", tmp_path / "slow.csv"
    params = {"emergency_responsibility": emergency}
    s_fast = run(src, fast, workers=2, decisions=(), params=params)
    s_slow = run(src, slow, workers=2, decisions=(), params=params, fast=False)
    assert s_fast.note is None
    assert s_fast.fast_rows == s_fast.decided and s_slow.fast_rows == 0
    assert fast.read_bytes() == slow.read_bytes()
    assert (s_fast.rows, s_fast.decided, s_fast.failed) == (
        s_slow.rows,
        s_slow.decided,
        s_slow.failed,
    )
    assert s_fast.failed >= 20 * 3  # the bad date, the wrong kind and the short row at least
    # Every decision had work: each of its rules but a few decided some row.
    decided = rows(fast)
    for rule in (
        "national-service",
        "specialised-scg",
        "own-pct",
        "scg-group",
        "cluster-group",
        "designated-lead",
        "group-lead",
        "national-body",
    ):
        assert any(rule in r.values() for r in decided), rule
    if emergency == "present":
        assert any(r["responsible_pct.rule"] == "emergency-present" for r in decided)


@pytest.mark.slow
def test_fast_path_equals_the_per_case_evaluator_on_a_million_rows(
    run: Run, generator: ModuleType, tmp_path: Path, scale: float
) -> None:
    n = int(1_000_000 * scale)
    src = cases(generator, tmp_path, n, seed=11)
    fast, slow = tmp_path / "fast.csv", tmp_path / "slow.csv"
    s_fast = run(src, fast, workers=2)
    s_slow = run(src, slow, workers=2, fast=False)
    assert s_fast.rows == s_slow.rows == n
    assert s_fast.fast_rows > 0.99 * n and s_slow.fast_rows == 0
    assert fast.read_bytes() == slow.read_bytes()


def test_agrees_with_the_ods_membership_history(
    run: Run, generator: ModuleType, floor: ModuleType, tmp_path: Path
) -> None:
    src = cases(generator, tmp_path, 30_000)
    run(src, tmp_path / "batch.csv", workers=2)
    floor.run(src, tmp_path / "floor.csv", generator.DATA)
    assert (tmp_path / "batch.csv").read_bytes() == (tmp_path / "floor.csv").read_bytes()


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("5NT", "5NT"),
        ("=1+2", "'=1+2"),
        ("+44", "'+44"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("=a,b", '"\'=a,b"'),
        ("", ""),
    ],
)
def test_cells_a_spreadsheet_would_run_are_text(cell: str, shown: str) -> None:
    assert safe_cell(cell) == shown


def _cli() -> click.Group:
    for command in registry.COMMANDS:
        cli.add_command(command)
    return cli


@given(st.lists(st.text(alphabet='ab=+-@\t\r\n,"é ', max_size=6), min_size=1, max_size=5))
def test_a_csv_line_is_its_safe_cells_joined(cells: list[str]) -> None:
    assert csv_line(cells) == ",".join(safe_cell(c) for c in cells)
    assert safe_column(cells) == [safe_cell(c) for c in cells]


# -- invariants over arbitrary input ---------------------------------------------------------

_CELL = st.one_of(
    st.sampled_from(
        [
            "A81001",
            "P84005",
            "5NT",
            "E16000141",
            "2011-04-01",
            "2006-09-30",
            "2011-02-30",
            "",
            "=1+2",
            "-5",
        ]
    ),
    st.text(alphabet='ab1-=,"\n\r é', max_size=8),
)
_ROW = st.lists(_CELL, min_size=0, max_size=6)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=st.lists(_ROW, max_size=25))
def test_any_csv_gives_one_row_per_input_row_the_same_each_time(
    run: Run, tmp_path: Path, records: list[list[str]]
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        src = Path(folder) / "in.csv"
        with src.open("w", newline="", encoding="utf-8") as f:
            f.write(HEADER)
            csv.writer(f, lineterminator="\n").writerows(records)
        outputs = [Path(folder) / f"out{k}.csv" for k in range(4)]
        # However the file is cut into jobs (the csv module, the plain split, the sequential
        # reader for quoted newlines), by columns or case by case, the output is the same.
        summaries = [
            run(src, out, workers=1, block_bytes=size, fast=fast)
            for out, size, fast in zip(
                outputs, (64, 97, 1 << 20, 1 << 20), (True, True, True, False), strict=True
            )
        ]
        got = rows(outputs[0])
        summary = summaries[0]
        assert summary.rows == len(got)
        assert summary.decided + summary.failed == summary.rows
        assert sum(1 for r in got if r["error"]) == summary.failed
        assert len({out.read_bytes() for out in outputs}) == 1
        if not any("\r" in cell for record in records for cell in record):
            with src.open(newline="", encoding="utf-8") as f:
                assert summary.rows == sum(1 for _ in csv.reader(f)) - 1


_EPISODE = st.tuples(
    # Days on both sides of the graph's changes: PCT and SHA maps, SCGs, PCT mergers, clusters.
    st.sampled_from(
        [
            "2006-06-30",
            "2006-07-01",
            "2006-09-30",
            "2006-10-01",
            "2007-03-31",
            "2007-04-01",
            "2010-03-31",
            "2010-04-01",
            "2011-05-31",
            "2011-06-01",
            "2013-03-31",
            "2013-04-01",
            "2002-04-01",
            "bad",
        ]
    ),
    st.sampled_from(["A81001", "P84005", "B82005", "C84001", "M85001", "", "NOPE", "5NT"]),
    st.sampled_from(["", "E16000141", "E16000011", "AREA-5P3"]),
    st.sampled_from(["", "ROUTINE", "AE", "SSNDS-06", "SSNDS-01", "NCG-HEART-TX", "5NT", "X"]),
    st.sampled_from(["", "emergency", "elective"]),
    st.sampled_from(["", "E16000141", "E16000011"]),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    episodes=st.lists(_EPISODE, min_size=1, max_size=30),
    emergency=st.sampled_from(["home", "present"]),
)
def test_grouped_decisions_equal_the_engine_on_any_episodes(
    run: Run, tmp_path: Path, episodes: list[tuple[str, ...]], emergency: str
) -> None:
    # A group's result is reused for every row with the same inputs in the same period between
    # the graph's changes; days either side of each change must still be told apart.
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        src = Path(folder) / "in.csv"
        src.write_text(
            "id,date,person.practice,person.residence,service,setting,"
            "person.present_in\n"
            + "".join(f"r{i},{','.join(e)}\n" for i, e in enumerate(episodes)),
            encoding="utf-8",
        )
        fast, slow = Path(folder) / "fast.csv", Path(folder) / "slow.csv"
        params = {"emergency_responsibility": emergency}
        run(src, fast, workers=1, decisions=(), params=params)
        run(src, slow, workers=1, decisions=(), params=params, fast=False)
        assert fast.read_text(encoding="utf-8") == slow.read_text(encoding="utf-8")


@pytest.mark.parametrize("sequential", [False, True])
def test_a_record_the_csv_module_refuses_is_that_rows_error(
    run: Run, tmp_path: Path, sequential: bool
) -> None:
    # A quoted cell over the csv module's field limit (131,072 characters), and a bare CR in
    # an unquoted cell (cell text, as everywhere); `sequential`: a quoted newline before them
    # sends the rest of the file to the parent's csv reader.
    first = '"multi\nline",2011-04-01,A81001,' if sequential else "a,2011-04-01,A81001,"
    src = tmp_path / "in.csv"
    src.write_text(
        HEADER
        + first
        + "\n"
        + f'"{"x" * 140_000}",2011-04-01,A81001,\n'
        + '"b",2011-04-01,A81001,\n'
        + "c\r,2011-04-01,A81001,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    summary = run(src, out, workers=1)
    got = rows(out)
    assert len(got) == summary.rows == 4
    assert got[1]["error"] == (
        "the row cannot be read as CSV: field larger than field limit (131072)"
    )
    assert [r["responsible_pct"] for r in got] == ["5E1", "", "5E1", "5E1"]
    assert got[3]["id"] == "c\r"


_JSON_LINE = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.text(max_size=4), st.integers(), st.booleans(), st.none()),
            "date": st.sampled_from(["2011-04-01", "2011-02-30", "", 20110401]),
            "person": st.one_of(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "practice": st.sampled_from(["A81001", "5NT", "", 1, None]),
                        "residence": st.sampled_from(["E16000141", "NOPE"]),
                    },
                ),
                st.text(max_size=3),
            ),
            "extra": st.integers(),
        },
    ).map(json.dumps),
    st.text(alphabet='{}[]":,1a \r', max_size=12),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(lines=['{"id": null, "extra": 0}', '{"id": "", "person": "", "extra": 3}'])
# (a row's problems in its own order, whatever else its chunk holds)
@example(lines=['{"person": "\\u0085"}', '{"id": "a\\u2028b", "person": {"practice": "\\u2029"}}'])
# (characters JSON leaves raw but `str.splitlines` splits on: escaped, one record one line)
@given(lines=st.lists(_JSON_LINE, max_size=20))
def test_any_jsonl_gives_one_row_per_line_the_same_each_time(
    run: Run, tmp_path: Path, lines: list[str]
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        src = Path(folder) / "in.jsonl"
        src.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        outputs = [Path(folder) / f"out{k}.jsonl" for k in range(3)]
        summaries = [
            run(src, out, workers=1, block_bytes=size, fast=fast)
            for out, size, fast in zip(
                outputs, (50, 1 << 20, 1 << 20), (True, True, False), strict=True
            )
        ]
        got = [json.loads(line) for line in outputs[0].read_text(encoding="utf-8").splitlines()]
        assert summaries[0].rows == len(got) == len(lines)
        assert summaries[0].decided + summaries[0].failed == len(lines)
        assert len({out.read_bytes() for out in outputs}) == 1
