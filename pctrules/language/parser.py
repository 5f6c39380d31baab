"""Parser stage: expression text → AST, with lark's errors turned into pctrules diagnostics.

Over 500 lines since `ruff format` lays out its messages one argument per line: the transformer
building the AST and the translation of lark's errors into labelled diagnostics (the common
slips: `=`, `&&`, unclosed brackets, chained comparisons) both need the grammar's tokens, and
the parser tables' cache sits with the parser that builds them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

import lark
from lark import Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.grammar import Rule
from lark.lexer import TerminalDef

from pctrules.language import ast
from pctrules.language.diagnostics import Code, Diagnostic, error
from pctrules.language.source import EmbeddedText, Span
from pctrules.privatecache import CacheFolder
from pctrules.resources import grammar_path

MAX_EXPRESSION_LENGTH = 10_000
MAX_DEPTH = 100

_OPENERS = {"(": ")", "[": "]"}
_CLOSERS = {")": "(", "]": "["}
_CODE_PARTS = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*(.*?)\s*\)", re.DOTALL)
"""A CODE token's kind and quoted code (the grammar's CODE terminal made the token)."""
_TRAILING_OPERATOR = re.compile(
    r"(?:(?<![\w.])(and|or|not|in|is|if|then|else)|(==|!=|<=|>=|<|>|\+|-|\*|/|,|\.|:))\s*$"
)


@functools.cache
def _parser() -> lark.Lark:
    """The LALR parser, built once per grammar and lark version and kept in the user's private
    cache (privatecache.py) as JSON, not as lark's pickle: loading the tables is many times faster
    than building them (benchmarks/README.md, "Start-up"), and every command starts here."""
    text = grammar_path().read_text(encoding="utf-8")
    key = hashlib.sha256(f"{text}\0{lark.__version__}\0{sys.version}".encode()).hexdigest()[:32]
    name = f"parser-{key}.json"
    with CacheFolder.open() or contextlib.nullcontext() as folder:
        kept = folder.read(name, key) if folder is not None else None
        if kept is not None:
            try:
                return lark.Lark.load(json.loads(kept, object_hook=_untag))
            except Exception:  # lark's own checks refused it: build it again, never fail
                pass
        parser = lark.Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=True)
        if folder is not None:
            data, memo = parser.memo_serialize([TerminalDef, Rule])
            with contextlib.suppress(ValueError):  # a shape the tagging does not cover
                payload = json.dumps(_tag({"data": data, "memo": memo}), separators=(",", ":"))
                folder.write(name, key, payload.encode())
    return parser


def _tag(value: Any) -> Any:
    """lark's serialised tables as JSON: tuples and mappings with integer keys are tagged, so
    they come back as they were (`_untag`)."""
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            if value.keys() & {"$tuple", "$items"}:
                raise ValueError("a key that tagging uses")
            return {k: _tag(v) for k, v in value.items()}
        return {"$items": [[_tag(k), _tag(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"$tuple": [_tag(v) for v in value]}
    if isinstance(value, list):
        return [_tag(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"cannot keep a {type(value).__name__}")


def _untag(mapping: dict[str, Any]) -> Any:
    if "$tuple" in mapping:
        return tuple(mapping["$tuple"])
    if "$items" in mapping:
        return {_hashable(k): v for k, v in mapping["$items"]}
    return mapping


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


class _SyntaxProblem(Exception):
    """Raised inside the transformer for well-formed text that still is not an expression."""

    def __init__(self, message: str, start: int, end: int, help: str | None = None) -> None:
        super().__init__(message)
        self.message, self.start, self.end, self.help = message, start, end, help


def _unescape(body: str) -> str:
    out: list[str] = []
    chars = iter(body)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive[Token, ast.Expr]):
    """Builds AST nodes from lark's tree; one method per grammar alias."""

    def __init__(self, text: EmbeddedText) -> None:
        super().__init__()
        self._text = text

    def _span(self, meta: Any) -> Span:
        return self._text.span(meta.start_pos, meta.end_pos)

    def _token_span(self, token: Token) -> Span:
        return self._text.span(token.start_pos or 0, token.end_pos or 0)

    # Literals
    def integer(self, meta: Any, children: list[Token]) -> ast.Expr:
        return ast.Literal(int(children[0]), span=self._span(meta))

    def decimal(self, meta: Any, children: list[Token]) -> ast.Expr:
        return ast.Literal(float(children[0]), span=self._span(meta))

    def string(self, meta: Any, children: list[Token]) -> ast.Expr:
        return ast.Literal(_unescape(str(children[0])[1:-1]), span=self._span(meta))

    def date(self, meta: Any, children: list[Token]) -> ast.Expr:
        token = children[0]
        try:
            value = dt.date.fromisoformat(str(token))
        except ValueError:
            raise _SyntaxProblem(
                f"'{token}' is not a valid date",
                meta.start_pos,
                meta.end_pos,
                "write a real calendar date as YYYY-MM-DD, e.g. 2011-04-01",
            ) from None
        return ast.Literal(value, span=self._span(meta))

    def code(self, meta: Any, children: list[Token]) -> ast.Expr:
        token = children[0]
        start = token.start_pos or 0
        parts = _CODE_PARTS.fullmatch(str(token))
        assert parts is not None  # the CODE terminal has this shape
        name_span = self._text.span(start, start + parts.end(1))
        text = ast.Literal(
            _unescape(parts.group(2)[1:-1]),
            span=self._text.span(start + parts.start(2), start + parts.end(2)),
        )
        if parts.group(1) in ast.FUNCTIONS:
            # `count('x')`: a function of the language applied to text, not a code; the checker
            # says what the function takes.
            return ast.Call(parts.group(1), (text,), name_span, span=self._span(meta))
        return ast.CodeLiteral(
            parts.group(1), str(text.value), name_span, text.span, span=self._span(meta)
        )

    def true(self, meta: Any, children: list[Any]) -> ast.Expr:
        return ast.Literal(True, span=self._span(meta))

    def false(self, meta: Any, children: list[Any]) -> ast.Expr:
        return ast.Literal(False, span=self._span(meta))

    def none(self, meta: Any, children: list[Any]) -> ast.Expr:
        return ast.Literal(None, span=self._span(meta))

    def list_(self, meta: Any, children: list[ast.Expr | None]) -> ast.Expr:
        return ast.ListExpr(tuple(c for c in children if c is not None), span=self._span(meta))

    # Names, paths and calls
    def name(self, meta: Any, children: list[Token]) -> ast.Expr:
        return ast.Name(str(children[0]), span=self._span(meta))

    def attribute(self, meta: Any, children: list[Any]) -> ast.Expr:
        obj, attr = children
        return ast.Attribute(obj, str(attr), self._token_span(attr), span=self._span(meta))

    def call(self, meta: Any, children: list[Any]) -> ast.Expr:
        func, *args = children
        return ast.Call(
            str(func),
            tuple(a for a in args if a is not None),
            self._token_span(func),
            span=self._span(meta),
        )

    def _binding(self, head: ast.Expr, form: str) -> tuple[str, Span, ast.Expr]:
        if (
            isinstance(head, ast.Membership)
            and not head.negated
            and isinstance(head.element, ast.Name)
        ):
            return head.element.id, head.element.span, head.collection
        start = self._offset_of(head.span)
        raise _SyntaxProblem(
            "expected 'name in collection' before ':'",
            start[0],
            start[1],
            f"write it as {form}",
        )

    def _offset_of(self, span: Span) -> tuple[int, int]:
        positions = self._text.positions
        start = positions.index((span.line, span.column))
        end = start + 1
        while end < len(positions) - 1 and positions[end] < (span.end_line, span.end_column):
            end += 1
        return start, end

    def binder_call(self, meta: Any, children: list[Any]) -> ast.Expr:
        func, head, condition = children
        var, var_span, collection = self._binding(head, f"{func}(x in xs: condition)")
        return ast.BinderCall(
            str(func),
            var,
            collection,
            condition,
            self._token_span(func),
            var_span,
            span=self._span(meta),
        )

    def filter_(self, meta: Any, children: list[Any]) -> ast.Expr:
        head, condition = children
        var, var_span, collection = self._binding(head, "[x in xs: condition]")
        return ast.Filter(var, collection, condition, var_span, span=self._span(meta))

    def generator(self, meta: Any, children: list[Any]) -> ast.Expr:
        func, element, var, collection = children
        return ast.Generator(
            str(func),
            element,
            str(var),
            collection,
            self._token_span(func),
            self._token_span(var),
            span=self._span(meta),
        )

    # Operators
    def compare(self, meta: Any, children: list[Any]) -> ast.Expr:
        left, op, right = children
        return ast.Compare(str(op), left, right, span=self._span(meta))

    def in_(self, meta: Any, children: list[Any]) -> ast.Expr:
        return ast.Membership(False, children[0], children[1], span=self._span(meta))

    def not_in(self, meta: Any, children: list[Any]) -> ast.Expr:
        return ast.Membership(True, children[0], children[1], span=self._span(meta))

    def is_none(self, meta: Any, children: list[Any]) -> ast.Expr:
        return ast.IsNone(False, children[0], span=self._span(meta))

    def is_not_none(self, meta: Any, children: list[Any]) -> ast.Expr:
        return ast.IsNone(True, children[0], span=self._span(meta))

    def and_(self, meta: Any, children: list[ast.Expr]) -> ast.Expr:
        return ast.BoolOp("and", tuple(children), span=self._span(meta))

    def or_(self, meta: Any, children: list[ast.Expr]) -> ast.Expr:
        return ast.BoolOp("or", tuple(children), span=self._span(meta))

    def not_(self, meta: Any, children: list[ast.Expr]) -> ast.Expr:
        return ast.Not(children[0], span=self._span(meta))

    def arith(self, meta: Any, children: list[Any]) -> ast.Expr:
        left, op, right = children
        return ast.Arith(str(op), left, right, span=self._span(meta))

    def neg(self, meta: Any, children: list[Any]) -> ast.Expr:
        return ast.Neg(children[1], span=self._span(meta))

    def conditional(self, meta: Any, children: list[ast.Expr]) -> ast.Expr:
        test, body, orelse = children
        return ast.Conditional(test, body, orelse, span=self._span(meta))


def parse_expression(
    text: EmbeddedText | str, rule: str | None = None
) -> tuple[ast.Expr | None, list[Diagnostic]]:
    """Parse one expression. Returns the tree, or None and the diagnostics saying why not."""
    if isinstance(text, str):
        text = EmbeddedText.standalone(text)
    source = text.text
    if len(source) > MAX_EXPRESSION_LENGTH:
        return None, [
            error(
                Code.LIMIT,
                f"expression is {len(source):,} characters long; the limit is "
                f"{MAX_EXPRESSION_LENGTH:,}",
                text.span(0, 1),
                "split it into smaller rules or decisions",
                rule,
            )
        ]
    if not source.strip():
        return None, [
            error(
                Code.SYNTAX,
                "expression is empty",
                text.span(0, len(source)),
                "write an expression, e.g. case.person.practice is none",
                rule,
            )
        ]
    deepest = _bracket_depth(source)
    if deepest > MAX_DEPTH:
        return None, [_too_deep(text, deepest, rule)]
    try:
        tree = _parser().parse(source)
    except UnexpectedInput as exc:
        return None, [_syntax_error(text, exc, rule)]
    try:
        node: ast.Expr = _ToAst(text).transform(tree)
    except _SyntaxProblem as problem:
        return None, [
            error(
                Code.SYNTAX,
                problem.message,
                text.span(problem.start, problem.end),
                problem.help,
                rule,
            )
        ]
    except lark.exceptions.VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, _SyntaxProblem):
            return None, [
                error(
                    Code.SYNTAX,
                    inner.message,
                    text.span(inner.start, inner.end),
                    inner.help,
                    rule,
                )
            ]
        raise inner from None
    levels = ast.depth(node)
    if levels > MAX_DEPTH:
        return None, [_too_deep(text, levels, rule)]
    return node, []


def _too_deep(text: EmbeddedText, levels: int, rule: str | None) -> Diagnostic:
    return error(
        Code.LIMIT,
        f"expression is nested {levels} levels deep; the limit is {MAX_DEPTH}",
        text.span(0, 1),
        "split it into smaller rules, or name parts of it as decisions",
        rule,
    )


def _bracket_depth(source: str) -> int:
    deepest = level = 0
    for ch in source:
        if ch in _OPENERS:
            level += 1
            deepest = max(deepest, level)
        elif ch in _CLOSERS:
            level -= 1
    return deepest


def _unclosed_bracket(source: str) -> int | None:
    """The offset of the first opening bracket that is never closed, skipping quoted text."""
    stack: list[int] = []
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(source):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in _OPENERS:
            stack.append(i)
        elif ch in _CLOSERS and stack and source[stack[-1]] == _CLOSERS[ch]:
            stack.pop()
    return stack[0] if stack else None


@functools.cache
def _terminal_labels() -> dict[str, str]:
    labels = {
        "NAME": "a name",
        "INT": "a number",
        "DECIMAL": "a number",
        "DATE": "a date",
        "STRING": "quoted text",
        "COMPARE_OP": "a comparison",
        "$END": "the end",
    }
    for terminal in _parser().terminals:
        if terminal.name not in labels and isinstance(terminal.pattern, lark.lexer.PatternStr):
            labels[terminal.name] = f"'{terminal.pattern.value}'"
    return labels


def _describe_expected(expected: Sequence[str]) -> str:
    labels = _terminal_labels()
    names = sorted({labels.get(name, name.lower()) for name in expected})
    # Keywords and punctuation first, then the broad classes, so the list reads naturally.
    names.sort(key=lambda n: (not n.startswith("'"), n))
    if len(names) > 8:
        names = [*names[:8], "…"]
    return ", ".join(names)


_IF_AS_OPERAND = re.compile(r"(?<![\w.])if\s+$")
"""An 'if' just before the unexpected token: a conditional where only an operand may be."""


def _syntax_error(text: EmbeddedText, exc: UnexpectedInput, rule: str | None) -> Diagnostic:
    source = text.text
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        rest = source[pos:]
        if rest.startswith(("&&", "&")):
            length = 2 if rest.startswith("&&") else 1
            return error(
                Code.SYNTAX,
                f"'{rest[:length]}' is not an operator here",
                text.span(pos, pos + length),
                "write 'and' to require both",
                rule,
            )
        if rest.startswith(("||", "|")):
            length = 2 if rest.startswith("||") else 1
            return error(
                Code.SYNTAX,
                f"'{rest[:length]}' is not an operator here",
                text.span(pos, pos + length),
                "write 'or' to accept either",
                rule,
            )
        if rest.startswith("="):
            return error(
                Code.SYNTAX,
                "'=' is not a comparison",
                text.span(pos, pos + 1),
                "to compare two values, write '=='",
                rule,
            )
        if rest.startswith("!"):
            return error(
                Code.SYNTAX,
                "'!' is not an operator here",
                text.span(pos, pos + 1),
                "write 'not' to negate a condition, or '!=' for 'not equal'",
                rule,
            )
        if rest[:1] in "'\"":
            return error(
                Code.SYNTAX,
                "text is never closed",
                text.span(pos, len(source.split("\n")[0])),
                f"end the text with a matching {rest[0]} on the same line",
                rule,
            )
        char = rest[:1]
        return error(
            Code.SYNTAX,
            f"unexpected character '{char}'",
            text.span(pos, pos + 1),
            "remove it, or quote it if it is part of a text value",
            rule,
        )
    if isinstance(exc, UnexpectedToken | UnexpectedEOF):
        token = getattr(exc, "token", None)
        at_end = isinstance(exc, UnexpectedEOF) or (token is not None and token.type == "$END")
        expected = sorted(getattr(exc, "accepts", None) or getattr(exc, "expected", ()) or ())
        if at_end:
            unclosed = _unclosed_bracket(source)
            if unclosed is not None:
                opener = source[unclosed]
                return error(
                    Code.SYNTAX,
                    f"'{opener}' is never closed",
                    text.span(unclosed, unclosed + 1),
                    f"add the matching '{_OPENERS[opener]}'",
                    rule,
                )
            trailing = _TRAILING_OPERATOR.search(source)
            if trailing:
                op = trailing.group(1) or trailing.group(2)
                start = trailing.start()
                return error(
                    Code.SYNTAX,
                    f"expression ends after '{op}'",
                    text.span(start, start + len(op)),
                    f"add what should follow '{op}', or remove it",
                    rule,
                )
            end = len(source.rstrip())
            return error(
                Code.SYNTAX,
                "expression ends too soon",
                text.span(max(end - 1, 0), end),
                f"expected one of: {_describe_expected(expected)}",
                rule,
            )
        assert token is not None
        start, end = token.start_pos or 0, token.end_pos or 0
        value = str(token)
        if value in _CLOSERS:
            return error(
                Code.SYNTAX,
                f"'{value}' has no matching '{_CLOSERS[value]}'",
                text.span(start, end),
                "remove it, or add the opening bracket",
                rule,
            )
        if token.type == "COMPARE_OP":
            return error(
                Code.SYNTAX,
                "comparisons cannot be chained",
                text.span(start, end),
                "join two comparisons with 'and', e.g. a < b and b < c",
                rule,
            )
        inner_if = _IF_AS_OPERAND.search(source, 0, start)
        if inner_if is not None:
            # `x == if a then b else c`: where an operand is due, 'if' reads as a name.
            return error(
                Code.SYNTAX,
                "an 'if … then … else …' inside an expression needs brackets",
                text.span(inner_if.start(), inner_if.start() + 2),
                "write it in brackets, e.g. x == (if a then b else c)",
                rule,
            )
        if source[end : end + 1] == ":" and _starts_a_line(text, start):
            # `then:` indented as deep as the text of a `when: >-` above it is part of that text.
            return error(
                Code.SYNTAX,
                f"'{value}:' is read as part of this expression",
                text.span(start, end + 1),
                f"YAML takes a line indented as deep as the text "
                f"above into that text: indent '{value}:' like the key before the text",
                rule,
            )
        return error(
            Code.SYNTAX,
            f"unexpected '{value}'",
            text.span(start, end),
            f"expected one of: {_describe_expected(expected)}",
            rule,
        )
    return error(Code.SYNTAX, "this is not a valid expression", text.whole, None, rule)


def _starts_a_line(text: EmbeddedText, start: int) -> bool:
    """Whether the expression character at `start` is the first of its line in the file."""
    before = len(text.text[:start].rstrip())
    return before > 0 and text.positions[before - 1][0] < text.positions[start][0]
