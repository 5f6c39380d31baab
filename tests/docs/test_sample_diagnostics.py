"""Issue 9 item 21: the sample diagnostics in README.md and grammar/README.md are what the tool
prints for the mistake they show (they had gone stale: ':12:32' where the tool says ':58:32').

Each sample is made for real: the mistake is written into a copy of the default bundle at
`policies/england`, `pctrules check` runs on it, and the sample must be its diagnostic, line for
line. `PCTRULES_REGENERATE=1` rewrites the samples from the tool, on purpose.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pctrules import cli as cli_module
from pctrules.resources import default_bundle_path

REPO = Path(__file__).resolve().parents[2]
REGENERATE = os.environ.get("PCTRULES_REGENERATE") == "1"
FILE = "responsible-pct.yaml"
# document, the diagnostic's code, and the mistake: text in the rule 'registered-practice'
# replaced by what the sample shows
SAMPLES = [
    (
        "README.md",
        "E-unknown-attribute",
        "when: case.person.practice.pct is not none",
        "when: case.person.practice.pctt is not none",
    ),
    (
        "grammar/README.md",
        "E-syntax",
        "when: case.person.practice.pct is not none",
        "when: case.person.practice.pct = none",
    ),
    (
        "grammar/README.md",
        "E-type",
        "when: case.person.practice.pct is not none",
        "when: case.person.practice.pct.sha == sha('5NT')",
    ),
]


def _sample(text: str, code: str) -> re.Match[str]:
    found = re.search(
        rf"^```\n(policies/england/{re.escape(FILE)}:\d+:\d+: "
        rf"error\[{re.escape(code)}\].*?)^```",
        text,
        re.S | re.M,
    )
    assert found is not None, f"no sample of {code} for {FILE}"
    return found


@pytest.mark.parametrize(("document", "code", "old", "new"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_the_sample_is_what_the_tool_prints(
    tmp_path: Path, document: str, code: str, old: str, new: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "policies" / "england"
    shutil.copytree(default_bundle_path(), bundle)
    policy = bundle / FILE
    text = policy.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    policy.write_text(text.replace(old, new), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    cli_module._register()
    result = CliRunner().invoke(cli_module.cli, ["check", "policies/england"])
    assert result.exit_code == 3
    printed = [
        block + "\n"
        for block in result.stdout.split("\n\n")
        if block.startswith(f"policies/england/{FILE}:") and f"error[{code}]" in block
    ]
    assert len(printed) == 1, result.stdout
    path = REPO / document
    doc = path.read_text(encoding="utf-8")
    sample = _sample(doc, code)
    if REGENERATE:
        path.write_text(
            doc[: sample.start(1)] + printed[0] + doc[sample.end(1) :], encoding="utf-8"
        )
    assert sample.group(1) == printed[0]
