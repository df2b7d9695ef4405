"""The live Core ML backend: plan mapping, remote plans, crash isolation, E5 analytics.

Everything but the `macos` tests runs anywhere: the mapping code is exercised against coremltools'
own compute-plan dataclasses and compute-device classes, built without the native proxy.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from coremltools.models import compute_device as cd
from coremltools.models import compute_plan as cp
from coremltools.models.ml_program.experimental.model_structure_path import (
    ModelStructurePath,
    map_model_structure_to_path,
)
from coremltools.models.ml_program.experimental.remote_device import ComputePlan
from coremltools.proto import FeatureTypes_pb2, Model_pb2

from ane_notebook.errors import CoreMLRunError, CoreMLUnavailableError, PlanError
from ane_notebook.model.graph import Graph, Op, TensorInfo
from ane_notebook.placement import coreml
from ane_notebook.placement.coreml import (
    coreml_available,
    make_inputs,
    run_coreml,
)
from ane_notebook.placement.devices import ComputeUnits, Device
from ane_notebook.placement.e5_analytics import (
    backend_device,
    parse_e5_analytics,
)
from ane_notebook.placement.isolation import run_isolated
from ane_notebook.placement.plan_mapping import (
    NO_USAGE,
    NOT_IN_PLAN,
    PER_OP_TIME,
    PER_OP_TIME_MISSING,
    REASONS_FOUND,
    REASONS_MISSING,
    compute_plan_entries,
    device_of,
    placement_from_compute_plan,
    placement_from_remote_plan,
    remote_plan_entries,
    remote_plan_from_entries,
)
from ane_notebook.placement.result import CoreMLTimings, ReasonKind

DATA = Path(__file__).parent / "data" / "coreml"
REMOTE_PLAN = DATA / "remote_plan_main.json"
E5_LOG = DATA / "e5_analytics_log.txt"
ALL = ComputeUnits.ALL

AVAILABLE, WHY_NOT = coreml_available()


# --- coremltools objects built without Core ML ------------------------------------------------


def _device(cls: type) -> Any:
    """A coremltools compute device without a native proxy: its __init__ insists on one
    (TypeError off macOS), so skip __init__; isinstance still holds, which is all we use."""
    return object.__new__(cls)


CPU_DEV = _device(cd.MLCPUComputeDevice)
GPU_DEV = _device(cd.MLGPUComputeDevice)
ANE_DEV = _device(cd.MLNeuralEngineComputeDevice)
DEVICE_OBJECTS = {
    ComputePlan.CPUDevice: CPU_DEV,
    ComputePlan.GPUDevice: GPU_DEV,
    ComputePlan.NeuralEngineDevice: ANE_DEV,
}


def _op(op_type: str, outputs: list[str], blocks: list[Any] | None = None) -> Any:
    value_type = cp.MLModelStructureProgramValueType()
    return cp.MLModelStructureProgramOperation(
        inputs={},
        operator_name=op_type,
        outputs=[
            cp.MLModelStructureProgramNamedValueType(name=n, type=value_type) for n in outputs
        ],
        blocks=blocks or [],
        __proxy__=None,
    )


def _block(ops: list[Any], outputs: list[str]) -> Any:
    return cp.MLModelStructureProgramBlock(inputs=[], operations=ops, output_names=outputs)


def _program(ops: list[Any], outputs: list[str], function: str = "main") -> Any:
    fn = cp.MLModelStructureProgramFunction(inputs=[], block=_block(ops, outputs))
    return cp.MLModelStructure(
        neuralnetwork=None,
        program=cp.MLModelStructureProgram(functions={function: fn}),
        pipeline=None,
    )


def main_structure() -> Any:
    """The model structure Core ML would report for `main_graph()` (plus one extra op)."""
    inner = _op("ios17.add", ["inner_add"])
    return _program(
        [
            _op("const", ["conv_w"]),
            _op("ios17.cast", ["x_fp16"]),
            _op("ios17.conv", ["conv_out"]),
            _op("ios16.relu", ["relu_out"]),
            _op("ios18.split", ["split_0", "split_1"]),
            _op(
                "cond",
                ["cond_out"],
                blocks=[_block([inner], ["inner_add"]), _block([], ["relu_out"])],
            ),
            _op("ios17.add", ["y"]),
            _op("ios17.mul", ["ghost"]),  # in the plan, not in the graph
        ],
        ["y"],
    )


class RemotePlanProxy:
    """Stands in for Core ML behind a real `MLComputePlan`: answers from a remote-device plan
    dict exactly as coremltools' `_MLComputePlanRemoteProxy` does (op identity -> model-structure
    path -> info), which off macOS cannot be instantiated (it subclasses the native proxy)."""

    def __init__(self, structure: Any, plan: dict[str, Any]) -> None:
        self.model_structure = structure
        self._plan = ComputePlan.from_dict(plan)
        self._paths = {
            id(node): path
            for node, path in map_model_structure_to_path(model_structure=structure, components=[])
        }

    def _info(self, node: Any) -> Any:
        path = self._paths.get(id(node))
        return None if path is None else self._plan.infos.get(path)

    def _usage(self, node: Any) -> Any:
        info = self._info(node)
        if info is None:
            return None
        usage = info.device_usage
        return cp.MLComputePlanDeviceUsage(
            preferred_compute_device=DEVICE_OBJECTS[type(usage.preferred)],
            supported_compute_devices=[DEVICE_OBJECTS[type(d)] for d in usage.supported],
        )

    get_compute_device_usage_for_mlprogram_operation = _usage
    get_compute_device_usage_for_neuralnetwork_layer = _usage

    def get_estimated_cost_for_mlprogram_operation(self, node: Any) -> Any:
        info = self._info(node)
        if info is None or info.estimated_cost is None:
            return None
        return cp.MLComputePlanCost(weight=info.estimated_cost)


def as_compute_plan(proxy: Any) -> Any:
    """coremltools' own MLComputePlan around `proxy` (its __init__ insists on the native one)."""
    plan = object.__new__(cp.MLComputePlan)
    plan.__proxy__ = proxy
    return plan


def main_plan() -> Any:
    return as_compute_plan(RemotePlanProxy(main_structure(), json.loads(REMOTE_PLAN.read_text())))


def _t(name: str, shape: tuple[int, ...] = (1, 4, 16, 16), dtype: str = "fp16") -> TensorInfo:
    return TensorInfo(name, shape, dtype)


def main_graph() -> Graph:
    x = _t("x", (1, 3, 16, 16), "fp32")
    ops = (
        Op(0, "conv_w", "const", "main", (), (_t("conv_w", (8, 3, 3, 3)),), is_const=True),
        Op(1, "x_fp16", "cast", "main", ("x",), (_t("x_fp16", (1, 3, 16, 16)),)),
        Op(2, "conv_out", "conv", "main", ("x_fp16", "conv_w"), (_t("conv_out", (1, 8, 16, 16)),)),
        Op(3, "relu_out", "relu", "main", ("conv_out",), (_t("relu_out", (1, 8, 16, 16)),)),
        Op(4, "split_0", "split", "main", ("relu_out",), (_t("split_0"), _t("split_1"))),
        Op(5, "cond_out", "cond", "main", ("split_0",), (_t("cond_out"),)),
        Op(
            6,
            "inner_add",
            "add",
            "main",
            ("split_0",),
            (_t("inner_add"),),
            block=("cond_out", "0"),
            parent=5,
        ),
        Op(7, "y", "add", "main", ("cond_out", "split_1"), (_t("y"),)),
        Op(8, "debug_out", "identity", "main", ("y",), (_t("debug_out"),)),
    )
    return Graph(
        name="tiny",
        format="mlprogram",
        ops=ops,
        inputs=(x,),
        outputs=(ops[7].outputs[0],),
        function_inputs={("main", "x"): x},
    )


def by_name(graph: Graph, placement: Any) -> dict[str, Any]:
    return {op.name: p for op, p in zip(graph.ops, placement.ops, strict=True)}


TIMINGS = CoreMLTimings(
    compute_units="ALL",
    compile_ms=120.0,
    plan_ms=30.0,
    load_first_ms=80.0,
    load_cached_ms=8.0,
    predict_first_ms=12.0,
    predict_median_ms=10.0,
    predict_p90_ms=11.0,
    runs=20,
)


# --- devices -------------------------------------------------------------------------------


def test_coremltools_devices_need_a_proxy_but_map_by_isinstance() -> None:
    if not AVAILABLE:
        with pytest.raises(TypeError, match="proxy"):
            cd.MLCPUComputeDevice(proxy=None)
    assert device_of(CPU_DEV) is Device.CPU
    assert device_of(GPU_DEV) is Device.GPU
    assert device_of(ANE_DEV) is Device.ANE
    assert device_of(None) is None
    assert device_of("neuralEngine") is Device.ANE
    with pytest.raises(ValueError, match="unknown compute device"):
        device_of(object())


def test_e5_backend_names_follow_core_ml() -> None:
    assert backend_device("ane") is Device.ANE
    assert backend_device('"mps_graph"') is Device.GPU
    for cpu in ("bnns", "classic_cpu", "e5_minimal_cpu"):
        assert backend_device(cpu) is Device.CPU
    assert backend_device("tpu") is None


# --- MLComputePlan -> Placement --------------------------------------------------------------


def test_compute_plan_maps_every_graph_op() -> None:
    graph = main_graph()
    placement = placement_from_compute_plan(graph, main_plan(), ALL, timings=TIMINGS, chip="M1")
    ops = by_name(graph, placement)
    assert placement.source == "coreml"
    assert placement.chip == "M1"
    assert len(placement.ops) == len(graph.ops)
    assert {n: p.device for n, p in ops.items()} == {
        "conv_w": None,
        "x_fp16": Device.CPU,
        "conv_out": Device.ANE,
        "relu_out": Device.ANE,
        "split_0": Device.GPU,  # the plan keys the split by its second output
        "cond_out": Device.CPU,
        "inner_add": Device.CPU,
        "y": Device.ANE,
        "debug_out": None,
    }
    assert ops["x_fp16"].supported == {Device.CPU, Device.GPU}
    assert ops["conv_out"].supported == {Device.CPU, Device.GPU, Device.ANE}
    assert ops["x_fp16"].reason == "Core ML preferred the CPU; supported: GPU, CPU"
    assert ops["split_0"].reason == "Core ML preferred the GPU; supported: GPU, CPU"
    assert ops["conv_out"].reason == ""  # on the Neural Engine by choice: nothing to explain
    assert ops["conv_w"].reason_kind is ReasonKind.CONSTANT
    assert ops["debug_out"].reason == NOT_IN_PLAN
    assert all(p.evidence is None for p in placement.ops)  # measured, not a rule
    assert ops["conv_out"].cost_weight == 0.5
    assert ops["conv_w"].cost_weight is None
    assert placement.metadata["unmatched_plan_ops"] == ["main/ghost"]
    assert placement.metadata["ops_not_in_plan"] == 1  # debug_out (the const is, without usage)
    assert "ane_cores" not in placement.metadata  # devices without a proxy cannot be asked


def test_per_op_time_is_the_measured_median_times_the_cost_weight() -> None:
    graph = main_graph()
    timed = by_name(graph, placement_from_compute_plan(graph, main_plan(), ALL, timings=TIMINGS))
    assert timed["conv_out"].est_time_ms == pytest.approx(5.0)
    assert timed["x_fp16"].est_time_ms == pytest.approx(0.5)
    assert timed["conv_w"].est_time_ms == 0.0
    placement = placement_from_compute_plan(graph, main_plan(), ALL, timings=TIMINGS)
    assert placement.metadata["per_op_time"] == PER_OP_TIME == "estimated from the measured total"
    assert placement.timings is not None
    assert placement.timings.predict_median_ms == 10.0
    untimed = placement_from_compute_plan(graph, main_plan(), ALL)
    assert untimed.metadata["per_op_time"] == PER_OP_TIME_MISSING
    assert all(p.est_time_ms == 0.0 for p in untimed.ops)


def test_compute_units_without_the_neural_engine_are_named_in_the_reason() -> None:
    graph = main_graph()
    placement = placement_from_compute_plan(graph, main_plan(), "cpu_and_gpu")
    assert placement.compute_units is ComputeUnits.CPU_AND_GPU
    reason = by_name(graph, placement)["x_fp16"].reason
    assert reason.endswith("the Neural Engine is not allowed by CPU_AND_GPU")


def test_ops_without_usage_are_told_apart_from_consts() -> None:
    class NoUsage(RemotePlanProxy):
        def _usage(self, node: Any) -> Any:
            return None

        get_compute_device_usage_for_mlprogram_operation = _usage

    plan = as_compute_plan(NoUsage(main_structure(), json.loads(REMOTE_PLAN.read_text())))
    graph = main_graph()
    ops = by_name(graph, placement_from_compute_plan(graph, plan, ALL))
    assert ops["conv_w"].reason_kind is ReasonKind.CONSTANT
    assert ops["conv_out"].device is None
    assert ops["conv_out"].reason == NO_USAGE


def test_pipeline_with_a_neural_network_stage() -> None:
    layer = cp.MLModelStructureNeuralNetworkLayer(
        name="scale_layer",
        type="scale",
        input_names=["image"],
        output_names=["scaled"],
        __proxy__=None,
    )
    network = cp.MLModelStructure(
        neuralnetwork=cp.MLModelStructureNeuralNetwork(layers=[layer]), program=None, pipeline=None
    )
    body_op = _op("ios17.relu", ["z"])
    structure = cp.MLModelStructure(
        neuralnetwork=None,
        program=None,
        pipeline=cp.MLModelStructurePipeline(
            sub_models=[("prep", network), ("body", _program([body_op], ["z"]))]
        ),
    )
    usages = {
        id(layer): cp.MLComputePlanDeviceUsage(
            preferred_compute_device=GPU_DEV, supported_compute_devices=[CPU_DEV, GPU_DEV]
        ),
        id(body_op): cp.MLComputePlanDeviceUsage(
            preferred_compute_device=ANE_DEV, supported_compute_devices=[CPU_DEV, ANE_DEV]
        ),
    }

    class Proxy:
        model_structure = structure

        def get_compute_device_usage_for_mlprogram_operation(self, op: Any) -> Any:
            return usages.get(id(op))

        get_compute_device_usage_for_neuralnetwork_layer = (
            get_compute_device_usage_for_mlprogram_operation
        )

        def get_estimated_cost_for_mlprogram_operation(self, op: Any) -> Any:
            return cp.MLComputePlanCost(weight=1.0)

    entries = compute_plan_entries(as_compute_plan(Proxy()))
    assert [(e.graph_function, e.name, e.kind) for e in entries] == [
        ("prep", "scale_layer", "layer"),
        ("body/main", "z", "operation"),
    ]
    assert entries[0].cost_weight is None  # Core ML has no cost for NeuralNetwork layers
    # the graph names a layer by its first output; the plan by the layer name: both match
    image = _t("image", (1, 3, 8, 8))
    graph = Graph(
        name="pipe",
        format="pipeline",
        functions=("prep", "body/main"),
        inputs=(image,),
        outputs=(_t("z"),),
        ops=(
            Op(0, "scaled", "scale", "prep", ("image",), (_t("scaled"),)),
            Op(1, "z", "relu", "body/main", ("scaled",), (_t("z"),)),
        ),
    )
    ops = by_name(graph, placement_from_compute_plan(graph, as_compute_plan(Proxy()), ALL))
    assert ops["scaled"].device is Device.GPU
    assert ops["z"].device is Device.ANE
    # the live run carries plans in coremltools' remote format: nothing may get lost on the way
    carried = remote_plan_from_entries(compute_plan_entries(as_compute_plan(Proxy())))
    assert ComputePlan.from_dict(json.loads(json.dumps(carried))) is not None
    assert (
        placement_from_remote_plan(graph, carried, ALL).ops
        == placement_from_compute_plan(graph, as_compute_plan(Proxy()), ALL).ops
    )


# --- coremltools' remote-device plan ---------------------------------------------------------


def test_remote_plan_gives_the_same_placement_as_the_compute_plan() -> None:
    graph = main_graph()
    live = placement_from_compute_plan(graph, main_plan(), ALL, timings=TIMINGS)
    recorded = placement_from_remote_plan(graph, REMOTE_PLAN, ALL, timings=TIMINGS)
    assert recorded.source == "recorded"
    assert recorded.ops == live.ops
    assert recorded.metadata["ane_cores"] == 16


def test_fixture_is_in_coremltools_own_format() -> None:
    plan = ComputePlan.from_dict(json.loads(REMOTE_PLAN.read_text()))
    paths = {
        path
        for _, path in map_model_structure_to_path(model_structure=main_structure(), components=[])
    }
    assert set(plan.infos) <= paths  # every fixture path is one coremltools computes
    nested = next(p for p in plan.infos if p.components[-1].output_name == "inner_add")
    assert nested.components[-2] == ModelStructurePath.Program.Block(index=0)


def test_written_plans_round_trip_through_coremltools() -> None:
    graph = main_graph()
    written = remote_plan_from_entries(compute_plan_entries(main_plan()))
    text = json.dumps(written)  # JSON-ready
    parsed = ComputePlan.from_dict(json.loads(text))
    assert parsed is not None and len(parsed.infos) == 8  # all ops but the const
    assert [i["path"]["components"][-1] for i in written["infosWithoutUsage"]] == [
        {"programOperation": {"data": {"outputName": "conv_w"}}}
    ]
    again = placement_from_remote_plan(graph, json.loads(text), ALL)
    assert again.ops == placement_from_compute_plan(graph, main_plan(), ALL).ops
    assert [e.parents for e in remote_plan_entries(written) if e.name == "inner_add"] == [
        (("cond_out", 0),)
    ]


def test_coremltools_pipeline_paths_are_understood() -> None:
    # coremltools' own path mapper (with its doubled "pipeline" component) for a pipeline
    program = _program([_op("ios17.relu", ["z"])], ["z"])
    pipeline = cp.MLModelStructurePipeline(sub_models=[("body", program)])
    structure = cp.MLModelStructure(neuralnetwork=None, program=None, pipeline=pipeline)
    ((_, path),) = map_model_structure_to_path(model_structure=structure, components=[])
    info = {
        "deviceUsage": {"preferred": {"gpu": {}}, "supported": [{"gpu": {}}]},
        "estimatedCost": 1.0,
        "path": path.to_dict(),
    }
    (entry,) = remote_plan_entries({"infos": [info]})
    assert (entry.graph_function, entry.name, entry.preferred) == ("body/main", "z", Device.GPU)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({}, "needs an 'infos' list"),
        ({"infos": [{"path": {"components": [{"program": {}}]}}]}, "names no operation or layer"),
        (
            {
                "infos": [
                    {
                        "deviceUsage": {"preferred": {"tpu": {}}, "supported": []},
                        "path": {"components": [{"neuralNetworkLayer": {"data": {"name": "a"}}}]},
                    }
                ]
            },
            "unknown compute device 'tpu'",
        ),
        ({"infos": [{"path": {"components": [{"teleport": {}}]}}]}, "unknown path component"),
    ],
)
def test_bad_remote_plans_say_what_is_wrong(plan: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError, match=message) as info:
        placement_from_remote_plan(main_graph(), plan, ALL)
    assert "\n" not in str(info.value)


def test_deeply_nested_remote_plan_files_are_refused_in_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "plan.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(PlanError, match="nested too deeply") as info:
        placement_from_remote_plan(main_graph(), deep, ALL)
    assert str(deep) in str(info.value)


def test_remote_plan_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text("{not json")
    with pytest.raises(PlanError, match=r"plan\.json: not JSON"):
        placement_from_remote_plan(main_graph(), bad, ALL)
    with pytest.raises(PlanError, match="cannot read"):
        placement_from_remote_plan(main_graph(), tmp_path / "missing.json", ALL)


# --- E5 analytics ----------------------------------------------------------------------------


def test_parse_logged_e5_analytics() -> None:
    entries = parse_e5_analytics(E5_LOG.read_text())
    assert set(entries) == {"x_fp16", "conv_out", "relu_out", "split_0", "y", "input_buffer"}
    cast = entries["x_fp16"]
    assert cast.function == "main"
    assert cast.op_type == "ios17.cast"
    assert cast.selected_backend == "bnns"  # Core ML's quotes trimmed
    assert cast.selected_device is Device.CPU
    assert cast.supported_devices == {Device.CPU, Device.GPU}
    assert cast.validation_messages == {"ane": "Invalid input tensor format: fp32"}
    assert cast.location.endswith("H13G.bundle/analytics.mil:6:12")
    assert cast.op_index == 1
    assert set(cast.estimated_run_time) == {"bnns", "classic_cpu", "mps_graph"}
    assert entries["conv_out"].selected_device is Device.ANE
    assert entries["conv_out"].validation_messages == {}


def test_parse_e5_analytics_as_json_and_plain_plist() -> None:
    raw = {
        "BackendSupport": {"ane": 1, "mps_graph": 1},
        "DebugName": "ios17.add:3:12",
        "EstimatedRunTime": {"ane": "0.01", "mps_graph": 0.02},
        "OpIndex": 2,
        "OpPath": [
            {"Type": "Program"},
            {"Name": "main", "Type": "Function"},
            {"Type": "Block"},
            {"Output": "sum", "Type": "Operation"},
        ],
        "OpType": "ios17.add",
        "SelectedBackend": '"ane"',
        "ValidationMessages": {},
    }
    from_json = parse_e5_analytics(json.dumps({"analytics.mil:3:12": raw}))
    assert from_json["sum"].estimated_run_time == {"ane": 0.01, "mps_graph": 0.02}
    plist = (
        '{ "a.mil:3:12" = { BackendSupport = { ane = 1; }; OpType = "ios17.add"; '
        'OpPath = ( { Output = "sum"; Type = Operation; } ); '
        'SelectedBackend = "\\"ane\\""; '
        'ValidationMessages = { "mps_graph" = "no \\"x\\""; }; }; }'
    )
    entry = parse_e5_analytics(plist)["sum"]
    assert entry.selected_backend == "ane"
    assert entry.validation_messages == {"mps_graph": 'no "x"'}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "program(1.0)\n{\n  func main<ios17>(tensor<fp32, [1]> x) {\n  } -> (x);\n}\n",
        'DebugName, OpType, SelectedBackend\nios17.cast:8:12, ios17.cast, "bnns"\n',
        "{ broken = ",
        "[1, 2, 3]",
    ],
)
def test_unrecognised_analytics_give_nothing(text: str) -> None:
    assert parse_e5_analytics(text) == {}


def test_analytics_reasons_reach_the_placement() -> None:
    graph = main_graph()
    analytics = parse_e5_analytics(E5_LOG.read_text())
    placement = placement_from_compute_plan(graph, main_plan(), ALL, analytics=analytics)
    ops = by_name(graph, placement)
    assert ops["x_fp16"].reason == (
        "Core ML preferred the CPU; supported: GPU, CPU. "
        "Core ML's analytics: Neural Engine (ane): Invalid input tensor format: fp32"
    )
    assert "Invalid output tensor format: fp32" in ops["split_0"].reason
    assert ops["conv_out"].reason == ""
    assert placement.metadata["reasons"] == REASONS_FOUND
    without = placement_from_compute_plan(graph, main_plan(), ALL)
    assert without.metadata["reasons"] == REASONS_MISSING
    assert without.metadata["core_ml_reasons"] is False


# --- crash isolation -------------------------------------------------------------------------


def test_isolated_success_runs_in_another_process() -> None:
    assert run_isolated(os.getpid, (), 60) != os.getpid()
    assert run_isolated("math:factorial", (5,), 60) == 120


def test_isolated_abort_is_a_one_line_error_naming_the_model() -> None:
    with pytest.raises(CoreMLRunError) as info:
        run_isolated(os.abort, (), 60, what="compiling the model", model="tiny.mlpackage")
    message = str(info.value)
    assert message == (
        "Core ML crashed while compiling the model for tiny.mlpackage: "
        "the child process died with SIGABRT"
    )


def test_isolated_segfault() -> None:
    with pytest.raises(CoreMLRunError, match="died with SIGSEGV"):
        run_isolated(signal.raise_signal, (signal.SIGSEGV,), 60, model="tiny.mlpackage")


def test_isolated_hang_is_killed_at_the_timeout() -> None:
    start = time.monotonic()
    expected = (
        r"did not finish profiling with ALL for tiny\.mlpackage within 2 s; "
        r"the child process was killed"
    )
    with pytest.raises(CoreMLRunError, match=expected):
        run_isolated(time.sleep, (120,), 2, what="profiling with ALL", model="tiny.mlpackage")
    assert time.monotonic() - start < 10


def test_isolated_exception_keeps_its_traceback() -> None:
    with pytest.raises(CoreMLRunError, match="ValueError: invalid literal") as info:
        run_isolated(int, ("x",), 60)
    assert "Traceback" in info.value.details


def test_isolated_events_reach_the_parent() -> None:
    events: list[Any] = []
    result = run_isolated(
        "ane_notebook.placement.isolation:emit",
        (("predict", "ALL", 1, 3),),
        60,
        on_event=events.append,
    )
    assert result is None
    assert events == [("predict", "ALL", 1, 3)]


def test_child_bodies_reach_the_child_by_name() -> None:
    # "spawn" pickles the child's function by module and name: the Core ML bodies must stay
    # module-level in coreml, and emit must be the one whose pipe the child entry sets.
    from ane_notebook.placement import isolation

    for body in (coreml._child_compile, coreml._child_profile):
        assert pickle.loads(pickle.dumps(body)) is body
        assert isolation._resolve(f"{body.__module__}:{body.__qualname__}") is body
    assert coreml.emit is isolation.emit


# --- availability and inputs -----------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the answer off macOS")
def test_coreml_is_unavailable_off_macos(monkeypatch: pytest.MonkeyPatch) -> None:
    ok, why = coreml_available()
    assert not ok
    assert why == f"Core ML needs macOS; this is {platform.system()}"
    if sys.platform.startswith("linux"):
        assert why == "Core ML needs macOS; this is Linux"
    with pytest.raises(CoreMLUnavailableError, match="Core ML needs macOS"):
        run_coreml("tiny.mlpackage", main_graph())
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(platform, "mac_ver", lambda: ("13.6", ("", "", ""), "arm64"))
    ok, why = coreml_available()
    assert not ok and why.startswith("macOS 13.6 is older than 14.4")
    monkeypatch.setattr(platform, "mac_ver", lambda: ("14.5", ("", "", ""), "arm64"))
    ok, why = coreml_available()
    assert not ok and why.startswith("coremltools' native library is missing")


def test_make_inputs_covers_dtypes_flexible_shapes_and_images() -> None:
    pytest.importorskip("PIL")
    desc = Model_pb2.ModelDescription()
    arr = FeatureTypes_pb2.ArrayFeatureType

    def array(name: str, dtype: int, shape: tuple[int, ...] = ()) -> Any:
        feature = desc.input.add()
        feature.name = name
        feature.type.multiArrayType.dataType = dtype
        feature.type.multiArrayType.shape.extend(shape)
        return feature.type.multiArrayType

    array("f32", arr.FLOAT32, (1, 3))
    array("f16", arr.FLOAT16, (2, 2))
    ranged = array("ids", arr.INT32)
    for low, high in ((1, 1), (0, 128)):
        size = ranged.shapeRange.sizeRanges.add()
        size.lowerBound, size.upperBound = low, high
    enumerated = array("enum", arr.FLOAT32)
    enumerated.enumeratedShapes.shapes.add().shape.extend([1, 5])
    enumerated.enumeratedShapes.shapes.add().shape.extend([1, 9])
    image = desc.input.add()
    image.name = "photo"
    image.type.imageType.colorSpace = FeatureTypes_pb2.ImageFeatureType.BGR
    image.type.imageType.imageSizeRange.widthRange.lowerBound = 32
    image.type.imageType.imageSizeRange.heightRange.lowerBound = 16
    gray = desc.input.add()
    gray.name = "gray"
    gray.type.imageType.colorSpace = FeatureTypes_pb2.ImageFeatureType.GRAYSCALE
    gray.type.imageType.width, gray.type.imageType.height = 4, 6
    desc.input.add(name="count").type.int64Type.SetInParent()
    optional = desc.input.add(name="maybe")
    optional.type.doubleType.SetInParent()
    optional.type.isOptional = True

    values = make_inputs(desc)
    assert values["f32"].dtype.name == "float32" and values["f32"].shape == (1, 3)
    assert values["f16"].dtype.name == "float16"
    assert values["ids"].dtype.name == "int32" and values["ids"].shape == (1, 1)
    assert values["enum"].shape == (1, 5)
    assert values["photo"].mode == "RGB" and values["photo"].size == (32, 16)
    assert values["gray"].mode == "L" and values["gray"].size == (4, 6)
    assert isinstance(values["count"], int)
    assert "maybe" not in values

    desc.input.add(name="table").type.dictionaryType.SetInParent()
    with pytest.raises(ValueError, match="'table'.*cannot generate"):
        make_inputs(desc)


# --- on a Mac: the real thing ----------------------------------------------------------------


@pytest.mark.macos
@pytest.mark.skipif(sys.platform != "darwin", reason="Core ML needs macOS")
@pytest.mark.skipif(not AVAILABLE, reason=WHY_NOT)
def test_run_coreml_on_a_tiny_model() -> None:
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 8, 32, 32))])
    def prog(x: Any) -> Any:
        y = mb.relu(x=x, name="relu_out")
        z = mb.add(x=y, y=x, name="sum_out")
        return mb.sigmoid(x=z, name="out")

    model = ct.convert(prog, convert_to="mlprogram")
    program = model._mil_program  # the converted program: its op names are Core ML's
    ops = []
    for index, op in enumerate(program.functions["main"].operations):
        outputs = tuple(TensorInfo(v.name, tuple(v.shape), "fp16") for v in op.outputs)
        ops.append(
            Op(
                index,
                outputs[0].name,
                op.op_type,
                "main",
                tuple(v.name for v in op.inputs.values() if hasattr(v, "name")),
                outputs,
                is_const=op.op_type == "const",
            )
        )
    x = TensorInfo("x", (1, 8, 32, 32), "fp32")
    graph = Graph(
        name="tiny",
        format="mlprogram",
        ops=tuple(ops),
        inputs=(x,),
        outputs=(ops[-1].outputs[0],),
        function_inputs={("main", "x"): x},
    )

    result = run_coreml(model, graph, ["CPU_ONLY", "ALL"], runs=3, timeout_s=300, progress=False)
    for units in (ComputeUnits.CPU_ONLY, ComputeUnits.ALL):
        placement = result.placements[units]
        timing = result.timings[units]
        assert placement.source == "coreml"
        assert timing.load_first_ms > 0 and timing.predict_median_ms > 0
        assert timing.predict_p90_ms >= timing.predict_median_ms > 0
        assert placement.metadata["per_op_time"] == PER_OP_TIME
        for op, p in zip(graph.ops, placement.ops, strict=True):
            if not op.is_const:
                assert p.device in units.devices, (op.name, p.reason)
    assert all(
        p.device is Device.CPU or p.device is None
        for p in result.placements[ComputeUnits.CPU_ONLY].ops
    )


def test_models_reach_the_child_as_files(tmp_path: Path) -> None:
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    from ane_notebook.errors import ModelLoadError, UsageError

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))])
    def prog(x: Any) -> Any:
        return mb.relu(x=x, name="y")

    program = ct.convert(prog, convert_to="mlprogram")
    path, _ = coreml._model_source(program, tmp_path)
    assert path == program.package_path  # already on disk: passed as is
    network = ct.convert(prog, convert_to="neuralnetwork")
    path, name = coreml._model_source(network, tmp_path)
    assert path == str(tmp_path / "model.mlmodel") and Path(path).is_file()
    assert name.startswith("<MLModel")
    with pytest.raises(ModelLoadError, match="no such model file"):
        coreml._model_source(tmp_path / "missing.mlpackage", tmp_path)
    with pytest.raises(UsageError, match="expected a model path"):
        coreml._model_source(42, tmp_path)
