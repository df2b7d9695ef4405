"""Live placement from Core ML itself: the only module that touches Core ML at run time.

Core ML (macOS 14.4+) publishes a per-op *compute plan* through `MLComputePlan`: for every ML
Program operation and NeuralNetwork layer, the device it prefers, the devices that support it and,
for ML Program ops, an estimated cost weight (the op's share of the whole model's work). coremltools
wraps it in `coremltools.models.compute_plan` (frozen dataclasses for the model structure, device
usage and cost; `MLCPUComputeDevice` / `MLGPUComputeDevice` / `MLNeuralEngineComputeDevice` for the
devices). This module

* maps such a plan onto a `Graph` (`placement_from_compute_plan`), keyed like coremltools' own
  model-structure paths: (function, output name);
* imports coremltools' *remote-device* compute-plan dictionary (`placement_from_remote_plan`), the
  JSON form `coremltools.models.ml_program.experimental.remote_device.ComputePlan.from_dict` reads;
  the live run uses the same form to carry a plan out of its child process, so a live plan and a
  recorded one go through one mapping;
* runs Core ML (compile, compute plan, load, predict) in a child process (`run_isolated`), so that a
  Core ML crash or hang becomes a `CoreMLRunError` instead of killing the notebook kernel;
* reads, best effort, Core ML's E5 per-op analytics (`parse_e5_analytics`): the only place where
  Core ML states *why* an op is not on the Neural Engine ("Invalid input tensor format: fp32").

Everything except the child-process bodies is pure Python and runs (and is tested) anywhere,
against coremltools' own dataclasses built without the native proxy.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import json
import math
import multiprocessing
import os
import pickle
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import Any

from ..errors import CoreMLRunError, CoreMLUnavailableError, ModelLoadError, PlanError, UsageError
from ..model.graph import Graph, Op
from .devices import DEVICE_ORDER, ComputeUnits, Device, get_chip
from .result import OpPlacement, Placement

__all__ = [
    "AnalyticsEntry",
    "CoreMLTimings",
    "LiveResult",
    "PlanEntry",
    "backend_device",
    "compute_plan_entries",
    "coreml_available",
    "device_of",
    "e5_cache_roots",
    "emit",
    "find_e5_analytics",
    "macos_version",
    "make_inputs",
    "parse_e5_analytics",
    "placement_from_compute_plan",
    "placement_from_entries",
    "placement_from_remote_plan",
    "remote_plan_entries",
    "remote_plan_from_entries",
    "run_coreml",
    "run_isolated",
]

# MLComputePlan and MLModelStructure appeared in macOS 14.4 (coremltools' compute_plan tests skip
# below it; Apple's docs list macOS 14.4+ for MLComputePlan).
MIN_MACOS = (14, 4)

DEVICE_LABEL: Mapping[Device, str] = {
    Device.ANE: "Neural Engine", Device.GPU: "GPU", Device.CPU: "CPU",
}

NOT_IN_PLAN = "not in Core ML's compute plan"
NO_USAGE = "Core ML's compute plan gives no device for this op"
CONST_REASON = "const: holds weights, no processor runs it"
REASONS_MISSING = "Core ML's per-op analytics were not found; reasons unavailable"
REASONS_FOUND = "Core ML's E5 per-op analytics were found; their validation messages are quoted"
PER_OP_TIME = "estimated from the measured total"
PER_OP_TIME_MISSING = "unavailable: no measured latency"


# --------------------------------------------------------------------------------------------
# Availability
# --------------------------------------------------------------------------------------------

def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def macos_version() -> str:
    """"14.5" and the like ("" off macOS). Pythons built against an old SDK see macOS 11+ as
    "10.16" (Apple's compatibility answer); sw_vers, as coremltools uses, tells the truth then."""
    mac = platform.mac_ver()[0]
    if sys.platform == "darwin" and _parse_version(mac)[:2] == (10, 16):
        done = subprocess.run(["sw_vers", "-productVersion"], capture_output=True, text=True,
                              check=False)
        mac = done.stdout.strip() or mac
    return mac


def coreml_available() -> tuple[bool, str]:
    """Whether the live Core ML backend can run here, and a one-line reason.

    True only on macOS >= 14.4 with coremltools' native library importable and its compute-plan
    proxy loaded. Nothing here loads a model: it is cheap and safe to call for backend="auto".
    """
    if sys.platform != "darwin":
        return False, f"Core ML needs macOS; this is {platform.system() or sys.platform}"
    mac = macos_version()
    version = _parse_version(mac)
    if version < MIN_MACOS:
        need = ".".join(map(str, MIN_MACOS))
        return False, (f"macOS {mac or 'unknown'} is older than {need}, which Core ML's compute "
                       "plan (MLComputePlan) needs")
    try:
        # The native extension is what every Core ML call goes through; coremltools itself only
        # logs a warning when it is missing (e.g. installed from an sdist), so check it directly.
        importlib.import_module("coremltools.libcoremlpython")
    except ImportError as exc:
        return False, (f"coremltools' native library is missing ({exc}); install coremltools "
                       "from a macOS wheel")
    compute_plan = importlib.import_module("coremltools.models.compute_plan")
    if getattr(compute_plan, "_MLComputePlanProxy", None) is None:
        return False, ("coremltools' native library has no compute-plan support (MLComputePlan); "
                       "upgrade coremltools to 8.0 or newer")
    ct = importlib.import_module("coremltools")
    return True, f"Core ML available (macOS {mac}, coremltools {ct.__version__})"


# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------

# E5 backend names -> processor. Core ML's own rule (decompiled
# -[MLE5Engine _extractSupportedComputeUnitFromString:]) tests substrings in this order:
# "classic_cpu"/"mlc" -> CPU, "mps_graph" -> GPU, "ane" -> Neural Engine, "bnns"/"e5_minimal_cpu"
# -> CPU. coremltools' compute_plan_utils._get_backend_names is the inverse of the same table.
_BACKEND_RULES: tuple[tuple[str, Device], ...] = (
    ("classic_cpu", Device.CPU), ("mlc", Device.CPU), ("mps_graph", Device.GPU),
    ("ane", Device.ANE), ("bnns", Device.CPU), ("e5_minimal_cpu", Device.CPU),
)

# Spellings accepted for devices in plain data (our records, remote plans, user input).
_DEVICE_NAMES: Mapping[str, Device] = {
    "ane": Device.ANE, "neuralengine": Device.ANE, "neural_engine": Device.ANE,
    "neural engine": Device.ANE, "ne": Device.ANE, "gpu": Device.GPU, "cpu": Device.CPU,
}


def backend_device(backend: str) -> Device | None:
    """The processor an E5 backend name ("ane", "mps_graph", "bnns", ...) runs on."""
    name = backend.strip().strip('"')
    for needle, device in _BACKEND_RULES:
        if needle in name:
            return device
    return None


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
            yield layer, PlanEntry(name=layer.name, function=None, kind="layer",
                                   op_type=layer.type or "", outputs=outputs, stages=stages)
    elif pipeline is not None:
        # coremltools builds sub_models as a list of (name, MLModelStructure) tuples
        # (coremlpython/CoreMLPython.mm, toPythonObject(MLModelStructurePipeline *)).
        for sub_name, sub_structure in pipeline.sub_models:
            yield from _iter_structure(sub_structure, (*stages, sub_name))


def _iter_block(block: Any, function: str, stages: tuple[str, ...],
                parents: tuple[tuple[str, int], ...]) -> Iterator[tuple[Any, PlanEntry]]:
    for op in block.operations:
        outputs = tuple(out.name for out in op.outputs)
        name = outputs[0] if outputs else ""
        yield op, PlanEntry(name=name, function=function, kind="operation",
                            op_type=op.operator_name or "", outputs=outputs, stages=stages,
                            parents=parents)
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
                entry, has_usage=True, preferred=device_of(preferred_obj),
                supported=frozenset(d for d in map(device_of, supported_objs) if d is not None),
                ane_cores=cores)
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

_COMPONENT_KEYS = frozenset({
    "program", "programFunction", "programBlock", "programOperation", "neuralNetwork",
    "neuralNetworkLayer", "pipeline", "pipelineModel",
})


def _device_from_dict(value: Any, where: str) -> tuple[Device, int | None]:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise PlanError(where, f"a compute device must be one of {{'cpu'|'gpu'|'neuralEngine': "
                               f"{{...}}}}, got {value!r}")
    (key, body), = value.items()
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
        (key, body), = component.items()
        if key not in _COMPONENT_KEYS:
            raise PlanError(where, f"unknown path component {key!r}")
        data = body.get("data", {}) if isinstance(body, Mapping) else {}
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
        parents = tuple(zip(ops[:-1], blocks[1:len(ops)], strict=False))
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
    return PlanEntry(name=name, function=function, kind=kind,
                     op_type=str(info.get("operatorName", "")),
                     outputs=tuple(str(o) for o in outputs),
                     stages=tuple(stages), parents=parents, has_usage=bool(usage),
                     preferred=preferred, supported=supported,
                     cost_weight=float(cost) if cost is not None else None, ane_cores=cores)


def remote_plan_entries(plan: Mapping[str, Any], where: str = "<remote compute plan>"
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
        raise PlanError(where, "a compute plan needs an 'infos' list (coremltools' remote-device "
                               "ComputePlan format)")
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
            components += [{"neuralNetwork": {}},
                           {"neuralNetworkLayer": {"data": {"name": entry.name}}}]
        else:
            components += [{"program": {}},
                           {"programFunction": {"data": {"name": entry.function or "main"}}},
                           {"programBlock": {"data": {"index": -1}}}]
            for parent, block in entry.parents:
                components += [{"programOperation": {"data": {"outputName": parent}}},
                               {"programBlock": {"data": {"index": block}}}]
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
            "supported": [_device_to_dict(d, entry.ane_cores)
                          for d in DEVICE_ORDER if d in entry.supported],
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


def _reason(op: Op, entry: PlanEntry | None, compute_units: ComputeUnits,
            analytics: AnalyticsEntry | None) -> str:
    parts: list[str] = []
    if op.is_const or (entry is not None and entry.is_const and not entry.has_usage):
        parts.append(CONST_REASON)
    elif entry is None:
        parts.append(NOT_IN_PLAN)
    elif not entry.has_usage or entry.preferred is None:
        parts.append(NO_USAGE)
    elif entry.preferred is not Device.ANE:
        # Core ML publishes no reason; say what it decided. (On the Neural Engine by choice there
        # is nothing to explain: OpPlacement.reason stays "" unless the analytics add something.)
        parts.append(f"Core ML preferred the {DEVICE_LABEL[entry.preferred]}; supported: "
                     f"{_supported_text(entry.supported)}")
        if Device.ANE not in compute_units.devices:
            parts.append(f"the Neural Engine is not allowed by {compute_units}")
    if analytics is not None and analytics.validation_messages:
        said = "; ".join(
            f"{_backend_label(backend)}: {message}"
            for backend, message in sorted(analytics.validation_messages.items()))
        parts.append(f"Core ML's analytics: {said}")
    return ". ".join(parts)


def _backend_label(backend: str) -> str:
    device = backend_device(backend)
    return f"{DEVICE_LABEL[device]} ({backend})" if device is not None else backend


def placement_from_entries(
    graph: Graph,
    entries: Sequence[PlanEntry],
    compute_units: ComputeUnits | str,
    *,
    source: str = "coreml",
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
        placements.append(OpPlacement(
            device=None if op.is_const else device,
            supported=row.supported if row is not None else frozenset(),
            reason=_reason(op, row, units, found),
            evidence=None,  # measured by Core ML, not a rule
            est_time_ms=est,
            rules=(),
            cost_weight=weight,
        ))

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
    if timings is not None:
        meta["timings"] = dataclasses.asdict(timings)
    if metadata:
        meta.update(metadata)
    return Placement(source=source, compute_units=units, chip=chip, ops=tuple(placements),
                     metadata=meta)


def placement_from_compute_plan(graph: Graph, plan: Any, compute_units: ComputeUnits | str,
                                **kwargs: Any) -> Placement:
    """Map an `MLComputePlan` onto `graph` (source "coreml"). Keyword arguments as for
    `placement_from_entries` (timings, analytics, chip, metadata)."""
    kwargs.setdefault("source", "coreml")
    return placement_from_entries(graph, compute_plan_entries(plan), compute_units, **kwargs)


def placement_from_remote_plan(graph: Graph, plan: Mapping[str, Any] | str | os.PathLike[str],
                               compute_units: ComputeUnits | str, **kwargs: Any) -> Placement:
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
    kwargs.setdefault("source", "recorded")
    entries = remote_plan_entries(data, where)
    return placement_from_entries(graph, entries, compute_units, **kwargs)


# --------------------------------------------------------------------------------------------
# E5 per-op analytics
# --------------------------------------------------------------------------------------------
#
# What is public (freedomtan/coreml_modelc_profling: coreml_profiling_without_compute_plan*.m,
# without_compute_plan_output.txt, without_compute_plan_2.csv): with the private
# -[MLModelConfiguration setProfilingOptions:1], -[MLE5ProgramLibrary
# segmentationAnalyticsAndReturnError:] returns an NSDictionary keyed by source locations in the
# E5 bundle's analytics.mil (~/Library/Caches/<process>/com.apple.e5rt.e5bundlecache/<OS build>/
# <hash>/<hash>.bundle/<ANE arch, e.g. H13G>.bundle/analytics.mil:<line>:<column>), each value
#   { BackendSupport = { ane = 1; "classic_cpu" = 1; ... };  DebugName = "ios17.cast:8:12";
#     EstimatedRunTime = { ane = "0.0036..."; ... };  OpIndex = 3;
#     OpPath = ( {Type = Program;}, {Name = main; Type = Function;}, {Type = Block;},
#                {Output = "cast_173"; Type = Operation;} );
#     OpType = "ios17.cast";  SelectedBackend = "\"classic_cpu\"";
#     ValidationMessages = { ane = "Invalid input tensor format: fp32"; }; }
# Core ML builds MLComputePlan from this same dictionary (decompiled -[MLE5Engine
# executionSchedule]: preferred = SelectedBackend, supported = BackendSupport, cost weight =
# EstimatedRunTime[selected] / sum over ops, supportMessages = ValidationMessages), which is why
# its validation messages are the missing "why". Times are milliseconds (Core ML sums them in
# _totalRuntimeInMilliSecondsFromE5AnalyticsDictionary:).
#
# The parser reads that dictionary as printed by NSLog/-description (old-style OpenStep plist,
# with or without NSLog line prefixes) or as JSON. Whether analytics.mil itself holds it is not
# public; the live run only *looks* for it (find_e5_analytics).

_ENTRY_KEYS = frozenset({"BackendSupport", "EstimatedRunTime", "SelectedBackend", "OpPath",
                         "ValidationMessages", "OpType"})


@dataclass(frozen=True)
class AnalyticsEntry:
    """Core ML's E5 analytics for one op."""

    name: str  # first output name (OpPath's Operation), else DebugName
    function: str | None
    op_type: str
    location: str = ""  # "<...>/analytics.mil:<line>:<column>"
    op_index: int | None = None
    backend_support: frozenset[str] = frozenset()
    selected_backend: str | None = None
    estimated_run_time: Mapping[str, float] = field(default_factory=dict)  # ms per backend
    validation_messages: Mapping[str, str] = field(default_factory=dict)  # backend -> message

    @property
    def selected_device(self) -> Device | None:
        return backend_device(self.selected_backend) if self.selected_backend else None

    @property
    def supported_devices(self) -> frozenset[Device]:
        return frozenset(d for d in map(backend_device, self.backend_support) if d is not None)


class _PlistError(ValueError):
    """Text is not an old-style (OpenStep) property list at this position."""


_UNQUOTED = re.compile(r"[A-Za-z0-9_.$:/+\-]+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v"}


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _parse_plist(text: str, pos: int) -> tuple[Any, int]:
    """Parse one OpenStep plist value (dict, array, quoted or bare string) at `pos`."""
    pos = _skip_ws(text, pos)
    if pos >= len(text):
        raise _PlistError("unexpected end of text")
    char = text[pos]
    if char == "{":
        result: dict[str, Any] = {}
        pos += 1
        while True:
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == "}":
                return result, pos + 1
            key, pos = _parse_plist(text, pos)
            pos = _skip_ws(text, pos)
            if pos >= len(text) or text[pos] != "=":
                raise _PlistError(f"expected '=' at {pos}")
            value, pos = _parse_plist(text, pos + 1)
            result[str(key)] = value
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == ";":
                pos += 1
            elif pos >= len(text) or text[pos] != "}":
                raise _PlistError(f"expected ';' at {pos}")
    if char == "(":
        items: list[Any] = []
        pos += 1
        while True:
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == ")":
                return items, pos + 1
            value, pos = _parse_plist(text, pos)
            items.append(value)
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos += 1
            elif pos >= len(text) or text[pos] != ")":
                raise _PlistError(f"expected ',' at {pos}")
    if char == '"':
        out: list[str] = []
        pos += 1
        while pos < len(text):
            c = text[pos]
            if c == '"':
                return "".join(out), pos + 1
            if c == "\\" and pos + 1 < len(text):
                nxt = text[pos + 1]
                if nxt == "U" and re.fullmatch(r"[0-9a-fA-F]{4}", text[pos + 2:pos + 6]):
                    out.append(chr(int(text[pos + 2:pos + 6], 16)))
                    pos += 6
                    continue
                out.append(_ESCAPES.get(nxt, nxt))
                pos += 2
                continue
            out.append(c)
            pos += 1
        raise _PlistError("unterminated string")
    match = _UNQUOTED.match(text, pos)
    if match is None:
        raise _PlistError(f"unexpected {char!r} at {pos}")
    return match.group(0), match.end()


def _as_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no")
    return bool(value)


def _entry_from_analytics(location: str, raw: Mapping[str, Any]) -> AnalyticsEntry:
    name = ""
    function = None
    path = raw.get("OpPath")
    if isinstance(path, list):
        for component in path:
            if not isinstance(component, Mapping):
                continue
            kind = component.get("Type")
            if kind == "Function":
                function = str(component.get("Name", "")) or None
            elif kind == "Operation" and component.get("Output"):
                name = str(component["Output"])
    debug = str(raw.get("DebugName", ""))
    if not name:
        name = debug
    support = raw.get("BackendSupport")
    runtime = raw.get("EstimatedRunTime")
    messages = raw.get("ValidationMessages")
    selected = raw.get("SelectedBackend")
    times = {}
    if isinstance(runtime, Mapping):
        for backend, value in runtime.items():
            number = _as_float(value)
            if number is not None:
                times[str(backend)] = number
    return AnalyticsEntry(
        name=name,
        function=function,
        op_type=str(raw.get("OpType", "")),
        location=location,
        op_index=_as_int(raw.get("OpIndex")),
        backend_support=frozenset(
            str(b) for b, v in support.items() if _truthy(v)) if isinstance(support, Mapping)
        else frozenset(),
        # Core ML trims the quotes itself (-[MLE5Engine _trimQuotesFromBackendName:])
        selected_backend=str(selected).strip().strip('"') or None if selected else None,
        estimated_run_time=times,
        validation_messages={str(b): str(m) for b, m in messages.items()}
        if isinstance(messages, Mapping) else {},
    )


def _collect(raw: Any, location: str, out: list[AnalyticsEntry]) -> None:
    """Gather entries from a parsed value: an entry, a {location: entry} dict, or a list."""
    if isinstance(raw, Mapping):
        if _ENTRY_KEYS & raw.keys():
            out.append(_entry_from_analytics(location, raw))
            return
        for key, value in raw.items():
            if isinstance(value, Mapping) and _ENTRY_KEYS & value.keys():
                out.append(_entry_from_analytics(str(key), value))
    elif isinstance(raw, list):
        for item in raw:
            _collect(item, location, out)


# An NSLog line: "<date> <process>[pid:tid] at <location>:<line>:<col>, {"
_LOGGED_ENTRY = re.compile(r"(?:^|\s)at (?P<loc>\S[^\n]*?:\d+:\d+),\s*(?=\{)", re.MULTILINE)


def parse_e5_analytics(text: str) -> dict[str, AnalyticsEntry]:
    """Parse Core ML's E5 per-op analytics into {op name: entry}.

    Accepts the dictionary as JSON, as an old-style plist (NSDictionary -description), or as
    NSLog output with one "at <location>, {...}" entry per op. Text with no recognisable entry
    gives {}; a malformed entry is skipped, the others kept. Op names are unique within one
    loaded function (Core ML analyses one function per model load); should a name repeat under
    another function, the later one is filed under "<function>/<name>".
    """
    entries: list[AnalyticsEntry] = []
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            _collect(json.loads(stripped), "", entries)
        except json.JSONDecodeError:
            try:
                value, _ = _parse_plist(stripped, 0)
            except _PlistError:
                value = None
            _collect(value, "", entries)
    if not entries:
        for match in _LOGGED_ENTRY.finditer(text):
            try:
                value, _ = _parse_plist(text, match.end())
            except _PlistError:
                continue  # a truncated or garbled entry: keep the rest
            _collect(value, match.group("loc"), entries)

    result: dict[str, AnalyticsEntry] = {}
    for entry in entries:
        key = entry.name
        previous = result.get(key)
        if previous is not None and previous.function != entry.function:
            key = f"{entry.function}/{entry.name}"
        result.setdefault(key, entry)
    return result


def e5_cache_roots() -> list[Path]:
    """Where Core ML keeps E5 bundles for this user: ~/Library/Caches/<process>/
    com.apple.e5rt.e5bundlecache (the process name differs per app; Python's varies too)."""
    caches = Path.home() / "Library" / "Caches"
    if not caches.is_dir():
        return []
    return sorted(p for p in caches.glob("*/com.apple.e5rt.e5bundlecache") if p.is_dir())


def _analytics_files(roots: Iterable[Path], since: float | None, limit: int = 64) -> list[Path]:
    """analytics.mil files under `roots`, newest first. With `since`, only directories touched
    since then are entered: a new bundle updates every directory on its path, and the caches of
    other apps can hold gigabytes we must not walk."""
    found: list[tuple[float, Path]] = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            if since is not None:
                dirnames[:] = [d for d in dirnames
                               if os.stat(os.path.join(dirpath, d)).st_mtime >= since]
            if "analytics.mil" in filenames:
                path = Path(dirpath) / "analytics.mil"
                found.append((path.stat().st_mtime, path))
    found.sort(reverse=True)
    return [path for _, path in found[:limit]]


def find_e5_analytics(op_names: Iterable[str], *, roots: Iterable[Path] | None = None,
                      since: float | None = None, max_bytes: int = 64 << 20
                      ) -> tuple[Path | None, str]:
    """Best effort: the analytics file under the E5 bundle cache whose entries name the most of
    `op_names`, and its text; (None, "") when none does."""
    wanted = set(op_names)
    best: tuple[int, Path | None, str] = (0, None, "")
    for path in _analytics_files(roots if roots is not None else e5_cache_roots(), since):
        if path.stat().st_size > max_bytes:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        score = len(wanted & parse_e5_analytics(text).keys())
        if score > best[0]:
            best = (score, path, text)
    return best[1], best[2]


# --------------------------------------------------------------------------------------------
# Crash isolation
# --------------------------------------------------------------------------------------------

# Set in the child process only: where `emit` sends progress events.
_EVENTS: Connection | None = None


def emit(event: Any) -> None:
    """Send a progress event to the parent (a no-op outside `run_isolated`'s child)."""
    if _EVENTS is not None:
        _EVENTS.send(("event", event))


def _resolve(func: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(func):
        return func
    module, _, name = func.partition(":")
    target: Any = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{func!r} is not callable")
    return target


def _child_entry(conn: Connection, func: Callable[..., Any] | str, args: tuple[Any, ...]) -> None:
    """Body of the child process: run, send ("ok", result) or ("error", details), exit."""
    global _EVENTS
    _EVENTS = conn
    try:
        result = _resolve(func)(*args)
    except BaseException as exc:  # noqa: BLE001 - the child reports everything, then exits
        conn.send(("error", (type(exc).__name__, str(exc), traceback.format_exc())))
    else:
        try:
            conn.send(("ok", result))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            conn.send(("error", (type(exc).__name__, f"the result cannot be sent back: {exc}",
                                 traceback.format_exc())))
    finally:
        conn.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the child process died with {name}"
    if exitcode:
        return f"the child process exited with status {exitcode} without a result"
    return "the child process exited without a result"


def run_isolated(
    func: Callable[..., Any] | str,
    args: Sequence[Any] = (),
    timeout_s: float = 600.0,
    *,
    what: str = "running Core ML",
    model: str = "",
    on_event: Callable[[Any], None] | None = None,
) -> Any:
    """Run `func(*args)` in a fresh ("spawn") child process and return its result.

    `func` is a picklable callable (a module-level function or a builtin) or "module:qualname".
    Arguments and result cross the process boundary by pickle. A crash (negative exit code: a
    signal such as SIGSEGV or SIGABRT), a hang past `timeout_s` (the child is killed) or an
    exception in the child becomes a one-line `CoreMLRunError` naming `model` and `what` was
    being done; the parent carries on. Events the child sends with `emit` go to `on_event`.
    """
    subject = f" for {model}" if model else ""
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe once Core ML / ObjC is loaded
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child_entry, args=(sender, func, tuple(args)), daemon=True,
                          name="ane_notebook-coreml")
    process.start()
    sender.close()  # so that the child's death closes the pipe
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CoreMLRunError(f"Core ML did not finish {what}{subject} within "
                                     f"{timeout_s:g} s; the child process was killed")
            ready = wait_for([receiver, process.sentinel], timeout=remaining)
            if receiver in ready or receiver.poll():
                try:
                    kind, payload = receiver.recv()
                except EOFError:
                    process.join(timeout=5)
                    raise CoreMLRunError(f"Core ML crashed while {what}{subject}: "
                                         f"{_death(process.exitcode)}") from None
                if kind == "event":
                    if on_event is not None:
                        on_event(payload)
                    continue
                if kind == "ok":
                    process.join(timeout=5)
                    return payload
                type_name, message, details = payload
                error = CoreMLRunError(f"Core ML failed while {what}{subject}: "
                                       f"{type_name}: {message}")
                error.details = details  # type: ignore[attr-defined]
                raise error
            if process.sentinel in ready:
                process.join(timeout=5)
                raise CoreMLRunError(f"Core ML crashed while {what}{subject}: "
                                     f"{_death(process.exitcode)}")
    finally:
        if process.is_alive():
            process.terminate()
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
                process.join()
        receiver.close()


# --------------------------------------------------------------------------------------------
# Live run (macOS)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoreMLTimings:
    """Measured in the child process, wall clock, milliseconds.

    Loads are `CompiledMLModel(...)` constructions: the first (cold: device specialisation, e.g.
    the Neural Engine compile) and a second one (cached). Predictions include coremltools' input
    conversion; the first is reported apart and left out of median and p90.
    """

    compute_units: str
    compile_ms: float | None
    plan_ms: float
    load_first_ms: float
    load_cached_ms: float
    predict_first_ms: float
    predict_median_ms: float
    predict_p90_ms: float
    runs: int


@dataclass(frozen=True)
class LiveResult:
    """What `run_coreml` measured: one placement and timing set per compute-unit setting."""

    model: str
    placements: Mapping[ComputeUnits, Placement]
    timings: Mapping[ComputeUnits, CoreMLTimings]
    metadata: Mapping[str, Any] = field(default_factory=dict)


_ARRAY_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "DOUBLE": "float64",
                 "INT32": "int32", "INT8": "int8"}
_GRAPH_DTYPES = {"fp32": "float32", "fp16": "float16", "fp64": "float64", "int32": "int32",
                 "int8": "int8", "int16": "int16", "uint8": "uint8", "bool": "bool"}


def _default_array_shape(array_type: Any) -> list[int]:
    """The shape Core ML uses when the caller says nothing: `shape` holds the default for flexible
    inputs too (coremltools writes it); else the first enumerated shape or the range's lower
    bounds (0 lower bounds become 1)."""
    if len(array_type.shape):
        return [int(d) for d in array_type.shape]
    which = array_type.WhichOneof("ShapeFlexibility")
    if which == "enumeratedShapes" and len(array_type.enumeratedShapes.shapes):
        return [int(d) for d in array_type.enumeratedShapes.shapes[0].shape]
    if which == "shapeRange":
        return [max(1, int(r.lowerBound)) for r in array_type.shapeRange.sizeRanges]
    return []


def _default_image_size(image_type: Any) -> tuple[int, int]:
    width, height = int(image_type.width), int(image_type.height)
    if width and height:
        return width, height
    which = image_type.WhichOneof("SizeFlexibility")
    if which == "enumeratedSizes" and len(image_type.enumeratedSizes.sizes):
        size = image_type.enumeratedSizes.sizes[0]
        return int(size.width), int(size.height)
    if which == "imageSizeRange":
        rng = image_type.imageSizeRange
        return max(1, int(rng.widthRange.lowerBound)), max(1, int(rng.heightRange.lowerBound))
    return max(1, width), max(1, height)


def make_inputs(description: Any, seed: int = 0) -> dict[str, Any]:
    """Random inputs for every (non-optional) input of a Core ML model description (proto).

    Multi-arrays of every dtype (fp16 stays fp16: coremltools converts it), flexible shapes at
    their default, images as PIL images of the right mode and size, and scalars/strings.
    A multifunction model uses its default function's inputs.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    inputs = list(description.input)
    if len(description.functions):
        default = description.defaultFunctionName
        for function in description.functions:
            if function.name == default:
                inputs = list(function.input)
    result: dict[str, Any] = {}
    for feature in inputs:
        ftype = feature.type
        if ftype.isOptional:
            continue
        kind = ftype.WhichOneof("Type")
        if kind == "multiArrayType":
            array = ftype.multiArrayType
            dtype_name = array.ArrayDataType.Name(array.dataType)
            dtype = _ARRAY_DTYPES.get(dtype_name)
            if dtype is None:
                raise ValueError(f"input {feature.name!r} has array type {dtype_name}, which "
                                 "ane_notebook cannot generate")
            shape = _default_array_shape(array)
            if dtype.startswith("int"):
                result[feature.name] = rng.integers(0, 10, size=shape).astype(dtype)
            else:
                result[feature.name] = rng.standard_normal(shape).astype(dtype)
        elif kind == "imageType":
            from PIL import Image

            image = ftype.imageType
            width, height = _default_image_size(image)
            space = image.ColorSpace.Name(image.colorSpace)
            if space == "GRAYSCALE":
                pixels = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
                result[feature.name] = Image.fromarray(pixels)  # 2-D uint8: mode "L"
            elif space == "GRAYSCALE_FLOAT16":
                floats = rng.random((height, width), dtype=np.float32)
                result[feature.name] = Image.fromarray(floats)  # 2-D float32: mode "F"
            else:  # RGB and BGR: Core ML takes an RGB PIL image and reorders itself
                pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
                result[feature.name] = Image.fromarray(pixels)  # H x W x 3 uint8: "RGB"
        elif kind == "int64Type":
            result[feature.name] = int(rng.integers(0, 10))
        elif kind == "doubleType":
            result[feature.name] = float(rng.random())
        elif kind == "stringType":
            result[feature.name] = "ane_notebook"
        else:
            raise ValueError(f"input {feature.name!r} has type {kind}, which ane_notebook cannot "
                             "generate")
    return result


def _inputs_from_graph(graph_inputs: Sequence[tuple[str, tuple[int, ...], str]]
                       ) -> dict[str, Any]:
    """Fallback when there is no spec to read (an .mlmodelc): multi-arrays from the graph."""
    import numpy as np

    rng = np.random.default_rng(0)
    result: dict[str, Any] = {}
    for name, shape, dtype in graph_inputs:
        np_dtype = _GRAPH_DTYPES.get(dtype, "float32")
        if np_dtype.startswith(("int", "uint")) or np_dtype == "bool":
            result[name] = rng.integers(0, 2, size=shape).astype(np_dtype)
        else:
            result[name] = rng.standard_normal(shape).astype(np_dtype)
    return result


def _chip_name() -> str:
    """"Apple M1 Pro" and the like (macOS only; no Core ML involved)."""
    done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                          text=True, check=False)
    return done.stdout.strip()


def _child_compile(model_path: str, destination: str) -> dict[str, Any]:
    """Child: compile an .mlpackage/.mlmodel into `destination` (an .mlmodelc path)."""
    from coremltools.models.utils import compile_model

    start = time.perf_counter()
    compiled = compile_model(model_path, destination)
    return {"compiled_path": compiled, "compile_ms": (time.perf_counter() - start) * 1000}


def _child_profile(compiled_path: str, model_path: str, units: str, runs: int,
                   op_names: list[str], graph_inputs: list[tuple[str, tuple[int, ...], str]]
                   ) -> dict[str, Any]:
    """Child: load twice, predict runs + 1 times, read the compute plan, look for analytics.

    Returns plain data: timings, the plan in coremltools' remote-device format, analytics text.
    """
    import coremltools as ct
    import numpy as np
    from coremltools.models.compute_plan import MLComputePlan

    started = time.time()
    compute_unit = ct.ComputeUnit[units]
    # Loads first, so the first one really is cold for this compute-unit setting (the compute
    # plan load specialises the model too).
    start = time.perf_counter()
    model = ct.models.CompiledMLModel(compiled_path, compute_units=compute_unit)
    load_first = (time.perf_counter() - start) * 1000
    del model
    start = time.perf_counter()
    model = ct.models.CompiledMLModel(compiled_path, compute_units=compute_unit)
    load_cached = (time.perf_counter() - start) * 1000

    if model_path.rstrip("/").endswith((".mlpackage", ".mlmodel")):
        spec = ct.utils.load_spec(model_path)
        inputs = make_inputs(spec.description)
        stateful = len(spec.description.state) > 0
    else:
        inputs = _inputs_from_graph(graph_inputs)
        stateful = False
    state = model.make_state() if stateful else None
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        # a fresh dict each run: coremltools swaps fp16 arrays for fp32 copies inside the dict
        model.predict(dict(inputs), state)
        times.append((time.perf_counter() - start) * 1000)
        emit(("predict", units, i + 1, runs + 1))
    steady = times[1:] or times

    start = time.perf_counter()
    plan = MLComputePlan.load_from_path(compiled_path, compute_units=compute_unit)
    plan_ms = (time.perf_counter() - start) * 1000
    remote = remote_plan_from_entries(compute_plan_entries(plan))

    try:
        analytics_path, analytics_text = find_e5_analytics(op_names, since=started - 1)
    except OSError:
        # best effort only: a cache entry vanishing under our walk must not cost the run
        analytics_path, analytics_text = None, ""
    return {
        "timings": {
            "compute_units": units, "compile_ms": None, "plan_ms": plan_ms,
            "load_first_ms": load_first, "load_cached_ms": load_cached,
            "predict_first_ms": times[0], "predict_median_ms": statistics.median(steady),
            "predict_p90_ms": float(np.percentile(steady, 90)), "runs": len(steady),
        },
        "plan": remote,
        "analytics_path": str(analytics_path) if analytics_path else None,
        "analytics_text": analytics_text,
    }


def _model_source(model: Any, workdir: Path) -> tuple[str, str]:
    """A path the child can open, and a display name. MLModel objects are saved first (file
    I/O only: no Core ML call happens in this process)."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise ModelLoadError(path, "no such model file")
        return path, path
    package = getattr(model, "package_path", None)
    if package and os.path.isdir(package):
        return package, package
    get_spec = getattr(model, "get_spec", None)
    if get_spec is None:
        raise UsageError(f"{type(model).__name__}: expected a model path or a coremltools "
                         "MLModel")
    is_program = get_spec().WhichOneof("Type") == "mlProgram"
    path = workdir / ("model.mlpackage" if is_program else "model.mlmodel")
    model.save(str(path))
    return str(path), f"<MLModel {get_spec().description.metadata.shortDescription or 'in memory'}>"


def run_coreml(
    model: Any,
    graph: Graph,
    compute_units: Sequence[ComputeUnits | str] | ComputeUnits | str = (ComputeUnits.ALL,),
    *,
    runs: int = 20,
    timeout_s: float = 600.0,
    progress: bool = True,
    analytics: str | os.PathLike[str] | Mapping[str, AnalyticsEntry] | None = None,
) -> LiveResult:
    """Compile `model`, read Core ML's compute plan and time it, per compute-unit setting.

    `model` is an .mlpackage/.mlmodel/.mlmodelc path or a coremltools MLModel; `graph` the Graph
    the placements are mapped onto. Every Core ML call runs in a child process (one to compile,
    one per setting), each limited to `timeout_s`; a crash or hang raises `CoreMLRunError`.
    `analytics` is an E5 analytics dump to use instead of searching Core ML's cache (a path,
    its text, or `parse_e5_analytics` output).
    """
    ok, why = coreml_available()
    if not ok:
        raise CoreMLUnavailableError(why)
    if runs < 1:
        raise ValueError("runs must be at least 1")
    settings = [compute_units] if isinstance(compute_units, (str, ComputeUnits)) else compute_units
    units = [ComputeUnits.parse(u) for u in settings]
    given = _load_analytics(analytics)

    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory(prefix="ane_notebook-") as tmp:
        workdir = Path(tmp)
        path, name = _model_source(model, workdir)
        if path.rstrip("/").endswith(".mlmodelc"):
            compiled = {"compiled_path": path, "compile_ms": None}
        else:
            compiled = run_isolated(_child_compile, (path, str(workdir / "model.mlmodelc")),
                                    timeout_s, what="compiling the model", model=name)
        chip_text = _chip_name()
        try:
            chip = get_chip(chip_text).name if chip_text else ""
        except ValueError:
            chip = chip_text  # a chip the profile table does not know: keep the system's words
        macos = macos_version()
        ct_version = importlib.metadata.version("coremltools")
        op_names = [op.name for op in graph.ops]
        graph_inputs = [(t.name, tuple(d or 1 for d in (t.shape or ())), t.dtype)
                        for t in graph.inputs]
        placements: dict[ComputeUnits, Placement] = {}
        timings: dict[ComputeUnits, CoreMLTimings] = {}
        for unit in units:
            with tqdm(total=runs + 1, desc=f"{unit} predict", disable=not progress,
                      leave=False) as bar:
                def advance(event: Any, bar: Any = bar) -> None:
                    if isinstance(event, tuple) and event and event[0] == "predict":
                        bar.update(1)

                raw = run_isolated(
                    _child_profile,
                    (compiled["compiled_path"], path, unit.value, runs, op_names, graph_inputs),
                    timeout_s, what=f"profiling with {unit}", model=name, on_event=advance)
            timing = CoreMLTimings(**{**raw["timings"], "compile_ms": compiled["compile_ms"]})
            found = given if given is not None else (
                parse_e5_analytics(raw["analytics_text"]) if raw["analytics_text"] else {})
            extra = {"chip_name": chip_text, "macos": macos, "coremltools": ct_version,
                     "model": name,
                     "analytics_file": raw.get("analytics_path")}
            placements[unit] = placement_from_entries(
                graph, remote_plan_entries(raw["plan"], name), unit, source="coreml",
                timings=timing, analytics=found, chip=chip, metadata=extra)
            timings[unit] = timing
    return LiveResult(model=name, placements=placements, timings=timings,
                      metadata={"chip": chip, "chip_name": chip_text, "macos": macos,
                                "coremltools": ct_version})


def _load_analytics(value: str | os.PathLike[str] | Mapping[str, AnalyticsEntry] | None
                    ) -> dict[str, AnalyticsEntry] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    text = os.fspath(value)
    if "\n" not in text and os.path.exists(text):
        text = Path(text).read_text(encoding="utf-8", errors="replace")
    return parse_e5_analytics(text)
