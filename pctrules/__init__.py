"""pctrules: rules and a policy language for the responsible commissioner, NHS England, PCT era.

The public API, in pipeline order::

    from pctrules import open_bundle, Engine
    engine = Engine(open_bundle(None))              # the embedded 'england' bundle
    result = engine.evaluate(engine.validate_case({"id": "c1", "date": "2011-09-01",
                                                   "person": {"residence": "E16000141"}}, 1))
    print(result.to_json())

Names are imported on first use, so `import pctrules` (and `pctrules --version`) stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name → module that defines it
_EXPORTS = {
    # sources and diagnostics
    "SourceFile": "pctrules.source",
    "Span": "pctrules.source",
    "EmbeddedText": "pctrules.source",
    "Diagnostic": "pctrules.diagnostics",
    "Diagnostics": "pctrules.diagnostics",
    "Severity": "pctrules.diagnostics",
    "ExitCode": "pctrules.diagnostics",
    "PctrulesError": "pctrules.diagnostics",
    "CaseError": "pctrules.diagnostics",
    # the language
    "parse_expression": "pctrules.parser",
    "unparse": "pctrules.ast",
    # stages
    "load_bundle": "pctrules.loader",
    "PolicyBundle": "pctrules.loader",
    "OrgSchema": "pctrules.schema",
    "CaseSchema": "pctrules.schema",
    "check_bundle": "pctrules.check",
    "CheckedBundle": "pctrules.check",
    "compile_bundle": "pctrules.compile",
    "OrgGraph": "pctrules.graph",
    # the orchestrated whole
    "Bundle": "pctrules.bundle",
    "open_bundle": "pctrules.bundle",
    "Engine": "pctrules.engine",
    "CaseResult": "pctrules.engine",
    "DecisionResult": "pctrules.runtime",
    "UNKNOWN": "pctrules.runtime",
    "DecisionTrace": "pctrules.trace",
    "render_diagnostics": "pctrules.report",
}

__all__ = [
    "UNKNOWN",
    "Bundle",
    "CaseError",
    "CaseResult",
    "CaseSchema",
    "CheckedBundle",
    "DecisionResult",
    "DecisionTrace",
    "Diagnostic",
    "Diagnostics",
    "EmbeddedText",
    "Engine",
    "ExitCode",
    "OrgGraph",
    "OrgSchema",
    "PctrulesError",
    "PolicyBundle",
    "Severity",
    "SourceFile",
    "Span",
    "__version__",
    "check_bundle",
    "compile_bundle",
    "load_bundle",
    "open_bundle",
    "parse_expression",
    "render_diagnostics",
    "unparse",
]

if TYPE_CHECKING:
    from pctrules.ast import unparse
    from pctrules.bundle import Bundle, open_bundle
    from pctrules.check import CheckedBundle, check_bundle
    from pctrules.compile import compile_bundle
    from pctrules.diagnostics import (
        CaseError,
        Diagnostic,
        Diagnostics,
        ExitCode,
        PctrulesError,
        Severity,
    )
    from pctrules.engine import CaseResult, Engine
    from pctrules.graph import OrgGraph
    from pctrules.loader import PolicyBundle, load_bundle
    from pctrules.parser import parse_expression
    from pctrules.report import render_diagnostics
    from pctrules.runtime import UNKNOWN, DecisionResult
    from pctrules.schema import CaseSchema, OrgSchema
    from pctrules.source import EmbeddedText, SourceFile, Span
    from pctrules.trace import DecisionTrace


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pctrules' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
