"""Language server, protocol: `pctrules lsp` over stdio with pygls; LSP messages in, the
analysis and features of this package out, positions converted to the client's units.

Every handler is guarded: whatever half-typed text an editor sends, a failure is logged to the
client and the request answered with nothing, never a crash of the server.
"""

from __future__ import annotations

import functools
import logging
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from pctrules import __version__
from pctrules.language.diagnostics import Diagnostic, Severity
from pctrules.language.source import Span
from pctrules.lsp import features
from pctrules.lsp.analysis import Analysis, bundle_root

F = TypeVar("F", bound=Callable[..., Any])

_SEVERITY = {
    Severity.ERROR: lsp.DiagnosticSeverity.Error,
    Severity.WARNING: lsp.DiagnosticSeverity.Warning,
    Severity.NOTE: lsp.DiagnosticSeverity.Information,
}
_KINDS = {
    "field": lsp.CompletionItemKind.Field,
    "attribute": lsp.CompletionItemKind.Property,
    "relation": lsp.CompletionItemKind.Reference,
    "decision": lsp.CompletionItemKind.Value,
    "function": lsp.CompletionItemKind.Function,
    "variable": lsp.CompletionItemKind.Variable,
    "keyword": lsp.CompletionItemKind.Keyword,
    "value": lsp.CompletionItemKind.EnumMember,
    "key": lsp.CompletionItemKind.Property,
}
_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'\?")
_REPLACEABLE = re.compile(r"[A-Za-z0-9_.-]+")


class PolicyServer(LanguageServer):
    """The server's state: the last analysis of each bundle, and what was published."""

    def __init__(self, data_dir: Path | None = None) -> None:
        super().__init__("pctrules", __version__)
        self.data_dir = data_dir
        self.analyses: dict[Path, Analysis] = {}
        self.published: dict[Path, set[str]] = {}

    # -- positions ---------------------------------------------------------------------------

    def lines_of(self, path: Path) -> list[str]:
        """The current text of a file by lines: the editor's when open, else the disk's."""
        uri = from_fs_path(str(path)) or ""
        document = self.workspace.text_documents.get(uri)
        if document is not None:
            return list(document.lines)
        try:
            return path.read_text(encoding="utf-8").splitlines(keepends=True)
        except (OSError, UnicodeDecodeError):
            return []

    def to_client(self, lines: list[str], line: int, column: int) -> lsp.Position:
        """A 1-based Span position as an LSP position (0-based, in the client's units)."""
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        units = self.workspace.position_codec.client_num_units(text[: max(column - 1, 0)])
        return lsp.Position(line=max(line - 1, 0), character=units)

    def range_of(self, span: Span) -> lsp.Range:
        lines = self.lines_of(Path(span.path))
        return lsp.Range(
            start=self.to_client(lines, span.line, span.column),
            end=self.to_client(lines, span.end_line, span.end_column),
        )

    def from_client(self, uri: str, position: lsp.Position) -> tuple[Path, tuple[int, int], str]:
        """A document position as (path, 1-based line and column, the line's text)."""
        path = Path(to_fs_path(uri) or uri)
        try:
            lines = list(self.workspace.get_text_document(uri).lines)
        except (OSError, UnicodeDecodeError):  # neither open nor on disk
            lines = []
        at = self.workspace.position_codec.position_from_client_units(lines, position)
        text = lines[at.line].rstrip("\r\n") if at.line < len(lines) else ""
        return path, (at.line + 1, at.character + 1), text

    # -- analysis ----------------------------------------------------------------------------

    def analysis_for(self, path: Path) -> Analysis | None:
        root = bundle_root(path)
        if root is None:
            return None
        root = root.resolve()
        if root not in self.analyses:
            self.analyse(root)
        return self.analyses.get(root)

    def analyse(self, root: Path) -> Analysis:
        """Check the bundle again with the open documents' text, and publish every file's
        diagnostics (an empty list clears a file that had some)."""
        overlay: dict[Path, str] = {}
        for uri, document in self.workspace.text_documents.items():
            fs = to_fs_path(uri)
            if fs is not None:
                overlay[Path(fs).resolve()] = document.source
        old = self.analyses.get(root)
        analysis = Analysis(
            root, overlay, self.data_dir, old.graphs if old is not None else {}
        ).run()
        self.analyses[root] = analysis
        now: set[str] = set()
        for path, found in analysis.by_file().items():
            uri = from_fs_path(str(path)) or str(path)
            now.add(uri)
            self.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(
                    uri=uri, diagnostics=[self.diagnostic(d) for d in found]
                )
            )
        for uri in self.published.get(root, set()) - now:
            self.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )
        self.published[root] = now
        return analysis

    def diagnostic(self, d: Diagnostic) -> lsp.Diagnostic:
        span = d.span
        where = (
            self.range_of(span)
            if span is not None
            else lsp.Range(
                start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=1)
            )
        )
        related = None
        if d.help and span is not None:
            related = [
                lsp.DiagnosticRelatedInformation(
                    location=lsp.Location(uri=from_fs_path(span.path) or span.path, range=where),
                    message=f"help: {d.help}",
                )
            ]
        fix = _DID_YOU_MEAN.search(d.help or "")
        return lsp.Diagnostic(
            range=where,
            message=d.message,
            severity=_SEVERITY[d.severity],
            code=d.code,
            source="pctrules",
            related_information=related,
            data={"replace": fix.group(1)} if fix else None,
        )

    def location(self, span: Span) -> lsp.Location:
        return lsp.Location(uri=from_fs_path(span.path) or span.path, range=self.range_of(span))


def _guarded(default: object) -> Callable[[F], F]:
    """Answer `default` (and log why) when a handler fails, instead of failing the server."""

    def wrap(handler: F) -> F:
        @functools.wraps(handler)
        def run(ls: PolicyServer, params: Any) -> Any:
            try:
                return handler(ls, params)
            except Exception:  # a bug: say so to the client, keep serving
                logging.getLogger("pctrules.lsp").exception("handler failed")
                ls.window_log_message(
                    lsp.LogMessageParams(
                        type=lsp.MessageType.Error,
                        message=f"pctrules: internal error in {handler.__name__}: "
                        f"{traceback.format_exc(limit=3)}",
                    )
                )
                return default

        return run  # type: ignore[return-value]

    return wrap


def build(data_dir: Path | None = None) -> PolicyServer:
    """The server with its features registered."""
    server = PolicyServer(data_dir)

    def reanalyse(server: PolicyServer, uri: str) -> None:
        path = Path(to_fs_path(uri) or uri)
        root = bundle_root(path)
        if root is not None:
            server.analyse(root.resolve())

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    @_guarded(None)
    def did_open(ls: PolicyServer, params: lsp.DidOpenTextDocumentParams) -> None:
        reanalyse(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    @_guarded(None)
    def did_change(ls: PolicyServer, params: lsp.DidChangeTextDocumentParams) -> None:
        reanalyse(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    @_guarded(None)
    def did_save(ls: PolicyServer, params: lsp.DidSaveTextDocumentParams) -> None:
        reanalyse(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    @_guarded(None)
    def did_close(ls: PolicyServer, params: lsp.DidCloseTextDocumentParams) -> None:
        reanalyse(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    @_guarded(None)
    def hover(ls: PolicyServer, params: lsp.HoverParams) -> lsp.Hover | None:
        path, at, _ = ls.from_client(params.text_document.uri, params.position)
        analysis = ls.analysis_for(path)
        found = features.hover(analysis, path.resolve(), at) if analysis else None
        if found is None:
            return None
        text, span = found
        return lsp.Hover(
            contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
            range=ls.range_of(span),
        )

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    @_guarded([])
    def definition(ls: PolicyServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
        path, at, _ = ls.from_client(params.text_document.uri, params.position)
        analysis = ls.analysis_for(path)
        spans = features.definition(analysis, path.resolve(), at) if analysis else []
        return [ls.location(s) for s in spans]

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[".", " ", "'"])
    )
    @_guarded(None)
    def completion(ls: PolicyServer, params: lsp.CompletionParams) -> lsp.CompletionList | None:
        path, at, line = ls.from_client(params.text_document.uri, params.position)
        analysis = ls.analysis_for(path)
        if analysis is None:
            return None
        found = features.completions(analysis, path.resolve(), at, line)
        items = [
            lsp.CompletionItem(label=c.label, kind=_KINDS.get(c.kind), detail=c.detail or None)
            for c in found
        ]
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]),
    )
    @_guarded([])
    def code_action(ls: PolicyServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        actions = []
        for d in params.context.diagnostics:
            data = d.data if isinstance(d.data, dict) else {}
            replacement = data.get("replace")
            if not isinstance(replacement, str) or d.source != "pctrules":
                continue
            if not _REPLACEABLE.fullmatch(_text_in(document.lines, d.range)):
                continue  # the range is not the one misspelt name
            actions.append(
                lsp.CodeAction(
                    title=f"Change to '{replacement}'",
                    kind=lsp.CodeActionKind.QuickFix,
                    diagnostics=[d],
                    is_preferred=True,
                    edit=lsp.WorkspaceEdit(
                        changes={uri: [lsp.TextEdit(range=d.range, new_text=replacement)]}
                    ),
                )
            )
        return actions

    return server


def _text_in(lines: Any, where: lsp.Range) -> str:
    """The text of a single-line range (client units are assumed to be characters here: the
    names a fix replaces are ASCII)."""
    if where.start.line != where.end.line or where.start.line >= len(lines):
        return ""
    line = str(lines[where.start.line])
    return line[where.start.character : where.end.character]


def serve(data_dir: Path | None = None) -> None:
    """Run the server over standard input and output until the client ends it."""
    build(data_dir).start_io()
