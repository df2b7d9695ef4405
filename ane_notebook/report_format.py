"""The report format's constants, shared by the validator (`report_validation`), its
column-wise fast path (`report_columns`) and the typed decoder (`report_decode`): the format
name and version, the limits on numbers and nesting, each object's field set and the enums'
value sets. One table per fact: the value sets come from the enums themselves.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from .placement.devices import ComputeUnits, Device, Evidence
from .placement.result import CostDriver, PlacementSource, ReasonKind, WarningKind


def _values(kind: type[Enum]) -> frozenset[str]:
    return frozenset(str(m.value) for m in kind)


# Larger times would overflow to infinity when a few are summed (the summary, the text bars).
# Far above anything real, and above what the estimate gives even for absurd declared shapes
# (at most ~1e100 ms, see model/limits.py MAX_TENSOR_ELEMENTS), so our own reports always reload.
MAX_TIME_MS = 1e200
# A tensor has at most 2**128 elements (model/limits.py) of at most 8 bytes: byte counts beyond
# this did not come from a model, and formatting them would overflow floats.
MAX_BYTES = 2**131
# The report's own structure is 6 levels deep; free-form metadata (recorded-plan facts) a few
# more. Deeper JSON is refused before a renderer walks it recursively.
MAX_JSON_DEPTH = 32
# Model tensors have at most this many dimensions (model/limits.py MAX_RANK).
MAX_RANK = 64
MAX_DIM = 2**63 - 1

REPORT_FORMAT = "ane_notebook.report"
REPORT_VERSION = 2

# The enums' values, from the enums themselves (one table per fact).
_DEVICES = _values(Device)
_SOURCES = _values(PlacementSource)
_UNITS = _values(ComputeUnits)
_EVIDENCE = _values(Evidence)
_REASON_KINDS = _values(ReasonKind)
_WARNING_KINDS = _values(WarningKind)

_TOP = frozenset({
    "format", "version", "source", "compute_units", "chip", "model", "metadata", "timings",
    "warnings", "uncertainty", "hazards", "ops", "segments", "crossings",
})  # fmt: skip
_MODEL = frozenset({
    "name", "source", "format", "functions", "inputs", "outputs", "flexible_inputs", "metadata",
})  # fmt: skip
_OP = frozenset({
    "index", "name", "op_type", "function", "device", "supported", "reason", "reason_kind",
    "evidence", "est_time_ms", "rules", "cost_weight", "contested", "alt_device",
    "shape_unknown", "estimate", "outputs", "inputs", "is_const", "block",
})  # fmt: skip
_ESTIMATE = frozenset({"device", "reason", "reason_kind", "evidence", "rules"})
_TENSOR = frozenset({"name", "shape", "dtype"})
_SEGMENT = frozenset({"index", "device", "function", "start", "end", "n_ops", "est_time_ms"})
# Added to format version 2 later; absent in reports written before (read as 0 / null).
_SEGMENT_OPTIONAL = frozenset({"launch_ms", "io_ms"})
_OP_OPTIONAL = frozenset({"cost_driver"})
_COST_DRIVERS = _values(CostDriver)
_CROSSING = frozenset({
    "src", "dst", "tensor", "shape", "dtype", "bytes", "src_device", "dst_device", "est_cost_ms",
    "moved",
})  # fmt: skip
_TIMINGS = frozenset({
    "compute_units", "compile_ms", "plan_ms", "load_first_ms", "load_cached_ms",
    "predict_first_ms", "predict_median_ms", "predict_p90_ms", "runs",
})  # fmt: skip
_WARNING = frozenset({"kind", "message", "count", "ops"})
_HAZARD = frozenset({"id", "message", "evidence", "source", "ops"})
_UNCERTAINTY = frozenset({"ops", "est_total_ms"})


# The op rules of `_check_op` as column types and value sets, for the column-wise fast path
# (`report_columns.op_columns`; it only ever accepts what `_check_op` accepts).
_NONE = type(None)
_S, _SN, _B, _L = frozenset({str}), frozenset({str, _NONE}), frozenset({bool}), frozenset({list})
_COLUMN_LIMITS: dict[str, Any] = {
    "op_types": {
        "index": frozenset({int}), "name": _S, "op_type": _S, "function": _S, "device": _SN,
        "supported": _L, "reason": _S, "reason_kind": _S, "evidence": _SN,
        "est_time_ms": frozenset({int, float}), "rules": _L,
        "cost_weight": frozenset({int, float, _NONE}), "contested": _B, "alt_device": _SN,
        "shape_unknown": _B, "cost_driver": _SN, "estimate": frozenset({dict, _NONE}),
        "outputs": _L, "inputs": _L, "is_const": _B, "block": _L,
    },
    "op_optional": _OP_OPTIONAL,
    "tensor_types": {"name": _S, "shape": frozenset({list, _NONE}), "dtype": _S},
    "estimate_types": {
        "device": _SN, "reason": _S, "reason_kind": _S, "evidence": _SN, "rules": _L,
    },
    "devices": _DEVICES | {None},
    "reason_kinds": _REASON_KINDS,
    "evidence": _EVIDENCE | {None},
    "cost_drivers": _COST_DRIVERS | {None},
    "max_time_ms": MAX_TIME_MS,
    "max_rank": MAX_RANK,
    "max_dim": MAX_DIM,
}  # fmt: skip
