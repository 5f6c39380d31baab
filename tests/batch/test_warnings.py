"""The `warnings` column of batch output (issue 9, item 7): a code the data does not know is
decided as absent, and the row says so in the words `pctrules evaluate` uses; a malformed value
is the row's error."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.batch.conftest import pctrules, read_rows

HEADER = "id,date,person.practice,person.residence,service"

# (id, practice, residence, service): each names a code the data does not have, or a known one.
UNKNOWN = [
    ("zz", "ZZZZZZ", "", ""),
    ("lower", "p84004", "", ""),
    ("county", "", "Somerset", ""),
    ("area", "", "E16999999", ""),
    ("pct-as-practice", "5QX", "", ""),
    ("service", "P84004", "", "SSNDS-99"),
    ("two", "ZZZZZZ", "E16999999", ""),
    ("known", "P84004", "E16000141", "ROUTINE"),
    ("closed", "Y00001", "", ""),  # left the register in 2005
]


def _evaluate_warnings(
    register: Path, tmp: Path, rows: list[tuple[str, ...]], day: str
) -> dict[str, list[str]]:
    """What `pctrules evaluate --format json` warns for each case."""
    cases = []
    for case_id, practice, residence, service in rows:
        person = {k: v for k, v in (("practice", practice), ("residence", residence)) if v}
        case: dict[str, object] = {"id": case_id, "date": day, "person": person}
        if service:
            case["service"] = service
        cases.append(case)
    path = tmp / "cases.json"
    path.write_text(json.dumps(cases), encoding="utf-8")
    result = pctrules("evaluate", str(path), "--data", str(register), "--format", "json")
    assert result.exit_code in (0, 6), result.output  # 6: some decision failed
    return {d["case"]: d["warnings"] for d in map(json.loads, result.stdout.splitlines())}


@pytest.mark.parametrize("per_case", [False, True])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_unknown_codes_are_warned_about_as_evaluate_does(
    synthetic_register: Path, tmp_path: Path, fmt: str, per_case: bool
) -> None:
    src, out = tmp_path / "in.csv", tmp_path / f"out.{fmt}"
    src.write_text(
        HEADER + "\n" + "".join(f"{i},2011-09-01,{p},{r},{s}\n" for i, p, r, s in UNKNOWN),
        encoding="utf-8",
    )
    result = pctrules(
        "batch",
        str(src),
        "--output",
        str(out),
        "--data",
        str(synthetic_register),
        *(["--per-case"] if per_case else []),
    )
    assert result.exit_code == 0, result.output
    assert "9 rows read: 9 decided, 0 failed, 8 with warnings" in result.stdout
    if fmt == "csv":
        got = {r["id"]: r["warnings"] for r in read_rows(out)}
    else:
        got = {
            r["id"]: r["warnings"] or ""
            for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())
        }
    expected = _evaluate_warnings(synthetic_register, tmp_path, UNKNOWN, "2011-09-01")
    assert got == {k: "; ".join(v) for k, v in expected.items()}
    assert got["zz"] == (
        "practice 'ZZZZZZ' is not in the practice register on 2011-09-01; treated as unregistered"
    )
    assert got["lower"] == (
        "practice 'p84004' is not in the practice register on 2011-09-01; "
        "treated as unregistered (did you mean 'P84004'?)"
    )
    assert got["county"] == "area 'Somerset' is not in the data on 2011-09-01; treated as absent"
    assert got["service"] == (
        "service 'SSNDS-99' is not in the data on 2011-09-01; treated as absent"
    )
    assert got["known"] == ""


def test_a_code_with_spaces_around_it_is_the_rows_error_saying_so(
    synthetic_register: Path, tmp_path: Path
) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(
        HEADER + "\nsp,2011-09-01, P84004 ,,\nok,2011-09-01,P84004,,\n", encoding="utf-8"
    )
    result = pctrules(
        "batch",
        str(src),
        "--output",
        str(out),
        "--data",
        str(synthetic_register),
        "--decision",
        "responsible_pct",
    )
    assert "2 rows read: 1 decided, 1 failed" in result.stdout
    got = read_rows(out)
    assert got[0]["error"] == (
        "for case 'sp', field 'person.practice' is ' P84004 ', but must "
        "be a practice code with no spaces around it ('P84004')"
    )
    assert got[0]["warnings"] == ""
    assert got[1]["responsible_pct"] == "5NT"


_CODE = st.sampled_from(["", "P84004", "p84004", "A81001", "Y00001", "ZZZZZZ", "5QX", "5NT"])
_AREA = st.sampled_from(["", "E16000141", "E16999999", "Somerset", "AREA-5P3"])
_SERVICE = st.sampled_from(["", "ROUTINE", "SSNDS-06", "SSNDS-99", "NCG-HEART-TX"])
_DAY = st.sampled_from(["2003-06-01", "2006-09-30", "2006-10-01", "2011-09-01", "2013-04-01"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(_CODE, _AREA, _SERVICE), min_size=1, max_size=15), day=_DAY)
def test_batch_warns_exactly_as_evaluate_on_any_cases(
    synthetic_register: Path, tmp_path: Path, rows: list[tuple[str, str, str]], day: str
) -> None:
    cases = [(f"r{i}", *row) for i, row in enumerate(rows)]
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        tmp = Path(folder)
        src, out = tmp / "in.csv", tmp / "out.csv"
        src.write_text(
            HEADER + "\n" + "".join(f"{i},{day},{p},{r},{s}\n" for i, p, r, s in cases),
            encoding="utf-8",
        )
        result = pctrules(
            "batch", str(src), "--output", str(out), "--data", str(synthetic_register)
        )
        assert result.exit_code in (0, 6), result.output
        got = {r["id"]: r["warnings"] for r in read_rows(out) if not r["error"]}
        decided = [c for c in cases if c[0] in got]
        expected = _evaluate_warnings(synthetic_register, tmp, decided, day) if decided else {}
    assert got == {k: "; ".join(v) for k, v in expected.items()}
