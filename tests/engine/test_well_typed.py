"""Checked rules do not go wrong: any rule that `pctrules check` accepts evaluates, compiled and
traced alike, to a decision or a rule error, never an exception, and the two evaluators agree.

Rules are generated from the default bundle's own names (case fields, decisions, hops,
functions) and swapped into its last decision, then run over generated cases on the real
register. Found so far: a group of case fields used as a value (`case.person is not none`)
checked clean and then raised KeyError; `'5NT' is none` compiled to Python that warns; an error
in a generator's aggregate (`max(e for x in xs)`) named no rule when compiled, and a quantifier's
errors were placed at different expressions by the two evaluators.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from pctrules.batch.io import parse_csv
from pctrules.batch.run import ChunkEvaluator
from pctrules.bundle import Bundle
from pctrules.evaluation.engine import Engine
from pctrules.language.diagnostics import CaseError, Diagnostics, Severity
from tests.check.checkhelp import check, with_rule

from .test_properties import OUTCOMES, cases, params

_ATOMS = st.sampled_from(
    [
        # organisations
        "case.person.practice",
        "case.person.residence",
        "case.person.present_in",
        "case.service",
        "case.purchaser",
        "responsible_pct",
        "cluster",
        "commissioner",
        "commissioning_group",
        "lead_pct",
        "responsible_pct.sha",
        "responsible_pct.sha.scg",
        "case.person.practice.pct",
        "case.person.residence.covered_by",
        "cluster.lead",
        "responsible_pct.cluster",
        "x",
        "pct('5NT')",
        "sha('Q39')",
        "pct('5P3')",
        "sha('5NT')",
        "pct('5nt')",
        "practice('P84004')",
        # sets of them
        "responsible_pct.sha.pcts",
        "cluster.members",
        "case.service.commissioned_by",
        "responsible_pct.collaboratives",
        "['5NT', '5HG']",
        "responsible_pct.areas",
        "[pct('5NT'), pct('5HG')]",
        "sha('Q39').pcts",
        # other values
        "case.date",
        "case.setting",
        "case.id",
        "params.emergency_responsibility",
        "'emergency'",
        "'5NT'",
        "1",
        "0",
        "2011-04-01",
        "none",
        "true",
        "responsible_pct.population",
        "case.service.category",
        "case.service.emergency",
        # not values: the checker must say so
        "case.person",
        "case",
        "params",
    ]
)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(inner, inner)
    return st.one_of(
        st.tuples(inner, st.sampled_from(["==", "!=", "<", ">=", "in", "not in"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"
        ),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"
        ),
        st.tuples(st.sampled_from(["not ", "-"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, st.sampled_from(["is none", "is not none"])).map(
            lambda t: f"({t[0]}) {t[1]}"
        ),
        st.tuples(
            st.sampled_from(
                ["count", "only", "code", "name", "kind", "exists", "sum", "min", "max"]
            ),
            inner,
        ).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["any", "all", "count"]), pair).map(
            lambda t: f"{t[0]}(x in ({t[1][0]}): {t[1][1]})"
        ),
        pair.map(lambda t: f"[x in ({t[0]}): {t[1]}]"),
        pair.map(lambda t: f"max(({t[1]}) for x in ({t[0]}))"),
        st.tuples(st.sampled_from(["max_by", "min_by"]), inner).map(
            lambda t: f"{t[0]}({t[1]}, population)"
        ),
        pair.map(lambda t: f"within({t[0]}, {t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"if {t[0]} then {t[1]} else {t[2]}"),
        pair.map(lambda t: f"({t[0]}) + ({t[1]})"),
    )


_EXPR = st.recursive(_ATOMS, _extend, max_leaves=5)
_WHEN = st.one_of(_EXPR, _EXPR.map(lambda e: f"({e}) is not none"))
_DAY: dict[str, object] = {"id": "1", "date": dt.date(2011, 4, 1)}
_HOME: dict[str, object] = {"emergency_responsibility": "home"}
_THEN = st.one_of(
    st.sampled_from(
        [
            "none",
            "responsible_pct",
            "lead_pct",
            "case.purchaser",
            "case.person.practice.pct",
            "only(responsible_pct.sha.pcts)",
            "max_by(cluster.members, population)",
            "only(cluster.members)",
        ]
    ),
    _EXPR.map(lambda e: f"if ({e}) is not none then responsible_pct else none"),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@example(when="('5NT') is not none", then="none", raws=[_DAY], p=_HOME)
@example(
    when="(case.person.practice) is none",
    raws=[_DAY],
    p=_HOME,
    then="if (max((['5NT', '5HG']) for x in (['5NT', '5HG']))) is not none "
    "then responsible_pct else none",
)
@example(
    when="any(x in (['5NT', '5HG']): (only(['5NT', '5HG'])) == (x))",
    then="none",
    raws=[_DAY],
    p=_HOME,
)
@given(when=_WHEN, then=_THEN, raws=st.lists(cases, min_size=1, max_size=4), p=params)
def test_a_rule_that_checks_clean_evaluates(
    england: Engine, when: str, then: str, raws: list[dict[str, object]], p: dict[str, object]
) -> None:
    checked, problems = check(when, then)
    assume(not any(d.severity == Severity.ERROR for d in problems))
    policy = with_rule(when, then)
    bundle = Bundle(england.bundle.path, policy, checked, Diagnostics(), england.bundle.data_dir)
    bundle.__dict__["graph"] = england.graph  # the real register, loaded once per session
    engine = Engine(bundle)
    for raw in raws:
        try:
            compiled = engine.evaluate(raw, params=p)
        except CaseError:
            continue  # a code of the wrong kind for its field: the case is not evaluated
        traced = engine.evaluate(raw, params=p, trace=True)
        for name, r in compiled.decisions.items():
            t = traced.decisions[name]
            assert r.outcome in OUTCOMES
            assert (r.outcome, r.value, r.rule) == (t.outcome, t.value, t.rule), (name, raw)
            assert r.error == t.error, (name, raw)  # message, rule and place alike
    # `pctrules batch` by columns and groups writes what the per-case evaluator writes; each
    # case also on the days either side of the graph's changes, where groups must split.
    rows = [{**raw, "date": day} for raw in raws for day in (raw["date"], *_CHANGES)]
    text = (
        ",".join(_COLUMNS)
        + "\n"
        + "".join(",".join(_cell(raw, c) for c in _COLUMNS) + "\n" for raw in rows)
    )
    outputs = []
    for fast in (True, False):
        evaluator = ChunkEvaluator(
            engine, [d.name for d in engine.compiled.decisions], None, "csv", p, fast, True
        )
        chunk = parse_csv(text.encode(), None, False, _COLUMNS)
        outputs.append(evaluator.run(chunk, 0).data)
    assert outputs[0] == outputs[1]


_CHANGES = (
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
)
_COLUMNS = (
    "id",
    "date",
    "person.practice",
    "person.residence",
    "person.present_in",
    "service",
    "setting",
    "purchaser",
)


def _cell(raw: dict[str, object], column: str) -> str:
    value: object = raw
    for part in column.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return str(value)
