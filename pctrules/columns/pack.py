"""Packaging stage: a bundle and its data folder in one verified archive, to ship to workers.

A pack is a zip file holding `bundle/<name>/…` (every file of the bundle folder), `data/…`
(every file of the data folder, if any) and `pctrules-pack.json`: the bundle's name, its digest
where it was packed (for the record: today's digests include the folders' paths) and the sha256
of every file. Opening one checks that the archive holds exactly the files its manifest lists,
each with its sha256, and that no path can leave the folder it is unpacked into. That finds a
damaged or altered file; it is not a signature (whoever can change the pack can change its
manifest): compare the sha256 of the pack itself with the one you made to know it is yours.
Nothing in a pack is ever executed or unpickled: it is read as policy text and data tables,
like any bundle folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tempfile
import weakref
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pctrules import __version__

if TYPE_CHECKING:
    from pctrules.bundle import Bundle
    from pctrules.evaluation.engine import Engine

MANIFEST = "pctrules-pack.json"
FORMAT = 1
_MAX_BYTES = 1 << 30  # what a pack may unpack to, at most
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_STAMP = (1980, 1, 1, 0, 0, 0)  # a fixed time in every entry: the same bundle packs the same


class PackError(ValueError):
    """A pack that cannot be trusted or read; the message says what is wrong."""


def _files(root: Path) -> list[tuple[str, Path]]:
    """The regular files under `root` by posix path, hidden entries and symbolic links left out
    (a bundle reads nothing through a link, and a link could lead out of the folder)."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if p.is_symlink() or not p.is_file():
            continue
        out.append((rel.as_posix(), p))
    return out


def pack_bundle(bundle: Bundle, digest: str) -> bytes:
    """The pack of an opened bundle (its folder and its data folder), as bytes."""
    name = bundle.path.name
    entries: list[tuple[str, bytes]] = [
        (f"bundle/{name}/{rel}", p.read_bytes()) for rel, p in _files(bundle.path)
    ]
    if bundle.data_dir is not None:
        entries += [(f"data/{rel}", p.read_bytes()) for rel, p in _files(bundle.data_dir)]
    manifest = {
        "format": FORMAT,
        "pctrules": __version__,
        "bundle": name,
        "digest": digest,
        "data": bundle.data_dir is not None,
        "files": {arc: hashlib.sha256(content).hexdigest() for arc, content in entries},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, content in [
            (MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode()),
            *entries,
        ]:
            zf.writestr(zipfile.ZipInfo(arc, _STAMP), content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def unpack(data: bytes, into: Path) -> tuple[Path, Path | None, str]:
    """Check a pack and write its files under `into` (an empty folder): (bundle folder, data
    folder or None, the bundle digest it was packed with). Raises PackError."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise PackError(f"this is not a pctrules pack ({exc})") from None
    with zf:
        try:
            manifest = json.loads(zf.read(MANIFEST))
        except KeyError:
            raise PackError(f"the pack has no '{MANIFEST}'") from None
        except (ValueError, zipfile.BadZipFile) as exc:
            raise PackError(f"the pack's '{MANIFEST}' cannot be read ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise PackError(f"the pack is not in format {FORMAT} (made by another pctrules?)")
        name, files = manifest.get("bundle"), manifest.get("files")
        digest = manifest.get("digest")
        if (
            not isinstance(name, str)
            or not _NAME.fullmatch(name)
            or not isinstance(files, dict)
            or not isinstance(digest, str)
        ):
            raise PackError(f"the pack's '{MANIFEST}' is malformed")
        infos = [i for i in zf.infolist() if i.filename != MANIFEST]
        listed = set(files)
        held = {i.filename for i in infos}
        if held != listed or len(infos) != len(held):
            extra = sorted(held - listed) or sorted(listed - held) or ["a repeated entry"]
            raise PackError(f"the pack's files do not match its manifest ('{extra[0]}')")
        if sum(i.file_size for i in infos) > _MAX_BYTES:
            raise PackError("the pack unpacks to more than 1 GiB")
        for info in infos:
            rel = _safe_path(info.filename, name)
            content = zf.read(info)
            if hashlib.sha256(content).hexdigest() != files[info.filename]:
                raise PackError(f"'{info.filename}' in the pack does not match its sha256")
            target = into.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as f:
                f.write(content)
    bundle = into / "bundle" / name
    if not (bundle / "bundle.yaml").is_file():
        raise PackError(f"the pack has no 'bundle/{name}/bundle.yaml'")
    data_dir = into / "data"
    if manifest.get("data"):
        data_dir.mkdir(exist_ok=True)
        return bundle, data_dir, digest
    return bundle, None, digest


def _safe_path(name: str, bundle: str) -> PurePosixPath:
    """An entry's path, refused unless it stays inside `bundle/<name>/` or `data/`."""
    p = PurePosixPath(name)
    if (
        "\\" in name
        or p.is_absolute()
        or any(part in ("", ".", "..") for part in p.parts)
        or ":" in name
        or name != p.as_posix()
    ):
        raise PackError(f"the pack's entry '{name}' would be written outside its folder")
    inside = (len(p.parts) > 2 and p.parts[:2] == ("bundle", bundle)) or (
        len(p.parts) > 1 and p.parts[0] == "data"
    )
    if not inside:
        raise PackError(f"the pack's entry '{name}' is neither in 'bundle/{bundle}/' nor 'data/'")
    return p


def open_pack(data: bytes) -> Engine:
    """The engine of a pack (PackError when the pack is damaged or unsafe)."""
    from pctrules.bundle import open_bundle
    from pctrules.evaluation.engine import Engine

    folder = Path(tempfile.mkdtemp(prefix="pctrules-pack-"))  # private to this user
    try:
        bundle, data_dir, _ = unpack(data, folder)
        engine = Engine(open_bundle(bundle, data_dir))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    # The files stay while the engine lives (packing it again reads them), then go.
    weakref.finalize(engine, shutil.rmtree, folder, ignore_errors=True)
    return engine
