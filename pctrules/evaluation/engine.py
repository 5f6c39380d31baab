"""Evaluation stage, public API: validates cases and evaluates a bundle's decisions for them.

`Engine(bundle)` binds the bundle's compiled decisions to its graph once; `evaluate` then runs
the generated functions in dependency order for one case (DESIGN §4), or, with `trace=True`,
the traced evaluator of interpret.py, and returns a CaseResult whose `to_dict()` is the JSON of
DESIGN §5. The untraced path builds no context object and copies no case data.

Over 500 lines since `ruff format` lays out its messages one argument per line: case and
parameter validation live beside evaluation because both are the library's one public entry
point (issue 11: the library checks what it is given).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from pctrules.evaluation.compile import BoundBundle, CompiledBundle, CompiledDecision, Runner
from pctrules.evaluation.runtime import (
    DecisionResult,
    EvalContext,
    Unavailable,
    describe,
    json_value,
)
from pctrules.jsonlines import one_line
from pctrules.language.check.types import is_node, kinds_of
from pctrules.language.diagnostics import CaseError, Code, Diagnostic, did_you_mean, error
from pctrules.language.schema import CaseSchema, KindDef, Type, check_scalar

if TYPE_CHECKING:
    from pctrules.bundle import Bundle
    from pctrules.evaluation.interpret import TracedEvaluator
    from pctrules.graph.model import OrgGraph
    from pctrules.language.check.state import CheckedBundle
    from pctrules.language.loader import ParameterSpec

DATA_HELP = (
    "add it to 'data:' in bundle.yaml, or import it with 'pctrules import LAYOUT FILE "
    "--into DIR' and pass '--data DIR'"
)


@dataclass(frozen=True, slots=True)
class Case:
    """A validated case: its id, its date (the default as-of), and every field of the case schema
    as a flat mapping from dotted path ('person.practice') to value (None when absent)."""

    id: str
    date: dt.date | None
    fields: Mapping[str, object]
    nodes: tuple[tuple[str, str, object], ...]  # (path, kind, code or frozenset) of node fields


@dataclass(frozen=True, slots=True)
class BundleInfo:
    name: str
    version: str
    digest: str

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "digest": self.digest}


@dataclass(slots=True)
class CaseResult:
    """Every requested decision for one case, and the warnings about its input."""

    case_id: str
    as_of: dt.date
    decisions: dict[str, DecisionResult]
    warnings: list[str]
    bundle: BundleInfo
    _names: _Namer = field(repr=False)

    def to_dict(self) -> dict[str, object]:
        """The JSON object of DESIGN §5 (deterministic: sets as sorted lists of codes)."""
        return {
            "case": self.case_id,
            "as_of": self.as_of.isoformat(),
            "bundle": self.bundle.to_dict(),
            "decisions": {n: self._names.decision_dict(r) for n, r in self.decisions.items()},
            "warnings": list(self.warnings),
        }

    def to_json(self) -> str:
        """One line of JSON (`evaluate --format json` prints one per case)."""
        return one_line(json.dumps(self.to_dict(), ensure_ascii=False, separators=(", ", ": ")))


class _Namer:
    """Turns a DecisionResult into its JSON: the node's name for decisions that give one node."""

    def __init__(self, graph: OrgGraph, one_node: frozenset[str]) -> None:
        self.graph = graph
        self.one_node = one_node

    def decision_dict(self, r: DecisionResult) -> dict[str, object]:
        out: dict[str, object] = {"value": json_value(r.value)}
        if r.name in self.one_node:
            out["name"] = self.graph.name(r.value) if isinstance(r.value, str) else None
        out["rule"] = r.rule
        out["reason"] = r.reason
        out["cite"] = r.cite
        if r.outcome != "matched":
            out["outcome"] = r.outcome
        if len(r.rules) > 1:
            out["rules"] = list(r.rules)
        if r.note is not None:
            out["note"] = r.note
        if r.error is not None:
            out["error"] = r.error.to_dict()
        if r.warnings:
            out["warnings"] = list(r.warnings)
        if r.trace is not None:
            out["trace"] = r.trace.to_dict()
        return out


class _Plan(NamedTuple):
    """The decisions one call evaluates: in dependency order, each with whether it is reported
    (`steps`, for the traced path), and the generated function that runs them (`run`)."""

    steps: tuple[tuple[CompiledDecision, bool], ...]
    run: Runner


class Engine:
    """Evaluates one bundle's decisions for cases (the fast path, or traced when asked)."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.checked: CheckedBundle = bundle.checked
        self.graph: OrgGraph = bundle.graph
        self.compiled: CompiledBundle = bundle.compiled
        self.bound: BoundBundle = self.compiled.bind(self.graph)
        self.case_schema: CaseSchema = self.checked.case_schema
        manifest = bundle.policy.manifest
        self.info = BundleInfo(manifest.name, manifest.version, bundle_digest(bundle))
        self.params: dict[str, object] = {p.name: p.default for p in manifest.parameters}
        self._parameters = {p.name: p for p in manifest.parameters}
        self._given_params: Mapping[str, object] | None = None
        self._checked_params: dict[str, object] = self.params
        self._plans: dict[tuple[str, ...] | None, _Plan] = {}
        self._traced: TracedEvaluator | None = None
        one_node = frozenset(
            d.name
            for d in self.compiled.decisions
            if is_node(d.checked.output) and not d.checked.output.is_set
        )
        self._namer = _Namer(self.graph, one_node)
        # Kinds whose data is not loaded at all: a rule reading a case field of one is an
        # error (DESIGN §11), e.g. a practice when no register was imported.
        self._unavailable = self.compiled.unavailable
        self._nodes = self.graph.nodes
        self._kinds = self.checked.schema.kinds
        leaves = list(self.case_schema.leaves())
        self._leaf_keys = [".".join(path) for path, _ in leaves]
        self._node_leaves = [(".".join(path), t.base) for path, t in leaves if is_node(t)]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as its pack (the bundle and data files, verified when loaded): a worker on
        # another machine rebuilds it without a shared file system.
        from pctrules.columns.pack import open_pack, pack_bundle

        return open_pack, (pack_bundle(self.bundle, self.info.digest),)

    # -- cases -----------------------------------------------------------------------------

    def validate_case(self, raw: object, index: int) -> Case:
        """Check a case against the bundle's case schema; `index` is its 1-based position in the
        input, used for the id `case-<index>` when it has none. Raises CaseError naming the case,
        the field, the value and what was expected (every problem of the case, not the first)."""
        if not isinstance(raw, Mapping):
            raise CaseError(
                error(
                    Code.CASE,
                    f"case {index} is {_what(raw)}, not a mapping of fields",
                    None,
                    "write a case as a mapping, e.g. {id: c1, date: 2011-09-01, person: "
                    "{practice: P84001}}",
                )
            )
        raw_id = raw.get("id")
        case_id = (
            str(raw_id)
            if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and str(raw_id)
            else f"case-{index}"
        )
        problems: list[Diagnostic] = []
        if raw_id is not None and case_id == f"case-{index}" and raw_id != case_id:
            problems.append(_case_error(case_id, "id", raw_id, "text, e.g. 'c1'"))
        flat: dict[str, object] = {}
        self._fields(case_id, raw, self.case_schema, (), flat, problems)
        if problems:
            raise CaseError(problems)
        return self.case_of(case_id, flat)

    def case_of(self, case_id: str, flat: dict[str, object]) -> Case:
        """A case from its id and fields already validated one by one, by dotted path (batch
        validates each distinct value of a column once, not once per row); `flat` is kept."""
        flat["id"] = case_id
        date = flat.get("date")
        for key in self._leaf_keys:
            flat.setdefault(key, None)
        nodes = tuple(
            (key, kind, flat[key]) for key, kind in self._node_leaves if flat[key] is not None
        )
        return Case(case_id, date if isinstance(date, dt.date) else None, flat, nodes)

    def _fields(
        self,
        case_id: str,
        raw: Mapping[Any, object],
        schema: CaseSchema,
        prefix: tuple[str, ...],
        out: dict[str, object],
        problems: list[Diagnostic],
    ) -> None:
        for key, value in raw.items():
            name = str(key)
            path = (*prefix, name)
            dotted = ".".join(path)
            t = schema.fields.get(name)
            if t is None:
                # The suggestion goes in the message too: batch output keeps messages only.
                hint = did_you_mean(dotted, [".".join((*prefix, f)) for f in schema.fields])
                problems.append(
                    error(
                        Code.CASE,
                        f"for case '{case_id}', unknown field '{dotted}' (given "
                        f"{describe(value)})" + (f"; {hint}" if hint else ""),
                        None,
                        hint or "the fields are " + ", ".join(f"'{f}'" for f in schema.names()),
                    )
                )
            elif isinstance(t, CaseSchema):
                if value is None:
                    continue
                if not isinstance(value, Mapping):
                    problems.append(_case_error(case_id, dotted, value, "a mapping of fields"))
                else:
                    self._fields(case_id, value, t, path, out, problems)
            elif name == "id" and not prefix:
                continue  # read above
            else:
                ok, converted, expected = self.check_value(value, t)
                if ok:
                    out[dotted] = converted
                else:
                    problems.append(_case_error(case_id, dotted, value, expected))

    def check_value(self, value: object, t: Type) -> tuple[bool, object, str]:
        """(valid, the value as rules see it, what was expected) for a case field's value: a
        node's code must be text of a code not of another kind in the data; scalars as
        schema.check_scalar says."""
        if value is None:
            return True, None, ""
        base = t.base
        if t.is_set:
            expected = f"a list of {base} codes"
            if not isinstance(value, (list, tuple)):
                return False, None, expected
            codes = []
            for v in value:
                ok, code, _ = self.check_value(v, Type(base))
                if not ok or code is None:
                    return False, None, expected
                codes.append(code)
            return True, frozenset(codes), expected
        if is_node(t):
            expected = f"a {base} code (text)"
            if not isinstance(value, str) or not value.strip():
                return False, None, expected
            if value != value.strip():
                return False, None, f"a {base} code with no spaces around it ('{value.strip()}')"
            actual = self.graph.kind(value)
            if actual is not None and actual not in kinds_of(t):
                return False, None, f"a {base} code, but '{value}' is a {actual}"
            return True, value, expected
        return check_scalar(value, base)

    # -- evaluation --------------------------------------------------------------------------

    def evaluate(
        self,
        case: Case | Mapping[str, object],
        *,
        as_of: dt.date | None = None,
        decisions: Sequence[str] | None = None,
        trace: bool = False,
        params: Mapping[str, object] | None = None,
    ) -> CaseResult:
        """Evaluate the bundle's decisions (or the named ones, with what they depend on) for a
        case on `as_of` (default: the case's date; one of them is required)."""
        c = case if case.__class__ is Case else self.validate_case(case, 1)
        on = as_of or c.date
        if on is None:
            raise CaseError(
                error(
                    Code.CASE,
                    f"for case '{c.id}', there is no date to evaluate on",
                    None,
                    "give the case a 'date', or pass --as-of YYYY-MM-DD",
                )
            )
        plan = self._plans.get(
            decisions if decisions is None or decisions.__class__ is tuple else tuple(decisions)
        )
        if plan is None:
            plan = self._plan(decisions)
        warnings: list[str] = []
        fields = self._prepare(c, on, warnings) if c.nodes else c.fields
        p = self.params if params is None else self._params(params)
        if trace:
            return CaseResult(
                c.id,
                on,
                self._traced_run(plan, fields, on, p, warnings),
                warnings,
                self.info,
                self._namer,
            )
        # The fast path: one generated function runs the plan's decisions for the case.
        return CaseResult(c.id, on, plan.run(fields, on, p), warnings, self.info, self._namer)

    def _traced_run(
        self,
        plan: _Plan,
        fields: Mapping[str, object],
        on: dt.date,
        p: Mapping[str, object],
        warnings: list[str],
    ) -> dict[str, DecisionResult]:
        traced = self._tracer()
        ctx = EvalContext(self.graph, on, fields, p, {}, warnings)
        out: dict[str, DecisionResult] = {}
        failed: set[str] = set()
        for cd, emit in plan.steps:
            if not cd.depends_on.isdisjoint(failed):
                r = cd.plan.dependency_failed(failed)
            else:
                r = traced.evaluate(cd.checked, ctx)
            ctx.results[cd.name] = r
            if r.outcome == "error":
                failed.add(cd.name)
            if emit:
                out[cd.name] = r
        return out

    def _tracer(self) -> TracedEvaluator:
        if self._traced is None:
            from pctrules.evaluation.interpret import TracedEvaluator

            self._traced = TracedEvaluator(self.checked)
        return self._traced

    def _plan(self, decisions: Sequence[str] | None) -> _Plan:
        """The decisions to run, in dependency order: the requested ones and what they need."""
        by_name = {d.name: d for d in self.compiled.decisions}
        if decisions is None:
            wanted = set(by_name)
        else:
            unknown = [n for n in decisions if n not in by_name]
            if unknown:
                raise KeyError(
                    f"unknown decision '{unknown[0]}'"
                    + (
                        f" ({did_you_mean(unknown[0], by_name)})"
                        if did_you_mean(unknown[0], by_name)
                        else ""
                    )
                )
            wanted = set(decisions)
        needed = set(self.compiled.needed_for(wanted))
        plan = _Plan(
            tuple((d, d.name in wanted) for d in self.compiled.decisions if d.name in needed),
            self.bound.runner(frozenset(needed), frozenset(wanted)),
        )
        self._plans[None if decisions is None else tuple(decisions)] = plan
        return plan

    def _prepare(self, case: Case, on: dt.date, warnings: list[str]) -> Mapping[str, object]:
        """The case's fields as the rules see them on `on`: a code the data does not know is
        absent (with a warning), a code of a kind whose data is not loaded is Unavailable. The
        case's own mapping is shared unless something had to change."""
        fields = case.fields
        changed: dict[str, object] | None = None
        nodes, unavailable = self._nodes, self._unavailable
        for key, kind, value in case.nodes:
            if kind in unavailable:
                new: object = _unavailable(self._kinds[kind], value)
            elif value.__class__ is str:
                n = nodes.get(value)
                if n is not None and n.valid_from <= on <= n.valid_to:
                    continue  # the usual case, inline: a known node alive on the date
                warnings.append(self.absent_warning(kind, value, on))
                new = None
            else:
                assert isinstance(value, frozenset)
                gone = sorted(c for c in value if not self.graph.exists(c, on))
                if not gone:
                    continue
                warnings.extend(self.absent_warning(kind, c, on) for c in gone)
                new = value.difference(gone)
            if changed is None:
                changed = dict(fields)
            changed[key] = new
        return fields if changed is None else changed

    def absent_warning(self, kind: str, code: str, on: dt.date) -> str:
        """The warning for a case's code that the data does not have on `on` (batch writes the
        same text in its `warnings` column); it suggests the code in upper case when the data
        has that one, as codes are written. Only the date depends on `on`."""
        text = _absent_warning(self._kinds[kind], code, on)
        upper = code.upper()
        if upper != code and self.graph.kind(upper) == kind:
            text += f" (did you mean '{upper}'?)"
        return text

    def _params(self, given: Mapping[str, object]) -> dict[str, object]:
        if given is self._given_params:  # batch passes the same mapping for every row
            return self._checked_params
        checked = self.check_params(given)
        self._given_params, self._checked_params = given, checked
        return checked

    def check_params(self, given: Mapping[str, object]) -> dict[str, object]:
        """Every parameter, the given ones (by name) checked against the bundle's parameters:
        a known name, a value of the parameter's type, one of its choices. Raises CaseError
        naming every problem; returns the defaults with the given values over them."""
        problems: list[Diagnostic] = []
        out = dict(self.params)
        for name, value in given.items():
            spec = self._parameters.get(name)
            if spec is None:
                hint = did_you_mean(name, self.params) or (
                    "the parameters are " + ", ".join(f"'{k}'" for k in sorted(self.params))
                    if self.params
                    else "this bundle has no parameters"
                )
                problems.append(error(Code.PARAM, f"unknown parameter '{name}'", None, hint))
                continue
            converted, problem = check_parameter(spec, value)
            if problem is not None:
                problems.append(problem)
            else:
                out[name] = converted
        if problems:
            raise CaseError(problems)
        return out

    def unavailable_help(self) -> str | None:
        """How to load the data a case may need that is not loaded (the registers' help first),
        for commands that skip work for want of it; None when every kind's data is loaded."""
        missing = [self._kinds[k] for k in sorted(self._unavailable) if k in self._kinds]
        helps = [k.register.help for k in missing if k.register is not None]
        return helps[0] if helps else (DATA_HELP if missing else None)

    def source(self) -> str:
        """The generated Python source of the bundle's decisions (for debugging)."""
        return self.compiled.source


def bundle_digest(bundle: Bundle) -> str:
    """sha256 over the bundle's policy files (by path and content) and the graph's data digest."""
    h = hashlib.sha256()
    root = bundle.path.name
    for f in sorted(bundle.policy.files, key=lambda f: f.path):
        # Display paths start at the bundle folder's name: the digest does not depend on
        # where the bundle is installed.
        rel = f.path[f.path.find(root) :] if root in f.path else f.path
        h.update(f"{rel}\0{hashlib.sha256(f.text.encode()).hexdigest()}\n".encode())
    h.update(f"data\0{bundle.graph.digest}\n".encode())
    return "sha256:" + h.hexdigest()


def _unavailable(kind: KindDef, value: object) -> Unavailable:
    """A case's code of a kind whose data is not loaded; the bundle's `register:` says how to
    name what is missing and how to load it."""
    codes = value if isinstance(value, str) else ", ".join(sorted(value))  # type: ignore[call-overload]
    reg = kind.register
    if reg is not None:
        return Unavailable(
            codes, f"no {reg.name} is loaded, so {kind.name} '{codes}' {reg.unloaded}", reg.help
        )
    return Unavailable(
        codes,
        f"no {kind.name} data is loaded, so {kind.name} '{codes}' cannot be looked up",
        DATA_HELP,
    )


def _absent_warning(kind: KindDef, code: str, on: dt.date) -> str:
    reg = kind.register
    if reg is not None:
        return f"{kind.name} '{code}' is not in the {reg.name} on {on.isoformat()}; {reg.absent}"
    return f"{kind.name} '{code}' is not in the data on {on.isoformat()}; treated as absent"


def check_parameter(spec: ParameterSpec, value: object) -> tuple[object, Diagnostic | None]:
    """A parameter's value checked against its declaration: (the value, None) or (None, the
    problem). Text is read by the parameter's type first (Type.read_text), so a value from a
    command line and one from a program are checked alike."""
    if isinstance(value, str) and spec.type != "string":
        value = Type(spec.type).read_text(value)
    ok, converted, expected = check_scalar(value, spec.type)
    if not ok:
        return None, error(
            Code.PARAM,
            f"parameter '{spec.name}' is {describe(value)}, but must be {expected}",
            None,
            _help(expected),
        )
    if spec.choices is not None and converted not in spec.choices:
        choices = ", ".join(f"'{c}'" for c in spec.choices)
        hint = did_you_mean(str(converted), [str(c) for c in spec.choices])
        return None, error(
            Code.PARAM,
            f"parameter '{spec.name}' must be one of {choices}, not {describe(converted)}",
            None,
            hint or f"use one of {choices}",
        )
    return converted, None


def _case_error(case_id: str, field_name: str, value: object, expected: str) -> Diagnostic:
    return error(
        Code.CASE,
        f"for case '{case_id}', field '{field_name}' is {describe(value)}, but must be {expected}",
        None,
        _help(expected),
    )


def _help(expected: str) -> str | None:
    if "date" in expected:
        return "write dates as YYYY-MM-DD, e.g. 2011-04-01"
    return None


def _what(raw: object) -> str:
    if isinstance(raw, (list, tuple)):
        return "a list"
    if isinstance(raw, str):
        return f"the text '{raw}'"
    return describe(raw)
