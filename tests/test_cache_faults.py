"""A cache that cannot be used, through every entry point (GitHub issue 13 §5).

An example model not built yet must be built into the cache. When the cache is unusable (its
variable names an unknown user's home, its root is a file, its folder is read-only, the disk is
full) the API, the CLI, the `%ane_profile` magic and the explorer each say so in one line naming
the example, the shell and the widget carry on, and nothing is left in the cache or the working
folder. `tests/test_examples.py` and `tests/test_upload.py` test the cache functions themselves.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
from bad_inputs import read_only
from IPython.core.interactiveshell import InteractiveShell

from ane_notebook.api import profile
from ane_notebook.cli import main
from ane_notebook.errors import ModelLoadError
from ane_notebook.escape import html_text
from ane_notebook.model import examples
from ane_notebook.model.cache import CACHE_ENV
from ane_notebook.widgets import Explorer

EXAMPLE = "example:fp32"


def _disk_full(name: str, package_dir: object = None) -> None:
    """A build whose weights hit a full disk (/dev/full gives the kernel's own ENOSPC)."""
    os.makedirs(os.path.join(str(package_dir), "Data"))
    with open("/dev/full", "wb") as f:
        f.write(b"weights" * 10_000)


# fault -> (set it up in tmp_path; returns a context to run in), the problem's pattern
Setup = Callable[[Path, pytest.MonkeyPatch], AbstractContextManager[object]]


def _unknown_user(tmp: Path, mp: pytest.MonkeyPatch) -> AbstractContextManager[object]:
    mp.setenv(CACHE_ENV, "~nosuchuser/x")
    return nullcontext()


def _root_is_a_file(tmp: Path, mp: pytest.MonkeyPatch) -> AbstractContextManager[object]:
    (tmp / "cache").write_text("not a folder")
    mp.setenv(CACHE_ENV, str(tmp / "cache"))
    return nullcontext()


def _read_only(tmp: Path, mp: pytest.MonkeyPatch) -> AbstractContextManager[object]:
    mp.setenv(CACHE_ENV, str(tmp / "cache"))
    return read_only(tmp / "cache" / "examples")


def _full_disk(tmp: Path, mp: pytest.MonkeyPatch) -> AbstractContextManager[object]:
    mp.setenv(CACHE_ENV, str(tmp / "cache"))
    mp.setattr(examples, "build_example_model", _disk_full)
    return nullcontext()


FAULTS: dict[str, tuple[Setup, str]] = {
    "unknown_user": (
        _unknown_user,
        r"\$ANE_NOTEBOOK_CACHE is '~nosuchuser/x', the home folder of an unknown user "
        r"'nosuchuser': set it to a folder$",
    ),
    "root_is_a_file": (_root_is_a_file, r"cannot create cache folder .*cache/examples: "),
    "read_only": (_read_only, r"cannot write to cache folder .*cache/examples: "),
    "full_disk": (_full_disk, r"cannot write to cache folder .*: No space left on device$"),
}


@pytest.fixture(params=sorted(FAULTS))
def fault(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Set up one fault with the working folder in tmp_path; afterwards, check that nothing
    was left behind but the (empty) cache folders."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    setup, problem = FAULTS[request.param]
    with setup(tmp_path, monkeypatch):
        yield problem
    assert os.listdir(work) == []  # e.g. no "~nosuchuser" folder made here
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    if (tmp_path / "cache").is_dir():
        assert [p for p in leftovers if p.parent.name != "locks"] == []


def one_line(message: str, problem: str) -> None:
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(f"{EXAMPLE}: "), message
    assert re.search(problem, message[len(EXAMPLE) + 2 :]), message


def test_api(fault: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        profile(EXAMPLE)
    one_line(str(info.value), fault)


def test_cli(fault: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", EXAMPLE]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("ane-notebook: error: ")
    one_line(err.strip()[len("ane-notebook: error: ") :], fault)


@pytest.fixture(scope="module")
def ip() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "ane_notebook")
    return shell


def test_magic(fault: str, ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    assert ip.run_line_magic("ane_profile", EXAMPLE) is None
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and len(err.splitlines()) == 1, err
    assert err.startswith("ane_profile: error: ")
    one_line(err.strip()[len("ane_profile: error: ") :], fault)
    assert ip.run_cell("cache_probe = 6 * 7").success and ip.user_ns["cache_probe"] == 42


def test_widget(fault: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        profile(EXAMPLE)
    one_line(str(info.value), fault)
    ui = Explorer(EXAMPLE)
    assert ui.run() is None and ui.report is None
    assert ui.status.value.count("error:") == 1 and "running" not in ui.status.value
    assert html_text(str(info.value), 400) in ui.status.value
    assert ui.output.outputs == () and not ui.run_button.disabled
