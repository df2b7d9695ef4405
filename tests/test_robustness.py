"""Bad input through every entry point: one specific line, no crash, no hang, nothing written.

Each case of the corpus in `tests/bad_inputs.py` (broken files and packages, malformed specs,
bad recorded plans) goes through the API (`profile`, `load_report`), the CLI (`cli.main`
in-process, and a real `ane-notebook` process), the `%ane_profile` magic in an in-process IPython
shell, and the Explorer widget. Each must fail with its error class and a one-line message
`<file>: <problem>`, within a time limit, leaving the folder it was given (and the working
directory) exactly as it was. Inputs that are odd but valid (zero or unknown dimensions, unknown op
types and dtypes) must profile cleanly instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from bad_inputs import MODEL_CASES, PLAN_CASES, Case, main_block, small_spec, write_spec
from coremltools.proto import Model_pb2
from IPython.core.interactiveshell import InteractiveShell

from ane_notebook.api import profile
from ane_notebook.cli import main
from ane_notebook.errors import MAX_MESSAGE_CHARS, AneNotebookError, PlanError
from ane_notebook.escape import html_text, plain
from ane_notebook.model.load import MAX_NESTING, graph_from_spec
from ane_notebook.report import load_report, report_from_dict
from ane_notebook.widgets import PATH_CHOICE, Explorer

ALL_CASES = MODEL_CASES + PLAN_CASES
TYPED_CASES = [c for c in ALL_CASES if c.typeable]  # what a magic line can name
TIME_LIMIT_S = 30  # per test; every case here takes well under a second


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


@pytest.fixture(autouse=True)
def time_limit() -> Iterator[None]:
    """Fail (rather than hang the suite) if a case blocks, e.g. reading a FIFO."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"no answer within {TIME_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TIME_LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under `root` (not following links): type, size, mtime and content hash."""
    out: dict[str, tuple[int, int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
            out[str(p.relative_to(root))] = (
                stat.S_IFMT(st.st_mode),
                st.st_size,
                st.st_mtime_ns,
                digest,
            )
    return out


class Inputs:
    """A case built into `tmp_path/inputs`, with the working directory set to `tmp_path`."""

    def __init__(self, case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        folder = tmp_path / "inputs"
        folder.mkdir()
        self.model, self.plan = case.build(folder)
        self.named = self.plan if self.plan is not None else self.model
        self.root = tmp_path
        monkeypatch.chdir(tmp_path)  # anything written "here" would show in the snapshot
        self.before = snapshot(tmp_path)

    def assert_untouched(self) -> None:
        assert snapshot(self.root) == self.before, "the input folder or working dir changed"


def check_problem(case: Case, message: str, named: Path) -> None:
    """`message` is `<named>: <problem>`, one line, problem as the case says (the file name
    escaped like every name in a message)."""
    assert "\n" not in message and "\r" not in message
    prefix = f"{plain(str(named), MAX_MESSAGE_CHARS)}: "
    assert message.startswith(prefix), message
    assert re.search(case.problem, message[len(prefix) :]), message


# --------------------------------------------------------------------------------------------
# API


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_api(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = Inputs(case, tmp_path, monkeypatch)
    with pytest.raises(AneNotebookError) as info:
        profile(inputs.model, plan=inputs.plan)
    assert type(info.value) is case.error
    check_problem(case, str(info.value), inputs.named)
    inputs.assert_untouched()


@pytest.mark.parametrize("case", PLAN_CASES, ids=_ids(PLAN_CASES))
def test_load_report(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad plan opened as a report: a report (mismatches are not the file's fault) or a
    PlanError naming the file, never anything else."""
    inputs = Inputs(case, tmp_path, monkeypatch)
    assert inputs.plan is not None
    try:
        report = load_report(inputs.plan)
    except PlanError as e:
        assert str(e).startswith(f"{plain(str(inputs.plan))}: ") and "\n" not in str(e)
    else:
        assert report_from_dict(json.loads(report.to_json())) == report
    inputs.assert_untouched()


# --------------------------------------------------------------------------------------------
# CLI


def cli_args(inputs: Inputs) -> list[str]:
    args = ["profile", str(inputs.model)]
    return args + (["--plan", str(inputs.plan)] if inputs.plan is not None else [])


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_cli(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = Inputs(case, tmp_path, monkeypatch)
    assert main(cli_args(inputs)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ane-notebook: error: ")
    check_problem(case, lines[0][len("ane-notebook: error: ") :], inputs.named)
    inputs.assert_untouched()


def test_cli_debug_shows_the_error_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in MODEL_CASES if c.name == "cycle_in_data_flow")
    inputs = Inputs(case, tmp_path, monkeypatch)
    with pytest.raises(case.error, match="before it is produced"):
        main([*cli_args(inputs), "--debug"])


def test_real_ane_notebook_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed command, as a user runs it: exit status 2 and one line on stderr."""
    case = next(c for c in PLAN_CASES if c.name == "remote_plan_for_another_model")
    inputs = Inputs(case, tmp_path, monkeypatch)
    exe = shutil.which("ane-notebook") or shutil.which(
        "ane-notebook", path=os.path.dirname(sys.executable)
    )
    command = [exe] if exe else [sys.executable, "-m", "ane_notebook.cli"]
    proc = subprocess.run(
        [*command, *cli_args(inputs)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ane-notebook: error: ")
    check_problem(case, lines[0][len("ane-notebook: error: ") :], inputs.named)
    inputs.assert_untouched()


# --------------------------------------------------------------------------------------------
# Magic


@pytest.fixture(scope="module")
def ip() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "ane_notebook")
    return shell


def magic_line(inputs: Inputs) -> str:
    line = shlex.quote(str(inputs.model))
    return line + (f" --plan {shlex.quote(str(inputs.plan))}" if inputs.plan is not None else "")


@pytest.mark.parametrize("case", TYPED_CASES, ids=_ids(TYPED_CASES))
def test_magic(
    case: Case,
    ip: InteractiveShell,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inputs = Inputs(case, tmp_path, monkeypatch)
    assert ip.run_line_magic("ane_profile", magic_line(inputs)) is None
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ane_profile: error: ")
    check_problem(case, lines[0][len("ane_profile: error: ") :], inputs.named)
    # The shell carries on.
    result = ip.run_cell("robustness_probe = 6 * 7")
    assert result.success and ip.user_ns["robustness_probe"] == 42
    inputs.assert_untouched()


def test_magic_debug_raises(
    ip: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in PLAN_CASES if c.name == "plan_float_overflow")
    inputs = Inputs(case, tmp_path, monkeypatch)
    with pytest.raises(PlanError, match="out of range"):
        ip.run_line_magic("ane_profile", magic_line(inputs) + " --debug")


# --------------------------------------------------------------------------------------------
# Widget (it takes a path, not a plan)


@pytest.mark.parametrize("case", MODEL_CASES, ids=_ids(MODEL_CASES))
def test_widget(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = Inputs(case, tmp_path, monkeypatch)
    with pytest.raises(case.error) as info:
        profile(inputs.model)
    ui = Explorer()
    ui.source.value = PATH_CHOICE
    ui.path.value = str(inputs.model)
    assert ui.run() is None
    assert ui.report is None
    assert html_text(str(info.value), 400) in ui.status.value
    assert ui.output.outputs == ()
    assert not ui.run_button.disabled
    inputs.assert_untouched()


# --------------------------------------------------------------------------------------------
# Odd but valid: these profile, and say what they could not know


def _odd_specs() -> dict[str, Model_pb2.Model]:
    unknown = small_spec([("frobnicate", {"x": "x"}, "f"), ("relu", {"x": "f"}, "r")])
    main_block(unknown).operations[1].outputs[0].type.tensorType.dataType = 999
    rank_only = small_spec()
    tt = main_block(rank_only).operations[0].outputs[0].type.tensorType
    del tt.dimensions[:]
    tt.rank = 10**15  # never used to allocate
    return {
        "zero_dimension": small_spec(dims=[0, 8]),
        "unknown_dimension": small_spec(dims=[None, 8]),
        "large_dimensions": small_spec(dims=[2**40, 2**40]),
        "unknown_op_type_and_dtype": unknown,
        "rank_without_dimensions": rank_only,
    }


@pytest.mark.parametrize("name", list(_odd_specs()))
def test_odd_but_valid_models_profile(name: str, tmp_path: Path) -> None:
    path = write_spec(tmp_path / f"{name}.mlmodel", _odd_specs()[name])
    report = profile(path, backend="estimate")
    assert report.summary().n_ops > 0
    assert report_from_dict(json.loads(report.to_json())) == report
    assert "Compute Unit Mapping" in report.to_text()
    if name == "unknown_op_type_and_dtype":
        frob = report.op("f")
        assert frob.device is not None and frob.device.value != "ANE"
        assert "not in the rule table" in frob.reason
        assert report.op("r").outputs[0].dtype == "unknown(999)"
    if name == "large_dimensions":
        assert any("16384" in o.reason for o in report.ops)  # too large for the ANE, and said


def test_nesting_limit_in_memory() -> None:
    """Past protobuf's own recursion limit only in-memory specs get deep: the loader's limit."""
    spec = small_spec([])
    block = main_block(spec)
    for i in range(MAX_NESTING + 2):
        op = block.operations.add()
        op.type = "while_loop"
        op.outputs.add().name = f"w{i}"
        block = op.blocks.add()
    with pytest.raises(AneNotebookError, match=f"blocks nested deeper than {MAX_NESTING}"):
        graph_from_spec(spec, source="deep")


def test_the_plan_cases_model_is_valid(tmp_path: Path) -> None:
    """Plan cases fail because of the plan: their model profiles and round-trips cleanly."""
    from bad_inputs import small_model

    report = profile(small_model(tmp_path), backend="estimate")
    report.to_json(tmp_path / "r.json")
    assert load_report(tmp_path / "r.json") == report


# --------------------------------------------------------------------------------------------
# Files the user names for output; plans that fit still replay


def test_unwritable_output_paths_are_one_line_errors(
    ip: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bad_inputs import small_model

    model = small_model(tmp_path)
    target = tmp_path / "no" / "such" / "folder" / "r.json"
    assert main(["profile", str(model), "--json", str(target)]) == 2
    err = capsys.readouterr().err
    assert err == f"ane-notebook: error: {target}: cannot write: No such file or directory\n"
    page = tmp_path / "missing-folder" / "r.html"
    assert ip.run_line_magic("ane_profile", f"{model} -q --html {page}") is None
    assert capsys.readouterr().err == (
        f"ane_profile: error: {page}: cannot write: No such file or directory\n"
    )
    assert not (tmp_path / "no").exists() and not (tmp_path / "missing-folder").exists()


def test_remote_plan_that_fits_replays(tmp_path: Path) -> None:
    """Core ML may drop or fuse ops when compiling: a plan naming only some of the model's ops
    (and one the model lacks) is still replayed, and says which ops it did not cover."""
    from bad_inputs import remote_info, small_model

    model = small_model(tmp_path)
    plan = tmp_path / "remote.json"
    infos = [
        remote_info("r1", "neuralEngine"),
        remote_info("s1", "gpu"),
        remote_info("a1", "cpu"),
        remote_info("fused_away"),
    ]
    plan.write_text(json.dumps({"infos": infos}))
    report = profile(model, plan=plan)
    assert report.source == "recorded" and report.metadata["recorded_plan"] == str(plan)
    devices = {o.name: o.device.value if o.device else None for o in report.ops}
    assert devices == {"r1": "ANE", "s1": "GPU", "bias": None, "a1": "CPU", "out": None}
    assert "not in Core ML's compute plan" in report.op("out").reason
    assert report.metadata["unmatched_plan_ops"] == ["main/fused_away"]
