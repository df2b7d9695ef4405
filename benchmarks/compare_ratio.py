"""The compare row of GitHub issue 14: four settings side by side against one `profile()`.

    python benchmarks/compare_ratio.py                 # the 50k model, best of 3
    python benchmarks/compare_ratio.py --size 10k --repeat 5

Times `an.profile(path)` (ALL), `an.profile_all_units(path)` and
`an.profile_all_units(path, chip="M4")` in turn, `--repeat` rounds interleaved so that a slow
minute on a shared machine hits all three alike, and prints each one's best time and the two
ratios `benchmarks/run.py` reports (`all_units_s` and `all_units_m4_s` over `profile_s`; target
<= 1.5). Like run.py, each run starts after a `gc.collect()` with the previous result freed.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # models.py; this checkout's ane_notebook first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="50k")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from models import model_file

    import ane_notebook as an
    from ane_notebook import api  # noqa: F401

    path = model_file(args.size)
    an.profile_all_units(model_file("1k"))  # imports and first-call caches
    runs: dict[str, Callable[[], Any]] = {
        "profile": lambda: an.profile(path, compute_units="ALL"),
        "all_units": lambda: an.profile_all_units(path),
        "all_units_m4": lambda: an.profile_all_units(path, chip="M4"),
    }
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeat):
        for key, fn in runs.items():
            out = None
            gc.collect()
            t, c = time.perf_counter(), time.process_time()
            out = fn()
            wall[key].append(time.perf_counter() - t)
            cpu[key].append(time.process_time() - c)
            del out
    base_w, base_c = min(wall["profile"]), min(cpu["profile"])
    print(f"{args.size}, best of {args.repeat} (wall s / CPU s; ratio to profile)")
    for key in runs:
        w, c = min(wall[key]), min(cpu[key])
        print(f"  {key:<14} {w:7.3f} {c:7.3f}   {w / base_w:5.2f}x {c / base_c:5.2f}x")


if __name__ == "__main__":
    main()
