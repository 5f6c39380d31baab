"""YAML layer, nodes: located YAML nodes (scalars, mappings, sequences) and their Python values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from pctrules.language.source import Span

STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(eq=False)
class YScalar:
    """A scalar as written: its text (`value`, after YAML's unescaping), resolved tag and style."""

    value: str
    tag: str
    style: str | None  # None (plain), "'", '"', "|" or ">"
    span: Span
    start: int  # offsets of the scalar's first and just-past-last characters in the file text
    end: int
    parent_indent: int  # the column (0-based) of the enclosing block collection; -1 at the top
    size: int = 1

    @property
    def is_text(self) -> bool:
        """Whether YAML reads it as text (a date counts: policy files read dates themselves)."""
        return self.tag in (STR_TAG, "tag:yaml.org,2002:timestamp")


@dataclass(eq=False)
class YMap:
    """A mapping: its (key, value) pairs in file order; keys are scalars."""

    items: list[tuple[YScalar, YNode]]
    span: Span
    size: int = 1

    def get(self, key: str) -> YNode | None:
        for k, v in self.items:
            if k.value == key:
                return v
        return None

    def key(self, key: str) -> YScalar | None:
        for k, _ in self.items:
            if k.value == key:
                return k
        return None

    def keys(self) -> list[str]:
        return [k.value for k, _ in self.items]


@dataclass(eq=False)
class YSeq:
    """A sequence of nodes."""

    items: list[YNode]
    span: Span
    size: int = 1


YNode = YScalar | YMap | YSeq


KeyPath = tuple[str | int, ...]


def to_python(node: YNode) -> Any:
    """A node as plain Python values, as `yaml.safe_load` would give (aliases already bounded)."""
    if isinstance(node, YMap):
        return {k.value: to_python(v) for k, v in node.items}
    if isinstance(node, YSeq):
        return [to_python(v) for v in node.items]
    return scalar_value(node)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def scalar_value(node: YScalar) -> Any:
    """A scalar's value by its resolved tag; text when YAML could not build it (a bad date)."""
    if node.tag == STR_TAG or node.style is not None:
        return node.value
    constructors = {
        "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
        "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
        "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
        "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
        "tag:yaml.org,2002:timestamp": _CONSTRUCTOR.construct_yaml_timestamp,
    }
    build = constructors.get(node.tag)
    if build is None:
        return node.value
    try:
        return build(yaml.ScalarNode(node.tag, node.value))
    except (ValueError, OverflowError, TypeError):
        # Out-of-range dates, digits beyond Python's int-from-text limit: keep the text.
        return node.value
