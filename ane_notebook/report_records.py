"""The op records of a report read from JSON, built a column at a time (GitHub issue 14).

Building them one op at a time (`placement_fields_from_dict`, then a record of 21 fields, then
one `TensorRecord` per output) took ~0.23 s of loading a 50k-op report. Here each field that
needs converting is one column (`zip` of the op dicts' values), converted with a C-level `map`
(an enum member looked up by value, a list made a tuple), and the records' ``__dict__``s are
either new dicts made from the columns (when the validator made them: the usual case) or the op
dicts themselves: no Python code runs per field, only per op estimate (Core ML plans). New
dicts cost ~0.06 s more at 50k ops than adopting the parsed ones, and save ~0.25 s in
`to_html`: attribute reads from the parsed dicts (64-slot tables scattered among their values)
were 2-3x slower than from dicts made one after another.

The records are those `OpRecord(...)` makes from the same fields, field for field
(`tests/test_report_records.py`); their ``__dict__`` order is the validator's field order on
the first path and the file's on the second (nothing reads it: `to_dict` goes by the fields).
The op dicts must have passed `report_validation` first: values outside the enum tables raise
KeyError here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import partial
from itertools import chain, islice, repeat
from operator import attrgetter, itemgetter, methodcaller, setitem
from types import MemberDescriptorType
from typing import TYPE_CHECKING, Any

from .placement.devices import DEVICE_ORDER, Device
from .placement.result import _DEVICE_BY, _DRIVER_BY, _EVIDENCE_BY, _KIND_BY, estimate_from_dict

if TYPE_CHECKING:
    from .report import OpRecord

__all__ = ["attribute_fields", "lane_order", "op_records", "put", "tensor_records", "with_dicts"]

# The fields whose JSON form is not the record's (all but index, names, reason, numbers, flags).
_READ_FIELDS = (
    "device", "supported", "reason_kind", "evidence", "est_time_ms", "rules", "alt_device",
    "estimate", "outputs", "inputs", "block",
)  # fmt: skip
_READ = itemgetter(*_READ_FIELDS)
# The fields replaced by their record form, in the order of `op_records`' conversions.
_CONVERTED = (
    "device", "supported", "reason_kind", "evidence", "est_time_ms", "rules", "alt_device",
    "cost_driver", "estimate", "outputs", "inputs", "block",
)  # fmt: skip
_COST_DRIVER = methodcaller("get", "cost_driver")  # absent in reports written before it
_SHAPE = itemgetter("shape")
_NAME = itemgetter("name")
_DTYPE = itemgetter("dtype")

_new = object.__new__
_set = object.__setattr__


class _Lanes(dict[Collection[Any], tuple[Device, ...]]):
    """Supported devices as listed -> in lane order; a model has a few distinct lists."""

    def __missing__(self, key: Collection[Any]) -> tuple[Device, ...]:
        lanes = self[key] = tuple(d for d in DEVICE_ORDER if d in key or d.value in key)
        return lanes


def lane_order() -> dict[Collection[Any], tuple[Device, ...]]:
    """A table: supported devices (names or members, listed in a tuple or a set) -> those
    devices in lane order. A report made from a placement and a loaded report both use it."""
    return _Lanes()


def with_dicts(cls: type[Any], dicts: Any, n: int) -> list[Any]:
    """`n` instances of `cls` (a frozen dataclass) holding the given ``__dict__``s: no generated
    ``__init__``, no per-field ``__setattr__`` (tests/test_report.py checks the records are
    those the constructor makes)."""
    objs = list(map(_new, repeat(cls, n)))
    deque(map(_set, objs, repeat("__dict__"), dicts), maxlen=0)
    return objs


def put(dicts: list[dict[str, Any]], key: str, values: Any) -> None:
    """``d[key] = value`` for each dict and value, in C."""
    deque(map(setitem, dicts, repeat(key), values), maxlen=0)


def _outputs(outputs: Sequence[list[dict[str, Any]]]) -> Any:
    """Each op's output records (an iterable of tuples), from each op's list of tensor dicts."""
    return tensor_records(outputs, _dict_fields)


def _dict_fields(tensors: list[dict[str, Any]]) -> tuple[Iterable[Any], ...]:
    shapes = [None if s is None else tuple(s) for s in map(_SHAPE, tensors)]
    return map(_NAME, tensors), shapes, map(_DTYPE, tensors)


def attribute_fields(tensors: list[Any]) -> tuple[Iterable[Any], ...]:
    """Tensors' names, shapes and dtypes read as attributes (decoded structs, `TensorInfo`s), for
    `tensor_records`; shapes must already be tuples or None."""
    return tuple(map(attrgetter(f), tensors) for f in ("name", "shape", "dtype"))


def _slot_setter(cls: type[Any], field: str) -> Callable[[Any, Any], None]:
    """``object.__setattr__(obj, field, value)`` as a two-argument call: the slot's own setter
    where `field` is a slot (half the time at 50k tensors: no attribute lookup per call, issue
    14), the generic one otherwise."""
    slot = cls.__dict__.get(field)
    if isinstance(slot, MemberDescriptorType):
        return slot.__set__
    return partial(_set_field, field)


def _set_field(field: str, obj: Any, value: Any) -> None:
    _set(obj, field, value)


def tensor_records(
    outputs: Sequence[Sequence[Any]], fields: Callable[[list[Any]], tuple[Iterable[Any], ...]]
) -> Any:
    """Each op's output records (an iterable of tuples), from each op's sequence of tensors
    (dicts or structs); `fields` gives all tensors' names, shapes (tuples) and dtypes.

    `TensorRecord` is slotted (no ``__dict__`` to hand over): each field is set a column at a
    time, in C, by its slot's setter, as its frozen ``__init__`` would set it; the tensors are
    only read."""
    from .report import TensorRecord  # local: report imports report_io, which imports us

    tensors = list(chain.from_iterable(outputs))
    if not tensors:
        return repeat((), len(outputs))
    records = list(map(_new, repeat(TensorRecord, len(tensors))))
    for field, values in zip(("name", "shape", "dtype"), fields(tensors), strict=True):
        deque(map(_slot_setter(TensorRecord, field), records, values), maxlen=0)
    if len(records) == len(outputs) and min(map(len, outputs)) == 1:
        return zip(records)  # one output per op (the usual case): 1-tuples in C
    # regrouped in order: each op takes the next len(its outputs) records
    return map(tuple, map(islice, repeat(iter(records)), map(len, outputs)))


def op_records(
    ops: list[dict[str, Any]],
    own: bool = False,
    columns: Mapping[str, Sequence[Any]] | None = None,
) -> tuple[OpRecord, ...]:
    """The records of validated version-2 op dicts, in order.

    `columns`: the same ops as columns, if the validator made them (`report_columns`): then
    they are not read again.

    The fields whose record form differs are converted a column at a time (enum members looked
    up by value, lists made tuples, output tensors made records). With `columns` (and the
    `cost_driver` field) each record gets a new dict made from them; otherwise the op dicts
    (copies unless `own`: then they are changed, the caller's to give away) become the
    records' ``__dict__``s, the converted fields written back with one ``update`` per op.
    """
    from .report import OpRecord  # local: report imports report_io, which imports us

    if not ops:
        return ()
    (device, supported, reason_kind, evidence, est_time_ms, rules, alt_device, estimate,
     outputs, inputs, block) = (
        [columns[f] for f in _READ_FIELDS] if columns else zip(*map(_READ, ops), strict=True)
    )  # fmt: skip
    device_by = _DEVICE_BY.__getitem__
    converted = (
        map(device_by, device),
        map(_Lanes().__getitem__, map(tuple, supported)),
        map(_KIND_BY.__getitem__, reason_kind),
        map(_EVIDENCE_BY.__getitem__, evidence),
        map(float, est_time_ms),
        map(tuple, rules),
        map(device_by, alt_device),
        # absent from reports written before it existed: then added (after `block`)
        map(_DRIVER_BY.__getitem__, map(_COST_DRIVER, ops)),
        [None if e is None else estimate_from_dict(e) for e in estimate],
        _outputs(outputs),
        map(tuple, inputs),
        map(tuple, block),
    )
    if columns and "cost_driver" in columns:
        # fresh dicts, one per op, from the columns: made one after another they sit together
        # in memory, and a record's attribute reads are then ~2x faster than from the parsed
        # dicts (scattered among their values): `to_html` of a loaded report reads them a lot
        return tuple(with_dicts(OpRecord, _fresh_dicts(columns, converted), len(ops)))
    if not own:  # the dicts are changed below: the caller's are left as they are
        ops = list(map(dict.copy, ops))
    # one update per op with all its converted fields (a C loop; 12 separate passes of
    # ``d[key] = value`` cost twice as much)
    deque(
        map(dict.update, ops, map(zip, repeat(_CONVERTED), zip(*converted, strict=True))), maxlen=0
    )
    return tuple(with_dicts(OpRecord, ops, len(ops)))


def _fresh_dicts(columns: Mapping[str, Sequence[Any]], converted: Sequence[Any]) -> Any:
    """One new dict per op (fields in the columns' order), the converted fields' values taken
    from `converted` (in `_CONVERTED` order), the others from `columns`: all in C."""
    by_field = dict(columns)
    by_field.update(zip(_CONVERTED, converted, strict=True))
    keys = tuple(columns)
    return map(dict, map(zip, repeat(keys), zip(*map(by_field.__getitem__, keys), strict=True)))
