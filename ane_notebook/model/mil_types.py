"""Decoding MIL types and values (``MIL_pb2``): tensor types to ``(shape, dtype)``, small
immediate constants to Python values, and the declared parameter order of MIL ops.

Only small values are decoded (at most `MAX_CONST_ELEMENTS` elements): bigger constants are
weights, and blob-file values (weights in ``weight.bin``) are never read.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .graph import Shape
from .limits import MAX_CONST_ELEMENTS, MAX_RANK
from .mil_params import shipped_table
from .proto import MIL_pb2

__all__ = ["NO_VALUE", "is_scalar_string", "mil_type_info", "param_order", "small_value"]

_MIL_DTYPES: Mapping[int, str] = {
    MIL_pb2.BOOL: "bool",
    MIL_pb2.STRING: "string",
    MIL_pb2.FLOAT8E4M3FN: "fp8e4m3fn",
    MIL_pb2.FLOAT8E5M2: "fp8e5m2",
    MIL_pb2.FLOAT16: "fp16",
    MIL_pb2.FLOAT32: "fp32",
    MIL_pb2.FLOAT64: "fp64",
    MIL_pb2.BFLOAT16: "bf16",
    MIL_pb2.INT8: "int8",
    MIL_pb2.INT16: "int16",
    MIL_pb2.INT32: "int32",
    MIL_pb2.INT64: "int64",
    MIL_pb2.INT4: "int4",
    MIL_pb2.UINT8: "uint8",
    MIL_pb2.UINT16: "uint16",
    MIL_pb2.UINT32: "uint32",
    MIL_pb2.UINT64: "uint64",
    MIL_pb2.UINT4: "uint4",
    MIL_pb2.UINT2: "uint2",
    MIL_pb2.UINT1: "uint1",
    MIL_pb2.UINT6: "uint6",
    MIL_pb2.UINT3: "uint3",
}

# Dtypes whose small immediate values coremltools packs into TensorValue.bytes.
_BYTES_NP_DTYPES: Mapping[str, str] = {
    "fp16": "<f2",
    "int8": "i1",
    "uint8": "u1",
    "int16": "<i2",
    "uint16": "<u2",
}


def _mil_tensor_shape(tt: MIL_pb2.TensorType) -> Shape | None:
    dims = tt.dimensions
    rank = int(tt.rank)
    if not dims:
        # A rank without dimensions: every dimension is unknown. Never allocate by rank beyond
        # MAX_RANK. (Explicit dimensions beyond it are refused by `check_shapes`.)
        return None if rank < 0 or rank > MAX_RANK else (None,) * rank
    out: list[int | None] = []
    for d in dims:
        which = d.WhichOneof("dimension")
        if which == "constant":
            # Absurd sizes are kept as they are (Python ints do not overflow) and never used to
            # allocate anything.
            out.append(int(d.constant.size))
        elif which == "unknown" and d.unknown.variadic:
            return None  # a variadic dimension makes even the rank unknown
        else:
            out.append(None)
    return tuple(out)


# Decoded types by their serialized bytes. A 50k-op LLM has ~100k typed values but a few dozen
# distinct types; serializing a small ValueType and looking it up is 5x faster than decoding it
# field by field. Bounded so that a model with absurdly many distinct types cannot grow it.
_TYPE_CACHE: dict[bytes, tuple[Shape | None, str]] = {}
_TYPE_CACHE_MAX = 4096


def mil_type_info(vt: MIL_pb2.ValueType) -> tuple[Shape | None, str]:
    """(shape, dtype) of a MIL value type (see `_decode_mil_type`), memoised."""
    key = vt.SerializeToString()
    got = _TYPE_CACHE.get(key)
    if got is None:
        got = _decode_mil_type(vt)
        if len(_TYPE_CACHE) >= _TYPE_CACHE_MAX:
            _TYPE_CACHE.clear()
        _TYPE_CACHE[key] = got
    return got


def _decode_mil_type(vt: MIL_pb2.ValueType) -> tuple[Shape | None, str]:
    kind = vt.WhichOneof("type")
    if kind == "stateType":
        # A state wraps a tensor; anything else inside is malformed and reported as unknown.
        inner = vt.stateType.wrappedType
        if inner.WhichOneof("type") == "tensorType":
            kind, vt = "tensorType", inner
        else:
            return None, "state"
    if kind == "tensorType":
        tt = vt.tensorType
        dtype = _MIL_DTYPES.get(tt.dataType, f"unknown({tt.dataType})")
        return _mil_tensor_shape(tt), dtype
    if kind == "listType":
        return None, "list"
    if kind == "tupleType":
        return None, "tuple"
    if kind == "dictionaryType":
        return None, "dict"
    return None, "unknown"


NO_VALUE = object()


def _reshape(flat: list[Any], shape: Shape | None) -> Any:
    """Nested tuples of `flat` in `shape`; scalars for rank 0; flat tuple if shapes disagree."""
    if shape == ():
        return flat[0] if len(flat) == 1 else tuple(flat)
    if shape is None or len(shape) == 1 or any(d is None for d in shape):
        return tuple(flat)
    n = 1
    for d in shape:
        n *= d  # type: ignore[operator]  # None excluded above
    if n != len(flat):
        return tuple(flat)
    out: Any = flat
    for d in reversed(shape[1:]):
        step = int(d)  # type: ignore[arg-type]
        out = [tuple(out[i : i + step]) for i in range(0, len(out), step)]
    return tuple(out)


# Decoded small values by their serialized bytes, as `_TYPE_CACHE` for types: the 50k-op
# benchmark LLM decodes 19k constant values (axes, perms, shapes, flags) with ~20 distinct
# serializations; a serialization and a look-up instead of ~7 field reads and a conversion
# (issue 14). Decoded values are tuples and scalars, immutable, so ops can share them. What does
# not decode (weights in blob files: each unique) is never kept, nor long serializations.
_VALUE_CACHE: dict[bytes, Any] = {}
_VALUE_CACHE_MAX = 4096
_VALUE_KEY_MAX = 512  # bytes


def small_value(value: MIL_pb2.Value) -> Any:
    """Python value of an immediate tensor with at most MAX_CONST_ELEMENTS, else NO_VALUE."""
    key = value.SerializeToString()
    got = _VALUE_CACHE.get(key, NO_VALUE)
    if got is NO_VALUE:
        got = _small_value(value)
        if got is not NO_VALUE and len(key) <= _VALUE_KEY_MAX:
            if len(_VALUE_CACHE) >= _VALUE_CACHE_MAX:
                _VALUE_CACHE.clear()
            _VALUE_CACHE[key] = got
    return got


def _small_value(value: MIL_pb2.Value) -> Any:
    """`small_value`, decoded."""
    # Reading the tensor through unset messages gives empty defaults, so one oneof test stands
    # for the three (value, immediate value, tensor): a blob-file value (weights: never read),
    # a list/tuple/dict or an empty tensor all have no tensor kind. Each protobuf read costs
    # about as much as serializing a small message (issue 14: 75k values at 50k ops).
    tv = value.immediateValue.tensor
    kind = tv.WhichOneof("value")
    if kind is None:
        return NO_VALUE
    shape, dtype = mil_type_info(value.type)
    if kind == "strings" and shape == ():
        # A scalar string (every MIL op's "name" attribute): what the general path below gives
        # for shape () and one value, without its list and reshape.
        strings = tv.strings.values
        if len(strings) == 1:
            return strings[0]
    flat: list[Any]
    if kind == "bytes":
        raw = tv.bytes.values
        np_dtype = _BYTES_NP_DTYPES.get(dtype)
        if np_dtype is None:
            return NO_VALUE  # packed sub-byte or bf16 data: not a parameter rules read
        import numpy as np  # local: most models have no byte-packed small values

        itemsize = np.dtype(np_dtype).itemsize
        if len(raw) > MAX_CONST_ELEMENTS * itemsize or len(raw) % itemsize:
            return NO_VALUE
        flat = np.frombuffer(raw, dtype=np_dtype).tolist()
    else:
        values = getattr(tv, kind).values
        if len(values) > MAX_CONST_ELEMENTS:
            return NO_VALUE
        flat = list(values)
        if kind in ("floats", "doubles"):
            flat = [float(v) for v in flat]
        elif kind in ("ints", "longInts"):
            flat = [int(v) for v in flat]
        elif kind == "bools":
            flat = [bool(v) for v in flat]
        else:
            flat = [str(v) for v in flat]
    if not flat:
        return () if shape != () else NO_VALUE
    return _reshape(flat, shape)


def is_scalar_string(value: MIL_pb2.Value, text: str) -> bool:
    """Whether `value` is exactly a scalar string tensor holding `text` (then `small_value`
    gives `text`), told from its serialized bytes: no field is read.

    coremltools names an op after its first output, so an op's "name" attribute is usually the
    output name the loader has read already: one serialization and a comparison instead of the
    six reads of `small_value` (issue 14: 50k names, ~135 -> ~70 ms). Equal bytes parse into
    equal messages, so a match is never wrong; any other encoding of the same value (extra or
    unknown fields, another order) is only a miss, and the caller takes the general path.
    """
    data = text.encode("utf-8", "surrogatepass")  # (protobuf strings never hold surrogates)
    raw: bytes = value.SerializeToString()
    return raw == _scalar_string_header(len(data)) + data


@functools.lru_cache(maxsize=256)
def _scalar_string_header(size: int) -> bytes:
    """The serialized scalar string `Value` of a `size`-byte string, without the string."""
    value = MIL_pb2.Value()
    value.type.tensorType.dataType = MIL_pb2.STRING
    value.immediateValue.tensor.strings.values.append("x" * size)
    raw: bytes = value.SerializeToString()
    return raw[: len(raw) - size]


@functools.cache
def param_order(op_type: str) -> Mapping[str, int]:
    """Parameter order of a MIL op as declared by coremltools (``x`` first), for stable inputs.

    The proto stores inputs in a map whose iteration order means nothing; the op definitions
    give the order users read in MIL text. Unknown ops (custom layers) fall back to names.
    The registry's answer for the installed coremltools is shipped (`mil_params`): asking the
    registry itself imports coremltools' converters.
    """
    table = shipped_table()
    if table is not None:
        return {k: i for i, k in enumerate(table.get(op_type, ()))}
    try:
        from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

        versions = SSAOpRegistry.core_ops.get(op_type)
        if not versions:
            return {}
        keys = list(versions[max(versions)].input_spec.input_types)
    except (ImportError, AttributeError, TypeError):
        return {}
    return {k: i for i, k in enumerate(keys)}
