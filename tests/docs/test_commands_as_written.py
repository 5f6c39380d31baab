"""Issue 9 item 20: every shell command in README.md and docs/*.md runs as written.

Each document's shell blocks (```sh, or any block whose lines start with `pctrules`) run in
order, as one bash script, in a folder holding a copy of the examples and policies and the
input files the commands name (the official files from ../shared when present, else small files
in the same layouts, written here); HOME is that folder, so `~/pct-data` is too. A command shown
with a `$` prompt must also print exactly the lines shown under it.

Left out, each with its reason (nothing else is): creating a virtual environment and installing
into it (tests/test_installed.py and .ci/run do that; the rest of such a line runs, with this
environment's pctrules), running this test suite from inside itself, the benchmarks and the
hostile-input campaign (minutes to an hour of machine time, run by hand), and pictures when
Graphviz is not installed. Interactive commands (`repl`, `lsp`) read an empty standard input;
a command given `--exit-code` may exit 7, its documented "found something".
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "england"
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PROGRAMS = ("pctrules ", "python ", "python3 ", ".venv/bin/", "export ")
INSTALL = re.compile(r"^python3 -m venv \.venv && \.venv/bin/pip install -q \S+ && ")
SKIPPED = {
    ".venv/bin/python -m pytest": "it runs this test suite, from inside itself",
    "python benchmarks/": "a benchmark takes minutes of the machine; see benchmarks/README.md",
    "python tests/security/campaign.py": "the campaign takes an hour of the machine; its "
    "properties run in this suite (tests/security/test_campaign.py)",
}


@dataclass
class Block:
    document: Path
    line: int
    commands: list[str] = field(default_factory=list)
    shown: dict[str, list[str]] = field(default_factory=dict)  # `$ command` → its output


def blocks(document: Path) -> list[Block]:
    """The shell blocks of a document, each with its commands (and what `$` commands print)."""
    text = document.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        language, body = match.group(1), match.group(2)
        lines = body.splitlines()
        if language not in ("sh", "bash", "shell", "console", "") or not any(
            line.removeprefix("$ ").startswith(PROGRAMS) for line in lines
        ):
            continue
        block = Block(document, text[: match.start()].count("\n") + 2)
        prompted: str | None = None
        for line in lines:
            if line.startswith("$ "):
                prompted = line[2:]
                block.commands.append(prompted)
                block.shown[prompted] = []
            elif prompted is not None:
                block.shown[prompted].append(line)
            elif line.startswith(PROGRAMS):
                block.commands.append(line)
        found.append(block)
    return found


ALL = [b for d in DOCUMENTS for b in blocks(d)]


def _why_skipped(command: str) -> str | None:
    for start, reason in SKIPPED.items():
        if INSTALL.sub("", command).startswith(start):
            return reason
    if re.search(r"--format (svg|png)", command) and shutil.which("dot") is None:
        return "pictures need Graphviz's 'dot', which is not installed"
    return None


def test_the_documents_have_commands() -> None:
    readme = [b for b in ALL if b.document.name == "README.md"]
    assert sum(len(b.commands) for b in readme) >= 25
    assert any(b.shown for b in readme)


# -- the sandbox ---------------------------------------------------------------------------

EPCMEM = "".join(f'"A8{i:04d}","5NT","W","20020401","20130331","0"\n' for i in range(1, 4))


def _epraccur() -> str:
    row = [""] * 27
    row[0], row[1], row[9], row[10], row[12], row[14], row[25] = (
        "A80001",
        "THE SURGERY",
        "M1 1AE",
        "19740401",
        "A",
        "5NT",
        "4",
    )
    return ",".join(f'"{c}"' for c in row) + "\n"


def _list_size() -> str:
    header = [
        "Regional Office Name",
        "Regional Office Code",
        "Area Team Name",
        "Area Team Code",
        "PCO Name",
        "PCO Code",
        "Practice Name",
        "Practice Code",
        "Male 0-4",
        "Female 0-4",
    ]
    return ",".join(header) + "\nNORTH,Y54,GM,Q46,MANCHESTER,5NT00,THE SURGERY,A80001,10,12\n"


def _etr() -> str:
    row = [""] * 27
    row[0], row[1], row[2], row[3], row[9], row[10] = (
        "RW3",
        "CENTRAL MANCHESTER NHS TRUST",
        "Y54",
        "Q46",
        "M13 9WL",
        "19940401",
    )
    return ",".join(f'"{c}"' for c in row) + "\n"


INPUTS = {
    # name in the documents: (file in ../shared, or the text written here)
    "ods_epcmem.csv": ("ods_epcmem_2019-08-30.csv", EPCMEM),
    "ods_epcmem_2019-08-30.csv": ("ods_epcmem_2019-08-30.csv", EPCMEM),
    "epcmem.csv": ("ods_epcmem_2019-08-30.csv", EPCMEM),
    "epraccur.csv": ("ods_epraccur_2019.csv", _epraccur()),
    "list_size.csv": ("nhsbsa_patient_list_size_2013-04_to_06.csv", _list_size()),
    "nhsbsa_patient_list_size_2013-04_to_06.csv": (
        "nhsbsa_patient_list_size_2013-04_to_06.csv",
        _list_size(),
    ),
    "nhspd.csv": (
        None,
        "pcd,pcd2,pcds,dointr,doterm,oscty,pct\nM1  1AE,M1   1AE,M1 1AE,198001,,E11000001,5NT\n",
    ),
    "etr.csv": (None, _etr()),
    # Without the register a practice cannot be placed (exit 6): the tour's case is a resident.
    "case.yaml": (None, "id: c1\ndate: 2011-09-01\nperson: {residence: E16000141}\n"),
    "cases.csv": (
        None,
        "id,date,person.practice,person.residence\n"
        "c1,2011-09-01,A80001,E16000141\nc2,2011-09-01,,E16000141\n",
    ),
    "cases.yaml": (
        None,
        "- {id: c1, date: 2011-09-01, person: {residence: E16000141}}\n"
        "- {id: c2, date: 2004-06-01, person: {residence: E16000141}}\n",
    ),
}
# Bundles and data folders the documents name as if the reader had them: a revision of the
# default bundle is a copy of it, a data folder holds the register.
BUNDLES = ["my-revision", "policies/england-v2", "policies/v2"]
DATA_FOLDERS = ["data", "new-data"]


def _sandbox(tmp: Path) -> dict[str, str]:
    """The folder the commands run in, and their environment."""
    for name in ("examples", "policies"):
        shutil.copytree(REPO / name, tmp / name)
    for name, (official, text) in INPUTS.items():
        if official is not None and (SHARED / official).exists():
            shutil.copyfile(SHARED / official, tmp / name)
        else:
            (tmp / name).write_text(text, encoding="utf-8")
    for name in BUNDLES:
        shutil.copytree(REPO / "policies" / "england", tmp / name)
    # `.venv/bin/pctrules` is this environment's: the install itself is tested elsewhere.
    (tmp / ".venv").symlink_to(Path(sys.executable).parent.parent)
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k != "PCTRULES_DATA"}
    env = {**env, "HOME": str(tmp), "PATH": bin_dir + os.pathsep + env.get("PATH", "")}
    for name in DATA_FOLDERS:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pctrules",
                "import",
                "ods-epcmem",
                "ods_epcmem.csv",
                "--into",
                name,
            ],
            cwd=tmp,
            env=env,
            check=True,
            capture_output=True,
        )
    return env


def _script(document: Path) -> tuple[str, list[str]]:
    """The document's commands as one bash script (a marker before each, so a failure names
    it), and the commands left out, with why."""
    lines, left_out = ["set -e -o pipefail"], []
    for block in (b for b in ALL if b.document == document):
        for command in block.commands:
            reason = _why_skipped(command)
            if reason is not None:
                left_out.append(f"{command}: {reason}")
                continue
            where = f"{document.name}:{block.line}: {command}"
            run = INSTALL.sub("", command)
            if "--exit-code" in run:  # exit 7, "found changes or drift", is an answer too
                run = f"{{ {run.split(' #')[0]} ; }} || [ $? -eq 7 ]"
            lines += [f"echo {_quote('### ' + where)} >&2", run]
    return "\n".join(lines) + "\n", left_out


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.mark.parametrize(
    "document", sorted({b.document for b in ALL}), ids=lambda p: str(p.relative_to(REPO))
)
def test_every_command_runs_as_written(tmp_path: Path, document: Path) -> None:
    env = _sandbox(tmp_path)
    script, left_out = _script(document)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    last = [line for line in done.stderr.splitlines() if line.startswith("### ")]
    assert done.returncode == 0, f"failed: {last[-1] if last else script}\n{done.stderr[-3000:]}"
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    for reason in left_out:
        print(f"left out: {reason}")


@pytest.mark.parametrize(
    ("block", "command"),
    [(b, c) for b in ALL for c in b.shown],
    ids=lambda x: x if isinstance(x, str) else f"{x.document.name}:{x.line}",
)
def test_a_prompted_command_prints_what_is_shown(
    tmp_path: Path, block: Block, command: str
) -> None:
    env = _sandbox(tmp_path)
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip("\n").splitlines() == block.shown[command]
