"""Issue 9 item 1 (generated code): nothing from a bundle reaches generated Python except as a
literal. A decision file or bundle folder whose name holds a newline and Python code must not
run that code through `check`, `evaluate`, `explain` or `compile`. (The escaping itself is
pctrules/evaluation/compile.py's; these tests hold it to account from the outside.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.security.conftest import CASE, TINY, pctrules

COMMANDS = [
    ["check", "{bundle}"],
    ["evaluate", "--bundle", "{bundle}", "{case}"],
    ["explain", "--bundle", "{bundle}", "{case}"],
    ["compile", "--bundle", "{bundle}"],
]


# A newline ends the comment line (inside a function body) that the name was copied into; the
# next line, indented to fit, is code writing 'ran.txt' in the working folder (a file name
# cannot hold '/').
PAYLOAD = "\n        open('ran.txt', 'w').write('ran')\n        #"


@pytest.mark.parametrize("where", ["decision file", "bundle folder"])
@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_name_holding_code_never_runs(tmp_path: Path, where: str, command: list[str]) -> None:
    marker = tmp_path / "ran.txt"
    if where == "bundle folder":
        root = tmp_path / f"b{PAYLOAD}"
        shutil.copytree(TINY, root)
    else:
        root = tmp_path / "b"
        shutil.copytree(TINY, root)
        (root / "pick.yaml").rename(root / f"pick{PAYLOAD}.yaml")
    case = tmp_path / "case.yaml"
    case.write_text(CASE, encoding="utf-8")
    args = [a.format(bundle=root, case=case) for a in command]
    done = pctrules(*args, cwd=tmp_path)
    assert not marker.exists(), done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.returncode in (0, 3), done.stdout + done.stderr
