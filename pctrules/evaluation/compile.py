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
"""

from __future__ import annotations

import datetime as dt
import keyword
import re
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
}

_ORDER_OPS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_ARITH_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div"}


def _ident(text: str) -> str:
    out = re.sub(r"\W", "_", text)
    return out + "_" if keyword.iskeyword(out) else out


class _Source:
    """Lines of generated Python, each tagged with the rule and span it evaluates."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, tuple[str | None, Span | None] | None, str | None]] = []

    def add(self, indent: int, text: str, tag: tuple[str | None, Span | None] | None = None,
            owner: str | None = None) -> None:
        self.lines.append(("    " * indent + text, tag, owner))


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
                self.assign_at[id(node)] = name

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
        name = self.assign_at.get(id(node)) if self.assign_at else None
        return code if name is None else f"({name} := {code})"

    def _Literal(self, node: ast.Literal) -> str:
        value = node.value
        if isinstance(value, dt.date):
            return self.gen.date_constant(value)
        return repr(value)

    def _ListExpr(self, node: ast.ListExpr) -> str:
        # The checker types a list as a set: `x in ['5NT', '5HG']`, `members == [...]`.
        if not node.items:
            return "EMPTY"
        return "frozenset((" + ", ".join(self.expr(i) for i in node.items) + ",))"

    def _Name(self, node: ast.Name) -> str:
        ref = self.gen.refs.get(id(node))
        if isinstance(ref, VarRef):
            return f"v_{node.id}"
        if isinstance(ref, DecisionRef):
            return f"V[{node.id!r}]"
        raise AssertionError(f"name '{node.id}' ({ref}) cannot be a value")

    def _Attribute(self, node: ast.Attribute) -> str:
        ref = self.gen.refs.get(id(node))
        if isinstance(ref, CaseField):
            return self.gen.case_field(ref.path, self)
        if isinstance(ref, ParamRef):
            return f"P[{ref.name!r}]"
        obj = self.expr(node.obj)
        if isinstance(ref, NodeAttribute):
            return f"G.attr({obj}, {node.attr!r}, on)"
        if isinstance(ref, HopRef):
            return self.gen.hop(self.gen.type_of(node.obj), ref, obj)
        raise AssertionError(f"attribute '{node.attr}' ({ref}) has no value")

    def _Call(self, node: ast.Call) -> str:
        args = [self.expr(a) for a in node.args[:1]]
        fn = node.func
        if fn in ("max_by", "min_by"):
            attr = node.args[1]
            assert isinstance(attr, ast.Name)
            return f"{fn}(G, {args[0]}, {attr.id!r}, on)"
        if fn == "within":
            return f"within(G, {args[0]}, {self.expr(node.args[1])}, on)"
        if fn in ("name", "kind"):
            return f"{fn}(G, {args[0]})"
        if fn == "exists":
            return f"exists(G, {args[0]}, on)"
        if fn in ("sum", "min", "max"):
            return f"{fn}_of({args[0]})"
        return f"{fn}({args[0]})"  # count, only, code

    def _BinderCall(self, node: ast.BinderCall) -> str:
        return self.gen.helper(self, node, node.var, node.collection, node.condition, node.func)

    def _Filter(self, node: ast.Filter) -> str:
        return self.gen.helper(self, node, node.var, node.collection, node.condition, "filter")

    def _Generator(self, node: ast.Generator) -> str:
        return self.gen.helper(self, node, node.var, node.collection, node.element,
                               f"{node.func}-of")

    def _Compare(self, node: ast.Compare) -> str:
        left, right = self.expr(node.left), self.expr(node.right)
        if node.op in ("==", "!="):
            if certain(node.left) and certain(node.right):
                return f"({left} {node.op} {right})"
            return f"{'eq' if node.op == '==' else 'ne'}({left}, {right})"
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
        if all(boolean(o) for o in node.operands):
            # Only true or false can come out of each operand: Python's own `and`/`or` are
            # Kleene's then, short-circuit included.
            return "(" + f" {node.op} ".join(self.expr(o) for o in node.operands) + ")"
        # Kleene logic as one flat conditional chain: `and` stops at the first false operand,
        # `or` at the first true one; the temporaries keep each operand's value for the end.
        stop, other = ("False", "True") if node.op == "and" else ("True", "False")
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
        self.header = _Source()
        self.body = _Source()
        self.bindings: dict[str, str] = {}
        self.constants: dict[str, str] = {}
        self.node_fields = {
            ".".join(path): t for path, t in checked.case_schema.leaves() if is_node(t)}
        self._helpers = 0
        self._pending: list[_Source] = []
        self._current_tag: tuple[str | None, Span | None] | None = None
        self._owner: str | None = None

    def type_of(self, node: ast.Expr) -> Type | None:
        return self.types.get(id(node))

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
            name = f"{'H' if ref.one else 'M'}_{_ident(kinds[0])}_{_ident(ref.hop)}"
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
        name = f"q{self._helpers}_{_ident(what)}"
        outer = fn.variables
        params = ", ".join(["xs", "C", "V", "on", "P", *(f"v_{v}" for v in outer)])
        inner_fn = _Function(self, (*outer, var), fn.rule)
        src = _Source()
        tag = (fn.rule, inner.span)
        src.add(0, f"def {name}({params}):")
        src.add(1, f"# {what}: {_comment(ast.unparse(node))}")
        src.add(1, "if xs is None or xs is UNKNOWN:")
        src.add(2, "return UNKNOWN")
        if what in ("any", "all", "count"):
            stop = "True" if what == "any" else "False"
            start = {"count": "0", "any": "False", "all": "True"}[what]
            src.add(1, f"r = {start}")
            src.add(1, f"for v_{var} in members(xs):")
            src.add(2, f"c = {inner_fn.expr(inner)}", tag)
            if what == "count":
                src.add(2, "if c is True:")
                src.add(3, "r += 1")
            else:
                src.add(2, f"if c is {stop}:")
                src.add(3, f"return {stop}")
                src.add(2, f"if c is not {'False' if what == 'any' else 'True'}:")
                src.add(3, "r = UNKNOWN")
            src.add(1, "return r")
        elif what == "filter":
            src.add(1, "r = []")
            src.add(1, f"for v_{var} in members(xs):")
            src.add(2, f"if {inner_fn.expr(inner)} is True:", tag)
            src.add(3, f"r.append(v_{var})")
            src.add(1, "return frozenset(r)")
        else:
            func = what.removesuffix("-of")
            src.add(1, "r = []")
            src.add(1, f"for v_{var} in members(xs):")
            src.add(2, f"r.append({inner_fn.expr(inner)})", tag)
            if func == "count":
                # count(e for x in xs): the members whose element is true (unknown does not count)
                src.add(1, "return r.count(True)")
            else:
                src.add(1, f"return {func}_of(r)", (fn.rule, node.span))  # may raise
        self._pending.append(src)
        args = ", ".join(["C", "V", "on", "P", *(f"v_{v}" for v in outer)])
        return f"{name}({fn.expr(collection)}, {args})"

    # -- decisions ---------------------------------------------------------------------------

    def decision(self, d: CheckedDecision) -> CompiledDecision:
        spec = d.spec
        fname = f"d_{_ident(spec.name)}"
        metas = tuple(RuleMeta(r.spec.id, r.spec.reason, r.spec.cite, r.spec.id_span)
                      for r in d.rules)
        cd = CompiledDecision(spec.name, fname, d, metas, d.depends_on, spec.name_span)
        self._pending = []
        src = _Source()
        variables: tuple[str, ...] = ()
        entry = fname
        if d.subject is not None:
            variables = (d.subject.var,)
            entry = f"s_{_ident(spec.name)}"
        title = spec.title or spec.name
        src.add(0, f"def {entry}(C, V, on, P{', v_' + d.subject.var if d.subject else ''}):")
        src.add(1, f'"""{_comment(title)} (hit: {spec.hit.value})."""')
        self._decision_body(src, d, cd, variables)
        for helper in self._pending:
            self.body.lines.extend((t, tag, fname) for t, tag, _ in helper.lines)
            self.body.add(0, "")
        self.body.lines.extend((t, tag, fname) for t, tag, _ in src.lines)
        self.body.add(0, "")
        if d.subject is not None:
            self._subject_wrapper(d, cd, fname, entry)
        return cd

    def _decision_body(self, src: _Source, d: CheckedDecision, cd: CompiledDecision,
                       variables: tuple[str, ...]) -> None:
        spec = d.spec
        name = repr(spec.name)
        effective = _effective(spec.effective)
        src.add(1, "try:")
        if effective is not None:
            test = self._range_test(effective)
            src.add(2, f"if not ({test}):")
            src.add(3, f"return DR({name}, None, None, None, None, 'no-match', "
                       f"note={_not_in_effect(spec.name, effective)})")
        collect = spec.hit.value != "first"
        if collect:
            src.add(2, "M = []")
        catch_all = False
        for rule, meta in zip(d.rules, cd.rules, strict=True):
            catch_all = self._rule(src, d, rule, meta, variables, collect)
            if catch_all and not collect:
                break
        if collect:
            self._resolve(src, d, cd, variables)
        elif not catch_all:
            self._no_match(src, d, variables, indent=2)
        src.add(1, "except RuleError as e:")
        src.add(2, f"return FAIL_{cd.function}(e)")

    def _range_test(self, effective: tuple[dt.date | None, dt.date | None]) -> str:
        lo, hi = effective
        parts = []
        if lo is not None:
            parts.append(f"{self.date_constant(lo)} <= on")
        if hi is not None:
            parts.append(f"on <= {self.date_constant(hi)}")
        return " and ".join(parts) or "True"

    def _rule(self, src: _Source, d: CheckedDecision, rule: CheckedRule, meta: RuleMeta,
              variables: tuple[str, ...], collect: bool) -> bool:
        """Emit one rule; True when it always matches (the rules after it cannot decide)."""
        fn = _Function(self, variables, meta.id)
        where = f" ({meta.span})" if meta.span is not None else ""
        src.add(2, f"# rule '{meta.id}'{where}")
        conditions = []
        effective = _effective(rule.spec.effective)
        if effective is not None:
            conditions.append(self._range_test(effective))
        if rule.when is not None:
            src.add(2, f"# when: {_comment(ast.unparse(rule.when))}")
            fn.share(rule.when, _thens(rule))
            test = fn.expr(rule.when)
            conditions.append(test if boolean(rule.when) else f"{test} is True")
            fn.start_then()
        value = self._then(fn, rule)
        reason = repr(meta.reason)
        cite = self.text_constant("CITE", meta.cite)
        priority = rule.spec.priority.value if rule.spec.priority is not None else None
        indent = 2
        if conditions:
            src.add(2, f"if {' and '.join(conditions)}:",
                    (meta.id, rule.when.span if rule.when is not None else meta.span))
            indent = 3
        then_span = _then_span(rule) or meta.span
        if collect:
            src.add(indent, f"M.append(Match({meta.id!r}, {value}, {priority!r}))",
                    (meta.id, then_span))
        else:
            src.add(indent, f"return DR({d.spec.name!r}, {value}, {meta.id!r}, {reason}, "
                            f"{cite}, 'matched')", (meta.id, then_span))
        return not conditions

    def _then(self, fn: _Function, rule: CheckedRule) -> str:
        then = rule.then
        if then is None:
            return "True"  # a rule with no result records that it applies
        if isinstance(then, dict):
            items = ", ".join(f"{k!r}: {fn.settled(v)}" for k, v in then.items())
            return "{" + items + "}"
        return fn.settled(then)

    def _no_match(self, src: _Source, d: CheckedDecision, variables: tuple[str, ...],
                  indent: int) -> None:
        if d.default is not None:
            fn = _Function(self, variables, None)
            src.add(indent, f"return DR({d.spec.name!r}, {fn.settled(d.default)}, None, None, "
                            "None, 'default')", (None, d.default.span))
        else:
            src.add(indent, f"return DR({d.spec.name!r}, None, None, None, None, 'no-match')")

    def _resolve(self, src: _Source, d: CheckedDecision, cd: CompiledDecision,
                 variables: tuple[str, ...]) -> None:
        meta = {m.id: (m.reason, m.cite) for m in cd.rules}
        table = f"RULES_{cd.function}"
        self.constants[table] = repr(meta)
        src.add(2, f"h = resolve_hit({d.spec.hit.value!r}, M)", (None, cd.span))
        src.add(2, "if h.outcome == 'no-match':")
        self._no_match(src, d, variables, indent=3)
        src.add(2, f"reason, cite = {table}[h.rules[0]]")
        src.add(2, f"return DR({d.spec.name!r}, h.value, h.rules[0], reason, cite, 'matched', "
                   "rules=h.rules)")

    def _subject_wrapper(self, d: CheckedDecision, cd: CompiledDecision, fname: str,
                         entry: str) -> None:
        """`for: g in <expr>`: one node → that one result; a set → a result per member."""
        assert d.subject is not None
        fn = _Function(self, (), None)
        coll = d.subject.collection
        subject_type = self.type_of(coll)
        name = repr(d.spec.name)
        lines = self.body
        lines.add(0, f"def {fname}(C, V, on, P):", None, fname)
        lines.add(1, f'"""{name} for each subject of: {_comment(ast.unparse(coll))}."""',
                  None, fname)
        lines.add(1, "try:", None, fname)
        lines.add(2, f"s = {fn.settled(coll)}", (None, coll.span), fname)
        lines.add(1, "except RuleError as e:", None, fname)
        lines.add(2, f"return FAIL_{fname}(e)", None, fname)
        note = f"no subject: {_comment(ast.unparse(coll))} is none"
        lines.add(1, "if s is None:", None, fname)
        lines.add(2, f"return DR({name}, None, None, None, None, 'no-match', note={note!r})",
                  None, fname)
        if subject_type is None or not subject_type.is_set:
            lines.add(1, f"return {entry}(C, V, on, P, s)", None, fname)
        else:
            lines.add(1, "results = {m: " + entry + "(C, V, on, P, m) for m in members(s)}",
                      None, fname)
            lines.add(1, "for r in results.values():", None, fname)
            lines.add(2, "if r.outcome == 'error':", None, fname)
            lines.add(3, "return r", None, fname)
            lines.add(1, f"return DR({name}, {{m: r.value for m, r in results.items()}}, None, "
                         "None, None, 'matched', rules=tuple(r.rule for r in results.values() "
                         "if r.rule))", None, fname)
        lines.add(0, "", None, fname)

    # -- the module --------------------------------------------------------------------------

    def module(self, decisions: list[CompiledDecision]) -> str:
        bundle = self.checked.bundle
        out = [
            f'"""Generated by pctrules from bundle {bundle.manifest.name!r}: one '
            'function per decision, in dependency order."""',
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
        for i, (text, tag, owner) in enumerate(self.body.lines):
            out.append(text)
            if tag is not None and owner is not None:
                by_name[owner].lines[offset + i + 1] = tag
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


def _paths_in(node: ast.Expr) -> set[ast.Expr]:
    return {n for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def _comment(text: str) -> str:
    return " ".join(text.split()).replace('"""', "'''")


def _effective(eff: EffectiveRange | None) -> tuple[dt.date | None, dt.date | None] | None:
    if eff is None or (eff.start is None and eff.end is None):
        return None
    return eff.start, eff.end


def _not_in_effect(name: str, effective: tuple[dt.date | None, dt.date | None]) -> str:
    lo, hi = effective
    span = f"{lo.isoformat() if lo else '…'} to {hi.isoformat() if hi else '…'}"
    return (f"f\"decision '{name}' is not in effect on {{on.isoformat()}} "
            f"(in effect {span})\"")


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
    decisions = [gen.decision(d) for d in checked.decisions]
    source = gen.module(decisions)
    filename = _MODULE_FILE.format(bundle=checked.bundle.manifest.name)
    code = compile(source, filename, "exec")
    return CompiledBundle(checked, source, code, filename, tuple(decisions), unavailable)
