"""Audit stage, writing: the header of a run and the records of cases decided one by one.

`pctrules evaluate --audit FILE` writes through `audit_cases`; `pctrules batch --audit FILE`
through batchlog.py, which reads batch's own input and output rows. Both give the same record
for the same case, bundle and data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

from pctrules.audit.provenance import provenance, sha256_file
from pctrules.audit.records import (
    AuditWriter,
    Sealed,
    canonical_json,
    decisions_text,
    header,
    input_hash,
    record_body,
)
from pctrules.evaluation.engine import CaseResult, Engine
from pctrules.evaluation.runtime import DecisionResult, json_value
from pctrules.jsonlines import json_text


def input_entry(path: str, fmt: str | None = None) -> dict[str, object]:
    """How a header names an input file: as given, where it was, and its sha256."""
    entry: dict[str, object] = {"path": path}
    if path != "-":
        p = Path(path)
        entry["resolved"] = str(p.resolve())
        entry["sha256"] = sha256_file(p) if p.is_file() else None
    if fmt is not None:
        entry["format"] = fmt
    return entry


def output_types(engine: Engine) -> dict[str, str]:
    """Each decision's output type as the checker knows it (`pct?`, `set[pct]`, `bool`)."""
    return {d.spec.name: str(d.output) for d in engine.checked.decisions}


def run_header(
    engine: Engine,
    *,
    command: str,
    bundle_arg: Path | None,
    decisions: Sequence[str],
    params: Mapping[str, object] | None,
    as_of: dt.date | None,
    inputs: Sequence[Mapping[str, object]],
    inputs_recorded: bool,
) -> dict[str, object]:
    """The header of a run of `command` (evaluate or batch) with these options."""
    names = list(decisions) or [d.name for d in engine.compiled.decisions]
    return header(
        provenance(engine.bundle, engine.info.digest, bundle_arg),
        command=command,
        decisions=names,
        parameters={**engine.params, **(params or {})},
        as_of=as_of,
        inputs=inputs,
        inputs_recorded=inputs_recorded,
        outputs=output_types(engine),
    )


def failures(results: Mapping[str, DecisionResult]) -> str | None:
    """A case's failed decisions in the words of batch's `error` column."""
    text = "; ".join(
        f"{name}: {r.error.message}" + (f" (rule '{r.error.rule}')" if r.error.rule else "")
        for name, r in results.items()
        if r.outcome == "error" and r.error is not None
    )
    return text or None


def result_cells(r: DecisionResult | None) -> tuple[str, str | None, str | None]:
    """A decision's (value as JSON text, rule, reason) as a record holds it; a failed decision
    has none of them (the record's `error` says why)."""
    if r is None or r.outcome == "error":
        return "null", None, None
    value = json_value(r.value)
    # A `for:` decision over several subjects gives a mapping: keys in order, as batch has it.
    text = canonical_json(value) if isinstance(value, Mapping) else json_text(value)
    return text, r.rule, r.reason


def case_body(
    seq: int, result: CaseResult, raw: object, names: Sequence[str], record_input: bool
) -> str:
    """The record of one case decided by the engine."""
    decisions = decisions_text(names, [result_cells(result.decisions.get(n)) for n in names])
    return record_body(
        seq,
        result.case_id,
        input_hash(raw),
        result.as_of.isoformat(),
        decisions,
        json_text(list(result.warnings)),
        failures(result.decisions),
        canonical_json(raw) if record_input else None,
    )


def audit_cases(
    path: Path,
    head: Mapping[str, object],
    cases: Sequence[tuple[object, CaseResult]],
    record_input: bool,
) -> Sealed:
    """Append a run of decided cases (raw input, result) to the audit file at `path`."""
    names = list(_decisions(head))
    writer = AuditWriter(path, head)
    try:
        for seq, (raw, result) in enumerate(cases, start=1):
            writer.add(case_body(seq, result, raw, names, record_input))
    except BaseException:
        writer.abandon()
        raise
    return writer.close()


def _decisions(head: Mapping[str, object]) -> Mapping[str, object]:
    names = head.get("decisions")
    return names if isinstance(names, Mapping) else {}
