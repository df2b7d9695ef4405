"""The ane-notebook command: profile output, JSON, examples, chips, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ane_notebook.cli import main


def test_profile_prints_summary_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    assert main(["profile", "example:transformer", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Compute Unit Mapping" in text and "Segments:" in text and "Crossings:" in text
    data = json.loads(out.read_text())
    devices = {o["device"] for o in data["ops"] if o["device"]}
    assert "ANE" in devices and len(devices) >= 2
    assert len(data["segments"]) >= 2 and len(data["crossings"]) >= 1
    assert all(o["reason"] for o in data["ops"] if o["device"] not in (None, "ANE"))


def test_compute_units_and_chip_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "example:transformer", "-u", "cpu_and_gpu", "--chip", "M4"]) == 0
    text = capsys.readouterr().out
    assert "compute units: CPU_AND_GPU" in text and "chip: M4" in text
    ane_line = next(line for line in text.splitlines() if "Neural Engine  " in line)
    assert ane_line.split()[2] == "0"


def test_examples_and_chips(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["examples"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("example:transformer") for line in lines)
    assert main(["chips"]) == 0
    assert "(default)" in capsys.readouterr().out


def test_chips_show_each_chips_direct_path_capabilities(capsys: pytest.CaptureFixture[str]) -> None:
    # Every capability field of a chip profile is shown (issue 15: no unread fields), from the
    # profile itself: the M1 has none of them, the M4 all four.
    from ane_notebook.placement.devices import get_chip

    assert main(["chips"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    m4 = get_chip("M4")
    assert m4.ane_sort and m4.blockwise_native and m4.texture_engine and m4.ane_trig
    assert rows["M4"].split()[-4:] == ["texture", "sort", "trig", "blockwise"]
    m1 = get_chip("M1")
    assert not (m1.ane_sort or m1.blockwise_native or m1.texture_engine or m1.ane_trig)
    assert rows["M1"].split()[-2:] == ["-", "(default)"]
    assert "blockwise" not in rows["M2"] and "sort" in rows["M2"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["profile", "no/such/model.mlpackage"], "no/such/model.mlpackage"),
        (["profile", "example:nope"], "unknown example"),
        (["profile", "example:mobilenet", "-u", "TPU"], "unknown compute units"),
        (["profile", "example:mobilenet", "--chip", "Z9"], "unknown chip"),
        (["profile", "example:mobilenet", "--backend", "recorded"], "needs plan="),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ane-notebook: error:") and fragment in err
    assert len(err.splitlines()) == 1


def test_console_script_runs_in_a_subprocess(tmp_path: Path) -> None:
    env = {**os.environ}
    proc = subprocess.run(
        [sys.executable, "-m", "ane_notebook.cli", "profile", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("ane-notebook: error:")
    assert "Traceback" not in proc.stderr


# What each command imports, in a fresh interpreter: coremltools alone takes 1-3 s to import,
# numpy ~0.1 s (GitHub issue 14). Listing commands need neither; profiling a model file needs
# coremltools' protobuf classes only, never the rest of coremltools.
_IMPORTS = (
    "import sys, json, io, contextlib\n"
    "from ane_notebook.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    code = main(sys.argv[1:])\n"
    "print(json.dumps([code, sorted(m for m in ('coremltools', 'numpy', 'bokeh', "
    "'google.protobuf', 'coremltools.proto') if m in sys.modules)]))\n"
)


def _imports_of(*argv: str) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTS, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    code, modules = json.loads(proc.stdout.strip().splitlines()[-1])
    return code, modules


@pytest.mark.parametrize("command", ["examples", "chips"])
def test_listing_commands_import_nothing_heavy(command: str) -> None:
    assert _imports_of(command) == (0, [])


def test_profiling_a_file_reads_protobuf_without_importing_coremltools() -> None:
    # (the session's example cache: building an example does import coremltools, in the
    # parent here, so that the child only reads the cached file)
    from ane_notebook.model.examples import example_path

    example_path("mobilenet")
    code, modules = _imports_of("profile", "example:mobilenet")
    assert code == 0
    assert "coremltools" not in modules and "coremltools.proto" in modules
