"""Checker pass 5: each rule's result fits its decision's declared output."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pctrules.language import ast
from pctrules.language.check.state import CheckState, describe_owner
from pctrules.language.check.types import UNKNOWN, describe, fits
from pctrules.language.diagnostics import Code, error
from pctrules.language.schema import Type

if TYPE_CHECKING:
    pass


# -- pass 5: results fit their decision's output ---------------------------------------------


def _check_value(
    state: CheckState,
    node: ast.Expr,
    target: Type,
    owner: str,
    rule: str | None,
    what: str,
) -> None:
    t = state.types.get(node.nid, UNKNOWN)
    if fits(t.required() if t.base != "<none>" else t, target):
        if t.optional and t.base != "<none>" and not target.optional:
            text = ast.unparse(node)
            state.report(
                error(
                    Code.TYPE,
                    f"for {owner}, {what} may be none, but the output is {target}",
                    node.span,
                    f"declare 'output: {target}?', or guard it in 'when': {text} is not none",
                    rule,
                )
            )
        return
    help = None
    if t.is_set and not target.is_set and fits(Type(t.base), target):
        help = "pick one node with only(...) or max_by(...)"
    elif t.base == "<none>":
        help = f"declare 'output: {target}?' if the decision may give none"
    state.report(
        error(
            Code.TYPE,
            f"for {owner}, {what} gives {describe(t)}, but the output is {target}",
            node.span,
            help or f"give {describe(target)}, or change the decision's 'output'",
            rule,
        )
    )


def check_outputs(state: CheckState) -> None:
    """Each rule's `then` and the decision's `default` give a value of the declared output."""
    for d in state.decisions:
        if d.output == UNKNOWN:
            continue
        if d.default is not None:
            _check_value(
                state, d.default, d.output, describe_owner(None, d.name), None, "'default'"
            )
        for r in d.rules:
            if isinstance(r.then, dict):
                for key, node in r.then.items():
                    _check_value(
                        state, node, d.output, describe_owner(r.spec.id), r.spec.id, f"'then.{key}'"
                    )
            elif r.then is not None:
                _check_value(
                    state, r.then, d.output, describe_owner(r.spec.id), r.spec.id, "'then'"
                )
            elif not fits(Type("bool"), d.output):
                # A rule without `then` gives true when it matches (runtime.py).
                state.report(
                    error(
                        Code.TYPE,
                        f"for rule '{r.spec.id}', the rule has no 'then', so it gives "
                        f"true, but the output is {d.output}",
                        r.spec.id_span,
                        "add 'then:' with the rule's result",
                        r.spec.id,
                    )
                )
