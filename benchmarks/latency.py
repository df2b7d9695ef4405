"""Estimated vs published end-to-end prediction latency of public architectures.

    python benchmarks/latency.py              # every default case (builds missing models first)
    python benchmarks/latency.py --large      # also the multi-GB GPT-2 models (slow to build)
    python benchmarks/latency.py --only resnet50-a16,distilbert-opt-a15 --json out.json

Each case is a public architecture rebuilt with the MIL builder at the published input shape
(`archs.py`; random weights: placement and timing need none), converted with coremltools like a
real export (so it carries the converter's casts and op names), estimated with
`ane_notebook.placement.estimate` on the published chip and compute units, and compared with
the latency its source published. One set of constants serves every case (placement/costs.py,
placement/devices.py; sources in docs/evidence.md): nothing here is fitted per case.

Cases are `target` (modern OS and ML Program era, harness close to one prediction: they should
be within 1.5x) or `reference` (shown for honesty, outside the target for the reason given:
an older OS or format era, or a shape the source does not state).

Converted models are cached under ``<cache root>/benchmarks/latency/`` (the cache root is
``$ANE_NOTEBOOK_CACHE`` or the user cache folder), as benchmarks/models.py does; bump `VERSION`
when a builder changes. Building every default case takes ~10 minutes on 2 cores the first time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

VERSION = 1
TARGET = 1.5  # every target case should be within this factor of its published latency

# Sources (short forms; docs/evidence.md gives them in full).
S_CT_PAL = "apple/coremltools docs-guides/source/opt-palettization-perf.md (Xcode median, iOS 17)"
S_CT_QUANT = "apple/coremltools docs-guides/source/opt-quantization-perf.md (Xcode median)"
S_ANE_TF = "apple/ml-ane-transformers README + assets/xcode_performance_report_comparison.png"
S_MOBILEONE = "apple/ml-mobileone README (ModelBench app, iPhone 12 Pro)"
S_WOOLFEL = "woolfel/ml-macos-performance results.md (coreml-performance app loop, macOS 12)"
S_ANEMLL = "Anemll/anemll-bench Results.MD (ANE GB/s; latency = 1050.67 MB / GB/s)"
S_SMPANARO = "smpanaro/more-ane-transformers evals/SPEED.md @b44664c (M1 Pro; generate.py)"
S_ZOO = "vladimir-chernykh/coreml-model-zoo READMEs (coreml-performance app, iOS 13.5)"


@dataclass(frozen=True)
class Case:
    key: str
    arch: str
    params: dict[str, Any]
    chip: str
    units: str
    published_ms: float
    source: str
    tier: str = "target"  # "target" | "reference"
    note: str = ""
    large: bool = False  # multi-GB weights: built only with --large
    extra: dict[str, Any] = field(default_factory=dict)


CASES: tuple[Case, ...] = (
    # coremltools optimisation guides: fp16 torchvision models, compute units ALL.
    Case("resnet50-a16", "resnet", {"depth": 50}, "A16", "ALL", 1.52, S_CT_PAL),
    Case("resnet50-a17", "resnet", {"depth": 50}, "A17", "ALL", 1.38, S_CT_QUANT),
    Case("mobilenetv2-a16", "mobilenet_v2", {}, "A16", "ALL", 0.48, S_CT_PAL),
    Case("mobilenetv2-a17", "mobilenet_v2", {}, "A17", "ALL", 0.49, S_CT_QUANT),
    Case("mobilenetv3s-a16", "mobilenet_v3_small", {}, "A16", "ALL", 0.13, S_CT_PAL),
    # Apple's DistilBERT article: seq 128, batch 1, iPhone 13 Pro Max, CPU_AND_NE.
    Case(
        "distilbert-opt-a15", "distilbert", {"optimized": True}, "A15", "CPU_AND_NE", 3.48, S_ANE_TF
    ),
    Case(
        "distilbert-hf-a15",
        "distilbert",
        {"optimized": False},
        "A15",
        "CPU_AND_NE",
        9.89,
        S_ANE_TF,
        tier="reference",
        note="stock Hugging Face model: 38 of its 266 ops ran on the CPU and which ones is not "
        "published; the rebuild puts only the lookup, the mask and the output cast there",
    ),
    # MobileOne, ModelBench on iPhone 12 Pro (A14), default compute units (ALL).
    *(
        Case(
            f"mobileone-{v}-a14",
            "mobileone",
            {"variant": v},
            "A14",
            "ALL",
            ms,
            S_MOBILEONE,
            note="NeuralNetwork .mlmodel in the source; rebuilt as an ML program",
        )
        for v, ms in (("s0", 0.79), ("s1", 0.89), ("s2", 1.18), ("s3", 1.53), ("s4", 1.86))
    ),
    # DenseNet-121 on an M1 MacBook Air, the three compute-unit settings, same harness.
    *(
        Case(
            f"densenet121-m1-{u.lower()}",
            "densenet121",
            {},
            "M1",
            u,
            ms,
            S_WOOLFEL,
            tier="reference",
            note="macOS 12 and a NeuralNetwork .mlmodel (2021): an older OS and format era",
        )
        for u, ms in (("ALL", 1.80), ("CPU_AND_GPU", 16.0), ("CPU_ONLY", 17.1))
    ),
    # Llama-3-8B output layer streamed by the ANE (anemll-bench, macOS 15, CPU_AND_NE).
    *(
        Case(
            f"lm-head-{chip.lower()}",
            "lm_head",
            {},
            chip,
            "CPU_AND_NE",
            round(1050.67 / gbs, 1),
            S_ANEMLL,
            note=f"derived from the published {gbs} GB/s",
        )
        for chip, gbs in (("M1", 60.87), ("M2", 60.45), ("M3", 63.10), ("M4", 64.18))
    ),
    # GPT-2, full 512-token forward on the ANE, M1 Pro (same Neural Engine as M1; our M1 profile).
    Case(
        "gpt2-m1pro",
        "gpt2",
        {"size": "gpt2"},
        "M1",
        "CPU_AND_NE",
        69.0,
        S_SMPANARO,
        tier="reference",
        note="'partly on the CPU' in the source, which part is not stated; M1 Pro as M1",
    ),
    Case(
        "gpt2-medium-m1pro",
        "gpt2",
        {"size": "gpt2-medium"},
        "M1",
        "CPU_AND_NE",
        103.0,
        S_SMPANARO,
        note="M1 Pro as M1 (same ANE)",
    ),
    Case(
        "gpt2-large-m1pro",
        "gpt2",
        {"size": "gpt2-large"},
        "M1",
        "CPU_AND_NE",
        210.0,
        S_SMPANARO,
        note="M1 Pro as M1 (same ANE)",
        large=True,
    ),
    # A13 (iPhone 11 Pro), iOS 13.5, NeuralNetwork models, three compute-unit settings.
    *(
        Case(
            f"{arch_key}-a13-{u.lower()}",
            arch,
            params,
            "A13",
            u,
            ms,
            S_ZOO,
            tier="reference",
            note="iOS 13.5 and NeuralNetwork .mlmodel (2020): an older OS and format era",
        )
        for arch_key, arch, params, rows in (
            (
                "resnet50",
                "resnet",
                {"depth": 50},
                (("ALL", 10.0), ("CPU_AND_GPU", 50.0), ("CPU_ONLY", 70.0)),
            ),
            (
                "mobilenetv2",
                "mobilenet_v2",
                {},
                (("ALL", 4.0), ("CPU_AND_GPU", 14.0), ("CPU_ONLY", 17.0)),
            ),
        )
        for u, ms in rows
    ),
)


# --------------------------------------------------------------------------------------------
# Building (cached)


def cache_dir() -> Path:
    from ane_notebook.model.examples import cache_root

    return cache_root() / "benchmarks" / "latency"


def _model_key(arch: str, params: dict[str, Any]) -> str:
    import archs

    tail = "-".join(f"{k}={params[k]}" for k in sorted(params))
    version = f"{VERSION}" + (f".{archs.VERSIONS[arch]}" if arch in archs.VERSIONS else "")
    return f"{arch}{'-' + tail if tail else ''}-v{version}"


def model_path(arch: str, params: dict[str, Any]) -> Path:
    """The converted package of `arch` with `params`, built (and cached) if needed."""
    folder = cache_dir()
    final = folder / f"{_model_key(arch, params)}.mlpackage"
    if (final / "Manifest.json").is_file():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{arch}-", dir=folder))
    try:
        import archs
        import coremltools as ct

        from ane_notebook.model.convert import convert_quietly

        t0 = time.perf_counter()
        print(f"building {final.name} ...", file=sys.stderr, flush=True)
        prog = archs.build(arch, **params)
        built = tmp / final.name
        target = max(f.opset_version for f in prog.functions.values())
        convert_quietly(
            prog,
            convert_to="mlprogram",
            minimum_deployment_target=target or ct.target.iOS16,
            skip_model_load=True,
            package_dir=os.fspath(built),
        )
        try:
            os.rename(built, final)
        except OSError:  # another process built it first: keep theirs
            if not (final / "Manifest.json").is_file():
                raise
        print(f"  built in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class Row:
    case: Case
    est_ms: float
    low_ms: float
    high_ms: float
    ops: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.est_ms / self.case.published_ms

    @property
    def within(self) -> bool:
        return 1 / TARGET <= self.ratio <= TARGET


def run_case(case: Case, graphs: dict[str, Any]) -> Row:
    from ane_notebook.model.load import load_model
    from ane_notebook.placement.estimate import estimate
    from ane_notebook.report import ProfileReport

    key = _model_key(case.arch, case.params)
    if key not in graphs:
        graphs[key] = load_model(model_path(case.arch, case.params))
    graph = graphs[key]
    report = ProfileReport.from_placement(graph, estimate(graph, case.units, case.chip))
    s = report.summary()
    u = report.uncertainty
    low, high = u.est_total_ms if u is not None else (s.est_total_ms, s.est_total_ms)
    ops = {d.value: t.ops for d, t in s.per_device.items()}
    return Row(case, s.est_total_ms, low, high, ops)


def _fmt(ms: float) -> str:
    return f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def print_table(rows: list[Row]) -> None:
    print(
        "| case | chip | units | est. ms (range) | published ms | est/pub | within 1.5x | "
        "ops ANE/GPU/CPU | source |"
    )
    print("|---|---|---|---:|---:|---:|---|---|---|")
    for r in rows:
        c = r.case
        ok = ("yes" if r.within else "**no**") if c.tier == "target" else "(reference)"
        ops = "/".join(str(r.ops.get(d, 0)) for d in ("ANE", "GPU", "CPU"))
        note = f"; {c.note}" if c.note else ""
        print(
            f"| {c.key} | {c.chip} | {c.units} | {_fmt(r.est_ms)} ({_fmt(r.low_ms)}–"
            f"{_fmt(r.high_ms)}) | {_fmt(c.published_ms)} | {r.ratio:.2f} | {ok} | {ops} | "
            f"{c.source}{note} |"
        )
    target = [r for r in rows if r.case.tier == "target"]
    inside = sum(r.within for r in target)
    print(f"\ntarget cases within {TARGET}x: {inside}/{len(target)}")
    if target:
        import math

        logs = [abs(math.log(r.ratio)) for r in target]
        print(
            f"geometric mean error (target): {math.exp(sum(logs) / len(logs)):.2f}x; "
            f"worst {max(max(r.ratio, 1 / r.ratio) for r in target):.2f}x"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--large", action="store_true", help="also the multi-GB GPT-2 cases")
    ap.add_argument("--only", default="", help="comma-separated case keys")
    ap.add_argument("--json", default="", help="write every row to this file")
    args = ap.parse_args(argv)
    only = {k for k in args.only.split(",") if k}
    if only:
        cases = [c for c in CASES if c.key in only]
    else:
        cases = [c for c in CASES if args.large or not c.large]
    unknown = only - {c.key for c in CASES}
    if unknown:
        print(f"unknown case(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    graphs: dict[str, Any] = {}
    rows = [run_case(c, graphs) for c in cases]
    print_table(rows)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "case": r.case.key,
                        "chip": r.case.chip,
                        "units": r.case.units,
                        "est_ms": r.est_ms,
                        "range_ms": [r.low_ms, r.high_ms],
                        "published_ms": r.case.published_ms,
                        "ratio": r.ratio,
                        "tier": r.case.tier,
                        "ops": r.ops,
                        "source": r.case.source,
                        "note": r.case.note,
                    }
                    for r in rows
                ],
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
