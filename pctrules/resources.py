"""Resource lookup: where the grammar and the embedded default bundle are, installed or not."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# In a wheel the files are copied under pctrules/_data; in a source checkout (or an editable
# install) they are read from the top of the repository, their single source of truth.
_CANDIDATES = (_PACKAGE / "_data", _PACKAGE.parent)


def _find(relative: str) -> Path:
    for base in _CANDIDATES:
        candidate = base / relative
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"pctrules is incompletely installed: '{relative}' is missing; "
        "reinstall it with 'pip install .'"
    )


def grammar_path() -> Path:
    return _find("grammar/pctrules.lark")


def default_bundle_path() -> Path:
    return _find("policies/england")


def cache_dir() -> Path | None:
    """Where pctrules keeps what it can rebuild (the parser tables, built graphs):
    $PCTRULES_CACHE_DIR (set to empty: keep nothing), else the XDG cache folder. Use it only
    through privatecache.CacheFolder, which checks that it is private."""
    folder = os.environ.get("PCTRULES_CACHE_DIR")
    if folder == "":
        return None
    if folder is not None:
        return Path(folder)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec: a relative path is invalid, ignored
        return Path(xdg) / "pctrules"
    try:
        return Path.home() / ".cache" / "pctrules"
    except RuntimeError:  # no home directory (some service accounts): keep nothing
        return None
