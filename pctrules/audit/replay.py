"""Audit stage, replay: re-decide what an audit file records and say what differs, and why.

Each run of the file is re-decided with the bundle and data of today (or those given): a batch
run by running batch again on its input, an evaluate run case by case. A record is identical
when its re-decided text is the recorded text, byte for byte; otherwise replay says whether the
input changed, or which decisions drifted, grouped by (decision, old rule → new rule) with the
value changes, counts and example case ids. It also names what differs from the header (the
policy files, each data file, the pctrules version) and every line whose chain is broken.

Over 500 lines since `ruff format` lays out its calls one argument per line: reading the
file, re-deciding each run and comparing are one pass over the file (chains, numbering and
comparison together), which a split would turn into three passes or shared mutable state.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pctrules.audit.batchlog import batch_bodies, output_rows
from pctrules.audit.provenance import differences, provenance, sha256_file
from pctrules.audit.records import (
    AuditFile,
    Problem,
    Run,
    canonical_json,
    decisions_text,
    input_hash,
    jstr,
    record_body,
    records,
    scan,
)
from pctrules.audit.write import case_body
from pctrules.evaluation.engine import Engine
from pctrules.language.diagnostics import CaseError

EXAMPLES = 5
"""Example case ids kept per group of drift."""


@dataclass
class Drift:
    """Records whose decision moved from one rule to another (or kept its rule and changed
    value), with the value changes and a few example case ids."""

    decision: str
    old_rule: str | None
    new_rule: str | None
    count: int = 0
    values: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "old_rule": self.old_rule,
            "new_rule": self.new_rule,
            "count": self.count,
            "values": [
                {"old": json.loads(o), "new": json.loads(n), "count": c}
                for (o, n), c in sorted(self.values.items(), key=_by_count)
            ],
            "examples": self.examples,
        }


def _by_count(item: tuple[tuple[str, str], int]) -> tuple[int, str, str]:
    (old, new), count = item
    return -count, old, new


@dataclass
class Group:
    """Records that differ in some other way (their input, or only warnings and errors)."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, case: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(case)


@dataclass
class RunReplay:
    """What replaying one run found."""

    number: int
    header: dict[str, Any]
    records: int = 0
    identical: int = 0
    drifted: int = 0
    drift: dict[tuple[str, str | None, str | None], Drift] = field(default_factory=dict)
    inputs_changed: Group = field(default_factory=Group)
    other: Group = field(default_factory=Group)
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_replayed: str | None = None

    @property
    def changed(self) -> bool:
        return bool(
            self.drifted or self.inputs_changed.count or self.other.count or self.not_replayed
        )

    def compare(self, old: str, new: str | None) -> None:
        self.records += 1
        if old == new:
            self.identical += 1
            return
        before = json.loads(old)
        case = str(before.get("case"))
        if new is None:
            self.other.add(case)
            return
        after = json.loads(new)
        if before.get("input") != after.get("input"):
            self.inputs_changed.add(case)
            return
        moved = False
        now = after.get("decisions") or {}
        for name, was in (before.get("decisions") or {}).items():
            is_ = now.get(name, [None, None, None])
            if was == is_:
                continue
            moved = True
            key = (name, _rule(name, was[1], before), _rule(name, is_[1], after))
            d = self.drift.get(key)
            if d is None:
                d = self.drift[key] = Drift(*key)
            d.count += 1
            d.values[(canonical_json(was[0]), canonical_json(is_[0]))] += 1
            if len(d.examples) < EXAMPLES:
                d.examples.append(case)
        if moved:
            self.drifted += 1
        else:
            self.other.add(case)

    def to_dict(self) -> dict[str, object]:
        h = self.header
        bundle = h.get("bundle") or {}
        return {
            "run": self.number,
            "command": h.get("command"),
            "created": h.get("created"),
            "bundle": {"name": bundle.get("name"), "version": bundle.get("version")},
            "records": self.records,
            "identical": self.identical,
            "drifted": self.drifted,
            "differences": self.differences,
            "drift": [d.to_dict() for d in sorted(self.drift.values(), key=_drift_order)],
            "inputs_changed": {
                "count": self.inputs_changed.count,
                "examples": self.inputs_changed.examples,
            },
            "other_changes": {"count": self.other.count, "examples": self.other.examples},
            "notes": self.notes,
            "not_replayed": self.not_replayed,
        }


def _rule(name: str, rule: str | None, record: Mapping[str, Any]) -> str | None:
    """A record's rule for a decision; for one that failed, '(error)'."""
    error = record.get("error")
    if rule is None and isinstance(error, str) and f"{name}: " in error:
        return "(error)"
    return rule


def _drift_order(d: Drift) -> tuple[str, int, str, str]:
    return d.decision, -d.count, str(d.old_rule), str(d.new_rule)


@dataclass
class ReplayReport:
    """Replay of a whole audit file: each run, and every line whose chain is broken."""

    path: Path
    runs: list[RunReplay]
    tampered: list[Problem]

    @property
    def changed(self) -> bool:
        return bool(self.tampered) or any(r.changed for r in self.runs)

    def to_dict(self) -> dict[str, object]:
        return {
            "audit": str(self.path),
            "identical": not self.changed,
            "records": sum(r.records for r in self.runs),
            "runs": [r.to_dict() for r in self.runs],
            "tampered": [
                {"line": p.line, "seq": p.seq, "case": p.case, "problem": p.message}
                for p in self.tampered
            ],
        }


EngineFor = Callable[[Path | None, Path | None], Engine]


def replay(
    path: Path,
    engine_for: EngineFor,
    *,
    bundle: Path | None = None,
    data: Path | None = None,
    cases: Path | None = None,
) -> ReplayReport:
    """Re-decide every run of the audit file at `path`. `bundle` and `data` replace the ones
    the header names; `cases` is the input file when it is no longer where the header says.
    The file is read once: each run is decided again when its header is read, and each record
    compared (and its chain checked) as it is read."""
    replayer = _Replayer(path, engine_for, bundle, data, cases)
    found: AuditFile = scan(path, replayer)
    return ReplayReport(path, replayer.runs, found.problems)


class _CannotReplay(Exception):
    """The run's cases cannot be re-decided (no recorded input, and no case file)."""


class _Replayer:
    """Decides each run again as `scan` meets its header, and compares its records as they
    come, each with the re-decided record of the same `seq` (records deleted from the file
    leave gaps; a record out of place is counted as changed)."""

    def __init__(
        self,
        path: Path,
        engine_for: EngineFor,
        bundle: Path | None,
        data: Path | None,
        cases: Path | None,
    ) -> None:
        self.path, self.engine_for = path, engine_for
        self.bundle, self.data, self.cases = bundle, data, cases
        self.runs: list[RunReplay] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._new: Iterator[str] | None = None
        self._position = 0
        self._current: str | None = None

    def start(self, run: Run) -> None:
        out = RunReplay(len(self.runs) + 1, run.header)
        self.runs.append(out)
        self._new, self._position, self._current = None, 0, None
        self._tmp = tempfile.TemporaryDirectory(prefix="pctrules-replay-")
        try:
            self._new = self._decide(run, out, Path(self._tmp.name))
        except _CannotReplay as exc:
            out.not_replayed = str(exc)

    def _decide(self, run: Run, out: RunReplay, tmp: Path) -> Iterator[str]:
        head = run.header
        recorded_bundle = (head.get("bundle") or {}).get("path")
        recorded_data = (head.get("data") or {}).get("folder")
        bundle_dir = self.bundle or (Path(recorded_bundle) if recorded_bundle else None)
        data_dir = self.data or (Path(recorded_data) if recorded_data else None)
        engine = self.engine_for(bundle_dir, data_dir)
        out.differences = differences(
            head, provenance(engine.bundle, engine.info.digest, bundle_dir)
        )
        decisions = list((head.get("decisions") or {}).keys())
        known = {d.name for d in engine.compiled.decisions}
        gone = [d for d in decisions if d not in known]
        if gone:
            raise _CannotReplay(
                "the bundle no longer has the decision"
                + ("s " if len(gone) > 1 else " ")
                + ", ".join(f"'{d}'" for d in gone)
            )
        params = _params(engine, head.get("parameters") or {}, out.notes)
        as_of = dt.date.fromisoformat(head["as_of"]) if head.get("as_of") else None
        if head.get("command") == "batch":
            return _batch_run(
                self.path, run, engine, decisions, params, as_of, self.cases, tmp, out.notes
            )
        return _evaluate_run(
            self.path, run, engine, decisions, params, as_of, self.cases, out.notes
        )

    def record(self, body: str, seq: int | None) -> None:
        out = self.runs[-1]
        if self._new is None:
            out.records += 1
            return
        seq = seq or 0
        while self._position < seq:
            self._current = next(self._new, None)
            self._position += 1
        current = self._current if self._position == seq else None
        if isinstance(current, Tail):
            if body.endswith(current):  # the usual case, without building the record again
                out.records += 1
                out.identical += 1
                return
            current = body[: body.find(',"decisions":')] + current
        out.compare(body, current)

    def finish(self, run: Run) -> None:
        out = self.runs[-1]
        if self._new is not None and next(self._new, None) is not None:
            out.notes.append("the input has more cases than the run recorded")
        self._new = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class Tail(str):
    """A re-decided record from its `decisions` key on: the rest (seq, case, input hash, as-of)
    is the recorded record's, as the input file is byte for byte the one the run read."""

    __slots__ = ()


def _params(
    engine: Engine,
    recorded: Mapping[str, object],
    notes: list[str],
) -> dict[str, object]:
    specs = {p.name: p for p in engine.bundle.policy.manifest.parameters}
    out: dict[str, object] = {}
    for name, value in recorded.items():
        spec = specs.get(name)
        if spec is None:
            notes.append(
                f"parameter '{name}' is not in the bundle now; its recorded value "
                f"{json.dumps(value)} is not used"
            )
            continue
        out[name] = (
            dt.date.fromisoformat(value)
            if spec.type == "date" and isinstance(value, str)
            else value
        )
    return out


def _source(
    path: Path, entry: Mapping[str, Any], cases: Path | None, notes: list[str]
) -> tuple[Path, bool]:
    """The run's input file (`--cases`, else where the header says it was, else the file of
    that name beside the audit file), and whether it is byte for byte the one the run read."""
    given = str(entry.get("path"))
    if cases is not None:
        candidates = [cases]
    elif given == "-":
        raise _CannotReplay(
            "the cases came from standard input and their inputs were not "
            "recorded (--audit-inputs); give the case file with --cases"
        )
    else:
        candidates = [Path(str(entry.get("resolved") or given)), path.parent / Path(given).name]
    for candidate in candidates:
        if candidate.is_file():
            same = bool(entry.get("sha256")) and sha256_file(candidate) == entry.get("sha256")
            if not same:
                notes.append(f"the input file '{candidate}' has changed since the run")
            return candidate, same
    raise _CannotReplay(
        f"the input file '{given}' is not where the run read it, nor beside "
        "the audit file; give it with --cases"
    )


def _recorded_inputs(path: Path, run: Run) -> Iterator[object]:
    for _, body in records(path, run):
        yield json.loads(body).get("case_input")


def _batch_run(
    path: Path,
    run: Run,
    engine: Engine,
    decisions: list[str],
    params: dict[str, object],
    as_of: dt.date | None,
    cases: Path | None,
    tmp: Path,
    notes: list[str],
) -> Iterator[str]:
    from pctrules.batch.run import BatchOptions, prepare, run_batch

    head = run.header
    entry = (head.get("inputs") or [{}])[0]
    fmt = str(entry.get("format") or "csv")
    recorded = bool(head.get("inputs_recorded"))
    if recorded and cases is None:
        source = tmp / f"input.{fmt}"
        _write_inputs(source, fmt, _recorded_inputs(path, run), lambda: _recorded_inputs(path, run))
        same = False
    else:
        source, same = _source(path, entry, cases, notes)
    out_fmt = str(head.get("output_format") or "csv")
    output = tmp / f"output.{out_fmt}"
    opts = BatchOptions(
        input=source,
        output=output,
        bundle=engine.bundle.path,
        data_dir=engine.bundle.data_dir,
        as_of=as_of,
        decisions=tuple(decisions),
        in_format=fmt,
        out_format=out_fmt,
        params=params,
    )
    run_batch(opts, None, prepare(opts, engine))
    if same:  # the same rows as the run read: only what was decided needs reading again
        return (
            Tail(
                f',"decisions":{text},"warnings":{warnings},"error":'
                f"{'null' if error is None else jstr(error)}}}"
            )
            for _, text, error, warnings in output_rows(output, out_fmt, decisions, engine)
        )
    return batch_bodies(engine, source, fmt, output, out_fmt, decisions, as_of, recorded)


def _write_inputs(
    target: Path, fmt: str, inputs: Iterable[object], again: Callable[[], Iterable[object]]
) -> None:
    """A batch input file of recorded inputs, in the run's own format (CSV cells are text,
    as they were)."""
    with target.open("w", encoding="utf-8", newline="") as f:
        if fmt == "jsonl":
            for given in inputs:
                # A line batch could not read was recorded as its text: it goes back as it was.
                if isinstance(given, Mapping) and set(given) == {"line"}:
                    f.write(str(given["line"]) + "\n")
                else:
                    f.write(canonical_json(given) + "\n")
            return
        import csv

        columns: dict[str, None] = {}
        for given in inputs:
            columns.update(dict.fromkeys(_dotted(given)))
        writer = csv.writer(f, lineterminator="\n")
        names = sorted(columns)
        writer.writerow(names)
        for given in again():
            flat = _dotted(given)
            writer.writerow([flat.get(n, "") for n in names])


def _dotted(value: object, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(value, Mapping):
        for k, v in value.items():
            out.update(_dotted(v, f"{prefix}{k}."))
    elif prefix:
        out[prefix[:-1]] = "" if value is None else str(value)
    return out


def _evaluate_run(
    path: Path,
    run: Run,
    engine: Engine,
    decisions: list[str],
    params: dict[str, object],
    as_of: dt.date | None,
    cases: Path | None,
    notes: list[str],
) -> Iterator[str]:
    """The records of an evaluate run decided again; its case files are found first (so that
    a missing one is said before anything is compared)."""
    from pctrules.commands.case_files import read_case_file

    head = run.header
    recorded = bool(head.get("inputs_recorded"))
    raws: Iterable[object]
    if recorded and cases is None:
        raws = _recorded_inputs(path, run)
    else:
        files = [_source(path, entry, cases, notes)[0] for entry in (head.get("inputs") or [])]
        raws = [raw.data for f in files for raw in read_case_file(str(f), engine.case_schema)]
    return _decided_again(engine, raws, decisions, params, as_of, recorded)


def _decided_again(
    engine: Engine,
    raws: Iterable[object],
    decisions: list[str],
    params: dict[str, object],
    as_of: dt.date | None,
    recorded: bool,
) -> Iterator[str]:
    for seq, raw in enumerate(raws, start=1):
        try:
            case = engine.validate_case(raw, seq)
            result = engine.evaluate(case, as_of=as_of, decisions=decisions, params=params)
        except CaseError as exc:  # the bundle no longer takes this case: nothing is decided
            message = "; ".join(d.message for d in exc.diagnostics)
            nothing = decisions_text(decisions, [("null", None, None)] * len(decisions))
            yield record_body(
                seq,
                _case_id(raw, seq),
                input_hash(raw),
                None,
                nothing,
                "[]",
                message,
                canonical_json(raw) if recorded else None,
            )
            continue
        yield case_body(seq, result, raw, decisions, recorded)


def _case_id(raw: object, seq: int) -> str:
    given = raw.get("id") if isinstance(raw, Mapping) else None
    return str(given) if isinstance(given, (str, int)) and str(given) else f"case-{seq}"


# -- rendering ---------------------------------------------------------------------------


def render_text(report: ReplayReport) -> str:
    """The report for people: per run, what differs now, the drift, and the tampered lines."""
    total = sum(r.records for r in report.runs)
    runs = len(report.runs)
    lines = [
        f"replay of '{report.path}': {runs} run{'s' * (runs != 1)}, "
        f"{total:,} record{'s' * (total != 1)}"
    ]
    for r in report.runs:
        h = r.header
        bundle = h.get("bundle") or {}
        inputs = ", ".join(f"'{i.get('path')}'" for i in (h.get("inputs") or []))
        lines.append(
            f"run {r.number}: {h.get('command')} of {inputs or 'no input'} on "
            f"{h.get('created')}, {bundle.get('name')} {bundle.get('version')}"
        )
        for change in r.differences:
            lines.append(f"  differs now: {change}")
        for note in r.notes:
            lines.append(f"  note: {note}")
        if r.not_replayed:
            lines.append(f"  not replayed: {r.not_replayed}")
            continue
        verdict = (
            "identical" if not r.changed else (f"{r.identical:,} identical, {r.drifted:,} drifted")
        )
        lines.append(f"  {r.records:,} record{'s' * (r.records != 1)}: {verdict}")
        for d in sorted(r.drift.values(), key=_drift_order):
            values = ", ".join(
                f"{_v(o)} → {_v(n)} ({c:,})"
                for (o, n), c in sorted(d.values.items(), key=_by_count)[:3]
            )
            more = len(d.values) - 3
            values += f", … {more} more" if more > 0 else ""
            lines.append(
                f"  drift {d.decision}: {d.old_rule or 'no rule'} → "
                f"{d.new_rule or 'no rule'}: {d.count:,} ({values}); e.g. " + ", ".join(d.examples)
            )
        if r.inputs_changed.count:
            lines.append(
                f"  input changed: {r.inputs_changed.count:,}; e.g. "
                + ", ".join(r.inputs_changed.examples)
            )
        if r.other.count:
            lines.append(
                f"  warnings or errors changed: {r.other.count:,}; e.g. "
                + ", ".join(r.other.examples)
            )
    if report.tampered:
        lines.append(
            f"tampered: {len(report.tampered)} line"
            f"{'s' * (len(report.tampered) != 1)} not as written"
        )
        for p in report.tampered[:20]:
            who = (
                f" (record {p.seq}" + (f", case '{p.case}')" if p.case else ")")
                if p.seq is not None
                else ""
            )
            lines.append(f"  line {p.line}{who}: {p.message}")
        if len(report.tampered) > 20:
            lines.append(f"  … and {len(report.tampered) - 20} more (--format json lists all)")
    else:
        lines.append("tampered: none (every line's chain holds)")
    return "\n".join(lines)


def _v(text: str) -> str:
    value = json.loads(text)
    if value is None:
        return "none"
    if isinstance(value, list):
        return "{" + ", ".join(str(v) for v in value) + "}"
    return str(value).lower() if isinstance(value, bool) else str(value)
