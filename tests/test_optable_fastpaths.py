"""Codes per distinct value held to the code they replaced (issue 14, tenth pass), on random
inputs: the op table's enum codes (`optable._codes`) and the detail panel's text codes
(`detail._per_distinct`), both now by a table that fills itself on a miss (`_CodeTable`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ane_notebook.placement.devices import Device
from ane_notebook.placement.result import CostDriver, ReasonKind
from ane_notebook.render.detail import _per_distinct, _small
from ane_notebook.render.optable import _codes, supported_code


def _codes_reference(values: Sequence[Any], code_of: Any, dtype: Any) -> np.ndarray:
    """`_codes` before: a set of the distinct values, then a lookup of each."""
    table = {v: code_of(v) for v in set(values)}
    return np.fromiter(map(table.__getitem__, values), dtype=dtype, count=len(values))


_SUPPORTED = st.lists(
    st.lists(st.sampled_from(list(Device)), max_size=3, unique=True).map(tuple), max_size=60
)


@settings(max_examples=200, deadline=None)
@given(_SUPPORTED)
def test_codes_are_those_of_the_set_and_lookup(values: list[tuple[Device, ...]]) -> None:
    got = _codes(values, supported_code, np.int8)
    want = _codes_reference(values, supported_code, np.int8)
    assert got.dtype == want.dtype and got.tolist() == want.tolist()
    # equal values that are distinct objects (records loaded from a file): one code each
    copies = [tuple(list(v)) for v in values]
    assert _codes(copies, supported_code, np.int8).tolist() == want.tolist()


def _per_distinct_reference(keys: Sequence[Any], code_of: Any) -> np.ndarray:
    """`detail._per_distinct` before: `code_of` of each distinct key first, then the lookups."""
    code = {k: code_of(k) for k in dict.fromkeys(keys)}
    return _small(np.fromiter(map(code.__getitem__, keys), dtype=np.int64, count=len(keys)))


_DETAIL_KEYS = st.lists(
    st.tuples(
        st.sampled_from(list(ReasonKind)),
        st.lists(st.sampled_from(["r1", "r2", "ré"]), max_size=2).map(tuple),
        st.none() | st.sampled_from(list(CostDriver)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_DETAIL_KEYS, st.integers(1, 40_000))
def test_per_distinct_codes_and_calls_are_the_set_firsts(keys: list[Any], step: int) -> None:
    # `code_of` numbers texts as it is called (like detail._Codes): the same calls, in the
    # same order, and the same codes (int16, or int32 past int16's range)
    def numbering(calls: list[Any]) -> Any:
        def code_of(k: Any) -> int:
            calls.append(k)
            return len(calls) * step

        return code_of

    got_calls: list[Any] = []
    want_calls: list[Any] = []
    got = _per_distinct(keys, numbering(got_calls))
    want = _per_distinct_reference(keys, numbering(want_calls))
    assert got_calls == want_calls
    assert got.dtype == want.dtype and got.tolist() == want.tolist()
