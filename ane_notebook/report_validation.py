"""Strict validation of a report (format version 2) before anything reads it.

`report.schema.json` is the contract; this module checks everything it says, by hand, because a
generated validator is both slower (a 50k-op report took seconds) and weaker: JSON Schema's
"integer" accepts 0.0 and its "number" accepts true, and it cannot say that an index is in range
or that a crossing's devices are its ops' devices. Here:

* types are exact: bool, int and float are told apart (`type(x) is int`);
* numbers are finite and in range: indices point at ops, op inputs at *earlier* ops (execution
  order), segments span ops of their own device, counts fit what they count, times stay below
  `MAX_TIME_MS` (so sums stay finite), byte counts below `MAX_BYTES`;
* nesting is bounded: free-form metadata deeper than `MAX_JSON_DEPTH` is refused (renderers walk
  it recursively);
* cross-references hold: segment ends and crossing ends exist and carry the devices the report
  says.

`tests/test_report_validation.py` keeps this validator and the schema in agreement (every
document the schema rejects is rejected here too) and holds the cases only this one catches. The
first problem found is raised as a one-line `PlanError` naming where it is ("ops/12/index").
Renderers may then trust a report completely.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import PlanError
from .report_columns import op_columns
from .report_format import (
    _COLUMN_LIMITS,
    _COST_DRIVERS,
    _CROSSING,
    _DEVICES,
    _ESTIMATE,
    _EVIDENCE,
    _HAZARD,
    _MODEL,
    _OP,
    _OP_OPTIONAL,
    _REASON_KINDS,
    _SEGMENT,
    _SEGMENT_OPTIONAL,
    _SOURCES,
    _TENSOR,
    _TIMINGS,
    _TOP,
    _UNCERTAINTY,
    _UNITS,
    _WARNING,
    _WARNING_KINDS,
    MAX_BYTES,
    MAX_DIM,
    MAX_JSON_DEPTH,
    MAX_RANK,
    MAX_TIME_MS,
    REPORT_FORMAT,
    REPORT_VERSION,
)

__all__ = [
    "MAX_BYTES", "MAX_DIM", "MAX_JSON_DEPTH", "MAX_RANK", "MAX_TIME_MS", "REPORT_FORMAT",
    "REPORT_VERSION", "estimate_is_valid", "validate_report",
]  # fmt: skip


class _Invalid(Exception):
    """Where (a tuple of keys and indices) and what; turned into one PlanError line."""

    def __init__(self, where: tuple[object, ...], problem: str) -> None:
        super().__init__(problem)
        self.where = where
        self.problem = problem


def validate_report(
    data: dict[str, Any],
    origin: str,
    columns: dict[str, tuple[Any, ...]] | None = None,
    op_devices: list[str | None] | None = None,
) -> dict[str, Any]:
    """Check a version-2 report dict completely; return it, or raise a one-line PlanError.

    When `columns` is given and the ops were checked a column at a time (`report_columns`),
    it receives those columns (field name -> one value per op), for a caller building from them.
    `op_devices`: the ops were checked already (`report_decode`), these are their devices;
    everything else is checked.
    """
    try:
        _check_report(data, columns, op_devices)
    except _Invalid as e:
        where = "/".join(str(p) for p in e.where) or "top level"
        raise PlanError(origin, f"invalid report at {where}: {e.problem}") from None
    return data


# --- primitives (each raises _Invalid with the path it was given) ---------------------------


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "an object", type(None): "null"}  # fmt: skip
    return names.get(type(value), "?")


def _keys(
    obj: object,
    expected: frozenset[str],
    where: tuple[object, ...],
    optional: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    if type(obj) is not dict:
        raise _Invalid(where, f"expected an object, got {_type_name(obj)}")
    if obj.keys() != expected and not (expected <= obj.keys() <= expected | optional):
        missing = sorted(expected - obj.keys())
        extra = sorted(k for k in obj if k not in expected | optional)
        if missing:
            raise _Invalid(where, f"missing field {missing[0]!r}")
        raise _Invalid(where, f"unexpected field {str(extra[0])[:60]!r}")
    return obj


def _str(value: object, where: tuple[object, ...]) -> str:
    if type(value) is not str:
        raise _Invalid(where, f"expected a string, got {_type_name(value)}")
    return value


def _bool(value: object, where: tuple[object, ...]) -> bool:
    if type(value) is not bool:
        raise _Invalid(where, f"expected true or false, got {_type_name(value)}")
    return value


def _int(value: object, where: tuple[object, ...], lo: int = 0, hi: int | None = None) -> int:
    if type(value) is not int:
        raise _Invalid(where, f"expected an integer, got {_type_name(value)} {str(value)[:30]}")
    if value < lo or (hi is not None and value > hi):
        bound = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise _Invalid(where, f"{str(value)[:30]} is out of range (must be {bound})")
    return value


def _number(value: object, where: tuple[object, ...], hi: float = MAX_TIME_MS) -> float:
    kind = type(value)
    if kind is not float and kind is not int:
        raise _Invalid(where, f"expected a number, got {_type_name(value)}")
    try:  # an int beyond any float (10**400) is out of range; str() of it may be refused
        number = float(value)  # type: ignore[arg-type]  # int or float, checked above
    except OverflowError:
        raise _Invalid(where, f"an integer beyond any float is out of range (max {hi:g})") from None
    if hi == MAX_TIME_MS and number > hi:
        raise _Invalid(
            where, f"{number:g} ms is too large to add up (more than {MAX_TIME_MS:g} ms)"
        )
    if not math.isfinite(number) or not 0 <= number <= hi:
        raise _Invalid(where, f"{str(value)[:30]} is out of range (must be between 0 and {hi:g})")
    return number


def _enum(value: object, choices: frozenset[str], where: tuple[object, ...]) -> str:
    if type(value) is not str or value not in choices:
        raise _Invalid(where, f"{str(value)[:40]!r} is not one of {', '.join(sorted(choices))}")
    return value


def _optional_enum(value: object, choices: frozenset[str], where: tuple[object, ...]) -> None:
    if value is not None:
        _enum(value, choices, where)


def _list(value: object, where: tuple[object, ...]) -> list[Any]:
    if type(value) is not list:
        raise _Invalid(where, f"expected an array, got {_type_name(value)}")
    return value


def _str_list(value: object, where: tuple[object, ...]) -> list[str]:
    items = _list(value, where)
    for i, item in enumerate(items):
        if type(item) is not str:
            _str(item, (*where, i))
    return items


def _op_index(value: object, where: tuple[object, ...], n: int) -> int:
    """An index into the ops (the first `n` of them)."""
    if type(value) is not int:
        _int(value, where)
    if not 0 <= value < n:  # type: ignore[operator]  # an int, checked above
        raise _Invalid(where, f"op index {str(value)[:30]} out of range (0 to {n - 1})")
    return value  # type: ignore[return-value]


def _index_list(value: object, where: tuple[object, ...], n: int) -> list[int]:
    items = _list(value, where)
    for i, item in enumerate(items):
        if type(item) is not int or not 0 <= item < n:
            _op_index(item, (*where, i), n)
    return items


def _shape(value: object, where: tuple[object, ...]) -> None:
    if value is None:
        return
    dims = _list(value, where)
    if len(dims) > MAX_RANK:
        raise _Invalid(where, f"{len(dims)} dimensions (more than {MAX_RANK})")
    for i, d in enumerate(dims):
        if d is not None and (type(d) is not int or not 0 <= d <= MAX_DIM):
            _int(d, (*where, i), 0, MAX_DIM)


def _tensor(value: object, where: tuple[object, ...]) -> None:
    t = _keys(value, _TENSOR, where)
    _str(t["name"], (*where, "name"))
    _shape(t["shape"], (*where, "shape"))
    _str(t["dtype"], (*where, "dtype"))


def _tensors(value: object, where: tuple[object, ...]) -> None:
    for i, t in enumerate(_list(value, where)):
        _tensor(t, (*where, i))


def _depth_ok(value: object, where: tuple[object, ...]) -> None:
    """Free-form JSON: any values, but nested at most MAX_JSON_DEPTH (iteratively checked)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _Invalid(where, f"nested more than {MAX_JSON_DEPTH} levels deep")
        if type(item) is dict:
            stack.extend((v, depth + 1) for v in item.values())
        elif type(item) is list:
            stack.extend((v, depth + 1) for v in item)
        elif type(item) is float and not math.isfinite(item):
            raise _Invalid(where, "holds a non-finite number")


# --- the report -------------------------------------------------------------------------------


def _check_report(
    data: dict[str, Any],
    columns: dict[str, tuple[Any, ...]] | None,
    op_devices: list[str | None] | None = None,
) -> None:
    _keys(data, _TOP, ())
    if data["format"] != REPORT_FORMAT:
        raise _Invalid(("format",), f"expected {REPORT_FORMAT!r}")
    if type(data["version"]) is not int or data["version"] != REPORT_VERSION:
        raise _Invalid(("version",), f"expected {REPORT_VERSION}")
    _enum(data["source"], _SOURCES, ("source",))
    _enum(data["compute_units"], _UNITS, ("compute_units",))
    _str(data["chip"], ("chip",))
    _check_model(data["model"])
    if type(data["metadata"]) is not dict:
        raise _Invalid(("metadata",), f"expected an object, got {_type_name(data['metadata'])}")
    _depth_ok(data["metadata"], ("metadata",))

    ops = _list(data["ops"], ("ops",))
    n = len(ops)
    # All ops at once when they are certainly valid; else one by one, which finds and words the
    # first problem (the fast path never accepts what the loop refuses: report_columns.py).
    checked = None if op_devices is not None else op_columns(ops, _COLUMN_LIMITS)
    if op_devices is not None:
        devices: list[str | None] = op_devices
    elif checked:
        devices = list(checked["device"])
    else:
        devices = [None] * n
        for i, op in enumerate(ops):
            devices[i] = _check_op(op, i, n)
    _check_timings(data["timings"])
    _check_warnings(data["warnings"], n)
    _check_uncertainty(data["uncertainty"], n)
    _check_hazards(data["hazards"], n)
    _check_segments(data["segments"], devices)
    _check_crossings(data["crossings"], devices)
    if columns is not None and checked:
        columns.update(checked)


def _check_model(model: object) -> None:
    m = _keys(model, _MODEL, ("model",))
    for key in ("name", "source", "format"):
        _str(m[key], ("model", key))
    _str_list(m["functions"], ("model", "functions"))
    _tensors(m["inputs"], ("model", "inputs"))
    _tensors(m["outputs"], ("model", "outputs"))
    _str_list(m["flexible_inputs"], ("model", "flexible_inputs"))
    meta = m["metadata"]
    if type(meta) is not dict:
        raise _Invalid(("model", "metadata"), f"expected an object, got {_type_name(meta)}")
    for key, value in meta.items():
        _str(value, ("model", "metadata", key))


def _check_op(op: object, i: int, n: int) -> str | None:
    where = ("ops", i)
    o = _keys(op, _OP, where, _OP_OPTIONAL)
    if o["index"] != i or type(o["index"]) is not int:
        _int(o["index"], (*where, "index"), 0, n - 1)
        raise _Invalid((*where, "index"), f"index {o['index']} != {i} (ops are in index order)")
    for key in ("name", "op_type", "function", "reason"):
        if type(o[key]) is not str:
            _str(o[key], (*where, key))
    device = o["device"]
    _optional_enum(device, _DEVICES, (*where, "device"))
    supported = _list(o["supported"], (*where, "supported"))
    for j, d in enumerate(supported):
        _enum(d, _DEVICES, (*where, "supported", j))
    if len(set(supported)) != len(supported):
        raise _Invalid((*where, "supported"), "lists a device twice")
    _enum(o["reason_kind"], _REASON_KINDS, (*where, "reason_kind"))
    _optional_enum(o["evidence"], _EVIDENCE, (*where, "evidence"))
    _number(o["est_time_ms"], (*where, "est_time_ms"))
    _str_list(o["rules"], (*where, "rules"))
    if o["cost_weight"] is not None:
        _number(o["cost_weight"], (*where, "cost_weight"), hi=1.0)
    _bool(o["contested"], (*where, "contested"))
    _optional_enum(o["alt_device"], _DEVICES, (*where, "alt_device"))
    _bool(o["shape_unknown"], (*where, "shape_unknown"))
    _optional_enum(o.get("cost_driver"), _COST_DRIVERS, (*where, "cost_driver"))
    if o["estimate"] is not None:
        _check_estimate(o["estimate"], (*where, "estimate"))
    _tensors(o["outputs"], (*where, "outputs"))
    # Producers come before their consumers (the graph is in execution order); renderers lay
    # the graph out in one pass on that promise.
    _index_list(o["inputs"], (*where, "inputs"), i)
    _bool(o["is_const"], (*where, "is_const"))
    _str_list(o["block"], (*where, "block"))
    return device  # type: ignore[no-any-return]  # checked: a device name or None


def _check_estimate(value: object, where: tuple[object, ...]) -> None:
    e = _keys(value, _ESTIMATE, where)
    _optional_enum(e["device"], _DEVICES, (*where, "device"))
    _str(e["reason"], (*where, "reason"))
    _enum(e["reason_kind"], _REASON_KINDS, (*where, "reason_kind"))
    _optional_enum(e["evidence"], _EVIDENCE, (*where, "evidence"))
    _str_list(e["rules"], (*where, "rules"))


def estimate_is_valid(value: object) -> bool:
    """Whether an op's estimate (not null) passes `_check_estimate`."""
    try:
        _check_estimate(value, ())
    except _Invalid:
        return False
    return True


def _check_timings(value: object) -> None:
    if value is None:
        return
    t = _keys(value, _TIMINGS, ("timings",))
    _str(t["compute_units"], ("timings", "compute_units"))
    for key in sorted(_TIMINGS - {"compute_units", "runs", "compile_ms"}):
        _number(t[key], ("timings", key))
    if t["compile_ms"] is not None:
        _number(t["compile_ms"], ("timings", "compile_ms"))
    _int(t["runs"], ("timings", "runs"), 0, 10**9)


def _check_warnings(value: object, n: int) -> None:
    for i, item in enumerate(_list(value, ("warnings",))):
        where = ("warnings", i)
        w = _keys(item, _WARNING, where)
        _enum(w["kind"], _WARNING_KINDS, (*where, "kind"))
        _str(w["message"], (*where, "message"))
        # A count of plan rows may exceed the ops (rows without an op): bounded, not by n.
        _int(w["count"], (*where, "count"), 0, 2**31 - 1)
        _index_list(w["ops"], (*where, "ops"), n)


def _check_uncertainty(value: object, n: int) -> None:
    if value is None:
        return
    u = _keys(value, _UNCERTAINTY, ("uncertainty",))
    ops = u["ops"]
    if type(ops) is not dict:
        raise _Invalid(("uncertainty", "ops"), f"expected an object, got {_type_name(ops)}")
    for device, pair in ops.items():
        where = ("uncertainty", "ops", device)
        _enum(device, _DEVICES, where)
        lo, hi = _pair(pair, where)
        _int(lo, (*where, 0), 0, n)
        _int(hi, (*where, 1), lo, n)
    lo_ms, hi_ms = _pair(u["est_total_ms"], ("uncertainty", "est_total_ms"))
    low = _number(lo_ms, ("uncertainty", "est_total_ms", 0))
    high = _number(hi_ms, ("uncertainty", "est_total_ms", 1))
    if high < low:
        raise _Invalid(("uncertainty", "est_total_ms"), "the high end is below the low end")


def _pair(value: object, where: tuple[object, ...]) -> tuple[Any, Any]:
    items = _list(value, where)
    if len(items) != 2:
        raise _Invalid(where, f"expected [low, high], got {len(items)} values")
    return items[0], items[1]


def _check_hazards(value: object, n: int) -> None:
    for i, item in enumerate(_list(value, ("hazards",))):
        where = ("hazards", i)
        h = _keys(item, _HAZARD, where)
        for key in ("id", "message", "source"):
            _str(h[key], (*where, key))
        _enum(h["evidence"], _EVIDENCE, (*where, "evidence"))
        _index_list(h["ops"], (*where, "ops"), n)


def _check_segments(value: object, devices: list[str | None]) -> None:
    n = len(devices)
    for i, item in enumerate(_list(value, ("segments",))):
        where = ("segments", i)
        s = _keys(item, _SEGMENT, where, _SEGMENT_OPTIONAL)
        _int(s["index"], (*where, "index"), i, i)
        device = _enum(s["device"], _DEVICES, (*where, "device"))
        _str(s["function"], (*where, "function"))
        start = _op_index(s["start"], (*where, "start"), n)
        end = _op_index(s["end"], (*where, "end"), n)
        if start > end:
            raise _Invalid(where, f"start {start} is after end {end}")
        _int(s["n_ops"], (*where, "n_ops"), 1, end - start + 1)
        _number(s["est_time_ms"], (*where, "est_time_ms"))
        for key in sorted(_SEGMENT_OPTIONAL & s.keys()):  # sorted: the same error every run
            _number(s[key], (*where, key))
        for end_op in (start, end):
            if devices[end_op] != device:
                raise _Invalid(
                    where, f"op {end_op} runs on {devices[end_op]}, not on the segment's {device}"
                )


def _check_crossings(value: object, devices: list[str | None]) -> None:
    n = len(devices)
    for i, item in enumerate(_list(value, ("crossings",))):
        where = ("crossings", i)
        c = _keys(item, _CROSSING, where)
        src = _op_index(c["src"], (*where, "src"), n)
        dst = _op_index(c["dst"], (*where, "dst"), n)
        if src >= dst:
            raise _Invalid(where, f"src {src} is not before dst {dst} (execution order)")
        for end_key, device_key, op in (("src", "src_device", src), ("dst", "dst_device", dst)):
            device = _enum(c[device_key], _DEVICES, (*where, device_key))
            if devices[op] != device:
                raise _Invalid(
                    (*where, device_key), f"op {op} ({end_key}) runs on {devices[op]}, not {device}"
                )
        if c["src_device"] == c["dst_device"]:
            raise _Invalid(where, "src and dst run on the same device: not a crossing")
        _str(c["tensor"], (*where, "tensor"))
        _shape(c["shape"], (*where, "shape"))
        _str(c["dtype"], (*where, "dtype"))
        _int(c["bytes"], (*where, "bytes"), 0, MAX_BYTES)
        _number(c["est_cost_ms"], (*where, "est_cost_ms"))
        _bool(c["moved"], (*where, "moved"))
