"""The live Core ML path end to end, off the Mac: coremltools' real Python layer and our real
child processes (`_child_compile`, `_child_profile`, `run_isolated`) over a simulated native Core
ML (tests/coreml_sim). Each test starts a driver process that believes it is a Mac; the devices
the simulated plan gives are asserted op by op.

What this cannot prove: what the real Core ML decides (devices, costs, compile times) and how it
fails; see README, "Where the placement comes from".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import coremltools as ct
import numpy as np
import pytest
from coreml_sim import run_sim
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types
from coremltools.models import MLModel, datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.pipeline import Pipeline

from ane_notebook.model.convert import convert_quietly
from ane_notebook.textreport import fmt_ms

pytestmark = pytest.mark.coreml_sim

# The simulated plan's default (sim_libcoremlpython._plan_row): the Neural Engine when allowed.
DEFAULT = {"ALL": "ANE", "CPU_AND_NE": "ANE", "CPU_AND_GPU": "GPU", "CPU_ONLY": "CPU"}


def _program() -> Any:
    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 8))], opset_version=ct.target.iOS17)
    def prog(x: Any) -> Any:
        y = mb.linear(x=x, weight=np.ones((4, 8), np.float32), name="fc")
        y = mb.relu(x=y, name="act")
        return mb.softmax(x=y, axis=-1, name="out")

    return prog


def _stateful(scale: float) -> MLModel:
    specs = [
        mb.TensorSpec((1, 4), dtype=types.fp16),
        mb.StateTensorSpec((1, 4), dtype=types.fp16),
    ]

    @mb.program(input_specs=specs, opset_version=ct.target.iOS18)
    def prog(x: Any, acc: Any) -> Any:
        a = mb.read_state(input=acc, name="read")
        y = mb.add(x=x, y=a, name="sum")
        mb.coreml_update_state(state=acc, value=y, name="write")
        return mb.mul(x=y, y=np.float16(scale), name="out")

    model: MLModel = convert_quietly(
        prog, minimum_deployment_target=ct.target.iOS18, skip_model_load=True
    )
    return model


def _nn_in_place() -> Any:
    b = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("y", None)])
    b.add_inner_product(
        "fc", np.ones((4, 4), np.float32), None, 4, 4, False, input_name="x", output_name="y"
    )
    b.add_activation("relu", "RELU", "y", "y")  # in place: layer "relu" rewrites blob "y"
    b.add_activation("sig", "SIGMOID", "y", "y")
    return b.spec


def _nn_stage(name: str, inp: str, out: str) -> Any:
    b = NeuralNetworkBuilder([(inp, datatypes.Array(4))], [(out, datatypes.Array(4))])
    b.add_activation(f"{name}_act", "RELU", inp, "mid")
    b.add_activation(f"{name}_out", "SIGMOID", "mid", out)  # "mid" in both stages
    return b.spec


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sim_models")
    out = {}
    prog = convert_quietly(  # fp32: the op names stay the builder's ("fc", not "fc_cast_fp16")
        _program(),
        minimum_deployment_target=ct.target.iOS17,
        compute_precision=ct.precision.FLOAT32,
        skip_model_load=True,
    )
    out["program"] = root / "prog.mlpackage"
    prog.save(str(out["program"]))
    _stateful(2.0).save(str(root / "a.mlpackage"))
    _stateful(3.0).save(str(root / "b.mlpackage"))
    desc = ct.utils.MultiFunctionDescriptor()
    desc.add_function(str(root / "a.mlpackage"), "main", "step")
    desc.add_function(str(root / "b.mlpackage"), "main", "other")
    desc.default_function_name = "step"
    out["multi"] = root / "multi.mlpackage"
    ct.utils.save_multifunction(desc, str(out["multi"]))
    out["nn"] = root / "inplace.mlmodel"
    MLModel(_nn_in_place(), skip_model_load=True).save(str(out["nn"]))
    pipe = Pipeline([("a", datatypes.Array(4))], [("c", datatypes.Array(4))])
    pipe.add_model(_nn_stage("first", "a", "b"))
    pipe.add_model(_nn_stage("second", "b", "c"))
    pipe.spec.pipeline.names.extend(["prep", "head"])
    pipe.spec.specificationVersion = 4
    out["pipeline"] = root / "pipe.mlmodel"
    MLModel(pipe.spec, skip_model_load=True).save(str(out["pipeline"]))
    return out


def _ops(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The ops that run, less `write_state`: it has no output, and plans are keyed by output
    name, so it cannot be matched yet (reported to the lead; plan mapping is planmap's)."""
    return [op for op in report["ops"] if op["op_type"] not in ("const", "write_state")]


PROFILE = """
import json, ane_notebook as an
r = an.profile({model!r}, compute_units={units!r}, backend={backend!r}, runs=2)
result = {{**json.loads(r.to_json()), "text": r.to_text()}}
"""


def test_ml_program_devices_op_by_op(models: dict[str, Path], tmp_path: Path) -> None:
    scenario = {
        "devices": {
            "fc": {"preferred": "gpu", "supported": ["cpu", "gpu"]},
            "out": {"preferred": "cpu", "supported": ["cpu", "gpu", "ane"]},
        },
        "ane_cores": 16,
    }
    code = PROFILE.format(model=str(models["program"]), units="ALL", backend="auto")
    report = run_sim(code, tmp_path, scenario)
    assert report["source"] == "coreml"
    assert report["metadata"]["backend_choice"].startswith("coreml")
    ops = _ops(report)
    assert {op["name"] for op in ops} >= {"fc", "act", "out"}
    expected = {"fc": "GPU", "out": "CPU"}
    for op in ops:
        assert op["device"] == expected.get(op["name"], "ANE"), op["name"]
    fc = next(op for op in ops if op["name"] == "fc")
    assert fc["supported"] == ["GPU", "CPU"] and fc["reason_kind"] == "coreml_unsupported"
    out = next(op for op in ops if op["name"] == "out")
    assert out["reason_kind"] == "coreml_preferred"
    # the simulated plan costs its ops evenly: Core ML's weights reach the report
    assert all(op["cost_weight"] == pytest.approx(1 / len(ops)) for op in ops)
    timings = report["timings"]
    assert timings["compute_units"] == "ALL" and timings["runs"] == 2
    assert timings["compile_ms"] > 0 and timings["load_first_ms"] > 0
    assert report["metadata"]["ane_cores"] == 16
    assert report["metadata"]["macos"] == "15.2" and report["chip"] == "M2"


def test_compare_compiles_once_and_plans_every_setting(
    models: dict[str, Path], tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    code = f"""
import json
from ane_notebook.api import ProfileRequest, run
rs = run(ProfileRequest({str(models["program"])!r}, compare=True, runs=1))
result = [{{k: json.loads(r.to_json()) for k, r in rs.reports.items()}}, rs.to_text(),
          rs["ALL"].to_text(), rs.to_html()]
"""
    reports, text, one, page = run_sim(code, tmp_path, {"log": str(log)})
    assert list(reports) == ["CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL"]
    for units, report in reports.items():
        assert report["source"] == "coreml" and report["timings"]["compute_units"] == units
        assert {op["device"] for op in _ops(report)} == {DEFAULT[units]}
    calls = [json.loads(line)[0] for line in log.read_text().splitlines()]
    assert calls.count("compileModel") == 1  # one compile for the four settings
    assert calls.count("get_compute_plan") == 4
    compile_ms = {r["timings"]["compile_ms"] for r in reports.values()}
    assert len(compile_ms) == 1  # the one compile, shown with every setting
    # compile and load beside prediction, labelled measured: text, compare text, page
    t = reports["ALL"]["timings"]
    line = (
        f"measured by Core ML (ALL): compile {fmt_ms(t['compile_ms'])} (first, uncached) · load "
        f"{fmt_ms(t['load_first_ms'])} first, {fmt_ms(t['load_cached_ms'])} cached · predict "
        f"{fmt_ms(t['predict_median_ms'])} median"
    )
    assert line in one
    flat = " ".join(text.split())  # the compare text wraps at 100 columns
    assert " ".join(line.split()) in flat and flat.count("measured by Core ML (") == 4
    # the page: the compare view's line per setting
    assert page.count("(first, uncached)") == 4
    assert f"measured by Core ML (ALL): compile {fmt_ms(t['compile_ms'])} (first" in page


def test_widget_compare_runs_on_core_ml(models: dict[str, Path], tmp_path: Path) -> None:
    code = f"""
from ane_notebook.widgets import Explorer
e = Explorer({str(models["program"])!r})
e.compare.value = True
e.run()
got = e.report
result = [sorted(got.reports), str(got.reports["ALL"].source)] if got else e.status.value
"""
    assert run_sim(code, tmp_path) == [["ALL", "CPU_AND_GPU", "CPU_AND_NE", "CPU_ONLY"], "coreml"]


def test_magic_and_cli_compare_on_core_ml(models: dict[str, Path], tmp_path: Path) -> None:
    """`%ane_profile --compare` and `ane-notebook profile` with --runs/--timeout reach Core ML
    (the timeout is each child's: a hang at the compile is stopped at 4 s)."""
    code = f"""
import contextlib, io
from IPython.core.interactiveshell import InteractiveShell
from ane_notebook.cli import main
sh = InteractiveShell.instance()
sh.run_line_magic("load_ext", "ane_notebook")
rs = sh.run_line_magic("ane_profile", "{models["program"]} --compare --runs 1 --timeout 60 -o")
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["profile", "{models["program"]}", "--runs", "1", "--timeout", "60"])
result = [sorted(rs.reports), str(rs["CPU_ONLY"].source), rs["CPU_ONLY"].timings.runs,
          code, out.getvalue()]
"""
    units, source, runs, status, printed = run_sim(code, tmp_path)
    assert units == ["ALL", "CPU_AND_GPU", "CPU_AND_NE", "CPU_ONLY"]
    assert (source, runs, status) == ("coreml", 1, 0)
    assert "placement source: coreml" in printed and "measured by Core ML (ALL)" in printed
    hang = f"""
import contextlib, io
from ane_notebook.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err):
    status = main(["profile", "{models["program"]}", "--timeout", "4"])
result = [status, err.getvalue()]
"""
    status, said = run_sim(hang, tmp_path, {"hang": "compile"})
    assert status != 0 and "within 4 s" in said


def test_multifunction_stateful_program_plans_every_function(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """Each function is planned from a copy with it as the default (Core ML plans the function it
    loads; coremltools' plan takes no function name), loaded by name with its own state."""
    log = tmp_path / "calls.log"
    code = PROFILE.format(model=str(models["multi"]), units="CPU_AND_NE", backend="coreml")
    scenario = {"log": str(log), "devices": {"other/sum": {"preferred": "cpu"}}}
    report = run_sim(code, tmp_path, scenario)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c[0] for c in calls].count("compileModel") == 2  # the package, and one copy
    loads = [c[3] for c in calls if c[0] == "load"]
    assert loads == ["step", "step", "other", "other"]  # cold and cached, per function
    # every prediction had its function's state (coremltools writes states per function)
    assert {tuple(c) for c in calls if c[0] == "predict"} == {("predict", "['x']", "True")}
    assert report["metadata"]["timed_function"] == "step"
    assert report["metadata"]["planned_functions"] == ["step", "other"]
    devices = {(op["function"], op["name"]): op["device"] for op in _ops(report)}
    assert devices[("step", "sum")] == "ANE" and devices[("other", "sum")] == "CPU"
    assert all(d == "ANE" for (f, n), d in devices.items() if (f, n) != ("other", "sum"))
    assert not [w for w in report["warnings"] if w["kind"] == "function_not_planned"]
    with open(str(models["multi"]) + "/Manifest.json", "rb") as f:
        assert b"rootModelIdentifier" in f.read()  # the user's package: read, never changed
    assert ct.utils.load_spec(str(models["multi"])).description.defaultFunctionName == "step"


def test_mil_program_object(tmp_path: Path) -> None:
    code = """
import json, numpy as np, coremltools as ct, ane_notebook as an
from coremltools.converters.mil import Builder as mb

@mb.program(input_specs=[mb.TensorSpec(shape=(1, 8))], opset_version=ct.target.iOS17)
def prog(x):
    return mb.relu(x=mb.linear(x=x, weight=np.ones((4, 8), np.float32), name="fc"), name="act")

r = an.profile(prog, backend="coreml", runs=1)
result = json.loads(r.to_json())
"""
    # converted at fp16: the relu's output is "act_cast_fp16"
    report = run_sim(code, tmp_path, {"devices": {"act_cast_fp16": {"preferred": "gpu"}}})
    devices = {op["op_type"]: op["device"] for op in _ops(report)}
    assert devices == {"cast": "ANE", "linear": "ANE", "relu": "GPU"}
    assert report["metadata"]["model"] == "<MIL Program>"


def test_pipeline_stages_devices(models: dict[str, Path], tmp_path: Path) -> None:
    scenario = {"devices": {"mid": {"preferred": "cpu"}, "first_act": {"preferred": "gpu"}}}
    code = PROFILE.format(model=str(models["pipeline"]), units="ALL", backend="coreml")
    report = run_sim(code, tmp_path, scenario)
    ops = _ops(report)
    assert len(ops) == 4
    # the plan keys NN layers by layer name: "first_act" -> GPU, the others the default
    assert [op["device"] for op in ops] == ["GPU", "ANE", "ANE", "ANE"]


def test_neural_network_in_place_layers(models: dict[str, Path], tmp_path: Path) -> None:
    scenario = {"devices": {"relu": {"preferred": "gpu"}, "sig": {"preferred": "cpu"}}}
    code = PROFILE.format(model=str(models["nn"]), units="ALL", backend="coreml")
    report = run_sim(code, tmp_path, scenario)
    assert [(op["op_type"], op["device"]) for op in _ops(report)] == [
        ("innerProduct", "ANE"),
        ("activation", "GPU"),
        ("activation", "CPU"),
    ]


def test_record_then_replay_anywhere(models: dict[str, Path], tmp_path: Path) -> None:
    import ane_notebook as an

    plan = tmp_path / "plan.json"
    code = f"""
import ane_notebook as an
r = an.record({str(models["program"])!r}, compute_units="CPU_AND_GPU", runs=1, timeout_s=120)
r.to_json({str(plan)!r})
result = r.metadata["macos_build"]
"""
    scenario = {"devices": {"act": {"preferred": "cpu"}}}
    assert run_sim(code, tmp_path, scenario, COREML_SIM_BUILD="24C999") == "24C999"
    replay = an.profile(str(models["program"]), plan=str(plan), compute_units="CPU_AND_GPU")
    assert str(replay.source) == "recorded"
    devices = {op.name: op.device.value for op in replay.ops if op.op_type != "const"}
    assert devices["act"] == "CPU" and devices["fc"] == "GPU"
    assert replay.timings is not None and replay.timings.compute_units == "CPU_AND_GPU"
    # the diagram header shows what was measured, compile and load beside prediction
    assert "measured by Core ML (CPU_AND_GPU): compile " in replay.to_html()


def test_script_without_main_guard(models: dict[str, Path], tmp_path: Path) -> None:
    """A plain script: the spawned children must not run it again."""
    code = f"""
import ane_notebook as an
r = an.profile({str(models["program"])!r}, backend="coreml", runs=1)
result = str(r.source)
"""
    assert run_sim(code, tmp_path, as_script=True) == "coreml"


# --- what happens on other Macs ---------------------------------------------------------------

AVAILABLE = """
from ane_notebook.placement.coreml import coreml_available, macos_version
result = [macos_version(), *coreml_available()]
"""


def test_macos_26_is_read_from_sw_vers(tmp_path: Path) -> None:
    got = run_sim(AVAILABLE, tmp_path, COREML_SIM_MACOS="26.1", COREML_SIM_PYTHON_SEES="16.0")
    assert got[0] == "26.1" and got[1] is True and "macOS 26.1" in got[2]


def test_old_macos_falls_back_to_the_estimate(models: dict[str, Path], tmp_path: Path) -> None:
    got = run_sim(AVAILABLE, tmp_path, COREML_SIM_MACOS="14.2")
    assert got[1] is False and "14.2 is older than 14.4" in got[2]
    code = PROFILE.format(model=str(models["program"]), units="ALL", backend="auto")
    report = run_sim(code, tmp_path, COREML_SIM_MACOS="14.2")
    assert report["source"] == "estimate"
    assert "14.2 is older" in report["metadata"]["backend_choice"]


# --- failure modes ------------------------------------------------------------------------------

FAILING = """
import ane_notebook as an
from ane_notebook.errors import AneNotebookError
try:
    an.profile({model!r}, backend="coreml", runs=1, timeout_s={timeout})
    result = None
except AneNotebookError as e:
    result = [type(e).__name__, str(e)]
"""


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        ({"unsupported_ops": ["softmax"]}, "failed while compiling the model"),
        ({"max_spec_version": 7}, "newer than this Core ML reads"),
        ({"crash": "compile"}, "crashed while compiling the model"),
        ({"crash": "load"}, "crashed while profiling with ALL"),
        ({"crash": "predict"}, "crashed while profiling with ALL"),
        ({"crash": "plan"}, "crashed while profiling with ALL"),
    ],
)
def test_core_ml_failures_become_one_line_errors(
    models: dict[str, Path], tmp_path: Path, scenario: dict[str, Any], words: str
) -> None:
    code = FAILING.format(model=str(models["program"]), timeout=60)
    kind, message = run_sim(code, tmp_path, scenario)
    assert kind == "CoreMLRunError" and words in message and "\n" not in message
    if "crash" in scenario:
        assert message.endswith("the child process died with SIGSEGV")


def test_a_hang_is_stopped_at_the_timeout(models: dict[str, Path], tmp_path: Path) -> None:
    code = FAILING.format(model=str(models["program"]), timeout=4)
    kind, message = run_sim(code, tmp_path, {"hang": "compile"})
    assert kind == "CoreMLRunError"
    assert "did not finish compiling the model" in message and "within 4 s" in message


def test_compiled_model_with_wrong_inputs_or_missing_state(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """An .mlmodelc has no spec to read: inputs come from the graph, and no state is made."""
    code = f"""
from coremltools.models.utils import compile_model
from ane_notebook.errors import CoreMLRunError
from ane_notebook.model.load import load_model
from ane_notebook.placement.coreml import run_coreml
result = []
for model, graph_of in (({str(models["program"])!r}, {str(models["pipeline"])!r}),
                        ({str(models["multi"])!r}, {str(models["multi"])!r})):
    compiled = compile_model(model, {str(tmp_path)!r} + "/" + str(len(result)) + ".mlmodelc")
    try:
        run_coreml(compiled, load_model(graph_of), runs=1, progress=False)
        result.append(None)
    except CoreMLRunError as e:
        result.append(str(e))
"""
    wrong_input, no_state = run_sim(code, tmp_path)
    assert "Core ML failed while profiling with ALL" in wrong_input
    assert "Feature a is not an input of the model" in wrong_input
    assert "needs an MLState" in no_state


@pytest.mark.parametrize(
    ("native", "words"),
    [
        ("missing", "coremltools' native library is missing"),
        ("no_plan", "no compute-plan support (MLComputePlan)"),
    ],
)
def test_coremltools_without_a_usable_native_library(
    tmp_path: Path, native: str, words: str
) -> None:
    got = run_sim(AVAILABLE, tmp_path, COREML_SIM_NATIVE=native)
    assert got[1] is False and words in got[2]


def test_mlmodel_objects_and_run_coreml_arguments(models: dict[str, Path], tmp_path: Path) -> None:
    """MLModel objects (from a package; in memory, saved first), an unknown chip kept in the
    system's words, analytics handed in, and run_coreml's own argument checks."""
    code = f"""
import json
from coremltools.models import MLModel
from ane_notebook.model.load import load_model
from ane_notebook.placement.coreml import run_coreml
pkg = MLModel({str(models["program"])!r}, skip_model_load=True)
nn = MLModel(MLModel({str(models["nn"])!r}, skip_model_load=True).get_spec(), skip_model_load=True)
(tmp := {str(tmp_path)!r} + "/analytics.txt") and open(tmp, "w").write("")
a = run_coreml(pkg, load_model(pkg), "CPU_ONLY", runs=1, progress=False, analytics={{}})
b = run_coreml(nn, load_model(nn), ["CPU_AND_NE"], runs=1, progress=False, analytics=tmp)
bad = []
for kwargs in ({{"runs": 0}}, {{"timeout_s": 0}}):
    try:
        run_coreml(pkg, load_model(pkg), **kwargs)
    except ValueError as e:
        bad.append(str(e))
result = [a.model, sorted(u.value for u in a.placements), a.metadata["chip"],
          b.model, b.placements["CPU_AND_NE"].metadata["plan_ops"], bad]
"""
    got = run_sim(code, tmp_path, COREML_SIM_CHIP="Apple M9 Ultra")
    name_a, units_a, chip, name_b, plan_ops_b, bad = got
    assert name_a == str(models["program"]) and units_a == ["CPU_ONLY"]
    assert chip == "Apple M9 Ultra"
    assert name_b == "<MLModel in memory>"
    assert plan_ops_b == 3  # its three layers planned
    assert bad == ["runs must be at least 1", "timeout_s must be a positive number of seconds"]


ISOLATED = """
from ane_notebook.errors import CoreMLRunError
from ane_notebook.placement.isolation import run_isolated
result = []
for func, args, timeout in {jobs}:
    try:
        result.append(["ok", repr(run_isolated(func, args, timeout, what="testing"))])
    except CoreMLRunError as e:
        result.append(["error", str(e)])
"""


def test_isolation_edge_cases(tmp_path: Path) -> None:
    jobs = [
        ("os.path:join", ("a", "b"), 60),  # "module:qualname"
        ("os:sep", (), 60),  # not callable: the child says so
        ("threading:Lock", (), 60),  # a result that cannot be sent back
        ("os:_exit", (3,), 60),
        ("os:_exit", (0,), 60),
        ("signal:raise_signal", (40,), 60),  # a signal with no name
        ("sim_libcoremlpython:stubborn", (), 3),  # ignores SIGTERM: killed
    ]
    got = run_sim(ISOLATED.format(jobs=repr(jobs)), tmp_path)
    assert got[0] == ["ok", repr("a/b")]
    assert got[1][0] == "error" and "TypeError: 'os:sep' is not callable" in got[1][1]
    assert got[2][0] == "error" and "the result cannot be sent back" in got[2][1]
    assert got[3] == [
        "error",
        "Core ML crashed while testing: the child process exited with status 3 without a result",
    ]
    assert got[4] == [
        "error",
        "Core ML crashed while testing: the child process exited without a result",
    ]
    assert got[5] == [
        "error",
        "Core ML crashed while testing: the child process died with signal 40",
    ]
    assert got[6][0] == "error" and "within 3 s; the child process was killed" in got[6][1]
