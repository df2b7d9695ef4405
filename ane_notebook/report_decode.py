"""The fast path of `load_report`: a report file decoded by msgspec straight into typed op
structs, checked while it is parsed (GitHub issue 14).

Parsing a 50k-op report into dicts (orjson), checking the ops a column at a time
(`report_columns`) and making records from the columns took ~0.5 s. Here msgspec decodes the
file against `_Op`: every rule of `report_validation._check_op` that is about one value (exact
types, enum values, number ranges, field sets) is in the struct's annotations and is checked in
C while parsing; the rules about an op's position (its index, inputs before it), duplicate
devices and estimates are checked after, a column at a time. The records are made from the
structs: an op's fields come out already in their record form (enum members, tuples, floats).

Like `report_columns`, this only ever says "certainly valid" or "not sure": `decode_report`
returns None for anything it cannot decode or is not sure of (a format-1 report, a report
written before `cost_driver`, one bad value anywhere, an integer of 309 digits or more, JSON
nested 1000 levels deep), and
`load_report` then reads the file the full way, which accepts, refuses and words exactly as
before. The segments and crossings are typed and checked the same way (made `Segment`s and
`Crossing`s by msgspec); everything else is decoded as plain JSON values and checked by
`report_validation` itself. `tests/test_report_decode.py` holds the two paths to the same
outcome: the same report for valid files, a refusal from the full path for every file this one
is not sure of.

Duplicate keys: all three parsers keep the last value, but the full path's parser refuses some
values (an integer beyond a float, nesting past 1024 levels) even where a later duplicate
replaces them. The digit scan and the nesting bound above keep this path from accepting such a
file. On Python 3.12 and later msgspec's nesting is bounded by the interpreter's own C limit
instead of the recursion limit, so a value nested deeper than 1024 levels under a replaced
duplicate key could be accepted here and refused by the full path (no crash either way).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress
from operator import attrgetter, lt
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from ._recursion import bounded_recursion
from .analysis.crossings import Crossing
from .analysis.segments import Segment
from .placement.devices import Device, Evidence
from .placement.result import CostDriver, ReasonKind, estimate_from_dict
from .report_format import (
    MAX_BYTES,
    MAX_DIM,
    MAX_RANK,
    MAX_TIME_MS,
    REPORT_FORMAT,
    REPORT_VERSION,
)
from .report_records import lane_order, put, with_dicts
from .report_validation import estimate_is_valid
from .schema import has_digit_run

if TYPE_CHECKING:
    from .report import OpRecord, TensorRecord

__all__ = ["DecodedReport", "decode_report"]

# The ranges of `report_validation` (`_number`, `_shape`, `_index_list`), as msgspec constraints.
_Time = Annotated[float, Meta(ge=0, le=MAX_TIME_MS)]
# An int stays an int (the record keeps the value as written), a float a float.
_Weight = Annotated[int, Meta(ge=0, le=1)] | Annotated[float, Meta(ge=0, le=1)] | None
_Dim = Annotated[int, Meta(ge=0, le=MAX_DIM)] | None
_Shape = Annotated[tuple[_Dim, ...], Meta(max_length=MAX_RANK)] | None
_OpIndex = Annotated[int, Meta(ge=0)]


# gc=False: decoded JSON holds no reference cycles, and untracked structs cost the collector
# nothing. No defaults: a missing field is "not sure" (the full path words it).
class _Tensor(Struct, forbid_unknown_fields=True, gc=False):
    name: str
    shape: _Shape
    dtype: str


class _Op(Struct, forbid_unknown_fields=True, gc=False):
    # The order of `report_format._COLUMN_LIMITS`, which is the order of the records'
    # ``__dict__`` on the column path too.
    index: int
    name: str
    op_type: str
    function: str
    device: Device | None
    supported: tuple[Device, ...]
    reason: str
    reason_kind: ReasonKind
    evidence: Evidence | None
    est_time_ms: _Time
    rules: tuple[str, ...]
    cost_weight: _Weight
    contested: bool
    alt_device: Device | None
    shape_unknown: bool
    cost_driver: CostDriver | None
    estimate: dict[str, Any] | None
    outputs: tuple[_Tensor, ...]
    inputs: tuple[_OpIndex, ...]
    is_const: bool
    block: tuple[str, ...]


# The rules of `report_validation._check_segments` and `_check_crossings` about one value; those
# about positions and devices are checked after (`_placed_ok`). Typed, the ~1k segments and ~1k
# crossings of the 50k model are checked and made in ~1.5 ms instead of ~9 ms (issue 14).
class _Segment(Struct, forbid_unknown_fields=True, gc=False):
    index: int
    device: Device
    function: str
    start: _OpIndex
    end: _OpIndex
    n_ops: int
    est_time_ms: _Time
    # optional (absent in reports written before they existed), as `report_io._built` reads them
    launch_ms: _Time = 0.0
    io_ms: _Time = 0.0


class _Crossing(Struct, forbid_unknown_fields=True, gc=False):
    src: _OpIndex
    dst: _OpIndex
    tensor: str
    shape: _Shape
    dtype: str
    bytes: Annotated[int, Meta(ge=0)]  # at most MAX_BYTES (beyond int64: checked after)
    src_device: Device
    dst_device: Device
    est_cost_ms: _Time
    moved: bool


class _Report(Struct, forbid_unknown_fields=True):
    # The ops, segments and crossings are typed; the rest is plain JSON, checked by
    # `report_validation`.
    format: Literal[REPORT_FORMAT]  # type: ignore[valid-type]  # a str constant
    version: Literal[REPORT_VERSION]  # type: ignore[valid-type]  # an int constant
    source: Any
    compute_units: Any
    chip: Any
    model: Any
    metadata: Any
    timings: Any
    warnings: Any
    uncertainty: Any
    hazards: Any
    ops: list[_Op]
    segments: list[_Segment]
    crossings: list[_Crossing]


_DECODER = msgspec.json.Decoder(_Report)
_REPORT_FIELDS = _Report.__struct_fields__
_OP_FIELDS = _Op.__struct_fields__
_DEVICE_NAME: dict[Device | None, str | None] = {None: None, **{d: d.value for d in Device}}
# The digits of the smallest integer beyond a float (2**1024 = 1.8e308).
_FLOAT_DIGITS = 309
# Levels of nesting msgspec may go (on Python 3.11, where the recursion limit bounds it).
_MAX_NESTING = 1000


@dataclass(frozen=True)
class DecodedReport:
    """A report file decoded and its ops, segments and crossings checked: `data` holds the
    report's other fields as parsed (for `report_validation` to check), the ops as structs and
    no segments or crossings (checked here); `records` the op records, `devices` each op's
    device name, `segments` and `crossings` the report's."""

    data: dict[str, Any]
    records: tuple[OpRecord, ...]
    devices: list[str | None]
    segments: tuple[Segment, ...]
    crossings: tuple[Crossing, ...]


def decode_report(raw: bytes) -> DecodedReport | None:
    """`raw` decoded, its ops checked and made records; None when not sure (see the module)."""
    # An integer beyond any float (309 digits or more), anywhere: the full path's parser refuses
    # it, msgspec keeps it, and a later duplicate key could hide it from every check after.
    if has_digit_run(raw, _FLOAT_DIGITS):
        return None
    try:
        # msgspec recurses in C (see _recursion.py): nesting is held below orjson's 1024
        # levels, so nothing nested deeper, even under a key a later duplicate replaces, is
        # accepted here that the full path refuses
        with bounded_recursion(_MAX_NESTING):
            report = _DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    ops = report.ops
    if not ops:
        return None
    # the columns both the checks and the records read, each read once: a pass over the 50k
    # structs (scattered in memory) is ~2-3 ms whatever it does
    supported = list(map(attrgetter("supported"), ops))
    distinct = set(supported)  # a few distinct lists in a model
    estimates = list(map(attrgetter("estimate"), ops))
    if not _ops_ok(ops, distinct, estimates):
        return None
    devices = list(map(_DEVICE_NAME.__getitem__, map(attrgetter("device"), ops)))
    if not _placed_ok(report.segments, report.crossings, devices):
        return None
    data = dict(zip(_REPORT_FIELDS, msgspec.structs.astuple(report), strict=True))
    data["segments"] = data["crossings"] = []  # checked above: nothing left to check
    return DecodedReport(
        data,
        _records(ops, supported, distinct, estimates),
        devices,
        _converted(report.segments, Segment),
        _converted(report.crossings, Crossing),
    )


def _ops_ok(
    ops: list[_Op], distinct: set[tuple[Device, ...]], estimates: list[dict[str, Any] | None]
) -> bool:
    """The rules of `_check_op` the annotations cannot say: indices in order, inputs before
    their reader, no device listed twice, estimates valid. `distinct`: the distinct supported
    lists; `estimates`: each op's."""
    n = len(ops)
    if list(map(attrgetter("index"), ops)) != list(range(n)):
        return False
    inputs = list(map(attrgetter("inputs"), ops))
    reading = list(filter(None, inputs))  # the ops that read any (an empty tuple is falsy)
    if reading and not all(map(lt, map(max, reading), compress(range(n), inputs))):
        return False
    for lanes in distinct:
        if len(set(lanes)) != len(lanes):
            return False
    if estimates.count(None) == n:  # no Core ML plan: no estimates (a C scan)
        return True
    return all(map(estimate_is_valid, [e for e in estimates if e is not None]))


def _placed_ok(
    segments: list[_Segment], crossings: list[_Crossing], devices: list[str | None]
) -> bool:
    """The rules of `_check_segments` and `_check_crossings` the annotations cannot say:
    segment indices in order, op indices below `len(devices)` and in order, end ops on the
    device named."""
    n = len(devices)
    if list(map(attrgetter("index"), segments)) != list(range(len(segments))):
        return False
    name = _DEVICE_NAME.__getitem__
    for s in segments:  # ~1k of them at 50k ops: a plain loop
        if not s.start <= s.end < n or not 1 <= s.n_ops <= s.end - s.start + 1:
            return False
        if devices[s.start] != name(s.device) or devices[s.end] != name(s.device):
            return False
    for c in crossings:
        if not c.src < c.dst < n or c.src_device is c.dst_device or c.bytes > MAX_BYTES:
            return False
        if devices[c.src] != name(c.src_device) or devices[c.dst] != name(c.dst_device):
            return False
    return True


def _converted(items: list[Any], cls: type[Any]) -> tuple[Any, ...]:
    """Checked structs made instances of the dataclass `cls` with the same fields, in C: exact
    for the types above (`tests/test_report_decode.py` holds it to `report_io._built`)."""
    return tuple(msgspec.convert(items, list[cls], from_attributes=True))  # type: ignore[valid-type]


def _output_records(outputs: list[tuple[_Tensor, ...]]) -> list[tuple[TensorRecord, ...]]:
    """Each op's output records, made by msgspec from the decoded tensor structs in one C pass
    (~8 ms less at 50k tensors than `report_records.tensor_records`' object creation and
    three slot passes, issue 14). The structs are checked already: converting
    them is exact (`tests/test_report_decode.py` holds it to `tensor_records`)."""
    from .report import TensorRecord  # local: report imports report_io, which imports us

    return msgspec.convert(outputs, list[tuple[TensorRecord, ...]], from_attributes=True)


def _records(
    ops: list[_Op],
    supported: list[tuple[Device, ...]],
    distinct: set[tuple[Device, ...]],
    estimates: list[dict[str, Any] | None],
) -> tuple[OpRecord, ...]:
    """The ops' records: each struct's fields as a new dict, with the fields whose record form
    is not the decoded one replaced (output records, estimates, and supported devices in lane
    order where they were not). `supported`, `distinct`, `estimates`: as `decode_report` read
    them."""
    from .report import OpRecord  # local: report imports report_io, which imports us

    dicts = list(map(msgspec.structs.asdict, ops))
    put(dicts, "outputs", _output_records(list(map(attrgetter("outputs"), ops))))
    lanes = lane_order()
    if any(lanes[key] != key for key in distinct):  # ours are in lane order already
        put(dicts, "supported", map(lanes.__getitem__, supported))
    # Core ML plans only: our estimate beside its choice (an empty dict was refused above)
    for d in compress(dicts, estimates):
        d["estimate"] = estimate_from_dict(d["estimate"])
    return tuple(with_dicts(OpRecord, dicts, len(dicts)))
