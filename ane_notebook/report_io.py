"""A ProfileReport to and from its JSON form: the versioned dict `report.schema.json` describes.

`report_to_dict` writes every field a report keeps; `report_from_dict` validates a dict (shape by
the schema, meaning by `report_validation`) before building the report, so renderers never see an
invalid one; `load_report` reads it from a file with the size and depth caps of `schema`, and
makes the op records in bulk (`report_records`).
The names are re-exported by `ane_notebook.report`, where users find them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._gc import gc_paused, survivors_promoted
from .analysis.crossings import Crossing
from .analysis.segments import Segment
from .errors import PlanError
from .model.graph import Shape
from .placement.devices import ComputeUnits, Device
from .placement.result import (
    hazards_from_list,
    hazards_to_list,
    placement_fields_to_dict,
    timings_from_dict,
    timings_to_dict,
    uncertainty_from_dict,
    uncertainty_to_dict,
    warnings_from_list,
    warnings_to_list,
)
from .report_format import REPORT_FORMAT, REPORT_VERSION
from .report_records import op_records

# The validators (`schema`, `report_validation`) are imported where a report is read, not here:
# with fastjsonschema and orjson they are ~6 ms of a cold `ane-notebook profile`, which only
# writes reports (issue 14).

if TYPE_CHECKING:
    from .report import OpRecord, ProfileReport, TensorRecord
    from .report_decode import DecodedReport


def _shape(s: Shape | None) -> list[int | None] | None:
    return None if s is None else list(s)


def _tensor(t: TensorRecord) -> dict[str, Any]:
    return {"name": t.name, "shape": _shape(t.shape), "dtype": t.dtype}


@gc_paused()  # a dict per op, tensor and crossing: see _gc.py
def report_to_dict(r: ProfileReport) -> dict[str, Any]:
    m = r.model
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "source": r.source.value,
        "compute_units": r.compute_units.value,
        "chip": r.chip,
        "model": {
            "name": m.name,
            "source": m.source,
            "format": m.format,
            "functions": list(m.functions),
            "inputs": [_tensor(t) for t in m.inputs],
            "outputs": [_tensor(t) for t in m.outputs],
            "flexible_inputs": list(m.flexible_inputs),
            "metadata": dict(m.metadata),
        },
        "metadata": dict(r.metadata),
        "timings": timings_to_dict(r.timings),
        "warnings": warnings_to_list(r.warnings),
        "uncertainty": uncertainty_to_dict(r.uncertainty),
        "hazards": hazards_to_list(r.hazards),
        "ops": [
            {
                "index": o.index,
                "name": o.name,
                "op_type": o.op_type,
                "function": o.function,
                **placement_fields_to_dict(o),
                "outputs": [_tensor(t) for t in o.outputs],
                "inputs": list(o.inputs),
                "is_const": o.is_const,
                "block": list(o.block),
            }
            for o in r.ops
        ],
        "segments": [
            {
                "index": s.index,
                "device": s.device.value,
                "function": s.function,
                "start": s.start,
                "end": s.end,
                "n_ops": s.n_ops,
                "est_time_ms": s.est_time_ms,
                "launch_ms": s.launch_ms,
                "io_ms": s.io_ms,
            }
            for s in r.segments
        ],
        "crossings": [
            {
                "src": c.src,
                "dst": c.dst,
                "tensor": c.tensor,
                "shape": _shape(c.shape),
                "dtype": c.dtype,
                "bytes": c.bytes,
                "src_device": c.src_device.value,
                "dst_device": c.dst_device.value,
                "est_cost_ms": c.est_cost_ms,
                "moved": c.moved,
            }
            for c in r.crossings
        ],
    }


def _tuple_shape(s: Sequence[int | None] | None) -> Shape | None:
    return None if s is None else tuple(s)


def _tensor_rec(d: Mapping[str, Any], make: type[TensorRecord]) -> TensorRecord:
    return make(d["name"], _tuple_shape(d["shape"]), d["dtype"])


@gc_paused()  # schema validation and one record per op: see _gc.py
def report_from_dict(data: Any, origin: str = "<report>") -> ProfileReport:
    """Validate `data` against the schema and build a ProfileReport; PlanError if invalid.

    Reports of format version 1 are upgraded first (`schema.validate_report_dict`).
    """
    return _report(data, origin, own=False)


def _report(data: Any, origin: str, own: bool) -> ProfileReport:
    """The report of `data`; `own`: the parsed dicts are ours to give the records (`op_records`)."""
    from .schema import validate_report_dict

    columns: dict[str, tuple[Any, ...]] = {}  # the ops' columns, if the validator made them
    data = validate_report_dict(data, origin, columns)
    return _built(data, op_records(data["ops"], own=own, columns=columns))


def _decoded_report(decoded: DecodedReport, origin: str) -> ProfileReport:
    """The report of a file `report_decode` read: its ops, segments and crossings are checked,
    the rest is here."""
    from .report_validation import validate_report

    validate_report(decoded.data, origin, op_devices=decoded.devices)
    return _built(decoded.data, decoded.records, (decoded.segments, decoded.crossings))


def _built(
    data: dict[str, Any],
    ops: tuple[OpRecord, ...],
    placed: tuple[tuple[Segment, ...], tuple[Crossing, ...]] | None = None,
) -> ProfileReport:
    """The report of a validated version-2 dict whose op records are made already; `placed`:
    its segments and crossings, if made already (`report_decode`)."""
    # local: report.py imports this module for its to_dict/load names
    from .report import ModelInfo, ProfileReport, TensorRecord

    m = data["model"]
    info = ModelInfo(
        name=m["name"],
        source=m["source"],
        format=m["format"],
        functions=tuple(m["functions"]),
        inputs=tuple(_tensor_rec(t, TensorRecord) for t in m["inputs"]),
        outputs=tuple(_tensor_rec(t, TensorRecord) for t in m["outputs"]),
        flexible_inputs=tuple(m["flexible_inputs"]),
        metadata=dict(m["metadata"]),
    )
    if placed is None:
        placed = (_segments(data["segments"]), _crossings(data["crossings"]))
    segments, crossings = placed
    report = ProfileReport(
        model=info,
        source=data["source"],
        compute_units=ComputeUnits(data["compute_units"]),
        chip=data["chip"],
        ops=ops,
        segments=segments,
        crossings=crossings,
        metadata=dict(data["metadata"]),
        timings=timings_from_dict(data["timings"]),
        warnings=warnings_from_list(data["warnings"]),
        uncertainty=uncertainty_from_dict(data["uncertainty"]),
        hazards=hazards_from_list(data["hazards"]),
    )
    return report


def _segments(items: list[dict[str, Any]]) -> tuple[Segment, ...]:
    return tuple(
        Segment(
            s["index"],
            Device(s["device"]),
            s["function"],
            s["start"],
            s["end"],
            s["n_ops"],
            float(s["est_time_ms"]),
            float(s.get("launch_ms", 0.0)),  # absent in reports written before they existed
            float(s.get("io_ms", 0.0)),
        )
        for s in items
    )


def _crossings(items: list[dict[str, Any]]) -> tuple[Crossing, ...]:
    return tuple(
        Crossing(
            c["src"],
            c["dst"],
            c["tensor"],
            _tuple_shape(c["shape"]),
            c["dtype"],
            c["bytes"],
            Device(c["src_device"]),
            Device(c["dst_device"]),
            float(c["est_cost_ms"]),
            c["moved"],
        )
        for c in items
    )


@gc_paused()  # the parsed JSON is freed before the collector runs again: see _gc.py
def load_report(path: str | os.PathLike[str]) -> ProfileReport:
    """Read a report (or a recorded plan) written by `ProfileReport.to_json`.

    Invalid files are refused here (PlanError). A file is first decoded straight into checked
    op structs (`report_decode`); when that is not sure of it (an older format, any problem),
    it is parsed into dicts and validated the full way, which words the problem, and the records
    are built a column at a time (`report_records.op_records`).

    >>> import ane_notebook as an, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "r.json")
    >>> _ = an.profile("example:lstm").to_json(path)
    >>> an.load_report(path).model.name
    'lstm'
    """
    # local: msgspec and the structs take ~20 ms to import, which a cold `profile` need not pay
    from .report_decode import decode_report
    from .schema import parse_json_bytes, read_json_bytes

    p = Path(path)
    with survivors_promoted():  # the records: no young collection walks them (see _gc.py)
        raw = read_json_bytes(p)
        decoded = decode_report(raw)
        if decoded is not None:
            try:
                return _decoded_report(decoded, str(path))
            except PlanError:
                pass  # the full path below finds the same problem and words it
            decoded = None  # freed before the full path parses the file again
        # the parsed dicts are this function's own: the records may keep them (`_report`)
        return _report(parse_json_bytes(raw, p), str(path), own=True)
