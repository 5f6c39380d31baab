"""OrgGraph: as-of lookups, evidence, validation of data on load, and the PCT-era constraints."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from pctrules.bundle import open_bundle
from pctrules.graph.build import load_bundle_graph
from pctrules.graph.model import EdgeEvidence, OrgGraph
from pctrules.language.diagnostics import Diagnostic, PctrulesError

D = dt.date.fromisoformat


@pytest.fixture(scope="module")
def graph(bundle_dir: Path) -> OrgGraph:
    _, g = load_bundle_graph(bundle_dir)
    assert [d.message for d in g.diagnostics] == []
    return g


@pytest.mark.parametrize(
    ("day", "shas", "pcts", "clusters", "scgs"),
    [
        ("2006-10-01", 10, 152, 0, 0),
        ("2009-04-01", 10, 152, 0, 10),
        ("2010-04-01", 10, 151, 0, 10),
        ("2011-09-01", 10, 151, 50, 10),
        ("2013-03-31", 10, 151, 49, 10),  # North East London's two clusters one from 2012-04-01
        ("2013-04-01", 0, 0, 0, 0),
    ],
)
def test_the_bundle_map(
    graph: OrgGraph,
    day: str,
    shas: int,
    pcts: int,
    clusters: int,
    scgs: int,
) -> None:
    on = D(day)
    assert [len(graph.nodes_of_kind(k, on)) for k in ("sha", "pct", "cluster", "scg")] == [
        shas,
        pcts,
        clusters,
        scgs,
    ]


def test_lookups(graph: OrgGraph) -> None:
    on = D("2011-09-01")
    assert graph.follow_one("5NT", "sha", on) == "Q31"
    assert graph.name("5NT") == "Manchester Teaching PCT"
    assert graph.follow_one("5NT", "cluster", on) == "CL-GREATER-MANCHESTER"
    assert len(graph.follow_many("CL-GREATER-MANCHESTER", "members", on)) == 10
    assert graph.attr("CL-GREATER-MANCHESTER", "evidence", on) == "name+count"
    assert graph.follow_one("E16000141", "covered_by", on) == "5QL"  # residence: E16000141
    assert graph.follow_one("Q31", "scg", on) == "SCG-Q31"
    assert graph.follow_one("5NT", "scg", on) == "SCG-Q31"
    # Bassetlaw: an East Midlands PCT in the South Yorkshire cluster.
    assert graph.follow_one("5ET", "sha", on) == "Q33"
    assert graph.follow_one("5ET", "scg", on) == "SCG-Q33"
    assert graph.follow_one("5ET", "cluster", on) == "CL-SOUTH-YORKSHIRE-AND-BASSETLAW"
    assert graph.follow_many("YDD82", "services", on) == {
        "NCG-HEART-TX",
        "NCG-LUNG-TX",
        "NCG-LIVER-TX",
    }
    assert graph.attr("SSNDS-06", "ssnds", on) == 6
    assert graph.attr("SSNDS-06", "category", on) == "specialised"
    assert graph.follow_many("5QL", "partners", on) == {"E10000027", "RBA", "RA4", "RH5"}
    assert graph.within("5NT", "Q31", on) and not graph.within("5NT", "Q32", on)
    assert graph.within("5NT", "SCG-Q31", on)
    assert graph.follow_one("5NT", "sha", D("2006-09-30")) is None


def test_successions_by_date(graph: OrgGraph) -> None:
    area = "E16000151"  # Solihull
    assert graph.follow_one(area, "covered_by", D("2011-04-14")) == "TAM"
    assert graph.follow_one(area, "covered_by", D("2011-04-15")) == "5QW"
    [used] = graph.edges_used(area, "covered_by", D("2011-04-15"))
    assert used == EdgeEvidence(
        "5QW", "covers", area, D("2011-04-15"), D("2013-03-31"), used.source
    )
    assert used.source.endswith("covers.csv:155")
    evidence = graph.edges_used("5NT", "sha", D("2011-09-01"))[0].to_dict()
    assert (evidence["from"], evidence["rel"], evidence["to"], evidence["valid"]) == (
        "5NT",
        "managed_by",
        "Q31",
        ["2006-10-01", "2013-03-31"],
    )


def test_digest_is_stable(bundle_dir: Path, graph: OrgGraph) -> None:
    _, again = load_bundle_graph(bundle_dir)
    assert again.digest == graph.digest and graph.digest.startswith("sha256:")


def test_index_one_is_fast_path(graph: OrgGraph) -> None:
    index = graph.index("pct", "sha")
    assert index.one("5NT", D("2011-09-01")) == "Q31"
    assert index.one("5NT", D("2001-01-01")) is None
    assert index.one("nope", D("2011-09-01")) is None
    assert index.many("5NT", D("2011-09-01")) == {"Q31"}


# -- damaged bundle tables: every problem reported with file, row, column and value ---------


@pytest.fixture
def bundle_copy(bundle_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "england"
    shutil.copytree(bundle_dir, copy)
    return copy


def append(path: Path, *lines: str) -> int:
    """Append lines to a table; returns the line number of the first one."""
    first = len(path.read_text().splitlines()) + 1
    with path.open("a") as f:
        f.write("".join(line + "\n" for line in lines))
    return first


def add_data_entries(bundle: Path, *entries: str) -> None:
    """Add flow-mapping entries to the end of the manifest's `data:` list, wherever it sits."""
    manifest = bundle / "bundle.yaml"
    lines = manifest.read_text().splitlines()
    start = lines.index("data:")
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "#")) or not lines[end].strip()):
        end += 1
    lines[end:end] = [f"  - {entry}" for entry in entries]
    manifest.write_text("\n".join(lines) + "\n")


def messages(g: OrgGraph) -> list[tuple[str, str, str]]:
    return [
        (d.code, str(d.span).rsplit("/", 1)[-1] if d.span else "", d.message) for d in g.diagnostics
    ]


def test_damaged_tables(bundle_copy: Path) -> None:
    data = bundle_copy / "data"
    row = append(
        data / "pct.csv",
        "5ZZ,Inverted PCT,,false,2012-01-01,2011-01-01,",
        "5ZY,Bad date PCT,,false,2012-31-01,,",
        "5NT,Manchester again,,false,2006-10-01,2013-03-31,",
        "5ZX,Short",
    )
    edge = append(
        data / "managed-by.csv",
        "5NT,Q32,2012-01-01,2013-03-31",  # a PCT under two SHAs at once
        "5NT,Q99,2012-01-01,2013-03-31",
    )  # dangling reference
    _, g = load_bundle_graph(bundle_copy)
    got = messages(g)
    # Columns are characters (where the value starts), as in the snippet under the message.
    assert (
        "E-data",
        f"pct.csv:{row}:25",
        "'5ZZ' is valid from 2012-01-01 to 2011-01-01: the dates are inverted",
    ) in got
    assert (
        "E-data",
        f"pct.csv:{row + 1}:25",
        "'2012-31-01' in column 'valid_from' is not a date",
    ) in got
    assert any(
        s == f"pct.csv:{row + 2}:1" and m.startswith("duplicate code '5NT', first on row")
        for _, s, m in got
    )
    assert ("E-data", f"pct.csv:{row + 3}:10", "the row has 2 fields, the header 7") in got
    two = [(s, m) for c, s, m in got if "two sha" in m]
    assert len(two) == 1 and two[0][0] == f"managed-by.csv:{edge}:1"
    assert two[0][1].startswith("'5NT' has two sha at once: 'Q31' (2006-10-01 → 2013-03-31, ")
    assert two[0][1].endswith(
        "and 'Q32' (2012-01-01 → 2013-03-31) overlap from 2012-01-01 to 2013-03-31"
    )
    assert (
        "E-data",
        f"managed-by.csv:{edge + 1}:1",
        "'5NT' managed_by 'Q99' names 'Q99', which no table defines",
    ) in got
    # The rest still loads: 5NT keeps its SHA; the good PCTs are all there.
    assert g.follow_one("5NT", "sha", D("2012-06-01")) == "Q31"
    assert len(g.nodes_of_kind("pct", D("2011-09-01"))) == 151


def test_unknown_kind_code_and_column(bundle_copy: Path) -> None:
    data = bundle_copy / "data"
    (data / "extra.csv").write_text(
        "from,to,valid_from,valid_to,colour\n"
        "5NT,CL-NOWHERE,2011-06-01,2013-03-31,red\n"
        "Q31,CL-GREATER-MANCHESTER,2011-06-01,2013-03-31,\n"
    )
    add_data_entries(
        bundle_copy,
        "{path: data/extra.csv, relation: in_cluster}",
        "{path: data/services.csv, kind: servise}",
    )
    _, g = load_bundle_graph(bundle_copy)
    got = [m for _, _, m in messages(g)]
    assert "unknown column 'colour': not an attribute of relation 'in_cluster'" in got
    assert "relation 'in_cluster' goes from pct, but 'Q31' is a sha" in got
    # An unknown kind is the data entry's problem, reported where bundle.yaml names it.
    servise = [d for d in g.diagnostics if d.message.startswith("unknown kind 'servise' for '")]
    assert len(servise) == 1 and servise[0].message.endswith("/data/services.csv'")
    assert str(servise[0].span).startswith(f"{bundle_copy}/bundle.yaml:")
    assert servise[0].help == "did you mean 'service'?"


# -- constraints (DESIGN §3.1): the bundle's own, with 'check: data' -----------------------------


def _data_problems(bundle: Path) -> list[Diagnostic]:
    """The diagnostics of a bundle whose data breaks an error constraint: opening it stops
    (DESIGN §11), with every problem of the data, warnings too, in order."""
    with pytest.raises(PctrulesError) as stopped:
        open_bundle(bundle)
    return stopped.value.diagnostics


def test_constraint_pct_under_one_sha(bundle_copy: Path) -> None:
    table = bundle_copy / "data" / "managed-by.csv"
    table.write_text(
        "\n".join(line for line in table.read_text().splitlines() if not line.startswith("5QL,"))
        + "\n"
        "5QL,Q39,2006-10-01,2009-03-31\n"
    )
    constraint = [d for d in _data_problems(bundle_copy) if d.code == "E-constraint"]
    assert [(d.rule, d.message) for d in constraint] == [
        ("pct-one-sha", "a PCT is under no SHA: '5QL' from 2009-04-01 to 2013-03-31"),
        (
            "scg-members",
            "an SCG's members are not exactly the PCTs of its SHA: 'SCG-Q39' from "
            "2009-04-01 to 2013-03-31",
        ),
    ]


def test_constraint_scg_members(bundle_copy: Path) -> None:
    table = bundle_copy / "data" / "scg-members.csv"
    table.write_text(
        "\n".join(line for line in table.read_text().splitlines() if not line.startswith("5NT,"))
        + "\n"
    )
    assert [d.message for d in _data_problems(bundle_copy) if d.code == "E-constraint"] == [
        "an SCG's members are not exactly the PCTs of its SHA: 'SCG-Q31' from 2007-04-01 to "
        "2013-03-31"
    ]


def test_a_pct_the_bundle_does_not_name_is_a_warning_from_the_2006_map(bundle_copy: Path) -> None:
    (bundle_copy / "practices.csv").write_text(
        '"A81001","5ZZ","W","20050401","20070331","0"\n'
        '"A81002","5ZY","W","20050401","20060930","0"\n'
    )
    add_data_entries(bundle_copy, "{path: practices.csv, layout: ods-epcmem}")
    # 5ZY closed before the 2006 map; 5ZZ, on it, is also under no SHA.
    assert [(d.code, d.rule, d.message) for d in _data_problems(bundle_copy)] == [
        (
            "E-constraint",
            "pct-one-sha",
            "a PCT is under no SHA: '5ZZ' from 2006-10-01 to 2007-03-31",
        ),
        (
            "W-constraint",
            "pct-named",
            "a PCT is not known to the bundle (add it to "
            "data/pct.csv, or check the imported file for a bad parent code): '5ZZ' from "
            "2006-10-01 to 2007-03-31",
        ),
    ]


def test_constraint_one_lead_per_cluster(bundle_copy: Path) -> None:
    (bundle_copy / "data" / "leads.csv").write_text(
        "from,to,valid_from,valid_to\n"
        "5NT,CL-GREATER-MANCHESTER,2011-06-01,2013-03-31\n"
        "5HQ,CL-GREATER-MANCHESTER,2012-01-01,2013-03-31\n"
    )
    add_data_entries(bundle_copy, "{path: data/leads.csv, relation: lead_of}")
    _, g = load_bundle_graph(bundle_copy)
    assert [d.message for d in g.diagnostics] == [
        "'CL-GREATER-MANCHESTER' has two lead at once: '5NT' (2011-06-01 → 2013-03-31, "
        f"{bundle_copy / 'data' / 'leads.csv'}:2) and '5HQ' (2012-01-01 → 2013-03-31) overlap "
        "from 2012-01-01 to 2013-03-31"
    ]
    assert g.follow_one("CL-GREATER-MANCHESTER", "lead", D("2012-06-01")) == "5NT"


def test_bundle_may_name_an_official_file(bundle_copy: Path) -> None:
    (bundle_copy / "practices.csv").write_text(
        '"A81001","5E1","W","20010401","20130331","0"\n'
        '"A81002","5E1","W","2001-04-01","20130331","0"\n'
    )
    add_data_entries(
        bundle_copy,
        "{path: practices.csv, layout: ods-epcmem}",
        "{path: absent.csv, layout: ods-epcmem, optional: true}",
    )
    _, g = load_bundle_graph(bundle_copy)
    assert g.loaded("practice") and g.follow_one("A81001", "pct", D("2011-09-01")) == "5E1"
    [problem] = g.diagnostics
    assert str(problem.span).endswith("practices.csv:2:4")
    assert problem.message == "join date '2001-04-01' is not a date (YYYYMMDD)"
