"""Core ML's compute plan mapped onto graphs our loader built from real specs.

The plans are made of coremltools' own compute-plan classes (`coremltools.models.compute_plan`
dataclasses, `compute_device` classes, the remote-device `ComputePlan` and `ModelStructurePath`),
structured the way `coremlpython/CoreMLPython.mm` builds them from Core ML's `MLModelStructure`:
NeuralNetwork layers by layer name, pipeline sub-models by Core ML's sub-model names, ML Program
operations by their outputs. The graphs come from specs built with coremltools' builders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from coremltools.models import compute_device as cd
from coremltools.models import compute_plan as cp
from coremltools.models import datatypes
from coremltools.models.ml_program.experimental.model_structure_path import (
    map_model_structure_to_path,
)
from coremltools.models.ml_program.experimental.remote_device import ComputePlan
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.pipeline import Pipeline
from coremltools.proto import Model_pb2

from ane_notebook.errors import UsageError
from ane_notebook.model.graph import Graph, Op, TensorInfo
from ane_notebook.model.load import graph_from_spec
from ane_notebook.placement.devices import ComputeUnits, Device
from ane_notebook.placement.e5_analytics import parse_e5_analytics
from ane_notebook.placement.estimate import estimate
from ane_notebook.placement.plan_mapping import (
    REASONS_ESTIMATED,
    FunctionPlan,
    PlanEntry,
    compute_plan_entries,
    placement_from_compute_plan,
    placement_from_function_plans,
    remote_plan_entries,
    with_estimates,
)
from ane_notebook.placement.recorded import load_plan
from ane_notebook.placement.result import CoreMLTimings, ReasonKind, WarningKind
from ane_notebook.render.header import header_html
from ane_notebook.render.tables import not_on_ane_html
from ane_notebook.report import ProfileReport
from ane_notebook.textreport import render_text

ALL = ComputeUnits.ALL
CPU, GPU, ANE = Device.CPU, Device.GPU, Device.ANE


def _device(cls: type) -> Any:
    # coremltools' devices insist on a native proxy in __init__; isinstance is all we use
    return object.__new__(cls)


DEVICE_OBJECTS = {
    CPU: _device(cd.MLCPUComputeDevice),
    GPU: _device(cd.MLGPUComputeDevice),
    ANE: _device(cd.MLNeuralEngineComputeDevice),
}
REMOTE_DEVICES = {
    CPU: ComputePlan.CPUDevice(),
    GPU: ComputePlan.GPUDevice(),
    ANE: ComputePlan.NeuralEngineDevice(total_core_count=16),
}


# --- model structures, as CoreMLPython.mm builds them from Core ML's -------------------------


def structure_of(spec: Model_pb2.Model) -> cp.MLModelStructure:
    """coremltools' MLModelStructure of `spec`, as Core ML reports it (NeuralNetwork layers,
    ML Program functions, pipeline sub-models named `names[i]`, else "model<i>")."""
    kind = spec.WhichOneof("Type")
    if kind == "mlProgram":
        functions = {}
        for fname, fn in spec.mlProgram.functions.items():
            block = fn.block_specializations[fn.opset]
            ops = [
                cp.MLModelStructureProgramOperation(
                    inputs={},
                    operator_name=op.type,
                    outputs=[
                        cp.MLModelStructureProgramNamedValueType(
                            name=o.name, type=cp.MLModelStructureProgramValueType()
                        )
                        for o in op.outputs
                    ],
                    blocks=[],
                    __proxy__=None,
                )
                for op in block.operations
            ]
            functions[fname] = cp.MLModelStructureProgramFunction(
                inputs=[],
                block=cp.MLModelStructureProgramBlock(
                    inputs=[], operations=ops, output_names=list(block.outputs)
                ),
            )
        return cp.MLModelStructure(
            neuralnetwork=None,
            program=cp.MLModelStructureProgram(functions=functions),
            pipeline=None,
        )
    if kind in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
        layers = [
            cp.MLModelStructureNeuralNetworkLayer(
                name=layer.name,
                type=layer.WhichOneof("layer") or "",
                input_names=list(layer.input),
                output_names=list(layer.output),
                __proxy__=None,
            )
            for layer in getattr(spec, kind).layers
        ]
        return cp.MLModelStructure(
            neuralnetwork=cp.MLModelStructureNeuralNetwork(layers=layers),
            program=None,
            pipeline=None,
        )
    pipeline = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
    names = list(pipeline.names)
    return cp.MLModelStructure(
        neuralnetwork=None,
        program=None,
        pipeline=cp.MLModelStructurePipeline(
            sub_models=[
                (names[i] if i < len(names) else f"model{i}", structure_of(m))
                for i, m in enumerate(pipeline.models)
            ]
        ),
    )


def _nodes(structure: Any, stages: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(stage names, layer or operation) for every node of a structure."""
    if structure.pipeline is not None:
        return [
            node
            for name, sub in structure.pipeline.sub_models
            for node in _nodes(sub, (*stages, name))
        ]
    if structure.neuralnetwork is not None:
        return [(stages, layer) for layer in structure.neuralnetwork.layers]
    return [
        (stages, op) for fn in structure.program.functions.values() for op in fn.block.operations
    ]


def _key(node: Any) -> str:
    """A layer by its name, an operation by its first output (Core ML's names)."""
    return str(node.name if hasattr(node, "output_names") else node.outputs[0].name)


Usage = tuple[Device, tuple[Device, ...], float | None]  # preferred, supported, cost


class Proxy:
    """Answers for coremltools' MLComputePlan, per node, from {(stages, name): usage}."""

    def __init__(self, structure: Any, usage: Mapping[tuple[tuple[str, ...], str], Usage]):
        self.model_structure = structure
        self._by_node = {id(n): usage.get((s, _key(n))) for s, n in _nodes(structure)}

    def _usage(self, node: Any) -> Any:
        u = self._by_node.get(id(node))
        if u is None:
            return None
        return cp.MLComputePlanDeviceUsage(
            preferred_compute_device=DEVICE_OBJECTS[u[0]],
            supported_compute_devices=[DEVICE_OBJECTS[d] for d in u[1]],
        )

    get_compute_device_usage_for_mlprogram_operation = _usage
    get_compute_device_usage_for_neuralnetwork_layer = _usage

    def get_estimated_cost_for_mlprogram_operation(self, node: Any) -> Any:
        u = self._by_node.get(id(node))
        return None if u is None or u[2] is None else cp.MLComputePlanCost(weight=u[2])


def compute_plan(spec: Model_pb2.Model, usage: Mapping[Any, Usage]) -> Any:
    plan = object.__new__(cp.MLComputePlan)  # its __init__ insists on the native proxy
    plan.__proxy__ = Proxy(structure_of(spec), usage)
    return plan


def remote_plan(spec: Model_pb2.Model, usage: Mapping[Any, Usage]) -> dict[str, Any]:
    """The plan as coremltools' remote device sends it: one info per node, keyed by coremltools'
    own model-structure path (a layer by its layer name)."""
    structure = structure_of(spec)
    stages_of = {id(n): s for s, n in _nodes(structure)}
    infos = {}
    for node, path in map_model_structure_to_path(model_structure=structure, components=[]):
        u = usage.get((stages_of[id(node)], _key(node)))
        if u is not None and path not in infos:
            infos[path] = ComputePlan.OperationOrLayerInfo(
                device_usage=ComputePlan.DeviceUsage(
                    preferred=REMOTE_DEVICES[u[0]], supported=[REMOTE_DEVICES[d] for d in u[1]]
                ),
                estimated_cost=u[2],
                path=path,
            )
    plan = ComputePlan(infos=infos).to_dict()
    return {"infos": list(plan["infos"].values())}  # the wire form: a list


def devices(graph: Graph, placement: Any) -> dict[tuple[str, str], Device | None]:
    return {(o.function, o.name): p.device for o, p in zip(graph.ops, placement.ops, strict=True)}


# --- NeuralNetwork in-place layers -----------------------------------------------------------


def in_place_spec() -> Model_pb2.Model:
    """fc writes y, relu rewrites y in place (Caffe-era converters), then a scale layer."""
    b = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("z", None)])
    b.add_inner_product(
        "fc",
        W=np.ones((4, 4), np.float32),
        b=None,
        input_channels=4,
        output_channels=4,
        has_bias=False,
        input_name="x",
        output_name="y",
    )
    b.add_activation("relu", "RELU", "y", "y")
    b.add_activation("act", "SIGMOID", "y", "z")
    spec: Model_pb2.Model = b.spec
    return spec


IN_PLACE_USAGE: dict[Any, Usage] = {
    ((), "fc"): (GPU, (CPU, GPU), None),
    ((), "relu"): (ANE, (CPU, GPU, ANE), None),
    ((), "act"): (CPU, (CPU,), None),
}


def test_in_place_layers_get_their_own_devices() -> None:
    spec = in_place_spec()
    graph = graph_from_spec(spec)
    assert [o.name for o in graph.ops] == ["y@0", "y", "z"]  # the loader's renaming
    placement = placement_from_compute_plan(graph, compute_plan(spec, IN_PLACE_USAGE), ALL)
    assert devices(graph, placement) == {
        ("main", "y@0"): GPU,  # fc: by its layer name, not by the output relu rewrote
        ("main", "y"): ANE,
        ("main", "z"): CPU,
    }
    assert placement.warnings == ()


def test_remote_plan_of_a_neural_network_is_keyed_by_layer_name(tmp_path: Path) -> None:
    spec = in_place_spec()
    graph = graph_from_spec(spec)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(remote_plan(spec, IN_PLACE_USAGE)))
    placement = load_plan(graph, path)  # was refused: "recorded for another model?"
    assert devices(graph, placement) == {
        ("main", "y@0"): GPU,
        ("main", "y"): ANE,
        ("main", "z"): CPU,
    }
    assert placement.metadata["ane_cores"] == 16


# --- pipelines ---------------------------------------------------------------------------------


def _stage(src: str, dst: str) -> Model_pb2.Model:
    """A stage with the same layer and blob names as every other: fc -> t, act: t -> dst."""
    b = NeuralNetworkBuilder([(src, datatypes.Array(4))], [(dst, datatypes.Array(4))])
    b.add_inner_product(
        "fc",
        W=np.ones((4, 4), np.float32),
        b=None,
        input_channels=4,
        output_channels=4,
        has_bias=False,
        input_name=src,
        output_name="t",
    )
    b.add_activation("act", "RELU", "t", dst)
    spec: Model_pb2.Model = b.spec
    return spec


def pipeline_spec(names: list[str] | None = None) -> Model_pb2.Model:
    p = Pipeline([("a", datatypes.Array(4))], [("c", datatypes.Array(4))])
    p.add_model(_stage("a", "b"))
    p.add_model(_stage("b", "c"))
    spec: Model_pb2.Model = p.spec
    if names:
        spec.pipeline.names.extend(names)
    return spec


@pytest.mark.parametrize(
    ("names", "core_ml"),
    [(None, ("model0", "model1")), (["prep", "body"], ("prep", "body"))],
    ids=["unnamed", "named"],
)
def test_pipeline_stages_match_core_mls_names(
    names: list[str] | None, core_ml: tuple[str, str]
) -> None:
    spec = pipeline_spec(names)
    graph = graph_from_spec(spec)
    first, second = core_ml
    usage: dict[Any, Usage] = {
        ((first,), "fc"): (ANE, (CPU, ANE), None),
        ((first,), "act"): (ANE, (CPU, ANE), None),
        ((second,), "fc"): (GPU, (CPU, GPU), None),
        ((second,), "act"): (CPU, (CPU,), None),
    }
    placement = placement_from_compute_plan(graph, compute_plan(spec, usage), ALL)
    stage0, stage1 = graph.functions
    assert devices(graph, placement) == {
        (stage0, "t"): ANE,
        (stage0, "b"): ANE,
        (stage1, "t"): GPU,
        (stage1, "c"): CPU,
    }
    assert placement.warnings == ()


# --- constexpr ops -----------------------------------------------------------------------------


def constexpr_graph() -> Graph:
    w = TensorInfo("w", (8, 4), "fp16")
    x = TensorInfo("x", (1, 4), "fp16")
    ops = (
        Op(0, "w_q", "constexpr_affine_dequantize", "main", (), (w,), is_const=True),
        Op(1, "y", "linear", "main", ("x", "w_q"), (TensorInfo("y", (1, 8), "fp16"),)),
    )
    return Graph("q", "mlprogram", ops, (x,), (ops[1].outputs[0],))


def constexpr_placement(graph: Graph) -> Any:
    """Core ML's plan for `constexpr_graph()`: the dequantize on the CPU, the linear on the ANE."""
    entries = [
        PlanEntry(
            "w_q", "main", "operation", "ios16.constexpr_affine_dequantize", ("w_q",),
            has_usage=True, preferred=CPU, supported=frozenset({CPU}), cost_weight=0.25,
        ),
        PlanEntry(
            "y", "main", "operation", "ios17.linear", ("y",),
            has_usage=True, preferred=ANE, supported=frozenset({CPU, ANE}), cost_weight=0.75,
        ),
    ]  # fmt: skip
    timings = CoreMLTimings("ALL", None, 1.0, 1.0, 1.0, 4.0, 4.0, 4.0, 10)
    return placement_from_function_plans(
        graph, {"main": FunctionPlan(entries, timings)}, ALL, timings=timings
    )


def test_constexpr_ops_are_reported_as_the_plan_places_them() -> None:
    graph = constexpr_graph()
    placement = constexpr_placement(graph)
    w_q = placement.ops[0]
    assert (w_q.device, w_q.reason_kind, w_q.cost_weight) == (
        CPU,
        ReasonKind.COREML_UNSUPPORTED,
        0.25,
    )
    assert w_q.est_time_ms == pytest.approx(1.0)
    report = ProfileReport.from_placement(graph, placement)
    assert not report.ops[0].is_const  # Core ML runs it: counted, on the CPU
    assert report.summary().per_device[CPU].ops == 1


def test_a_recorded_constexpr_placement_replays(tmp_path: Path) -> None:
    graph = constexpr_graph()
    recorded = ProfileReport.from_placement(graph, constexpr_placement(graph))
    path = tmp_path / "report.json"
    recorded.to_json(path)
    replayed = load_plan(graph, path)  # the model's const op is a running op in the record
    assert [p.device for p in replayed.ops] == [CPU, ANE]
    assert replayed.ops[0].cost_weight == 0.25


# --- multifunction -------------------------------------------------------------------------


def two_function_graph() -> Graph:
    x = TensorInfo("x", (1, 4), "fp16")
    ops = (
        Op(0, "a", "relu", "main", ("x",), (TensorInfo("a", (1, 4), "fp16"),)),
        Op(1, "a", "relu", "decode", ("x",), (TensorInfo("a", (1, 4), "fp16"),)),
        Op(2, "b", "sigmoid", "decode", ("a",), (TensorInfo("b", (1, 4), "fp16"),)),
    )
    return Graph("mf", "mlprogram", ops, (x,), (), functions=("main", "decode"))


def _op_entry(name: str, function: str, device: Device | None) -> PlanEntry:
    if device is None:  # listed in the structure, no usage: another function was loaded
        return PlanEntry(name, function, "operation", "ios17.relu", (name,))
    return PlanEntry(
        name, function, "operation", "ios17.relu", (name,),
        has_usage=True, preferred=device, supported=frozenset({CPU, device}), cost_weight=0.5,
    )  # fmt: skip


def test_one_plan_per_function_places_every_function() -> None:
    graph = two_function_graph()
    # each plan lists every function's structure, with usage only for the loaded function
    main = [
        _op_entry("a", "main", ANE),
        _op_entry("a", "decode", None),
        _op_entry("b", "decode", None),
    ]
    decode = [
        _op_entry("a", "main", None),
        _op_entry("a", "decode", GPU),
        _op_entry("b", "decode", CPU),
    ]
    plans = {"main": FunctionPlan(main), "decode": FunctionPlan(decode)}
    placement = placement_from_function_plans(graph, plans, ALL)
    assert devices(graph, placement) == {
        ("main", "a"): ANE,
        ("decode", "a"): GPU,
        ("decode", "b"): CPU,
    }
    assert placement.warnings == ()
    assert placement.metadata["planned_functions"] == ["main", "decode"]


def test_a_function_without_a_plan_says_so_per_op_and_in_a_warning() -> None:
    graph = two_function_graph()
    placement = placement_from_function_plans(
        graph, {"main": FunctionPlan([_op_entry("a", "main", ANE)])}, ALL
    )
    assert [p.reason_kind for p in placement.ops] == [
        ReasonKind.ON_ANE,
        ReasonKind.FUNCTION_NOT_PLANNED,
        ReasonKind.FUNCTION_NOT_PLANNED,
    ]
    (warning,) = placement.warnings
    assert (warning.kind, warning.count, warning.ops) == (
        WarningKind.FUNCTION_NOT_PLANNED,
        2,
        (1, 2),
    )
    assert warning.message == "2 ops of functions no compute plan was made for: decode"
    with pytest.raises(UsageError, match="'encode'"):
        placement_from_function_plans(graph, {"encode": FunctionPlan([])}, ALL)


# --- gaps between plan and graph are counted and shown ------------------------------------------


def test_plan_gaps_are_counted_warnings_in_text_and_header() -> None:
    spec = in_place_spec()
    graph = graph_from_spec(spec)
    usage = {((), "fc"): IN_PLACE_USAGE[((), "fc")]}
    plan = compute_plan(spec, usage)
    entries = compute_plan_entries(plan)
    ghost = PlanEntry("ghost", None, "layer", "relu", ("ghost",), has_usage=True, preferred=CPU)
    placement = placement_from_function_plans(
        graph, {"main": FunctionPlan([e for e in entries if e.name != "act"] + [ghost])}, ALL
    )
    kinds = {w.kind: w for w in placement.warnings}
    assert kinds[WarningKind.NOT_IN_PLAN].count == 1  # act: not in the plan at all
    assert kinds[WarningKind.NOT_IN_PLAN].ops == (2,)
    assert kinds[WarningKind.NO_USAGE].count == 1  # relu: in the plan, no device
    assert kinds[WarningKind.UNMATCHED_PLAN_OPS].message == (
        "1 row of Core ML's compute plan matches no op of the model: main/ghost"
    )
    report = ProfileReport.from_placement(graph, placement)
    text = render_text(report)
    assert "1 op not in Core ML's compute plan (e.g. z)" in text
    header = header_html(report)
    assert "1 op not in Core ML&#x27;s compute plan" in header or (
        "1 op not in Core ML's compute plan" in header
    )
    assert "main/ghost" in header


# --- Core ML gives no reasons: ours beside its placement, labelled -----------------------------


def test_a_recorded_plan_carries_our_estimate_beside_it_labelled(tmp_path: Path) -> None:
    spec = in_place_spec()
    graph = graph_from_spec(spec)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(remote_plan(spec, IN_PLACE_USAGE)))
    placement = load_plan(graph, path)
    assert all(p.estimate is not None for p in placement.ops)
    assert placement.metadata["core_ml_reasons"] is False
    assert placement.metadata["reasons"] == REASONS_ESTIMATED
    no_reasons = [w for w in placement.warnings if w.kind is WarningKind.NO_REASONS]
    assert [(w.count, w.ops) for w in no_reasons] == [(2, (0, 2))]  # fc on the GPU, act on the CPU
    report = ProfileReport.from_placement(graph, placement)
    text = render_text(report)
    assert "our estimate (not Core ML's):" in text
    assert (
        "no_reasons: Core ML gives no reason for the 2 ops it placed off the Neural Engine" in text
    )
    assert "our estimate (not Core ML&#x27;s)" in not_on_ane_html(report)


def test_core_ml_analytics_given_mean_no_no_reasons_warning() -> None:
    spec = in_place_spec()
    graph = graph_from_spec(spec)
    analytics = parse_e5_analytics(
        json.dumps(
            {"analytics.mil:3:12": {"OpType": "relu", "DebugName": "z", "BackendSupport": {}}}
        )
    )
    plan = compute_plan(spec, IN_PLACE_USAGE)
    placement = placement_from_compute_plan(graph, plan, ALL, analytics=analytics)
    beside = with_estimates(placement, estimate(graph, ALL))
    assert beside.metadata["core_ml_reasons"] is True
    assert all(w.kind is not WarningKind.NO_REASONS for w in beside.warnings)
    assert beside.ops[0].estimate is not None


def test_remote_runner_paths_of_nested_blocks_name_the_right_block() -> None:
    # ModelService.swift appends one component per block of an op without dropping the previous
    # one: an op of a cond's second block has the path [..., cond, block 0, block 1, op].
    usage = {"preferred": {"cpu": {}}, "supported": [{"cpu": {}}]}
    components = [
        {"program": {}},
        {"programFunction": {"data": {"name": "main"}}},
        {"programBlock": {"data": {"index": -1}}},
        {"programOperation": {"data": {"outputName": "cond_out"}}},
        {"programBlock": {"data": {"index": 0}}},
        {"programBlock": {"data": {"index": 1}}},
        {"programOperation": {"data": {"outputName": "else_add"}}},
    ]
    info = {"deviceUsage": usage, "estimatedCost": None, "path": {"components": components}}
    plan = {"infos": [info]}
    assert ComputePlan.from_dict(plan) is not None  # coremltools' own reader takes it
    (entry,) = remote_plan_entries(plan)
    assert (entry.name, entry.parents) == ("else_add", (("cond_out", 1),))
