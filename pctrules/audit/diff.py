"""Audit stage, impact: what changes if a policy revision is adopted, for whom, by which rule.

Three views of two bundles (old, new) over the same data:

- **static** — decisions added or removed, and per decision its settings and rules: added,
  removed, moved, or edited (condition, result, dates, priority, reason, wording);
- **cases** — a case file (YAML/JSON) or batch input (CSV/JSONL) decided by both: the
  transition table (decision, old value/rule → new value/rule, count, example case ids);
- **exhaustive** — every situation the data can produce, decided by both side by side
  (explore.py): the same table, counted in situations and weighted by the registered
  population of the practices involved, with the dates on which each transition happens.

The three views share the transition type and one report, so they are one module (over 500
lines for that).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pctrules.audit.analyze import _population, _practices, example, example_text
from pctrules.audit.explore import Explorer, Outcome
from pctrules.audit.records import canonical_json
from pctrules.audit.space import Lane
from pctrules.audit.tally import Tally, days_text, merge_days, situations, tally
from pctrules.evaluation.engine import Engine
from pctrules.evaluation.runtime import json_value
from pctrules.language.loader import DecisionSpec, PolicyBundle, RuleSpec

EXAMPLES = 5


# -- static ---------------------------------------------------------------------------------


@dataclass
class Change:
    """One difference between the two bundles' policy text."""

    decision: str | None
    rule: str | None
    what: str  # added | removed | moved | edited | setting
    detail: str
    at: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "rule": self.rule,
            "change": self.what,
            "detail": self.detail,
            "at": self.at,
        }

    def text(self) -> str:
        who = f"{self.decision}: " if self.decision else ""
        rule = f"rule '{self.rule}' " if self.rule else ""
        at = f" ({self.at})" if self.at else ""
        return f"{who}{rule}{self.what}{': ' + self.detail if self.detail else ''}{at}"


def static_diff(old: PolicyBundle, new: PolicyBundle) -> list[Change]:
    """Every difference between the bundles' decisions, rules and parameters."""
    out: list[Change] = []
    before = {d.name: d for d in old.decisions}
    after = {d.name: d for d in new.decisions}
    for name in before:
        if name not in after:
            out.append(Change(name, None, "removed", "the decision", str(before[name].name_span)))
    for name, d in after.items():
        if name not in before:
            out.append(Change(name, None, "added", "the decision", str(d.name_span)))
            continue
        out.extend(_decision_changes(before[name], d))
    old_params = {p.name: p for p in old.manifest.parameters}
    new_params = {p.name: p for p in new.manifest.parameters}
    for name in sorted(set(old_params) | set(new_params)):
        a, b = old_params.get(name), new_params.get(name)
        if a is None or b is None:
            out.append(
                Change(
                    None,
                    None,
                    "added" if a is None else "removed",
                    f"parameter '{name}'",
                    str((b or a).span),  # type: ignore[union-attr]
                )
            )
        elif (a.type, a.default, a.choices) != (b.type, b.default, b.choices):
            out.append(Change(None, None, "edited", f"parameter '{name}'", str(b.span)))
    if old.manifest.case != new.manifest.case:
        out.append(Change(None, None, "edited", "the case schema ('case:' in bundle.yaml)", None))
    if old.manifest.schema != new.manifest.schema:
        out.append(
            Change(None, None, "edited", "the organisation schema ('schema:' in bundle.yaml)", None)
        )
    return out


def _text(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    return " ".join(str(getattr(value, "text", value)).split())


def _decision_changes(a: DecisionSpec, b: DecisionSpec) -> Iterator[Change]:
    name = b.name
    settings = {
        "hit": (a.hit.value, b.hit.value),
        "output": (a.output.value if a.output else None, b.output.value if b.output else None),
        "for": (_text(a.for_), _text(b.for_)),
        "default": (_text(a.default), _text(b.default)),
        "effective": (
            str(a.effective) if a.effective else None,
            str(b.effective) if b.effective else None,
        ),
    }
    for key, (x, y) in settings.items():
        if x != y:
            yield Change(name, None, "setting", f"{key}: {x} → {y}", str(b.name_span))
    old_rules = {r.id: (i, r) for i, r in enumerate(a.rules)}
    new_rules = {r.id: (i, r) for i, r in enumerate(b.rules)}
    for rid, (_, r) in old_rules.items():
        if rid not in new_rules:
            yield Change(name, rid, "removed", "", str(r.id_span))
    kept_old = [rid for rid in old_rules if rid in new_rules]
    kept_new = [rid for rid in new_rules if rid in old_rules]
    for rid, (i, r) in new_rules.items():
        if rid not in old_rules:
            yield Change(name, rid, "added", f"at position {i + 1}", str(r.id_span))
            continue
        if kept_old.index(rid) != kept_new.index(rid):
            yield Change(
                name,
                rid,
                "moved",
                f"from position {old_rules[rid][0] + 1} to {i + 1}",
                str(r.id_span),
            )
        edits = _rule_edits(old_rules[rid][1], r)
        if edits:
            yield Change(name, rid, "edited", ", ".join(edits), str(r.id_span))


def _rule_edits(a: RuleSpec, b: RuleSpec) -> list[str]:
    fields = {
        "when": (_text(a.when), _text(b.when)),
        "then": (_text(a.then), _text(b.then)),
        "effective": (
            str(a.effective) if a.effective else None,
            str(b.effective) if b.effective else None,
        ),
        "priority": (
            a.priority.value if a.priority else None,
            b.priority.value if b.priority else None,
        ),
        "reason": (a.reason, b.reason),
        "title": (a.title, b.title),
        "cite": (a.cite, b.cite),
    }
    return [k for k, (x, y) in fields.items() if x != y]


# -- transitions -------------------------------------------------------------------------------


Side = tuple[str, str | None, str | None, str]  # (value as JSON text, rule, reason, outcome)


@dataclass
class Transition:
    """Cases or situations whose decision moved from one (value, rule) to another."""

    decision: str
    old: Side | None
    new: Side | None
    count: int = 0
    examples: list[Any] = field(default_factory=list)
    practices: int | None = None
    population: int | None = None
    days: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "decision": self.decision,
            "old": _side_dict(self.old),
            "new": _side_dict(self.new),
            "count": self.count,
            "examples": self.examples,
        }
        if self.days:
            out.update(
                {
                    "practices": self.practices,
                    "population": self.population,
                    "dates": [
                        [dt.date.fromordinal(a).isoformat(), dt.date.fromordinal(b).isoformat()]
                        for a, b in self.days
                    ],
                }
            )
        return out


def _side_dict(side: Side | None) -> dict[str, object] | None:
    if side is None:
        return None
    return {"value": json.loads(side[0]), "rule": side[1], "reason": side[2], "outcome": side[3]}


def side_text(side: Side | None, other: Side | None = None) -> str:
    """A side of a transition; its reason too when the other side's differs."""
    if side is None:
        return "(no such decision)"
    value, rule, reason, outcome = side
    if outcome == "error":
        return "error"
    if outcome == "no-match":
        return "no rule matched"
    shown = _value_text(value)
    text = f"{shown} by {rule}" if rule else f"{shown} (default)"
    if other is not None and other[2] != reason:
        text += f" (reason {reason})"
    return text


def _value_text(text: str) -> str:
    value = json.loads(text)
    if value is None:
        return "none"
    if isinstance(value, list):
        return "{" + ", ".join(str(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Impact:
    """Transitions over a set of cases or over the whole space."""

    what: str  # "cases" | "exhaustive"
    total: int  # cases or situations
    unchanged: int
    transitions: list[Transition]
    seconds: float = 0.0
    start: dt.date | None = None
    end: dt.date | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.total - self.unchanged

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "over": self.what,
            "total": self.total,
            "unchanged": self.unchanged,
            "transitions": [t.to_dict() for t in self.transitions],
            "notes": self.notes,
        }
        if self.start is not None and self.end is not None:
            out["from"], out["to"] = self.start.isoformat(), self.end.isoformat()
        return out


def _order(t: Transition) -> tuple[str, int, str, str]:
    return t.decision, -t.count, repr(t.old), repr(t.new)


# -- over cases --------------------------------------------------------------------------------


def cases_diff(
    old: Engine,
    new: Engine,
    path: Path,
    *,
    decisions: Sequence[str] | None,
    as_of: dt.date | None,
    params: Mapping[str, object] | None,
) -> Impact:
    """Decide every case of `path` with both bundles and tabulate what changed."""
    began = time.perf_counter()
    names = _shared_names(old, new, decisions)
    if path.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
        rows = _batch_pairs(old, new, path, names, as_of, params)
    else:
        rows = _case_pairs(old, new, path, names, as_of, params)
    table: dict[tuple[str, Side | None, Side | None], Transition] = {}
    total = unchanged = 0
    for case_id, before, after in rows:
        total += 1
        same = True
        for name in names:
            a, b = before.get(name), after.get(name)
            if a == b:
                continue
            same = False
            key = (name, a, b)
            t = table.get(key)
            if t is None:
                t = table[key] = Transition(name, a, b)
            t.count += 1
            if len(t.examples) < EXAMPLES:
                t.examples.append(case_id)
        unchanged += same
    impact = Impact("cases", total, unchanged, sorted(table.values(), key=_order))
    impact.seconds = time.perf_counter() - began
    return impact


def _shared_names(old: Engine, new: Engine, decisions: Sequence[str] | None) -> list[str]:
    before = [d.name for d in old.compiled.decisions]
    after = [d.name for d in new.compiled.decisions]
    names = [n for n in before if n in after] + [n for n in after if n not in before]
    names = [n for n in before if n not in after] + names
    return [n for n in names if not decisions or n in decisions]


Pair = tuple[str, dict[str, Side], dict[str, Side]]


def _case_pairs(
    old: Engine,
    new: Engine,
    path: Path,
    names: Sequence[str],
    as_of: dt.date | None,
    params: Mapping[str, object] | None,
) -> Iterator[Pair]:
    from pctrules.commands.case_files import read_case_file

    # Each bundle reads the file by its own case schema (a plain YAML scalar is typed by it).
    read = [read_case_file(str(path), engine.case_schema) for engine in (old, new)]
    for index, raws in enumerate(zip(*read, strict=True), start=1):
        sides = []
        case_id = f"case-{index}"
        for engine, raw in zip((old, new), raws, strict=True):
            mine = [n for n in names if engine.compiled.decision(n) is not None]
            case = engine.validate_case(raw.data, index)
            case_id = case.id
            result = engine.evaluate(
                case, as_of=as_of, decisions=mine, params=_params_for(engine, params)
            )
            sides.append(
                {
                    n: (canonical_json(json_value(r.value)), r.rule, r.reason, r.outcome)
                    for n, r in result.decisions.items()
                }
            )
        yield case_id, sides[0], sides[1]


def _params_for(engine: Engine, params: Mapping[str, object] | None) -> dict[str, object] | None:
    if not params:
        return None
    return {k: v for k, v in params.items() if k in engine.params}


def _batch_pairs(
    old: Engine,
    new: Engine,
    path: Path,
    names: Sequence[str],
    as_of: dt.date | None,
    params: Mapping[str, object] | None,
) -> Iterator[Pair]:
    """Both bundles through `pctrules batch` (the same rows, in order), then row by row."""
    from pctrules.audit.batchlog import output_rows
    from pctrules.batch.run import BatchOptions, prepare, run_batch

    with tempfile.TemporaryDirectory(prefix="pctrules-diff-") as tmp:
        outputs = []
        mine_by_side = []
        for side, engine in (("old", old), ("new", new)):
            mine = [n for n in names if engine.compiled.decision(n) is not None]
            out = Path(tmp) / f"{side}.jsonl"
            opts = BatchOptions(
                input=path,
                output=out,
                bundle=engine.bundle.path,
                data_dir=engine.bundle.data_dir,
                as_of=as_of,
                decisions=tuple(mine),
                out_format="jsonl",
                params=_params_for(engine, params),
            )
            run_batch(opts, None, prepare(opts, engine))
            outputs.append(output_rows(out, "jsonl", mine, engine))
            mine_by_side.append(mine)
        for (case_id, a, err_a, _), (_, b, err_b, _) in zip(*outputs, strict=True):
            yield (case_id, _sides(a, mine_by_side[0], err_a), _sides(b, mine_by_side[1], err_b))


def _sides(text: str, names: Sequence[str], error: str | None) -> dict[str, Side]:
    held = json.loads(text)
    out: dict[str, Side] = {}
    for name in names:
        value, rule, reason = held[name]
        failed = error is not None and (f"{name}: " in error) and rule is None
        outcome = (
            "error"
            if failed
            else ("matched" if rule else ("no-match" if value is None else "default"))
        )
        out[name] = (canonical_json(value), rule, reason, outcome)
    return out


# -- over every situation ----------------------------------------------------------------------


def exhaustive_diff(
    old: Engine, new: Engine, start: dt.date, end: dt.date, decisions: Sequence[str] | None = None
) -> Impact:
    """Decide every situation of the data with both bundles, side by side."""
    began = time.perf_counter()
    known_old = {d.name for d in old.compiled.decisions}
    known_new = {d.name for d in new.compiled.decisions}
    lanes = [
        Lane(0, old, [d for d in decisions if d in known_old] if decisions else None),
        Lane(1, new, [d for d in decisions if d in known_new] if decisions else None),
    ]
    explorer = Explorer(lanes, start, end)
    explorer.run()
    table: dict[tuple[str, Side | None, Side | None], Transition] = {}
    tallies: dict[tuple[str, Side | None, Side | None], Tally] = {}
    for (name, record), t in tally(explorer).items():
        assert isinstance(record, tuple)
        a, b = (_side(o) for o in record)
        if a == b:
            continue
        key = (name, a, b)
        held = tallies.get(key)
        if held is None:
            tallies[key] = t
        else:
            held.situations += t.situations
            held.days = merge_days(held.days + t.days)
            if held.members is not None:
                held.members = None if t.members is None else held.members | t.members
            held.examples.extend(t.examples[: 3 - len(held.examples)])
    for key, t in tallies.items():
        table[key] = Transition(
            key[0],
            key[1],
            key[2],
            t.situations,
            [example(explorer, n) for n in t.examples],
            _practices(explorer, t),
            _population(explorer, t),
            t.days,
        )
    total = situations(explorer)
    changed_leaves = _changed_situations(explorer)
    impact = Impact(
        "exhaustive",
        total,
        total - changed_leaves,
        sorted(table.values(), key=_order),
        start=start,
        end=end,
    )
    impact.notes.extend(explorer.fields.notes)
    impact.seconds = time.perf_counter() - began
    return impact


def _side(o: Outcome | None) -> Side | None:
    return None if o is None else (o.value, o.rule, o.reason, o.outcome)


def _changed_situations(explorer: Explorer) -> int:
    """Situations (root-to-leaf paths) on which some decision changed."""
    tree = explorer.tree
    n = len(tree)
    # Below each node: situations in all, and situations with a change on the way down.
    every = [0] * n
    moved = [0] * n
    for node in tree.finished:
        if tree.leaf[node]:
            every[node] = 1
        else:
            every[node] = sum(every[c] for c, _ in tree.children[node])
            moved[node] = sum(moved[c] for c, _ in tree.children[node])
        if any(isinstance(r, tuple) and _side(r[0]) != _side(r[1]) for _, r in tree.records[node]):
            moved[node] = every[node]
    return moved[explorer.root]


# -- the report --------------------------------------------------------------------------------


@dataclass
class Report:
    old: dict[str, object]
    new: dict[str, object]
    static: list[Change]
    impacts: list[Impact]

    @property
    def changed(self) -> bool:
        return bool(self.static) or any(i.transitions for i in self.impacts)

    def to_dict(self) -> dict[str, object]:
        return {
            "old": self.old,
            "new": self.new,
            "changed": self.changed,
            "static": [c.to_dict() for c in self.static],
            "impact": [i.to_dict() for i in self.impacts],
        }


def bundle_info(engine: Engine, path: Path | None) -> dict[str, object]:
    info = engine.info
    return {
        "name": info.name,
        "version": info.version,
        "digest": info.digest,
        "path": str(path) if path is not None else "(default)",
    }


def render_text(r: Report) -> str:
    lines = [f"diff {_who(r.old)} → {_who(r.new)}"]
    lines.append(
        f"policy: {len(r.static)} change{'s' * (len(r.static) != 1)}"
        if r.static
        else "policy: no changes"
    )
    lines += [f"  {c.text()}" for c in r.static]
    for impact in r.impacts:
        lines += _impact_lines(impact)
    return "\n".join(lines)


def _who(b: Mapping[str, object]) -> str:
    return f"{b['name']} {b['version']} ({b['path']})"


def _impact_lines(i: Impact) -> list[str]:
    unit = "case" if i.what == "cases" else "situation"
    head = (
        f"over every situation from {i.start} to {i.end}"
        if i.what == "exhaustive"
        else "over the cases"
    )
    lines = [f"{head}: {i.total:,} {unit}s, {i.changed:,} changed"]
    for t in i.transitions:
        lines.append(
            f"  {t.decision}: {side_text(t.old, t.new)} → {side_text(t.new, t.old)}: "
            f"{t.count:,} {unit}{'s' * (t.count != 1)}"
        )
        if i.what == "cases":
            lines.append("    e.g. " + ", ".join(str(e) for e in t.examples))
            continue
        scope = []
        if t.practices:
            scope.append(f"{t.practices:,} practice{'s' * (t.practices != 1)}")
        if t.population is not None:
            scope.append(f"{t.population:,} registered patients")
        scope.append(days_text(t.days))
        lines.append("    " + "; ".join(scope))
        lines += [f"    e.g. {example_text(ex)}" for ex in t.examples]
    lines += [f"note: {n}" for n in i.notes]
    return lines


def render_json(r: Report) -> str:
    return json.dumps(r.to_dict(), ensure_ascii=False, indent=2)


_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:75em;color:#222;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.3em 0 1em}
td,th{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-family:ui-monospace,monospace;font-size:.9em}.old{color:#8a1c1c}.new{color:#1c6b2a}
"""


def render_html(r: Report) -> str:
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>diff {esc(_who(r.old))} → {esc(_who(r.new))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Impact of {esc(_who(r.new))}</h1>",
        f"<p>Compared with {esc(_who(r.old))}.</p>",
        "<h2>Policy changes</h2>",
    ]
    if r.static:
        out.append("<table><tr><th>decision</th><th>rule</th><th>change</th><th>where</th></tr>")
        out += [
            f"<tr><td><code>{esc(c.decision or '')}</code></td>"
            f"<td><code>{esc(c.rule or '')}</code></td><td>{esc(c.what)}"
            f"{': ' + esc(c.detail) if c.detail else ''}</td>"
            f"<td><code>{esc(c.at or '')}</code></td></tr>"
            for c in r.static
        ]
        out.append("</table>")
    else:
        out.append("<p>None.</p>")
    for i in r.impacts:
        unit = "cases" if i.what == "cases" else "situations"
        title = (
            f"Every situation the data can produce, {i.start} to {i.end}"
            if i.what == "exhaustive"
            else "The cases"
        )
        out.append(f"<h2>{esc(title)}</h2><p>{i.total:,} {unit}, {i.changed:,} changed.</p>")
        if not i.transitions:
            continue
        extra = (
            ""
            if i.what == "cases"
            else "<th>practices</th><th>registered patients</th><th>dates</th>"
        )
        out.append(
            f"<table><tr><th>decision</th><th>old</th><th>new</th><th>{unit}</th>"
            f"{extra}<th>examples</th></tr>"
        )
        for t in i.transitions:
            examples = (
                ", ".join(esc(str(e)) for e in t.examples)
                if i.what == "cases"
                else "<br>".join(esc(example_text(e)) for e in t.examples)
            )
            cells = (
                ""
                if i.what == "cases"
                else (
                    f'<td class="n">{t.practices or 0:,}</td>'
                    f'<td class="n">{"" if t.population is None else f"{t.population:,}"}</td>'
                    f"<td>{esc(days_text(t.days))}</td>"
                )
            )
            out.append(
                f"<tr><td><code>{esc(t.decision)}</code></td>"
                f'<td class="old">{esc(side_text(t.old, t.new))}</td>'
                f'<td class="new">{esc(side_text(t.new, t.old))}</td>'
                f'<td class="n">{t.count:,}</td>{cells}<td>{examples}</td></tr>'
            )
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
