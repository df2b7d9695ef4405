"""coremltools' remote-device compute-plan dictionary: read into entries and written from them.

The JSON form `coremltools.models.ml_program.experimental.remote_device.ComputePlan.from_dict`
reads. A recorded plan is this dictionary; the live run uses the same form to carry a plan out of
its child process, so a live plan and a recorded one go through one mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...errors import PlanError
from ..devices import DEVICE_ORDER, Device
from .entries import PlanEntry

__all__ = ["remote_plan_entries", "remote_plan_from_entries"]

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
    block = -1  # the block the next op is in (a function's own block is -1)
    blocks: list[int] = []  # blocks[i]: the block ops[i] is in
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
            block = index
        elif key == "programOperation":
            ops.append(str(data.get("outputName", "")))
            blocks.append(block)
        elif key == "neuralNetworkLayer":
            layer, kind = str(data.get("name", "")), "layer"
    if kind == "operation" and ops:
        name = ops[-1]
        # ops[i] encloses ops[i + 1], in its block blocks[i + 1]. The last block component before
        # an op counts: the remote runner appends a component per block of an op without
        # dropping the previous one ([..., cond, block 0, block 1, op] for an op of block 1;
        # coremltools/modelrunner/ModelRunner/ModelService.swift).
        parents = tuple(zip(ops[:-1], blocks[1:], strict=True))
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
