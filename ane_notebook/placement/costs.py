"""The cost model: how long an op takes on each processor, and what a crossing costs.

Every constant the estimator uses lives here, each citing its section of `docs/evidence.md`
(source, evidence level, what was measured) and its primary source. The model is deliberately
simple, the roofline form that reverse-engineering found inside Core ML's own planner
(sbryngelson/ane-guide:part-5-practice/18-optimization-cost-model.md):

    op time     = max(flops / rate, bytes / bandwidth) + per-op overhead
    segment     = launch cost each time execution enters a processor
    crossing    = fixed cost per (from, to) pair + bytes / conversion rate

Absolute numbers are GUESS-level calibrations; what matters for placement is their ratio, and
every time shown to a user is labelled as an estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..model.graph import Op, TensorInfo
from .devices import ChipProfile, Device
from .rules.vocab import GATHER_TYPES  # lookups: they read only the rows they gather

# --- Throughput anchors (M1) -------------------------------------------------------------
# RE anchors of Core ML's planner (docs/evidence.md#costs.ANCHOR_GFLOPS,
# docs/evidence.md#costs.ANCHOR_GBS; ane-guide ch.18): ANE 800 GFLOP/s, 50 GB/s; GPU 120 GFLOP/s,
# 40 GB/s; CPU 20 GFLOP/s, 10 GB/s. They are effective rates for the planner's purposes, far
# below marketing peaks. We scale them to other chips by the ratio of each chip's published ANE
# TOPS / GPU TFLOPS / memory bandwidth to M1's (docs/evidence.md#costs.M1_ANE_TOPS,
# docs/evidence.md#costs.M1_GPU_TFLOPS, docs/evidence.md#costs.M1_BW_GBS; Apple, M1 launch).
M1_ANE_TOPS = 11.0
M1_GPU_TFLOPS = 2.6
M1_BW_GBS = 68.25
ANCHOR_GFLOPS = {Device.ANE: 800.0, Device.GPU: 120.0, Device.CPU: 20.0}
ANCHOR_GBS = {Device.ANE: 50.0, Device.GPU: 40.0, Device.CPU: 10.0}

# --- Per-op overhead inside a segment (ms) -------------------------------------------------
# docs/evidence.md#costs.OP_OVERHEAD_MS.
# ANE: representative leaf times relu 50 ns, add 26.5-36 ns (RE, ane-guide ch.18): ops inside
# one ANE program cost almost nothing extra. GPU: one Metal kernel encode per op, ~5 us
# (GUESS). CPU: one BNNS call per op, ~1 us (GUESS).
OP_OVERHEAD_MS = {Device.ANE: 0.00004, Device.GPU: 0.005, Device.CPU: 0.001}

# --- Launch cost each time execution enters a processor (ms) -------------------------------
# docs/evidence.md#costs.LAUNCH_MS.
# ANE: Core ML ANE dispatch "near 0.2 ms" (CML, aosama/astronomical#540); direct-path floor
# 0.19-0.23 ms on M1 (RE, ane-guide ch.18). This is what keeps tiny models on the CPU
# (CML: 4x4 matmul on CPU under CPU_AND_NE, vx-lang/Vx#436). GPU: a Metal command buffer
# commit and wait, ~0.1 ms (GUESS). CPU: the caller is already on the CPU; a thread hand-off
# ~0.01 ms (GUESS).
LAUNCH_MS = {Device.ANE: 0.2, Device.GPU: 0.1, Device.CPU: 0.01}

# --- Crossings ------------------------------------------------------------------------------
# docs/evidence.md#costs.CROSSING_FIXED_MS.
# Fixed synchronisation cost per crossing edge (ms). ANE<->CPU is cheaper than ANE<->GPU
# (CML anecdote, hollance/neural-engine docs/unsupported-layers.md); the ratio 0.23/0.09 is the
# RE planner's transfer penalty to another backend vs to the ANE (ane-guide ch.18). The 0.05 ms
# base is GUESS, within the 0.05-0.30 ms GPU-control range measured on Core AI (CAI).
_ANE_CPU_FIXED = 0.05
_ANE_GPU_FIXED = round(_ANE_CPU_FIXED * 0.23 / 0.09, 4)
_CPU_GPU_FIXED = 0.05  # GUESS: Metal buffer hand-off on unified memory
CROSSING_FIXED_MS = {
    frozenset({Device.ANE, Device.CPU}): _ANE_CPU_FIXED,
    frozenset({Device.ANE, Device.GPU}): _ANE_GPU_FIXED,
    frozenset({Device.CPU, Device.GPU}): _CPU_GPU_FIXED,
}
# docs/evidence.md#costs.CONVERT_GBS.
# Per-byte conversion rate (GB/s). fp32<->fp16 conversion dominates: multi-MB fp32 IO cost
# ~11-12 ms each way on M1 Max and "basically went away" with fp16 IO (CML, smpanaro
# more-ane-transformers NOTES Sep 28 2023), i.e. ~1 GB/s for fp32 and several times faster for
# fp16 layout repacking (GUESS calibration). GPU texture conversion sits between (GUESS).
# CPU<->GPU on unified memory needs no conversion: bounded by bandwidth (GUESS 10 GB/s).
CONVERT_GBS = {
    (frozenset({Device.ANE, Device.CPU}), True): 1.0,  # (pair, tensor is fp32)
    (frozenset({Device.ANE, Device.CPU}), False): 4.0,
    (frozenset({Device.ANE, Device.GPU}), True): 0.8,
    (frozenset({Device.ANE, Device.GPU}), False): 2.0,
    (frozenset({Device.CPU, Device.GPU}), True): 10.0,
    (frozenset({Device.CPU, Device.GPU}), False): 10.0,
}

# Byte size assumed for a tensor whose shape is unknown (flexible). GUESS: a 64 KiB activation
# (docs/evidence.md#costs.UNKNOWN_TENSOR_BYTES).
UNKNOWN_TENSOR_BYTES = 65536


@dataclass(frozen=True)
class DeviceRates:
    """Effective throughput of each processor of one chip."""

    gflops: dict[Device, float]
    gbs: dict[Device, float]


def rates_for(chip: ChipProfile) -> DeviceRates:
    """Scale the M1 anchors to `chip` by its published throughput ratios."""
    ane = chip.ane_tops / M1_ANE_TOPS
    gpu = chip.gpu_tflops / M1_GPU_TFLOPS
    cpu = chip.cpu_gflops / ANCHOR_GFLOPS[Device.CPU]
    bw = chip.mem_bw_gbs / M1_BW_GBS
    return DeviceRates(
        gflops={
            Device.ANE: ANCHOR_GFLOPS[Device.ANE] * ane,
            Device.GPU: ANCHOR_GFLOPS[Device.GPU] * gpu,
            Device.CPU: ANCHOR_GFLOPS[Device.CPU] * cpu,
        },
        gbs={d: ANCHOR_GBS[d] * bw for d in ANCHOR_GBS},
    )


def tensor_bytes(t: TensorInfo | None, *, fp16: bool = False) -> int:
    """Bytes of `t` at its recorded dtype; `fp16`: an fp32 tensor counted as fp16 (what the ANE
    and GPU hold for NeuralNetwork layers, whose fp32 dtype is only nominal)."""
    if t is None:
        return UNKNOWN_TENSOR_BYTES
    b = t.nbytes
    if b is None:
        return UNKNOWN_TENSOR_BYTES
    return b // 2 if fp16 and t.dtype == "fp32" else b


def crossing_cost_ms(src: Device, dst: Device, nbytes: int, is_fp32: bool) -> float:
    """Estimated cost of moving one tensor from `src` to `dst` (0 when they are the same)."""
    if src == dst:
        return 0.0
    pair = frozenset({src, dst})
    return CROSSING_FIXED_MS[pair] + nbytes / (CONVERT_GBS[(pair, is_fp32)] * 1e6)


# --- FLOPs per op ---------------------------------------------------------------------------
# Work counts are the textbook ones (2 FLOPs per multiply-accumulate); elementwise and data
# movement ops are costed by the bytes they touch, which is what bounds them
# (docs/evidence.md#costs.ELEMENTWISE_FLOPS).
_ELEMENTWISE_FLOPS = {
    "gelu": 8,
    "silu": 4,
    "sigmoid": 4,
    "tanh": 4,
    "erf": 4,
    "exp": 4,
    "log": 4,
    "softplus": 4,
    "sin": 4,
    "cos": 4,
    "pow": 4,
    "sqrt": 2,
    "rsqrt": 2,
    "real_div": 2,
    "inverse": 2,
    "softmax": 5,
    "layer_norm": 8,
    "batch_norm": 4,
    "instance_norm": 8,
    "l2_norm": 4,
    "local_response_norm": 8,
}


def _elements(shape: Sequence[int | None] | None) -> int:
    if not shape:
        return 1 if shape == () else 0
    n = 1
    for d in shape:
        n *= d if d is not None and d > 0 else 1
    return n


def op_flops(op: Op, in_tensors: Sequence[TensorInfo | None]) -> float:
    """FLOPs of one op from its shapes and attributes (0 when they are unknown)."""
    out = op.outputs[0] if op.outputs else None
    out_elems = _elements(out.shape) if out is not None else 0
    t = op.op_type
    w = op.attrs.get("weight_shape")
    if t in ("conv", "conv_transpose", "convolution") and w and len(w) >= 3:
        # weight (Cout, Cin/groups, *kernel): each output element is one Cin/groups*k dot product
        per_out = _elements(tuple(w[1:]))
        return 2.0 * out_elems * per_out
    if t in ("linear", "innerProduct") and w and len(w) == 2:
        return 2.0 * out_elems * (w[1] or 1)
    if t in ("matmul", "batchedMatmul", "einsum"):
        x = in_tensors[0] if in_tensors else None
        if x is not None and x.shape:
            k_axis = -2 if op.attrs.get("transpose_x") else -1
            depth = x.shape[k_axis] if len(x.shape) >= 2 or k_axis == -1 else 1
            return 2.0 * out_elems * (depth or 1)
        return 2.0 * out_elems
    if t == "scaled_dot_product_attention" and len(in_tensors) >= 2:
        q, key = in_tensors[0], in_tensors[1]
        if q is not None and key is not None and q.shape and key.shape:
            lk = key.shape[-2] or 1
            return 4.0 * _elements(q.shape) * lk
    if t in ("lstm", "gru", "rnn", "uniDirectionalLSTM", "biDirectionalLSTM", "simpleRecurrent"):
        # 4 gates (LSTM) of input+hidden matmuls per step: ~8 * hidden * (input + hidden) per
        # step; approximated from the output size times the hidden width.
        h = out.shape[-1] if out is not None and out.shape and out.shape[-1] else 1
        return 8.0 * out_elems * (2 * h)
    return float(out_elems * _ELEMENTWISE_FLOPS.get(t, 1))


def _op_bytes(
    op: Op,
    acts: Sequence[TensorInfo | None],
    ws: Sequence[TensorInfo | None],
    *,
    fp16: bool,
) -> float:
    """Bytes one op reads and writes: activations, outputs and weights."""
    out_b = sum(tensor_bytes(t, fp16=fp16) for t in op.outputs)
    b = sum(tensor_bytes(t, fp16=fp16) for t in acts) + out_b
    if op.op_type in GATHER_TYPES:
        b += out_b  # the gathered rows of the table
    elif ws:
        b += sum(tensor_bytes(t) for t in ws)
    elif w := op.attrs.get("weight_shape"):
        b += 2 * _elements(tuple(w))
    return float(b)


@dataclass(frozen=True)
class OpCosts:
    """Per-op numbers the partitioner works on (arrays aligned with the op list given)."""

    flops: np.ndarray  # float64[n]
    bytes: np.ndarray  # float64[n]
    time_ms: np.ndarray  # float64[n, 3], columns in `DEVICE_COLUMNS` order


DEVICE_COLUMNS: tuple[Device, ...] = (Device.ANE, Device.GPU, Device.CPU)


def op_costs(
    ops: Sequence[Op],
    activations: Sequence[Sequence[TensorInfo | None]],
    weights: Sequence[Sequence[TensorInfo | None]],
    chip: ChipProfile,
) -> OpCosts:
    """Estimated time of every op on every processor (vectorised over ops).

    `activations[i]` are op i's inputs produced at run time, `weights[i]` those held in const
    ops. NeuralNetwork layers keep weights inside the layer: their `weight_shape` attribute is
    used instead (fp16, as the ANE and GPU run them: docs/evidence.md#dtype.fp32). NeuralNetwork
    layers run in fp16 on the ANE and GPU whatever their nominal fp32 dtype (hollance
    docs/16-bit.md, docs/evidence.md#dtype.fp32), so their activations are counted at fp16
    there and at fp32 on the CPU; `bytes` holds the CPU count.
    """
    n = len(ops)
    flops = np.empty(n)
    nbytes = np.empty(n)
    nbytes_accel = np.empty(n)  # on the ANE and GPU
    for i, op in enumerate(ops):
        acts, ws = activations[i], weights[i]
        flops[i] = op_flops(op, [*acts, *ws])
        nbytes[i] = _op_bytes(op, acts, ws, fp16=False)
        half = bool(op.attrs.get("nn_precision_unknown"))
        nbytes_accel[i] = _op_bytes(op, acts, ws, fp16=True) if half else nbytes[i]
    rates = rates_for(chip)
    time_ms = np.empty((n, 3))
    for j, d in enumerate(DEVICE_COLUMNS):
        compute = flops / (rates.gflops[d] * 1e6)  # GFLOP/s -> FLOP per ms
        moved = nbytes if d == Device.CPU else nbytes_accel
        memory = moved / (rates.gbs[d] * 1e6)  # GB/s -> bytes per ms
        time_ms[:, j] = np.maximum(compute, memory) + OP_OVERHEAD_MS[d]
    return OpCosts(flops=flops, bytes=nbytes, time_ms=time_ms)
