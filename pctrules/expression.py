"""Ad-hoc evaluation stage: one expression checked against a bundle and decided for a case.

An expression typed at `pctrules eval` or in the REPL becomes a rule of a decision of its own
(`_expression`), added to the bundle and checked by the same checker, so it gets the same
diagnostics and the same traced evaluator as any rule. A condition (an expression of type
bool) is the rule's `when`, so its trace names the deciding sub-expressions; anything else is
its `then`, whose trace shows the graph edges the value was found along.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pctrules.bundle import Bundle, open_bundle
from pctrules.evaluation.engine import Engine
from pctrules.evaluation.runtime import DecisionResult, json_value
from pctrules.graph.model import OrgGraph
from pctrules.language import ast
from pctrules.language.check import check_bundle
from pctrules.language.check.codes import code_problems
from pctrules.language.check.state import CheckedBundle
from pctrules.language.check.types import UNKNOWN, describe
from pctrules.language.complete import Candidate, complete
from pctrules.language.diagnostics import (
    CaseError,
    Code,
    Diagnostic,
    ExitCode,
    PctrulesError,
    did_you_mean,
    error,
)
from pctrules.language.loader import DecisionSpec, Located, RuleSpec
from pctrules.language.schema import CaseSchema, Type
from pctrules.language.source import EmbeddedText

DECISION = "_expression"
RULE = "expression"
SOURCE = "<expression>"


@dataclass(frozen=True)
class CheckedExpression:
    """An expression checked in a bundle: its tree and type, or the problems it has."""

    text: str
    tree: ast.Expr | None
    type: Type
    checked: CheckedBundle
    problems: list[Diagnostic]

    @property
    def is_condition(self) -> bool:
        return self.type.base == "bool" and not self.type.is_set


@dataclass(frozen=True)
class ExpressionResult:
    """The value of an expression for a case on a date, with its decision's trace."""

    expression: CheckedExpression
    value: object
    outcome: str  # value | unknown | error
    as_of: dt.date
    result: DecisionResult
    warnings: list[str]

    def to_dict(self, graph: OrgGraph) -> dict[str, Any]:
        r = self.result
        value = json_value(self.value)
        out: dict[str, Any] = {
            "expression": self.expression.text,
            "type": str(self.expression.type),
            "as_of": self.as_of.isoformat(),
            "outcome": self.outcome,
            "value": value,
        }
        if isinstance(self.value, str) and graph.kind(self.value) is not None:
            out["name"] = graph.name(self.value)
        if r.error is not None:
            out["error"] = r.error.to_dict()
        out["warnings"] = list(self.warnings)
        if r.trace is not None:
            out["trace"] = r.trace.to_dict()
        return out


@dataclass(frozen=True)
class _WithGraph(Bundle):
    """A bundle (the expression's decision added) that reuses a graph already built."""

    shared: OrgGraph | None = None

    @cached_property
    def graph(self) -> OrgGraph:
        assert self.shared is not None
        return self.shared


@dataclass
class Session:
    """A bundle opened once with its graph, and the case expressions are evaluated against.

    `case` is the case as a nested mapping, as a case file would hold it; `as_of` overrides
    its date. Opening a bundle with errors raises PctrulesError (exit 3).
    """

    bundle: Bundle
    case: dict[str, Any] = field(default_factory=lambda: {"id": "expression"})
    as_of: dt.date | None = None

    @classmethod
    def open(cls, bundle_dir: Path | None, data_dir: Path | None) -> Session:
        bundle = open_bundle(bundle_dir, data_dir)
        problems = bundle.graph.diagnostics.errors
        if problems:
            raise PctrulesError(problems, ExitCode.INVALID_POLICY)
        return cls(bundle)

    @property
    def graph(self) -> OrgGraph:
        return self.bundle.graph

    @property
    def case_schema(self) -> CaseSchema:
        return self.bundle.case_schema

    # -- the case ------------------------------------------------------------------------------

    def set(self, path: str, text: str) -> None:
        """Set a case field from text (`person.practice`, `P84004`), typed by the case schema;
        an unknown field or a value of the wrong form raises CaseError (exit 5)."""
        parts = tuple(p.strip() for p in path.split("."))
        t = self.case_schema.lookup(parts)
        if t is None or isinstance(t, CaseSchema):
            fields = [".".join(p) for p, _ in self.case_schema.leaves()]
            problem = (
                "a group of fields, not a field"
                if isinstance(t, CaseSchema)
                else "not a field of the case"
            )
            raise CaseError(
                error(
                    Code.CASE,
                    f"'{path}' is {problem}",
                    None,
                    did_you_mean(path, fields)
                    or "the fields are " + ", ".join(f"'{f}'" for f in fields),
                )
            )
        target: MutableMapping[str, Any] = self.case
        for part in parts[:-1]:
            inner = target.get(part)
            if not isinstance(inner, dict):
                inner = target[part] = {}
            target = inner
        target[parts[-1]] = _typed(text.strip(), t)

    def unset(self, path: str) -> None:
        parts = path.strip().split(".")
        target: Any = self.case
        for part in parts[:-1]:
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target.pop(parts[-1], None)

    # -- expressions ---------------------------------------------------------------------------

    def check(self, text: str) -> CheckedExpression:
        """The expression checked as a rule of the bundle: its tree, its type and problems."""
        first = self._checked(text, condition=False)
        if first.is_condition and not first.problems:
            return self._checked(text, condition=True)
        return first

    def _checked(self, text: str, condition: bool) -> CheckedExpression:
        embedded = EmbeddedText.standalone(text, SOURCE)
        policy = self.bundle.policy
        spec = _decision(embedded, condition)
        with_expression = dataclasses.replace(policy, decisions=(*policy.decisions, spec))
        checked, diagnostics = check_bundle(with_expression, self.bundle.schema, self.case_schema)
        if not diagnostics.has_errors:  # a code literal of another kind in the data (codes.py)
            diagnostics.extend(code_problems(checked, self.graph))
        problems = [
            dataclasses.replace(
                d, message=d.message.removeprefix(f"for rule '{RULE}', "), rule=None
            )
            for d in diagnostics.sorted()
            if d.span is not None and d.span.path == SOURCE and d.is_error
        ]
        decision = checked.decision(DECISION)
        rule = decision.rules[0] if decision is not None and decision.rules else None
        tree = None if rule is None else rule.when if condition else rule.then
        tree = tree if isinstance(tree, ast.Expr) else None
        t = (checked.type_of(tree) or UNKNOWN) if tree is not None else UNKNOWN
        return CheckedExpression(text, tree, t, checked, problems)

    def completions(self, text: str, cursor: int | None = None) -> list[Candidate]:
        """What may be typed at `cursor` (default: the end) of `text`, as in the editor."""
        embedded = EmbeddedText.standalone(text, SOURCE)
        policy = self.bundle.policy
        with_expression = dataclasses.replace(
            policy, decisions=(*policy.decisions, _decision(embedded, condition=False))
        )
        found = complete(
            with_expression,
            self.bundle.schema,
            self.case_schema,
            embedded,
            len(text) if cursor is None else cursor,
        )
        return [c for c in found if c.label != DECISION]

    def evaluate(self, text: str, *, as_of: dt.date | None = None) -> ExpressionResult:
        """The expression's value for the session's case, traced; PctrulesError (exit 3) when
        it does not check, CaseError (exit 5) when the case does not fit the bundle."""
        expression = self.check(text)
        if expression.problems or expression.tree is None:
            raise PctrulesError(
                expression.problems or [error(Code.SYNTAX, "this is not an expression", None)],
                ExitCode.INVALID_POLICY,
            )
        b = self.bundle
        bundle = _WithGraph(
            b.path,
            expression.checked.bundle,
            expression.checked,
            b.diagnostics,
            b.data_dir,
            shared=b.graph,
        )
        engine = Engine(bundle)
        case = engine.validate_case(self.case, 1)
        outcome = engine.evaluate(case, as_of=as_of or self.as_of, decisions=[DECISION], trace=True)
        result = outcome.decisions[DECISION]
        value, state = result.value, "value"
        if result.outcome == "error":
            state = "error"
        elif expression.is_condition:
            # The condition is the rule's `when`: matched is true; otherwise the rule's
            # outcome says false or unknown (a none on the way).
            rules = result.trace.rules if result.trace is not None else []
            if result.outcome != "matched":
                state = "unknown" if rules and rules[0].outcome == "unknown" else "value"
                value = None if state == "unknown" else False
        return ExpressionResult(expression, value, state, outcome.as_of, result, outcome.warnings)


def _decision(text: EmbeddedText, condition: bool) -> DecisionSpec:
    span = text.whole
    rule = RuleSpec(
        id=RULE,
        id_span=span,
        span=span,
        title=None,
        cite=None,
        reason=None,
        when=text if condition else None,
        then=None if condition else text,
        priority=None,
        effective=None,
        tags=(),
        status=None,
    )
    return DecisionSpec(
        name=DECISION,
        name_span=span,
        span=span,
        source=span.source,
        title=None,
        output=None,
        hit=Located("first", span),
        for_=None,
        default=None,
        effective=None,
        rules=(rule,),
        description=None,
    )


def _typed(text: str, t: Type) -> object:
    """Text from the command line as the case field's type reads it (Type.read_text: what
    does not read is left for the engine to name); `none` and `null` are absent."""
    if text in ("none", "null"):
        return None
    return t.read_text(text)


def describe_type(t: Type) -> str:
    """A type as the REPL shows it."""
    return describe(t)


def case_fields(case: Mapping[str, Any], prefix: str = "") -> list[tuple[str, object]]:
    """The case's fields as (dotted path, value), for showing the session's case."""
    out: list[tuple[str, object]] = []
    for key, value in case.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(case_fields(value, path + "."))
        else:
            out.append((path, value))
    return out
