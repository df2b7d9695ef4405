"""Core ML's compute plan, mapped onto a `Graph`: pure Python, no Core ML call.

Core ML (macOS 14.4+) publishes a per-op *compute plan* through `MLComputePlan`: for every ML
Program operation and NeuralNetwork layer, the device it prefers, the devices that support it and,
for ML Program ops, an estimated cost weight (the op's share of the whole model's work). coremltools
wraps it in `coremltools.models.compute_plan` (frozen dataclasses for the model structure, device
usage and cost; `MLCPUComputeDevice` / `MLGPUComputeDevice` / `MLNeuralEngineComputeDevice` for the
devices).

Modules, one job each:

* `entries.py`: `PlanEntry`, one plan row as plain data, keyed like coremltools' own
  model-structure paths (function, output name), and `device_of` for compute devices;
* `live.py`: entries from a live `MLComputePlan` (`compute_plan_entries`);
* `remote.py`: coremltools' remote-device compute-plan dictionary, read into entries and written
  from them (`remote_plan_entries`, `remote_plan_from_entries`);
* `matching.py`: which graph op each entry is (layer names, pipeline stage names, outputs);
* `gaps.py`: a counted warning for every gap between plan and graph;
* `beside.py`: our estimate beside Core ML's placement, which gives no reasons
  (`with_estimates`);
* `mapping.py`: entries mapped onto a `Graph`, with a reason for every op not on the Neural
  Engine (`placement_from_entries`, `placement_from_compute_plan`, `placement_from_remote_plan`,
  and `placement_from_function_plans` for one plan per function of a multifunction model).

Imports run one way: `mapping` -> `live`, `remote`, `matching`, `gaps` -> `entries`
(`beside` -> `gaps`). Nothing
here imports coremltools except `device_of`, for isinstance checks, so it runs (and is tested)
anywhere.
"""

from __future__ import annotations

from .beside import REASONS_ESTIMATED, with_estimates
from .entries import PlanEntry, device_of
from .live import compute_plan_entries
from .mapping import (
    FUNCTION_NOT_PLANNED,
    NO_USAGE,
    NOT_IN_PLAN,
    PER_OP_TIME,
    PER_OP_TIME_MISSING,
    REASONS_FOUND,
    REASONS_MISSING,
    FunctionPlan,
    placement_from_compute_plan,
    placement_from_entries,
    placement_from_function_plans,
    placement_from_remote_plan,
)
from .remote import remote_plan_entries, remote_plan_from_entries

__all__ = [
    "FUNCTION_NOT_PLANNED",
    "NOT_IN_PLAN",
    "NO_USAGE",
    "PER_OP_TIME",
    "PER_OP_TIME_MISSING",
    "REASONS_ESTIMATED",
    "REASONS_FOUND",
    "REASONS_MISSING",
    "FunctionPlan",
    "PlanEntry",
    "compute_plan_entries",
    "device_of",
    "placement_from_compute_plan",
    "placement_from_entries",
    "placement_from_function_plans",
    "placement_from_remote_plan",
    "remote_plan_entries",
    "remote_plan_from_entries",
    "with_estimates",
]
