"""Reading a folder that may be a stranger's: only files inside it, only plain files, bounded.

A bundle is closed (DESIGN §11): its `bundle.yaml` names decision, constraint, test and data
files, and every one of them must lie inside the bundle folder once links are followed — no
`..` out of it, no absolute path, no link leading out. A data folder's manifest is held to the
same rule. A named pipe or a device is refused before it is opened (reading one may never end),
and so is a file over the size limit for its kind. `Refused` says why and how to fix it; the
callers turn it into an `E-path` diagnostic at the entry that named the file, and the file's
content is never read, so no message can quote a line of a file outside the folder.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from pctrules.language.diagnostics import Code, Diagnostic, error
from pctrules.language.source import Span

TABLE_BYTES = 1 << 30
"""The largest data table read (1 GiB): a table is read whole, so a bigger one would exhaust
memory long before it was decided on. The practice register is ~5 MB, a postcode table ~150 MB."""

_PROC_FD = Path("/proc/self/fd")
_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


class Refused(Exception):
    """A file pctrules will not read: what is wrong (`message`) and how to fix it (`help`)."""

    def __init__(self, message: str, help: str, code: Code = Code.PATH) -> None:
        super().__init__(message)
        self.message, self.help, self.code = message, help, code

    def diagnostic(self, span: Span | None = None) -> Diagnostic:
        return error(self.code, self.message, span, self.help)


class Folder:
    """A folder whose files may be read only from inside it, links followed."""

    def __init__(self, root: Path, what: str = "bundle folder") -> None:
        self.root = Path(root)
        self.what = what
        self.real = self.root.resolve()

    @property
    def help(self) -> str:
        """How to fix a path that leads out."""
        return (
            f"files are read only from inside the {self.what}: copy the file into it and "
            "give its path relative to it"
        )

    def path(self, name: str) -> Path:
        """`root / name`; Refused when `name` is absolute or leads outside the folder."""
        if not name or "\0" in name:
            raise Refused(f"'{name}' is not a file name", self.help)
        if Path(name).is_absolute() or name.startswith("~"):  # '~' is never expanded here
            raise Refused(f"the path '{name}' is absolute, outside the {self.what}", self.help)
        return self.inside(self.root / name, name)

    def inside(self, path: Path, shown: str | None = None) -> Path:
        """`path` (under root) as given; Refused when, links followed, it is not inside."""
        try:
            real = path.resolve()
        except (OSError, RuntimeError) as exc:  # a loop of links
            raise Refused(
                f"'{shown or path}' cannot be followed: "
                f"{_lower(getattr(exc, 'strerror', None) or str(exc))}",
                self.help,
            ) from None
        if not real.is_relative_to(self.real):
            how = "is a link" if _has_link(path, self.root) else "leads"
            raise Refused(f"'{shown or path}' {how} outside the {self.what}", self.help)
        return path

    def read(self, path: Path, limit: int, shown: str | None = None) -> bytes:
        """The bytes of a plain file inside the folder, at most `limit` of them."""
        return read_plain(self.inside(path, shown), limit, shown, self)


def read_plain(
    path: Path, limit: int, shown: str | None = None, folder: Folder | None = None
) -> bytes:
    """A plain file's bytes; Refused for a pipe, device, socket or folder (never opened), for a
    file over `limit` bytes, and — given `folder` — for a file that, once opened, is not inside
    it (a link swapped in meanwhile). OSError when it cannot be read at all."""
    name = shown or str(path)
    before = os.stat(path)
    refuse_special(before.st_mode, name)
    _refuse_size(before.st_size, limit, name)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        after = os.fstat(fd)
        refuse_special(after.st_mode, name)
        if folder is not None:
            opened = _opened_path(fd)
            if opened is not None and not opened.is_relative_to(folder.real):
                raise Refused(f"'{name}' leads outside the {folder.what}", folder.help)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        _refuse_size(size, limit, name)  # it grew while being read
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_whole(path: Path, data: bytes) -> None:
    """Write a file whole or not at all (a temporary file beside it, flushed to disk, renamed
    over it): a reader, a full disk or a kill never sees or leaves half a file, and no
    temporary file is left behind. Refused when `path` is not a plain file (replacing a device
    or a pipe would remove it); OSError when it cannot be written."""
    target = Path(os.path.realpath(path))  # a link: write what it points to
    try:
        mode: int | None = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        refuse_special(mode, str(path))
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, stat.S_IMODE(mode) if mode is not None else 0o666 & ~_umask())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_plain(path: Path, shown: str | None = None) -> None:
    """Refused when `path` exists and is not a plain file (for files read by streaming)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # the reader says what is wrong with a file that cannot be read
    refuse_special(mode, shown or str(path))


def refuse_special(mode: int, name: str) -> None:
    """Refused unless `mode` is a plain file's."""
    for test, what in _KINDS:
        if test(mode):
            raise Refused(
                f"'{name}' is {what}, not a file",
                "name a file"
                if what == "a folder"
                else "name a plain file; pctrules does not read pipes, devices or "
                "sockets, whose reading may never end",
            )


def _refuse_size(size: int, limit: int, name: str) -> None:
    if size > limit:
        raise Refused(
            f"'{name}' is {size:,} bytes, more than the limit of {limit:,}",
            "split it into smaller files",
            Code.LIMIT,
        )


def _opened_path(fd: int) -> Path | None:
    """Where the kernel says an open file is (Linux); None where that cannot be asked."""
    try:
        return Path(os.readlink(_PROC_FD / str(fd)))
    except OSError:
        return None


def _has_link(path: Path, root: Path) -> bool:
    """Whether a part of `path` below `root` is a symbolic link (for the message)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            return True
    return False


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


__all__ = [
    "TABLE_BYTES",
    "Folder",
    "Refused",
    "check_plain",
    "read_plain",
    "refuse_special",
    "write_whole",
]
