"""Batch stage, files: the input and output paths checked, the output written atomically.

The output goes to a temporary `.NAME.xxxxxxxx.partial` beside it, renamed over it only when
the run completes. The running batch holds a lock on its temporary file, so a later run can tell
the leftover of a killed run (no lock: removed) from the file of a run still going (locked).
Every problem with the environment (a folder that cannot be written, a full disk, an input that
is not a regular file) is an error naming the file and what is wrong (exit 2), never a crash.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path
from types import TracebackType

from pctrules.language.diagnostics import Code, ExitCode, PctrulesError, error

try:
    import fcntl
except ImportError:  # Windows: no locks, so leftovers are not recognised (nor removed)
    fcntl = None  # type: ignore[assignment]


class BatchFileError(PctrulesError):
    """An input or output file that cannot be used, read or written (exit 2)."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(error(Code.IO, message, None, help), ExitCode.USAGE)


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def check_input(path: Path) -> os.stat_result:
    """The input must be a regular file that can be read: workers read it in byte ranges."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            with path.open("rb"):
                return st
    except OSError as exc:
        raise BatchFileError(f"cannot read '{path}': {_reason(exc)}") from None
    raise BatchFileError(
        f"'{path}' is {_kind(st.st_mode)}, not a regular file",
        "batch reads its input in parallel byte ranges, so it must be a file; save the cases "
        "to one first, e.g. '… > cases.csv'",
    )


def check_output(path: Path, given: os.stat_result) -> Path:
    """The folder the output goes in; the output itself must be absent or a regular file
    (replacing a device or a pipe with a file is never what was meant), and not the input."""
    if not path.name:
        raise BatchFileError(
            f"the output '{path}' names no file", "pass --output FILE, e.g. --output decided.csv"
        )
    folder = path.parent
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise BatchFileError(f"cannot write '{path}': {_reason(exc)}") from None
    if st is not None:
        if os.path.samestat(st, given):
            raise BatchFileError(
                f"the output '{path}' is the input file", "write the decisions to another file"
            )
        if not stat.S_ISREG(st.st_mode):
            raise BatchFileError(
                f"the output '{path}' is {_kind(st.st_mode)}, not a regular file",
                "batch writes a new file and renames it into place; name a file, e.g. "
                "--output decided.csv",
            )
    if not folder.is_dir():
        raise BatchFileError(f"the folder '{folder}' does not exist")
    return folder


_PARTIAL = "{}.[a-z0-9_]{{8}}\\.partial"


def _stem(name: str) -> str:
    """The start of a temporary file's name for output `name`: the name cut so that the whole
    (a dot, the stem, a dot, 8 random characters, '.partial') fits in a file name's 255 bytes."""
    cut = name.encode("utf-8", "surrogateescape")[:200]
    return "." + cut.decode("utf-8", "ignore")


class AtomicOutput:
    """A temporary file beside `path`, renamed over it by `commit()`; removed if the run ends
    any other way. Write errors (a full disk, a file size limit) are BatchFileErrors."""

    def __init__(self, path: Path, folder: Path) -> None:
        self.path = path
        remove_leftovers(folder, path.name)
        try:
            fd, name = tempfile.mkstemp(
                prefix=f"{_stem(path.name)}.", suffix=".partial", dir=folder
            )
        except OSError as exc:
            raise BatchFileError(
                f"cannot write in the folder '{folder}': {_reason(exc)}",
                "choose a folder you can write in for --output",
            ) from None
        self.tmp = Path(name)
        self.file = os.fdopen(fd, "wb")
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours alone: it was just made
        # mkstemp makes the file private; the output gets the mode of the file it replaces,
        # or the one any new file gets (the umask's).
        if os.chmod in os.supports_fd:
            with contextlib.suppress(OSError):
                os.chmod(fd, _mode_for(path))

    def __enter__(self) -> AtomicOutput:
        return self

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            raise self._failed(exc) from None

    def commit(self) -> None:
        try:
            self.file.close()
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> BatchFileError:
        return BatchFileError(
            f"cannot write '{self.path}': {_reason(exc)}; it was not written",
            "free some space, or choose another place for --output",
        )

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.file.closed:
            with contextlib.suppress(OSError):  # a full disk again: the file goes either way
                self.file.close()
        self.tmp.unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def remove_leftovers(folder: Path, name: str) -> None:
    """Remove the temporary files that killed runs writing `name` left in `folder`: those no
    running batch holds a lock on (a run still going keeps its own)."""
    if fcntl is None:
        return
    pattern = re.compile(_PARTIAL.format(re.escape(_stem(name))))
    try:
        candidates = [e for e in os.scandir(folder) if pattern.fullmatch(e.name)]
    except OSError:
        return  # a folder that cannot be listed: creating the output will say why
    for entry in candidates:
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid():
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.unlink(entry.path)
        except OSError:
            continue  # locked: a run still writing it
        finally:
            os.close(fd)
