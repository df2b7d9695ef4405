"""Core ML's compute plan, mapped onto a `Graph`: pure Python, no Core ML call.

Core ML (macOS 14.4+) publishes a per-op *compute plan* through `MLComputePlan`: for every ML
Program operation and NeuralNetwork layer, the device it prefers, the devices that support it and,
for ML Program ops, an estimated cost weight (the op's share of the whole model's work). coremltools
wraps it in `coremltools.models.compute_plan` (frozen dataclasses for the model structure, device
usage and cost; `MLCPUComputeDevice` / `MLGPUComputeDevice` / `MLNeuralEngineComputeDevice` for the
devices). This module

* reads such a plan into plain-data `PlanEntry` rows (`compute_plan_entries`), keyed like
  coremltools' own model-structure paths: (function, output name);
* reads and writes coremltools' *remote-device* compute-plan dictionary (`remote_plan_entries`,
  `remote_plan_from_entries`), the JSON form
  `coremltools.models.ml_program.experimental.remote_device.ComputePlan.from_dict` reads; the live
  run uses the same form to carry a plan out of its child process, so a live plan and a recorded
  one go through one mapping;
* maps entries onto a `Graph`, with a reason for every op not on the Neural Engine
  (`placement_from_entries`, `placement_from_compute_plan`, `placement_from_remote_plan`).

It works on the objects it is handed (duck-typed: anything with `MLComputePlan`'s methods) and
imports coremltools' device classes only for isinstance checks, so it runs (and is tested)
anywhere, against coremltools' own dataclasses built without the native proxy. Handed a live
plan, its reads go through that plan's proxy: `coreml.run_coreml` does that in its child process.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PlanError
from ..model.graph import Graph, Op
from .devices import DEVICE_LABEL, DEVICE_ORDER, ComputeUnits, Device
from .e5_analytics import AnalyticsEntry, backend_device
from .result import (
    CONSTANT_REASON,
    CoreMLTimings,
    OpPlacement,
    Placement,
    PlacementSource,
    ReasonKind,
)

__all__ = [
    "NOT_IN_PLAN",
    "NO_USAGE",
    "PER_OP_TIME",
    "PER_OP_TIME_MISSING",
    "REASONS_FOUND",
    "REASONS_MISSING",
    "PlanEntry",
    "compute_plan_entries",
    "device_of",
    "placement_from_compute_plan",
    "placement_from_entries",
    "placement_from_remote_plan",
    "remote_plan_entries",
    "remote_plan_from_entries",
]

NOT_IN_PLAN = "not in Core ML's compute plan"
NO_USAGE = "Core ML's compute plan gives no device for this op"
REASONS_MISSING = "Core ML's per-op analytics were not found; reasons unavailable"
REASONS_FOUND = "Core ML's E5 per-op analytics were found; their validation messages are quoted"
PER_OP_TIME = "estimated from the measured total"
PER_OP_TIME_MISSING = "unavailable: no measured latency"


# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------

# Spellings accepted for devices in plain data (our records, remote plans, user input).
_DEVICE_NAMES: Mapping[str, Device] = {
    "ane": Device.ANE,
    "neuralengine": Device.ANE,
    "neural_engine": Device.ANE,
    "neural engine": Device.ANE,
    "ne": Device.ANE,
    "gpu": Device.GPU,
    "cpu": Device.CPU,
}


def device_of(obj: Any) -> Device | None:
    """Map a compute device to a `Device`.

    Accepts coremltools' `MLCPUComputeDevice` / `MLGPUComputeDevice` / `MLNeuralEngineComputeDevice`
    (checked with isinstance, so devices built without a native proxy work too), a `Device`, or a
    name ("ANE", "neuralEngine", "gpu", ...). None maps to None.
    """
    if obj is None:
        return None
    if isinstance(obj, Device):
        return obj
    if isinstance(obj, str):
        device = _DEVICE_NAMES.get(obj.strip().lower())
        if device is None:
            raise ValueError(f"unknown compute device name {obj!r}")
        return device
    from coremltools.models.compute_device import (
        MLCPUComputeDevice,
        MLGPUComputeDevice,
        MLNeuralEngineComputeDevice,
    )

    if isinstance(obj, MLNeuralEngineComputeDevice):
        return Device.ANE
    if isinstance(obj, MLGPUComputeDevice):
        return Device.GPU
    if isinstance(obj, MLCPUComputeDevice):
        return Device.CPU
    raise ValueError(f"unknown compute device {obj!r}")


def _ane_core_count(obj: Any) -> int | None:
    """total_core_count of a live Neural Engine device; None for devices without a proxy."""
    if getattr(obj, "__proxy__", None) is None:
        return None  # built without Core ML (tests, replays): nothing to ask
    count = obj.total_core_count
    return int(count) if count is not None else None


# --------------------------------------------------------------------------------------------
# Compute-plan entries: the plain-data form of one plan row
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanEntry:
    """One operation (ML Program) or layer (NeuralNetwork) of a compute plan, as plain data.

    `stages` are the pipeline sub-model names leading to it, `function` the ML Program function
    (None for NeuralNetwork layers), `name` the op's first output name (the layer name for
    layers), `parents` the (output name, block index) of each enclosing control-flow op.
    `has_usage` is False when Core ML returned no device usage (consts, or ops of a function
    that was not loaded).
    """

    name: str
    function: str | None
    kind: str  # "operation" | "layer"
    op_type: str = ""
    outputs: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    parents: tuple[tuple[str, int], ...] = ()
    has_usage: bool = False
    preferred: Device | None = None
    supported: frozenset[Device] = frozenset()
    cost_weight: float | None = None
    ane_cores: int | None = None

    @property
    def graph_function(self) -> str:
        """The `Op.function` this entry belongs to (the Graph's pipeline naming)."""
        prefix = "/".join(self.stages)
        if self.function is None:  # NeuralNetwork: the stage name, or "main" at top level
            return prefix or "main"
        return f"{prefix}/{self.function}" if prefix else self.function

    @property
    def is_const(self) -> bool:
        return self.op_type == "const" or self.op_type.endswith(".const")


def _iter_structure(structure: Any, stages: tuple[str, ...]) -> Iterator[tuple[Any, PlanEntry]]:
    """Walk an MLModelStructure: every program op (nested blocks included), NN layer and
    pipeline stage. Yields (structure node, entry without usage)."""
    program = getattr(structure, "program", None)
    network = getattr(structure, "neuralnetwork", None)
    pipeline = getattr(structure, "pipeline", None)
    if program is not None:
        for fname, function in program.functions.items():
            yield from _iter_block(function.block, fname, stages, ())
    elif network is not None:
        for layer in network.layers:
            outputs = tuple(layer.output_names or ())
            yield (
                layer,
                PlanEntry(
                    name=layer.name,
                    function=None,
                    kind="layer",
                    op_type=layer.type or "",
                    outputs=outputs,
                    stages=stages,
                ),
            )
    elif pipeline is not None:
        # coremltools builds sub_models as a list of (name, MLModelStructure) tuples
        # (coremlpython/CoreMLPython.mm, toPythonObject(MLModelStructurePipeline *)).
        for sub_name, sub_structure in pipeline.sub_models:
            yield from _iter_structure(sub_structure, (*stages, sub_name))


def _iter_block(
    block: Any, function: str, stages: tuple[str, ...], parents: tuple[tuple[str, int], ...]
) -> Iterator[tuple[Any, PlanEntry]]:
    for op in block.operations:
        outputs = tuple(out.name for out in op.outputs)
        name = outputs[0] if outputs else ""
        yield (
            op,
            PlanEntry(
                name=name,
                function=function,
                kind="operation",
                op_type=op.operator_name or "",
                outputs=outputs,
                stages=stages,
                parents=parents,
            ),
        )
        for index, inner in enumerate(op.blocks or ()):
            yield from _iter_block(inner, function, stages, (*parents, (name, index)))


def compute_plan_entries(plan: Any) -> list[PlanEntry]:
    """Read every op of an `MLComputePlan` (or anything with the same methods) into entries.

    Uses only the public coremltools API: `model_structure`,
    `get_compute_device_usage_for_mlprogram_operation`,
    `get_estimated_cost_for_mlprogram_operation` and
    `get_compute_device_usage_for_neuralnetwork_layer` (Core ML has no cost for NN layers).
    """
    entries: list[PlanEntry] = []
    for node, entry in _iter_structure(plan.model_structure, ()):
        if entry.kind == "operation":
            usage = plan.get_compute_device_usage_for_mlprogram_operation(node)
            cost = plan.get_estimated_cost_for_mlprogram_operation(node)
        else:
            usage = plan.get_compute_device_usage_for_neuralnetwork_layer(node)
            cost = None
        if usage is not None:
            preferred_obj = usage.preferred_compute_device
            supported_objs = list(usage.supported_compute_devices or ())
            cores = None
            for obj in (preferred_obj, *supported_objs):
                if device_of(obj) is Device.ANE:
                    cores = _ane_core_count(obj)
                    break
            entry = dataclasses.replace(
                entry,
                has_usage=True,
                preferred=device_of(preferred_obj),
                supported=frozenset(d for d in map(device_of, supported_objs) if d is not None),
                ane_cores=cores,
            )
        if cost is not None:
            entry = dataclasses.replace(entry, cost_weight=float(cost.weight))
        entries.append(entry)
    return entries


# --------------------------------------------------------------------------------------------
# coremltools' remote-device compute-plan dictionary
# --------------------------------------------------------------------------------------------
#
# Format (coremltools/models/ml_program/experimental/remote_device.py, class ComputePlan, and
# model_structure_path.py, class ModelStructurePath; read in coremltools 9.0):
#
#   {"infos": [
#      {"deviceUsage": {"preferred": {"neuralEngine": {"totalCoreCount": 16}},
#                       "supported": [{"cpu": {}}, {"gpu": {}}, {"neuralEngine": {...}}]},
#       "estimatedCost": 0.12,                       # MLComputePlanCost.weight, or null
#       "path": {"components": [
#          {"program": {}},
#          {"programFunction": {"data": {"name": "main"}}},
#          {"programBlock": {"data": {"index": -1}}},          # -1: a function's own block
#          {"programOperation": {"data": {"outputName": "conv_out"}}},
#          # nested ops continue: {"programBlock": {"data": {"index": 0}}}, {"programOperation"...}
#       ]}},
#      # NeuralNetwork: [{"neuralNetwork": {}}, {"neuralNetworkLayer": {"data": {"name": ...}}}]
#      # Pipelines prefix [{"pipeline": {}}, {"pipelineModel": {"data": {"name": ...}}}]
#   ]}
#
# coremltools writes one path per op *output* (map_model_structure_to_path), so a multi-output op
# may be keyed by any of its outputs. Its parser needs a deviceUsage in every info, so ops Core ML
# gives no usage for (consts) cannot be infos. Additions of ours, which coremltools' parser
# ignores: "operatorName" and "outputNames" in an info (a NeuralNetwork layer's path holds only
# the layer name, while a Graph names ops by their first output), and a top-level
# "infosWithoutUsage" list of such infos without deviceUsage, for the ops without usage.

_COMPONENT_KEYS = frozenset(
    {
        "program",
        "programFunction",
        "programBlock",
        "programOperation",
        "neuralNetwork",
        "neuralNetworkLayer",
        "pipeline",
        "pipelineModel",
    }
)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _device_from_dict(value: Any, where: str) -> tuple[Device, int | None]:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise PlanError(
            where,
            f"a compute device must be one of {{'cpu'|'gpu'|'neuralEngine': "
            f"{{...}}}}, got {value!r}",
        )
    ((key, body),) = value.items()
    if key == "cpu":
        return Device.CPU, None
    if key == "gpu":
        return Device.GPU, None
    if key == "neuralEngine":
        cores = body.get("totalCoreCount") if isinstance(body, Mapping) else None
        return Device.ANE, _as_int(cores)
    raise PlanError(where, f"unknown compute device {key!r} (expected cpu, gpu or neuralEngine)")


def _entry_from_info(info: Any, where: str) -> PlanEntry:
    if not isinstance(info, Mapping):
        raise PlanError(where, f"each info must be an object, got {type(info).__name__}")
    path = info.get("path")
    components = path.get("components") if isinstance(path, Mapping) else None
    if not isinstance(components, list) or not components:
        raise PlanError(where, "an info has no path.components")
    stages: list[str] = []
    function: str | None = None
    kind = ""
    ops: list[str] = []
    blocks: list[int] = []
    layer = ""
    for component in components:
        if not isinstance(component, Mapping) or len(component) != 1:
            raise PlanError(where, f"bad path component {component!r}")
        ((key, body),) = component.items()
        if key not in _COMPONENT_KEYS:
            raise PlanError(where, f"unknown path component {key!r}")
        data = body.get("data", {}) if isinstance(body, Mapping) else {}
        if not isinstance(data, Mapping):
            raise PlanError(
                where, f"a path component's 'data' must be an object, got {type(data).__name__}"
            )
        if key == "pipelineModel":
            stages.append(str(data.get("name", "")))
        elif key == "programFunction":
            function, kind = str(data.get("name", "")), "operation"
        elif key == "programBlock":
            index = _as_int(data.get("index", -1))
            if index is None:
                raise PlanError(where, f"programBlock index must be an integer: {component!r}")
            blocks.append(index)
        elif key == "programOperation":
            ops.append(str(data.get("outputName", "")))
        elif key == "neuralNetworkLayer":
            layer, kind = str(data.get("name", "")), "layer"
    if kind == "operation" and ops:
        name = ops[-1]
        # blocks[0] is the function's own block (-1); blocks[i] (i >= 1) is the block of ops[i-1]
        parents = tuple(zip(ops[:-1], blocks[1 : len(ops)], strict=False))
    elif kind == "layer" and layer:
        name, parents, function = layer, (), None
    else:
        raise PlanError(where, f"path {components!r} names no operation or layer")

    usage = info.get("deviceUsage")
    preferred: Device | None = None
    supported: frozenset[Device] = frozenset()
    cores: int | None = None
    if usage:  # coremltools' from_dict needs it; we tolerate its absence (= no usage, a const)
        if not isinstance(usage, Mapping):
            raise PlanError(where, f"deviceUsage of {name!r} must be an object")
        preferred, cores = _device_from_dict(usage.get("preferred"), where)
        sup = usage.get("supported")
        if not isinstance(sup, list):
            raise PlanError(where, f"deviceUsage.supported of {name!r} must be a list")
        devices = []
        for item in sup:
            device, more = _device_from_dict(item, where)
            devices.append(device)
            cores = cores if cores is not None else more
        supported = frozenset(devices)
    cost = info.get("estimatedCost")
    if cost is not None and not isinstance(cost, (int, float)):
        raise PlanError(where, f"estimatedCost of {name!r} must be a number or null, got {cost!r}")
    outputs = info.get("outputNames", [name])
    if not isinstance(outputs, list):
        raise PlanError(where, f"outputNames of {name!r} must be a list")
    return PlanEntry(
        name=name,
        function=function,
        kind=kind,
        op_type=str(info.get("operatorName", "")),
        outputs=tuple(str(o) for o in outputs),
        stages=tuple(stages),
        parents=parents,
        has_usage=bool(usage),
        preferred=preferred,
        supported=supported,
        cost_weight=float(cost) if cost is not None else None,
        ane_cores=cores,
    )


def remote_plan_entries(
    plan: Mapping[str, Any], where: str = "<remote compute plan>"
) -> list[PlanEntry]:
    """Parse coremltools' remote-device compute-plan dictionary into entries.

    `infos` is a list (what coremltools' `ComputePlan.from_dict` reads); a mapping of infos (what
    its `to_dict` writes) is accepted too. Errors name `where` and the problem.
    """
    if not isinstance(plan, Mapping):
        raise PlanError(where, f"a compute plan must be a JSON object, got {type(plan).__name__}")
    infos = plan.get("infos")
    if isinstance(infos, Mapping):
        infos = list(infos.values())
    if not isinstance(infos, list):
        raise PlanError(
            where,
            "a compute plan needs an 'infos' list (coremltools' remote-device ComputePlan format)",
        )
    extra = plan.get("infosWithoutUsage", [])
    if not isinstance(extra, list):
        raise PlanError(where, "'infosWithoutUsage' must be a list")
    return [_entry_from_info(info, where) for info in [*infos, *extra]]


def _device_to_dict(device: Device, cores: int | None) -> dict[str, Any]:
    if device is Device.ANE:
        return {"neuralEngine": {"totalCoreCount": cores or 0}}
    return {"cpu": {}} if device is Device.CPU else {"gpu": {}}


def remote_plan_from_entries(entries: Iterable[PlanEntry]) -> dict[str, Any]:
    """Write entries in coremltools' remote-device compute-plan format (JSON-ready); entries
    without device usage go to "infosWithoutUsage"."""
    infos: list[dict[str, Any]] = []
    without: list[dict[str, Any]] = []
    for entry in entries:
        components: list[dict[str, Any]] = []
        if entry.stages:
            components.append({"pipeline": {}})
            for stage in entry.stages:
                components.append({"pipelineModel": {"data": {"name": stage}}})
        if entry.kind == "layer":
            components += [
                {"neuralNetwork": {}},
                {"neuralNetworkLayer": {"data": {"name": entry.name}}},
            ]
        else:
            components += [
                {"program": {}},
                {"programFunction": {"data": {"name": entry.function or "main"}}},
                {"programBlock": {"data": {"index": -1}}},
            ]
            for parent, block in entry.parents:
                components += [
                    {"programOperation": {"data": {"outputName": parent}}},
                    {"programBlock": {"data": {"index": block}}},
                ]
            components.append({"programOperation": {"data": {"outputName": entry.name}}})
        info: dict[str, Any] = {"path": {"components": components}}
        if entry.op_type:
            info["operatorName"] = entry.op_type
        if entry.outputs and entry.outputs != (entry.name,):
            info["outputNames"] = list(entry.outputs)
        if not entry.has_usage or entry.preferred is None:
            without.append(info)
            continue
        info["deviceUsage"] = {
            "preferred": _device_to_dict(entry.preferred, entry.ane_cores),
            "supported": [
                _device_to_dict(d, entry.ane_cores) for d in DEVICE_ORDER if d in entry.supported
            ],
        }
        info["estimatedCost"] = entry.cost_weight
        infos.append(info)
    plan: dict[str, Any] = {"infos": infos}
    if without:
        plan["infosWithoutUsage"] = without
    return plan


# --------------------------------------------------------------------------------------------
# Mapping entries onto a graph
# --------------------------------------------------------------------------------------------


def _supported_text(devices: frozenset[Device]) -> str:
    return ", ".join(DEVICE_LABEL[d] for d in DEVICE_ORDER if d in devices) or "none reported"


def _analytics_for(op: Op, analytics: Mapping[str, AnalyticsEntry]) -> AnalyticsEntry | None:
    for key in (f"{op.function}/{op.name}", op.name, *(t.name for t in op.outputs)):
        entry = analytics.get(key)
        if entry is None:
            continue
        # E5 names the function it analysed; a pipeline stage's function is "<stage>/<function>"
        if entry.function in (None, op.function) or op.function.endswith(f"/{entry.function}"):
            return entry
    return None


def _reason(
    op: Op, entry: PlanEntry | None, compute_units: ComputeUnits, analytics: AnalyticsEntry | None
) -> tuple[ReasonKind, str]:
    """The kind of the decision Core ML's plan shows for `op`, and its sentence."""
    parts: list[str] = []
    if op.is_const or (entry is not None and entry.is_const and not entry.has_usage):
        kind = ReasonKind.CONSTANT
        parts.append(CONSTANT_REASON)
    elif entry is None:
        kind = ReasonKind.NOT_IN_PLAN
        parts.append(NOT_IN_PLAN)
    elif not entry.has_usage or entry.preferred is None:
        kind = ReasonKind.NO_USAGE
        parts.append(NO_USAGE)
    elif entry.preferred is not Device.ANE:
        # Core ML publishes no reason; say what it decided. (On the Neural Engine by choice there
        # is nothing to explain: OpPlacement.reason stays "" unless the analytics add something.)
        parts.append(
            f"Core ML preferred the {DEVICE_LABEL[entry.preferred]}; supported: "
            f"{_supported_text(entry.supported)}"
        )
        if Device.ANE not in compute_units.devices:
            kind = ReasonKind.COMPUTE_UNITS
            parts.append(f"the Neural Engine is not allowed by {compute_units}")
        elif Device.ANE in entry.supported:
            kind = ReasonKind.COREML_PREFERRED
        else:
            kind = ReasonKind.COREML_UNSUPPORTED
    else:
        kind = ReasonKind.ON_ANE
    if analytics is not None and analytics.validation_messages:
        said = "; ".join(
            f"{_backend_label(backend)}: {message}"
            for backend, message in sorted(analytics.validation_messages.items())
        )
        parts.append(f"Core ML's analytics: {said}")
    return kind, ". ".join(parts)


def _backend_label(backend: str) -> str:
    device = backend_device(backend)
    return f"{DEVICE_LABEL[device]} ({backend})" if device is not None else backend


def placement_from_entries(
    graph: Graph,
    entries: Sequence[PlanEntry],
    compute_units: ComputeUnits | str,
    *,
    source: PlacementSource | str = PlacementSource.COREML,
    timings: CoreMLTimings | None = None,
    analytics: Mapping[str, AnalyticsEntry] | None = None,
    chip: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> Placement:
    """Map compute-plan entries onto `graph`, one `OpPlacement` per graph op, in graph order.

    An entry finds its op by (function, name or any output name); when a name is unique in the
    graph the function may differ (e.g. a NeuralNetwork model whose layers the loader filed under
    another function name). Per-op time is the measured median latency times the cost weight:
    an estimate from a measurement, and labelled so in `metadata["per_op_time"]`.
    """
    units = ComputeUnits.parse(compute_units)
    by_key: dict[tuple[str, str], int] = {}
    by_name: dict[str, set[int]] = {}
    for position, op in enumerate(graph.ops):
        for name in (op.name, *(t.name for t in op.outputs)):
            by_key.setdefault((op.function, name), position)
            by_name.setdefault(name, set()).add(position)

    matched: dict[int, PlanEntry] = {}
    unmatched: list[str] = []
    for entry in entries:
        found_at: int | None = None
        for name in dict.fromkeys((entry.name, *entry.outputs)):
            found_at = by_key.get((entry.graph_function, name))
            if found_at is None and len(by_name.get(name, ())) == 1:
                found_at = next(iter(by_name[name]))
            if found_at is not None:
                break
        if found_at is None:
            unmatched.append(f"{entry.graph_function}/{entry.name}")
        else:
            # a multi-output op may appear once per output: the first row wins
            matched.setdefault(found_at, entry)

    latency = timings.predict_median_ms if timings is not None else None
    analytics = analytics or {}
    placements = []
    for position, op in enumerate(graph.ops):
        row = matched.get(position)
        found = _analytics_for(op, analytics) if analytics else None
        device = row.preferred if row is not None and row.has_usage else None
        weight = row.cost_weight if row is not None else None
        est = latency * weight if latency is not None and weight is not None else 0.0
        kind, reason = _reason(op, row, units, found)
        placements.append(
            OpPlacement(
                device=None if op.is_const else device,
                supported=row.supported if row is not None else frozenset(),
                reason=reason,
                reason_kind=kind,
                evidence=None,  # measured by Core ML, not a rule
                est_time_ms=est,
                rules=(),
                cost_weight=weight,
            )
        )

    cores = next((e.ane_cores for e in entries if e.ane_cores), None)
    meta: dict[str, Any] = {
        "backend": source,
        "compute_units": str(units),
        "per_op_time": PER_OP_TIME if latency is not None else PER_OP_TIME_MISSING,
        "reasons": REASONS_FOUND if analytics else REASONS_MISSING,
        "plan_ops": len(entries),
        "ops_not_in_plan": sum(1 for p in range(len(graph.ops)) if p not in matched),
        "unmatched_plan_ops": unmatched,
    }
    if cores:
        meta["ane_cores"] = cores
    if metadata:
        meta.update(metadata)
    return Placement(
        source=PlacementSource(source),
        compute_units=units,
        chip=chip,
        ops=tuple(placements),
        metadata=meta,
        timings=timings,
    )


def placement_from_compute_plan(
    graph: Graph, plan: Any, compute_units: ComputeUnits | str, **kwargs: Any
) -> Placement:
    """Map an `MLComputePlan` onto `graph` (source "coreml"). Keyword arguments as for
    `placement_from_entries` (timings, analytics, chip, metadata)."""
    kwargs.setdefault("source", PlacementSource.COREML)
    return placement_from_entries(graph, compute_plan_entries(plan), compute_units, **kwargs)


def placement_from_remote_plan(
    graph: Graph,
    plan: Mapping[str, Any] | str | os.PathLike[str],
    compute_units: ComputeUnits | str,
    **kwargs: Any,
) -> Placement:
    """Import coremltools' remote-device compute-plan dictionary (or a JSON file holding one)
    onto `graph` (source "recorded"). Keyword arguments as for `placement_from_entries`."""
    where = "<remote compute plan>"
    data: Any = plan
    if isinstance(plan, (str, os.PathLike)):
        where = os.fspath(plan)
        try:
            data = json.loads(Path(where).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PlanError(where, f"cannot read the compute plan: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise PlanError(where, f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    kwargs.setdefault("source", PlacementSource.RECORDED)
    entries = remote_plan_entries(data, where)
    return placement_from_entries(graph, entries, compute_units, **kwargs)
