"""The fast path of `report_validation`: a report's ops checked a column at a time.

Checking 50k op dicts field by field in Python took ~0.26 s of `load_report` (GitHub issue 14).
Here the ops are turned into columns with C-level builtins (`map`, `zip`, `set`, `min`, `max`)
and each column is checked at once: its exact types (`set(map(type, column))`), its values
against the enum tables, its numbers' range (`min` / `max`, and a `sum` that is NaN when any
value is), its op indices against the op's own position.

This check only ever says "certainly valid" or "not sure": `op_columns` returns the ops as
columns when every op passes every rule of `report_validation._check_op`, else None, and
then the per-op validator runs and finds (and words) the first problem exactly as before. So the
accepted and refused reports and the error messages are those of the per-op validator; this
module can only make valid reports load sooner. It must never accept what `_check_op` refuses:
`tests/test_report_columns.py` holds it to that with one bad value per rule (str subclasses,
bools for ints, NaN, ...) and random changes to ops, comparing the outcome with and without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from itertools import chain, compress
from operator import is_not, itemgetter, lt
from typing import Any

__all__ = ["op_columns"]

_NONE = type(None)

_not_none = partial(is_not, None)
_concat = chain.from_iterable


def _columns(
    items: Sequence[Any], types: dict[str, frozenset[type]], optional: frozenset[str]
) -> dict[str, tuple[Any, ...]] | None:
    """`items` (dicts) as columns by field name, or None unless every item is a plain dict with
    the same keys (every field of `types`; of those in `optional`, all or none: a field added to
    the format later is in every op of a report or in none), and every column's values are of
    the types `types` allows for it (exactly: a bool is not an int, a str subclass not a str).

    A KeyError (an item without a field) propagates: the caller reads it as "not sure".
    """
    if not items or set(map(type, items)) != {dict}:
        return None
    sizes = set(map(len, items))
    if len(sizes) != 1:
        return None
    keys = tuple(types) if sizes == {len(types)} else tuple(k for k in types if k not in optional)
    if sizes != {len(keys)}:
        return None
    # The values in `keys` order (a KeyError if a field is missing: with the sizes equal, the
    # key sets are then equal too), then one tuple per field: both transpositions run in C.
    columns = dict(zip(keys, zip(*map(itemgetter(*keys), items), strict=True), strict=True))
    for key, column in columns.items():
        if not set(map(type, column)) <= types[key]:
            return None
    return columns


def _in_range(values: Sequence[Any], hi: float) -> bool:
    """Every number finite and within [0, hi] (`values`: ints and floats only)."""
    if not values:
        return True
    total = sum(values)  # NaN when any value is NaN (or +inf and -inf); inf fails `max` anyway
    return bool(total == total and min(values) >= 0 and max(values) <= hi)


def _all_of(values: Iterable[Any], kind: type) -> bool:
    return set(map(type, values)) <= {kind}


def _shapes_ok(shapes: Sequence[Any], max_rank: int, max_dim: int) -> bool:
    """Each shape null or at most `max_rank` dimensions, each null or an int in [0, max_dim]."""
    lists = list(filter(_not_none, shapes))  # the types are list or None (checked)
    if not lists:
        return True
    if not set(map(type, _concat(lists))) <= {int, _NONE}:
        return False
    # The types are exact (above), so the few distinct shapes of a model stand for all of them.
    for shape in set(map(tuple, lists)):
        dims = [d for d in shape if d is not None]
        if len(shape) > max_rank or (dims and (min(dims) < 0 or max(dims) > max_dim)):
            return False
    return True


def op_columns(ops: list[Any], limits: dict[str, Any]) -> dict[str, tuple[Any, ...]] | None:
    """The ops as columns (field name -> one value per op) when every op is certainly valid;
    None when not sure.

    `limits` holds the tables and bounds of `report_validation` (passed in, not imported: that
    module imports this one): the op field sets and enum value sets, MAX_TIME_MS, MAX_RANK and
    MAX_DIM. Any surprise (an unhashable value where a name belongs, an integer too large for a
    float, ...) means "not sure" too: the per-op validator then says what is wrong.
    """
    if not ops:
        return {}
    try:
        return _op_columns(ops, limits)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _op_columns(ops: list[Any], lim: dict[str, Any]) -> dict[str, tuple[Any, ...]] | None:
    n = len(ops)
    cols = _columns(ops, lim["op_types"], lim["op_optional"])
    if cols is None or cols["index"] != tuple(range(n)):
        return None
    devices, kinds, evidence = lim["devices"], lim["reason_kinds"], lim["evidence"]
    if not (
        set(cols["device"]) <= devices
        and set(cols["alt_device"]) <= devices
        and set(cols["reason_kind"]) <= kinds
        and set(cols["evidence"]) <= evidence
        and set(cols.get("cost_driver", ())) <= lim["cost_drivers"]
        and _in_range(cols["est_time_ms"], lim["max_time_ms"])
        and _in_range(list(filter(_not_none, cols["cost_weight"])), 1.0)
    ):
        return None
    # Lists of names: every item a plain string; devices known and each listed once.
    supported = cols["supported"]
    if not _all_of(_concat(supported), str):
        return None
    for lanes in set(map(tuple, supported)):  # a few distinct lists in a whole model
        if not set(lanes) <= devices or len(set(lanes)) != len(lanes):
            return None
    if not (_all_of(_concat(cols["rules"]), str) and _all_of(_concat(cols["block"]), str)):
        return None
    # Inputs: op indices, each before its reader (ops are in execution order). Only the ops
    # that read any (an empty list is falsy): their smallest and largest input, their index.
    inputs = cols["inputs"]
    reading = list(filter(None, inputs))
    if reading and not (
        _all_of(_concat(reading), int)
        and min(map(min, reading)) >= 0
        and all(map(lt, map(max, reading), compress(range(n), inputs)))
    ):
        return None
    # Output tensors: one table of every op's outputs.
    tensors = list(_concat(cols["outputs"]))
    if tensors:
        t = _columns(tensors, lim["tensor_types"], frozenset())
        if t is None or not _shapes_ok(t["shape"], lim["max_rank"], lim["max_dim"]):
            return None
    estimates = list(filter(_not_none, cols["estimate"]))
    if estimates:
        e = _columns(estimates, lim["estimate_types"], frozenset())
        if (
            e is None
            or not set(e["device"]) <= devices
            or not set(e["reason_kind"]) <= kinds
            or not set(e["evidence"]) <= evidence
            or not _all_of(_concat(e["rules"]), str)
        ):
            return None
    return cols
