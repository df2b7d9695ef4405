"""Reading model files: an ``.mlpackage`` folder (its ``Manifest.json``, then the root spec it
names) or an ``.mlmodel`` file, into a parsed ``Model_pb2.Model``.

Only the specification is read: no weight file is ever opened, and nothing is written. Every
problem with a file (missing, wrong kind, unreadable, too large, not a protobuf, a manifest that
points outside its package) is a `ModelLoadError` whose message names the file and the problem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from google.protobuf.message import DecodeError

from .._recursion import bounded_recursion
from ..errors import ModelLoadError
from .limits import MAX_MANIFEST_BYTES, MAX_MANIFEST_DEPTH, MAX_SPEC_BYTES
from .proto import Model_pb2

__all__ = ["read_spec", "root_spec_file", "stem"]


def read_spec(path: str | os.PathLike[str], *, label: str | None = None) -> Model_pb2.Model:
    """Parse the model specification of an ``.mlpackage`` or ``.mlmodel`` at `path`.

    For a package, ``Manifest.json`` names the root model file, which must lie inside the package;
    no other file (in particular no weight file) is opened. `label` is the name used in errors
    (default: the path).
    """
    p = Path(path)
    label = os.fspath(path) if label is None else label
    if not os.path.lexists(p):
        raise ModelLoadError(label, "no such file or folder")
    suffix = p.suffix.lower()
    if suffix == ".mlmodelc":
        raise ModelLoadError(
            label,
            "compiled models (.mlmodelc) cannot be read: load the .mlpackage or .mlmodel it was "
            "compiled from",
        )
    if suffix == ".mlpackage" or (p.is_dir() and (p / "Manifest.json").is_file()):
        if not p.is_dir():
            raise ModelLoadError(label, "not a folder (an .mlpackage is a folder)")
        spec_file = _package_root_spec(p, label)
        what = f"model spec {spec_file.relative_to(p.resolve()).as_posix()}"
    elif suffix == ".mlmodel":
        if p.is_dir():
            raise ModelLoadError(label, "is a folder, but an .mlmodel must be a file")
        if not p.is_file():
            # A FIFO or device would block (or never end) when read.
            raise ModelLoadError(label, "not a regular file")
        spec_file = p
        what = "model file"
    else:
        raise ModelLoadError(label, "not a Core ML model (expected .mlpackage or .mlmodel)")
    data = _read_bytes(spec_file, label, what)
    return _parse_spec(data, label, what)


def stem(path: Path) -> str:
    """The model's default name: "model.mlpackage/" -> "model"; a bare name stays as it is."""
    return path.stem or path.name or "model"


def root_spec_file(pkg: Path, label: str) -> Path:
    """The root model spec file of the package `pkg` (resolved), as `Manifest.json` names it."""
    return _package_root_spec(pkg, label)


def _package_root_spec(pkg: Path, label: str) -> Path:
    manifest = pkg / "Manifest.json"
    if not manifest.is_file():
        raise ModelLoadError(label, "Manifest.json missing (not a valid .mlpackage)")
    try:
        raw = _read_at_most(manifest, MAX_MANIFEST_BYTES)
    except OSError as e:
        raise ModelLoadError(label, f"cannot read Manifest.json: {e.strerror or e}") from e
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ModelLoadError(
            label,
            f"Manifest.json is larger than {MAX_MANIFEST_BYTES // 1024**2} MB (the limit; real "
            "ones are a few hundred bytes): not a valid .mlpackage",
        )
    too_deep = f"Manifest.json is nested more than {MAX_MANIFEST_DEPTH} levels deep (the limit)"
    try:
        with bounded_recursion():  # the C parser recurses once per level: see _recursion.py
            doc = json.loads(raw)
    except RecursionError as e:  # the C parser recurses once per level
        raise ModelLoadError(label, too_deep) from e
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise ModelLoadError(label, "Manifest.json is not valid JSON") from e
    if _json_depth(doc) > MAX_MANIFEST_DEPTH:
        raise ModelLoadError(label, too_deep)
    if not isinstance(doc, dict):
        raise ModelLoadError(label, "Manifest.json is not a JSON object")
    root_id = doc.get("rootModelIdentifier")
    entries = doc.get("itemInfoEntries")
    if not isinstance(root_id, str) or not isinstance(entries, dict) or root_id not in entries:
        raise ModelLoadError(
            label, "Manifest.json names no root model (rootModelIdentifier missing or unknown)"
        )
    entry = entries[root_id]
    rel = entry.get("path") if isinstance(entry, dict) else None
    if not isinstance(rel, str) or not rel:
        raise ModelLoadError(label, "Manifest.json's root model entry has no path")
    # Package items live under Data/ (as in coremltools' ModelPackage). Resolve symlinks and
    # "..", then insist on staying inside the package so a crafted manifest cannot make us read
    # arbitrary files.
    real_pkg = os.path.realpath(pkg)
    if not _valid_file_name(rel):
        raise ModelLoadError(label, "Manifest.json's root model path is not a valid file name")
    if os.path.isabs(rel):
        raise ModelLoadError(label, "Manifest.json points outside the package")
    target = os.path.realpath(os.path.join(real_pkg, "Data", rel))
    if os.path.commonpath([real_pkg, target]) != real_pkg:
        raise ModelLoadError(label, "Manifest.json points outside the package")
    if not os.path.isfile(target):
        raise ModelLoadError(label, f"model spec 'Data/{rel}' named in Manifest.json is missing")
    return Path(target)


def _valid_file_name(name: str) -> bool:
    """False for names no file system accepts (NUL, lone surrogates): os calls would raise."""
    try:
        return b"\x00" not in os.fsencode(name)
    except UnicodeEncodeError:
        return False


def _read_at_most(path: Path, limit: int) -> bytes:
    """The first `limit` + 1 bytes of `path` at most: one byte more than allowed says "too big"
    without reading a file that is huge, or grows while it is read. The first read asks for no
    more than the file's size + 1: `read(n)` allocates n bytes up front, and a limit of
    gigabytes would otherwise reserve gigabytes for a 2 KB spec."""
    with open(path, "rb") as f:
        want = min(limit, os.fstat(f.fileno()).st_size) + 1
        data = f.read(want)
        if len(data) == want and want <= limit:  # it grew while being read: on, to the limit
            data += f.read(limit + 1 - want)
        return data


def _json_depth(doc: object) -> int:
    """How deeply JSON containers nest in `doc` (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[object] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def _read_bytes(path: Path, label: str, what: str) -> bytes:
    too_big = f"{what} is larger than 2 GB, more than a protobuf can hold: not a Core ML model"
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise ModelLoadError(label, too_big)
        data = _read_at_most(path, MAX_SPEC_BYTES)
        if len(data) > MAX_SPEC_BYTES:
            raise ModelLoadError(label, too_big)
    except PermissionError as e:
        raise ModelLoadError(label, f"cannot read {what}: permission denied") from e
    except OSError as e:
        raise ModelLoadError(label, f"cannot read {what}: {e.strerror or e}") from e
    if not data:
        raise ModelLoadError(label, f"empty {what}")
    return data


def _parse_spec(data: bytes, label: str, what: str) -> Model_pb2.Model:
    spec = Model_pb2.Model()
    try:
        spec.ParseFromString(data)
    except DecodeError as e:
        # Also raised for invalid UTF-8 in string fields and for nesting beyond protobuf's
        # recursion limit (deeply nested cond/while_loop blocks); upb does not say which.
        raise ModelLoadError(
            label,
            _not_a_spec(data)
            or f"{what} is not a valid Core ML protobuf (truncated, corrupt or nested too deeply)",
        ) from e
    if spec.WhichOneof("Type") is None:
        # Arbitrary bytes sometimes parse as a message made only of unknown fields.
        raise ModelLoadError(
            label, _not_a_spec(data) or f"{what} is not a Core ML model (no model inside)"
        )
    return spec


def _not_a_spec(data: bytes) -> str | None:
    """What unparsable bytes look like, when that is easy to tell (asked only on failure)."""
    if data.startswith(b"PK\x03\x04"):
        return (
            "this is a zip archive, not a model spec: unzip it (an .mlpackage is a folder) "
            "and load the .mlpackage or .mlmodel inside"
        )
    head = data[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut at 512 bytes is still text; anything else is binary.
        text = head[: e.start].decode("utf-8") if e.start >= len(data[:512]) - 3 else ""
    if text and all(c.isprintable() or c in "\t\r\n" for c in text):
        return "this is a text file, not a Core ML model (a binary protobuf)"
    return None


def package_weights_dir(path: str | os.PathLike[str]) -> Path | None:
    """The weights folder beside an ``.mlpackage``'s root spec (None for an ``.mlmodel``, or
    when there is none)."""
    p = Path(path)
    if not (p.is_dir() and (p / "Manifest.json").is_file()):
        return None
    weights = _package_root_spec(p, os.fspath(p)).parent / "weights"
    return weights if weights.is_dir() else None
