"""The error contract: one line a user can act on, from the CLI, the magic and the library, and
text output that cannot fool a terminal or break on it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import coremltools as ct
import pytest
from coremltools.converters.mil import Builder as mb
from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.interactiveshell import InteractiveShell

import ane_notebook as an
from ane_notebook.cli import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, main
from ane_notebook.errors import (
    AneNotebookError,
    OutputError,
    PlanError,
    UnknownOpError,
    UsageError,
)
from ane_notebook.escape import plain
from ane_notebook.model.convert import convert_quietly
from ane_notebook.placement.estimate import estimate

# Everything `plain` must neutralise: C0/C1 controls, DEL, line/paragraph separators, the
# bidirectional marks, embeddings, overrides and isolates.
UNSAFE_CHARS = [
    "\x1b", "\x07", "\x00", "\n", "\r", "\x85", "\x9b", "\x7f", "\u2028", "\u2029", "\u200e",
    "\u200f", "\u061c", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
    "\u2068", "\u2069",
]  # fmt: skip


@pytest.mark.parametrize("char", UNSAFE_CHARS, ids=[f"U+{ord(c):04X}" for c in UNSAFE_CHARS])
def test_plain_escapes_every_unsafe_character(char: str) -> None:
    out = plain(f"a{char}b")
    assert char not in out and out.startswith("a\\") and out.endswith("b")
    # Wide characters are written \uXXXX, never the ambiguous \xXXXX.
    expected = f"\\x{ord(char):02x}" if ord(char) <= 0xFF else f"\\u{ord(char):04x}"
    assert out == f"a{expected}b"


# --- the CLI ---------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own exit
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_argparse_errors_are_one_line_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "profile", "example:lstm", "--no-such-option")
    assert code == EXIT_BAD_INPUT and out == ""
    assert err == (
        "ane-notebook: error: unrecognized arguments: --no-such-option "
        "(see `ane-notebook --help`)\n"
    )
    code, _, err = _cli(capsys, "profile", "example:lstm", "--backend", "tpu")
    assert code == EXIT_BAD_INPUT and len(err.splitlines()) == 1
    assert "invalid choice: 'tpu'" in err and "(see `ane-notebook profile --help`)" in err
    code, _, err = _cli(capsys)
    assert code == EXIT_BAD_INPUT and len(err.splitlines()) == 1 and "usage:" not in err


def test_argparse_errors_escape_what_they_echo(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "profile", "example:lstm", "--\x1b[31mred\u202e")
    assert code == EXIT_BAD_INPUT
    assert "\x1b" not in err and "\u202e" not in err and "\\x1b[31mred\\u202e" in err
    assert len(err.splitlines()) == 1


def _save_non_ascii_model(tmp_path: Path) -> Path:
    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 64))], opset_version=ct.target.iOS17)
    def prog(x: Any) -> Any:
        # Not an output: coremltools renames outputs to ASCII, inner names are kept.
        inner = mb.relu(x=x, name="relu_模型_ünï")
        return mb.sigmoid(x=inner, name="out")

    path = tmp_path / "modèle_模型.mlpackage"
    convert_quietly(prog, convert_to="mlprogram", skip_model_load=True, package_dir=str(path))
    return path


def _cli_process(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, **kwargs.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "ane_notebook.cli", *argv],
        env=env,
        timeout=120,
        check=False,
        **kwargs,
    )


def test_a_terminal_that_cannot_show_a_name_gets_escapes(tmp_path: Path) -> None:
    model = _save_non_ascii_model(tmp_path)
    proc = _cli_process(
        "profile", str(model), capture_output=True, env={"PYTHONIOENCODING": "ascii"}
    )
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode("ascii")  # every byte is ASCII
    assert "ane_notebook: mod\\xe8le_\\u6a21\\u578b (" in text


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte, like `| head -0`
    try:
        proc = _cli_process(
            "profile", "example:transformer", stdout=write_end, stderr=subprocess.PIPE
        )
    finally:
        os.close(write_end)
    assert proc.returncode == EXIT_BROKEN_PIPE
    assert proc.stderr.decode() == ""


# --- the magic -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ip() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "ane_notebook")
    return shell


def test_magic_argument_errors_escape_what_they_echo(ip: InteractiveShell) -> None:
    with pytest.raises(IPythonUsageError) as info:
        ip.run_line_magic("ane_profile", "example:lstm --\x1b[31mred")
    message = str(info.value)
    assert "\x1b" not in message and "\\x1b[31mred" in message and "\n" not in message


def test_magic_refuses_to_write_html_over_its_model(ip: InteractiveShell, tmp_path: Path) -> None:
    model = _save_non_ascii_model(tmp_path)
    spec = model / "Data" / "com.apple.CoreML" / "model.mlmodel"
    before = hashlib.sha256(spec.read_bytes()).hexdigest()
    with pytest.raises(IPythonUsageError, match="refusing to write the html output over"):
        ip.run_line_magic("ane_profile", f"'{model}' -q --html '{spec}'")
    assert hashlib.sha256(spec.read_bytes()).hexdigest() == before


# --- the library -----------------------------------------------------------------------------


def _report() -> an.ProfileReport:
    return an.profile("example:lstm")


LIBRARY_MISTAKES: list[tuple[str, Callable[[], object], type[AneNotebookError], str]] = [
    ("chip given as a number", lambda: an.profile("example:lstm", chip=12), UsageError,
     r"^unknown chip 12 \(a int\); give a name such as A12, .*M4$"),
    ("unknown op", lambda: _report().op("missing"), UnknownOpError,
     r"^no op named 'missing' in the report of 'lstm'$"),
    ("JSON into a missing folder", lambda: _report().to_json("/nonexistent-dir/r.json"),
     OutputError, r"^/nonexistent-dir/r.json: cannot write: No such file or directory$"),
    ("HTML into a missing folder", lambda: _report().to_html("/nonexistent-dir/r.html"),
     OutputError, r"^/nonexistent-dir/r.html: cannot write: No such file or directory$"),
    ("estimate for unknown units", lambda: estimate(an.load_model("example:lstm"), "TPU"),
     UsageError, r"^unknown compute units 'TPU'; choose one of CPU_ONLY, .*ALL$"),
    ("zero runs", lambda: an.profile("example:lstm", runs=0), UsageError,
     r"^runs must be a whole number of predictions, at least 1; got 0$"),
    ("unknown backend", lambda: an.profile("example:lstm", backend="tpu"), UsageError,
     r"^unknown backend 'tpu'; choose one of auto, estimate, coreml, recorded$"),
    ("diff with a number", lambda: an.diff(_report(), 12), UsageError,  # type: ignore[arg-type]
     r"^diff: the new report must be a ProfileReport or the path of a saved report, not int$"),
    ("diff with a missing report", lambda: an.diff("/nonexistent-dir/base.json", _report()),
     PlanError, r"^/nonexistent-dir/base.json: no such file$"),
    ("unknown op with a hostile name", lambda: _report().op("x\u202e\x1b[2J"), UnknownOpError,
     r"^no op named 'x\\u202e\\x1b\[2J' in the report of 'lstm'$"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [case[1:] for case in LIBRARY_MISTAKES],
    ids=[case[0] for case in LIBRARY_MISTAKES],
)
def test_library_mistakes_raise_our_one_line_errors(
    call: Callable[[], object], error: type[AneNotebookError], pattern: str
) -> None:
    with pytest.raises(error, match=pattern) as info:
        call()
    assert "\n" not in str(info.value)


def test_our_errors_stay_the_python_errors_callers_expect() -> None:
    with pytest.raises(ValueError):
        an.ComputeUnits.parse("TPU")
    with pytest.raises(KeyError):
        _report().op("missing")


def test_json_output_refuses_to_overwrite_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _save_non_ascii_model(tmp_path)
    spec = model / "Data" / "com.apple.CoreML" / "model.mlmodel"
    before = hashlib.sha256(spec.read_bytes()).hexdigest()
    for target in (spec, model / "Manifest.json", model / "new.json"):
        code, _, err = _cli(capsys, "profile", str(model), "--json", str(target))
        assert code == EXIT_BAD_INPUT and "refusing to write the json output over the input" in err
    assert hashlib.sha256(spec.read_bytes()).hexdigest() == before
    assert not (model / "new.json").exists()


def test_html_output_refuses_to_overwrite_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _save_non_ascii_model(tmp_path)
    spec = model / "Data" / "com.apple.CoreML" / "model.mlmodel"
    before = hashlib.sha256(spec.read_bytes()).hexdigest()
    for target in (spec, model / "Manifest.json", model / "new.html"):
        code, _, err = _cli(capsys, "profile", str(model), "--html", str(target))
        assert code == EXIT_BAD_INPUT and "refusing to write the html output over the input" in err
    assert hashlib.sha256(spec.read_bytes()).hexdigest() == before
    assert not (model / "new.html").exists()


def test_a_refused_output_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing printed, and the --json file beside the refused --html is not written either.
    model = _save_non_ascii_model(tmp_path)
    spec = model / "Data" / "com.apple.CoreML" / "model.mlmodel"
    json_out = tmp_path / "r.json"
    code, out, err = _cli(
        capsys, "profile", str(model), "--json", str(json_out), "--html", str(spec)
    )
    assert code == EXIT_BAD_INPUT and out == "" and len(err.splitlines()) == 1, out + err
    assert not json_out.exists()


def test_json_and_html_cannot_name_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.out"
    code, out, err = _cli(
        capsys, "profile", "example:lstm", "--json", str(target), "--html", str(target)
    )
    assert code == EXIT_BAD_INPUT and out == "", out
    assert err == (
        f"ane-notebook: error: {target}: the json and html outputs name the same file; "
        "choose two file names\n"
    )
    assert not target.exists()


def test_diff_reads_saved_reports(tmp_path: Path) -> None:
    base = an.profile("example:mobilenet", "CPU_AND_NE", backend="estimate")
    new = an.profile("example:mobilenet", "CPU_ONLY", backend="estimate")
    base.to_json(tmp_path / "base.json")
    from_paths = an.diff(tmp_path / "base.json", str(tmp_path / "base.json"))
    assert from_paths.matched == base.summary().n_ops and not from_paths.left_ane
    assert an.diff(tmp_path / "base.json", new).to_dict() == an.diff(base, new).to_dict()
