"""Processors, compute-unit settings, evidence levels and chip profiles.

The chip table holds what the estimator needs to know about each Apple SoC: how fast each
processor is, how much memory bandwidth it has, and the Neural Engine capability gates. Every
number cites its section of `docs/evidence.md` (source, evidence level, what was measured);
numbers we derived ourselves say so (GUESS).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..errors import UsageError


class Device(str, Enum):
    """A processor Core ML can dispatch to."""

    ANE = "ANE"
    GPU = "GPU"
    CPU = "CPU"

    def __str__(self) -> str:
        return self.value


# Lane order used in text and diagrams: top to bottom.
DEVICE_ORDER: tuple[Device, ...] = (Device.ANE, Device.GPU, Device.CPU)

# What people call each processor, in every text, table and diagram.
DEVICE_LABEL: dict[Device, str] = {
    Device.ANE: "Neural Engine",
    Device.GPU: "GPU",
    Device.CPU: "CPU",
}


class ComputeUnits(str, Enum):
    """Core ML's compute-unit settings (coremltools.ComputeUnit)."""

    CPU_ONLY = "CPU_ONLY"
    CPU_AND_GPU = "CPU_AND_GPU"
    CPU_AND_NE = "CPU_AND_NE"
    ALL = "ALL"

    def __str__(self) -> str:
        return self.value

    @property
    def devices(self) -> frozenset[Device]:
        """Processors this setting lets Core ML use (CPU_AND_NE never uses the GPU:
        docs/evidence.md#devices.ComputeUnits; coremltools load-and-convert-model.md)."""
        return _UNIT_DEVICES[self]

    @classmethod
    def parse(cls, value: Any) -> ComputeUnits:
        """Accept a ComputeUnits, a coremltools.ComputeUnit, or a name such as "cpu_and_ne"."""
        if isinstance(value, cls):
            return value
        name = getattr(value, "name", value)  # coremltools.ComputeUnit is an Enum
        if isinstance(name, str):
            key = name.strip().upper().replace("-", "_").replace("ANE", "NE")
            aliases = {
                "CPU": "CPU_ONLY",
                "CPU_AND_ANE": "CPU_AND_NE",
                "CPU_NE": "CPU_AND_NE",
                "CPU_GPU": "CPU_AND_GPU",
            }
            key = aliases.get(key, key)
            if key in cls.__members__:
                return cls[key]
        choices = ", ".join(cls.__members__)
        raise UsageError(f"unknown compute units {value!r}; choose one of {choices}")


_UNIT_DEVICES: dict[ComputeUnits, frozenset[Device]] = {
    ComputeUnits.CPU_ONLY: frozenset({Device.CPU}),
    ComputeUnits.CPU_AND_GPU: frozenset({Device.CPU, Device.GPU}),
    ComputeUnits.CPU_AND_NE: frozenset({Device.CPU, Device.ANE}),
    ComputeUnits.ALL: frozenset({Device.CPU, Device.GPU, Device.ANE}),
}


class Evidence(str, Enum):
    """How strong the evidence behind a rule or a number is (docs/evidence.md explains each)."""

    OFFICIAL = "official"  # Apple: docs, research, Apple repos, maintainers (OFF)
    COMMUNITY = "community-measured"  # measured on Core ML by the community (CML/CAI)
    REVERSE = "reverse-engineered"  # decompiled / direct ANE path (RE/DIR)
    GUESS = "guess"  # speculation, ours or the source's

    def __str__(self) -> str:
        return self.value


# Ordering from weakest to strongest, for "the weakest evidence behind this decision".
EVIDENCE_RANK: dict[Evidence, int] = {
    Evidence.GUESS: 0,
    Evidence.REVERSE: 1,
    Evidence.COMMUNITY: 2,
    Evidence.OFFICIAL: 3,
}


@dataclass(frozen=True)
class ChipProfile:
    """What the estimator knows about one SoC.

    Throughputs are *effective* rates for Core ML work, not marketing peaks: see
    `placement/costs.py` for how they are derived and cited.
    """

    name: str
    # Each field's section of docs/evidence.md is devices.<field>.
    ane_cores: int
    ane_tops: float  # Neural Engine TOPS at fp16 (Apple's launch figures; see CHIPS for int8 ones)
    gpu_tflops: float  # GPU fp16 peak, TFLOPS (see CHIPS)
    cpu_gflops: float  # effective Core ML CPU (BNNS) rate on large ops, GFLOP/s (see CHIPS)
    mem_bw_gbs: float  # unified memory bandwidth, GB/s
    ane_gbs: float  # DRAM rate the Neural Engine streams weights at, GB/s (see CHIPS)
    ane_launch_ms: float  # one Core ML dispatch to the Neural Engine, ms (see CHIPS)
    ane_fp32_io: bool  # fp32 tensors reach the Neural Engine at the fp16 rate (see `_m`)
    # ANE capability gates (RE: sbryngelson/ane-guide:appendices/a-op-device-matrix.md; gen in _m)
    max_axis: int  # largest W/H/D extent the ANE accepts
    texture_engine: bool  # resize / crop_resize / resample / affine / reflect pad / hw gather
    ane_sort: bool  # topk / argsort / sort
    ane_trig: bool  # sin / cos / global argmax-argmin / random_uniform
    conv_kernel_max: int  # fp16 conv kernel width one ANE call takes
    blockwise_native: bool  # blockwise weight streaming (else folded to fp16 at load)
    sources: str = ""


def _m(
    name: str,
    cores: int,
    tops: float,
    gpu: float,
    cpu: float,
    bw: float,
    ane_bw: float,
    gen: int,
    sources: str,
) -> ChipProfile:
    """Build a profile; `gen` is the ANE family (1 = M1-class ... 4 = M4/M5-class,
    docs/evidence.md#devices.family)."""
    return ChipProfile(
        name=name,
        ane_cores=cores,
        ane_tops=tops,
        gpu_tflops=gpu,
        cpu_gflops=cpu,
        mem_bw_gbs=bw,
        ane_gbs=ane_bw,
        ane_launch_ms=ANE_LAUNCH_MS_BY_FAMILY[1 if gen <= 1 else 2],
        # M4-class: fp32<->fp16 boundary casts were measured ANE-preferred (COMMUNITY,
        # vx-lang/Vx#435, M4), which a cost-minimising planner only does if an fp32 tensor
        # reaches the ANE as cheaply as the fp16 one a CPU cast would send (GUESS, inferred).
        ane_fp32_io=gen >= 4,
        max_axis=65536 if gen >= 4 else 16384,
        texture_engine=gen >= 2,
        ane_sort=gen >= 2,
        ane_trig=gen >= 3,
        conv_kernel_max=13 if gen <= 1 else 16,
        blockwise_native=gen >= 3,
        sources=sources,
    )


# One Core ML dispatch to the Neural Engine (ms), by ANE family
# (docs/evidence.md#devices.ane_launch_ms). M1-class (A12-A14, M1): "near
# 0.2 ms" (COMMUNITY, aosama/astronomical#540), the direct-path floor 0.19-0.23 ms on M1 (RE,
# ane-guide ch.2). Later chips: 0.02 ms (GUESS, bounded): everything in a MobileNetV2
# prediction on A16 that does not scale with the activations' width, dispatch included, takes
# <= 0.06 ms (its fp16 and int8-activation latencies, 0.48 and 0.27 ms, OFFICIAL coremltools
# opt-quantization-perf.md; docs/evidence.md#calibration). The direct path measures ~0.1 ms on
# M4/M5 (DIR/RE): Core ML's own dispatch does better.
ANE_LAUNCH_MS_BY_FAMILY: dict[int, float] = {1: 0.2, 2: 0.02}

_APPLE = "Apple launch pages/press releases (OFFICIAL)"
_GUESS_A = "ANE family mapping of A-series chips is GUESS (docs/evidence.md#devices.family)"
_ANEMLL = "ANE GB/s: Anemll/anemll-bench Results.MD (COMMUNITY)"
_TURNER = "GPU fp16 TFLOPS: philipturner/metal-benchmarks (COMMUNITY)"

# Sources and evidence of every column; each has its section in docs/evidence.md:
# docs/evidence.md#devices.ane_cores, docs/evidence.md#devices.ane_tops,
# docs/evidence.md#devices.gpu_tflops, docs/evidence.md#devices.cpu_gflops,
# docs/evidence.md#devices.mem_bw_gbs, docs/evidence.md#devices.ane_gbs,
# docs/evidence.md#devices.ane_fp32_io, and for the gates docs/evidence.md#devices.max_axis,
# docs/evidence.md#devices.texture_engine, docs/evidence.md#devices.ane_sort,
# docs/evidence.md#devices.ane_trig, docs/evidence.md#devices.conv_kernel_max,
# docs/evidence.md#devices.blockwise_native.
# * ane_tops: Apple launch figures (M1 2020: 11 TOPS; M2 15.8; M3 18; M4 38; A12 5, A13 6,
#   A14 11, A15 15.8, A16 17, A17 Pro 35, A18 35). From A17 Pro and M4 on, Apple quotes int8
#   TOPS where earlier figures were fp16; the ANE runs fp16 activations
#   (docs/evidence.md#dtype.fp32; int8-int8 compute is faster only from A17 Pro/M4, OFFICIAL
#   coremltools opt-quantization-perf.md), so those chips are listed at half their quoted
#   figure (17.5, 19): M4 measured 18.6 fp16 TFLOPS on the direct path (DIR, maderix/ANE README).
# * gpu_tflops, fp16 peak: philipturner/metal-benchmarks (A12 1.16, A13 1.26, A14 1.31, A15
#   1.71, A16 1.79, M1 2.62, M2 3.58; fp16 runs at twice the fp32 rate up to A14); A17 Pro 2.15,
#   A18 1.86, M3 3.58, M4 3.76 are community database figures for the base parts (GUESS).
# * cpu_gflops, the effective BNNS rate on large ops under Core ML, derived from published
#   CPU_ONLY latencies: DenseNet-121 on M1 0.34 TFLOP/s (woolfel/ml-macos-performance),
#   ResNet-50 on A13 0.12 (coreml-model-zoo, iOS 13), DistilBERT on M1 Pro 0.18-0.41
#   (smpanaro NOTES); other chips scaled by generation (GUESS). M4's cores add SME matrix
#   units: a saturated fp32 matmul reaches ~1.9 TFLOP/s on M5's (RE, ane-guide ch.9), so M4 is
#   taken at about half of that (GUESS); single-op SDPA models of 0.5-17 GFLOP are
#   CPU-preferred on M4 (COMMUNITY, vx-lang/Vx#437), which a slower CPU would not give.
# * mem_bw_gbs: Apple (M1 68.25, M2 100, M3 100, M4 120 GB/s); A-series from their LPDDR
#   generation (GUESS).
# * ane_gbs: what the Neural Engine streams fp16 weights at under Core ML, measured on the
#   Llama-3 output layer (COMMUNITY, anemll-bench: M1 60.87, M2 60.45, M3 63.10, M4 64.18 GB/s,
#   not the system bandwidth); A-series GUESS at M1's 0.89 of system bandwidth.
CHIPS: dict[str, ChipProfile] = {
    "A12": _m("A12", 8, 5.0, 1.16, 100.0, 34.0, 30.0, 1, f"{_APPLE}; {_GUESS_A}"),
    "A13": _m("A13", 8, 6.0, 1.26, 120.0, 34.0, 30.0, 1, f"{_APPLE}; {_GUESS_A}"),
    "A14": _m("A14", 16, 11.0, 1.31, 200.0, 34.0, 30.0, 1, f"{_APPLE}; {_GUESS_A}"),
    "A15": _m("A15", 16, 15.8, 1.71, 230.0, 34.0, 30.0, 2, f"{_APPLE}; {_GUESS_A}"),
    "A16": _m("A16", 16, 17.0, 1.79, 250.0, 51.0, 45.0, 2, f"{_APPLE}; {_GUESS_A}"),
    "A17": _m("A17", 16, 17.5, 2.15, 280.0, 51.0, 45.0, 3, f"{_APPLE}; {_GUESS_A}"),
    "A18": _m("A18", 16, 17.5, 1.86, 300.0, 60.0, 53.0, 4, f"{_APPLE}; {_GUESS_A}"),
    "M1": _m("M1", 16, 11.0, 2.62, 300.0, 68.25, 60.87, 1, f"{_APPLE}; {_ANEMLL}; {_TURNER}"),
    "M2": _m("M2", 16, 15.8, 3.58, 340.0, 100.0, 60.45, 2, f"{_APPLE}; {_ANEMLL}; {_TURNER}"),
    "M3": _m("M3", 16, 18.0, 3.58, 380.0, 100.0, 63.10, 3, f"{_APPLE}; {_ANEMLL}; GPU GUESS"),
    "M4": _m("M4", 16, 19.0, 3.76, 1000.0, 120.0, 64.18, 4, f"{_APPLE}; {_ANEMLL}; GPU GUESS"),
}

# M1 is the default: it is the chip most community measurements were made on, and its ANE
# gates are the strictest of the M family, so an op we place on the ANE there is likely placed
# there on newer Macs too (docs/evidence.md#devices.DEFAULT_CHIP).
DEFAULT_CHIP = "M1"


def get_chip(name: str | ChipProfile | None) -> ChipProfile:
    """Look a chip up by name ("M1", "a17", "A17 Pro", "M4 Max" -> M4); None gives the default."""
    if isinstance(name, ChipProfile):
        return name
    if name is None:
        return CHIPS[DEFAULT_CHIP]
    if not isinstance(name, str):
        raise UsageError(
            f"unknown chip {name!r} (a {type(name).__name__}); give a name such as "
            f"{', '.join(CHIPS)}"
        )
    key = name.strip().upper().replace("APPLE", "").strip()
    key = key.split()[0] if key else key  # "M4 MAX" -> "M4", "A17 PRO" -> "A17"
    if key in CHIPS:
        return CHIPS[key]
    raise UsageError(f"unknown chip {name!r}; choose one of {', '.join(CHIPS)}")


def known_chip(name: str | None) -> ChipProfile | None:
    """The profile `get_chip` finds for `name`, or None when it knows no such chip (a plan
    recorded on hardware this table does not list)."""
    try:
        return get_chip(name) if name else None
    except UsageError:
        return None
