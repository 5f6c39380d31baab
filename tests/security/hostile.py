"""Hostile inputs for the campaign (test_campaign.py): strategies that make case files, batch
files, bundles, data folders and official files, mostly by damaging valid ones, and the rule
that judges a run: never an internal error (exit 1, a traceback), and only documented exits.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result
from hypothesis import strategies as st

from pctrules import cli as cli_module

TINY = Path(__file__).resolve().parents[1] / "explain" / "tiny"

# Characters that mean something to YAML, CSV, JSON or a terminal, and some that break
# encodings (a lone surrogate is written as the bytes it would be: invalid UTF-8).
SPECIAL = [
    *":{}[],&*!|>'\"%@`#-?=+\n\t \\/.~$",
    "\r",
    "\x00",
    "\x0b",
    "\x1b",
    "\x85",
    "\u2028",
    "\u202e",
    "\ufeff",
    "\ud800",
    "\u00e9",
    "\u03a9",
    "\U0001f600",
    "\uffff",
]
WORDS = [
    "null",
    "~",
    "yes",
    "no",
    "on",
    "0x1F",
    "0123",
    "1e9999",
    "-.inf",
    ".nan",
    "1:20",
    "2011-02-30",
    "2011-09-01",
    "!!int abc",
    "!!python/object:os.system",
    "&a [*a, *a]",
    "*a",
    "<<: *a",
    "---",
    "...",
    "%YAML 1.1",
    "? x",
    "- ",
    "|",
    ">-",
    "A81001",
    "5NT",
    "P1",
    "A1",
    "=HYPERLINK(1)",
    "../../etc/passwd",
    "/dev/zero",
    "~root",
    "${HOME}",
    "\\u0000",
    "x" * 300,
    "9" * 5000,
    "[" * 200,
    "{" * 60,
]


def edits(text: str) -> st.SearchStrategy[str]:
    """`text` damaged by one to six edits: characters or words inserted, spans deleted,
    lines repeated, swapped or indented."""
    lines = max(text.count("\n"), 1)

    def apply(base: str, ops: list[tuple[int, int, int, str]]) -> str:
        out = base
        for kind, a, b, piece in ops:
            n = len(out)
            i, j = (a % (n + 1)), (b % (n + 1))
            i, j = min(i, j), max(i, j)
            if kind == 0:
                out = out[:i] + piece + out[i:]
            elif kind == 1:
                out = out[:i] + out[j:]
            elif kind == 2:
                out = out[:i] + piece + out[j:]
            else:
                rows = out.split("\n")
                k, m = a % len(rows), b % len(rows)
                if kind == 3:
                    rows[k], rows[m] = rows[m], rows[k]
                elif kind == 4:
                    rows.insert(k, rows[m])
                else:
                    rows[k] = " " * (b % 7) + rows[k].lstrip(" ")
                out = "\n".join(rows)
        return out

    piece = st.one_of(
        st.sampled_from(SPECIAL),
        st.sampled_from(WORDS),
        st.text(alphabet=st.sampled_from(SPECIAL), min_size=1, max_size=4),
    )
    op = st.tuples(
        st.integers(0, 5),
        st.integers(0, len(text) + lines),
        st.integers(0, len(text) + lines),
        piece,
    )
    return st.lists(op, min_size=1, max_size=6).map(lambda ops: apply(text, ops))


def encoded(text: str) -> bytes:
    """Text as a file holds it; lone surrogates become the invalid UTF-8 they would be."""
    return text.encode("utf-8", "surrogatepass")


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from(SPECIAL), max_size=8),
    st.sampled_from(WORDS),
    st.dates().map(str),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.text(max_size=8)
            | st.sampled_from(
                ["practice", "residence", "present_in", "id", "date", "person", "minimum"]
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=8,
)


# -- judging a run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one run gave: its exit code, and why it counts as an internal error (if it does)."""

    exit_code: int
    internal: str | None
    output: str


def run_cli(*args: str, input: bytes | str | None = None) -> Outcome:
    """pctrules in-process; an exception that escapes the command counts as internal."""
    cli_module._register()
    result: Result = CliRunner(env={"PCTRULES_DATA": None}).invoke(
        cli_module.cli, list(args), input=input, catch_exceptions=True
    )
    out = result.stdout + result.stderr
    internal = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        internal = f"escaped: {type(result.exception).__name__}: {result.exception}"[:200]
    elif result.exit_code == 1 or "internal error" in out or "Traceback" in out:
        line = next((ln for ln in out.splitlines() if "internal error" in ln), out[-200:])
        internal = line[:200]
    return Outcome(result.exit_code, internal, out)


# -- the places inputs go ---------------------------------------------------------------------


def fresh_bundle(root: Path) -> Path:
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(TINY, root)
    return root


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else encoded(content))
    return path


EPCMEM = "".join(f'"A8{i:04d}","5NT","W","20020401","20130331","0"\n' for i in range(1, 6))
CASE = "id: c1\ndate: 2011-09-01\nperson: {practice: A80001, residence: E16000141}\n"
TINY_CASE = "id: c1\ndate: 2011-09-01\npractice: A1\nminimum: 1\n"


def data_folder(root: Path, source: Path) -> Path:
    """A data folder as `pctrules import` writes it, from a small register."""
    if root.exists():
        shutil.rmtree(root)
    write(source, EPCMEM)
    outcome = run_cli("import", "ods-epcmem", str(source), "--into", str(root))
    assert outcome.exit_code == 0, outcome.output
    return root


def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())
