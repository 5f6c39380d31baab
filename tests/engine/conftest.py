"""Fixtures for the evaluator tests: the default bundle with and without the real practice
register, and small bundles written for one test."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pctrules.bundle import open_bundle
from pctrules.evaluation.engine import Engine

REPO = Path(__file__).resolve().parents[2]
ENGLAND = REPO / "policies" / "england"


@pytest.fixture(scope="session")
def england(register: Path) -> Engine:
    """The default bundle over the real register."""
    return Engine(open_bundle(ENGLAND, register))


@pytest.fixture(scope="session")
def england_no_register() -> Engine:
    """The default bundle with no practice register imported."""
    return Engine(open_bundle(ENGLAND))


MANIFEST = """\
bundle: tiny
version: "1"
case:
  id: string
  date: date
  practice: practice?
  groups: set[grp]?
  n: int?
  x: number?
  note: string?
  flag: bool?
schema:
  kinds:
    pct:
      attributes:
        population: int?
    practice: {}
    grp: {}
  relations:
    part_of: {from: practice, to: pct, one: true, inverse: practices, name: pct}
    member_of: {from: pct, to: grp, inverse: members, name: groups}
data:
  - {path: pct.csv, kind: pct}
  - {path: practice.csv, kind: practice}
  - {path: part_of.csv, relation: part_of}
  - {path: grp.csv, kind: grp}
  - {path: member_of.csv, relation: member_of}
"""

TABLES = {
    "pct.csv": "code,name,population,valid_from,valid_to\n"
    "A,Alpha PCT,100,,\nB,Beta PCT,300,,\nC,Gamma PCT,300,,\n"
    "D,Delta PCT,,2002-04-01,2010-03-31\n",
    "practice.csv": "code,name,valid_from,valid_to\nP1,One,2002-04-01,\nP2,Two,2002-04-01,\n"
    "P3,Three,2002-04-01,2009-12-31\n",
    "part_of.csv": "from,to,valid_from,valid_to\nP1,A,2002-04-01,2008-03-31\n"
    "P1,B,2008-04-01,2013-03-31\nP2,C,2002-04-01,2013-03-31\n"
    "P3,D,2002-04-01,2009-12-31\n",
    "grp.csv": "code,name\nG1,Group one\nG2,Group two\nG3,Empty group\n",
    "member_of.csv": "from,to\nA,G1\nB,G2\nC,G2\n",
}

MakeBundle = Callable[..., Engine]


@pytest.fixture
def tiny(tmp_path: Path) -> MakeBundle:
    """A small bundle with the given decision files ({file name: YAML text})."""

    def make(
        decisions: dict[str, str], manifest: str = MANIFEST, tables: dict[str, str] | None = None
    ) -> Engine:
        root = tmp_path / "tiny"
        root.mkdir(exist_ok=True)
        (root / "bundle.yaml").write_text(manifest, encoding="utf-8")
        for name, text in (TABLES if tables is None else tables).items():
            (root / name).write_text(text, encoding="utf-8")
        for name, text in decisions.items():
            (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return Engine(open_bundle(root))

    return make
