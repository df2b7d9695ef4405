"""Where `profile()` spends its time, step by step (GitHub issue 14).

    python benchmarks/profile_steps.py                        # the 50k model under ALL, best of 2
    python benchmarks/profile_steps.py --size 10k --units CPU_AND_NE --repeat 3

Profiles a small model once (imports and first-call caches), then profiles the benchmark model
`--repeat` times with each step below wrapped in a CPU-time counter, and prints each step's best
inclusive time (steps nest: `estimate` holds `_build_problem`, which holds the rule checks, ...)
next to coremltools' `load_spec` of the same model, the floor the issue measures against. The
wrappers cost ~1 µs a call; no profiler runs, so the figures are the pipeline's own. Steps a tree
does not have are skipped, so a copy of this script in an older checkout measures that checkout.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # models.py; this checkout's ane_notebook first

P = "ane_notebook."
STEPS: list[tuple[str, str, tuple[str, ...]]] = [
    # (module, attribute, other modules that imported the same function by name)
    (P + "api", "load_model", ()),
    (P + "model.load", "graph_from_spec", ()),
    (P + "model.mlprogram", "add_ml_program", (P + "model.load",)),
    (P + "placement.estimate", "estimate", (P + "api",)),
    (P + "placement.estimate", "_build_problem", ()),
    (P + "placement.rules.engine", "support_for_graph", (P + "placement.estimate",)),
    (P + "placement.costs", "op_costs", (P + "placement.estimate",)),
    (P + "placement.fusion", "epilogue_fused", (P + "placement.estimate", P + "placement.costs")),
    (P + "placement.estimate", "partition", ()),
    (P + "placement.uncertainty", "alternatives", ()),
    (P + "placement.estimate", "cost_drivers", ()),
    (P + "report", "ProfileReport.from_placement", ()),
    (P + "report", "find_crossings", ()),
    (P + "report", "find_segments", ()),
]


def _wrap(acc: dict[str, float], module: str, attr: str, also: tuple[str, ...]) -> None:
    try:
        owner: Any = importlib.import_module(module)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        # From the class's __dict__: getattr would give a classmethod already bound.
        fn: Any = owner.__dict__[name] if path else getattr(owner, name)
    except (ImportError, AttributeError, KeyError):
        return  # a step this checkout does not have
    is_classmethod = isinstance(fn, classmethod)
    raw: Callable[..., Any] = fn.__func__ if is_classmethod else fn
    label = attr

    @functools.wraps(raw)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.process_time()
        try:
            return raw(*args, **kwargs)
        finally:
            acc[label] = acc.get(label, 0.0) + time.process_time() - t

    setattr(owner, name, classmethod(timed) if is_classmethod else timed)
    for other in also:
        mod = importlib.import_module(other)
        if getattr(mod, name, None) is raw:
            setattr(mod, name, timed)


def _load_spec_time(path: Path, repeat: int) -> float:
    """Best CPU time of coremltools' `load_spec` of `path` (the issue's reference)."""
    from coremltools.models.utils import load_spec

    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.process_time()
        load_spec(str(path))
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="50k", help="benchmark model (models.py label)")
    ap.add_argument("--units", default="ALL", help="compute units")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from models import model_file

    import ane_notebook as an

    path = model_file(args.size)
    an.profile(model_file("1k"), compute_units=args.units)  # imports, first-call caches
    floor = _load_spec_time(path, args.repeat)
    acc: dict[str, float] = {}
    for module, attr, also in STEPS:
        _wrap(acc, module, attr, also)
    best: dict[str, float] = {}
    totals = []
    for _ in range(args.repeat):
        acc.clear()
        gc.collect()
        t = time.process_time()
        an.profile(path, compute_units=args.units)
        totals.append(time.process_time() - t)
        for k, v in acc.items():
            best[k] = min(best.get(k, float("inf")), v)
    total = min(totals)
    print(
        f"profile {args.size} {args.units}: {total:.3f} s CPU (best of {args.repeat}), "
        f"{total / floor:.1f}x load_spec ({floor:.3f} s)"
    )
    for k, v in sorted(best.items(), key=lambda kv: -kv[1]):
        print(f"  {v:6.3f}  {v / floor:5.1f}x  {k}")


if __name__ == "__main__":
    main()
