"""The user's cache folder: what pctrules keeps to start sooner, safe to load whoever wrote it.

DESIGN §11: a cache cannot be used to run code or to change answers. So:

- a cache file holds data (JSON), never code: loading one builds plain values, nothing else;
- it is read only from a folder that belongs to the user and that no one else can write (the
  folder is created 0700; one of another user's is not used, with a warning; one of the user's
  that others can write is made private and its cache files dropped, with a note);
- every file is opened through that folder (no path is looked up twice, no link followed), and
  is used only if it is a plain file of the user's that no one else can write, and its first
  line names the format, the key asked for and the sha256 of the rest, which must match;
- keys are sha256 digests of everything the content is made from (pctrules' own code, the
  bundle's files, the data tables), so a file is never used for other inputs than its own.

Where the platform cannot open files relative to a folder or has no user ids (Windows), there
is no cache: pctrules builds what it needs every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import sys
import time
from pathlib import Path

from pctrules.resources import cache_dir

FORMAT = b"pctrules-cache/2"
LARGEST = 1 << 30  # a graph with a postcode table is ~200 MB; anything bigger is not ours
_STALE_TEMP = 24 * 3600  # a temp file this old was left by a process that died mid-write
_NAMES = ("graph-", "parser-")  # what pctrules names its files; nothing else is removed
_warned: set[str] = set()


class CacheFolder:
    """An open, verified private cache folder; every file operation goes through its handle."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def open(cls) -> CacheFolder | None:
        """The user's cache folder (created 0700 if missing); None when caching is off, the
        platform cannot do it safely, or the folder is not private to the user."""
        path = cache_dir()
        if path is None or not _supported():
            return None
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return None  # a read-only home, a file in the way: no cache, never an error
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            os.close(fd)
            _warn_once(
                str(path),
                f"pctrules: warning: the cache folder '{path}' belongs to "
                "another user; it is not used\n  help: set PCTRULES_CACHE_DIR to a "
                "folder of your own",
            )
            return None
        folder = cls(path, fd)
        if info.st_mode & 0o022:
            # Yours, but others could write to it (a folder made with a loose umask, or
            # shared): made private, and what it held dropped, since anyone could have put it.
            try:
                os.fchmod(fd, 0o700)
            except OSError:
                folder.close()
                _warn_once(
                    str(path),
                    f"pctrules: warning: the cache folder '{path}' can be "
                    "written by other users and cannot be made private; it is not "
                    "used\n  help: 'chmod 700' it, or set PCTRULES_CACHE_DIR to a "
                    "folder of your own",
                )
                return None
            folder.prune("", 0, ours_only=True)
            _warn_once(
                str(path),
                f"pctrules: note: the cache folder '{path}' could be written "
                "by other users: it is now private to you, and what it held is dropped",
            )
        return folder

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> CacheFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, name: str, key: str) -> bytes | None:
        """The content kept under `name` for `key`; None when there is none, or it fails any
        check (not the user's plain file, writable by others, another key, damaged)."""
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self._fd
            )
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if (
                not stat.S_ISREG(info.st_mode)
                or info.st_uid != os.geteuid()
                or info.st_mode & 0o022
                or info.st_size > LARGEST
            ):
                return None
            with os.fdopen(os.dup(fd), "rb") as f:
                # Its size and one byte more (a file that grew since is not read whole, and is
                # refused by its hash): read(LARGEST) would set aside a gigabyte first.
                data = f.read(info.st_size + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        header, _, payload = data.partition(b"\n")
        parts = header.split(b" ")
        if (
            len(parts) != 4
            or parts[0] != FORMAT
            or parts[1] != key.encode()
            or parts[3] != str(len(payload)).encode()
            or parts[2] != hashlib.sha256(payload).hexdigest().encode()
        ):
            return None
        return payload

    def write(self, name: str, key: str, payload: bytes) -> bool:
        """Keep `payload` under `name` for `key`, whole or not at all (other processes may be
        reading); False when it cannot be written (a full disk), which is never an error."""
        header = b" ".join(
            [
                FORMAT,
                key.encode(),
                hashlib.sha256(payload).hexdigest().encode(),
                str(len(payload)).encode(),
            ]
        )
        temp = f".tmp-{secrets.token_hex(8)}"
        try:
            fd = os.open(
                temp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=self._fd,
            )
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header + b"\n" + payload)
            os.replace(temp, name, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        except OSError:
            self._remove(temp)
            return False
        return True

    def touch(self, name: str) -> None:
        """Mark as recently used (pruning keeps the most recent)."""
        # A folder that can be read but not written is still a cache.
        with contextlib.suppress(OSError, NotImplementedError):
            os.utime(name, dir_fd=self._fd, follow_symlinks=False)

    def prune(self, prefix: str, keep: int, ours_only: bool = False) -> None:
        """Keep the `keep` most recently used files named `prefix…` (with `ours_only`, of the
        names pctrules gives its files: `graph-`, `parser-`); remove temp files left by
        processes that died while writing."""
        dated: list[tuple[float, str]] = []
        now = time.time()
        try:
            names = os.listdir(self._fd)
        except OSError:
            return
        for name in names:
            try:
                info = os.stat(name, dir_fd=self._fd, follow_symlinks=False)
            except OSError:  # removed meanwhile by another process
                continue
            if name.startswith(prefix) and (not ours_only or name.startswith(_NAMES)):
                dated.append((info.st_mtime, name))
            elif name.startswith(".tmp-") and (ours_only or now - info.st_mtime > _STALE_TEMP):
                self._remove(name)
        for _, old in sorted(dated, reverse=True)[keep:]:
            self._remove(old)

    def _remove(self, name: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=self._fd)


def _supported() -> bool:
    return (
        hasattr(os, "geteuid") and os.open in os.supports_dir_fd and os.rename in os.supports_dir_fd
    )  # os.replace too: both renameat


def _warn_once(key: str, text: str) -> None:
    if key not in _warned:
        _warned.add(key)
        sys.stderr.write(text + "\n")


__all__ = ["FORMAT", "CacheFolder"]
