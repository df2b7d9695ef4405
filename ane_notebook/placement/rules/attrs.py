"""Reading an op's constant attributes for the rule checks, defensively.

The loader puts what it could read of an op's constant arguments in `Op.attrs`; a spec may hold
anything there (a bool where an int belongs, a list of floats, nothing at all). Each helper
returns the value only when it has the expected type, else None for "unknown", so a check never
fires on data it could not read (see `checks.py`).
"""

from __future__ import annotations

from ...model.graph import Op


def int_attr(op: Op, *keys: str) -> int | None:
    for k in keys:
        v = op.attrs.get(k)
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
    return None


def int_list_attr(op: Op, *keys: str) -> tuple[int, ...] | None:
    for k in keys:
        v = op.attrs.get(k)
        if (
            isinstance(v, (list, tuple))
            and v
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        ):
            return tuple(v)
    return None


def num_list_attr(op: Op, *keys: str) -> tuple[float, ...] | None:
    for k in keys:
        v = op.attrs.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (float(v),)
        if (
            isinstance(v, (list, tuple))
            and v
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        ):
            return tuple(float(x) for x in v)
    return None


def str_attr(op: Op, *keys: str) -> str | None:
    for k in keys:
        v = op.attrs.get(k)
        if isinstance(v, str):
            return v
    return None


def shape_str(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "?"
    return "x".join("?" if d is None else str(d) for d in shape)
