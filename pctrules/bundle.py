"""Orchestration: a bundle folder is loaded, its schemas built and its policies checked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pctrules.evaluation.compile import CompiledBundle, compile_bundle, unavailable_kinds
from pctrules.evaluation.constraints import data_constraint_problems
from pctrules.graph.build import build_graph, data_entry_problem, data_path_problem
from pctrules.graph.cache import cached_graph, graph_key
from pctrules.graph.model import OrgGraph
from pctrules.language.check import check_bundle
from pctrules.language.check.codes import code_problems
from pctrules.language.check.state import CheckedBundle
from pctrules.language.diagnostics import Diagnostics, ExitCode, PctrulesError
from pctrules.language.loader import PolicyBundle, load_bundle, path_label
from pctrules.language.schema import CaseSchema, OrgSchema
from pctrules.resources import default_bundle_path

if TYPE_CHECKING:
    from pctrules.language.source import SourceFile
    from pctrules.policytests import PolicyTest


@dataclass(frozen=True)
class Bundle:
    """A bundle ready to use: its policies checked; `diagnostics` holds the warnings."""

    path: Path
    policy: PolicyBundle
    checked: CheckedBundle
    diagnostics: Diagnostics
    data_dir: Path | None = None

    @property
    def schema(self) -> OrgSchema:
        return self.checked.schema

    @property
    def case_schema(self) -> CaseSchema:
        return self.checked.case_schema

    @cached_property
    def graph(self) -> OrgGraph:
        """The organisation graph: the bundle's data and the tables imported into `data_dir`,
        built on first use; its load problems, and the bundle's data constraints that the data
        breaks, and the code literals (`sha('Q39')`) that it contradicts, are in
        `graph.diagnostics`."""
        entries = [e.as_mapping() for e in self.policy.manifest.data]
        graph = cached_graph(
            lambda: graph_key(self.path, entries, self.data_dir),
            self.schema,
            lambda: build_graph(self.schema, entries, self.path, self.data_dir, self.show_path),
        )
        graph.diagnostics.extend(data_constraint_problems(self.checked, graph))
        graph.diagnostics.extend(code_problems(self.checked, graph))
        return graph

    def show_path(self, path: Path) -> str:
        """A data file as users see it (`england/data/pct.csv`): see `loader.path_label`."""
        return path_label(self.path)(path)

    @cached_property
    def compiled(self) -> CompiledBundle:
        """The decisions compiled to Python for this bundle's graph, on first use."""
        return compile_bundle(self.checked, unavailable_kinds(self.checked, self.graph))


@dataclass(frozen=True)
class Stages:
    """What each stage produced for one bundle folder, and every problem found on the way."""

    policy: PolicyBundle | None
    checked: CheckedBundle | None
    diagnostics: Diagnostics


def run_stages(
    path: Path | None,
    *,
    display_root: str | None = None,
    read: Callable[[Path], bytes] | None = None,
) -> Stages:
    """Load → schemas → check; stops early only when a stage has nothing to give the next.

    `display_root` and `read` are the loader's (how paths are shown, how files are read)."""
    policy, diagnostics = load_bundle(
        path or default_bundle_path(), display_root=display_root, read=read
    )
    if policy is None:
        return Stages(None, None, diagnostics)
    manifest = policy.manifest
    schema = OrgSchema.from_mapping(manifest.schema, diagnostics, manifest.where)
    case_schema = CaseSchema.from_mapping(manifest.case, schema, diagnostics, manifest.where)
    show = path_label(policy.root)
    for entry in manifest.data:
        # Without kinds, every data entry would be reported again; a path out of the bundle is
        # reported whatever else is wrong.
        problem = (
            data_entry_problem(schema, entry.as_mapping(), policy.root, show)
            if schema.kinds
            else data_path_problem(entry.as_mapping(), policy.root)
        )
        if problem is not None:
            diagnostics.add(problem)
    checked, problems = check_bundle(policy, schema, case_schema)
    # One problem, one report: the loader's schema may already have refused what the checker
    # refuses again at the same place (a malformed `output`, say).
    reported = {(d.code, str(d.span)) for d in diagnostics if d.span is not None}
    diagnostics.extend(p for p in problems if (p.code, str(p.span)) not in reported)
    return Stages(policy, checked, diagnostics)


def open_bundle(path: Path | None, data_dir: Path | None = None) -> Bundle:
    """A checked bundle (None: the embedded default) with its graph built; raises PctrulesError
    (exit 3) on errors in the policies or in the data: a data row that cannot be loaded, a
    data file that cannot be read, a constraint the data breaks (DESIGN §11: never decide on
    what is left). The data's warnings are in `bundle.graph.diagnostics`."""
    stages = run_stages(path)
    if stages.diagnostics.has_errors or stages.policy is None or stages.checked is None:
        raise PctrulesError(stages.diagnostics.sorted(), ExitCode.INVALID_POLICY)
    bundle = Bundle(stages.policy.root, stages.policy, stages.checked, stages.diagnostics, data_dir)
    if bundle.graph.diagnostics.has_errors:
        raise PctrulesError(bundle.graph.diagnostics.sorted(), ExitCode.INVALID_POLICY)
    return bundle


def check_path(
    path: Path | None, data_dir: Path | None = None
) -> tuple[dict[str, int], Diagnostics]:
    """What `pctrules check` reports: counts of what was checked, and every diagnostic: the
    policy tests' files, and the data (the bundle's own tables and those of `data_dir`)."""
    from pctrules.policytests import check_tests, read_tests  # it builds on this module

    stages = run_stages(path)
    policy = stages.policy
    tests: list[PolicyTest] = []
    test_files: list[SourceFile] = []
    if policy is not None:
        tests, problems, test_files = read_tests(policy)
        stages.diagnostics.extend(problems)
        if stages.checked is not None:
            stages.diagnostics.extend(check_tests(tests, stages.checked))
    if (
        policy is not None
        and stages.checked is not None
        and not any(
            d.is_error and (d.span is None or d.span.path == policy.manifest.source.path)
            for d in stages.diagnostics
        )
    ):
        # The data is loaded once the manifest is sound (else it would only echo its errors).
        graph = Bundle(policy.root, policy, stages.checked, stages.diagnostics, data_dir).graph
        stages.diagnostics.extend(graph.diagnostics)
    summary = {
        "files": len(policy.files) + len(test_files) if policy else 0,
        "decisions": len(policy.decisions) if policy else 0,
        "rules": sum(len(d.rules) for d in policy.decisions) if policy else 0,
        "constraints": len(policy.constraints) if policy else 0,
        "tests": len(tests),
    }
    return summary, stages.diagnostics
