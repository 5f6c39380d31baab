"""Trace stage: what the traced evaluator saw for each decision, as data (DESIGN §6)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pctrules.evaluation.runtime import ByResult, json_value
from pctrules.graph.model import EdgeEvidence

Outcome = Literal["matched", "not-matched", "unknown", "skipped", "error"]
"""How one rule fared: matched; its condition was false; its condition was unknown (an
operator met none); not evaluated because an earlier rule decided; or it raised an error."""


@dataclass(frozen=True)
class Evidence(EdgeEvidence):
    """One graph edge a rule traversed, with its validity and the data row it came from.

    Names and kinds are kept for the text renderer; the JSON has the contract's fields plus the
    provenance (`source`).
    """

    from_kind: str | None = None
    from_name: str | None = None
    to_kind: str | None = None
    to_name: str | None = None


@dataclass(frozen=True)
class Because:
    """A deciding sub-expression: its text, its value, and where it is written (file:line:col).

    `unknown` marks a value that is neither true nor false because an operator met none; the
    sub-expression that was none follows as its own entry with `none_of` naming the parent.
    """

    expr: str
    value: object
    at: str
    unknown: bool = False
    none_of: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "expr": self.expr,
            "value": None if self.unknown else json_value(self.value),
            "at": self.at,
        }
        if self.unknown:
            out["unknown"] = True
        if self.none_of is not None:
            out["none_of"] = self.none_of
        return out


@dataclass(frozen=True)
class Named:
    """An organisation a rule names by its code (`sha('Q39')`), as the data has it: its kind and
    name, whether it exists on the as-of date, and its validity (None: not in the data)."""

    expr: str
    at: str
    code: str
    kind: str
    name: str | None
    exists: bool
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def to_dict(self) -> dict[str, object]:
        valid = (
            None
            if self.valid_from is None
            else [json_value(self.valid_from), json_value(self.valid_to)]
        )
        return {
            "expr": self.expr,
            "at": self.at,
            "code": self.code,
            "kind": self.kind,
            "name": self.name,
            "exists": self.exists,
            "valid": valid,
        }


@dataclass(frozen=True)
class Ranking:
    """How `max_by`/`min_by` chose: every member ranked by the attribute, then the tie-break by
    lowest code when several share the best value (each step visible to an auditor)."""

    expr: str
    at: str
    attribute: str
    largest: bool
    result: ByResult

    def to_dict(self) -> dict[str, object]:
        r = self.result
        which = "largest" if self.largest else "smallest"
        steps: list[dict[str, object]] = [
            {
                "step": f"{which} {self.attribute}",
                "ranking": [s.to_dict() for s in r.ranking],
                "kept": list(r.tied),
            }
        ]
        if r.tie_broken:
            steps.append({"step": "lowest code", "kept": [r.winner]})
        return {
            "expr": self.expr,
            "at": self.at,
            "winner": r.winner,
            "steps": steps,
            "explain": r.explain(self.attribute, self.largest),
        }


@dataclass
class RuleOutcome:
    """One rule as the trace shows it (DESIGN §6)."""

    rule: str
    at: str
    outcome: Outcome
    because: list[Because] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    value: object = None
    reason: str | None = None
    title: str | None = None
    rankings: list[Ranking] = field(default_factory=list)
    error: str | None = None
    error_at: str | None = None  # the expression that failed (the rule's when or then)
    note: str | None = None  # why a rule was not evaluated (not in effect on the date)
    # Every top-level conjunct evaluated, with its value (policy-test coverage; not in the JSON,
    # where `because` already names the deciding ones).
    conditions: list[Because] = field(default_factory=list)
    named: list[Named] = field(default_factory=list)  # organisations written as kind('code')

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule": self.rule,
            "at": self.at,
            "outcome": self.outcome,
            "because": [b.to_dict() for b in self.because],
            "evidence": [e.to_dict() for e in self.evidence],
        }
        if self.outcome == "matched":
            out["value"] = json_value(self.value)
            out["reason"] = self.reason
        if self.rankings:
            out["rankings"] = [r.to_dict() for r in self.rankings]
        if self.named:
            out["named"] = [n.to_dict() for n in self.named]
        if self.error is not None:
            out["error"] = {"message": self.error, "at": self.error_at}
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass
class DecisionTrace:
    """Every rule of one decision considered for one case, in evaluation order."""

    decision: str
    hit: str
    as_of: dt.date
    rules: list[RuleOutcome] = field(default_factory=list)
    subject: str | None = None  # the group a `for:` decision was evaluated for
    subject_expr: str | None = None
    note: str | None = None  # e.g. the decision is not in effect on the date
    subjects: list[DecisionTrace] = field(default_factory=list)  # a set subject: per member

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "decision": self.decision,
            "hit": self.hit,
            "as_of": self.as_of.isoformat(),
        }
        if self.subject_expr is not None:
            out["subject"] = {"expr": self.subject_expr, "value": self.subject}
        if self.note is not None:
            out["note"] = self.note
        out["rules"] = [r.to_dict() for r in self.rules]
        if self.subjects:
            out["subjects"] = [s.to_dict() for s in self.subjects]
        return out

    def evidence(self) -> Iterable[Evidence]:
        """Every edge the decision's rules traversed, each once, in the order first met."""
        seen: set[tuple[str, str, str]] = set()
        for r in self.rules:
            for e in r.evidence:
                key = (e.from_, e.rel, e.to)
                if key not in seen:
                    seen.add(key)
                    yield e
