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
    "SourceFile": "pctrules.language.source",
    "Span": "pctrules.language.source",
    "EmbeddedText": "pctrules.language.source",
    "Diagnostic": "pctrules.language.diagnostics",
    "Diagnostics": "pctrules.language.diagnostics",
    "Severity": "pctrules.language.diagnostics",
    "ExitCode": "pctrules.language.diagnostics",
    "PctrulesError": "pctrules.language.diagnostics",
    "CaseError": "pctrules.language.diagnostics",
    # the language
    "parse_expression": "pctrules.language.parser",
    "unparse": "pctrules.language.ast",
    # stages
    "load_bundle": "pctrules.language.loader",
    "PolicyBundle": "pctrules.language.loader",
    "OrgSchema": "pctrules.language.schema",
    "CaseSchema": "pctrules.language.schema",
    "check_bundle": "pctrules.language.check",
    "CheckedBundle": "pctrules.language.check",
    "compile_bundle": "pctrules.evaluation.compile",
    "OrgGraph": "pctrules.graph.model",
    # the orchestrated whole
    "Bundle": "pctrules.bundle",
    "open_bundle": "pctrules.bundle",
    "Engine": "pctrules.evaluation.engine",
    "CaseResult": "pctrules.evaluation.engine",
    "DecisionResult": "pctrules.evaluation.runtime",
    "UNKNOWN": "pctrules.evaluation.runtime",
    "DecisionTrace": "pctrules.evaluation.trace",
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
    from pctrules.bundle import Bundle, open_bundle
    from pctrules.evaluation.compile import compile_bundle
    from pctrules.evaluation.engine import CaseResult, Engine
    from pctrules.evaluation.runtime import UNKNOWN, DecisionResult
    from pctrules.evaluation.trace import DecisionTrace
    from pctrules.graph.model import OrgGraph
    from pctrules.language.ast import unparse
    from pctrules.language.check import check_bundle
    from pctrules.language.check.state import CheckedBundle
    from pctrules.language.diagnostics import (
        CaseError,
        Diagnostic,
        Diagnostics,
        ExitCode,
        PctrulesError,
        Severity,
    )
    from pctrules.language.loader import PolicyBundle, load_bundle
    from pctrules.language.parser import parse_expression
    from pctrules.language.schema import CaseSchema, OrgSchema
    from pctrules.language.source import EmbeddedText, SourceFile, Span
    from pctrules.report import render_diagnostics


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pctrules' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
