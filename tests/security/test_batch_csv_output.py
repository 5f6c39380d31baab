"""Batch CSV output a spreadsheet or any CSV reader can open safely (issue 9, item 9): one
record per input row however cells are written, and no cell a spreadsheet would run."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pctrules.batch.io import FORMULA_START
from tests.batch.conftest import pctrules

HEADER = "id,date,person.practice,person.residence"

# Cells as an attacker or a messy export writes them: separators, quotes, bare CRs, formula
# characters at the start and after a line end, NUL, characters other readers split lines at.
_CELL = st.one_of(
    st.sampled_from(
        [
            "",
            "2011-04-01",
            "E16000141",
            "P84004",
            "=1+2",
            "a\r=cmd",
            "\r@x",
            "-5",
            "a\n+b",
            "x\r",
            "\t",
            "\x00",
            "a\u2028b",
        ]
    ),
    st.text(alphabet='ab=+-@\t\r\n,"\x00\x85\u2028 é', max_size=8),
)


@st.composite
def _line(draw: st.DrawFn) -> tuple[list[str], str]:
    """One input record: its cells, and their text in the file (a cell holding a comma, a quote
    or a LF is quoted; one holding a bare CR is quoted or not: both are CR as cell text)."""
    cells = draw(st.lists(_CELL, min_size=1, max_size=5))
    written = []
    for cell in cells:
        must = any(c in cell for c in ',"\n') or cell.endswith("\r")
        if must or ("\r" in cell and draw(st.booleans())):
            written.append('"' + cell.replace('"', '""') + '"')
        else:
            written.append(cell)
    return cells, ",".join(written)


def _cells_after_line_ends(cell: str) -> list[str]:
    """Every piece of a cell a reader splitting at line ends inside quotes would start a cell
    with."""
    return cell.replace("\r\n", "\n").replace("\r", "\n").split("\n")[1:]


@pytest.mark.parametrize("per_case", [False, True])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(
    lines=[(["a\r=cmd", "2011-04-01", "", "E16000141"], "a\r=cmd,2011-04-01,,E16000141")],
    crlf=False,
)
@example(
    lines=[
        (["c1", "2011-04-01", "", "E16000141"], "c1,2011-04-01,,E16000141"),
        (["x\r=1", "2011-04-01", "", "E16000141"], "x\r=1,2011-04-01,,E16000141"),
    ],
    crlf=True,
)
@given(lines=st.lists(_line(), min_size=1, max_size=12), crlf=st.booleans())
def test_any_input_gives_one_csv_record_per_row_and_no_formula_cell(
    tmp_path: Path,
    lines: list[tuple[list[str], str]],
    crlf: bool,
    per_case: bool,
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        src, out = Path(folder) / "in.csv", Path(folder) / "out.csv"
        end = "\r\n" if crlf else "\n"
        src.write_bytes((HEADER + end + "".join(text + end for _, text in lines)).encode())
        result = pctrules(
            "batch",
            str(src),
            "--output",
            str(out),
            "--decision",
            "responsible_pct",
            *(["--per-case"] if per_case else []),
        )
        assert result.exit_code in (0, 6), result.output
        with out.open(newline="", encoding="utf-8") as f:
            records = list(csv.reader(f))
    assert len(records) == 1 + len(lines)
    width = len(records[0])
    for k, (record, (cells, _)) in enumerate(zip(records[1:], lines, strict=True), start=1):
        assert len(record) == width, record
        given_id = cells[0]
        if given_id.isalnum():
            assert record[0] == given_id  # rows keep their order
        elif not given_id:
            assert record[0] == f"case-{k}"
        for cell in record:
            assert not cell.startswith(FORMULA_START), record
            assert not any(p.startswith(FORMULA_START) for p in _cells_after_line_ends(cell)), (
                record
            )


def test_a_bare_cr_in_an_id_is_quoted_when_no_line_starts_with_a_formula(tmp_path: Path) -> None:
    # The reproduction: the ids of a chunk were written as given when no line of it started
    # with a formula character, so 'a<CR>=cmd' split into two records, the second '=cmd'.
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(f"{HEADER}\na\r=cmd,2011-04-01,,E16000141\nb,2011-04-01,,E16000141\n".encode())
    result = pctrules("batch", str(src), "--output", str(out), "--decision", "responsible_pct")
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as f:
        records = list(csv.reader(f))
    assert [r[0] for r in records[1:]] == ["a\r'=cmd", "b"]
    assert [r[1] for r in records[1:]] == ["5QL", "5QL"]  # Somerset PCT
