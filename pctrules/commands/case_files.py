"""Case input for the CLI: case files (YAML or JSON, one case or many, or standard input)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from pctrules.language.diagnostics import CaseError, error
from pctrules.language.source import SourceFile, Span

MAX_CASE_FILE_BYTES = 64 * 1024 * 1024
"""Larger inputs belong to `pctrules batch`, which streams them."""


@dataclass(frozen=True)
class RawCase:
    """One case as read, before the bundle's case schema has looked at it."""

    data: object
    origin: str  # "file:index" (or the file alone for a one-case file), for messages


class _Loader(yaml.SafeLoader):
    """The safe loader, with aliases refused: a case file has no use for them, and alias
    expansion is the classic way to make a small file enormous."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                None, None, "aliases ('*name') are not allowed in case files", event.start_mark,
            )
        return super().compose_node(parent, index)


# Dates stay text: the engine reads them as ISO dates and names the field when one is not a
# real date (YAML's own timestamp constructor would fail on 2011-02-30 with no position).
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_case_file(path: str) -> list[RawCase]:
    """The cases of one file: a mapping is one case; a list, or a mapping with `cases:`, many.

    `-` reads standard input. Broken YAML or JSON raises a CaseError with its line and column.
    """
    if path == "-":
        text, label = sys.stdin.read(), "<stdin>"
    else:
        p = Path(path)
        try:
            if p.stat().st_size > MAX_CASE_FILE_BYTES:
                raise CaseError(error(
                    "E-case", f"case file '{path}' is larger than 64 MiB",
                    help="evaluate large inputs with 'pctrules batch', which streams them",
                ))
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CaseError(error("E-case", f"case file '{path}' does not exist")) from None
        except IsADirectoryError:
            raise CaseError(error("E-case", f"case file '{path}' is a folder")) from None
        except UnicodeDecodeError as exc:
            raise CaseError(error(
                "E-case", f"case file '{path}' is not UTF-8 text (byte {exc.start})",
            )) from None
        label = path
    source = SourceFile(label, text)
    data = _parse(source, as_json=_looks_like_json(path, text))
    return _split(data, label)


def _looks_like_json(path: str, text: str) -> bool:
    if path.endswith(".json"):
        return True
    if path == "-":
        return text.lstrip()[:1] in ("{", "[")
    return False


def _parse(source: SourceFile, *, as_json: bool) -> object:
    if as_json:
        try:
            return json.loads(source.text)
        except json.JSONDecodeError as exc:
            at = Span(source, exc.lineno, exc.colno, exc.lineno, exc.colno + 1)
            raise CaseError(error(
                "E-case", f"case file is not valid JSON: {exc.msg.lower()}", at,
            )) from None
    try:
        return yaml.load(source.text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span: Span | None = None
        if mark is not None:
            span = Span(source, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)
        problem = (exc.problem or exc.context or "malformed YAML").strip()
        raise CaseError(error("E-case", f"case file is not valid YAML: {problem}", span)) from None
    except yaml.YAMLError as exc:
        raise CaseError(error("E-case", f"case file is not valid YAML: {exc}")) from None


def _split(data: object, label: str) -> list[RawCase]:
    if isinstance(data, Mapping) and "cases" in data:
        items = data["cases"]
        if not isinstance(items, list):
            raise CaseError(error(
                "E-case", f"'cases' in '{label}' must be a list of cases",
                help="write 'cases:' followed by one '- id: …' entry per case",
            ))
        return [RawCase(item, f"{label}:{i + 1}") for i, item in enumerate(items)]
    if isinstance(data, list):
        return [RawCase(item, f"{label}:{i + 1}") for i, item in enumerate(data)]
    if data is None:
        raise CaseError(error("E-case", f"case file '{label}' holds no case"))
    return [RawCase(data, label)]
