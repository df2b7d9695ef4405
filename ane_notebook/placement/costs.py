"""The cost model: how long one prediction takes, op by op, and what each crossing costs.

Every constant the estimator uses lives here or in the chip table (`devices.py`), each with its
source; docs/evidence.md gives each one in full (docs/evidence.md#costs.MODEL_FORM and the
sections after it), with its evidence level and the published latencies it was checked against
(docs/evidence.md#calibration, `benchmarks/latency.py`). The model is the roofline form
that reverse-engineering found inside Core ML's own planner (RE: sbryngelson/ane-guide
ch.5/18), with constants from published figures instead of the planner's relative units:

    op time     = max(flops / rate, weight bytes / stream rate, activation bytes / rate)
                  + per-op overhead
    segment     = a dispatch each time execution enters a processor
    crossing    = fixed cost per (from, to) pair + bytes / conversion rate
    prediction  = the sum of the above + a fixed per-prediction cost

so that `est_total_ms` is an estimate of one end-to-end prediction on the chosen chip. It is
still an estimate: every time shown to a user says so, and `corner()` gives the ends of the
constants' published spread for the ranges shown beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..model.graph import Graph, Op, TensorInfo
from .devices import ChipProfile, Device
from .rules.vocab import GATHER_TYPES  # lookups: they read only the rows they gather
from .work import RECURRENT_GATES, elements, op_flops, recurrent_weight_elements

# --- Throughput -----------------------------------------------------------------------------
# Per op:  time = max(flops / F, weight bytes / Bw, activation bytes / Ba) + per-op overhead,
# with, per processor of a chip (peaks and bandwidths per chip in devices.py):
#   ANE  F = ANE_EFFICIENCY * fp16 peak;  Bw = the ANE's measured DRAM stream rate (chip);
#        Ba = ANE_ACT_FACTOR * that rate for an op whose activations stay in the on-chip pool,
#        Bw itself for one whose largest activation exceeds ANE_WORKING_SET_MB (streamed)
#   GPU  F = GPU_EFFICIENCY * fp16 peak;  Bw = Ba = GPU_BW_FRACTION * system bandwidth
#   CPU  F = the chip's effective BNNS rate;  Bw = Ba = CPU_BW_FRACTION * system bandwidth
# ANE_EFFICIENCY: published Core ML latencies of large graphs reach 0.2-0.45 of the fp16 peak
# end to end, overheads included (ResNet-50 on A16 0.32, GPT-2 medium/large on the M1-family
# ANE 0.29-0.34, FastViT-MA36 on A14 0.32, DistilBERT on A15 0.20: OFFICIAL/COMMUNITY, derived);
# one op alone runs nearer the top of that range.
# docs/evidence.md#costs.ANE_EFFICIENCY
ANE_EFFICIENCY = 0.45
# ANE_ACT_FACTOR (GUESS, bounded): activations that stay in the ANE's on-chip pool move at 3x
# its DRAM stream rate (A16: 135 GB/s). Bounds, with fused epilogues (fusion.py) and A16's
# fixed costs: MobileNetV3-small (8 MB of layer traffic, no tensor over 0.45 MB) in 0.13 ms
# needs >= ~110 GB/s; MobileNetV2's fp16 -> int8-activation speed-up on A16 (0.48 -> 0.27 ms,
# OFFICIAL, on a chip without faster int8 compute) needs its traffic to take >= 0.42 ms.
# docs/evidence.md#costs.ANE_ACT_FACTOR
ANE_ACT_FACTOR = 3.0
# ANE_WORKING_SET_MB (RE): a layer whose largest operand fits the 2 MB on-chip pool runs from
# it; a larger one is tiled and streamed from DRAM (ane-guide ch.21, the M1 value; newer parts
# larger, M5 4.72 MB). docs/evidence.md#costs.ANE_WORKING_SET_MB
ANE_WORKING_SET_MB = 2.0
# ANE_RESIDENT_MB (GUESS): weights of a model this small stay in the Neural Engine's on-chip
# memory between predictions and are not streamed from DRAM again; for a larger model the share
# that does not fit streams. maderix/ANE (DIR) measures a ~32 MB on-chip working-set cliff on M4,
# ane-guide (RE) a 2 MB matmul working set; MobileNetV3-small (5 MB of weights) runs in 0.13 ms
# on A16 (OFFICIAL), faster than streaming its weights at the ANE's DRAM rate would allow.
# docs/evidence.md#costs.ANE_RESIDENT_MB
ANE_RESIDENT_MB = 16.0
# GPU_EFFICIENCY (GUESS within published rates): DenseNet-121 on the M1 GPU reaches 0.36
# TFLOP/s = 0.14 of its peak (COMMUNITY, woolfel/ml-macos-performance, NeuralNetwork model),
# transformers on M1-family GPUs 0.2-0.9 (smpanaro NOTES, shapes not stated).
# docs/evidence.md#costs.GPU_EFFICIENCY
GPU_EFFICIENCY = 0.25
# docs/evidence.md#costs.GPU_BW_FRACTION
GPU_BW_FRACTION = 0.6  # GUESS: share of system bandwidth a Metal kernel streams at
# docs/evidence.md#costs.CPU_BW_FRACTION
CPU_BW_FRACTION = 0.6  # GUESS: share of system bandwidth the CPU cluster streams at
# The CPU computes fp16 models in fp32 ("The GPU and ANE use float 16 precision, and the CPU
# uses float 32": OFFICIAL, coremltools typed-execution.md for neural networks; assumed for ML
# programs too, GUESS): fp16 weights are read at twice their stored size.
# docs/evidence.md#costs.CPU_WEIGHT_WIDEN
CPU_WEIGHT_WIDEN = 2.0

# --- Per-op overhead inside a segment (ms) -------------------------------------------------
# ANE: ops inside one ANE program cost little beyond their work: MobileNetV3-small (141 ops)
# runs in 0.13 ms in all on A16 (OFFICIAL, coremltools opt-palettization-perf.md), so well under
# 1 us each; RE leaf times are 27-50 ns (ane-guide ch.18). GPU: one Metal kernel per op, ~20 us
# (GUESS; DenseNet-121's ~370 ops take 16 ms on the M1 GPU, COMMUNITY). CPU: one BNNS call per
# op, ~5 us (GUESS).
# docs/evidence.md#costs.OP_OVERHEAD_MS
OP_OVERHEAD_MS = {Device.ANE: 0.0003, Device.GPU: 0.02, Device.CPU: 0.005}

# --- Launch cost each time execution enters a processor (ms) -------------------------------
# ANE: per chip family (devices.ANE_LAUNCH_MS_BY_FAMILY, cited there); the entry here is the
# default for `HardwareModel` without a chip (M1's). It is what keeps tiny models on the CPU
# (COMMUNITY: a 4x4 matmul stays on the CPU under CPU_AND_NE, vx-lang/Vx#436). GPU: a Metal
# command buffer commit and wait, ~0.1 ms (GUESS). CPU: the caller is already on the CPU; a
# thread hand-off ~0.01 ms (GUESS).
# docs/evidence.md#costs.LAUNCH_MS
LAUNCH_MS = {Device.ANE: 0.2, Device.GPU: 0.1, Device.CPU: 0.01}

# Fixed cost of one prediction whatever the placement (Core ML's own bookkeeping around the
# call, GUESS: everything in a MobileNetV2 prediction on A16 that does not scale with the
# activations' width takes <= 0.06 ms, from its fp16 and int8-activation latencies, OFFICIAL):
# charged once per function call, in the report's totals only (it cannot change where an op
# goes). docs/evidence.md#costs.PREDICT_MS
PREDICT_MS = 0.005

# --- Crossings ------------------------------------------------------------------------------
# Fixed synchronisation cost per crossing edge (ms). ANE<->CPU is cheaper than ANE<->GPU
# (COMMUNITY anecdote, hollance/neural-engine docs/unsupported-layers.md); the ratio 0.23/0.09
# is the RE planner's transfer penalty to another backend vs to the ANE (ane-guide ch.18). The
# 0.02 ms base is GUESS, for an M1-class Neural Engine: crossings to and from the ANE scale with
# the chip's ANE dispatch (`HardwareModel.for_chip`; the compiler's own model adds a per-input
# transfer setup and a dispatch floor, both per chip: ane-guide ch.18), bounded on A16 by the
# <= 0.06 ms of a MobileNetV2 prediction that does not scale with activation width (OFFICIAL).
_ANE_CPU_FIXED = 0.02
_ANE_GPU_FIXED = round(_ANE_CPU_FIXED * 0.23 / 0.09, 4)
_CPU_GPU_FIXED = 0.02  # GUESS: Metal buffer hand-off on unified memory
# docs/evidence.md#costs.CROSSING_FIXED_MS
CROSSING_FIXED_MS = {
    frozenset({Device.ANE, Device.CPU}): _ANE_CPU_FIXED,
    frozenset({Device.ANE, Device.GPU}): _ANE_GPU_FIXED,
    frozenset({Device.CPU, Device.GPU}): _CPU_GPU_FIXED,
}
# Per-byte conversion rate (GB/s). fp32<->fp16 conversion dominates: gpt2-large's fp32 KV-cache
# IO (36 layers x 2 x 512 x 1280 fp32 = 189 MB) cost ~11-12 ms each way on M1 Max, and
# "basically went away" with fp16 IO (COMMUNITY, smpanaro more-ane-transformers NOTES Sep 28
# 2023): ~16 GB/s for fp32, and fp16 (a layout repack) ~3x faster (GUESS). To and from the GPU
# a texture conversion, somewhat slower (GUESS). CPU<->GPU on unified memory needs no
# conversion (GUESS 10 GB/s).
# docs/evidence.md#costs.CONVERT_GBS
CONVERT_GBS = {
    (frozenset({Device.ANE, Device.CPU}), True): 16.0,  # (pair, tensor is fp32)
    (frozenset({Device.ANE, Device.CPU}), False): 50.0,
    (frozenset({Device.ANE, Device.GPU}), True): 13.0,
    (frozenset({Device.ANE, Device.GPU}), False): 40.0,
    (frozenset({Device.CPU, Device.GPU}), True): 10.0,
    (frozenset({Device.CPU, Device.GPU}), False): 10.0,
}

# Byte size assumed for a tensor whose shape is unknown (flexible). GUESS: a 64 KiB activation.
# docs/evidence.md#costs.UNKNOWN_TENSOR_BYTES
UNKNOWN_TENSOR_BYTES = 65536


@dataclass(frozen=True)
class HardwareModel:
    """One reading of the published figures: every number the estimator uses, in one object.

    `NOMINAL` holds the constants above; `corner()` gives the ends of their published spread
    (`SPREAD`), which `estimate` uses for its uncertainty ranges.
    """

    ane_efficiency: float = ANE_EFFICIENCY
    ane_act_factor: float = ANE_ACT_FACTOR
    ane_working_set_mb: float = ANE_WORKING_SET_MB
    ane_resident_mb: float = ANE_RESIDENT_MB
    gpu_efficiency: float = GPU_EFFICIENCY
    gpu_bw_fraction: float = GPU_BW_FRACTION
    cpu_bw_fraction: float = CPU_BW_FRACTION
    cpu_scale: float = 1.0  # multiplies each chip's effective BNNS rate
    ane_bw_scale: float = 1.0  # multiplies each chip's ANE weight-stream rate
    op_overhead_ms: Mapping[Device, float] = field(default_factory=lambda: dict(OP_OVERHEAD_MS))
    launch_ms: Mapping[Device, float] = field(default_factory=lambda: dict(LAUNCH_MS))
    predict_ms: float = PREDICT_MS
    crossing_fixed_ms: Mapping[frozenset[Device], float] = field(
        default_factory=lambda: dict(CROSSING_FIXED_MS)
    )
    convert_gbs: Mapping[tuple[frozenset[Device], bool], float] = field(
        default_factory=lambda: dict(CONVERT_GBS)
    )

    ane_launch_scale: float = 1.0  # multiplies the chip's ANE dispatch (`for_chip`)
    # The chip's ANE dispatch over LAUNCH_MS's, as `for_chip` last scaled the ANE's fixed
    # crossing costs by it (1.0: not scaled yet), so that calling it again rescales, not
    # compounds.
    ane_fixed_ratio: float = 1.0

    def rates_key(self) -> tuple[float, ...]:
        """What op times depend on (two readings with the same key cost ops the same)."""
        return (
            self.ane_efficiency,
            self.ane_act_factor,
            self.ane_working_set_mb,
            self.gpu_efficiency,
            self.gpu_bw_fraction,
            self.cpu_bw_fraction,
            self.cpu_scale,
            self.ane_bw_scale,
            self.ane_resident_mb,
            *(self.op_overhead_ms[d] for d in DEVICE_COLUMNS),
        )

    def for_chip(self, chip: ChipProfile) -> HardwareModel:
        """This reading with the Neural Engine dispatch of `chip` (it differs by ANE family),
        and the fixed part of crossings to and from the Neural Engine scaled with it (the
        compiler's own model adds a per-input transfer setup and a dispatch floor that both
        scale per chip: docs/evidence.md#costs.CROSSING_FIXED_MS)."""
        launch = dict(self.launch_ms)
        launch[Device.ANE] = chip.ane_launch_ms * self.ane_launch_scale
        ratio = chip.ane_launch_ms / LAUNCH_MS[Device.ANE]
        step = ratio / self.ane_fixed_ratio  # from the chip applied last (if any) to this one
        fixed = {
            pair: v * step if Device.ANE in pair else v
            for pair, v in self.crossing_fixed_ms.items()
        }
        convert = dict(self.convert_gbs)
        if chip.ane_fp32_io:
            for other in (Device.CPU, Device.GPU):
                pair = frozenset({Device.ANE, other})
                convert[(pair, True)] = convert[(pair, False)]
        return replace(
            self,
            launch_ms=launch,
            convert_gbs=convert,
            crossing_fixed_ms=fixed,
            ane_fixed_ratio=ratio,
        )

    def for_neuralnetwork(self) -> HardwareModel:
        """This reading for a graph whose fp32 tensors are all NeuralNetwork layers' nominal
        fp32: the Neural Engine and the GPU both hold them in fp16, so one crossing between
        those two moves the fp16 bytes at the fp16 rate (half the counted fp32 bytes, i.e. the
        fp32 bytes at twice the fp16 rate); to and from the CPU, which runs them in fp32, the
        conversion stays (docs/evidence.md#costs.CONVERT_GBS)."""
        convert = dict(self.convert_gbs)
        pair = frozenset({Device.ANE, Device.GPU})
        convert[(pair, True)] = 2 * convert[(pair, False)]
        return replace(self, convert_gbs=convert)

    def crossing_ms(self, src: Device, dst: Device, nbytes: int, is_fp32: bool) -> float:
        """Cost of moving one tensor from `src` to `dst` (0 when they are the same)."""
        if src == dst:
            return 0.0
        pair = frozenset({src, dst})
        return self.crossing_fixed_ms[pair] + nbytes / (self.convert_gbs[(pair, is_fp32)] * 1e6)

    def rates(self, chip: ChipProfile) -> DeviceRates:
        """Effective throughput of each processor of `chip` under this reading."""
        return DeviceRates(
            gflops={
                Device.ANE: self.ane_efficiency * chip.ane_tops * 1e3,
                Device.GPU: self.gpu_efficiency * chip.gpu_tflops * 1e3,
                Device.CPU: self.cpu_scale * chip.cpu_gflops,
            },
            weight_gbs={
                Device.ANE: self.ane_bw_scale * chip.ane_gbs,
                Device.GPU: self.gpu_bw_fraction * chip.mem_bw_gbs,
                Device.CPU: self.cpu_bw_fraction * chip.mem_bw_gbs,
            },
            act_gbs={
                Device.ANE: self.ane_act_factor * chip.ane_gbs,
                Device.GPU: self.gpu_bw_fraction * chip.mem_bw_gbs,
                Device.CPU: self.cpu_bw_fraction * chip.mem_bw_gbs,
            },
        )


@dataclass(frozen=True)
class DeviceRates:
    """Effective throughput of each processor of one chip."""

    gflops: dict[Device, float]
    weight_gbs: dict[Device, float]  # streaming weights from memory
    act_gbs: dict[Device, float]  # reading and writing activations


NOMINAL = HardwareModel()

# --- Spread: the ends of each constant's published range (docs/evidence.md "Spread") ----------
# Factors applied to the nominal value at the (fast, slow) end. Each is the range of the
# published figures the constant was chosen from, not a fitted error bar.
# docs/evidence.md#costs.SPREAD
SPREAD: dict[str, tuple[float, float]] = {
    # achieved fraction of fp16 peak across published large-graph latencies: 0.2-0.45
    # one op alone at most ~0.55 of peak (GUESS); whole graphs down to 0.2 (published)
    "ane_efficiency": (0.55 / ANE_EFFICIENCY, 0.25 / ANE_EFFICIENCY),
    "ane_act_factor": (1.5, 0.5),  # GUESS: no published figure for on-chip activation traffic
    "ane_resident_mb": (2.0, 0.0),  # 32 MB (DIR, M4) ... nothing stays resident
    # ANE weight streaming: M1 Pro/Max 54.9 vs M1 60.9 GB/s (anemll-bench); A17 Pro 28 GB/s
    # from OPT-1.3B decode (coremltools opt-opt1_3.md) against our 45 GUESS
    "ane_bw_scale": (1.1, 0.62),
    "gpu_efficiency": (2.0, 0.5),  # DenseNet-121 on M1 0.14 of peak ... transformers ~0.9
    "cpu_scale": (1.4, 0.4),  # 0.12-0.41 TFLOP/s published CPU_ONLY rates
    # dispatches: half (MobileNetV3-small's whole 0.13 ms prediction on A16, OFFICIAL, is below
    # one nominal M1-class dispatch) to twice (direct-path calls with IO packing ~0.4-0.75 ms,
    # DIR) the nominal
    "launch": (0.5, 2.0),
    "crossing": (0.5, 3.0),  # 0.6-1.75 ms per off-ANE island measured on Core AI (CAI)
    "predict": (0.0, 5.0),  # app and Python harnesses add 0.05-0.3 ms per call (CML)
}


def corner(ane_fast: bool, others_fast: bool) -> HardwareModel:
    """The constants at one end of their spread: the Neural Engine's (throughput, bandwidth,
    dispatch) at its fast or slow end, everything else (GPU, CPU, crossings, fixed costs) at
    its own. The four corners bound the estimate (`estimate` uses them for its ranges)."""
    a, o = (0 if ane_fast else 1), (0 if others_fast else 1)
    f = {k: v[a] for k, v in SPREAD.items() if k.startswith("ane")}
    f.update({k: v[o] for k, v in SPREAD.items() if not k.startswith("ane")})
    launch = {d: v * SPREAD["launch"][o] for d, v in LAUNCH_MS.items()}
    return HardwareModel(
        ane_efficiency=ANE_EFFICIENCY * f["ane_efficiency"],
        ane_act_factor=ANE_ACT_FACTOR * f["ane_act_factor"],
        ane_resident_mb=ANE_RESIDENT_MB * f["ane_resident_mb"],
        ane_bw_scale=f["ane_bw_scale"],
        gpu_efficiency=GPU_EFFICIENCY * f["gpu_efficiency"],
        cpu_scale=f["cpu_scale"],
        launch_ms=launch,
        ane_launch_scale=SPREAD["launch"][a],
        predict_ms=PREDICT_MS * f["predict"],
        crossing_fixed_ms={k: v * f["crossing"] for k, v in CROSSING_FIXED_MS.items()},
        convert_gbs={k: v / f["crossing"] for k, v in CONVERT_GBS.items()},
    )


def fp32_is_nominal(graph: Graph) -> bool:
    """Every fp32 tensor an op of `graph` produces is a NeuralNetwork layer's nominal fp32
    (held in fp16 on the Neural Engine and GPU: docs/evidence.md#dtype.fp32); False when any
    fp32 tensor comes from an ML program op (typed fp32 everywhere) or there are none."""
    nominal = False
    for op in graph.ops:
        if op.is_const or not any(t.dtype == "fp32" for t in op.outputs):
            continue
        if not op.attrs.get("nn_precision_unknown"):
            return False
        nominal = True
    return nominal


def hardware_for(
    graph: Graph, chip: ChipProfile | None, base: HardwareModel = NOMINAL
) -> HardwareModel:
    """`base` read for `graph` on `chip` (None: the chip-less defaults): the chip's Neural
    Engine dispatch and fp32 IO, and fp16 crossings between the ANE and the GPU when the
    graph's fp32 tensors are only NeuralNetwork-nominal (`HardwareModel.for_neuralnetwork`)."""
    hw = base if chip is None else base.for_chip(chip)
    return hw.for_neuralnetwork() if fp32_is_nominal(graph) else hw


def known_bytes(t: TensorInfo | None) -> int | None:
    """Bytes of `t` at its recorded dtype, or None when its size is unknown (no tensor, an
    unknown rank or dimension). The one definition of a tensor's size: `tensor_bytes` counts
    an unknown one as `UNKNOWN_TENSOR_BYTES`, and the estimate's problem builder reads each
    size once through this to both count it and note the op as unsized (GitHub issue 14)."""
    return None if t is None else t.nbytes


def tensor_bytes(t: TensorInfo | None, *, fp16: bool = False) -> int:
    """Bytes of `t` at its recorded dtype; `fp16`: an fp32 tensor counted as fp16 (what the ANE
    and GPU hold for NeuralNetwork layers, whose fp32 dtype is only nominal). A tensor of
    unknown size counts `UNKNOWN_TENSOR_BYTES`."""
    b = known_bytes(t)
    if b is None:
        return UNKNOWN_TENSOR_BYTES
    return b // 2 if fp16 and t is not None and t.dtype == "fp32" else b


def crossing_cost_ms(
    src: Device, dst: Device, nbytes: int, is_fp32: bool, hw: HardwareModel = NOMINAL
) -> float:
    """Estimated cost of moving one tensor from `src` to `dst` (0 when they are the same)."""
    return hw.crossing_ms(src, dst, nbytes, is_fp32)


def launch_cost_ms(prev: Device | None, dev: Device, hw: HardwareModel = NOMINAL) -> float:
    """Cost of starting a segment on `dev` after one on `prev` (None: the function's first
    segment, entered from the caller on the CPU, which also pays the per-prediction cost)."""
    if prev is None:
        return hw.predict_ms + (0.0 if dev is Device.CPU else hw.launch_ms[dev])
    return 0.0 if dev == prev else hw.launch_ms[dev]


@dataclass(frozen=True)
class OpCosts:
    """Per-op numbers the partitioner works on (arrays aligned with the op list given)."""

    flops: np.ndarray  # float64[n]
    act_bytes: np.ndarray  # float64[n]: run-time inputs and outputs (as the CPU holds them)
    act_bytes_accel: np.ndarray  # float64[n]: the same on the ANE and GPU (NN layers in fp16)
    weight_bytes: np.ndarray  # float64[n]: weights read (gathered rows for lookups)
    time_ms: np.ndarray  # float64[n, 3], columns in `DEVICE_COLUMNS` order
    ane_streamed: float = 1.0  # share of weight bytes the ANE streams from DRAM
    # bool[n] or None: folded into its producer's engine layer on the ANE (`fusion.py`)
    ane_fused: np.ndarray | None = None
    # float64[n] or None: bytes of the op's largest run-time input or output on the ANE
    act_max_accel: np.ndarray | None = None

    @property
    def bytes(self) -> np.ndarray:
        total: np.ndarray = self.act_bytes + self.weight_bytes
        return total


DEVICE_COLUMNS: tuple[Device, ...] = (Device.ANE, Device.GPU, Device.CPU)


def op_costs(
    ops: Sequence[Op],
    activations: Sequence[Sequence[TensorInfo | None]],
    weights: Sequence[Sequence[TensorInfo | None]],
    chip: ChipProfile,
    hw: HardwareModel = NOMINAL,
    ane_fused: np.ndarray | None = None,
) -> OpCosts:
    """Estimated time of every op on every processor (vectorised over ops).

    `activations[i]` are op i's inputs produced at run time, `weights[i]` those held in const
    ops. NeuralNetwork layers keep weights inside the layer: their `weight_shape` attribute is
    used instead (fp16, as the ANE and GPU run them: docs/evidence.md#dtype.fp32). NeuralNetwork
    layers run in fp16 on the ANE and GPU whatever their nominal fp32 dtype (hollance
    docs/16-bit.md, docs/evidence.md#dtype.fp32), so their activations are counted at fp16
    there and at fp32 on the CPU; `bytes` holds the CPU count. `ane_fused` marks the ops the
    Neural Engine compiler folds into their producer's layer (`fusion.epilogue_fused`).
    """
    n = len(ops)
    flops = np.empty(n)
    act = np.empty(n)
    act_accel = np.empty(n)
    act_max = np.empty(n)
    wbytes = np.zeros(n)
    for i, op in enumerate(ops):
        acts, ws = activations[i], weights[i]
        flops[i] = op_flops(op, [*acts, *ws])
        # Each tensor's bytes once (they were counted twice: GitHub issue 14).
        out_sizes = [tensor_bytes(t) for t in op.outputs]
        in_sizes = [tensor_bytes(t) for t in acts]
        out_b = sum(out_sizes)
        act[i] = sum(in_sizes) + out_b
        half = bool(op.attrs.get("nn_precision_unknown"))
        if half:
            sizes = [tensor_bytes(t, fp16=True) for t in (*acts, *op.outputs)]
            act_accel[i] = sum(sizes)
        else:
            sizes = in_sizes + out_sizes
            act_accel[i] = act[i]
        act_max[i] = max(sizes, default=0)
        if op.op_type in GATHER_TYPES:
            wbytes[i] = out_b  # the gathered rows of the table
        elif ws:
            wbytes[i] = sum(tensor_bytes(t) for t in ws)
        elif w := op.attrs.get("weight_shape"):
            wbytes[i] = 2 * elements(tuple(w))
        elif op.op_type in RECURRENT_GATES:  # NeuralNetwork recurrent layers: weights inside, fp16
            wbytes[i] = 2 * recurrent_weight_elements(op, acts)
    return costs_from_work(flops, act, act_accel, wbytes, chip, hw, ane_fused, act_max)


def costs_from_work(
    flops: np.ndarray,
    act_bytes: np.ndarray,
    act_bytes_accel: np.ndarray,
    weight_bytes: np.ndarray,
    chip: ChipProfile,
    hw: HardwareModel = NOMINAL,
    ane_fused: np.ndarray | None = None,
    act_max_accel: np.ndarray | None = None,
) -> OpCosts:
    """Per-device op times from each op's work (reused for other readings of the constants).

    On the ANE an op whose largest activation (`act_max_accel`) exceeds the on-chip working
    set streams its activations at the DRAM rate, others at the on-chip rate
    (docs/evidence.md#costs.ANE_WORKING_SET_MB).
    An op in `ane_fused` costs the ANE only its arithmetic and the read of its constants: it
    runs in the epilogue of its producer's engine layer, with no activation round trip and no
    layer of its own (docs/evidence.md#costs.EPILOGUE_FUSION).
    """
    rates = hw.rates(chip)
    total = float(weight_bytes.sum())
    # Weights that fit in the ANE's on-chip memory are not streamed again (ANE_RESIDENT_MB);
    # the whole model's weights are counted, as most models run on the ANE whole.
    streamed = 1.0 if total <= 0 else max(0.0, 1.0 - hw.ane_resident_mb * 1e6 / total)
    widen = {Device.ANE: streamed, Device.GPU: 1.0, Device.CPU: CPU_WEIGHT_WIDEN}
    time_ms = np.empty((len(flops), 3))
    for j, d in enumerate(DEVICE_COLUMNS):
        compute = flops / (rates.gflops[d] * 1e6)  # GFLOP/s -> FLOP per ms
        weights = weight_bytes * widen[d] / (rates.weight_gbs[d] * 1e6)  # GB/s -> bytes/ms
        moved = act_bytes if d is Device.CPU else act_bytes_accel
        acts = moved / (rates.act_gbs[d] * 1e6)
        if d is Device.ANE and act_max_accel is not None:
            spilled = act_max_accel > hw.ane_working_set_mb * 1e6
            acts = np.where(spilled, moved / (rates.weight_gbs[d] * 1e6), acts)
        time_ms[:, j] = np.maximum(np.maximum(compute, weights), acts) + hw.op_overhead_ms[d]
        if d is Device.ANE and ane_fused is not None:
            # the fold saves the activation round trip and the layer, not a constant's read
            time_ms[:, j] = np.where(ane_fused, np.maximum(compute, weights), time_ms[:, j])
    return OpCosts(
        flops, act_bytes, act_bytes_accel, weight_bytes, time_ms, streamed, ane_fused, act_max_accel
    )
