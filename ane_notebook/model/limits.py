"""The limits the model loader enforces, in one place, each with the reason for its value.

A spec is untrusted input: whoever made it chose every count, size and depth in it. These limits
keep a hostile or broken spec from turning into unbounded work or memory, while staying far above
anything a real model needs. The loader refuses a spec beyond them with a one-line
`ModelLoadError` that names the limit.
"""

from __future__ import annotations

__all__ = [
    "MAX_CONST_ELEMENTS",
    "MAX_DIM",
    "MAX_NESTING",
    "MAX_RANK",
    "MAX_SPEC_BYTES",
    "MAX_TENSOR_ELEMENTS",
]

# Constants with more elements than this are weights, not parameters: their values are never
# decoded (and blob-file values are never read whatever their size).
MAX_CONST_ELEMENTS = 64
# cond/while_loop (and NN branch/loop) nesting beyond this is not a real model; refusing it keeps
# a hostile spec from turning into an unbounded walk.
MAX_NESTING = 64
# Ranks above this are nonsense (Core ML's limit is 5); never build shape tuples from them.
MAX_RANK = 64
# Core ML sizes are signed 64-bit; MIL stores them unsigned, so a -1 written by a careless tool
# reads as 2**64 - 1. Larger dimensions are refused.
MAX_DIM = 2**63 - 1
# Tensors whose known dimensions multiply to more elements than this are refused. Absurd but
# smaller sizes are kept (rules then report them as too large for the ANE); beyond it, FLOP and
# byte counts (products of such sizes) would stop being finite floats in the cost model.
MAX_TENSOR_ELEMENTS = 2**128
# Protobuf cannot parse messages of 2 GiB or more: a larger spec file is not a model.
MAX_SPEC_BYTES = 2**31 - 1
