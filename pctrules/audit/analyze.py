"""Audit stage, analysis: gaps, overlaps and dead rules over every situation the data produces.

Over the exhaustive situation space (explore.py) of one bundle and its data:

- **gap** — a decision matches no rule (and has no default);
- **overlap** — under `hit: unique`, two rules match; **disagreement** — under `hit: any`,
  matching rules give different results; **rule error** — a rule fails (e.g. `only()` of two);
- **shadowed** — a rule never decides because an earlier rule (or a higher priority) always
  decides first where it would match; **never matches** — its condition holds in no situation
  of the data (it can fire only for situations that do not occur);
- **not decided** — by design: a `for:` decision with no subject, a decision not in effect.

Each finding names its rules with their file:line:col, and gives counts, the practices and
registered population covered, the dates, and example situations (each also as a case file
entry, to run through `pctrules explain`). Shadowing is told apart from never matching by a
second walk in which the silent rules are evaluated on their own (`hit: collect`) beside the
decision as written.

Over 500 lines since `ruff format` lays out its report builders one argument per line: the
finding kinds share one walk and one report shape, and split apart they would pass that state
between modules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pctrules.audit.explore import Explorer, Outcome, Record
from pctrules.audit.space import Class, Lane
from pctrules.audit.tally import (
    Tally,
    Weights,
    days_text,
    merge_days,
    situation,
    situations,
    tally,
    weigh,
)
from pctrules.evaluation.engine import Engine
from pctrules.language.check.state import CheckedDecision

EXAMPLES = 3


@dataclass
class Finding:
    kind: str
    decision: str
    rules: list[str]
    at: list[str]
    message: str
    situations: int
    practices: int | None
    population: int | None
    days: list[tuple[int, int]]
    examples: list[dict[str, Any]]

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "decision": self.decision,
            "rules": self.rules,
            "at": self.at,
            "message": self.message,
            "situations": self.situations,
            "practices": self.practices,
            "population": self.population,
            "dates": [
                [dt.date.fromordinal(a).isoformat(), dt.date.fromordinal(b).isoformat()]
                for a, b in self.days
            ],
            "examples": self.examples,
        }


@dataclass
class RuleUse:
    """How often a rule decided over the space."""

    decision: str
    rule: str
    at: str
    situations: int = 0
    population: int | None = None


@dataclass
class Analysis:
    bundle: dict[str, object]
    start: dt.date
    end: dt.date
    situations: int
    seconds: float
    space: dict[str, object]
    findings: list[Finding] = field(default_factory=list)
    rules: list[RuleUse] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    PROBLEMS = ("gap", "overlap", "disagreement", "rule-error", "shadowed", "never-matches")

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in self.PROBLEMS]

    def to_dict(self) -> dict[str, object]:
        return {
            "bundle": self.bundle,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "situations": self.situations,
            "space": self.space,
            "problems": len(self.problems),
            "findings": [f.to_dict() for f in self.findings],
            "rules": [
                {
                    "decision": r.decision,
                    "rule": r.rule,
                    "at": r.at,
                    "situations": r.situations,
                    "population": r.population,
                }
                for r in self.rules
            ],
            "notes": self.notes,
        }


def default_range(engine: Engine) -> tuple[dt.date, dt.date]:
    """The bundle's effective dates; without them, the span of the data's own dates."""
    eff = engine.bundle.policy.manifest.effective
    if eff is not None and eff.start is not None and eff.end is not None:
        return eff.start, eff.end
    days = [
        d
        for n in engine.graph.nodes.values()
        for d in (n.valid_from, n.valid_to)
        if d not in (dt.date.min, dt.date.max)
    ]
    if not days:
        return dt.date(2002, 4, 1), dt.date(2013, 3, 31)
    return (eff.start if eff and eff.start else min(days)), (
        eff.end if eff and eff.end else max(days)
    )


def analyze(
    engine: Engine, start: dt.date, end: dt.date, decisions: Sequence[str] | None = None
) -> Analysis:
    """Walk every situation of the bundle's data between `start` and `end`, and report."""
    began = time.perf_counter()
    lane = Lane(0, engine, decisions)
    explorer = Explorer([lane], start, end, keep_states=True)
    explorer.run()
    weights = weigh(explorer)
    counts = tally(explorer, weights)
    info = engine.info
    out = Analysis(
        {
            "name": info.name,
            "version": info.version,
            "digest": info.digest,
            "data": engine.graph.digest,
        },
        start,
        end,
        situations(explorer),
        0.0,
        space_summary(explorer),
    )
    out.notes.extend(explorer.fields.notes)
    fired: dict[tuple[str, str], Tally] = {}
    for (name, record), t in sorted(counts.items(), key=_order):
        assert isinstance(record, Outcome)
        for rid in record.rules or ((record.rule,) if record.rule else ()):
            _add(fired, (name, rid), t)
        finding = _finding(explorer, lane, name, record, t)
        if finding is not None:
            out.findings.append(finding)
    for name in lane.order:
        if name not in lane.wanted:
            continue
        d = lane.steps[name].checked
        for rule in d.rules:
            got = fired.get((name, rule.spec.id))
            use = RuleUse(name, rule.spec.id, str(rule.spec.id_span))
            if got is not None:
                use.situations = got.situations
                use.population = _population(explorer, got)
            out.rules.append(use)
        silent = [r for r in d.rules if (name, r.spec.id) not in fired]
        if silent:
            out.findings.extend(_silent(engine, explorer, weights, d, silent, start, end))
    out.findings.sort(
        key=lambda f: (
            Analysis.PROBLEMS.index(f.kind) if f.kind in Analysis.PROBLEMS else 99,
            lane.order.index(f.decision),
            f.rules,
        )
    )
    out.seconds = time.perf_counter() - began
    return out


def _order(item: tuple[tuple[str, Record], Tally]) -> tuple[str, str]:
    (name, record), _ = item
    return name, repr(record)


def _add(into: dict[tuple[str, str], Tally], key: tuple[str, str], t: Tally) -> None:
    held = into.get(key)
    if held is None:
        held = into[key] = Tally()
    held.situations += t.situations
    held.days = sorted(held.days + t.days)
    if held.members is not None:
        held.members = None if t.members is None else held.members | t.members
    held.examples.extend(t.examples[: EXAMPLES - len(held.examples)])


def _finding(
    explorer: Explorer,
    lane: Lane,
    name: str,
    o: Outcome,
    t: Tally,
) -> Finding | None:
    if name not in lane.wanted:
        return None
    d = lane.steps[name].checked
    hit = d.spec.hit.value
    where = str(d.spec.name_span)
    if o.outcome == "no-match":
        if o.note is not None:
            return _make(
                explorer, "not-decided", name, [], [where], f"'{name}' is not decided: {o.note}", t
            )
        return _make(
            explorer,
            "gap",
            name,
            [],
            [where],
            f"no rule of '{name}' matches (hit: {hit}) and it has no default",
            t,
        )
    if o.outcome != "error" or o.error is None or o.error.startswith("depends on '"):
        return None
    rules = [r.spec.id for r in d.rules if f"'{r.spec.id}'" in o.error]
    at = [str(r.spec.id_span) for r in d.rules if r.spec.id in rules]
    if o.error_rule is None and hit == "unique":
        return _make(
            explorer,
            "overlap",
            name,
            rules,
            at,
            f"rules {_names(rules)} of '{name}' match together (hit: unique)",
            t,
        )
    if o.error_rule is None and hit == "any":
        return _make(
            explorer,
            "disagreement",
            name,
            rules,
            at,
            f"rules {_names(rules)} of '{name}' give different results (hit: any)",
            t,
        )
    rule = o.error_rule or (rules[0] if rules else "")
    at = [str(r.spec.id_span) for r in d.rules if r.spec.id == rule] or [where]
    return _make(
        explorer,
        "rule-error",
        name,
        [rule] if rule else [],
        at,
        f"rule '{rule}' of '{name}' fails: {o.error}",
        t,
    )


def _names(rules: Sequence[str]) -> str:
    quoted = [f"'{r}'" for r in rules]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def _make(
    explorer: Explorer,
    kind: str,
    name: str,
    rules: list[str],
    at: list[str],
    message: str,
    t: Tally,
) -> Finding:
    return Finding(
        kind,
        name,
        rules,
        at,
        message,
        t.situations,
        _practices(explorer, t),
        _population(explorer, t),
        t.days,
        [example(explorer, n) for n in t.examples[:EXAMPLES]],
    )


def _silent(
    engine: Engine,
    explorer: Explorer,
    weights: Weights,
    d: CheckedDecision,
    silent: Sequence[Any],
    start: dt.date,
    end: dt.date,
) -> list[Finding]:
    """Rules that never decided: shadowed (their condition holds somewhere, and an earlier
    rule decides there) or never matching (it holds nowhere in the data)."""
    name = d.spec.name
    out: list[Finding] = []
    live = []
    for r in silent:
        eff = r.spec.effective
        if eff is not None and (
            (eff.end or dt.date.max) < start or (eff.start or dt.date.min) > end
        ):
            out.append(
                Finding(
                    "not-decided",
                    name,
                    [r.spec.id],
                    [str(r.spec.id_span)],
                    f"rule '{r.spec.id}' of '{name}' is not in effect between {start} and {end}",
                    0,
                    None,
                    None,
                    [],
                    [],
                )
            )
        else:
            live.append(r)
    if not live:
        return out
    probe = probe_engine(engine, d, [r.spec.id for r in live]).bound.functions[name]
    j = next(i for i, s in enumerate(explorer.steps) if s.name == name)
    held: dict[str, list[tuple[Outcome | None, Tally]]] = {r.spec.id: [] for r in live}
    shown: dict[str, list[dict[str, Any]]] = {r.spec.id: [] for r in live}
    for node, records in enumerate(explorer.tree.records):
        outcome = next((o for i, o in records if i == j), None)
        st = explorer.tree.states.get(node)
        if outcome is None or st is None:
            continue
        period = explorer.tree.period[node]
        for probed, result in explorer.probe(j, st, period, probe):
            for rule in result.rules:
                if rule in held:
                    t = Tally()
                    t.add(weights, node, weights.paths[node])
                    held[rule].append((outcome, t))  # type: ignore[arg-type]
                    if len(shown[rule]) < EXAMPLES:
                        shown[rule].append(example(explorer, node, probed.fields))
    for r in live:
        rid = r.spec.id
        found = held[rid]
        if not found:
            out.append(
                Finding(
                    "never-matches",
                    name,
                    [rid],
                    [str(r.spec.id_span)],
                    f"rule '{rid}' of '{name}' never matches: its condition holds in no situation "
                    f"of the data between {start} and {end}",
                    0,
                    None,
                    None,
                    [],
                    [],
                )
            )
            continue
        total = Tally()
        firsts: dict[str, int] = {}
        for old, t in found:
            _merge_into(total, t)
            key = (
                old.rule
                if old is not None and old.rule
                else "an error"
                if old is not None and old.outcome == "error"
                else "no rule"
            )
            firsts[key] = firsts.get(key, 0) + t.situations
        by = sorted(firsts.items(), key=lambda kv: (-kv[1], kv[0]))
        deciders = [k for k, _ in by]
        at = [str(r.spec.id_span)] + [str(x.spec.id_span) for x in d.rules if x.spec.id in deciders]
        told = ", ".join(f"'{k}' in {v:,}" for k, v in by)
        out.append(
            Finding(
                "shadowed",
                name,
                [rid, *[k for k in deciders if k in {x.spec.id for x in d.rules}]],
                at,
                f"rule '{rid}' of '{name}' would match in {total.situations:,} situations, "
                f"but never decides: {told} decides first",
                total.situations,
                _practices(explorer, total),
                _population(explorer, total),
                merge_days(total.days),
                shown[rid],
            )
        )
    return out


def _merge_into(total: Tally, t: Tally) -> None:
    total.situations += t.situations
    total.days = sorted(total.days + t.days)
    if total.members is not None:
        total.members = None if t.members is None else total.members | t.members
    total.examples.extend(t.examples[: EXAMPLES - len(total.examples)])


def probe_engine(engine: Engine, d: CheckedDecision, rules: Sequence[str]) -> Engine:
    """The bundle with decision `d` replaced by its rules `rules` alone under `hit: collect`:
    it says, in each situation, which of them hold."""
    spec = dataclasses.replace(d.spec, hit=dataclasses.replace(d.spec.hit, value="collect"))
    variant = dataclasses.replace(
        d, spec=spec, rules=tuple(r for r in d.rules if r.spec.id in rules), default=None
    )
    checked = dataclasses.replace(
        engine.checked, decisions=tuple(variant if x is d else x for x in engine.checked.decisions)
    )
    bundle = dataclasses.replace(engine.bundle, checked=checked)
    bundle.__dict__["graph"] = engine.graph  # the same data: not built again
    return Engine(bundle)


def _practices(explorer: Explorer, t: Tally) -> int | None:
    if explorer.fields.population is None:
        return None
    if t.members is None:
        return len(
            [a for a in explorer.fields.atoms(explorer.fields.population) if a.value is not None]
        )
    return len([m for m in t.members if m is not None])


def _population(explorer: Explorer, t: Tally) -> int | None:
    key = explorer.fields.population
    if key is None:
        return None
    graph = explorer.lanes[0].graph
    codes = t.members if t.members is not None else [a.value for a in explorer.fields.atoms(key)]
    total, known = 0, False
    for code in codes:
        n = graph.nodes.get(code) if isinstance(code, str) else None
        size = n.attributes.get("population") if n is not None else None
        if isinstance(size, int):
            total += size
            known = True
    return total if known else None


def example(
    explorer: Explorer, node: int, more: Mapping[str, Class] | None = None
) -> dict[str, Any]:
    """An example situation: each field the decisions read on the way (and `more`), and its
    period; with a case (the first value of each class, on the first day) for `explain`."""
    found = situation(explorer, node)
    fields: dict[str, Class] = {**found["fields"], **(more or {})}
    case: dict[str, Any] = {"id": "example", "date": found["from"].isoformat()}
    params: dict[str, object] = {}
    shown: dict[str, object] = {}
    for key in sorted(fields):
        c = fields[key]
        shown[key] = {"values": [m.label for m in c.members[:5]], "count": len(c.members)}
        if key.startswith("params."):
            params[key[7:]] = c.rep
            continue
        value = c.rep
        if value is None:
            continue
        target = case
        *groups, last = key.split(".")
        for g in groups:
            target = target.setdefault(g, {})
        target[last] = (
            value
            if not isinstance(value, (dt.date, frozenset))
            else (value.isoformat() if isinstance(value, dt.date) else sorted(value))
        )
    return {
        "fields": shown,
        "from": found["from"].isoformat(),
        "to": found["to"].isoformat(),
        "case": case,
        "params": params,
    }


def space_summary(explorer: Explorer) -> dict[str, object]:
    """How many values each field the walk read ranges over."""
    f = explorer.fields
    out: dict[str, object] = {}
    for key in sorted(f._atoms):
        atoms = f._atoms[key]
        out[key] = len(atoms)
    out["nodes"] = len(explorer.tree)
    return out


# -- rendering -------------------------------------------------------------------------

_HEADINGS = {
    "gap": "gaps (no rule matches)",
    "overlap": "overlaps (hit: unique)",
    "disagreement": "disagreements (hit: any)",
    "rule-error": "rule errors",
    "shadowed": "shadowed rules",
    "never-matches": "rules that never match",
    "not-decided": "not decided, by design",
}


def render_text(a: Analysis) -> str:
    b = a.bundle
    lines = [
        f"analyze {b['name']} {b['version']} from {a.start} to {a.end}: "
        f"{a.situations:,} situations ({_space_text(a.space)})"
    ]
    for kind, heading in _HEADINGS.items():
        found = [f for f in a.findings if f.kind == kind]
        if kind in Analysis.PROBLEMS or found:
            lines.append(f"{heading}: {'none' if not found else len(found)}")
        for f in found:
            lines.append(f"  {f.message}")
            lines.append(f"    at {', '.join(f.at)}")
            if f.situations:
                lines.append(f"    {_scope(f)}")
            for ex in f.examples:
                lines.append(f"    e.g. {example_text(ex)}")
    lines.append(f"{len(a.problems)} problem{'s' * (len(a.problems) != 1)} found")
    for note in a.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _scope(f: Finding) -> str:
    parts = [f"{f.situations:,} situation{'s' * (f.situations != 1)}"]
    if f.practices:
        parts.append(f"{f.practices:,} practice{'s' * (f.practices != 1)}")
    if f.population is not None:
        parts.append(f"{f.population:,} registered patients")
    if f.days:
        parts.append(days_text(f.days))
    return "; ".join(parts)


def example_text(ex: Mapping[str, Any]) -> str:
    fields = ex["fields"]
    parts = []
    for key, v in fields.items():
        values = " or ".join(str(x) for x in v["values"][:3])
        more = v["count"] - min(3, len(v["values"]))
        shown = values + (f" or {more:,} more" if more > 0 else "")
        parts.append(f"{key} {shown}" if not key.startswith("params.") else shown)
    when = ex["from"] if ex["from"] == ex["to"] else f"{ex['from']}–{ex['to']}"
    return ", ".join([*parts, when]) if parts else when


def _space_text(space: Mapping[str, object]) -> str:
    named = {
        "person.practice": ("practice", "practices"),
        "person.residence": ("area of residence", "areas of residence"),
        "service": ("service", "services"),
    }
    parts = []
    for key, (one, many) in named.items():
        if key in space:
            n = space[key]
            parts.append(f"{n:,} {one if n == 1 else many}")
    others = [k for k in space if k not in named and k != "nodes"]
    if others:
        parts.append("and " + ", ".join(others))
    return "; ".join(parts) + " (counts include none)" if parts else "nothing read"


def to_json(a: Analysis) -> str:
    return json.dumps(a.to_dict(), ensure_ascii=False, indent=2)
