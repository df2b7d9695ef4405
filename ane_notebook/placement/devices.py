"""Processors, compute-unit settings, evidence levels and chip profiles.

The chip table holds what the estimator needs to know about each Apple SoC: how fast each
processor is, how much memory bandwidth it has, and the Neural Engine capability gates of
`ane-rules.md` §A7. Every number names its source and evidence level; numbers we derived
ourselves say so (GUESS).
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
        """Processors this setting lets Core ML use (CPU_AND_NE never uses the GPU: coremltools
        docs-guides load-and-convert-model.md, OFFICIAL)."""
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
    """How strong the evidence behind a rule or a number is (ane-rules.md labels)."""

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
    ane_cores: int
    ane_tops: float  # Neural Engine TOPS at fp16 (Apple's launch figures; see CHIPS for int8 ones)
    gpu_tflops: float  # fp32 peak, TFLOPS (OFFICIAL where Apple published it, else GUESS)
    cpu_gflops: float  # effective BNNS rate, GFLOP/s (GUESS scaled from the RE anchor, costs.py)
    mem_bw_gbs: float  # unified memory bandwidth, GB/s
    # ANE capability gates (ane-rules.md §A7, RE: sbryngelson/ane-guide App. A)
    max_axis: int  # largest W/H/D extent the ANE accepts
    texture_engine: bool  # resize / crop_resize / resample / affine / reflect pad / hw gather
    ane_sort: bool  # topk / argsort / sort
    ane_trig: bool  # sin / cos / global argmax-argmin / random_uniform
    conv_kernel_max: int  # fp16 conv kernel width limit
    blockwise_native: bool  # blockwise weight streaming (else folded to fp16 at load)
    sources: str = ""


def _m(
    name: str, cores: int, tops: float, gpu: float, cpu: float, bw: float, gen: int, sources: str
) -> ChipProfile:
    """Build a profile; `gen` is the ANE family of §A7 (1 = M1-class ... 4 = M4/M5-class)."""
    return ChipProfile(
        name=name,
        ane_cores=cores,
        ane_tops=tops,
        gpu_tflops=gpu,
        cpu_gflops=cpu,
        mem_bw_gbs=bw,
        max_axis=65536 if gen >= 4 else 16384,
        texture_engine=gen >= 2,
        ane_sort=gen >= 2,
        ane_trig=gen >= 3,
        conv_kernel_max=13 if gen <= 1 else 16,
        blockwise_native=gen >= 3,
        sources=sources,
    )


_APPLE = "Apple launch pages/press releases (OFFICIAL)"
_GUESS_A = "ANE family mapping of A-series to §A7 columns is GUESS (ane-rules.md §A7 note)"

# ANE TOPS and memory bandwidth for M-series: Apple newsroom launch releases (M1 2020: 11 TOPS,
# 68.25 GB/s; M2 2022: 15.8 TOPS, 100 GB/s; M3 2023: 18 TOPS, 100 GB/s; M4 2024: 38 TOPS,
# 120 GB/s). GPU TFLOPS: M1 2.6 and M2 3.6 are Apple's; M3/M4 are community figures (GUESS).
# A-series TOPS: Apple launch events (A12 5, A13 6, A14 11, A15 15.8, A16 17, A17 Pro 35,
# A18 35). From A17 Pro and M4 on, Apple quotes int8 TOPS (35, 38) where earlier figures were
# fp16; the ANE runs fp16 activations (ane-rules.md §A1; int8-int8 compute is faster only from
# A17 Pro/M4, OFFICIAL coremltools opt-quantization-perf.md), so those chips are listed here
# at half their quoted figure (17.5, 19) to keep every chip on the same fp16 scale (GUESS: the
# 2:1 int8/fp16 ratio is the usual one, not published by Apple for these chips).
# A-series GPU and bandwidth are community teardown figures (GUESS).
# cpu_gflops: the RE planner anchor (CPU 20 GFLOP/s, ane-guide ch.5/18) scaled per generation
# by our GUESS of single-cluster BNNS throughput growth.
CHIPS: dict[str, ChipProfile] = {
    "A12": _m("A12", 8, 5.0, 0.5, 12.0, 34.0, 1, f"{_APPLE}; {_GUESS_A}"),
    "A13": _m("A13", 8, 6.0, 0.7, 14.0, 34.0, 1, f"{_APPLE}; {_GUESS_A}"),
    "A14": _m("A14", 16, 11.0, 0.8, 17.0, 34.0, 1, f"{_APPLE}; {_GUESS_A}"),
    "A15": _m("A15", 16, 15.8, 1.4, 19.0, 34.0, 2, f"{_APPLE}; {_GUESS_A}"),
    "A16": _m("A16", 16, 17.0, 1.8, 21.0, 51.0, 2, f"{_APPLE}; {_GUESS_A}"),
    "A17": _m("A17", 16, 17.5, 2.1, 23.0, 51.0, 3, f"{_APPLE}; {_GUESS_A}"),
    "A18": _m("A18", 16, 17.5, 2.2, 25.0, 60.0, 4, f"{_APPLE}; {_GUESS_A}"),
    "M1": _m("M1", 16, 11.0, 2.6, 20.0, 68.25, 1, _APPLE),
    "M2": _m("M2", 16, 15.8, 3.6, 23.0, 100.0, 2, _APPLE),
    "M3": _m("M3", 16, 18.0, 4.1, 26.0, 100.0, 3, f"{_APPLE}; GPU TFLOPS GUESS"),
    "M4": _m("M4", 16, 19.0, 4.3, 30.0, 120.0, 4, f"{_APPLE}; GPU TFLOPS GUESS"),
}

# M1 is the default: it is the chip most community measurements in ane-rules.md were made on,
# and its ANE gates are the strictest of the M family, so an op we place on the ANE there is
# likely placed there on newer Macs too.
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
