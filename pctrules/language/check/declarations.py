"""Checker pass 2: declared types (decision outputs, parameters)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pctrules.language.check.state import CheckState
from pctrules.language.check.types import UNKNOWN, kinds_of, parse_output_type
from pctrules.language.diagnostics import Code, did_you_mean, error
from pctrules.language.schema import SCALARS, Type, parse_type
from pctrules.language.source import Span

if TYPE_CHECKING:
    pass


# -- pass 2: declared types (decision outputs, parameters) ---------------------------------------


def _declared_type(
    state: CheckState,
    text: str,
    span: Span | None,
    what: str,
    union: bool,
) -> Type:
    t = parse_output_type(text) if union else parse_type(text)
    if t is None:
        state.report(
            error(
                Code.TYPE,
                f"'{text}' is not a type, for {what}",
                span,
                "write string, int, number, date, bool, a kind, set[kind]"
                + (" or kinds joined by '|'" if union else "")
                + "; add '?' when it may be absent",
            )
        )
        return UNKNOWN
    unknown = [k for k in kinds_of(t) if k not in state.schema.kinds]
    for kind in unknown:
        state.report(
            error(
                Code.UNKNOWN_NAME,
                f"unknown kind '{kind}', for {what}",
                span,
                did_you_mean(kind, [*state.schema.kinds, *SCALARS]),
            )
        )
    return UNKNOWN if unknown else t


def resolve_declarations(state: CheckState) -> None:
    """Parse each decision's `output` and each parameter's type with the schema's type parser.

    A decision without `output` gives values of any type: its results are not checked.
    """
    for decision in state.decisions:
        output = decision.spec.output
        if output is not None:
            decision.output = _declared_type(
                state, output.value, output.span, f"the output of decision '{decision.name}'", True
            )
    for param in state.bundle.manifest.parameters:
        state.params[param.name] = _declared_type(
            state, param.type, param.span, f"parameter '{param.name}'", False
        )
