"""The limits the model loader enforces, in one place, each with the reason for its value.

A spec is untrusted input: whoever made it chose every count, size and depth in it. These limits
keep a hostile or broken spec from turning into unbounded work or memory, while staying far above
anything a real model needs. The loader refuses a spec beyond them with a one-line
`ModelLoadError` that names the limit.
"""

from __future__ import annotations

__all__ = [
    "MAX_BLOCKS_PER_OP",
    "MAX_CONST_ELEMENTS",
    "MAX_DIM",
    "MAX_ENUMERATED_SHAPES",
    "MAX_FEATURES",
    "MAX_FUNCTIONS",
    "MAX_MANIFEST_BYTES",
    "MAX_MANIFEST_DEPTH",
    "MAX_NESTING",
    "MAX_OPS",
    "MAX_PIPELINE_STAGES",
    "MAX_RANK",
    "MAX_RETYPE_WEIGHT_BYTES",
    "MAX_SPEC_BYTES",
    "MAX_TENSOR_ELEMENTS",
]

# ---- files -----------------------------------------------------------------------------------

# Protobuf cannot parse messages of 2 GiB or more: a larger spec file is not a model.
MAX_SPEC_BYTES = 2**31 - 1
# An .mlpackage's Manifest.json is a few hundred bytes (coremltools writes one entry per item:
# the spec and the weights folder). A megabyte holds thousands of entries; a bigger one is not a
# manifest (a zip can expand a 1.9 MB upload into a 1.9 GB one), so no more is ever read.
MAX_MANIFEST_BYTES = 1024 * 1024
# Real manifests nest three levels (object -> itemInfoEntries -> entry). Deeper JSON is refused
# before anything walks it (100k nested "[" would otherwise end in a RecursionError).
MAX_MANIFEST_DEPTH = 16

# ---- values ----------------------------------------------------------------------------------

# Constants with more elements than this are weights, not parameters: their values are never
# decoded (and blob-file values are never read whatever their size).
MAX_CONST_ELEMENTS = 64
# A flexible-shape ML program is re-typed at its default input shapes by coremltools, which
# decodes every weight to do it (`retype.py`): only for programs whose weight files hold at most
# this (a second or so of reading and ~2x that in memory); larger ones keep unknown dimensions.
MAX_RETYPE_WEIGHT_BYTES = 256 * 1024 * 1024
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

# ---- counts ----------------------------------------------------------------------------------
# The loader is linear in every count (benchmarks/load_scaling.py), so these bound its time and
# memory rather than guard against blow-ups; each sits far above real models.

# Ops in the whole graph (const ops included). The largest real Core ML models have ~50k ops
# (LLM decoders with their const ops, like the 50k model of benchmarks/run.py); 20x that still
# loads in under a minute (~40 µs and under 1 KB per op), and its JSON report (~300 bytes per op)
# stays in the hundreds of megabytes, where a report can still be read back.
MAX_OPS = 1_000_000
# Functions of the whole graph (ML program functions, plus one per NeuralNetwork or non-neural
# pipeline stage) and stages of one pipeline. Real models have a handful (multifunction models
# with adapters: tens). Each costs as much as two or three ops (60-120 µs in
# benchmarks/load_scaling.py); 2**17 keeps a model at the cap to 8-15 s of loading while that
# benchmark's 100k cases still load.
MAX_FUNCTIONS = 2**17
MAX_PIPELINE_STAGES = 2**17
# Blocks of one op: MIL control flow has at most two (cond: true/false; while_loop: cond/body).
# Each block is walked separately, so a million "blocks" of one op would be a million walks.
MAX_BLOCKS_PER_OP = 16
# Inputs, outputs or states of one model, function or stage description. LLMs with a key/value
# cache per layer have a few hundred; beyond 10,000 the interface is not a model's.
MAX_FEATURES = 10_000
# Enumerated shapes (or image sizes) of one input: coremltools accepts up to 128 ("You can
# provide up to 128 different shapes", coremltools' flexible input shapes guide); 1024 leaves room
# for hand-written specs. Every shape is carried into the report, so they must stay few.
MAX_ENUMERATED_SHAPES = 1024
