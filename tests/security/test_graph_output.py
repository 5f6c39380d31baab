"""Issue 9 items 14 and 20, for `pctrules graph`: its output is written whole or not at all, a
device or pipe given as `--output` is refused (never replaced by a file), a picture without
`--output` goes to a file named after what it shows, and usage errors are not called data
errors."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.security.conftest import Run, assert_clean

TREE = ["graph", "--as-of", "2011-09-01", "--focus", "5ET", "--depth", "1"]
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="pictures need Graphviz's 'dot', which is not installed"
)


def test_a_named_pipe_as_output_is_refused_and_left_alone(run: Run, tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    out = assert_clean(run(*TREE, "-o", str(pipe)), 2)
    assert "error[E-usage]" in out and "is a named pipe, not a file" in out
    assert stat.S_ISFIFO(pipe.stat().st_mode)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="making a device node needs root"
)
def test_a_device_as_output_is_refused_and_left_alone(run: Run, tmp_path: Path) -> None:
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    out = assert_clean(run(*TREE, "-o", str(device)), 2)
    assert "is a device, not a file" in out
    assert stat.S_ISCHR(device.stat().st_mode)


FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000, 2_000))
    from pctrules.cli import main
    sys.argv = ["pctrules", *sys.argv[1:]]
    main()
""")


@pytest.mark.skipif(sys.platform != "linux", reason="file size limits fill the disk here")
def test_a_full_disk_leaves_the_previous_output_whole(tmp_path: Path) -> None:
    output = tmp_path / "graph.json"
    output.write_text("the previous output\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            FULL_DISK,
            "graph",
            "--as-of",
            "2011-09-01",
            "--format",
            "json",
            "-o",
            str(output),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert f"cannot write '{output}'" in assert_clean(done, 2)
    assert output.read_text(encoding="utf-8") == "the previous output\n"
    assert [p.name for p in tmp_path.iterdir()] == ["graph.json"]


@needs_dot
def test_a_picture_without_output_goes_to_a_file_named_after_it(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = assert_clean(run(*TREE, "--format", "png"), 0)
    assert "wrote '5ET-2011-09-01.png'" in out
    assert (tmp_path / "5ET-2011-09-01.png").read_bytes().startswith(b"\x89PNG")
    svg = assert_clean(run(*TREE, "--format", "svg", "-o", "-"), 0)
    assert "<svg" in svg


def test_usage_errors_are_not_called_data_errors(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = assert_clean(run("graph", "--format", "png"), 2)
    assert "error[E-usage]" in out and "E-data" not in out
    monkeypatch.setenv("PATH", str(tmp_path))  # no Graphviz
    out = assert_clean(run(*TREE, "--format", "png"), 2)
    assert "error[E-usage]: cannot draw a picture" in out and "E-data" not in out
    out = assert_clean(run(*TREE, "-o", str(tmp_path / "no" / "such" / "folder.txt")), 2)
    assert "error[E-usage]: cannot write" in out and "E-data" not in out


def test_a_name_cannot_end_its_dot_label_and_add_attributes(run: Run, bundle: Path) -> None:
    """Found beyond issue 9's list: a name's quotes were swapped for ', but not its backslashes,
    so a name ending in one escaped the label's closing quote, and text from the data was read
    as DOT attributes (a link, in the SVG a browser opens)."""
    name = 'First\\", URL="javascript:alert(1)", x="\\'
    table = bundle / "data" / "pct.csv"
    table.write_text(
        table.read_text(encoding="utf-8").replace(
            "P1,First PCT", '"P1","' + name.replace('"', '""') + '"'
        ),
        encoding="utf-8",
    )
    dot = assert_clean(
        run(
            "graph",
            "--bundle",
            str(bundle),
            "--as-of",
            "2011-09-01",
            "--focus",
            "P1",
            "--format",
            "dot",
        ),
        0,
    )
    expected = "P1\\n" + name.replace("\\", "\\\\").replace('"', '\\"')
    assert f'"P1" [label="{expected}", fillcolor=' in dot
    if shutil.which("dot") is not None:
        svg = assert_clean(
            run(
                "graph",
                "--bundle",
                str(bundle),
                "--as-of",
                "2011-09-01",
                "--focus",
                "P1",
                "--format",
                "svg",
                "-o",
                "-",
            ),
            0,
        )
        assert "href" not in svg  # the name is the box's text, not a link
