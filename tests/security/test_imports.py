"""Issue 9 items 6 and 16: an import is atomic as a whole, and its files are safe to open.

Item 6: a process killed between the renames of two tables left a new table beside the old
ones and the old manifest, and commands used the mix. Each test below kills the importing
process (as kill -9 would: no clean-up runs) at every rename it makes in turn, and checks that
the folder then decides as the previous import did, or as the new one, never a mix, with no
warning; and that a failed write (the disk full) leaves the folder as it was, with no temporary
file. Item 16: `<layout>.rejected.csv` is opened in spreadsheets: no cell may start a formula.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pctrules.graph.build import load_bundle_graph
from pctrules.graph.importers.registry import LAYOUTS
from pctrules.graph.model import OrgGraph
from pctrules.resources import default_bundle_path
from tests.security.conftest import Run, assert_clean

D = __import__("datetime").date(2011, 9, 1)
# Two versions of a register: every practice moves from 5NT to 5QL between them.
OLD = "".join(f'"A8{i:04d}","5NT","W","20020401","20130331","0"\n' for i in range(1, 40))
NEW = (
    "".join(f'"A8{i:04d}","5QL","W","20020401","20130331","0"\n' for i in range(1, 40))
    + '"=HYPERLINK(1)","5QL","W","20020401","","0"\n'
)

KILL_AT = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    calls, stop = [0], int(sys.argv[1])
    real = os.replace

    def replace(*args, **kwargs):
        if calls[0] == stop:
            os._exit(9)  # as kill -9: nothing after this runs, no clean-up
        calls[0] += 1
        return real(*args, **kwargs)

    os.replace = replace
    from pctrules.graph.importers.registry import run_import
    run_import("ods-epcmem", Path(sys.argv[2]), Path(sys.argv[3]))
""")


def _pcts(graph: OrgGraph) -> set[str | None]:
    return {graph.follow_one(f"A8{i:04d}", "pct", D) for i in range(1, 40)}


def _decides(data: Path) -> str:
    """'old' or 'new': which import the folder decides as; fails on a mix or any problem."""
    _, graph = load_bundle_graph(default_bundle_path(), data)
    assert [
        d.message for d in graph.diagnostics if d.code != "W-data" or "changed since" in d.message
    ] == []
    found = _pcts(graph)
    assert found in ({"5NT"}, {"5QL"}), f"a mix of imports: {found}"
    return "old" if found == {"5NT"} else "new"


def test_a_killed_import_leaves_the_previous_one_whole(tmp_path: Path, run: Run) -> None:
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text(OLD, encoding="utf-8")
    new.write_text(NEW, encoding="utf-8")
    seen = []
    for stop in range(20):
        data = tmp_path / f"d{stop}"
        assert run("import", "ods-epcmem", str(old), "--into", str(data)).exit_code == 0
        done = subprocess.run(
            [sys.executable, "-c", KILL_AT, str(stop), str(new), str(data)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode in (0, 9), done.stderr
        seen.append(_decides(data))
        if done.returncode == 0:
            break
        # The next import sweeps what the killed one left.
        assert run("import", "ods-epcmem", str(new), "--into", str(data)).exit_code == 0
        assert _decides(data) == "new"
        assert not list(data.glob(".*.tmp"))
        assert len(list(data.glob("ods-epcmem.*.csv"))) == 4  # 3 tables and the rejections
    assert seen[0] == "old" and seen[-1] == "new" and len(seen) > 3


FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path
    # Writes past this size fail (EFBIG), as on a full disk; the signal would kill instead.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    from pctrules.cli import main
    sys.argv = ["pctrules", "import", "ods-epcmem", sys.argv[1], "--into", sys.argv[2]]
    main()
""")


@pytest.mark.skipif(
    not hasattr(os, "setpgid") or sys.platform != "linux",
    reason="file size limits are how this test fills the disk",
)
def test_a_full_disk_leaves_the_folder_as_it_was(tmp_path: Path, run: Run) -> None:
    old, big = tmp_path / "old.csv", tmp_path / "big.csv"
    old.write_text(OLD, encoding="utf-8")
    big.write_text(
        "".join(f'"B8{i:04d}","5QL","W","20020401","20130331","0"\n' for i in range(5000)),
        encoding="utf-8",
    )
    data = tmp_path / "d"
    assert run("import", "ods-epcmem", str(old), "--into", str(data)).exit_code == 0
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(big), str(data)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    out = assert_clean(done, 2)
    assert f"cannot write into '{data}'" in out
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before
    assert _decides(data) == "old"


def test_the_rejections_file_is_safe_in_a_spreadsheet(tmp_path: Path, run: Run) -> None:
    source = tmp_path / "new.csv"
    source.write_text(
        NEW + '"A89999","5QL","W","=cmd|x","","0"\n"A89998","5QL","W","\r=cmd","","0"\n',
        encoding="utf-8",
    )
    data = tmp_path / "d"
    assert_clean(run("import", "ods-epcmem", str(source), "--into", str(data)), 0)
    text = (data / "ods-epcmem.rejected.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 4  # the header and three rejected rows, one record each
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert any(cell == "'=HYPERLINK(1)" for row in rows for cell in row)


def test_a_value_holding_a_lone_carriage_return_reads_back_whole(tmp_path: Path, run: Run) -> None:
    fields = ['"A81001"', '"THE\rSURGERY"', *['""'] * 25]
    source = tmp_path / "epraccur.csv"
    source.write_text(",".join(fields) + "\n", encoding="utf-8")
    data = tmp_path / "d"
    assert_clean(run("import", "ods-epraccur", str(source), "--into", str(data)), 0)
    (written,) = data.glob("ods-epraccur.practices.*.csv")
    rows = list(csv.reader(io.StringIO(written.read_bytes().decode("utf-8"), newline="")))
    assert [r[1] for r in rows] == ["name", "THE\rSURGERY"]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_an_empty_file_is_reported_as_empty_in_every_layout(
    tmp_path: Path, run: Run, layout: str
) -> None:
    # Found by the campaign: the list-size importer looked up its header column in an empty
    # file's header and stopped with an internal error (ValueError).
    source = tmp_path / "empty.csv"
    source.write_bytes(b"")
    out = assert_clean(run("import", layout, str(source), "--into", str(tmp_path / "d")), 3)
    assert "the file 'empty.csv' is empty" in out
