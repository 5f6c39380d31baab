"""Issue 9 item 22: an indentation mistake is reported on the line that broke the structure,
with a hint that says which column the line belongs in.

A `then:` dedented to the top level used to be reported two lines later, at the next rule, as
"unexpected ':'" with a hint about quoting; a `then:` as deep as the folded `when:` text above
was "unexpected 'then'". Each case moves the `then:` of the first rule (line 8, column 5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pctrules import cli as cli_module

TINY = Path(__file__).resolve().parents[1] / "explain" / "tiny"
DECISION = """\
decision: size
output: string
rules:
  - id: large
    when: >-
      case.practice.population is not none and case.minimum is not none
      and case.practice.population > case.minimum
{then}: "'large'"

  - id: small
    then: "'small'"
"""


@pytest.mark.parametrize(
    ("indent", "at", "message", "help"),
    [
        (
            0,
            "8:1",
            "the key 'then' is less indented than 'when' above it, so it ends the list "
            "under 'rules', which line 10 goes on with",
            "indent it to column 5, like 'when' on "
            "line 5, if it belongs with it; else move it below the list under 'rules'",
        ),
        (
            1,
            "8:2",
            "the key 'then' is less indented than 'when' above it, so it is not part of the "
            "same mapping",
            "indent it to column 5, like 'when' on line 5, if it belongs with it",
        ),
        (
            2,
            "8:3",
            "the key 'then' is less indented than 'when' above it, so it is not part of the "
            "same mapping",
            "indent it to column 5, like 'when' on line 5, if it belongs with it",
        ),
        (
            3,
            "8:4",
            "the key 'then' is less indented than 'when' above it, so it is not part of the "
            "same mapping",
            "indent it to column 5, like 'when' on line 5, if it belongs with it",
        ),
        (
            5,
            "8:6",
            "the key 'then' is more indented than 'when' above it, so it is not part of the "
            "same mapping",
            "indent it to column 5, like 'when' on line 5, if it belongs with it",
        ),
        (
            6,
            "8:7",
            "'then:' is read as part of this expression",
            "YAML takes a line indented as "
            "deep as the text above into that text: indent 'then:' like the key before the text",
        ),
    ],
)
def test_a_moved_then_is_reported_where_it_is(
    tmp_path: Path, indent: int, at: str, message: str, help: str
) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(TINY, bundle)
    (bundle / "size.yaml").write_text(DECISION.format(then=" " * indent + "then"), encoding="utf-8")
    cli_module._register()
    result = CliRunner().invoke(cli_module.cli, ["check", str(bundle), "--format", "json"])
    assert result.exit_code == 3, result.output
    found = [
        d for d in json.loads(result.stdout)["diagnostics"] if d["at"] == f"{bundle}/size.yaml:{at}"
    ]
    assert [(d["message"], d["help"]) for d in found] == [(message, help)]


def test_a_key_put_between_list_items_is_named_with_both_ways_out(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(TINY, bundle)
    (bundle / "size.yaml").write_text(
        "decision: size\noutput: string\nrules:\n  - id: large\n    then: \"'large'\"\n"
        "default: \"'unsized'\"\n  - id: small\n    then: \"'small'\"\n",
        encoding="utf-8",
    )
    cli_module._register()
    result = CliRunner().invoke(cli_module.cli, ["check", str(bundle)])
    assert result.exit_code == 3
    assert (
        "size.yaml:6:1: error[E-yaml]: the key 'default' is less indented than 'then' "
        "above it, so it ends the list under 'rules', which line 7 goes on with" in result.output
    )
