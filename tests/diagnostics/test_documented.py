"""Issue 11 item 5: every diagnostic code is documented in docs/diagnostics.md, with an example
that is the tool's real output, and the document names no code the tool does not have.

Each code's section holds its meaning, its exit code, how to fix it, and one ```text block of
`$ command` lines, each followed by what it prints (standard output, then standard error). The
commands run, in order, with bash, in a folder holding a copy of `examples/` and `policies/`;
every command but the last must exit 0, the last must exit with the section's exit code, and
each must print exactly the lines shown. `PCTRULES_REGENERATE=1` rewrites the shown output (and
the exit code) from the tool, on purpose.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pctrules.language.diagnostics import Code

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "docs" / "diagnostics.md"
REGENERATE = os.environ.get("PCTRULES_REGENERATE") == "1"
HEADING = re.compile(r"^### `?([EW]-[a-z-]+)`?$", re.M)
EXIT = re.compile(r"^\*\*Exit code:\*\* (\d+)", re.M)
EXAMPLE = re.compile(r"^```text\n(\$ .*?)^```\n", re.M | re.S)


@dataclass
class Section:
    code: str
    start: int  # offsets of the section's text in the document
    end: int

    def text(self, document: str) -> str:
        return document[self.start : self.end]


def sections(document: str) -> dict[str, Section]:
    found = list(HEADING.finditer(document))
    return {
        m.group(1): Section(
            m.group(1), m.end(), found[i + 1].start() if i + 1 < len(found) else len(document)
        )
        for i, m in enumerate(found)
    }


DOCUMENTED = sections(DOCUMENT.read_text(encoding="utf-8"))


def test_every_code_is_documented_and_only_those() -> None:
    heads = HEADING.findall(DOCUMENT.read_text(encoding="utf-8"))
    assert len(heads) == len(set(heads)), "a code has two sections"
    known = {c.value for c in Code}
    assert sorted(known - set(heads)) == [], "codes with no section in docs/diagnostics.md"
    assert sorted(set(heads) - known) == [], "sections for codes the tool does not have"


@pytest.mark.parametrize("code", sorted(DOCUMENTED))
def test_each_section_says_what_it_means_its_exit_code_and_the_fix(code: str) -> None:
    text = DOCUMENTED[code].text(DOCUMENT.read_text(encoding="utf-8"))
    assert text.strip().split("\n")[0].strip(), "the section starts with what the code means"
    assert EXIT.search(text), "no '**Exit code:** N' line"
    assert "**Fix:**" in text, "no '**Fix:**' paragraph"
    assert len(EXAMPLE.findall(text)) == 1, "not exactly one ```text example of $ commands"


def _commands(example: str) -> list[tuple[str, list[str]]]:
    """The example's commands, each with the lines shown under it."""
    out: list[tuple[str, list[str]]] = []
    for line in example.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            out.append((line[2:], []))
        else:
            out[-1][1].append(line)
    return out


def _sandbox(tmp: Path) -> dict[str, str]:
    for name in ("examples", "policies"):
        shutil.copytree(REPO / name, tmp / name)
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PCTRULES_", "NO_COLOR"))}
    return {
        **env,
        "HOME": str(tmp),
        "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
        "COLUMNS": "100",
        "NO_COLOR": "1",
    }


def _run(command: str, cwd: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    printed = (done.stdout + done.stderr).rstrip("\n")
    return done.returncode, printed.split("\n") if printed else []


@pytest.mark.parametrize("code", sorted(DOCUMENTED))
def test_the_example_prints_what_is_shown(tmp_path: Path, code: str) -> None:
    document = DOCUMENT.read_text(encoding="utf-8")
    section = sections(document)[code]
    text = section.text(document)
    example = EXAMPLE.search(text)
    exit_line = EXIT.search(text)
    assert example is not None and exit_line is not None
    env = _sandbox(tmp_path)
    commands = _commands(example.group(1))
    written: list[str] = []
    for i, (command, shown) in enumerate(commands):
        status, printed = _run(command, tmp_path, env)
        last = i == len(commands) - 1
        written += [f"$ {command}", *printed]
        if REGENERATE:
            continue
        assert printed == shown, f"'{command}' printed something else"
        if last:
            assert status == int(exit_line.group(1)), f"'{command}' exited {status}"
        else:
            assert status == 0, f"'{command}' (a step before the example's command) failed"
        if last:
            assert f"[{code}]" in "\n".join(printed) or f'"{code}"' in "\n".join(printed)
    if REGENERATE:
        new_text = text[: example.start(1)] + "\n".join(written) + "\n" + text[example.end(1) :]
        new_text = EXIT.sub(f"**Exit code:** {status}", new_text, count=1)
        DOCUMENT.write_text(
            document[: section.start] + new_text + document[section.end :], encoding="utf-8"
        )
