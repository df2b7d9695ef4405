"""The dtype suffixes coremltools appends to op names, and how they are taken off.

coremltools names the casts it inserts (and the ops around them) after the op they convert,
plus the target dtype: ``..._q_proj_cast_fp16``, ``..._softmax_to_fp16``, sometimes numbered
(``_cast_fp16_2``). The layer tree (`layers.py`) and the graph view's labels read a name
without them.
"""

from __future__ import annotations

import re

__all__ = ["DTYPE_SUFFIX", "DTYPE_SUFFIX_JS", "strip_dtype_suffix"]

# coremltools appends these to the names it gives casts and the ops around them. `\Z`, not
# `$`: Python's `$` also matches before a trailing newline, so a name ending in "\n" lost its
# suffix here but kept it in strip_dtype_suffix (the browser's twin reads `DTYPE_SUFFIX_JS`).
DTYPE_SUFFIX = re.compile(
    r"(?:_(?:cast|to)_(?:fp16|fp32|fp64|bf16|u?int(?:4|8|16|32|64)|bool))+(?:_\d+)?\Z"
)
# The same pattern for the browser's RegExp: JS has no `\Z`; its `$` (no m flag) is the end.
DTYPE_SUFFIX_JS = DTYPE_SUFFIX.pattern.removesuffix("\\Z") + "$"
# DTYPE_SUFFIX read backwards, matched at the start of the reversed name: the same suffix, found
# without trying the pattern at every `_` of the name (half the time; tests/test_layers.py
# checks both agree on names built from the suffix's own tokens).
_DTYPE_SUFFIX_REVERSED = re.compile(
    r"(?:\d+_)?(?:(?:61pf|23pf|46pf|61fb|(?:4|8|61|23|46)tniu?|loob)_(?:tsac|ot)_)+"
)


def strip_dtype_suffix(name: str) -> str:
    """`DTYPE_SUFFIX.sub("", name)`: the name without the dtype suffixes coremltools appends."""
    m = _DTYPE_SUFFIX_REVERSED.match(name[::-1])
    return name[: len(name) - m.end()] if m else name
