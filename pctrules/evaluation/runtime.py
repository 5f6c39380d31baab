"""Evaluation stage, shared part: the value semantics both evaluators use (none, unknown, hits).

What a value is at evaluation time (docs/internals.md, "Values at evaluation time"): a node is its
code (`str`), a set of nodes a `frozenset[str]`, a list literal a `frozenset` too (the checker
types `[a, b]` as a set, so `members == ['5NT']` compares sets), dates `datetime.date`,
numbers `int`/`float`, text `str`, none `None`, and *unknown* the singleton `UNKNOWN`.

The rules, in one place (the compiled and the traced evaluator must agree on every one):

- `==` and `!=` compare none like any value; every other operator, and every function that
  needs a value, gives UNKNOWN when an operand is none or UNKNOWN (`code`, `name`, `kind` give
  none for none, as a hop from none does; `exists(none)` is false).
- `and` / `or` / `not` are three-valued (Kleene) and read left to right: `and` stops at the first
  false operand, `or` at the first true one; an unknown operand does not stop them. Any operand
  that is neither true nor false (none included) counts as unknown.
- `if c then a else b` takes `a` only when `c` is true, as a rule's `when` does.
- A hop from none gives none (a `one` hop) or the empty set (a set hop).
- Quantifiers, filters and generators visit a set's members in code order (`members`), so an
  error inside them is the same on every run.
- `max_by` / `min_by` rank members with no value (none) after every member with one; ties go to
  the lowest code.

And for results (both evaluators, so the differential test can hold them together):

- A decision's value is never unknown: a `then` or `default` that is unknown gives none
  (`settle`). A rule with no `then` gives true.
- A RuleError makes the decision an error whose `rule` (and `error.rule`) is the failing rule's
  id, or None when the hit policy failed; `error.at` is the span of the failing expression (the
  rule's `when` or `then`), never empty.
- A `for: g in <expr>` decision whose subject is none does not evaluate its rules: outcome
  'no-match' with the note `no subject: <expr> is none`. A set subject is evaluated per member;
  the value is a mapping from each member's code to its result.

Over 500 lines on purpose: this is the one module that says what every value operation and
function does, which every backend calls; split, the rules above would be spread again.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from pctrules.language.source import Span

if TYPE_CHECKING:
    from pctrules.graph.model import OrgGraph


class _Unknown:
    """The type of UNKNOWN: the value of an operator applied to none (DESIGN §3.2)."""

    __slots__ = ()
    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "unknown"

    def __bool__(self) -> bool:
        # Code that tests unknown with `if` has a bug: it must ask `is True` (or `is False`).
        raise TypeError("unknown has no truth value; test it with 'is True'")

    def __reduce__(self) -> str:
        return "UNKNOWN"  # pickles as the module global: batch workers share the singleton


UNKNOWN: Final = _Unknown()

EMPTY: frozenset[str] = frozenset()


class RuleError(Exception):
    """An error inside a rule (e.g. `only()` over two nodes). The engine adds the rule id and,
    when the raiser did not know it, the span."""

    def __init__(self, message: str, span: Span | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span


# -- truth --------------------------------------------------------------------------------------


def truth(a: object) -> object:
    """A value as a truth value: True, False, or UNKNOWN for anything else (none included)."""
    return a if a is True or a is False else UNKNOWN


def settle(v: object) -> object:
    """A result value: unknown becomes none (a decision's value is never unknown)."""
    return None if v is UNKNOWN else v


def not_(a: object) -> object:
    return False if a is True else True if a is False else UNKNOWN


def and_lazy(operands: Iterable[Callable[[], object]]) -> object:
    """`and` over thunks, evaluated left to right, stopping at the first false one."""
    result: object = True
    for thunk in operands:
        a = thunk()
        if a is False:
            return False
        if a is not True:
            result = UNKNOWN
    return result


def or_lazy(operands: Iterable[Callable[[], object]]) -> object:
    """`or` over thunks, evaluated left to right, stopping at the first true one."""
    result: object = False
    for thunk in operands:
        a = thunk()
        if a is True:
            return True
        if a is not False:
            result = UNKNOWN
    return result


# -- comparisons and arithmetic --------------------------------------------------------------

_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def eq(a: object, b: object) -> object:
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    return a == b


def ne(a: object, b: object) -> object:
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    return a != b


def _order(op: str) -> Callable[[object, object], object]:
    py = _ORDER[op]

    def compare_order(a: object, b: object) -> object:
        if a is None or b is None or a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        try:
            return py(a, b)
        except TypeError:
            what = f"cannot compare {describe(a)} with {describe(b)} using '{op}'"
            raise RuleError(what) from None

    compare_order.__name__ = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}[op]
    return compare_order


lt = _order("<")
le = _order("<=")
gt = _order(">")
ge = _order(">=")

COMPARE: Final[dict[str, Callable[[object, object], object]]] = {
    "==": eq,
    "!=": ne,
    "<": lt,
    "<=": le,
    ">": gt,
    ">=": ge,
}


def compare(op: str, a: object, b: object) -> object:
    """`a op b` for op in == != < <= > >=."""
    return COMPARE[op](a, b)


def is_none(a: object) -> object:
    return UNKNOWN if a is UNKNOWN else a is None


def is_not_none(a: object) -> object:
    return UNKNOWN if a is UNKNOWN else a is not None


def contains(xs: object, x: object) -> object:
    """`x in xs` over a set or a list; none or unknown on either side gives UNKNOWN."""
    if xs is None or x is None or xs is UNKNOWN or x is UNKNOWN:
        return UNKNOWN
    if not isinstance(xs, (frozenset, tuple, list, set)):
        raise RuleError(f"'in' needs a set or a list, not {describe(xs)}")
    return x in xs


def not_contains(xs: object, x: object) -> object:
    return not_(contains(xs, x))


def _arith_guard(a: object, b: object) -> bool:
    """Whether the operation has a value at all (no none or unknown operand)."""
    return not (a is None or b is None or a is UNKNOWN or b is UNKNOWN)


def add(a: Any, b: Any) -> object:
    if not _arith_guard(a, b):
        return UNKNOWN
    if isinstance(a, dt.date) and isinstance(b, int) and not isinstance(b, bool):
        return a + dt.timedelta(days=b)  # a date plus a number of days
    return _checked("+", operator.add, a, b)


def sub(a: Any, b: Any) -> object:
    if not _arith_guard(a, b):
        return UNKNOWN
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        return (a - b).days  # days between two dates
    if isinstance(a, dt.date) and isinstance(b, int) and not isinstance(b, bool):
        return a - dt.timedelta(days=b)
    return _checked("-", operator.sub, a, b)


def mul(a: Any, b: Any) -> object:
    if not _arith_guard(a, b):
        return UNKNOWN
    return _checked("*", operator.mul, a, b)


def div(a: Any, b: Any) -> object:
    if not _arith_guard(a, b):
        return UNKNOWN
    if b == 0 and _is_number(b):
        raise RuleError(f"division by zero ({describe(a)} / 0)")
    return _checked("/", operator.truediv, a, b)


def _is_number(a: object) -> bool:
    return isinstance(a, (int, float)) and not isinstance(a, bool)


def _checked(op: str, fn: Callable[[Any, Any], object], a: object, b: object) -> object:
    if not ((_is_number(a) and _is_number(b)) or (op == "+" and type(a) is str is type(b))):
        raise RuleError(f"cannot apply '{op}' to {describe(a)} and {describe(b)}")
    return fn(a, b)


ARITH: Final[dict[str, Callable[[Any, Any], object]]] = {"+": add, "-": sub, "*": mul, "/": div}


def arith(op: str, a: object, b: object) -> object:
    """`a op b` for op in + - * / (dates: date ± days, date − date = days)."""
    return ARITH[op](a, b)


def neg(a: object) -> object:
    if a is None or a is UNKNOWN:
        return UNKNOWN
    if not _is_number(a):
        raise RuleError(f"cannot negate {describe(a)}")
    return -a  # type: ignore[operator]


# -- sets ---------------------------------------------------------------------------------------


def members(xs: Iterable[Any]) -> Iterable[Any]:
    """A collection's members in a stable order: a set's in code order, a list's as written."""
    if isinstance(xs, (frozenset, set)):
        return sorted(xs, key=_sort_key)
    return xs


def _sort_key(x: object) -> tuple[str, str]:
    # Sets hold nodes (codes) in practice; other scalars sort by type name, then text.
    return (type(x).__name__, str(x))


def count(xs: object) -> object:
    if xs is None or xs is UNKNOWN:
        return UNKNOWN
    return len(xs)  # type: ignore[arg-type]


def count_true(conditions: Iterable[object]) -> int:
    """`count(x in xs: c)`: how many members the condition holds for (unknown does not count)."""
    return sum(1 for c in conditions if c is True)


def any_of(conditions: Iterable[object]) -> object:
    """`any(x in xs: c)` over the conditions, stopping at the first true one."""
    result: object = False
    for c in conditions:
        if c is True:
            return True
        if c is not False:
            result = UNKNOWN
    return result


def all_of(conditions: Iterable[object]) -> object:
    """`all(x in xs: c)` over the conditions, stopping at the first false one."""
    result: object = True
    for c in conditions:
        if c is False:
            return False
        if c is not True:
            result = UNKNOWN
    return result


def _numbers(values: Iterable[object], what: str) -> list[Any] | None:
    out: list[Any] = []
    for v in values:
        if v is None or v is UNKNOWN:
            return None
        if not (_is_number(v) or isinstance(v, dt.date)):
            raise RuleError(f"{what} needs numbers or dates, not {describe(v)}")
        out.append(v)
    return out


def sum_of(values: object) -> object:
    """`sum(xs)` / `sum(e for x in xs)`: 0 for an empty set; unknown if any value is none."""
    if values is None or values is UNKNOWN:
        return UNKNOWN
    nums = _numbers(values, "sum")  # type: ignore[arg-type]
    if nums is None:
        return UNKNOWN
    if any(isinstance(v, dt.date) for v in nums):
        raise RuleError("sum needs numbers, not dates")
    return sum(nums)


def min_of(values: object) -> object:
    """`min(xs)` / `min(e for x in xs)`: none for an empty set; unknown if any value is none."""
    if values is None or values is UNKNOWN:
        return UNKNOWN
    nums = _numbers(values, "min")  # type: ignore[arg-type]
    if nums is None:
        return UNKNOWN
    return _extreme(min, nums)


def max_of(values: object) -> object:
    """`max(xs)` / `max(e for x in xs)`: none for an empty set; unknown if any value is none."""
    if values is None or values is UNKNOWN:
        return UNKNOWN
    nums = _numbers(values, "max")  # type: ignore[arg-type]
    if nums is None:
        return UNKNOWN
    return _extreme(max, nums)


def _extreme(fn: Callable[[list[Any]], Any], nums: list[Any]) -> object:
    if not nums:
        return None
    try:
        return fn(nums)
    except TypeError:
        raise RuleError("cannot compare numbers with dates") from None


def only(xs: object) -> object:
    """The one member of a set: none if it is empty, an error naming the members if several."""
    if xs is None or xs is UNKNOWN:
        return UNKNOWN
    if len(xs) == 1:  # type: ignore[arg-type]
        for x in xs:  # type: ignore[attr-defined]
            return x
    if not xs:
        return None
    shown = ", ".join(f"'{m}'" for m in members(xs))  # type: ignore[arg-type]
    raise RuleError(f"only() needs at most one member, but there are {len(xs)}: {shown}")  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class RankStep:
    """One member as `max_by`/`min_by` ranked it: its code, its value, and its place."""

    code: str
    value: object
    place: int

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "value": json_value(self.value), "place": self.place}


@dataclass(frozen=True, slots=True)
class ByResult:
    """What `max_by`/`min_by` chose and why: the ranking, and the members tied at the top."""

    winner: str | None
    ranking: tuple[RankStep, ...]
    tied: tuple[str, ...]  # the codes that shared the best value (more than one: a tie-break)

    @property
    def tie_broken(self) -> bool:
        return len(self.tied) > 1

    def explain(self, attribute: str, largest: bool) -> str:
        """A sentence for traces: who won, on what value, and whether lowest code broke a tie."""
        if self.winner is None:
            return "no members"
        best = self.ranking[0].value
        which = "largest" if largest else "smallest"
        shown = "no value" if best is None else f"{best}"
        if self.tie_broken:
            tied = ", ".join(f"'{c}'" for c in self.tied)
            return (
                f"{tied} share the {which} {attribute} ({shown}); "
                f"'{self.winner}' has the lowest code"
            )
        return f"'{self.winner}' has the {which} {attribute} ({shown})"


def _by_steps(
    graph: OrgGraph,
    xs: object,
    attribute: str,
    on: dt.date,
    largest: bool,
) -> ByResult | None:
    if xs is None or xs is UNKNOWN:
        return None
    rows: list[tuple[str, object]] = [(c, graph.attr(c, attribute, on)) for c in xs]  # type: ignore[attr-defined]
    for _, v in rows:
        if v is not None and not (_is_number(v) or isinstance(v, (dt.date, str))):
            raise RuleError(f"cannot rank by '{attribute}': {describe(v)}")

    def key(row: tuple[str, object]) -> tuple[int, Any, str]:
        code, v = row
        if v is None:
            return (1, 0, code)  # no value: after every member with one
        return (0, _Desc(v) if largest else v, code)

    try:
        rows.sort(key=key)
    except TypeError:
        raise RuleError(f"cannot rank by '{attribute}': its values are of mixed types") from None
    ranking = tuple(RankStep(c, v, i + 1) for i, (c, v) in enumerate(rows))
    if not ranking:
        return ByResult(None, (), ())
    best = ranking[0].value
    tied = tuple(s.code for s in ranking if s.value == best)
    return ByResult(ranking[0].code, ranking, tied)


class _Desc:
    """Reverses the order of a value in a sort key (largest first, codes still ascending)."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return bool(self.v > other.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and bool(self.v == other.v)

    __hash__ = None  # type: ignore[assignment]


def max_by_steps(graph: OrgGraph, xs: object, attribute: str, on: dt.date) -> ByResult | None:
    """`max_by(xs, attribute)` with its ranking (None when `xs` is none: the value is unknown)."""
    return _by_steps(graph, xs, attribute, on, largest=True)


def min_by_steps(graph: OrgGraph, xs: object, attribute: str, on: dt.date) -> ByResult | None:
    """`min_by(xs, attribute)` with its ranking (None when `xs` is none: the value is unknown)."""
    return _by_steps(graph, xs, attribute, on, largest=False)


def max_by(graph: OrgGraph, xs: object, attribute: str, on: dt.date) -> object:
    """The member with the largest `attribute` on `on`; ties go to the lowest code."""
    r = _by_steps(graph, xs, attribute, on, largest=True)
    return UNKNOWN if r is None else r.winner


def min_by(graph: OrgGraph, xs: object, attribute: str, on: dt.date) -> object:
    """The member with the smallest `attribute` on `on`; ties go to the lowest code."""
    r = _by_steps(graph, xs, attribute, on, largest=False)
    return UNKNOWN if r is None else r.winner


# -- graph functions -------------------------------------------------------------------------


def within(graph: OrgGraph, x: object, y: object, on: dt.date) -> object:
    """Whether node `x` reaches node `y` through containment relations valid on `on`."""
    if x is None or y is None or x is UNKNOWN or y is UNKNOWN:
        return UNKNOWN
    return graph.within(x, y, on)  # type: ignore[arg-type]


def code(x: object) -> object:
    return None if x is None or x is UNKNOWN else x


def name(graph: OrgGraph, x: object) -> object:
    return None if x is None or x is UNKNOWN else graph.name(x)  # type: ignore[arg-type]


def kind(graph: OrgGraph, x: object) -> object:
    return None if x is None or x is UNKNOWN else graph.kind(x)  # type: ignore[arg-type]


def exists(graph: OrgGraph, x: object, on: dt.date) -> object:
    if x is UNKNOWN:
        return UNKNOWN
    return x is not None and graph.exists(x, on)  # type: ignore[arg-type]


# -- case fields whose data is not loaded ----------------------------------------------------


class Unavailable:
    """A case field naming a node of a kind whose data is not loaded at all (e.g. a practice when
    no practice register was imported). Reading it in a rule is a RuleError with this message:
    the decision must not fall back silently (DESIGN §11)."""

    __slots__ = ("code", "help", "message")

    def __init__(self, code: str, message: str, help: str) -> None:
        self.code = code
        self.message = message
        self.help = help

    def __repr__(self) -> str:
        return f"Unavailable({self.code!r})"


def read_unavailable(v: Unavailable) -> object:
    """Raise the error for reading an Unavailable case field (evaluators call it on reading)."""
    raise RuleError(f"{v.message}; {v.help}")


def read_field(v: object) -> object:
    """A case field's value as rules see it (raises for an Unavailable one)."""
    if v.__class__ is Unavailable:
        return read_unavailable(v)
    return v


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleErrorInfo:
    """Why a decision failed: the message, the rule (None for the decision itself), and where."""

    message: str
    rule: str | None
    at: str | None

    def to_dict(self) -> dict[str, object]:
        return {"message": self.message, "rule": self.rule, "at": self.at}


@dataclass(slots=True)
class DecisionResult:
    """One decision for one case. `outcome` is 'matched', 'no-match', 'default' or 'error';
    `rules` lists every deciding rule when a hit policy combined several (`any`, `collect`)."""

    name: str
    value: object
    rule: str | None
    reason: str | None
    cite: str | None
    outcome: str
    error: RuleErrorInfo | None = None
    trace: Any = None  # a trace.DecisionTrace when asked for
    warnings: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    note: str | None = None


# -- the evaluation context ------------------------------------------------------------------


@dataclass(slots=True)
class EvalContext:
    """What a rule can see while one case is evaluated: the graph on the as-of date, the case
    (a flat mapping from dotted field path to value, e.g. 'person.practice'), the parameters,
    the results of the decisions evaluated so far, and the case's warnings."""

    graph: OrgGraph
    as_of: dt.date
    case: Mapping[str, object]
    params: Mapping[str, object] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# Arguments after `ctx` for each function of the closed list. Functions taking an attribute
# name (`max_by`, `min_by`) get it as text; the generator forms receive the element values.
def call_function(fn: str, ctx: EvalContext, *args: object) -> object:
    """Call one of the language's functions on evaluated arguments (the traced evaluator's way;
    quantifiers with a condition go through `any_of` / `all_of` / `count_true`)."""
    g, on = ctx.graph, ctx.as_of
    if fn == "count":
        return count(args[0])
    if fn == "sum":
        return sum_of(args[0])
    if fn == "min":
        return min_of(args[0])
    if fn == "max":
        return max_of(args[0])
    if fn == "only":
        return only(args[0])
    if fn == "max_by":
        return max_by(g, args[0], str(args[1]), on)
    if fn == "min_by":
        return min_by(g, args[0], str(args[1]), on)
    if fn == "within":
        return within(g, args[0], args[1], on)
    if fn == "code":
        return code(args[0])
    if fn == "name":
        return name(g, args[0])
    if fn == "kind":
        return kind(g, args[0])
    if fn == "exists":
        return exists(g, args[0], on)
    raise KeyError(f"unknown function '{fn}'")  # the checker rejects these before evaluation


FUNCTIONS: Final = frozenset(
    {
        "count",
        "any",
        "all",
        "sum",
        "min",
        "max",
        "max_by",
        "min_by",
        "only",
        "within",
        "code",
        "name",
        "kind",
        "exists",
    }
)


# -- presentation ----------------------------------------------------------------------------


def out_of_effect(lo: dt.date | None, hi: dt.date | None, on: dt.date) -> str:
    """Why a rule or decision did not apply on `on`: 'not in effect on … (in effect … to …)'."""
    span = f"{lo.isoformat() if lo else '…'} to {hi.isoformat() if hi else '…'}"
    return f"not in effect on {on.isoformat()} (in effect {span})"


def not_in_effect(name: str, lo: dt.date | None, hi: dt.date | None, on: dt.date) -> str:
    """The note of a decision asked for on a day outside its `effective` range."""
    return f"decision '{name}' is {out_of_effect(lo, hi, on)}"


def describe(v: object) -> str:
    """A value as users write it, for messages: 'P84001', 2011-04-01, none, unknown, ['a', 'b']."""
    if v is None:
        return "none"
    if v is UNKNOWN:
        return "unknown"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, str):
        return f"'{v}'"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (frozenset, set)):
        return "{" + ", ".join(describe(m) for m in members(v)) + "}"
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(describe(m) for m in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {describe(x)}" for k, x in v.items()) + "}"
    return str(v)


def json_value(v: object, unknown: object = None) -> object:
    """A value for JSON output: sets as sorted lists of codes, dates as ISO text, none as null,
    unknown as `unknown` (null unless the caller says otherwise)."""
    if v is None or v is True or v is False or isinstance(v, (str, int, float)):
        return v
    if v is UNKNOWN:
        return unknown
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (frozenset, set)):
        return [json_value(m, unknown) for m in members(v)]
    if isinstance(v, (tuple, list)):
        return [json_value(m, unknown) for m in v]
    if isinstance(v, Mapping):
        return {str(k): json_value(x, unknown) for k, x in v.items()}
    raise TypeError(f"no JSON form for {type(v).__name__}")
