"""Batch stage, fast path: decisions compiled to operations on whole columns of cases (numpy).

A column is factorised: `Col(idx, values)` holds a list of distinct values and, per row, the
index of its value. Scalar operators run once per distinct value (or distinct pair of values)
with runtime.py's own functions, so the semantics are the per-case evaluator's by construction;
the per-row work is numpy indexing. Nodes are columns over one table of every node code, so a
one-hop through the graph is a vectorised interval search over the hop's edges (precomputed
once per bundle), and `exists` on the as-of date an interval check on the node's validity.

What the column compiler accepts: case fields, parameters, literals (organisation codes too),
other decisions, node attributes, one-hops (forward or inverse), `is none`, comparisons,
`and`/`or`/`not`, `code()`, under `hit: first` with a single result per rule; the rules that
can decide, their effective ranges, labels and the default come from the decision's plan
(protocol.py), and `VectorDecision.evaluate` is the protocol's first hit over a chunk's rows.
A decision using anything else goes to the `fallback` the caller gives (groups.py: its
compiled function once per distinct input). A RuleError while evaluating a chunk (e.g.
comparing text with a number on some rows) makes the caller evaluate that chunk case by
case, so errors read exactly as the per-case evaluator's.

Over 500 lines because it is one backend: a `visit_<Node>` per expression class the column
compiler takes, the protocol's first hit over columns, and the helpers both column paths share
(`row_days`); split, each part would import the others' private column types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from pctrules.evaluation import runtime
from pctrules.evaluation.protocol import Period, plan_decision
from pctrules.graph.model import OrgGraph
from pctrules.language import ast
from pctrules.language.check.refs import (
    CaseField,
    DecisionRef,
    FunctionRef,
    HopRef,
    NodeAttribute,
    ParamRef,
)
from pctrules.language.check.state import CheckedBundle, CheckedDecision

Index = npt.NDArray[np.intp]
Ordinals = npt.NDArray[np.int64]
Truth = npt.NDArray[np.int8]

# Kleene truth as small integers: `and` is the minimum, `or` the maximum, `not` is 2 - x.
FALSE, UNKNOWN, TRUE = 0, 1, 2
_TRUTH_VALUES: list[object] = [False, runtime.UNKNOWN, True]
NO_RULE, DEFAULT, NOT_IN_EFFECT = -1, -2, -3


class Unsupported(Exception):
    """A decision the column compiler does not handle; it goes to the fallback (groups.py)."""


@dataclass(slots=True)
class Col:
    """A column of values, factorised: row r holds `values[idx[r]]`."""

    idx: Index
    values: list[object]
    nodes: bool = False  # `values` is the NodeTable's: codes and None, never unknown

    def compact(self) -> Col:
        """The same column with only the values some row uses (cheap for big value tables)."""
        n = len(self.values)
        if n <= 64:
            return self
        used = np.flatnonzero(np.bincount(self.idx, minlength=n))
        if len(used) == n:
            return self
        remap = np.zeros(n, dtype=np.intp)
        remap[used] = np.arange(len(used), dtype=np.intp)
        return Col(remap[self.idx], [self.values[i] for i in used.tolist()])

    def rows(self) -> list[object]:
        return list(map(self.values.__getitem__, self.idx.tolist()))


def const(value: object, n: int) -> Col:
    return Col(np.zeros(n, dtype=np.intp), [value])


def factorise(raw: Sequence[object]) -> Col:
    """A column of hashable values as a Col (TypeError for unhashable ones, e.g. JSON lists)."""
    values = list(dict.fromkeys(raw))
    where = {v: i for i, v in enumerate(values)}
    return Col(np.fromiter(map(where.__getitem__, raw), dtype=np.intp, count=len(raw)), values)


def map1(fn: Callable[[object], object], a: Col) -> Col:
    a = a.compact()
    return Col(a.idx, [fn(v) for v in a.values])


def map2(fn: Callable[[object, object], object], a: Col, b: Col) -> Col:
    """`fn` over the distinct pairs of values of two columns."""
    if len(a.values) == 1:
        x = a.values[0]
        return map1(lambda y: fn(x, y), b)
    if len(b.values) == 1:
        y = b.values[0]
        return map1(lambda x: fn(x, y), a)
    a, b = a.compact(), b.compact()
    width = len(b.values)
    pairs, idx = np.unique(a.idx * width + b.idx, return_inverse=True)
    av, bv = a.values, b.values
    return Col(idx.reshape(-1), [fn(av[p // width], bv[p % width]) for p in pairs.tolist()])


def truth(a: Col) -> Truth:
    """Each row's value as Kleene truth: anything but true or false (none included) is unknown."""
    a = a.compact()
    lut = np.array(
        [TRUE if v is True else FALSE if v is False else UNKNOWN for v in a.values], dtype=np.int8
    )
    return lut[a.idx]


def from_truth(t: Truth) -> Col:
    return Col(t.astype(np.intp), _TRUTH_VALUES)


# -- the graph as arrays -----------------------------------------------------------------------


class NodeTable:
    """Every node code with an id; node columns index `values` (the codes, then None)."""

    def __init__(self, graph: OrgGraph) -> None:
        codes = sorted(graph.nodes)
        self.codes = codes
        self.none = len(codes)
        self.values: list[object] = [*codes, None]
        self.ids = {c: i for i, c in enumerate(codes)}
        nodes = graph.nodes
        # Validity as ordinals, with a never-alive entry for the none id.
        self.first = np.array(
            [nodes[c].valid_from.toordinal() for c in codes] + [2], dtype=np.int64
        )
        self.last = np.array([nodes[c].valid_to.toordinal() for c in codes] + [1], dtype=np.int64)

    def column(self, ids: Index) -> Col:
        return Col(ids, self.values, nodes=True)

    def ids_of(self, a: Col) -> Index:
        """Node ids of a column of codes (anything that is not a known code: none)."""
        if a.values is self.values:
            return a.idx
        a = a.compact()
        lut = np.array(
            [self.ids.get(v, self.none) if isinstance(v, str) else self.none for v in a.values],
            dtype=np.intp,
        )
        return lut[a.idx]

    def alive(self, ids: Index, on: Ordinals) -> npt.NDArray[np.bool_]:
        return (self.first[ids] <= on) & (on <= self.last[ids])


class HopTable:
    """The `one` hop `name` from every kind that has it: each node's edges as a run of slots,
    sorted by first day (a node has at most one edge on a day: `one` edges never overlap)."""

    def __init__(self, graph: OrgGraph, table: NodeTable, name: str) -> None:
        rows: list[tuple[int, int, int, int]] = []
        for kind in graph.schema.kinds:
            hop = graph.schema.hop(kind, name)
            if hop is None:
                continue
            if not hop.one:
                raise Unsupported(f"the hop '{name}' gives a set")
            index = graph.index(kind, name)
            for code in index.keys():  # noqa: SIM118 (an index, not a dict)
                src = table.ids[code]
                for e in index.all_edges(code):
                    other = e.to if hop.forward else e.from_
                    rows.append(
                        (src, e.valid_from.toordinal(), e.valid_to.toordinal(), table.ids[other])
                    )
        rows.sort()
        self.first = np.array([r[1] for r in rows], dtype=np.int64)
        self.last = np.array([r[2] for r in rows], dtype=np.int64)
        self.target = np.array([r[3] for r in rows], dtype=np.intp)
        self.count = np.bincount(
            np.array([r[0] for r in rows], dtype=np.intp), minlength=len(table.values)
        )
        self.start = np.concatenate(([0], np.cumsum(self.count)[:-1])).astype(np.intp)
        self.none = table.none

    def follow(self, ids: Index, on: Ordinals) -> Index:
        """The target id of each row's node on its day (none where there is no edge).

        Pass k looks at the k-th edge of every row's node that has one; most nodes have one or
        two, so this is a few gathers over shrinking subsets, cheaper than a binary search."""
        out = np.full(len(ids), self.none, dtype=np.intp)
        count = self.count[ids]
        start = self.start[ids]
        rows = np.flatnonzero(count)
        k = 0
        while len(rows):
            slot = start[rows] + k
            day = on[rows]
            hit = (self.first[slot] <= day) & (day <= self.last[slot])
            out[rows[hit]] = self.target[slot[hit]]
            k += 1
            rows = rows[count[rows] > k]
        return out


# -- evaluation frames ---------------------------------------------------------------------------


Label = tuple[str | None, str | None]
"""What a row's output says decided it: (rule id, reason), (None, None) when no rule did."""


@dataclass(slots=True)
class DecisionCol:
    """A decision over a chunk: each row's value, and its Label."""

    value: Col
    labels: Col


@dataclass(slots=True)
class Frame:
    """What rules see for a chunk: the as-of day of each row, the case fields (node fields as
    node columns, already as of that day), parameters, and the decisions computed so far."""

    n: int
    on: Ordinals
    fields: Mapping[str, Col]
    params: Mapping[str, object]
    results: dict[str, DecisionCol]
    memo: dict[ast.Expr, Col]


Compiled = Callable[[Frame], Col]


class ColumnDecision(Protocol):
    """A decision evaluated over a whole chunk."""

    @property
    def name(self) -> str: ...

    def evaluate(self, f: Frame) -> DecisionCol: ...


class Vectoriser(ast.NodeVisitor):
    """Compiles decisions of a checked bundle into column functions over one graph (the column
    backend: one `visit_<Node>` per expression class, each giving a function of a Frame); a
    decision it does not handle goes to `fallback` (groups.py)."""

    def __init__(
        self,
        checked: CheckedBundle,
        graph: OrgGraph,
        fallback: Callable[[CheckedDecision], ColumnDecision],
    ) -> None:
        self.checked = checked
        self.graph = graph
        self.nodes = NodeTable(graph)
        self._hops: dict[str, HopTable] = {}
        self._attrs: dict[str, list[object]] = {}
        self.decisions: dict[str, ColumnDecision] = {}
        for d in checked.decisions:
            try:
                self.decisions[d.spec.name] = self._decision(d)
            except Unsupported:
                self.decisions[d.spec.name] = fallback(d)

    def hop(self, name: str) -> HopTable:
        table = self._hops.get(name)
        if table is None:
            table = self._hops[name] = HopTable(self.graph, self.nodes, name)
        return table

    def attribute(self, name: str) -> list[object]:
        values = self._attrs.get(name)
        if values is None:
            nodes = self.graph.nodes
            values = [nodes[c].attributes.get(name) for c in self.nodes.codes]
            values = self._attrs[name] = [*values, None]
        return values

    # -- decisions -------------------------------------------------------------------------

    def _decision(self, d: CheckedDecision) -> VectorDecision:
        plan = plan_decision(d)
        if plan.subject is not None:
            raise Unsupported("it is evaluated per subject ('for:')")
        if plan.hit != "first":
            raise Unsupported(f"its hit policy is '{plan.hit}'")
        rules: list[VectorRule] = []
        for rule in plan.rules:  # those that can decide
            if isinstance(rule.then, dict):
                raise Unsupported("a rule has named results")
            when = None if rule.when is None else self.expr(rule.when)
            then = None if rule.then is None else self.expr(rule.then)
            rules.append(VectorRule(when, then, _ordinals(rule.period)))
        default = None if plan.default is None else self.expr(plan.default)
        # Indexed by rule code - NOT_IN_EFFECT: the three codes below 0 name no rule.
        labels: list[Label] = [(None, None)] * -NOT_IN_EFFECT + [
            (r.id, r.reason) for r in plan.rules
        ]
        return VectorDecision(
            plan.name, tuple(rules), default, _ordinals(plan.period), tuple(labels)
        )

    # -- expressions -----------------------------------------------------------------------

    def expr(self, node: ast.Expr) -> Compiled:
        compiled: Compiled = self.visit(node)
        if isinstance(node, (ast.Literal, ast.CodeLiteral, ast.Name)):
            return compiled

        # A sub-expression written twice (a rule's `when` and `then` often share a path) is
        # computed once per chunk: nodes compare equal by structure, spans left out.
        def memo(f: Frame) -> Col:
            value = f.memo.get(node)
            if value is None:
                value = f.memo[node] = compiled(f)
            return value

        return memo

    def visit_Literal(self, node: ast.Literal) -> Compiled:
        value = node.value
        return lambda f: const(value, f.n)

    def visit_CodeLiteral(self, node: ast.CodeLiteral) -> Compiled:
        # The same code on every row, alive on the row's day or not (a hop or an attribute
        # from it looks at the day, as from any node).
        code = node.code
        return lambda f: const(code, f.n)

    def visit_Name(self, node: ast.Name) -> Compiled:
        ref = self.checked.refs.get(node.nid)
        if isinstance(ref, DecisionRef):
            name = ref.name
            return lambda f: f.results[name].value
        raise Unsupported(f"columns do not handle '{node.id}'")

    def visit_Attribute(self, node: ast.Attribute) -> Compiled:
        ref = self.checked.refs.get(node.nid)
        if isinstance(ref, CaseField):
            key = ".".join(ref.path)
            return lambda f: f.fields[key]
        if isinstance(ref, ParamRef):
            name = ref.name
            return lambda f: const(f.params[name], f.n)
        obj = self.expr(node.obj)
        nodes = self.nodes
        if isinstance(ref, HopRef) and ref.one:
            table = self.hop(ref.hop)
            return lambda f: nodes.column(table.follow(nodes.ids_of(obj(f)), f.on))
        if isinstance(ref, NodeAttribute):
            values = self.attribute(ref.name)

            def attribute(f: Frame) -> Col:
                ids = nodes.ids_of(obj(f))
                return Col(np.where(nodes.alive(ids, f.on), ids, nodes.none), values)

            return attribute
        raise Unsupported(f"columns do not handle '{ast.unparse(node)}'")

    def visit_IsNone(self, node: ast.IsNone) -> Compiled:
        operand = self.expr(node.operand)
        fn = runtime.is_not_none if node.negated else runtime.is_none
        none = self.nodes.none
        when_none, otherwise = (FALSE, TRUE) if node.negated else (TRUE, FALSE)

        def is_none(f: Frame) -> Col:
            col = operand(f)
            if col.nodes:  # a node column holds no unknown: compare ids, no per-value call
                return from_truth(np.where(col.idx == none, when_none, otherwise).astype(np.int8))
            return map1(fn, col)

        return is_none

    def visit_Compare(self, node: ast.Compare) -> Compiled:
        left, right = self.expr(node.left), self.expr(node.right)
        fn = runtime.COMPARE[node.op]
        return lambda f: map2(fn, left(f), right(f))

    def visit_BoolOp(self, node: ast.BoolOp) -> Compiled:
        operands = [self.expr(o) for o in node.operands]
        combine = np.minimum if node.op == "and" else np.maximum

        decided = FALSE if node.op == "and" else TRUE

        def boolop(f: Frame) -> Col:
            t = truth(operands[0](f))
            for o in operands[1:]:
                if (t == decided).all():
                    break  # as the per-case evaluator, do not evaluate what cannot matter
                t = combine(t, truth(o(f)))
            return from_truth(t)

        return boolop

    def visit_Not(self, node: ast.Not) -> Compiled:
        operand = self.expr(node.operand)
        return lambda f: from_truth(TRUE - truth(operand(f)))

    def visit_Call(self, node: ast.Call) -> Compiled:
        ref = self.checked.refs.get(node.nid)
        if isinstance(ref, FunctionRef) and ref.name == "code" and len(node.args) == 1:
            arg = self.expr(node.args[0])
            return lambda f: map1(runtime.code, arg(f))
        raise Unsupported(f"columns do not handle the function '{node.func}'")

    def decline(self, node: ast.Expr) -> Compiled:
        """A node the columns do not handle: its decision goes to the grouped path."""
        raise Unsupported(f"columns do not handle '{ast.unparse(node)}'")

    generic_visit = decline
    visit_ListExpr = visit_BinderCall = visit_Filter = visit_Generator = decline
    visit_Membership = visit_Arith = visit_Neg = visit_Conditional = decline


@dataclass(frozen=True, slots=True)
class VectorRule:
    when: Compiled | None
    then: Compiled | None
    effective: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class VectorDecision:
    """A `hit: first` decision over columns: the first rule whose `when` is true decides."""

    name: str
    rules: tuple[VectorRule, ...]
    default: Compiled | None
    effective: tuple[int, int] | None
    labels: tuple[Label, ...]

    def evaluate(self, f: Frame) -> DecisionCol:
        n = f.n
        open_ = np.ones(n, dtype=np.bool_)
        if self.effective is not None:
            open_ &= _in_range(f.on, self.effective)
        rule = np.full(n, NO_RULE, dtype=np.int16)
        if self.effective is not None:
            rule[~open_] = NOT_IN_EFFECT
        values: list[object] = []
        idx = np.zeros(n, dtype=np.intp)
        for k, r in enumerate(self.rules):
            if not open_.any():
                break
            hit = open_.copy()
            if r.effective is not None:
                hit &= _in_range(f.on, r.effective)
            if r.when is not None:
                hit &= truth(r.when(f)) == TRUE
            if not hit.any():
                continue  # as case by case, a result is worked out only where the rule matched
            then = const(True, n) if r.then is None else _settled(r.then(f))
            idx[hit] = then.idx[hit] + len(values)
            values.extend(then.values)
            rule[hit] = k
            open_ &= ~hit
        if open_.any():
            if self.default is not None:
                d = _settled(self.default(f))
                idx[open_] = d.idx[open_] + len(values)
                values.extend(d.values)
                rule[open_] = DEFAULT
            else:
                idx[open_] = len(values)
                values.append(None)
        if rule.size and rule.min() == NOT_IN_EFFECT:  # (a chunk may have no rows)
            idx[rule == NOT_IN_EFFECT] = len(values)
            values.append(None)
        return DecisionCol(
            Col(idx, values).compact(), Col(rule.astype(np.intp) - NOT_IN_EFFECT, list(self.labels))
        )


def row_days(
    n: int, as_of: dt.date | None, dates: np.ndarray | None, bad: np.ndarray
) -> np.ndarray:
    """Each row's day as an ordinal: `as_of` for every row when given, else the rows' own
    `date` ordinals (0 where a row has none, which marks it bad in `bad`); with neither, every
    row is bad (there is no day to decide on)."""
    if as_of is not None:
        return np.full(n, as_of.toordinal(), dtype=np.int64)
    if dates is None:
        bad[:] = True
        return np.zeros(n, dtype=np.int64)
    bad |= dates == 0
    return dates


def _settled(col: Col) -> Col:
    """A result column: unknown becomes none (node columns never hold unknown)."""
    return col if col.nodes else map1(runtime.settle, col)


def _ordinals(period: Period | None) -> tuple[int, int] | None:
    """An effective range as inclusive ordinals (None when there is none)."""
    return None if period is None else period.ordinals()


def _in_range(on: Ordinals, r: tuple[int, int]) -> npt.NDArray[np.bool_]:
    return (r[0] <= on) & (on <= r[1])
