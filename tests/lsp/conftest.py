"""Fixtures for the language server tests: the real `pctrules lsp` over stdio (pytest-lsp's
client), and a small bundle on disk to open in it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

MANIFEST = """\
bundle: small
version: "1"
case:
  id: string
  date: date
  person:
    practice: practice?
    residence: area?
schema:
  kinds:
    pct:
      title: Primary Care Trust
      attributes:
        population: int
    practice: {}
    area: {}
  relations:
    part_of: {from: practice, to: pct, one: true, inverse: practices, name: pct}
    covers: {from: pct, to: area, inverse: covered_by, inverse_one: true}
data:
  - {path: pct.csv, kind: pct}
  - {path: area.csv, kind: area}
  - {path: covers.csv, relation: covers}
parameters:
  mode:
    type: string
    choices: [home, present]
    default: home
"""

RESPONSIBLE = """\
decision: responsible_pct
title: The PCT responsible for the person
output: pct?
hit: first
rules:
  - id: registered
    title: Registered with a practice
    cite: "Data Dictionary (a)"
    reason: "1"
    when: case.person.practice.pct is not none
    then: case.person.practice.pct
  - id: resident
    reason: "4"
    when: case.person.residence.covered_by is not none
    then: case.person.residence.covered_by
  - id: unknown
    then: none
"""

LARGE = """\
decision: large
title: Whether the responsible PCT is large
output: bool
rules:
  - id: large-pct
    when: responsible_pct is not none and responsible_pct.population > 300000
  - id: small-pct
    then: false
"""

TESTS = """\
- name: Somerset resident
  case: {id: a, date: 2011-09-01, person: {residence: E16000141}}
  expect:
    responsible_pct: {value: 5QL, rule: resident}
"""

DATA = {
    "pct.csv": "code,name,population,valid_from,valid_to\n"
    "5QL,Somerset PCT,530000,2006-10-01,2013-03-31\n",
    "area.csv": "code,name\nE16000141,Somerset\n",
    "covers.csv": "from,to,valid_from,valid_to\n5QL,E16000141,2006-10-01,2013-03-31\n",
}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A small correct bundle: two decisions, a policy test, and data."""
    root = tmp_path / "small"
    (root / "tests").mkdir(parents=True)
    (root / "bundle.yaml").write_text(MANIFEST)
    (root / "responsible-pct.yaml").write_text(RESPONSIBLE)
    (root / "large.yaml").write_text(LARGE)
    (root / "tests" / "t.yaml").write_text(TESTS)
    for name, text in DATA.items():
        (root / name).write_text(text)
    return root


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "pctrules", "lsp"])
)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()
