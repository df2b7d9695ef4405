"""`layer_tree` alone on the 50k benchmark model: a profiled report and a saved one (issue 14).

    python benchmarks/layer_tree.py                    # profiled under ALL, best of 5
    python benchmarks/layer_tree.py --report saved.json --repeat 7

Records loaded from JSON are slower to read fields from than profiled ones, so both are timed
(the saved report only when given). CPU seconds (`time.process_time`), best of `--repeat`.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # models.py; this checkout's ane_notebook first


def best_of(fn: Any, arg: Any, repeat: int) -> float:
    """The least CPU time of `repeat` calls of fn(arg), after one warm-up call."""
    fn(arg)
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.process_time()
        fn(arg)
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="50k", help="benchmark model (models.py label)")
    ap.add_argument("--units", default="ALL", help="compute units")
    ap.add_argument("--report", help="also time a saved report (to_json)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from models import model_file

    import ane_notebook as an
    from ane_notebook.analysis.layers import layer_tree
    from ane_notebook.report import load_report

    reports = {"profiled": an.profile(model_file(args.size), compute_units=args.units)}
    if args.report:
        reports["loaded"] = load_report(args.report)
    for label, report in reports.items():
        print(f"layer_tree {label}: {best_of(layer_tree, report, args.repeat) * 1000:.1f} ms CPU")


if __name__ == "__main__":
    main()
