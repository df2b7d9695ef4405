"""Plain-data rows of a Core ML compute plan: `PlanEntry`, and `device_of` for devices.

A `PlanEntry` is one ML Program operation or NeuralNetwork layer of a compute plan with the device
Core ML prefers for it, the devices that support it and its estimated cost weight. Both plan
sources (a live `MLComputePlan`, read by `live.py`, and coremltools' remote-device dictionary,
read and written by `remote.py`) produce entries, so one mapping (`mapping.py`) serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..devices import Device

__all__ = ["PlanEntry", "device_of"]


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
