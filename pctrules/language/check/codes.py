"""Checker, against the data: the organisation codes that policies write as `kind('code')`.

The passes check a bundle without its data; this runs once the graph is built (`Bundle.graph`,
beside the data constraints), so `check`, `test` and every command that loads data report it:

- a code of another kind in the data (`sha('5NT')`, a pct): an error, E-type, since more data
  cannot make it right (a code names one node, of one kind);
- a code the data does not hold at all: a warning, W-unknown-code, with the near miss the data
  has (`pct('5nt')`: did you mean pct('5NT')?). Not an error, because data may still come:
  tables imported with `--data` add organisations (a practice register, ONS's PCTs and SHAs,
  postcode areas), and a bundle is checked without them and used with registers of several
  dates. `check --data DIR` checks the codes against that data too;
- a code in the data only on days when its rule is never in effect (the bundle's, decision's
  and rule's `effective` ranges together): a warning, W-unknown-code. A code alive on some of
  those days is fine: on the others it is still that code (`exists(x)` says whether it exists).
Malformed codes (empty, spaces around, a line break) are the type pass's (`malformed_code`).
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pctrules.language import ast
from pctrules.language.diagnostics import Code, Diagnostic, Diagnostics, error, warning

if TYPE_CHECKING:
    from pctrules.graph.model import Node, OrgGraph
    from pctrules.language.check.state import CheckedBundle
    from pctrules.language.loader import EffectiveRange


def malformed_code(code: str) -> str | None:
    """Why text cannot be an organisation's code (None when it can): the data never holds an
    empty code, one with spaces around it, or one with a line break or other control
    character (data tables trim their cells; case input refuses such codes too)."""
    if not code.strip():
        return "it is empty"
    if code != code.strip():
        return "it has spaces around it"
    if not code.isprintable():
        return "it holds a line break or another control character"
    return None


Days = tuple[dt.date, dt.date]
_ALWAYS: Days = (dt.date.min, dt.date.max)


def code_problems(checked: CheckedBundle, graph: OrgGraph) -> Diagnostics:
    """A diagnostic at each code literal that the graph's data contradicts (module docstring);
    one per kind whose data is not loaded at all, at its first literal."""
    out = Diagnostics()
    unchecked: dict[str, list[tuple[ast.CodeLiteral, str | None, str]]] = {}
    for node, days, rule, owner in _literals(checked):
        if node.kind not in graph.schema.kinds or malformed_code(node.code) is not None:
            continue  # the type pass has reported it
        found = graph.node(node.code)
        if found is None and not graph.loaded(node.kind):
            unchecked.setdefault(node.kind, []).append((node, rule, owner))
            continue
        problem = _problem(graph, node, found, days, rule, owner)
        if problem is not None:
            out.add(problem)
    for kind, literals in unchecked.items():
        out.add(_unloaded(graph, kind, literals))
    return out


def _unloaded(
    graph: OrgGraph, kind: str, literals: list[tuple[ast.CodeLiteral, str | None, str]]
) -> Diagnostic:
    node, rule, owner = literals[0]
    register = graph.schema.kinds[kind].register
    data = register.name if register is not None else f"{kind} data"
    more = len({n.code for n, _, _ in literals} - {node.code})
    others = f" (and {more} more {kind} code{'s' if more > 1 else ''})" if more else ""
    return warning(
        Code.UNKNOWN_CODE,
        f"for {owner}, {kind} '{node.code}'{others} cannot be checked: no {data} is loaded",
        node.code_span,
        register.help
        if register is not None
        else f"add {kind}s to the bundle's data, or import the table that holds them ('pctrules "
        "import') and pass '--data DIR'",
        rule,
    )


def _problem(
    graph: OrgGraph,
    node: ast.CodeLiteral,
    found: Node | None,
    days: Days | None,
    rule: str | None,
    owner: str,
) -> Diagnostic | None:
    code, kind = node.code, node.kind
    if found is None:
        register = graph.schema.kinds[kind].register
        where = f"the {register.name}" if register is not None else "the data"
        near = _near(graph, code, kind)
        return warning(
            Code.UNKNOWN_CODE,
            f"for {owner}, {kind} '{code}' is not in {where}",
            node.code_span,
            f"did you mean {kind}('{near}')?"
            if near is not None
            else register.help
            if register is not None
            else f"add the {kind} to the bundle's data, or import the "
            f"table that holds it ('pctrules import') and pass '--data DIR'",
            rule,
        )
    if found.kind != kind:
        return error(
            Code.TYPE,
            f"for {owner}, '{code}' is a {found.kind} in the data, not a {kind}",
            node.span,
            f"write {found.kind}('{code}'), or the code of a {kind}",
            rule,
        )
    if days is None:
        return None  # never in effect: the loader has said so (E-effective-range)
    if max(found.valid_from, days[0]) > min(found.valid_to, days[1]):
        return warning(
            Code.UNKNOWN_CODE,
            f"for {owner}, {kind} '{code}' is in the data only "
            f"{_span_text(found.valid_from, found.valid_to)}, never while it is in effect "
            f"({_span_text(*days)})",
            node.code_span,
            "check the code, and the 'effective' dates of the bundle, decision and rule",
            rule,
        )
    return None


def _near(graph: OrgGraph, code: str, kind: str) -> str | None:
    """A code of the kind that the data has and that the given one is probably meant to be."""
    upper = code.upper()
    if upper != code and (n := graph.node(upper)) is not None and n.kind == kind:
        return upper
    codes = sorted(c for c, n in graph.nodes.items() if n.kind == kind)
    close = difflib.get_close_matches(code, codes, n=1, cutoff=0.6)
    return close[0] if close else None


def _span_text(first: dt.date, last: dt.date) -> str:
    if first == dt.date.min and last == dt.date.max:
        return "on every day"
    if first == dt.date.min:
        return f"until {last.isoformat()}"
    if last == dt.date.max:
        return f"from {first.isoformat()}"
    return f"from {first.isoformat()} to {last.isoformat()}"


def _literals(
    checked: CheckedBundle,
) -> Iterator[tuple[ast.CodeLiteral, Days | None, str | None, str]]:
    """Every code literal of the bundle's decisions and constraints, with the days on which it
    can be evaluated (None: never), the rule it is in and who owns it, as messages say."""
    bundle = _days(_ALWAYS, checked.bundle.manifest.effective)
    for d in checked.decisions:
        decision = _days(bundle, d.spec.effective)
        owner = f"decision '{d.spec.name}'"
        roots: list[tuple[ast.Expr | None, Days | None, str | None, str]] = [
            (d.subject.collection if d.subject else None, decision, None, owner),
            (d.default, decision, None, owner),
        ]
        for r in d.rules:
            days = _days(decision, r.spec.effective)
            then = r.then
            thens = list(then.values()) if isinstance(then, dict) else [then]
            roots += [(e, days, r.spec.id, f"rule '{r.spec.id}'") for e in (r.when, *thens)]
        for root, days, rule, who in roots:
            yield from ((n, days, rule, who) for n in _codes(root))
    for c in checked.constraints:
        days = _days(bundle, c.spec.effective)
        owner = f"constraint '{c.spec.id}'"
        for root in (c.subject.collection if c.subject else None, c.require):
            yield from ((n, days, c.spec.id, owner) for n in _codes(root))


def _codes(root: ast.Expr | None) -> Iterator[ast.CodeLiteral]:
    if root is not None:
        yield from (n for n in ast.walk(root) if isinstance(n, ast.CodeLiteral))


def _days(outer: Days | None, eff: EffectiveRange | None) -> Days | None:
    """The days of `outer` within an `effective` range; None when there are none."""
    if outer is None:
        return None
    first = max(outer[0], eff.start) if eff is not None and eff.start is not None else outer[0]
    last = min(outer[1], eff.end) if eff is not None and eff.end is not None else outer[1]
    return (first, last) if first <= last else None
