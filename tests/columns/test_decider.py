"""The columnar API against the per-case engine: same values, rules, reasons, errors, warnings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctrules.columns import Decider
from pctrules.columns.decider import arrow_value
from pctrules.language.diagnostics import CaseError
from tests.columns import synthetic

Row = dict[str, Any]


def nested(row: Row) -> dict[str, object]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        *groups, last = key.split(".")
        target = out
        for g in groups:
            target = target.setdefault(g, {})
        target[last] = value
    return out


def per_case(decider: Decider, rows: list[Row], first_row: int = 0) -> list[Row]:
    """What the per-case engine says of each row, in decide_arrow's columns."""
    engine = decider.engine
    schema = decider.output_schema()
    out = []
    for r, row in enumerate(rows):
        raw = nested(row)
        index = first_row + r + 1
        got: Row = {}
        try:
            result = engine.validate_case(raw, index)
            case = engine.evaluate(
                result, as_of=decider.as_of, decisions=decider.decisions, params=decider.params
            )
        except CaseError as exc:
            rid = raw.get("id")
            got["id"] = (
                str(rid)
                if isinstance(rid, (str, int)) and not isinstance(rid, bool) and str(rid)
                else f"case-{index}"
            )
            for name in decider.decisions:
                got |= {name: None, f"{name}.rule": None, f"{name}.reason": None}
            got["error"] = "; ".join(d.message for d in exc.diagnostics)
            got["warnings"] = []
            out.append(got)
            continue
        got["id"] = case.case_id
        errors = []
        for name in decider.decisions:
            d = case.decisions[name]
            if d.outcome == "error":
                assert d.error is not None
                errors.append(
                    f"{name}: {d.error.message}"
                    + (f" (rule '{d.error.rule}')" if d.error.rule else "")
                )
                got |= {name: None, f"{name}.rule": None, f"{name}.reason": None}
            else:
                got |= {
                    name: arrow_value(d.value, schema.field(name).type),
                    f"{name}.rule": d.rule,
                    f"{name}.reason": d.reason,
                }
        got["error"] = "; ".join(errors) or None
        got["warnings"] = list(case.warnings)
        out.append(got)
    return out


def table(rows: list[Row]) -> pa.Table:
    return pa.Table.from_pylist(
        rows, schema=pa.schema([(c, pa.string()) for c in synthetic.COLUMNS])
    )


@pytest.fixture(scope="module")
def episodes(synthetic_data: tuple[Path, list[str]]) -> list[Row]:
    return synthetic.cases(6_000, synthetic_data[1])


@pytest.mark.parametrize("emergency", ["home", "present"])
def test_every_decision_equals_the_per_case_engine(
    synthetic_data: tuple[Path, list[str]], episodes: list[Row], emergency: str
) -> None:
    decider = Decider.open(data=synthetic_data[0], params={"emergency_responsibility": emergency})
    got = decider.decide_arrow(table(episodes), first_row=100).to_pylist()
    want = per_case(decider, episodes, first_row=100)
    assert got == want
    # The data had work for every decision, and bad rows of every sort.
    assert sum(r["error"] is not None for r in got) > 50
    assert any(r["warnings"] for r in got)
    assert any(r["id"] == "case-101" or r["id"].startswith("case-") for r in got)
    for rule in (
        "registered-practice",
        "unregistered-resident",
        "specialised-scg",
        "national-service",
        "own-pct",
    ):
        assert any(rule in r.values() for r in got), rule


def test_a_rule_error_on_one_row_leaves_the_others_decided(decider: Decider) -> None:
    # Many rows, one of which fails inside a rule: the batch goes case by case, and reads so.
    rows = [
        {"id": f"r{i}", "date": "2011-09-01", "person.residence": "E16000141"} for i in range(50)
    ]
    rows[7]["date"] = "1990-01-01"  # before the bundle's era: decisions are still given
    got = decider.decide_arrow(pa.Table.from_pylist(rows)).to_pylist()
    assert got == per_case(decider, rows)


def test_column_names_dotted_double_underscore_and_struct_agree(
    decider: Decider, episodes: list[Row]
) -> None:
    rows = episodes[:2_000]
    dotted = decider.decide_arrow(table(rows))
    underscored = decider.decide_arrow(
        table(rows).rename_columns([c.replace(".", "__") for c in synthetic.COLUMNS])
    )
    person = pa.StructArray.from_arrays(
        [
            pa.array([r[f"person.{k}"] for r in rows], pa.string())
            for k in ("practice", "residence", "present_in")
        ],
        names=["practice", "residence", "present_in"],
    )
    structs = pa.table(
        {
            "id": [r["id"] for r in rows],
            "date": [r["date"] for r in rows],
            "person": person,
            "service": [r["service"] for r in rows],
            "setting": [r["setting"] for r in rows],
        }
    )
    encoded = pa.table(
        {
            k: pa.array([r[k] for r in rows], pa.string()).dictionary_encode()
            for k in synthetic.COLUMNS
        }
    )
    assert underscored.equals(dotted)
    assert decider.decide_arrow(structs).equals(dotted)
    assert decider.decide_arrow(encoded).equals(dotted)


def test_date_columns_and_nulls_mean_what_the_engine_says(decider: Decider) -> None:
    rows = [
        {"id": "a", "date": dt.date(2011, 9, 1), "person.residence": "E16000141"},
        {"id": "b", "date": None, "person.residence": "E16000141"},
        {"id": None, "date": dt.date(2008, 1, 1), "person.practice": None},
    ]
    batch = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("id", pa.string()),
                ("date", pa.date32()),
                ("person.residence", pa.string()),
                ("person.practice", pa.string()),
            ]
        ),
    )
    got = decider.decide_arrow(batch).to_pylist()
    assert got == per_case(decider, rows)
    assert got[0]["responsible_pct"] == "5QL" and got[1]["error"] is not None
    assert got[2]["id"] == "case-3"


def test_an_unknown_column_fails_only_the_rows_that_give_it_a_value(decider: Decider) -> None:
    rows = [
        {"id": "a", "date": "2011-09-01", "person.practise": "A81001"},
        {"id": "b", "date": "2011-09-01", "person.practise": None},
    ]
    got = decider.decide_arrow(pa.Table.from_pylist(rows)).to_pylist()
    assert "unknown field 'person.practise'" in got[0]["error"]
    assert got[1]["error"] is None and got[1]["responsible_pct.rule"] == "not-known"


def test_two_columns_for_one_field_are_refused(decider: Decider) -> None:
    with pytest.raises(ValueError, match=r"two columns name the case field 'person\.practice'"):
        decider.decide_arrow(pa.table({"person.practice": ["A"], "person__practice": ["A"]}))


def test_the_schema_names_bundle_data_params_and_as_of(
    synthetic_data: tuple[Path, list[str]],
) -> None:
    d = Decider.open(data=synthetic_data[0], decisions=["responsible_pct"], as_of="2011-09-01")
    out = d.decide_arrow(pa.table({"id": ["x"], "person.residence": ["E16000141"]}))
    meta = {k.decode(): v.decode() for k, v in out.schema.metadata.items()}
    assert meta["pctrules.bundle_digest"] == d.engine.info.digest
    assert meta["pctrules.data_digest"] == d.engine.graph.digest
    assert meta["pctrules.as_of"] == "2011-09-01"
    assert json.loads(meta["pctrules.params"]) == d.params
    assert d.params["emergency_responsibility"] == "home"
    assert out.schema.names == [
        "id",
        "responsible_pct",
        "responsible_pct.rule",
        "responsible_pct.reason",
        "error",
        "warnings",
    ]
    assert out.schema == d.output_schema()
    assert out.to_pylist()[0]["responsible_pct"] == "5QL"


def test_an_empty_batch_gives_an_empty_batch_of_the_schema(decider: Decider) -> None:
    out = decider.decide_arrow(pa.table({"id": pa.array([], pa.string())}))
    assert out.num_rows == 0 and out.schema == decider.output_schema()


def test_pandas_wrapper(decider: Decider, episodes: list[Row]) -> None:
    import pandas as pd

    rows = episodes[:300]
    df = decider.decide_pandas(pd.DataFrame(rows))
    assert df["id"].tolist() == [r["id"] for r in per_case(decider, rows)]
    assert [None if pd.isna(v) else v for v in df["responsible_pct"]] == [
        r["responsible_pct"] for r in per_case(decider, rows)
    ]


def test_rules_table_and_explain(decider: Decider) -> None:
    rules = decider.rules_table().to_pylist()
    first = next(r for r in rules if r["rule"] == "registered-practice")
    assert first["decision"] == "responsible_pct" and first["reason"] == "1"
    assert first["at"].startswith("england/responsible-pct.yaml:")
    result = decider.explain({"id": "x", "date": "2011-09-01", "person__residence": "E16000141"})
    trace = result.to_dict()["decisions"]["responsible_pct"]["trace"]  # type: ignore[index]
    matched = [r["rule"] for r in trace["rules"] if r["outcome"] == "matched"]
    assert matched == ["unregistered-resident"]


def test_unknown_decisions_and_params_are_refused(synthetic_data: tuple[Path, list[str]]) -> None:
    with pytest.raises(ValueError, match="unknown decision 'responsible'"):
        Decider.open(decisions=["responsible"])
    with pytest.raises(ValueError, match="unknown parameter 'emergency'"):
        Decider.open(params={"emergency": "home"})


_CELL = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            " ",
            "A81001",
            "5QL",
            "E16000141",
            "SSNDS-06",
            "2011-09-01",
            "2011-02-30",
            "Y99999",
            "x",
        ]
    ),
)
_DAY = st.one_of(
    st.none(), st.dates(dt.date(2001, 1, 1), dt.date(2014, 12, 31)).map(dt.date.isoformat), _CELL
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "id": st.one_of(st.none(), st.text(max_size=3)),
                "date": _DAY,
                "person.practice": _CELL,
                "person.residence": _CELL,
                "person.present_in": _CELL,
                "service": _CELL,
                "setting": st.one_of(st.none(), st.sampled_from(["emergency", "elective", ""])),
            }
        ),
        max_size=40,
    ),
    st.integers(0, 10_000),
)
def test_decide_arrow_equals_per_case_on_any_batch(
    synthetic_data: tuple[Path, list[str]], rows: list[Row], first_row: int
) -> None:
    decider = _property_decider(synthetic_data)
    real = synthetic_data[1]
    # In the table's column order, which is the order the engine meets (and names) problems in.
    rows = [
        {k: (real[len(r[k]) % len(real)] if r[k] == "A81001" else r[k]) for k in synthetic.COLUMNS}
        for r in rows
    ]
    got = decider.decide_arrow(table(rows), first_row=first_row).to_pylist()
    assert got == per_case(decider, rows, first_row)


_DECIDERS: dict[Path, Decider] = {}


def _property_decider(data: tuple[Path, list[str]]) -> Decider:
    if data[0] not in _DECIDERS:
        _DECIDERS[data[0]] = Decider.open(data=data[0])
    return _DECIDERS[data[0]]


def test_a_set_field_in_a_list_column_is_decided_as_the_engine_decides(tmp_path: Path) -> None:
    """A set field's natural Arrow column is a list, which Arrow's hash lookup cannot take: it
    was an internal error (ArrowNotImplementedError), found by the conformance corpus's Arrow
    path. Its rows are now decided, as the engine decides each case."""
    from pctrules.evaluation.engine import Engine
    from tests.conformance import runner

    corpus = runner.CorpusFile(
        "sets",
        {
            "n.yaml": (
                "decision: n\noutput: int?\nrules:\n  - id: r\n    when: case.groups is not none\n"
                "    then: count(case.groups)\n"
            )
        },
        [],
    )
    engine: Engine = runner.build(corpus, tmp_path)
    day = dt.date(2011, 1, 1)
    rows: list[Row] = [
        {"id": "two", "date": day, "groups": ["G1", "G2"]},
        {"id": "none", "date": day, "groups": None},
        {"id": "again", "date": day, "groups": ["G2", "G1"]},
        {"id": "unknown", "date": day, "groups": ["G9"]},
    ]
    decided = Decider(engine).decide_arrow(pa.Table.from_pylist(rows)).to_pylist()
    for row, got in zip(rows, decided, strict=True):
        want = engine.evaluate({k: v for k, v in row.items() if v is not None})
        assert (got["n"], got["n.rule"], got["warnings"]) == (
            want.decisions["n"].value,
            want.decisions["n"].rule,
            want.warnings,
        ), row["id"]
