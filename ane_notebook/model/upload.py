"""Models uploaded through the explorer: saved into the cache, checked, and cleaned up.

An upload is an ``.mlmodel`` file or a zipped ``.mlpackage`` (a package is a folder, so browsers
can only send it zipped). `save_upload` writes each upload into a new folder
``<cache root>/uploads/upload-<time>-<random>/`` and returns the model inside; nothing is written
anywhere else. No notebook library is needed here: `uploaded_files` reads the plain value of an
ipywidgets ``FileUpload``.

A zip is checked whole before anything is extracted: at most `MAX_UPLOAD_FILES` entries and
`MAX_UPLOAD_BYTES` declared, no encrypted entry, only compression methods Python can read, no
name holding a NUL, escaping the folder, longer than the file system allows, or used both as a
file and as a folder (``x`` and ``x/y``), nor twice. zipfile never yields more than an entry's
declared size (a longer stream fails its CRC check), so the declared total bounds what is
written. Only regular files and folders are created, with default permissions; links and modes
in the zip are ignored.

Every failure, including the cache folder being read-only or the disk full, raises a one-line
`ModelLoadError` naming the upload, and removes the upload's folder with whatever was extracted.

Old uploads: the `KEEP_UPLOADS` most recent upload folders are kept and older ones are removed
each time a new upload is saved. (Not on interpreter exit: a kernel that is killed or crashes
never runs exit handlers, and a report's ``source`` keeps naming the file while the user works
on it.) The explorer saves the upload again on each run, so a removed folder is never needed.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ModelLoadError
from .builder import q
from .cache import cache_folder, os_problem

__all__ = [
    "KEEP_UPLOADS",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_FILES",
    "save_upload",
    "uploaded_files",
]

# An upload, or everything a zip unpacks to, must fit in this: a model spec is at most 2 GB
# (protobuf's limit) and the browser has sent the whole upload through the notebook's websocket.
MAX_UPLOAD_BYTES = 2 * 1024**3
# An .mlpackage holds 3 files (Manifest.json, the spec, the weights); macOS' zip adds a
# __MACOSX/ twin of each. A thousand entries is far beyond any package.
MAX_UPLOAD_FILES = 1000
# Upload folders kept in the cache (the newest); see the module docstring.
KEEP_UPLOADS = 5

_UPLOADS = "uploads"
_PREFIX = "upload-"
_CHUNK = 1024 * 1024
# Compression methods Python's zipfile reads: stored and deflate always; bzip2 and lzma when
# Python was built with them (zipfile would raise RuntimeError on them otherwise).
_READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
# Names of methods some zip tools write (APPNOTE.TXT 4.4.5), for the error message.
_METHOD_NAMES = {
    1: "shrink",
    6: "implode",
    9: "deflate64",
    12: "bzip2",
    14: "lzma",
    93: "zstandard",
    95: "xz",
    98: "PPMd",
    99: "WinZip AES encryption",
}
# What a damaged compressed stream raises while it is read.
_CORRUPT: tuple[type[Exception], ...] = (zipfile.BadZipFile, zlib.error, EOFError, ValueError)
try:
    import bz2  # noqa: F401

    _READABLE_METHODS.add(zipfile.ZIP_BZIP2)
except ImportError:
    pass
try:
    import lzma

    _READABLE_METHODS.add(zipfile.ZIP_LZMA)
    _CORRUPT += (lzma.LZMAError,)
except ImportError:
    pass


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """(name, bytes) of each file in a ``FileUpload.value`` (ipywidgets 8: a tuple of dicts)."""
    out = []
    for item in value or ():
        out.append((str(item["name"]), bytes(item["content"])))
    return out


def save_upload(name: str, content: bytes) -> Path:
    """Write an uploaded model into the cache and return the ``.mlmodel`` / ``.mlpackage`` path.

    Raises `ModelLoadError` ("<upload name>: <problem>") on any problem, leaving nothing behind.
    """
    base = Path(name).name  # never trust folders in an uploaded name
    label = base or "(upload)"
    if "\x00" in base:
        raise ModelLoadError(label, "the upload's name holds a NUL character")
    if not base.endswith((".mlmodel", ".zip")):
        raise ModelLoadError(label, "upload an .mlmodel or a zipped .mlpackage (.zip)")
    if len(content) > MAX_UPLOAD_BYTES:
        raise ModelLoadError(
            label, f"the upload is larger than {_size(MAX_UPLOAD_BYTES)} (the limit)"
        )
    root = cache_folder(_UPLOADS, label)
    try:
        work = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{time.time_ns():020d}-", dir=root))
    except OSError as e:
        raise ModelLoadError(label, f"cannot write to cache folder {root}: {os_problem(e)}") from e
    try:
        if base.endswith(".mlmodel"):
            model = _save_file(work, base, content, label)
        else:
            model = _extract_package(work, content, label)
    except BaseException:
        # Whatever went wrong (KeyboardInterrupt included), leave no half-extracted upload.
        shutil.rmtree(work, ignore_errors=True)
        raise
    _prune(root, keep=work)
    return model


# --------------------------------------------------------------------------------------------
# Writing


def _save_file(work: Path, base: str, content: bytes, label: str) -> Path:
    problem = _name_problem(base, _name_max(work))
    if problem:
        raise ModelLoadError(label, f"the upload's name {problem}")
    target = work / base
    try:
        with open(target, "xb") as f:
            f.write(content)
    except OSError as e:
        raise ModelLoadError(label, f"cannot write to cache folder {work}: {os_problem(e)}") from e
    return target


def _extract_package(work: Path, content: bytes, label: str) -> Path:
    try:
        zf = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        # (ValueError includes a UnicodeDecodeError for an entry name that is not UTF-8.)
        raise ModelLoadError(label, "not a valid zip file") from None
    with zf:
        for info, parts in _check_entries(zf.infolist(), work, label):
            target = work.joinpath(*parts)
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                # Exclusive create: never through a link or over a file. zipfile yields no more
                # than an entry's declared size (a longer stream fails its CRC check), so the
                # declared total checked above bounds what is written.
                with zf.open(info) as src, open(target, "xb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
            except OSError as e:
                raise ModelLoadError(
                    label, f"cannot extract {q(info.filename)} into {work}: {os_problem(e)}"
                ) from e
            except _CORRUPT as e:
                raise ModelLoadError(
                    label, f"zip entry {q(info.filename)} is corrupt ({e})"
                ) from None
    packages = sorted(p for p in work.rglob("*.mlpackage") if p.is_dir() and not _is_mac_fork(p))
    if not packages:
        raise ModelLoadError(label, "the zip holds no .mlpackage folder")
    return packages[0]


# --------------------------------------------------------------------------------------------
# Checks before extracting


def _check_entries(
    entries: list[zipfile.ZipInfo], work: Path, label: str
) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The entries with their path parts, once every one of them passed (see the docstring)."""
    if len(entries) > MAX_UPLOAD_FILES:
        raise ModelLoadError(
            label,
            f"the zip holds {len(entries):,} entries, more than the limit of {MAX_UPLOAD_FILES:,}",
        )
    declared = sum(info.file_size for info in entries)
    if declared > MAX_UPLOAD_BYTES:
        raise ModelLoadError(
            label, f"the zip unpacks to more than {_size(MAX_UPLOAD_BYTES)} (the limit)"
        )
    name_max, path_max = _name_max(work), _path_max(work)
    checked: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    files: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    for info in entries:
        # zipfile cuts a name at its first NUL (so "a\0b" and "a\0c" would both be "a");
        # orig_filename is the name as stored.
        if "\x00" in info.orig_filename:
            raise ModelLoadError(
                label, f"zip entry {q(info.orig_filename)} has a NUL character in its name"
            )
        if info.flag_bits & 0x1:
            raise ModelLoadError(
                label, f"zip entry {q(info.filename)} is encrypted: zip it without a password"
            )
        if info.compress_type not in _READABLE_METHODS:
            method = _METHOD_NAMES.get(info.compress_type, "unknown")
            raise ModelLoadError(
                label,
                f"zip entry {q(info.filename)} uses compression method {info.compress_type} "
                f"({method}), which cannot be read: zip it with deflate (the default)",
            )
        parts = _parts(info.filename)
        if parts is None:
            raise ModelLoadError(label, f"zip entry {q(info.filename)} points outside the archive")
        for part in parts:
            problem = _name_problem(part, name_max)
            if problem:
                raise ModelLoadError(label, f"zip entry {q(info.filename)}: its name {problem}")
        full = len(os.fsencode(os.path.join(work, *parts)))
        if full >= path_max:
            raise ModelLoadError(
                label,
                f"zip entry {q(info.filename)}: its path in the cache would be {full:,} bytes "
                f"long, more than the file system allows ({path_max})",
            )
        parents = {parts[:i] for i in range(1, len(parts))}
        if info.is_dir():
            parents.add(parts)
        elif parts in files:
            raise ModelLoadError(label, f"the zip holds {q(info.filename)} twice")
        else:
            files.add(parts)
        folders |= parents
        checked.append((info, parts))
    clash = files & folders
    if clash:
        both = "/".join(min(clash))
        raise ModelLoadError(
            label, f"the zip holds {q(both)} both as a file and as a folder: not a package"
        )
    return checked


def _parts(name: str) -> tuple[str, ...] | None:
    """The folders and name of a zip entry, or None if it would land outside the folder."""
    path = PurePosixPath(name)
    parts = tuple(p for p in path.parts if p not in ("", "."))
    if path.is_absolute() or ".." in parts or not parts:
        return None
    return parts


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255  # every common file system (ext4, APFS, NTFS)


def _path_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_PATH_MAX"))
    except (OSError, ValueError):
        return 1024  # macOS' PATH_MAX, the smaller of Linux's and macOS'


def _name_problem(name: str, name_max: int) -> str | None:
    """Why `name` cannot be one file name (at most `name_max` bytes), or None."""
    try:
        size = len(os.fsencode(name))
    except UnicodeEncodeError:
        return "cannot be a file name here (not valid in the file system's encoding)"
    if size > name_max:
        return f"is {size:,} bytes long, more than the file system allows ({name_max})"
    return None


def _is_mac_fork(path: Path) -> bool:
    return "__MACOSX" in path.parts


def _size(n: int) -> str:
    return f"{n / 1024**3:g} GB"


# --------------------------------------------------------------------------------------------
# Old uploads


def _prune(root: Path, keep: Path) -> None:
    """Remove all but the newest `KEEP_UPLOADS` upload folders (`keep`, just saved, stays).

    Best effort: a folder another process removes first, or one that cannot be removed, is left
    to the next upload. A failure to tidy must not fail the upload the user is waiting for.
    """
    try:
        folders = sorted(p for p in root.iterdir() if p.name.startswith(_PREFIX) and p != keep)
    except OSError:
        return
    for old in folders[: max(0, len(folders) - (KEEP_UPLOADS - 1))]:
        try:
            shutil.rmtree(old)
        except OSError:
            continue  # gone already (another process), or not ours to remove: try next time
