"""Uploads (ane_notebook.model.upload, and the explorer's upload button): every bad upload is one
line naming it, leaves nothing behind in the cache, and never writes anywhere else; old uploads
are cleaned up."""

from __future__ import annotations

import builtins
import errno
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from bad_inputs import (
    UPLOAD_CASES,
    UploadCase,
    package_entries,
    read_only,
    small_spec,
    zip_bytes,
)

from ane_notebook.errors import MAX_MESSAGE_CHARS, ModelLoadError
from ane_notebook.escape import html_text, plain
from ane_notebook.model import upload
from ane_notebook.model.cache import CACHE_ENV
from ane_notebook.model.load import load_model
from ane_notebook.widgets import UPLOAD_CHOICE, Explorer


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, so that what it leaves behind can be listed."""
    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    monkeypatch.chdir(tmp_path)
    return root


def everything(root: Path) -> list[str]:
    """Every path under `root` (the whole test folder: a stray write anywhere would show)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def check_one_line(case: UploadCase, name: str, message: str) -> None:
    assert "\n" not in message and "\r" not in message
    prefix = f"{plain(Path(name).name, MAX_MESSAGE_CHARS)}: "
    assert message.startswith(prefix), message
    assert re.search(case.problem, message[len(prefix) :]), message


def upload_value(name: str, content: bytes) -> tuple[dict[str, Any], ...]:
    """What ipywidgets' FileUpload holds after the browser sent one file."""
    return (
        {
            "name": name,
            "type": "application/zip",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.now(timezone.utc),
        },
    )


# --------------------------------------------------------------------------------------------
# Every bad upload, directly and through the widget


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=[c.name for c in UPLOAD_CASES])
def test_bad_upload(case: UploadCase, cache: Path) -> None:
    name, content = case.build()
    before = everything(cache.parent)
    with pytest.raises(ModelLoadError) as info:
        upload.save_upload(name, content)
    check_one_line(case, name, str(info.value))
    after = everything(cache.parent)
    # Nothing left behind: at most the (empty) uploads folder itself was created.
    assert set(after) - set(before) <= {"cache", "cache/uploads"}, after
    assert not (cache / "uploads").exists() or not any((cache / "uploads").iterdir())


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=[c.name for c in UPLOAD_CASES])
def test_bad_upload_in_the_widget(case: UploadCase, cache: Path) -> None:
    name, content = case.build()
    with pytest.raises(ModelLoadError) as info:
        upload.save_upload(name, content)
    ui = Explorer()
    ui.source.value = UPLOAD_CHOICE
    ui.upload.value = upload_value(name, content)
    assert ui.run() is None and ui.report is None
    assert ui.status.value.count("error:") == 1 and "running" not in ui.status.value
    assert html_text(str(info.value), 400) in ui.status.value
    assert ui.output.outputs == ()
    assert not ui.run_button.disabled and ui.progress.layout.visibility == "hidden"
    assert not (cache / "uploads").exists() or not any((cache / "uploads").iterdir())


# --------------------------------------------------------------------------------------------
# Good uploads


def test_zipped_package_is_saved_in_the_cache_and_loads(cache: Path) -> None:
    path = upload.save_upload("some/folder/m.zip", zip_bytes(package_entries()))
    assert path.name == "m.mlpackage" and path.is_dir()
    assert path.parent.parent == cache / "uploads"
    assert len(load_model(path)) == 5


def test_mlmodel_upload(cache: Path) -> None:
    path = upload.save_upload("../../small.mlmodel", small_spec().SerializeToString())
    assert path.name == "small.mlmodel" and path.parent.parent == cache / "uploads"
    assert load_model(path).name == "small"


def test_macos_resource_forks_are_not_the_package(cache: Path) -> None:
    entries = [(f"__MACOSX/{n}", b"\x00\x05\x16\x07") for n, _ in package_entries("a.mlpackage")]
    path = upload.save_upload("mac.zip", zip_bytes([*entries, *package_entries("z.mlpackage")]))
    assert path.name == "z.mlpackage" and "__MACOSX" not in path.parts


def test_old_uploads_are_removed_newest_kept(cache: Path) -> None:
    paths = [
        upload.save_upload(f"m{i}.mlmodel", small_spec().SerializeToString()) for i in range(8)
    ]
    kept = sorted(p.name for p in (cache / "uploads").iterdir())
    assert len(kept) == upload.KEEP_UPLOADS
    assert [p.exists() for p in paths] == [False] * 3 + [True] * 5
    assert kept == sorted(p.parent.name for p in paths[3:])


def test_pruning_leaves_other_files_alone(cache: Path) -> None:
    (cache / "uploads").mkdir(parents=True)
    (cache / "uploads" / "notes.txt").write_text("mine")
    for i in range(upload.KEEP_UPLOADS + 2):
        upload.save_upload(f"m{i}.mlmodel", small_spec().SerializeToString())
    assert (cache / "uploads" / "notes.txt").read_text() == "mine"


def test_upload_module_needs_no_notebook_library() -> None:
    code = "import sys, ane_notebook.model.upload\nprint('ipywidgets' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


# --------------------------------------------------------------------------------------------
# A cache that cannot be written


def test_read_only_cache(cache: Path) -> None:
    with read_only(cache / "uploads"), pytest.raises(ModelLoadError) as info:
        upload.save_upload("m.zip", zip_bytes(package_entries()))
    assert str(info.value).startswith(f"m.zip: cannot write to cache folder {cache / 'uploads'}: ")
    assert not any((cache / "uploads").iterdir())


def test_read_only_cache_in_the_widget(cache: Path) -> None:
    content = zip_bytes(package_entries())
    ui = Explorer()
    ui.source.value = UPLOAD_CHOICE
    ui.upload.value = upload_value("m.zip", content)
    with read_only(cache / "uploads"):
        assert ui.run() is None
    assert "m.zip: cannot write to cache folder" in ui.status.value
    assert not ui.run_button.disabled


def test_cache_path_is_a_file(cache: Path) -> None:
    cache.write_text("not a folder")
    with pytest.raises(ModelLoadError, match=r"^m\.zip: cannot create cache folder .*uploads: "):
        upload.save_upload("m.zip", zip_bytes(package_entries()))
    assert cache.read_text() == "not a folder"


def test_cache_of_an_unknown_user(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, "~no_such_user_ane/cache")
    with pytest.raises(ModelLoadError) as info:
        upload.save_upload("m.zip", zip_bytes(package_entries()))
    assert str(info.value) == (
        "m.zip: $ANE_NOTEBOOK_CACHE is '~no_such_user_ane/cache', the home folder of an unknown "
        "user 'no_such_user_ane': set it to a folder"
    )
    assert not (cache.parent / "~no_such_user_ane").exists()  # not made in the working folder


def test_full_disk_removes_what_was_extracted(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second file of the zip hits a full disk (/dev/full gives the kernel's own ENOSPC):
    one line, and the first file is gone too."""
    real_open = builtins.open
    created: list[Path] = []

    def open_on_full_disk(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode == "xb":
            created.append(Path(path))
            if len(created) == 2:
                real_open(path, mode).close()  # the file exists, its data cannot be written
                return real_open("/dev/full", "wb")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(upload, "open", open_on_full_disk, raising=False)
    entries = [*package_entries(), ("m.mlpackage/Data/weights/weight.bin", b"w" * 100_000)]
    with pytest.raises(ModelLoadError) as info:
        upload.save_upload("m.zip", zip_bytes(entries))
    assert "No space left on device" in str(info.value) and "\n" not in str(info.value)
    assert info.value.__cause__.errno == errno.ENOSPC  # type: ignore[union-attr]
    assert len(created) == 2 and not any(p.exists() for p in created)
    assert not any((cache / "uploads").iterdir())


def test_full_disk_in_the_widget(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The explorer on a full disk: one line, status reset, Run usable, nothing extracted left."""
    real_open = builtins.open

    def open_on_full_disk(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode == "xb":
            real_open(path, mode).close()
            return real_open("/dev/full", "wb")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(upload, "open", open_on_full_disk, raising=False)
    ui = Explorer()
    ui.source.value = UPLOAD_CHOICE
    ui.upload.value = upload_value("m.zip", zip_bytes(package_entries()))
    assert ui.run() is None and ui.report is None
    assert ui.status.value.count("error:") == 1 and "running" not in ui.status.value
    assert "m.zip: " in ui.status.value and "No space left on device" in ui.status.value
    assert ui.output.outputs == () and not ui.run_button.disabled
    assert not any((cache / "uploads").iterdir())
