"""Checker stage: parses, resolves and types every expression of a bundle; reports all problems."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pctrules import ast
from pctrules.diagnostics import Diagnostic, Diagnostics, did_you_mean, error, warning
from pctrules.parser import parse_expression
from pctrules.schema import SCALARS, CaseSchema, OrgSchema, Type, parse_type
from pctrules.source import EmbeddedText, Span

if TYPE_CHECKING:
    from pctrules.loader import ConstraintSpec, DecisionSpec, PolicyBundle, RuleSpec


# -- what names refer to (CheckedBundle.refs) ---------------------------------------------------


@dataclass(frozen=True)
class CaseRoot:
    """`case`: only valid as the root of a path."""


@dataclass(frozen=True)
class CaseField:
    """A case field or group, e.g. `case.person.practice` → ('person', 'practice')."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class ParamsRoot:
    """`params`: only valid as the root of `params.<name>`."""


@dataclass(frozen=True)
class ParamRef:
    """A bundle parameter, `params.<name>`."""

    name: str


@dataclass(frozen=True)
class DecisionRef:
    """Another decision's value."""

    name: str


@dataclass(frozen=True)
class VarRef:
    """A variable bound by a quantifier, filter, generator, `for:` or a constraint's `for`."""

    name: str


@dataclass(frozen=True)
class KindRef:
    """Every node of a kind on the as-of date (`clusters` or `cluster`); constraints only."""

    kind: str


@dataclass(frozen=True)
class NodeAttribute:
    """A typed attribute of an organisation node (none when the node is none)."""

    name: str


@dataclass(frozen=True)
class HopRef:
    """A hop along a relation, edges valid on the as-of date.

    On a value of several kinds the hop may follow a different relation on each; `relation`
    then joins their names with '|' (the graph follows hops by name).
    """

    relation: str
    forward: bool
    one: bool
    hop: str


@dataclass(frozen=True)
class FunctionRef:
    """One of the closed list of functions."""

    name: str


Ref = (
    CaseRoot | CaseField | ParamsRoot | ParamRef | DecisionRef | VarRef | KindRef
    | NodeAttribute | HopRef | FunctionRef
)

# -- the checker's own types --------------------------------------------------------------------
# Kind names are lower-case words, so these bases can never clash with a kind of the schema.

NONE = Type("<none>", optional=True)
"""The type of the literal `none`: fits anything optional."""
GROUP = Type("<group>")
"""`case` and its groups (`case.person`): only a path may continue from them."""
PARAMS = Type("<params>")
"""`params`: only `params.<name>` may continue from it."""
UNKNOWN = Type("<unknown>")
"""A sub-expression that already has an error: it fits everywhere, so one mistake is one report."""
EMPTY = "<empty>"
"""The element base of the empty list `[]`."""

NUMERIC = ("int", "number")
ORDERED = ("int", "number", "date", "string")

FUNCTIONS: dict[str, str] = {
    "count": "count(xs) or count(x in xs: condition)",
    "any": "any(x in xs: condition)",
    "all": "all(x in xs: condition)",
    "sum": "sum(xs) or sum(e for x in xs)",
    "min": "min(xs) or min(e for x in xs)",
    "max": "max(xs) or max(e for x in xs)",
    "max_by": "max_by(xs, attribute)",
    "min_by": "min_by(xs, attribute)",
    "only": "only(xs)",
    "within": "within(x, y)",
    "code": "code(x)",
    "name": "name(x)",
    "kind": "kind(x)",
    "exists": "exists(x)",
}
"""The closed list of functions, each with the form its help line shows."""

UNREACHABLE_IS_ERROR = False
"""A rule after a catch-all under `hit: first` is a warning: the bundle still means something."""


def kinds_of(t: Type) -> tuple[str, ...]:
    """The kinds a node type may be (`pct|scg` → ('pct', 'scg'))."""
    return tuple(t.base.split("|")) if is_node(t) else ()


def is_node(t: Type) -> bool:
    """True for a node of the schema (or a set of them), false for scalars and checker types."""
    return t.base not in SCALARS and not t.base.startswith("<")


def describe(t: Type) -> str:
    """A type as users read it in a message."""
    if t == NONE or t.base == "<none>":
        return "none"
    if t.base == "<group>":
        return "a group of case fields"
    if t.base == "<params>":
        return "the parameters"
    if t.base == EMPTY:
        return "an empty list"
    if t.is_set:
        return f"a set of {' or '.join(kinds_of(t)) if is_node(t) else t.base}" + (
            " (or none)" if t.optional else "")
    words = {"string": "text", "int": "a whole number", "number": "a number", "date": "a date",
             "bool": "true or false"}
    text = words.get(t.base) or ("a " + " or ".join(kinds_of(t)))
    return text + (" (or none)" if t.optional else "")


def parse_output_type(text: str) -> Type | None:
    """An output type: a schema type, or a union of kinds such as `pct|scg|ncg?`."""
    if "|" not in text:
        return parse_type(text)
    body = text.strip()
    optional = body.endswith("?")
    parts = [parse_type(p) for p in body.rstrip("?").split("|")]
    if any(p is None or p.optional or p.is_set for p in parts):
        return None
    return Type("|".join(p.base for p in parts if p is not None), optional=optional)


def unify(a: Type, b: Type) -> Type | None:
    """The type that holds values of both `a` and `b` (for if-branches and list items)."""
    if a == UNKNOWN or b == UNKNOWN:
        return UNKNOWN
    if a.base == "<none>":
        return Type(b.base, True, b.is_set)
    if b.base == "<none>":
        return Type(a.base, True, a.is_set)
    optional = a.optional or b.optional
    if a.is_set != b.is_set:
        return None
    if a.is_set and EMPTY in (a.base, b.base):
        return Type(b.base if a.base == EMPTY else a.base, optional, True)
    if a.base in NUMERIC and b.base in NUMERIC:
        return Type("int" if a.base == b.base == "int" else "number", optional, a.is_set)
    if is_node(a) and is_node(b):
        kinds = list(dict.fromkeys([*kinds_of(a), *kinds_of(b)]))
        return Type("|".join(kinds), optional, a.is_set)
    if a.base == b.base:
        return Type(a.base, optional, a.is_set)
    return None


def fits(value: Type, target: Type) -> bool:
    """Whether a value of type `value` may be given where `target` is declared (ignoring none)."""
    if UNKNOWN in (value, target):
        return True
    if value.base == "<none>":
        return target.optional
    if value.is_set != target.is_set:
        return False
    if value.base == EMPTY:
        return True
    if target.base == "number" and value.base in NUMERIC:
        return True
    if is_node(value) and is_node(target):
        return set(kinds_of(value)) <= set(kinds_of(target))
    return value.base == target.base


def comparable(a: Type, b: Type) -> bool:
    """Whether `a == b` can ever be true: like with like (none compares with anything)."""
    if UNKNOWN in (a, b) or "<none>" in (a.base, b.base):
        return True
    if a.is_set != b.is_set:
        return False
    if EMPTY in (a.base, b.base):
        return True
    if a.base in NUMERIC and b.base in NUMERIC:
        return True
    if is_node(a) and is_node(b):
        return bool(set(kinds_of(a)) & set(kinds_of(b)))
    return a.base == b.base


# -- the checker's output -------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """`for: "g in <expr>"`: the decision is evaluated once per element of the collection."""

    var: str
    collection: ast.Expr
    element: Type


@dataclass(frozen=True)
class CheckedRule:
    spec: RuleSpec
    when: ast.Expr | None
    then: ast.Expr | dict[str, ast.Expr] | None


@dataclass(frozen=True)
class CheckedDecision:
    spec: DecisionSpec
    output: Type
    rules: tuple[CheckedRule, ...]
    depends_on: frozenset[str]
    subject: Subject | None
    default: ast.Expr | None


@dataclass(frozen=True)
class CheckedConstraint:
    """An integrity rule over the graph: `require` holds for every element of the subject."""

    spec: ConstraintSpec
    subject: Subject | None
    require: ast.Expr | None


@dataclass(frozen=True)
class CheckedBundle:
    bundle: PolicyBundle
    schema: OrgSchema
    case_schema: CaseSchema
    decisions: tuple[CheckedDecision, ...]
    constraints: tuple[CheckedConstraint, ...]
    types: dict[int, Type]
    refs: dict[int, Ref]

    def decision(self, name: str) -> CheckedDecision | None:
        return next((d for d in self.decisions if d.spec.name == name), None)


# -- the state the passes share -------------------------------------------------------------------


@dataclass
class RuleState:
    """One rule while it is being checked: its parsed expressions."""

    spec: RuleSpec
    when: ast.Expr | None = None
    then: ast.Expr | dict[str, ast.Expr] | None = None


@dataclass
class DecisionState:
    """One decision while it is being checked."""

    spec: DecisionSpec
    rules: list[RuleState] = field(default_factory=list)
    output: Type = UNKNOWN
    subject_var: str | None = None
    subject_var_node: ast.Name | None = None
    subject: ast.Expr | None = None
    default: ast.Expr | None = None
    depends_on: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class ConstraintState:
    spec: ConstraintSpec
    var: str | None = None
    var_node: ast.Name | None = None
    subject: ast.Expr | None = None
    require: ast.Expr | None = None


@dataclass
class CheckState:
    """Everything the passes read and write; each pass does one job over it."""

    bundle: PolicyBundle
    schema: OrgSchema
    case_schema: CaseSchema
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    decisions: list[DecisionState] = field(default_factory=list)
    constraints: list[ConstraintState] = field(default_factory=list)
    params: dict[str, Type] = field(default_factory=dict)
    refs: dict[int, Ref] = field(default_factory=dict)
    types: dict[int, Type] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def decision_outputs(self) -> dict[str, Type]:
        return {d.name: d.output for d in self.decisions}

    def report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.add(diagnostic)


def _owner(rule: str | None, decision: str | None = None, constraint: str | None = None) -> str:
    if rule is not None:
        return f"rule '{rule}'"
    if constraint is not None:
        return f"constraint '{constraint}'"
    return f"decision '{decision}'"


# -- pass 1: parse every expression ----------------------------------------------------------------


def _parse(state: CheckState, text: EmbeddedText | None, rule: str | None) -> ast.Expr | None:
    if text is None:
        return None
    node, problems = parse_expression(text, rule)
    state.diagnostics.extend(problems)
    return node


def _binding(
    state: CheckState, node: ast.Expr | None, owner: str, rule: str | None,
) -> tuple[ast.Name, ast.Expr] | None:
    """A `for:` expression's variable and collection; it must read `name in <expr>`."""
    if node is None:
        return None
    if isinstance(node, ast.Membership) and not node.negated and isinstance(
            node.element, ast.Name):
        return node.element, node.collection
    state.report(error(
        "E-syntax", f"for {owner}, 'for' must read 'name in collection'", node.span,
        "write e.g. 'g in responsible_pct.collaboratives': the name is bound to each member",
        rule))
    return None


def parse_expressions(state: CheckState) -> None:
    """Parse `when`, `then`, `default`, `for` and constraints' `for`/`require` of the bundle."""
    for spec in state.bundle.decisions:
        decision = DecisionState(spec)
        state.decisions.append(decision)
        binding = _binding(state, _parse(state, spec.for_, None), _owner(None, spec.name), None)
        if binding is not None:
            decision.subject_var_node, decision.subject = binding
            decision.subject_var = binding[0].id
        decision.default = _parse(state, spec.default, None)
        for rule in spec.rules:
            then: ast.Expr | dict[str, ast.Expr] | None
            if isinstance(rule.then, Mapping):
                parsed = {key: _parse(state, text, rule.id) for key, text in rule.then.items()}
                then = {k: v for k, v in parsed.items() if v is not None}
            else:
                then = _parse(state, rule.then, rule.id)
            decision.rules.append(RuleState(rule, _parse(state, rule.when, rule.id), then))
    for cspec in state.bundle.constraints:
        constraint = ConstraintState(cspec)
        state.constraints.append(constraint)
        owner = _owner(None, constraint=cspec.id)
        binding = _binding(state, _parse(state, cspec.for_, cspec.id), owner, cspec.id)
        if binding is not None:
            constraint.var_node, constraint.subject = binding
            constraint.var = binding[0].id
        constraint.require = _parse(state, cspec.require, cspec.id)


# -- pass 2: declared types (decision outputs, parameters) ---------------------------------------


def _declared_type(
    state: CheckState, text: str, span: Span | None, what: str, union: bool,
) -> Type:
    t = parse_output_type(text) if union else parse_type(text)
    if t is None:
        state.report(error(
            "E-type", f"'{text}' is not a type, for {what}", span,
            "write string, int, number, date, bool, a kind, set[kind]"
            + (" or kinds joined by '|'" if union else "") + "; add '?' when it may be absent"))
        return UNKNOWN
    unknown = [k for k in kinds_of(t) if k not in state.schema.kinds]
    for kind in unknown:
        state.report(error(
            "E-unknown-name", f"unknown kind '{kind}', for {what}", span,
            did_you_mean(kind, [*state.schema.kinds, *SCALARS])))
    return UNKNOWN if unknown else t


def resolve_declarations(state: CheckState) -> None:
    """Parse each decision's `output` and each parameter's type with the schema's type parser.

    A decision without `output` gives values of any type: its results are not checked.
    """
    for decision in state.decisions:
        output = decision.spec.output
        if output is not None:
            decision.output = _declared_type(
                state, output.value, output.span, f"the output of decision '{decision.name}'",
                True)
    for param in state.bundle.manifest.parameters:
        state.params[param.name] = _declared_type(
            state, param.type, param.span, f"parameter '{param.name}'", False)


# -- pass 3: resolve names ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    owner: str
    rule: str | None
    variables: frozenset[str]
    kinds_as_sets: bool


class _Resolver(ast.NodeVisitor):
    """Resolves every Name and function of one expression; attributes need types (pass 4)."""

    def __init__(self, state: CheckState, decisions: Iterable[str]) -> None:
        self.state = state
        self.decisions = set(decisions)

    def visit_Name(self, node: ast.Name, scope: _Scope) -> None:
        ref = self._lookup(node.id, scope)
        if ref is not None:
            self.state.refs[id(node)] = ref
            return
        code, message = "E-unknown-name", f"unknown name '{node.id}'"
        help: str | None
        if node.id in FUNCTIONS:
            message, help = (f"'{node.id}' is a function, not a value",
                             f"call it: {FUNCTIONS[node.id]}")
        else:
            candidates = [*scope.variables, "case", "params", *self.decisions]
            if scope.kinds_as_sets:
                candidates += [f"{k}s" for k in self.state.schema.kinds]
            help = did_you_mean(node.id, candidates)
            # A near miss of a decision's name is most likely meant as that decision.
            if help is not None and help == did_you_mean(node.id, self.decisions):
                code, message = "E-unknown-decision", f"unknown decision '{node.id}'"
            help = help or "a name is 'case', 'params', a decision or a variable bound by 'x in xs'"
        self.state.report(error(
            code, f"for {scope.owner}, {message}",
            node.span, help, scope.rule))

    def _lookup(self, name: str, scope: _Scope) -> Ref | None:
        if name in scope.variables:
            return VarRef(name)
        if name == "case":
            return CaseRoot()
        if name == "params":
            return ParamsRoot()
        if name in self.decisions:
            return DecisionRef(name)
        if scope.kinds_as_sets:
            kinds = self.state.schema.kinds
            if name in kinds:
                return KindRef(name)
            if name.endswith("s") and name[:-1] in kinds:
                return KindRef(name[:-1])
        return None

    def _function(self, func: str, span: Span, scope: _Scope) -> None:
        if func in FUNCTIONS:
            return
        self.state.report(error(
            "E-unknown-function", f"for {scope.owner}, unknown function '{func}'", span,
            did_you_mean(func, FUNCTIONS) or "the functions are " + ", ".join(FUNCTIONS),
            scope.rule))

    def visit_Call(self, node: ast.Call, scope: _Scope) -> None:
        self._function(node.func, node.func_span, scope)
        if node.func in FUNCTIONS:
            self.state.refs[id(node)] = FunctionRef(node.func)
        for i, arg in enumerate(node.args):
            # max_by(xs, population): the second argument names an attribute, not a value.
            if not (i == 1 and node.func in ("max_by", "min_by") and isinstance(arg, ast.Name)):
                self.visit(arg, scope)

    def _bound(self, var: str, scope: _Scope) -> _Scope:
        return _Scope(scope.owner, scope.rule, scope.variables | {var}, scope.kinds_as_sets)

    def visit_BinderCall(self, node: ast.BinderCall, scope: _Scope) -> None:
        self._function(node.func, node.func_span, scope)
        if node.func in FUNCTIONS:
            self.state.refs[id(node)] = FunctionRef(node.func)
        self.visit(node.collection, scope)
        self.visit(node.condition, self._bound(node.var, scope))

    def visit_Filter(self, node: ast.Filter, scope: _Scope) -> None:
        self.visit(node.collection, scope)
        self.visit(node.condition, self._bound(node.var, scope))

    def visit_Generator(self, node: ast.Generator, scope: _Scope) -> None:
        self._function(node.func, node.func_span, scope)
        if node.func in FUNCTIONS:
            self.state.refs[id(node)] = FunctionRef(node.func)
        self.visit(node.collection, scope)
        self.visit(node.element, self._bound(node.var, scope))


def _expressions(state: CheckState) -> Iterator[tuple[ast.Expr, _Scope, str]]:
    """Every parsed top-level expression with its scope and role ('when', 'then', …)."""
    for d in state.decisions:
        owner = _owner(None, d.name)
        variables = frozenset({d.subject_var} if d.subject_var else ())
        if d.subject is not None:
            yield d.subject, _Scope(owner, None, frozenset(), False), "for"
        if d.default is not None:
            yield d.default, _Scope(owner, None, variables, False), "default"
        for r in d.rules:
            scope = _Scope(_owner(r.spec.id), r.spec.id, variables, False)
            if r.when is not None:
                yield r.when, scope, "when"
            for then in _thens(r):
                yield then, scope, "then"
    for c in state.constraints:
        owner = _owner(None, constraint=c.spec.id)
        if c.subject is not None:
            yield c.subject, _Scope(owner, c.spec.id, frozenset(), True), "for"
        if c.require is not None:
            variables = frozenset({c.var} if c.var else ())
            yield c.require, _Scope(owner, c.spec.id, variables, True), "require"


def _thens(rule: RuleState) -> list[ast.Expr]:
    if rule.then is None:
        return []
    return list(rule.then.values()) if isinstance(rule.then, dict) else [rule.then]


def resolve_names(state: CheckState) -> None:
    """Resolve names (case, params, decisions, bound variables, kinds) and functions → refs."""
    resolver = _Resolver(state, (d.name for d in state.decisions))
    for node, scope, _ in _expressions(state):
        resolver.visit(node, scope)
    for d in state.decisions:
        if d.subject_var_node is not None:
            state.refs[id(d.subject_var_node)] = VarRef(d.subject_var_node.id)
    for c in state.constraints:
        if c.var_node is not None:
            state.refs[id(c.var_node)] = VarRef(c.var_node.id)


# -- pass 4: infer types -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Env:
    """Where an expression is typed: who owns it, the variables' types, and what is not none."""

    owner: str
    rule: str | None
    variables: Mapping[str, Type]
    guards: frozenset[ast.Expr] = frozenset()

    def bind(self, var: str, t: Type) -> _Env:
        return _Env(self.owner, self.rule, {**self.variables, var: t}, self.guards)

    def guarded(self, facts: Iterable[ast.Expr]) -> _Env:
        facts = frozenset(facts)
        if not facts:
            return self
        return _Env(self.owner, self.rule, self.variables, self.guards | facts)


def _not_none_chain(node: ast.Expr) -> Iterator[ast.Expr]:
    """A value that is not none, and every path it was reached through (a hop from none is none;
    so are `code`, `name` and `kind` of none)."""
    yield node
    while True:
        if isinstance(node, ast.Attribute):
            node = node.obj
        elif isinstance(node, ast.Call) and node.func in ("code", "name", "kind") and node.args:
            node = node.args[0]
        else:
            return
        yield node


def facts_if_true(node: ast.Expr) -> frozenset[ast.Expr]:
    """The sub-expressions known not to be none when `node` is true."""
    if isinstance(node, ast.IsNone) and node.negated:
        return frozenset(_not_none_chain(node.operand))
    if isinstance(node, ast.Compare):
        if node.op in ("<", "<=", ">", ">="):
            return frozenset([*_not_none_chain(node.left), *_not_none_chain(node.right)])
        if node.op == "!=" and _is_none_literal(node.right):
            return frozenset(_not_none_chain(node.left))
        if node.op == "==" and _is_value_literal(node.right):
            return frozenset(_not_none_chain(node.left))
        if node.op == "==" and _is_value_literal(node.left):
            return frozenset(_not_none_chain(node.right))
        return frozenset()
    if isinstance(node, ast.Membership) and not node.negated:
        return frozenset([*_not_none_chain(node.element), *_not_none_chain(node.collection)])
    if isinstance(node, ast.BoolOp):
        parts = [facts_if_true(o) for o in node.operands]
        if node.op == "and":
            return frozenset().union(*parts)
        return frozenset.intersection(*parts)
    if isinstance(node, ast.Not):
        return facts_if_false(node.operand)
    return frozenset()


def facts_if_false(node: ast.Expr) -> frozenset[ast.Expr]:
    """The sub-expressions known not to be none when `node` is false."""
    if isinstance(node, ast.IsNone) and not node.negated:
        return frozenset(_not_none_chain(node.operand))
    if isinstance(node, ast.BoolOp):
        parts = [facts_if_false(o) for o in node.operands]
        if node.op == "or":
            return frozenset().union(*parts)
        return frozenset.intersection(*parts)
    if isinstance(node, ast.Not):
        return facts_if_true(node.operand)
    return frozenset()


def quote(node: ast.Expr) -> str:
    """An expression as a message shows it: in quotes, unless it is quoted text already."""
    text = ast.unparse(node)
    if isinstance(node, ast.Literal) and isinstance(node.value, str):
        return text
    return f"'{text}'"


def _is_none_literal(node: ast.Expr) -> bool:
    return isinstance(node, ast.Literal) and node.value is None


def _is_value_literal(node: ast.Expr) -> bool:
    return isinstance(node, ast.Literal) and node.value is not None


def _literal_type(value: ast.LiteralValue) -> Type:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return Type("bool")
    if isinstance(value, int):
        return Type("int")
    if isinstance(value, float):
        return Type("number")
    if isinstance(value, str):
        return Type("string")
    return Type("date")


class _Typer(ast.NodeVisitor):
    """Gives every node its static type, resolves attributes, and reports type errors."""

    def __init__(self, state: CheckState) -> None:
        self.state = state
        self.schema = state.schema
        self.outputs = state.decision_outputs()

    # Dispatch: every node's type is recorded; a guarded optional value is not none. `case`,
    # `params` and groups of case fields (`case.person`) only lead to a value (`path=True`).
    def visit(self, node: ast.Expr, *args: Any, **kwargs: Any) -> Type:
        env: _Env = args[0]
        t: Type = super().visit(node, env)
        if t.optional and env.guards and t.base != "<none>" and node in env.guards:
            t = t.required()
        if t in (GROUP, PARAMS) and not kwargs.get("path"):
            t = self._not_a_value(node, t, env)
        self.state.types[id(node)] = t
        return t

    def _not_a_value(self, node: ast.Expr, t: Type, env: _Env) -> Type:
        text = ast.unparse(node)
        if t == PARAMS:
            names = sorted(self.state.params)
            return self._error(env, "'params' holds the bundle's parameters; it is not a value",
                               node.span, "use one of them: " + ", ".join(
                                   f"params.{n}" for n in names) if names
                               else "declare parameters under 'parameters:' in bundle.yaml")
        ref = self.state.refs.get(id(node))
        group = self.state.case_schema.lookup(ref.path) if isinstance(ref, CaseField) else (
            self.state.case_schema)
        names = group.names() if isinstance(group, CaseSchema) else []
        what = "the case itself" if text == "case" else "a group of case fields"
        return self._error(env, f"'{text}' is {what}, not a value", node.span,
                           "use one of its fields: " + ", ".join(f"{text}.{n}" for n in names))

    def _error(self, env: _Env, message: str, span: Span, help: str | None = None,
               code: str = "E-type") -> Type:
        self.state.report(error(code, f"for {env.owner}, {message}", span, help, env.rule))
        return UNKNOWN

    def defined(self, node: ast.Expr, t: Type, env: _Env, use: str) -> None:
        """Warn when a value that may be none is used where none makes the result unknown."""
        if t.optional and t.base != "<none>":
            text = ast.unparse(node)
            self.state.report(warning(
                "W-unguarded-optional", f"for {env.owner}, '{text}' may be none {use}",
                node.span, f"guard it first: '{text} is not none and …'", env.rule))

    def condition(self, node: ast.Expr, env: _Env, what: str) -> Type:
        """Type a sub-expression that must be true or false."""
        t = self.visit(node, env)
        if t == UNKNOWN:
            return t
        if t.base == "<none>" or t.base != "bool" or t.is_set:
            return self._error(
                env, f"{what} must be true or false, but {quote(node)} is {describe(t)}",
                node.span, "compare it, e.g. 'x is not none' or 'x == y'")
        self.defined(node, t, env, f"in {what}, which is then unknown")
        return t

    def collection(self, node: ast.Expr, env: _Env, what: str) -> Type:
        """Type a sub-expression that must be a set; returns its element type."""
        t = self.visit(node, env)
        if t == UNKNOWN:
            return t
        if not t.is_set:
            return self._error(
                env, f"{what} needs a set, but {quote(node)} is {describe(t)}",
                node.span, "give a set: a relation such as 'pct.practices', a list or a filter")
        self.defined(node, t, env, f"in {what}, which is then unknown")
        return Type(t.base)

    def one_node(self, node: ast.Expr, env: _Env, what: str) -> Type:
        t = self.visit(node, env)
        if t == UNKNOWN or t.base == "<none>":
            return t
        if not is_node(t) or t.is_set:
            help = ("pick one with only(...) or max_by(...)" if t.is_set
                    else "give an organisation, e.g. case.person.practice")
            return self._error(
                env, f"{what} needs one organisation, but {quote(node)} is {describe(t)}",
                node.span, help)
        return t

    # Leaves
    def visit_Literal(self, node: ast.Literal, env: _Env) -> Type:
        return _literal_type(node.value)

    def visit_ListExpr(self, node: ast.ListExpr, env: _Env) -> Type:
        result = Type(EMPTY, is_set=True)
        element: Type | None = None
        for item in node.items:
            t = self.visit(item, env)
            if t == UNKNOWN:
                return t
            if t.is_set or t.base == "<none>" or t.base.startswith("<"):
                return self._error(env, f"a list holds values, not {describe(t)}", item.span,
                                   "write single values, e.g. ['5NT', '5HG']")
            joined = t.required() if element is None else unify(element, t.required())
            if joined is None:
                assert element is not None
                return self._error(
                    env, f"a list mixes {describe(element)} with {describe(t)}", node.span,
                    "put values of one type in a list")
            element = joined
        if element is not None:
            result = Type(element.base, is_set=True)
        return result

    def visit_Name(self, node: ast.Name, env: _Env) -> Type:
        ref = self.state.refs.get(id(node))
        if isinstance(ref, VarRef):
            return env.variables.get(node.id, UNKNOWN)
        if isinstance(ref, CaseRoot):
            return GROUP
        if isinstance(ref, ParamsRoot):
            return PARAMS
        if isinstance(ref, DecisionRef):
            return self.outputs.get(node.id, UNKNOWN)
        if isinstance(ref, KindRef):
            return Type(ref.kind, is_set=True)
        return UNKNOWN

    # Paths
    def visit_Attribute(self, node: ast.Attribute, env: _Env) -> Type:
        obj = self.visit(node.obj, env, path=True)
        if obj == UNKNOWN:
            return obj
        owner = ast.unparse(node.obj)
        if obj == GROUP:
            return self._case_field(node, env, owner)
        if obj == PARAMS:
            declared = self.state.params.get(node.attr)
            if declared is None:
                return self._error(
                    env, f"unknown parameter '{node.attr}'", node.attr_span,
                    did_you_mean(node.attr, self.state.params)
                    or "declare it under 'parameters:' in bundle.yaml", "E-unknown-name")
            self.state.refs[id(node)] = ParamRef(node.attr)
            return declared
        if obj.is_set:
            return self._error(
                env, f"'{owner}' is {describe(obj)}, so it has no attribute '{node.attr}'",
                node.attr_span, "pick one with only(...) or max_by(...), or test each "
                f"member with any(x in {owner}: x.{node.attr} …)")
        if not is_node(obj):
            return self._error(
                env, f"'{owner}' is {describe(obj)}, so it has no attribute '{node.attr}'",
                node.attr_span)
        return self._node_name(node, obj, env)

    def _case_field(self, node: ast.Attribute, env: _Env, owner: str) -> Type:
        ref = self.state.refs.get(id(node.obj))
        path = (*(ref.path if isinstance(ref, CaseField) else ()), node.attr)
        found = self.state.case_schema.lookup(path)
        if found is None:
            group = self.state.case_schema.lookup(path[:-1])
            names = group.names() if isinstance(group, CaseSchema) else []
            return self._error(
                env, f"unknown attribute '{node.attr}' on {owner}", node.attr_span,
                did_you_mean(node.attr, names) or (
                    "the fields are " + ", ".join(names) if names
                    else "declare the case's fields under 'case:' in bundle.yaml"),
                "E-unknown-attribute")
        self.state.refs[id(node)] = CaseField(path)
        return GROUP if isinstance(found, CaseSchema) else found

    def _node_name(self, node: ast.Attribute, obj: Type, env: _Env) -> Type:
        """An attribute or a hop on a node of one or several kinds."""
        attrs: list[Type] = []
        hops = []
        for kind in kinds_of(obj):
            attr = self.schema.attribute(kind, node.attr)
            hop = self.schema.hop(kind, node.attr)
            if attr is None and hop is None:
                return self._error(
                    env, f"unknown attribute '{node.attr}' on {kind}", node.attr_span,
                    did_you_mean(node.attr, self.schema.names_on(kind))
                    or f"{kind} has " + (", ".join(self.schema.names_on(kind)) or "no attributes"),
                    "E-unknown-attribute")
            if attr is not None:
                attrs.append(attr)
            if hop is not None:
                hops.append(hop)
        if attrs and hops:
            return self._error(
                env, f"'{node.attr}' is an attribute of some of {' or '.join(kinds_of(obj))} "
                "and a relation of others", node.attr_span,
                "narrow the value to one kind first")
        if attrs:
            t: Type | None = attrs[0]
            for other in attrs[1:]:
                t = unify(t, other) if t is not None else None
            if t is None:
                return self._error(
                    env, f"attribute '{node.attr}' has different types on "
                    f"{' and '.join(kinds_of(obj))}", node.attr_span)
            self.state.refs[id(node)] = NodeAttribute(node.attr)
            return Type(t.base, t.optional or obj.optional, t.is_set)
        if len({h.one for h in hops}) > 1 or len({h.forward for h in hops}) > 1:
            return self._error(
                env, f"'{node.attr}' leads to one node from some of "
                f"{' or '.join(kinds_of(obj))} and to a set from others", node.attr_span,
                "narrow the value to one kind first")
        relation = "|".join(dict.fromkeys(h.relation for h in hops))
        self.state.refs[id(node)] = HopRef(relation, hops[0].forward, hops[0].one, node.attr)
        targets = "|".join(dict.fromkeys(k for h in hops for k in h.target_kinds))
        # A `one` hop may find nothing; a set hop from none is the empty set (runtime.py).
        return Type(targets, optional=hops[0].one, is_set=not hops[0].one)

    # Functions
    def visit_Call(self, node: ast.Call, env: _Env) -> Type:
        if node.func not in FUNCTIONS:
            for arg in node.args:
                self.visit(arg, env)
            return UNKNOWN
        expected = 2 if node.func in ("within", "max_by", "min_by") else 1
        if node.func in ("any", "all"):
            return self._error(
                env, f"'{node.func}' needs a condition", node.span,
                f"write {FUNCTIONS[node.func]}")
        if len(node.args) != expected:
            for arg in node.args:
                self.visit(arg, env)
            plural = "argument" if expected == 1 else "arguments"
            return self._error(
                env, f"'{node.func}' takes {expected} {plural}, not {len(node.args)}", node.span,
                f"write {FUNCTIONS[node.func]}")
        what = f"'{node.func}'"
        if node.func == "count":
            self.collection(node.args[0], env, what)
            return Type("int")
        if node.func in ("sum", "min", "max"):
            element = self.collection(node.args[0], env, what)
            return self._aggregate(node.func, element, node.args[0], env)
        if node.func == "only":
            element = self.collection(node.args[0], env, what)
            return Type(element.base, optional=True) if element != UNKNOWN else UNKNOWN
        if node.func in ("max_by", "min_by"):
            element = self.collection(node.args[0], env, what)
            return self._by_attribute(node, element, env)
        if node.func == "within":
            for arg in node.args:
                t = self.one_node(arg, env, what)
                self.defined(arg, t, env, "in 'within', which is then unknown")
            return Type("bool")
        # code, name, kind, exists: none gives none (exists: false).
        t = self.one_node(node.args[0], env, what)
        if node.func == "exists":
            return Type("bool")
        return Type("string", optional=t.optional)

    def _aggregate(self, func: str, element: Type, node: ast.Expr, env: _Env) -> Type:
        if element == UNKNOWN or element.base == EMPTY:
            return Type("int") if func == "sum" else UNKNOWN
        allowed = NUMERIC if func == "sum" else ORDERED
        if element.base not in allowed:
            kind = "numbers" if func == "sum" else "numbers, dates or text"
            return self._error(
                env, f"'{func}' needs {kind}, but {quote(node)} holds "
                f"{describe(element)}", node.span,
                "use max_by(xs, attribute) to pick a node by an attribute"
                if is_node(element) else None)
        self.defined(node, element, env, f"in '{func}', which is then unknown")
        if func == "sum":
            return Type(element.base)
        return Type(element.base, optional=True)

    def _by_attribute(self, node: ast.Call, element: Type, env: _Env) -> Type:
        arg = node.args[1]
        if not isinstance(arg, ast.Name):
            self.visit(arg, env)
            return self._error(
                env, f"the second argument of '{node.func}' must be an attribute name",
                arg.span, f"write e.g. {node.func}(xs, population)")
        if element == UNKNOWN:
            return UNKNOWN
        if not is_node(element):
            return self._error(
                env, f"'{node.func}' needs a set of organisations, not {describe(element)}",
                node.args[0].span)
        for kind in kinds_of(element):
            attr = self.schema.attribute(kind, arg.id)
            if attr is None:
                names = sorted(self.schema.kinds[kind].attributes) if kind in \
                    self.schema.kinds else []
                return self._error(
                    env, f"unknown attribute '{arg.id}' on {kind}", arg.span,
                    did_you_mean(arg.id, names)
                    or f"{kind} has " + (", ".join(names) or "no attributes"),
                    "E-unknown-attribute")
            if attr.base not in ORDERED or attr.is_set:
                return self._error(
                    env, f"'{node.func}' compares '{arg.id}', which is {describe(attr)}",
                    arg.span, "choose a number, date or text attribute")
            self.state.types[id(arg)] = attr
        self.state.refs[id(arg)] = NodeAttribute(arg.id)
        return Type(element.base, optional=True)

    def visit_BinderCall(self, node: ast.BinderCall, env: _Env) -> Type:
        if node.func not in FUNCTIONS:
            self.visit(node.collection, env)
            return UNKNOWN
        if node.func not in ("any", "all", "count"):
            self.visit(node.collection, env)
            return self._error(
                env, f"'{node.func}' does not take a condition", node.span,
                f"write {FUNCTIONS[node.func]}")
        element = self.collection(node.collection, env, f"'{node.func}'")
        self.condition(node.condition, env.bind(node.var, element), f"the condition of "
                       f"'{node.func}'")
        return Type("int") if node.func == "count" else Type("bool")

    def visit_Filter(self, node: ast.Filter, env: _Env) -> Type:
        element = self.collection(node.collection, env, "a filter")
        self.condition(node.condition, env.bind(node.var, element), "the filter's condition")
        return UNKNOWN if element == UNKNOWN else Type(element.base, is_set=True)

    def visit_Generator(self, node: ast.Generator, env: _Env) -> Type:
        if node.func not in FUNCTIONS:
            self.visit(node.collection, env)
            return UNKNOWN
        if node.func not in ("sum", "min", "max", "count"):
            self.visit(node.collection, env)
            return self._error(
                env, f"'{node.func}' does not take 'e for x in xs'", node.span,
                f"write {FUNCTIONS[node.func]}")
        element = self.collection(node.collection, env, f"'{node.func}'")
        value = self.visit(node.element, env.bind(node.var, element))
        if node.func == "count":
            return Type("int")
        return self._aggregate(node.func, value, node.element, env)

    # Operators
    def visit_Compare(self, node: ast.Compare, env: _Env) -> Type:
        left = self.visit(node.left, env)
        right = self.visit(node.right, env)
        if UNKNOWN in (left, right):
            return Type("bool")
        if node.op in ("==", "!="):
            if not comparable(left, right):
                return self._error(
                    env, f"'{node.op}' compares {describe(left.required())} with "
                    f"{describe(right.required())}, which are never equal", node.span,
                    self._compare_help(node, left, right))
            return Type("bool")
        for side, t in ((node.left, left), (node.right, right)):
            if t.base == "<none>":
                return self._error(
                    env, f"'{node.op}' on none is never true", side.span,
                    "test for none with 'is none' or 'is not none'")
        if (left.base not in ORDERED or right.base not in ORDERED or left.is_set
                or right.is_set or not comparable(left, right)):
            return self._error(
                env, f"'{node.op}' cannot compare {describe(left.required())} with "
                f"{describe(right.required())}", node.span,
                "order numbers with numbers, dates with dates (e.g. 2011-04-01) "
                "and text with text")
        for side, t in ((node.left, left), (node.right, right)):
            self.defined(side, t, env, f"in '{node.op}', which is then unknown")
        return Type("bool")

    def _compare_help(self, node: ast.Compare, left: Type, right: Type) -> str:
        # practice == pct: suggest the hop that reaches the other kind, when there is one.
        if is_node(left) and is_node(right) and not left.is_set and not right.is_set:
            for kind in kinds_of(left):
                for name, hop in sorted(self.schema.hops(kind).items()):
                    if hop.one and set(hop.target_kinds) & set(kinds_of(right)):
                        return f"did you mean '{ast.unparse(node.left)}.{name}'?"
        return "compare like with like, e.g. a pct with a pct, a date with a date"

    def visit_Membership(self, node: ast.Membership, env: _Env) -> Type:
        element = self.visit(node.element, env)
        op = "not in" if node.negated else "in"
        members = self.collection(node.collection, env, f"'{op}'")
        if UNKNOWN in (element, members):
            return Type("bool")
        if element.is_set or not comparable(element.required(), members):
            return self._error(
                env, f"'{op}' looks for {describe(element.required())} in "
                f"{describe(Type(members.base, is_set=True))}", node.span,
                "look for a member of the same kind as the set's")
        self.defined(node.element, element, env, f"in '{op}', which is then unknown")
        return Type("bool")

    def visit_IsNone(self, node: ast.IsNone, env: _Env) -> Type:
        self.visit(node.operand, env)
        return Type("bool")

    def visit_BoolOp(self, node: ast.BoolOp, env: _Env) -> Type:
        facts: set[ast.Expr] = set()
        for operand in node.operands:
            # `x is not none and x.y > 1`: each operand may rely on the ones before it.
            self.condition(operand, env.guarded(facts), f"'{node.op}'")
            facts |= facts_if_true(operand) if node.op == "and" else facts_if_false(operand)
        return Type("bool")

    def visit_Not(self, node: ast.Not, env: _Env) -> Type:
        self.condition(node.operand, env, "'not'")
        return Type("bool")

    def visit_Arith(self, node: ast.Arith, env: _Env) -> Type:
        left = self.visit(node.left, env)
        right = self.visit(node.right, env)
        if UNKNOWN in (left, right):
            return UNKNOWN
        for side, t in ((node.left, left), (node.right, right)):
            if t.base not in NUMERIC or t.is_set:
                return self._error(
                    env, f"'{node.op}' needs numbers, but {quote(side)} is "
                    f"{describe(t)}", side.span, "do arithmetic on numbers only")
        for side, t in ((node.left, left), (node.right, right)):
            self.defined(side, t, env, f"in '{node.op}', which is then unknown")
        both_int = left.base == right.base == "int" and node.op != "/"
        return Type("int" if both_int else "number")

    def visit_Neg(self, node: ast.Neg, env: _Env) -> Type:
        t = self.visit(node.operand, env)
        if t == UNKNOWN:
            return t
        if t.base not in NUMERIC or t.is_set:
            return self._error(
                env, f"'-' needs a number, but {quote(node.operand)} is {describe(t)}",
                node.span)
        self.defined(node.operand, t, env, "in '-', which is then unknown")
        return t.required()

    def visit_Conditional(self, node: ast.Conditional, env: _Env) -> Type:
        self.condition(node.test, env, "the test of 'if'")
        body = self.visit(node.body, env.guarded(facts_if_true(node.test)))
        orelse = self.visit(node.orelse, env.guarded(facts_if_false(node.test)))
        joined = unify(body, orelse)
        if joined is None:
            return self._error(
                env, f"the branches of 'if' give {describe(body)} and {describe(orelse)}",
                node.span, "make both branches give the same type")
        return joined


def _bind_subject(
    typer: _Typer, var: ast.Name | None, collection: ast.Expr | None, env: _Env,
) -> Type:
    """Type a `for:` collection; its variable is each member (or the one node)."""
    if collection is None or var is None:
        return UNKNOWN
    t = typer.visit(collection, env)
    element = UNKNOWN
    if t == UNKNOWN:
        element = UNKNOWN
    elif t.is_set:
        element = Type(t.base)
    elif is_node(t):
        element = t.required()
    else:
        typer._error(env, f"'for' needs a set or an organisation, but "
                     f"{quote(collection)} is {describe(t)}", collection.span,
                     "give a set such as 'responsible_pct.collaboratives'")
    typer.state.types[id(var)] = element
    return element


def infer_types(state: CheckState) -> None:
    """Type every node, resolve attributes and hops, and report type errors inside expressions.

    A rule's `then` is typed knowing what its `when` proved not none.
    """
    typer = _Typer(state)
    for d in state.decisions:
        owner = _owner(None, d.name)
        element = _bind_subject(typer, d.subject_var_node, d.subject, _Env(owner, None, {}))
        variables = {d.subject_var: element} if d.subject_var else {}
        if d.default is not None:
            typer.visit(d.default, _Env(owner, None, variables))
        for r in d.rules:
            env = _Env(_owner(r.spec.id), r.spec.id, variables)
            if r.when is not None:
                typer.condition(r.when, env, "'when'")
                env = env.guarded(facts_if_true(r.when))
            for then in _thens(r):
                typer.visit(then, env)
    for c in state.constraints:
        env = _Env(_owner(None, constraint=c.spec.id), c.spec.id, {})
        element = _bind_subject(typer, c.var_node, c.subject, env)
        if c.require is not None:
            variables = {c.var: element} if c.var else {}
            typer.condition(c.require, _Env(env.owner, env.rule, variables), "'require'")


# -- pass 5: results fit their decision's output ---------------------------------------------


def _check_value(
    state: CheckState, node: ast.Expr, target: Type, owner: str, rule: str | None, what: str,
) -> None:
    t = state.types.get(id(node), UNKNOWN)
    if fits(t.required() if t.base != "<none>" else t, target):
        if t.optional and t.base != "<none>" and not target.optional:
            text = ast.unparse(node)
            state.report(error(
                "E-type", f"for {owner}, {what} may be none, but the output is {target}",
                node.span, f"declare 'output: {target}?', or guard it in 'when': "
                f"{text} is not none", rule))
        return
    help = None
    if t.is_set and not target.is_set and fits(Type(t.base), target):
        help = "pick one node with only(...) or max_by(...)"
    elif t.base == "<none>":
        help = f"declare 'output: {target}?' if the decision may give none"
    state.report(error(
        "E-type", f"for {owner}, {what} gives {describe(t)}, but the output is {target}",
        node.span, help or f"give {describe(target)}, or change the decision's 'output'", rule))


def check_outputs(state: CheckState) -> None:
    """Each rule's `then` and the decision's `default` give a value of the declared output."""
    for d in state.decisions:
        if d.output == UNKNOWN:
            continue
        if d.default is not None:
            _check_value(state, d.default, d.output, _owner(None, d.name), None, "'default'")
        for r in d.rules:
            if isinstance(r.then, dict):
                for key, node in r.then.items():
                    _check_value(state, node, d.output, _owner(r.spec.id), r.spec.id,
                                 f"'then.{key}'")
            elif r.then is not None:
                _check_value(state, r.then, d.output, _owner(r.spec.id), r.spec.id, "'then'")
            elif not fits(Type("bool"), d.output):
                # A rule without `then` gives true when it matches (runtime.py).
                state.report(error(
                    "E-type", f"for rule '{r.spec.id}', the rule has no 'then', so it gives "
                    f"true, but the output is {d.output}", r.spec.id_span,
                    "add 'then:' with the rule's result", r.spec.id))


# -- pass 6: reachability under `hit: first` ---------------------------------------------------


def _always_matches(rule: RuleState) -> bool:
    if rule.spec.effective is not None:
        return False
    when = rule.when
    return rule.spec.when is None or (isinstance(when, ast.Literal) and when.value is True)


def check_reachability(state: CheckState) -> None:
    """Under `hit: first`, rules after one that always matches can never decide; under
    `hit: unique`, rules that certainly match together make a conflict of every such case."""
    make = error if UNREACHABLE_IS_ERROR else warning
    for d in state.decisions:
        if d.spec.hit.value == "unique":
            _check_unique_overlaps(state, d)
        if d.spec.hit.value != "first":
            continue
        catch_all = next((r for r in d.rules if _always_matches(r)), None)
        if catch_all is None:
            continue
        for later in d.rules[d.rules.index(catch_all) + 1:]:
            state.report(make(
                "W-unreachable-rule",
                f"for rule '{later.spec.id}', the rule is never reached: rule "
                f"'{catch_all.spec.id}' before it always matches", later.spec.id_span,
                f"move rule '{catch_all.spec.id}' last, or give it a 'when'", later.spec.id))


def _check_unique_overlaps(state: CheckState, d: DecisionState) -> None:
    """Rules that match the same cases whatever the case: one with no condition, or two with
    the same condition, in effect on a common day; reported once per rule, at the later one.
    (Other overlaps show at run time, where a conflict names every matching rule.)"""
    for j, b in enumerate(d.rules):
        overlapping = [a.spec.id for a in d.rules[:j] if _certainly_together(a, b)]
        if not overlapping:
            continue
        names = ", ".join(f"'{n}'" for n in overlapping)
        state.report(warning(
            "W-unique-overlap", f"under 'hit: unique', rule '{b.spec.id}' and "
            f"{'rule' if len(overlapping) == 1 else 'rules'} {names} match the same cases (no "
            "'when', or the same 'when'): every such case is a conflict", b.spec.id_span,
            "give the rules conditions that cannot hold together, or use 'hit: first' or "
            "'hit: priority'", b.spec.id))


def _certainly_together(a: RuleState, b: RuleState) -> bool:
    ea, eb = a.spec.effective, b.spec.effective
    if ea is not None and eb is not None and not ea.intersects(eb):
        return False
    return a.spec.when is None or b.spec.when is None or (a.when is not None and a.when == b.when)


# -- pass 7: decision dependencies -------------------------------------------------------------


def _decision_refs(state: CheckState, d: DecisionState) -> Iterator[ast.Name]:
    roots = [d.subject, d.default, *(r.when for r in d.rules)]
    roots += [t for r in d.rules for t in _thens(r)]
    for root in roots:
        if root is not None:
            for node in ast.walk(root):
                if isinstance(node, ast.Name) and isinstance(state.refs.get(id(node)),
                                                             DecisionRef):
                    yield node


def check_dependencies(state: CheckState) -> None:
    """Order decisions after what they use; report every cycle at the reference that closes it
    (cycles are found and named with networkx, imported only when there is one)."""
    uses: dict[str, set[str]] = {}
    first_ref: dict[tuple[str, str], ast.Name] = {}
    for d in state.decisions:
        uses.setdefault(d.name, set())
        for ref in _decision_refs(state, d):
            d.depends_on.add(ref.id)
            uses[d.name].add(ref.id)
            first_ref.setdefault((d.name, ref.id), ref)
    position = {d.name: i for i, d in enumerate(state.decisions)}
    order = _dependencies_first(uses, position)
    if order is not None:
        state.order = order
        return
    import networkx as nx

    graph: Any = nx.DiGraph()
    graph.add_nodes_from(uses)
    graph.add_edges_from((a, b) for a, targets in uses.items() for b in targets)
    for cycle in sorted(nx.simple_cycles(graph), key=lambda c: sorted(position[n] for n in c)):
        # Start at the decision written first, so the report does not depend on set order.
        start = min(range(len(cycle)), key=lambda i: position[cycle[i]])
        cycle = cycle[start:] + cycle[:start]
        path = " → ".join([*cycle, cycle[0]])
        ref = first_ref[(cycle[0], cycle[1 % len(cycle)])]
        rule = _rule_of(state, cycle[0], ref)
        state.report(error(
            "E-decision-cycle", f"decision '{cycle[0]}' depends on itself: {path}", ref.span,
            "a decision may use only decisions that do not use it back; remove one reference",
            rule))
    state.order = [d.name for d in state.decisions]


def _dependencies_first(uses: dict[str, set[str]], position: dict[str, int]) -> list[str] | None:
    """Decisions with what they use first, ties in file order (stable run to run); None when
    there is a cycle. Kahn's algorithm, a heap keyed by file position."""
    waiting = {name: len(targets & uses.keys()) for name, targets in uses.items()}
    used_by: dict[str, list[str]] = {name: [] for name in uses}
    for name, targets in uses.items():
        for t in targets & uses.keys():
            used_by[t].append(name)
    ready = [(position[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for user in used_by[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (position[user], user))
    return order if len(order) == len(uses) else None


def _rule_of(state: CheckState, decision: str, ref: ast.Name) -> str | None:
    for d in state.decisions:
        if d.name != decision:
            continue
        for r in d.rules:
            roots = [r.when, *_thens(r)]
            if any(root is not None and any(n is ref for n in ast.walk(root)) for root in roots):
                return r.spec.id
    return None


PASSES: tuple[Callable[[CheckState], None], ...] = (
    parse_expressions,
    resolve_declarations,
    resolve_names,
    infer_types,
    check_outputs,
    check_reachability,
    check_dependencies,
)
"""The checker, in order; each pass reads what the earlier ones wrote to the CheckState."""


def run_passes(
    bundle: PolicyBundle, schema: OrgSchema, case_schema: CaseSchema,
    passes: Iterable[Callable[[CheckState], None]] = PASSES,
) -> CheckState:
    """Run passes over a bundle (all of them by default) and return their shared state."""
    state = CheckState(bundle, schema, case_schema)
    for check in passes:
        check(state)
    return state


def check_bundle(
    bundle: PolicyBundle, schema: OrgSchema, case_schema: CaseSchema,
) -> tuple[CheckedBundle, Diagnostics]:
    """Check every expression of a bundle against its schemas; all problems, not the first."""
    state = run_passes(bundle, schema, case_schema)
    by_name = {d.name: d for d in state.decisions}
    decisions = tuple(_checked_decision(state, by_name[name]) for name in state.order)
    constraints = tuple(
        CheckedConstraint(
            c.spec,
            Subject(c.var, c.subject, state.types.get(id(c.var_node), UNKNOWN))
            if c.var is not None and c.subject is not None else None,
            c.require)
        for c in state.constraints)
    checked = CheckedBundle(bundle, schema, case_schema, decisions, constraints, state.types,
                            state.refs)
    return checked, state.diagnostics


def _checked_decision(state: CheckState, d: DecisionState) -> CheckedDecision:
    subject = None
    if d.subject_var is not None and d.subject is not None:
        subject = Subject(d.subject_var, d.subject,
                          state.types.get(id(d.subject_var_node), UNKNOWN))
    rules = tuple(CheckedRule(r.spec, r.when, r.then) for r in d.rules)
    return CheckedDecision(d.spec, d.output, rules, frozenset(d.depends_on), subject, d.default)
