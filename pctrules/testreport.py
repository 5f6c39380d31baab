"""Report stage for policy tests: a TestRun as text, as JSON (schemas/test-report.schema.json)
and as JUnit XML for CI systems."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any

from pctrules.evaluation.runtime import describe
from pctrules.graph.model import OrgGraph
from pctrules.language.diagnostics import Code, Diagnostic
from pctrules.policytests import Mismatch, TestOutcome, TestRun
from pctrules.report import node_text, rule_story


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def summary(run: TestRun, skip_help: str | None = None) -> str:
    """The closing line, always printed: `3 passed, 1 failed, 2 skipped (…)`."""
    line = f"{run.count('passed')} passed, {run.count('failed')} failed"
    if run.count("skipped"):
        reasons = sorted({o.detail for o in run.outcomes if o.status == "skipped"})
        line += f", {run.count('skipped')} skipped ({'; '.join(reasons)}"
        line += (
            f": {skip_help})"
            if skip_help and any(r.startswith("needs practice") for r in reasons)
            else ")"
        )
    if run.count("error"):
        errors = run.count("error")
        line += f", {errors} error{'s' if errors != 1 else ''} (tests that could not run)"
    if run.stopped_by:
        line += f", {run.not_run} not run ({run.stopped_by})"
    return line


def render_text(
    run: TestRun,
    graph: OrgGraph | None,
    *,
    verbose: bool = False,
    coverage: bool = False,
    skip_help: str | None = None,
) -> str:
    """Test lines (every test with -v; failures and errors always), constraints, coverage and
    the summary line."""
    lines: list[str] = []
    for o in run.outcomes:
        where = f"{o.test.file}:{o.test.where.line} {o.test.name}"
        if o.status == "failed":
            lines.append(f"FAIL {where} ({_ms(o.seconds)})")
            for m in o.mismatches:
                lines.extend("  " + line for line in _mismatch(m, o, graph))
        elif o.status == "error":
            lines.append(f"ERROR {where}: {o.detail}")
            lines.extend(f"  {d.span or o.test.where}: {d.message}" for d in o.problems)
        elif verbose and o.status == "skipped":
            lines.append(f"SKIP {where}: {o.detail}")
        elif verbose:
            lines.append(f"PASS {where} ({_ms(o.seconds)})")
    for c in run.constraints:
        label = "FAIL" if c.severity == "error" else "warning:"
        shown = ", ".join(c.subjects[:10]) + (" …" if len(c.subjects) > 10 else "")
        lines.append(
            f"{label} constraint {c.id} ({c.at}) on {c.on.isoformat()}: {c.message}"
            + (f": {shown}" if shown else "")
        )
    lines.append(summary(run, skip_help))
    if coverage and run.coverage is not None:
        lines.extend(_coverage_lines(run.coverage.to_dict()))
    return "\n".join(lines)


def _mismatch(m: Mismatch, o: TestOutcome, graph: OrgGraph | None) -> list[str]:
    """Expected against actual for one decision, the deciding rule's story, and a diff."""
    actual = m.actual
    expected = ", ".join(f"{k} {describe(v)}" for k, v in m.expected.items())
    got = _value_text(actual["value"], graph)
    by = f" by rule {actual['rule']}" if actual["rule"] else f" ({actual['outcome']})"
    reason = f", reason {actual['reason']}" if actual["reason"] is not None else ""
    lines = [f"{m.decision} ({m.at}):", f"  expected {expected}", f"  actual   {got}{by}{reason}"]
    if m.error:
        lines.append(f"  the decision failed: {m.error}")
    story = _deciding_story(m, o, graph)
    lines.extend("  " + s for s in story)
    for key in m.differing:
        lines.append(f"  - {key}: {describe(m.expected[key])}")
        lines.append(f"  + {key}: {describe(actual[key])}")
    return lines


def _value_text(value: object, graph: OrgGraph | None) -> str:
    if isinstance(value, str) and graph is not None:
        return node_text(value, graph)
    return describe(value)


def _deciding_story(m: Mismatch, o: TestOutcome, graph: OrgGraph | None) -> list[str]:
    result = o.result.decisions.get(m.decision) if o.result is not None else None
    if result is None or result.trace is None or graph is None:
        return []
    deciding = [
        r
        for r in result.trace.rules
        if r.outcome in ("matched", "error") and (r.rule == result.rule or r.outcome == "error")
    ]
    return [line for r in deciding[:1] for line in rule_story(r, result.trace.as_of, graph)]


def _coverage_lines(cov: Mapping[str, Any]) -> list[str]:
    rules, conditions = cov["rules"], cov["conditions"]
    lines = [
        f"coverage: {rules['fired']} of {rules['total']} rules fired "
        f"({rules['percent']:.1f}%), {conditions['seen']} of {conditions['outcomes']} "
        f"condition outcomes seen ({conditions['percent']:.1f}%)"
    ]
    lines += [f"  rule never fired: {r['at']} {r['rule']}" for r in cov["never_fired"]]
    lines += [
        f"  condition never {' or '.join(c['never'])}: {c['at']} (rule {c['rule']}) {c['expr']}"
        for c in cov["conditions_not_seen"]
    ]
    return lines


# -- JSON -------------------------------------------------------------------------------------


def to_dict(
    run: TestRun,
    bundle: Mapping[str, str] | None,
    diagnostics: Iterable[Diagnostic],
    *,
    coverage: bool = False,
) -> dict[str, Any]:
    """The JSON document of `pctrules test --format json` (schemas/test-report.schema.json)."""
    doc: dict[str, Any] = {
        "ok": run.ok,
        "bundle": dict(bundle) if bundle is not None else None,
        "summary": {
            "total": len(run.outcomes) + run.not_run,
            "passed": run.count("passed"),
            "failed": run.count("failed"),
            "skipped": run.count("skipped"),
            "errors": run.count("error"),
            "not_run": run.not_run,
            "seconds": round(run.seconds, 6),
            "line": summary(run),
        },
        "stopped_by": run.stopped_by,
        "tests": [_outcome_dict(o) for o in run.outcomes],
        "constraints": [
            {
                "id": c.id,
                "severity": c.severity,
                "on": c.on.isoformat(),
                "message": c.message,
                "subjects": list(c.subjects),
                "at": str(c.at),
            }
            for c in run.constraints
        ],
        "diagnostics": [d.to_dict() for d in diagnostics],
    }
    if coverage and run.coverage is not None:
        doc["coverage"] = run.coverage.to_dict()
    return doc


def _outcome_dict(o: TestOutcome) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": o.test.name,
        "file": o.test.file,
        "line": o.test.where.line,
        "status": o.status,
        "seconds": round(o.seconds, 6),
    }
    if o.detail:
        out["detail"] = o.detail
    if o.mismatches:
        out["mismatches"] = [
            {
                "decision": m.decision,
                "at": str(m.at),
                "expected": m.expected,
                "actual": m.actual,
                "differing": list(m.differing),
                "error": m.error,
            }
            for m in o.mismatches
        ]
    if o.problems:
        out["problems"] = [d.to_dict() for d in o.problems]
    return out


def to_json(
    run: TestRun,
    bundle: Mapping[str, str] | None,
    diagnostics: Iterable[Diagnostic],
    *,
    coverage: bool = False,
) -> str:
    return json.dumps(
        to_dict(run, bundle, diagnostics, coverage=coverage), ensure_ascii=False, indent=2
    )


# -- JUnit XML --------------------------------------------------------------------------------


def to_junit(
    run: TestRun, bundle_name: str, diagnostics: Iterable[Diagnostic], graph: OrgGraph | None = None
) -> str:
    """JUnit XML: one testsuite per test file, one for the constraints, and one for problems
    that stopped the run, so a CI system shows every outcome."""
    root = ET.Element("testsuites", name=f"pctrules test {bundle_name}")
    files: dict[str, list[TestOutcome]] = {}
    for o in run.outcomes:
        files.setdefault(o.test.file, []).append(o)
    for file, outcomes in files.items():
        suite = _suite(root, file)
        for o in outcomes:
            case = ET.SubElement(
                suite,
                "testcase",
                name=o.test.name,
                classname=_classname(file),
                time=_secs(o.seconds),
                file=file,
                line=str(o.test.where.line),
            )
            if o.status == "failed":
                first = o.mismatches[0]
                body = [line for m in o.mismatches for line in _mismatch(m, o, graph)]
                ET.SubElement(
                    case,
                    "failure",
                    message=f"{first.decision}: expected "
                    f"{_short(first.expected)}, got {_short(first.actual)}",
                    type="mismatch",
                ).text = "\n".join(body)
            elif o.status == "skipped":
                ET.SubElement(case, "skipped", message=o.detail)
            elif o.status == "error":
                ET.SubElement(
                    case,
                    "error",
                    message=o.detail,
                    type=o.problems[0].code if o.problems else "error",
                ).text = "\n".join(f"{d.span}: {d.message}" for d in o.problems)
    if run.constraints:
        suite = _suite(root, "constraints")
        for c in run.constraints:
            case = ET.SubElement(
                suite,
                "testcase",
                name=c.id,
                classname="constraints",
                time="0",
                file=c.at.path,
                line=str(c.at.line),
            )
            tag = "failure" if c.severity == "error" else "skipped"
            element = ET.SubElement(case, tag, message=f"on {c.on.isoformat()}: {c.message}")
            if tag == "failure":
                element.set("type", "constraint")
                element.text = ", ".join(c.subjects)
    problems = [d for d in diagnostics if d.is_error]
    if run.stopped_by:
        suite = _suite(root, "bundle")
        case = ET.SubElement(suite, "testcase", name=run.stopped_by, classname="bundle", time="0")
        ET.SubElement(case, "error", message=run.stopped_by, type=Code.BUNDLE).text = "\n".join(
            f"{d.span or ''}: {d.message}" for d in problems
        )
    _count(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(root: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(
        root,
        "testsuite",
        name=name,
        timestamp=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    )


def _count(root: ET.Element) -> None:
    """The tests/failures/errors/skipped/time attributes of every suite and of the root."""
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    seconds = 0.0
    for suite in root:
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suite_time = 0.0
        for case in suite.iter("testcase"):
            counts["tests"] += 1
            suite_time += float(case.get("time", "0"))
            for tag, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
                if case.find(tag) is not None:
                    counts[key] += 1
        for key, n in counts.items():
            suite.set(key, str(n))
            totals[key] += n
        suite.set("time", _secs(suite_time))
        seconds += suite_time
    for key, n in totals.items():
        root.set(key, str(n))
    root.set("time", _secs(seconds))


def _secs(seconds: float) -> str:
    return f"{seconds:.6f}"


def _classname(file: str) -> str:
    return file.removesuffix(".yaml").removesuffix(".yml").replace("/", ".")


def _short(values: Mapping[str, object]) -> str:
    return ", ".join(
        f"{k} {describe(v)}"
        for k, v in values.items()
        if k in ("value", "rule") or len(values) == 1
    )
