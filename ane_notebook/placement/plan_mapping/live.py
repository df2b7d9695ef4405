"""Plan entries from a live `MLComputePlan` (coremltools' `coremltools.models.compute_plan`).

Walks the plan's model structure (program functions and their nested blocks, NeuralNetwork
layers, pipeline stages) and asks the plan for each op's device usage and cost, through the
public coremltools API only. Duck-typed: anything with `MLComputePlan`'s methods works, so
coremltools' own dataclasses built without the native proxy are read the same way (tests,
replays). Handed a live plan, the reads go through its proxy: `coreml.run_coreml` does that in
its child process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ..devices import Device
from .entries import PlanEntry, device_of

__all__ = ["compute_plan_entries"]


def _ane_core_count(obj: Any) -> int | None:
    """total_core_count of a live Neural Engine device; None for devices without a proxy."""
    if getattr(obj, "__proxy__", None) is None:
        return None  # built without Core ML (tests, replays): nothing to ask
    count = obj.total_core_count
    return int(count) if count is not None else None


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
