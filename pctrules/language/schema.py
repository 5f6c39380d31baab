"""Schema stage: the kinds, attributes and relations a bundle declares, and its case schema.

Over 500 lines because the organisation schema and the case schema are built from one manifest
by one builder, reporting at the manifest's positions, and both are written in `Type`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from pctrules.caseinput import typed_scalar
from pctrules.language.diagnostics import Code, Diagnostics, did_you_mean, error
from pctrules.language.source import Span

SCALARS = ("string", "int", "number", "date", "bool")
"""The scalar type names; any other base name is a kind of organisation node."""

Where = Callable[[tuple[str, ...]], "Span | None"]
"""Maps a key path in the manifest (e.g. ('schema', 'kinds', 'pct')) to its position, if known."""

# Matched whole (fullmatch): `$` alone would also accept a name ending in a newline.
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_TYPE = re.compile(
    r"[ \t]*(?:set\[[ \t]*([a-z][a-z0-9_]*)[ \t]*\]|([a-z][a-z0-9_]*))"
    r"[ \t]*(\?)?[ \t]*"
)


@dataclass(frozen=True)
class Type:
    """A value type: a scalar or a kind of node, possibly a set of nodes, possibly absent."""

    base: str
    optional: bool = False
    is_set: bool = False

    @property
    def is_node(self) -> bool:
        """True when the value is an organisation node (or a set of them)."""
        return self.base not in SCALARS

    def required(self) -> Type:
        return Type(self.base, False, self.is_set)

    def __str__(self) -> str:
        text = f"set[{self.base}]" if self.is_set else self.base
        return text + ("?" if self.optional else "")

    def read_text(self, text: str) -> object:
        """A value of this type written as text (a command-line option, a CSV cell, a REPL
        `:set`) as a case file would give it: whole numbers, decimals, `true`/`false` and
        YYYY-MM-DD dates are read, a set's codes are split at commas or spaces, an empty text
        is absent. Text that does not read is left as it is, for validation (`check_scalar`,
        `Engine.check_value`) to say what is wrong with it: the one reading of text, wherever
        it comes from."""
        if text == "":
            return None
        if self.is_set:
            return [part for part in re.split(r"[\s,]+", text) if part]
        if self.base == "date" and _ISO_DATE.fullmatch(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                return text
        return typed_scalar(text, self.base)


# ASCII digits only: `\d` and `date.fromisoformat` also take other scripts' digits.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# What each scalar type expects, as messages say it.
EXPECTED = {
    "string": "text",
    "bool": "true or false",
    "int": "a whole number",
    "number": "a number",
    "date": "a date (YYYY-MM-DD)",
}


def check_scalar(value: object, base: str) -> tuple[bool, object, str]:
    """(valid, the value as rules see it, what was expected) for a non-none value of a scalar
    type; a date may be given as YYYY-MM-DD text. The one check of a scalar value, for case
    fields and parameters alike."""
    expected = EXPECTED.get(base, f"a value of type {base}")
    if base == "date":
        if isinstance(value, dt.datetime):
            return False, None, expected
        if isinstance(value, dt.date):
            return True, value, expected
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            try:
                return True, dt.date.fromisoformat(value), expected
            except ValueError:
                return False, None, "a real date (YYYY-MM-DD)"
        return False, None, expected
    if base == "string":
        return isinstance(value, str), value, expected
    if base == "bool":
        return isinstance(value, bool), value, expected
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool), value, expected
    if base == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, value, expected
    return False, None, expected


def parse_type(text: str) -> Type | None:
    """`string|int|number|date|bool|<kind>|set[<kind>]`, with a trailing `?`; None if malformed.

    Whether a kind name is declared is for the caller to check (see `OrgSchema.check_type`).
    """
    m = _TYPE.fullmatch(text)
    if m is None:
        return None
    set_of, base, optional = m.group(1), m.group(2), m.group(3)
    if set_of is not None:
        if set_of in SCALARS:
            return None
        return Type(set_of, optional is not None, True)
    assert base is not None
    return Type(base, optional is not None, False)


@dataclass(frozen=True)
class RegisterDef:
    """A kind whose nodes come from an imported register (a bundle's `register:` on a kind): how
    messages name it, and what a case code of the kind means when the register is missing or
    does not hold the code on the day. Without one, a kind's messages are generic."""

    name: str  # 'practice register': "no practice register is loaded"
    relation: str | None  # the register is loaded when edges of this relation are
    unloaded: str  # "… so practice 'X' cannot be placed in a PCT"
    absent: str  # "practice 'X' is not in the practice register on …; <absent>"
    help: str  # how to load it


@dataclass(frozen=True)
class KindDef:
    """A kind of organisation node (`pct`, `practice`…) and its typed attributes."""

    name: str
    title: str
    attributes: dict[str, Type] = field(default_factory=dict)
    register: RegisterDef | None = None


@dataclass(frozen=True)
class Rollup:
    """A derived attribute (`rollups:` in the schema): a node's `attribute`, when its data does
    not state it, is the sum of `sum` over the nodes its hop `over` reaches on the last day the
    hop reaches any (e.g. a PCT's population: its practices' list sizes)."""

    kind: str
    attribute: str
    sum: str
    over: str


@dataclass(frozen=True)
class RelationDef:
    """A relation between kinds; `one` bounds the forward side, `inverse_one` the inverse side.

    `containment` marks relations that `OrgGraph.within` walks (practice part of a PCT, PCT
    managed by an SHA…).
    """

    name: str
    from_kinds: tuple[str, ...]
    to_kinds: tuple[str, ...]
    one: bool = False
    inverse: str | None = None
    inverse_one: bool = False
    hop_name: str = ""
    containment: bool = False
    attributes: dict[str, Type] = field(default_factory=dict)
    title: str = ""


@dataclass(frozen=True)
class Hop:
    """A name on a kind following a relation forward (`practice.pct`) or back (`pct.practices`)."""

    relation: str
    forward: bool
    one: bool
    target_kinds: tuple[str, ...]

    @property
    def type(self) -> Type:
        """The hop's value type; several target kinds show as the first one's (checker's view)."""
        base = self.target_kinds[0] if len(self.target_kinds) == 1 else "|".join(self.target_kinds)
        return Type(base, optional=self.one, is_set=not self.one)


class OrgSchema:
    """What the organisation graph may hold: the interface the checker asks about names."""

    def __init__(
        self,
        kinds: Mapping[str, KindDef],
        relations: Mapping[str, RelationDef],
        rollups: tuple[Rollup, ...] = (),
    ) -> None:
        self.kinds: dict[str, KindDef] = dict(kinds)
        self.relations: dict[str, RelationDef] = dict(relations)
        self.rollups = rollups
        self._hops: dict[str, dict[str, Hop]] = {k: {} for k in self.kinds}
        for rel in self.relations.values():
            for k in rel.from_kinds:
                self._hops.setdefault(k, {})[rel.hop_name] = Hop(
                    rel.name, True, rel.one, rel.to_kinds
                )
            if rel.inverse:
                for k in rel.to_kinds:
                    self._hops.setdefault(k, {})[rel.inverse] = Hop(
                        rel.name, False, rel.inverse_one, rel.from_kinds
                    )

    def hop(self, kind: str, name: str) -> Hop | None:
        """The hop called `name` on nodes of `kind`, or None."""
        return self._hops.get(kind, {}).get(name)

    def hops(self, kind: str) -> dict[str, Hop]:
        """Every hop on `kind`, by name."""
        return dict(self._hops.get(kind, {}))

    def attribute(self, kind: str, name: str) -> Type | None:
        """The type of attribute `name` on `kind`, or None when the kind has no such attribute."""
        kd = self.kinds.get(kind)
        return kd.attributes.get(name) if kd else None

    def names_on(self, kind: str) -> list[str]:
        """Attributes and hops of `kind`, sorted: the candidates for did-you-mean."""
        kd = self.kinds.get(kind)
        names = set(kd.attributes) if kd else set()
        names.update(self._hops.get(kind, {}))
        return sorted(names)

    def check_type(self, t: Type) -> bool:
        """Whether every kind the type names is declared."""
        return not t.is_node or t.base in self.kinds

    @classmethod
    def from_mapping(
        cls,
        data: object,
        diagnostics: Diagnostics,
        where: Where | None = None,
    ) -> OrgSchema:
        """Build the schema from the manifest's `schema:` mapping (plain Python data).

        Problems are added to `diagnostics`; what is well-formed is kept, so one run reports all.
        """
        return _SchemaBuilder(diagnostics, where).build(data)


class _SchemaBuilder:
    def __init__(self, diagnostics: Diagnostics, where: Where | None) -> None:
        self.diagnostics = diagnostics
        self.where = where

    def _error(
        self,
        path: tuple[str, ...],
        message: str,
        help: str | None = None,
        code: Code = Code.TYPE,
    ) -> None:
        span = self.where(path) if self.where else None
        self.diagnostics.add(error(code, message, span, help))

    def build(self, data: object) -> OrgSchema:
        base = ("schema",)
        if not isinstance(data, Mapping):
            self._error(base, "the 'schema' must be a mapping with 'kinds' and 'relations'")
            return OrgSchema({}, {})
        for key in data:
            if key not in ("kinds", "relations", "rollups"):
                self._error(
                    (*base, str(key)),
                    f"unknown key '{key}' in 'schema'",
                    did_you_mean(str(key), ("kinds", "relations", "rollups")),
                    Code.UNKNOWN_KEY,
                )
        kinds = self._kinds(data.get("kinds"), (*base, "kinds"))
        relations = self._relations(data.get("relations") or {}, (*base, "relations"), kinds)
        schema = OrgSchema(kinds, relations)
        self._check_hop_clashes(kinds, relations, base)
        self._check_registers(schema, base)
        rollups = self._rollups(data.get("rollups"), (*base, "rollups"), schema)
        return OrgSchema(kinds, relations, rollups)

    def _register(self, data: object, path: tuple[str, ...], kind: str) -> RegisterDef | None:
        keys = ("name", "relation", "unloaded", "absent", "help")
        if not isinstance(data, Mapping):
            self._error(
                path,
                f"the register of kind '{kind}' must be a mapping with "
                "'name', 'relation', 'unloaded', 'absent' and 'help'",
            )
            return None
        for key in data:
            if key not in keys:
                self._error(
                    (*path, str(key)),
                    f"unknown key '{key}' in the register of kind '{kind}'",
                    did_you_mean(str(key), keys),
                    Code.UNKNOWN_KEY,
                )
        text = {k: str(data[k]) for k in keys if data.get(k) is not None}
        return RegisterDef(
            text.get("name", f"{kind} register"),
            text.get("relation"),
            text.get("unloaded", "cannot be looked up"),
            text.get("absent", "treated as absent"),
            text.get("help", f"import the {kind} register and pass '--data DIR'"),
        )

    def _check_registers(self, schema: OrgSchema, base: tuple[str, ...]) -> None:
        for kd in schema.kinds.values():
            reg = kd.register
            if reg is None or reg.relation is None:
                continue
            rel = schema.relations.get(reg.relation)
            if rel is None or kd.name not in (*rel.from_kinds, *rel.to_kinds):
                self._error(
                    (*base, "kinds", kd.name, "register", "relation"),
                    f"the register of kind '{kd.name}' names relation "
                    f"'{reg.relation}', which does not join {kd.name}s",
                    did_you_mean(reg.relation, schema.relations),
                    Code.UNKNOWN_NAME,
                )

    def _rollups(
        self,
        data: object,
        path: tuple[str, ...],
        schema: OrgSchema,
    ) -> tuple[Rollup, ...]:
        if data is None:
            return ()
        example = "write e.g. '- {attribute: pct.population, sum: population, over: practices}'"
        if not isinstance(data, list):
            self._error(path, "'rollups' must be a list", example)
            return ()
        out: list[Rollup] = []
        for k, item in enumerate(data):
            ipath = (*path, str(k))
            if not isinstance(item, Mapping) or not {"attribute", "sum", "over"} <= set(item):
                self._error(
                    ipath,
                    "a roll-up needs 'attribute', 'sum' and 'over'",
                    example,
                    Code.MISSING_KEY,
                )
                continue
            kind, _, attr = str(item["attribute"]).partition(".")
            over, total = str(item["over"]), str(item["sum"])
            t = schema.attribute(kind, attr)
            hop = schema.hop(kind, over)
            if t is None or t.base not in ("int", "number") or t.is_set:
                self._error(
                    (*ipath, "attribute"),
                    f"roll-up attribute '{item['attribute']}' is not a number attribute of a kind",
                    "write kind.attribute, e.g. pct.population (an int or number)",
                )
            elif hop is None or hop.one:
                self._error(
                    (*ipath, "over"),
                    f"'{over}' is not a hop from {kind} to a set",
                    did_you_mean(over, schema.hops(kind)),
                    Code.UNKNOWN_NAME,
                )
            elif any(schema.attribute(target, total) is None for target in hop.target_kinds):
                self._error(
                    (*ipath, "sum"),
                    f"'{total}' is not an attribute of {' or '.join(hop.target_kinds)}",
                    None,
                    Code.UNKNOWN_ATTRIBUTE,
                )
            else:
                out.append(Rollup(kind, attr, total, over))
        return tuple(out)

    def _kinds(self, data: object, path: tuple[str, ...]) -> dict[str, KindDef]:
        if not isinstance(data, Mapping) or not data:
            self._error(
                path,
                "the schema declares no 'kinds'",
                "add e.g. 'kinds: {pct: {title: Primary Care Trust}}'",
                Code.MISSING_KEY,
            )
            return {}
        # Names first, so that attributes may be of any kind declared in the same mapping.
        names = {str(k) for k in data}
        kinds: dict[str, KindDef] = {}
        for raw_name, body in data.items():
            name = str(raw_name)
            kpath = (*path, name)
            if not _NAME.fullmatch(name) or name in SCALARS or name == "set":
                self._error(
                    kpath,
                    f"'{name}' is not a valid kind name",
                    "use lower-case letters, digits and '_', not a scalar type name",
                )
                continue
            body = body or {}
            if not isinstance(body, Mapping):
                self._error(kpath, f"kind '{name}' must be a mapping with 'title' and 'attributes'")
                continue
            for key in body:
                if key not in ("title", "attributes", "register"):
                    self._error(
                        (*kpath, str(key)),
                        f"unknown key '{key}' in kind '{name}'",
                        did_you_mean(str(key), ("title", "attributes", "register")),
                        Code.UNKNOWN_KEY,
                    )
            attrs = self._attributes(
                body.get("attributes") or {}, (*kpath, "attributes"), names, f"kind '{name}'"
            )
            register = (
                self._register(body["register"], (*kpath, "register"), name)
                if body.get("register") is not None
                else None
            )
            kinds[name] = KindDef(name, str(body.get("title") or name), attrs, register)
        return kinds

    def _attributes(
        self,
        data: object,
        path: tuple[str, ...],
        kinds: set[str],
        owner: str,
    ) -> dict[str, Type]:
        if not isinstance(data, Mapping):
            self._error(path, f"the attributes of {owner} must be a mapping of name to type")
            return {}
        out: dict[str, Type] = {}
        for raw, text in data.items():
            name = str(raw)
            t = self._type(text, (*path, name), kinds, f"attribute '{name}' of {owner}")
            if not _NAME.fullmatch(name):
                self._error((*path, name), f"'{name}' is not a valid attribute name")
            elif t is not None:
                out[name] = t
        return out

    def _type(self, text: object, path: tuple[str, ...], kinds: set[str], what: str) -> Type | None:
        t = parse_type(str(text)) if isinstance(text, str) else None
        if t is None:
            self._error(
                path,
                f"'{text}' is not a type, for {what}",
                "write string, int, number, date, bool, a kind, or set[kind]; "
                "add '?' when it may be absent",
            )
            return None
        if t.is_node and t.base not in kinds:
            self._error(
                path,
                f"unknown kind '{t.base}', for {what}",
                did_you_mean(t.base, [*kinds, *SCALARS]),
                Code.UNKNOWN_NAME,
            )
            return None
        return t

    def _relations(
        self,
        data: object,
        path: tuple[str, ...],
        kinds: dict[str, KindDef],
    ) -> dict[str, RelationDef]:
        keys = (
            "from",
            "to",
            "one",
            "inverse",
            "inverse_one",
            "name",
            "containment",
            "attributes",
            "title",
        )
        if not isinstance(data, Mapping):
            self._error(path, "'relations' must be a mapping of relation name to its definition")
            return {}
        out: dict[str, RelationDef] = {}
        for raw, body in data.items():
            name = str(raw)
            rpath = (*path, name)
            if not _NAME.fullmatch(name):
                self._error(rpath, f"'{name}' is not a valid relation name")
                continue
            if not isinstance(body, Mapping):
                self._error(rpath, f"relation '{name}' must be a mapping with 'from' and 'to'")
                continue
            for key in body:
                if key not in keys:
                    self._error(
                        (*rpath, str(key)),
                        f"unknown key '{key}' in relation '{name}'",
                        did_you_mean(str(key), keys),
                        Code.UNKNOWN_KEY,
                    )
            ends = [
                self._ends(body.get(end), (*rpath, end), kinds, name, end) for end in ("from", "to")
            ]
            flags = {}
            for flag in ("one", "inverse_one", "containment"):
                value = body.get(flag, False)
                if not isinstance(value, bool):
                    self._error(
                        (*rpath, flag),
                        f"'{flag}' of relation '{name}' must be true or false, not '{value}'",
                    )
                    value = False
                flags[flag] = value
            hop_name = str(body.get("name") or name)
            inverse = body.get("inverse")
            for label, value in (("name", hop_name), ("inverse", inverse)):
                if value is not None and not _NAME.fullmatch(str(value)):
                    self._error(
                        (*rpath, label), f"'{value}' is not a valid hop name, for relation '{name}'"
                    )
            attrs = self._attributes(
                body.get("attributes") or {},
                (*rpath, "attributes"),
                set(kinds),
                f"relation '{name}'",
            )
            if ends[0] and ends[1]:
                out[name] = RelationDef(
                    name,
                    ends[0],
                    ends[1],
                    flags["one"],
                    str(inverse) if inverse is not None else None,
                    flags["inverse_one"],
                    hop_name,
                    flags["containment"],
                    attrs,
                    str(body.get("title") or ""),
                )
        return out

    def _ends(
        self,
        value: object,
        path: tuple[str, ...],
        kinds: dict[str, KindDef],
        rel: str,
        end: str,
    ) -> tuple[str, ...]:
        if value is None:
            self._error(
                path[:-1],
                f"relation '{rel}' has no '{end}'",
                f"add '{end}: <kind>' (or a list of kinds)",
                Code.MISSING_KEY,
            )
            return ()
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for item in items:
            if str(item) not in kinds:
                self._error(
                    path,
                    f"unknown kind '{item}' in '{end}' of relation '{rel}'",
                    did_you_mean(str(item), kinds),
                    Code.UNKNOWN_NAME,
                )
            else:
                out.append(str(item))
        return tuple(out) if len(out) == len(items) else ()

    def _check_hop_clashes(
        self,
        kinds: dict[str, KindDef],
        relations: dict[str, RelationDef],
        base: tuple[str, ...],
    ) -> None:
        # A name on a kind must mean one thing: an attribute, or one hop.
        seen: dict[tuple[str, str], str] = {}
        for kd in kinds.values():
            for attr in kd.attributes:
                seen[(kd.name, attr)] = f"attribute '{attr}'"
        for rel in relations.values():
            sides = [(k, rel.hop_name) for k in rel.from_kinds]
            if rel.inverse:
                sides += [(k, rel.inverse) for k in rel.to_kinds]
            for kind, hop in sides:
                owner = seen.get((kind, hop))
                if owner is not None:
                    self._error(
                        (*base, "relations", rel.name),
                        f"'{hop}' on {kind} is declared twice: by {owner} and by "
                        f"relation '{rel.name}'",
                        "give one of them another 'name' or 'inverse'",
                    )
                seen[(kind, hop)] = f"relation '{rel.name}'"


@dataclass(frozen=True)
class CaseSchema:
    """What a case may hold: nested groups of fields, each leaf a Type (DESIGN §3.1 `case:`)."""

    fields: dict[str, Type | CaseSchema]

    def lookup(self, path: tuple[str, ...]) -> Type | CaseSchema | None:
        """The type (or group) at a dotted path such as ('person', 'practice'), or None."""
        node: Type | CaseSchema = self
        for part in path:
            if not isinstance(node, CaseSchema) or part not in node.fields:
                return None
            node = node.fields[part]
        return node

    def leaves(self, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Type]]:
        """Every (path, type) leaf, in declaration order."""
        for name, value in self.fields.items():
            if isinstance(value, CaseSchema):
                yield from value.leaves((*prefix, name))
            else:
                yield (*prefix, name), value

    def names(self) -> list[str]:
        return sorted(self.fields)

    @classmethod
    def from_mapping(
        cls,
        data: object,
        org: OrgSchema,
        diagnostics: Diagnostics,
        where: Where | None = None,
    ) -> CaseSchema:
        """Build from the manifest's `case:` mapping; node types must name kinds of `org`."""

        def build(value: object, path: tuple[str, ...]) -> CaseSchema:
            if not isinstance(value, Mapping):
                span = where(path) if where else None
                diagnostics.add(
                    error(
                        Code.TYPE,
                        f"'{'.'.join(path)}' must be a mapping of field names to types",
                        span,
                    )
                )
                return CaseSchema({})
            out: dict[str, Type | CaseSchema] = {}
            for raw, body in value.items():
                name = str(raw)
                fpath = (*path, name)
                span = where(fpath) if where else None
                if not _NAME.fullmatch(name):
                    diagnostics.add(
                        error(Code.TYPE, f"'{name}' is not a valid case field name", span)
                    )
                    continue
                if isinstance(body, Mapping):
                    out[name] = build(body, fpath)
                    continue
                t = parse_type(body) if isinstance(body, str) else None
                field_name = ".".join(fpath[1:])
                if t is None:
                    diagnostics.add(
                        error(
                            Code.TYPE,
                            f"'{body}' is not a type, for case field '{field_name}'",
                            span,
                            "write string, int, number, date, bool, a kind, or set[kind]; "
                            "add '?' when it may be absent",
                        )
                    )
                elif not org.check_type(t):
                    diagnostics.add(
                        error(
                            Code.UNKNOWN_NAME,
                            f"unknown kind '{t.base}', for case field '{field_name}'",
                            span,
                            did_you_mean(t.base, [*org.kinds, *SCALARS]),
                        )
                    )
                else:
                    out[name] = t
            return CaseSchema(out)

        return build(data, ("case",))
