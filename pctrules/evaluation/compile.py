"""Compile stage: a CheckedBundle becomes generated Python source, one function per decision.

The source is generated once per bundle and compiled once; binding it to an OrgGraph runs the
module body, which looks up the graph's temporal indexes (`H_practice_pct = G.index('practice',
'pct').one`), so a hop at run time is a call on a dict-backed index with no AST in sight. The
value semantics are runtime.py's: the generated code inlines the cheap, certain cases (a hop, a
case field, `is none`, `==` between values that cannot be unknown) and calls runtime for the rest.

Each decision function has the signature `d_<name>(C, V, on, P)`: the case as a flat mapping of
dotted field paths ('person.practice'), the values of the decisions computed so far, the as-of
date, and the parameters. It returns a runtime.DecisionResult. A RuleError inside a rule is turned
into an error result naming the rule and the span of the expression that failed: the generated
line that raised maps back to it (`CompiledDecision.lines`), so the happy path pays nothing.

Nothing from the bundle reaches the source except as a literal made by `repr()`: decision
names, rule ids, titles, file names and kinds are data (issue 9). Generated names are numbered
(`d0`, `s0`, `q1`, `v1`, `H1`), never made from user text, and positions live in the side table
`CompiledDecision.lines`, never in comments.
"""

from __future__ import annotations

import datetime as dt
import math
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pctrules.evaluation import runtime
from pctrules.evaluation.runtime import DecisionResult, RuleError, RuleErrorInfo
from pctrules.language import ast
from pctrules.language.check.refs import (
    CaseField,
    DecisionRef,
    HopRef,
    NodeAttribute,
    ParamRef,
    VarRef,
)
from pctrules.language.check.state import CheckedBundle, CheckedDecision, CheckedRule
from pctrules.language.check.types import is_node, kinds_of
from pctrules.language.schema import Type
from pctrules.language.source import Span

if TYPE_CHECKING:
    from pctrules.graph.model import OrgGraph
    from pctrules.language.loader import EffectiveRange

_MODULE_FILE = "<pctrules-compiled:{bundle}>"


@dataclass(frozen=True)
class RuleMeta:
    """What the result of a rule shows, whoever evaluates it."""

    id: str
    reason: str | None
    cite: str | None
    span: Span | None


@dataclass
class CompiledDecision:
    """One decision: its generated function's name, the rules' metadata, and the line table that
    maps a line of the generated source to the rule and expression it evaluates."""

    name: str
    function: str
    checked: CheckedDecision
    rules: tuple[RuleMeta, ...]
    depends_on: frozenset[str]
    span: Span | None
    lines: dict[int, tuple[str | None, Span | None]] = field(default_factory=dict)


@dataclass
class CompiledBundle:
    """The generated module for a bundle: its source (for `pctrules` to show), the code object
    compiled once, and each decision in dependency order."""

    checked: CheckedBundle
    source: str
    code: types.CodeType
    filename: str
    decisions: tuple[CompiledDecision, ...]
    unavailable: frozenset[str] = frozenset()

    def decision(self, name: str) -> CompiledDecision | None:
        return next((d for d in self.decisions if d.name == name), None)

    def bind(self, graph: OrgGraph) -> BoundBundle:
        """Run the module body against a graph: indexes are looked up now, once."""
        namespace: dict[str, Any] = dict(_RUNTIME_NAMES)
        namespace["G"] = graph
        for d in self.decisions:
            namespace[f"FAIL_{d.function}"] = _Failer(d, self.filename)
        exec(self.code, namespace)
        functions = {d.name: namespace[d.function] for d in self.decisions}
        return BoundBundle(self, graph, functions)


DecisionFunction = Callable[
    [Mapping[str, object], dict[str, object], dt.date, Mapping[str, object]], DecisionResult]


@dataclass
class BoundBundle:
    """A CompiledBundle bound to one graph: each decision name to its callable."""

    compiled: CompiledBundle
    graph: OrgGraph
    functions: dict[str, DecisionFunction]


class _Failer:
    """Turns a RuleError raised inside a decision's generated code into its error result: the
    innermost tagged generated line of the traceback names the rule and the expression."""

    __slots__ = ("decision", "filename")

    def __init__(self, decision: CompiledDecision, filename: str) -> None:
        self.decision = decision
        self.filename = filename

    def __call__(self, e: RuleError) -> DecisionResult:
        d = self.decision
        line = None
        tb = e.__traceback__
        while tb is not None:
            # The innermost generated line that names its rule (not every helper line does).
            if tb.tb_frame.f_code.co_filename == self.filename and tb.tb_lineno in d.lines:
                line = tb.tb_lineno
            tb = tb.tb_next
        rule, span = d.lines.get(line, (None, d.span)) if line is not None else (None, d.span)
        where = e.span or span
        return DecisionResult(
            d.name, None, rule, None, None, "error",
            RuleErrorInfo(e.message, rule, str(where) if where is not None else None))


# The names the generated module sees besides G and the FAIL_* handlers.
_RUNTIME_NAMES: dict[str, object] = {
    "UNKNOWN": runtime.UNKNOWN, "EMPTY": runtime.EMPTY, "RuleError": RuleError,
    "DR": DecisionResult, "Match": runtime.Match, "resolve_hit": runtime.resolve_hit,
    "Unavailable": runtime.Unavailable, "read_unavailable": runtime.read_unavailable,
    "members": runtime.members, "date": dt.date,
    "eq": runtime.eq, "ne": runtime.ne, "lt": runtime.lt, "le": runtime.le, "gt": runtime.gt,
    "ge": runtime.ge, "is_none": runtime.is_none, "is_not_none": runtime.is_not_none,
    "contains": runtime.contains, "not_contains": runtime.not_contains,
    "add": runtime.add, "sub": runtime.sub, "mul": runtime.mul, "div": runtime.div,
    "neg": runtime.neg, "count": runtime.count, "sum_of": runtime.sum_of,
    "min_of": runtime.min_of, "max_of": runtime.max_of, "only": runtime.only,
    "max_by": runtime.max_by, "min_by": runtime.min_by, "within": runtime.within,
    "code": runtime.code, "name": runtime.name, "kind": runtime.kind, "exists": runtime.exists,
    "not_in_effect": runtime.not_in_effect,
}

# Operators and functions by their names in the language: the generated text comes from these
# tables, never from the tree (the checker has already refused anything else).
_EQUALITY_OPS = {"==": "==", "!=": "!="}
_EQUALITY_CALLS = {"==": "eq", "!=": "ne"}
_ORDER_OPS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_ARITH_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div"}
_BOOL_OPS = {"and": "and", "or": "or"}
_ONE_ARGUMENT = {"count": "count", "only": "only", "code": "code", "sum": "sum_of",
                 "min": "min_of", "max": "max_of"}
_GRAPH_ARGUMENT = {"name": "name", "kind": "kind"}
_BY = {"max_by": "max_by", "min_by": "min_by"}
_HELPERS = {"any": "any", "all": "all", "count": "count"}
_GENERATED = {"sum": "sum", "min": "min", "max": "max", "count": "count"}

Tag = tuple[str | None, Span | None]


class _Writer:
    """Lines of generated Python, written as jinja's CodeGenerator writes them (`writeline`,
    `indent`, `outdent`): a line may carry a tag, the rule and span it evaluates, which goes to
    the side table and never into the text."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, Tag | None]] = []
        self._level = 0

    def indent(self) -> None:
        self._level += 1

    def outdent(self, levels: int = 1) -> None:
        self._level -= levels

    def writeline(self, text: str, tag: Tag | None = None) -> None:
        self.lines.append(("    " * self._level + text, tag))


class _Function:
    """The expression compiler for one generated function: fresh temporaries, known variables."""

    def __init__(self, gen: _Generator, variables: tuple[str, ...], rule: str | None) -> None:
        self.gen = gen
        self.variables = variables
        self.rule = rule
        self._temps = 0
        # Paths computed once per rule: a path the `when` surely evaluated whenever it is true
        # is kept in a temporary there (`assign_at`, by node) and read in the `then` (`reuse`,
        # by equal path): `when: X is not none`, `then: X` looks X up once.
        self.assign_at: dict[int, str] = {}
        self.reuse: dict[ast.Expr, str] = {}
        self._names: dict[ast.Expr, str] = {}

    def temp(self) -> str:
        self._temps += 1
        return f"_t{self._temps}"

    def share(self, when: ast.Expr, thens: list[ast.Expr]) -> None:
        """Before compiling a rule's `when`: which paths to keep for its `then`."""
        wanted = {n for t in thens for n in ast.walk(t) if isinstance(n, ast.Attribute)}
        for node in surely_evaluated(when):
            if node in wanted:
                name = self._names.setdefault(node, f"_p{len(self._names) + 1}")
                self.assign_at[node.nid] = name

    def start_then(self) -> None:
        """After the `when`: its kept paths are read, not computed, from here on."""
        self.reuse = self._names
        self.assign_at = {}

    def expr(self, node: ast.Expr) -> str:
        if self.reuse and isinstance(node, ast.Attribute):
            kept = self.reuse.get(node)
            if kept is not None:
                return kept
        method: Callable[[Any], str] = getattr(self, f"_{type(node).__name__}")
        code = method(node)
        name = self.assign_at.get(node.nid) if self.assign_at else None
        return code if name is None else f"({name} := {code})"

    def _Literal(self, node: ast.Literal) -> str:
        return self.gen.literal(node.value)

    def _ListExpr(self, node: ast.ListExpr) -> str:
        # The checker types a list as a set: `x in ['5NT', '5HG']`, `members == [...]`.
        if not node.items:
            return "EMPTY"
        return "frozenset((" + ", ".join(self.expr(i) for i in node.items) + ",))"

    def _Name(self, node: ast.Name) -> str:
        ref = self.gen.refs.get(node.nid)
        if isinstance(ref, VarRef):
            return self.gen.variable(ref.name)
        if isinstance(ref, DecisionRef):
            return f"V[{ref.name!r}]"
        raise AssertionError(f"name {node.id!r} ({ref}) cannot be a value")

    def _Attribute(self, node: ast.Attribute) -> str:
        ref = self.gen.refs.get(node.nid)
        if isinstance(ref, CaseField):
            return self.gen.case_field(ref.path, self)
        if isinstance(ref, ParamRef):
            return f"P[{ref.name!r}]"
        obj = self.expr(node.obj)
        if isinstance(ref, NodeAttribute):
            return f"G.attr({obj}, {ref.name!r}, on)"
        if isinstance(ref, HopRef):
            return self.gen.hop(self.gen.type_of(node.obj), ref, obj)
        raise AssertionError(f"attribute {node.attr!r} ({ref}) has no value")

    def _Call(self, node: ast.Call) -> str:
        args = [self.expr(a) for a in node.args[:1]]
        fn = node.func
        if fn in _BY:
            attr = node.args[1]
            assert isinstance(attr, ast.Name)
            return f"{_BY[fn]}(G, {args[0]}, {attr.id!r}, on)"
        if fn == "within":
            return f"within(G, {args[0]}, {self.expr(node.args[1])}, on)"
        if fn in _GRAPH_ARGUMENT:
            return f"{_GRAPH_ARGUMENT[fn]}(G, {args[0]})"
        if fn == "exists":
            return f"exists(G, {args[0]}, on)"
        return f"{_ONE_ARGUMENT[fn]}({args[0]})"

    def _BinderCall(self, node: ast.BinderCall) -> str:
        return self.gen.helper(self, node, node.var, node.collection, node.condition,
                               _HELPERS[node.func])

    def _Filter(self, node: ast.Filter) -> str:
        return self.gen.helper(self, node, node.var, node.collection, node.condition, "filter")

    def _Generator(self, node: ast.Generator) -> str:
        return self.gen.helper(self, node, node.var, node.collection, node.element,
                               f"{_GENERATED[node.func]}-of")

    def _Compare(self, node: ast.Compare) -> str:
        left, right = self.expr(node.left), self.expr(node.right)
        if node.op in _EQUALITY_OPS:
            if certain(node.left) and certain(node.right):
                return f"({left} {_EQUALITY_OPS[node.op]} {right})"
            return f"{_EQUALITY_CALLS[node.op]}({left}, {right})"
        return f"{_ORDER_OPS[node.op]}({left}, {right})"

    def _Membership(self, node: ast.Membership) -> str:
        fn = "not_contains" if node.negated else "contains"
        return f"{fn}({self.expr(node.collection)}, {self.expr(node.element)})"

    def _IsNone(self, node: ast.IsNone) -> str:
        if isinstance(node.operand, ast.Literal):
            # Known now; and Python warns on `'5NT' is None` ("is" with a literal).
            return repr((node.operand.value is None) != node.negated)
        operand = self.expr(node.operand)
        if certain(node.operand):
            return f"({operand} is {'not ' if node.negated else ''}None)"
        return f"{'is_not_none' if node.negated else 'is_none'}({operand})"

    def _BoolOp(self, node: ast.BoolOp) -> str:
        op = _BOOL_OPS[node.op]
        if all(boolean(o) for o in node.operands):
            # Only true or false can come out of each operand: Python's own `and`/`or` are
            # Kleene's then, short-circuit included.
            return "(" + f" {op} ".join(self.expr(o) for o in node.operands) + ")"
        # Kleene logic as one flat conditional chain: `and` stops at the first false operand,
        # `or` at the first true one; the temporaries keep each operand's value for the end.
        stop, other = ("False", "True") if op == "and" else ("True", "False")
        temps = [self.temp() for _ in node.operands]
        parts = [f"{stop} if ({t} := {self.expr(o)}) is {stop} else"
                 for t, o in zip(temps, node.operands, strict=True)]
        all_other = " and ".join(f"{t} is {other}" for t in temps)
        return f"({' '.join(parts)} {other} if {all_other} else UNKNOWN)"

    def _Not(self, node: ast.Not) -> str:
        if boolean(node.operand):
            return f"(not {self.expr(node.operand)})"
        t = self.temp()
        return (f"(False if ({t} := {self.expr(node.operand)}) is True else True if {t} is False"
                " else UNKNOWN)")

    def _Arith(self, node: ast.Arith) -> str:
        return f"{_ARITH_OPS[node.op]}({self.expr(node.left)}, {self.expr(node.right)})"

    def _Neg(self, node: ast.Neg) -> str:
        return f"neg({self.expr(node.operand)})"

    def _Conditional(self, node: ast.Conditional) -> str:
        # Like a rule's `when`: the `then` branch only when the test is true. The test is
        # compiled first: it runs first, whatever the order of the generated text.
        test = self.expr(node.test)
        if not boolean(node.test):
            test += " is True"
        return f"({self.expr(node.body)} if {test} else {self.expr(node.orelse)})"

    def settled(self, node: ast.Expr) -> str:
        """A result value: UNKNOWN becomes none (a decision's value is never unknown)."""
        code = self.expr(node)
        if certain(node):
            return code
        t = self.temp()
        return f"(None if ({t} := {code}) is UNKNOWN else {t})"


class _Generator:
    """Writes the module: constants and index bindings, helpers, then one function per decision."""

    def __init__(self, checked: CheckedBundle, unavailable: frozenset[str]) -> None:
        self.checked = checked
        self.unavailable = unavailable
        self.refs = checked.refs
        self.types = checked.types
        self.body: list[tuple[str, Tag | None, str]] = []  # (line, tag, owning function)
        self.bindings: dict[str, str] = {}
        self._binding_names: dict[tuple[str, str, str], str] = {}
        self.constants: dict[str, str] = {}
        self._variables: dict[str, str] = {}
        self.node_fields = {
            ".".join(path): t for path, t in checked.case_schema.leaves() if is_node(t)}
        self._helpers = 0
        self._pending: list[_Writer] = []

    def type_of(self, node: ast.Expr) -> Type | None:
        return self.types.get(node.nid)

    def variable(self, name: str) -> str:
        """The Python name of a variable of the language (`v1`, `v2`…), the same in every
        function: a quantifier's helper receives the enclosing variables under their names."""
        return self._variables.setdefault(name, f"v{len(self._variables) + 1}")

    def literal(self, value: object) -> str:
        if isinstance(value, dt.date):
            return self.date_constant(value)
        if isinstance(value, float) and not math.isfinite(value):
            # repr() gives 'inf', which is no Python literal (a decimal too long for a float).
            name = f"F{len(self.constants)}"
            self.constants[name] = f"float({repr(value)!r})"
            return name
        return repr(value)

    def date_constant(self, d: dt.date) -> str:
        name = f"D_{d.year:04d}_{d.month:02d}_{d.day:02d}"
        self.constants.setdefault(name, f"date({d.year}, {d.month}, {d.day})")
        return name

    def text_constant(self, prefix: str, text: str | None) -> str:
        if text is None:
            return "None"
        name = f"{prefix}_{len(self.constants)}"
        self.constants[name] = repr(text)
        return name

    def case_field(self, path: tuple[str, ...], fn: _Function) -> str:
        key = ".".join(path)
        t = self.node_fields.get(key)
        if t is None or not set(kinds_of(t)) & self.unavailable:
            return f"C[{key!r}]"
        # A node field whose data is not loaded (no practice register) holds an Unavailable:
        # reading it is the rule's error, never a silent none (DESIGN §11).
        v = fn.temp()
        return (f"(read_unavailable({v}) if ({v} := C[{key!r}]).__class__ is Unavailable "
                f"else {v})")

    def hop(self, obj_type: Type | None, ref: HopRef, obj: str) -> str:
        kinds = kinds_of(obj_type) if obj_type is not None else ()
        method = "one" if ref.one else "many"
        if len(kinds) == 1 and self.checked.schema.hop(kinds[0], ref.hop) is not None:
            key = (kinds[0], ref.hop, method)
            name = self._binding_names.get(key)
            if name is None:
                name = self._binding_names[key] = f"{'H' if ref.one else 'M'}{len(self.bindings)}"
                self.bindings[name] = f"G.index({kinds[0]!r}, {ref.hop!r}).{method}"
            return f"{name}({obj}, on)"
        # A value of several kinds: the graph finds the node's kind, then the index.
        follow = "follow_one" if ref.one else "follow_many"
        return f"G.{follow}({obj}, {ref.hop!r}, on)"

    def helper(self, fn: _Function, node: ast.Expr, var: str, collection: ast.Expr,
               inner: ast.Expr, what: str) -> str:
        """A quantifier, filter or generator as a module-level function: a call per use, no
        closure per case. Variables of the enclosing scope are passed as arguments."""
        self._helpers += 1
        name = f"q{self._helpers}"
        outer = [self.variable(v) for v in fn.variables]
        params = ", ".join(["xs", "C", "V", "on", "P", *outer])
        inner_fn = _Function(self, (*fn.variables, var), fn.rule)
        v = self.variable(var)
        w = _Writer()
        tag = (fn.rule, inner.span)
        w.writeline(f"def {name}({params}):")
        w.indent()
        w.writeline(repr(f"{what}: {ast.unparse(node)}"))
        w.writeline("if xs is None or xs is UNKNOWN:")
        w.indent()
        w.writeline("return UNKNOWN")
        w.outdent()
        if what in ("any", "all", "count"):
            stop = "True" if what == "any" else "False"
            start = {"count": "0", "any": "False", "all": "True"}[what]
            w.writeline(f"r = {start}")
            w.writeline(f"for {v} in members(xs):")
            w.indent()
            w.writeline(f"c = {inner_fn.expr(inner)}", tag)
            if what == "count":
                w.writeline("if c is True:")
                w.indent()
                w.writeline("r += 1")
                w.outdent()
            else:
                w.writeline(f"if c is {stop}:")
                w.indent()
                w.writeline(f"return {stop}")
                w.outdent()
                w.writeline(f"if c is not {'False' if what == 'any' else 'True'}:")
                w.indent()
                w.writeline("r = UNKNOWN")
                w.outdent()
            w.outdent()
            w.writeline("return r")
        elif what == "filter":
            w.writeline("r = []")
            w.writeline(f"for {v} in members(xs):")
            w.indent()
            w.writeline(f"if {inner_fn.expr(inner)} is True:", tag)
            w.indent()
            w.writeline(f"r.append({v})")
            w.outdent(2)
            w.writeline("return frozenset(r)")
        else:
            func = what.removesuffix("-of")
            w.writeline("r = []")
            w.writeline(f"for {v} in members(xs):")
            w.indent()
            w.writeline(f"r.append({inner_fn.expr(inner)})", tag)
            w.outdent()
            if func == "count":
                # count(e for x in xs): the members whose element is true (unknown does not count)
                w.writeline("return r.count(True)")
            else:
                w.writeline(f"return {func}_of(r)", (fn.rule, node.span))  # may raise
        self._pending.append(w)
        args = ", ".join(["C", "V", "on", "P", *outer])
        return f"{name}({fn.expr(collection)}, {args})"

    # -- decisions ---------------------------------------------------------------------------

    def decision(self, index: int, d: CheckedDecision) -> CompiledDecision:
        spec = d.spec
        fname = f"d{index}"
        metas = tuple(RuleMeta(r.spec.id, r.spec.reason, r.spec.cite, r.spec.id_span)
                      for r in d.rules)
        cd = CompiledDecision(spec.name, fname, d, metas, d.depends_on, spec.name_span)
        self._pending = []
        w = _Writer()
        variables: tuple[str, ...] = ()
        entry = fname
        params = "C, V, on, P"
        if d.subject is not None:
            variables = (d.subject.var,)
            entry = f"s{index}"
            params += f", {self.variable(d.subject.var)}"
        w.writeline(f"def {entry}({params}):")
        w.indent()
        w.writeline(repr(f"{spec.title or spec.name} (hit: {spec.hit.value})."))
        self._decision_body(w, d, cd, variables)
        for helper in self._pending:
            self._emit(helper, fname)
        self._emit(w, fname)
        if d.subject is not None:
            self._subject_wrapper(d, cd, fname, entry)
        return cd

    def _emit(self, w: _Writer, owner: str) -> None:
        self.body.extend((text, tag, owner) for text, tag in w.lines)
        self.body.append(("", None, owner))

    def _decision_body(self, w: _Writer, d: CheckedDecision, cd: CompiledDecision,
                       variables: tuple[str, ...]) -> None:
        spec = d.spec
        name = repr(spec.name)
        effective = _effective(spec.effective)
        w.writeline("try:")
        w.indent()
        if effective is not None:
            w.writeline(f"if not ({self._range_test(effective)}):")
            w.indent()
            lo, hi = (self.date_constant(x) if x is not None else "None" for x in effective)
            w.writeline(f"return DR({name}, None, None, None, None, 'no-match', "
                        f"note=not_in_effect({name}, {lo}, {hi}, on))")
            w.outdent()
        collect = spec.hit.value != "first"
        if collect:
            w.writeline("M = []")
        catch_all = False
        for number, (rule, meta) in enumerate(zip(d.rules, cd.rules, strict=True), 1):
            catch_all = self._rule(w, d, rule, meta, number, variables, collect)
            if catch_all and not collect:
                break
        if collect:
            self._resolve(w, d, cd, variables)
        elif not catch_all:
            self._no_match(w, d, variables)
        w.outdent()
        w.writeline("except RuleError as e:")
        w.indent()
        w.writeline(f"return FAIL_{cd.function}(e)")
        w.outdent()

    def _range_test(self, effective: tuple[dt.date | None, dt.date | None]) -> str:
        lo, hi = effective
        parts = []
        if lo is not None:
            parts.append(f"{self.date_constant(lo)} <= on")
        if hi is not None:
            parts.append(f"on <= {self.date_constant(hi)}")
        return " and ".join(parts) or "True"

    def _rule(self, w: _Writer, d: CheckedDecision, rule: CheckedRule, meta: RuleMeta,
              number: int, variables: tuple[str, ...], collect: bool) -> bool:
        """Emit one rule; True when it always matches (the rules after it cannot decide)."""
        fn = _Function(self, variables, meta.id)
        w.writeline(f"# rule {number}")
        conditions = []
        effective = _effective(rule.spec.effective)
        if effective is not None:
            conditions.append(self._range_test(effective))
        if rule.when is not None:
            fn.share(rule.when, _thens(rule))
            test = fn.expr(rule.when)
            conditions.append(test if boolean(rule.when) else f"{test} is True")
            fn.start_then()
        value = self._then(fn, rule)
        reason = repr(meta.reason)
        cite = self.text_constant("CITE", meta.cite)
        priority = rule.spec.priority.value if rule.spec.priority is not None else None
        if conditions:
            w.writeline(f"if {' and '.join(conditions)}:",
                        (meta.id, rule.when.span if rule.when is not None else meta.span))
            w.indent()
        then_span = _then_span(rule) or meta.span
        if collect:
            w.writeline(f"M.append(Match({meta.id!r}, {value}, {priority!r}))",
                        (meta.id, then_span))
        else:
            w.writeline(f"return DR({d.spec.name!r}, {value}, {meta.id!r}, {reason}, "
                        f"{cite}, 'matched')", (meta.id, then_span))
        if conditions:
            w.outdent()
        return not conditions

    def _then(self, fn: _Function, rule: CheckedRule) -> str:
        then = rule.then
        if then is None:
            return "True"  # a rule with no result records that it applies
        if isinstance(then, dict):
            items = ", ".join(f"{k!r}: {fn.settled(v)}" for k, v in then.items())
            return "{" + items + "}"
        return fn.settled(then)

    def _no_match(self, w: _Writer, d: CheckedDecision, variables: tuple[str, ...]) -> None:
        if d.default is not None:
            fn = _Function(self, variables, None)
            w.writeline(f"return DR({d.spec.name!r}, {fn.settled(d.default)}, None, None, "
                        "None, 'default')", (None, d.default.span))
        else:
            w.writeline(f"return DR({d.spec.name!r}, None, None, None, None, 'no-match')")

    def _resolve(self, w: _Writer, d: CheckedDecision, cd: CompiledDecision,
                 variables: tuple[str, ...]) -> None:
        meta = {m.id: (m.reason, m.cite) for m in cd.rules}
        table = f"RULES_{cd.function}"
        self.constants[table] = repr(meta)
        w.writeline(f"h = resolve_hit({d.spec.hit.value!r}, M)", (None, cd.span))
        w.writeline("if h.outcome == 'no-match':")
        w.indent()
        self._no_match(w, d, variables)
        w.outdent()
        w.writeline(f"reason, cite = {table}[h.rules[0]]")
        w.writeline(f"return DR({d.spec.name!r}, h.value, h.rules[0], reason, cite, 'matched', "
                    "rules=h.rules)")

    def _subject_wrapper(self, d: CheckedDecision, cd: CompiledDecision, fname: str,
                         entry: str) -> None:
        """`for: g in <expr>`: one node → that one result; a set → a result per member."""
        assert d.subject is not None
        fn = _Function(self, (), None)
        coll = d.subject.collection
        subject_type = self.type_of(coll)
        name = repr(d.spec.name)
        w = _Writer()
        w.writeline(f"def {fname}(C, V, on, P):")
        w.indent()
        text = ast.unparse(coll)
        w.writeline(repr(f"{d.spec.name} for each subject of: {text}."))
        w.writeline("try:")
        w.indent()
        w.writeline(f"s = {fn.settled(coll)}", (None, coll.span))
        w.outdent()
        w.writeline("except RuleError as e:")
        w.indent()
        w.writeline(f"return FAIL_{fname}(e)")
        w.outdent()
        w.writeline("if s is None:")
        w.indent()
        note = f"no subject: {text} is none"
        w.writeline(f"return DR({name}, None, None, None, None, 'no-match', note={note!r})")
        w.outdent()
        if subject_type is None or not subject_type.is_set:
            w.writeline(f"return {entry}(C, V, on, P, s)")
        else:
            w.writeline("results = {m: " + entry + "(C, V, on, P, m) for m in members(s)}")
            w.writeline("for r in results.values():")
            w.indent()
            w.writeline("if r.outcome == 'error':")
            w.indent()
            w.writeline("return r")
            w.outdent(2)
            w.writeline(f"return DR({name}, {{m: r.value for m, r in results.items()}}, None, "
                        "None, None, 'matched', rules=tuple(r.rule for r in results.values() "
                        "if r.rule))")
        self._emit(w, fname)

    # -- the module --------------------------------------------------------------------------

    def module(self, decisions: list[CompiledDecision]) -> str:
        bundle = self.checked.bundle
        doc = (f"Generated by pctrules from bundle {bundle.manifest.name!r}: one function per "
               "decision, in dependency order.")
        out = [
            repr(doc),
            "",
            "# Constants: dates, citations, rule metadata.",
            *(f"{k} = {v}" for k, v in sorted(self.constants.items())),
            "",
            "# Temporal indexes of the graph, looked up when the module is bound to it.",
            *(f"{k} = {v}" for k, v in sorted(self.bindings.items())),
            "",
            "",
        ]
        offset = len(out)
        by_name = {d.function: d for d in decisions}
        for i, (text, tag, owner) in enumerate(self.body):
            out.append(text)
            if tag is not None:
                by_name[owner].lines[offset + i + 1] = tag
        out.append("# Each decision's function, by the decision's name.")
        out.append("DECISIONS = {" + ", ".join(
            f"{d.name!r}: {d.function}" for d in decisions) + "}")
        return "\n".join(out) + "\n"


def certain(node: ast.Expr) -> bool:
    """Whether an expression's value can never be UNKNOWN, so Python's own operators apply:
    paths, names (decision values are settled: never unknown), literals, and what is built from
    them by `==`, `!=`, `is none`, `code`, `name`, `kind`, `and`, `or` and `not`."""
    if isinstance(node, (ast.Literal, ast.ListExpr, ast.Name, ast.Attribute)):
        return True
    if isinstance(node, ast.Call):
        return node.func in ("code", "name", "kind")
    return boolean(node)


def boolean(node: ast.Expr) -> bool:
    """Whether an expression always gives true or false (never none, never unknown)."""
    if isinstance(node, ast.Literal):
        return isinstance(node.value, bool)
    if isinstance(node, ast.Compare):
        return node.op in ("==", "!=") and certain(node.left) and certain(node.right)
    if isinstance(node, ast.IsNone):
        return certain(node.operand)
    if isinstance(node, ast.BoolOp):
        return all(boolean(o) for o in node.operands)
    if isinstance(node, ast.Not):
        return boolean(node.operand)
    return False


def surely_evaluated(when: ast.Expr) -> Iterator[ast.Expr]:
    """The paths a `when` has evaluated whenever it is true: not those behind a later operand of
    `or`, an `if` branch, or inside a quantifier."""
    stack = [when]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Attribute):
            yield node
        elif isinstance(node, ast.BoolOp):
            stack.extend(node.operands if node.op == "and" else node.operands[:1])
        elif isinstance(node, ast.Conditional):
            stack.append(node.test)
        elif isinstance(node, (ast.Compare, ast.Arith)):
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.Membership):
            stack.extend((node.element, node.collection))
        elif isinstance(node, (ast.IsNone, ast.Not, ast.Neg)):
            stack.append(node.operand)
        elif isinstance(node, ast.Call):
            stack.extend(node.args[:1] if node.func in ("max_by", "min_by") else node.args)
        elif isinstance(node, (ast.BinderCall, ast.Filter, ast.Generator)):
            stack.append(node.collection)


def _effective(eff: EffectiveRange | None) -> tuple[dt.date | None, dt.date | None] | None:
    if eff is None or (eff.start is None and eff.end is None):
        return None
    return eff.start, eff.end


def _thens(rule: CheckedRule) -> list[ast.Expr]:
    then = rule.then
    if then is None:
        return []
    return list(then.values()) if isinstance(then, dict) else [then]


def _then_span(rule: CheckedRule) -> Span | None:
    then = rule.then
    if isinstance(then, dict):
        return next(iter(then.values())).span if then else None
    return then.span if then is not None else None


def unavailable_kinds(checked: CheckedBundle, graph: OrgGraph) -> frozenset[str]:
    """Kinds whose data is not loaded at all: a case field naming one cannot be read by a rule
    (DESIGN §11), e.g. a practice when no practice register was imported."""
    present = {n.kind for n in graph.nodes.values()}
    return frozenset(
        k for k in checked.schema.kinds
        if k not in present or (k == "practice" and not graph.has_register))


def compile_bundle(
    checked: CheckedBundle, unavailable: frozenset[str] = frozenset(),
) -> CompiledBundle:
    """Generate and compile the module for a checked bundle (no errors left in it). Reading a
    case field of an `unavailable` kind is checked in the generated code (and only then)."""
    gen = _Generator(checked, unavailable)
    decisions = [gen.decision(i, d) for i, d in enumerate(checked.decisions)]
    source = gen.module(decisions)
    filename = _MODULE_FILE.format(bundle=checked.bundle.manifest.name)
    code = compile(source, filename, "exec")
    return CompiledBundle(checked, source, code, filename, tuple(decisions), unavailable)
