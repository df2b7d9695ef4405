"""Is ALL ever estimated slower than a subset of it? (issue 10 §3)

    python benchmarks/consistency.py                   # examples + 1k, 10k, 50k on M1, A16, M4
    python benchmarks/consistency.py --sizes 1k,10k --chips M1

For each model and chip, prints the estimated one-prediction total (`est_total_ms` of the
report) under every compute-unit setting, the ops per processor, and whether ALL is at most
every subset (CPU_AND_NE, CPU_AND_GPU, CPU_ONLY), which the partitioner guarantees by
construction (`placement/partition.py`). The synthetic models are those of benchmarks/models.py
(built and cached on first use). Exits 1 if any row is inconsistent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

UNITS = ("ALL", "CPU_AND_NE", "CPU_AND_GPU", "CPU_ONLY")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1k,10k,50k", help="synthetic models (benchmarks/models.py)")
    ap.add_argument("--chips", default="M1,A16,M4")
    ap.add_argument("--no-examples", action="store_true")
    args = ap.parse_args(argv)

    from ane_notebook.model.examples import EXAMPLES, example_path
    from ane_notebook.model.load import load_model
    from ane_notebook.placement.estimate import estimate
    from ane_notebook.report import ProfileReport

    labels: list[tuple[str, Path]] = []
    if not args.no_examples:
        labels += [(name, example_path(name)) for name in sorted(EXAMPLES)]
    sizes = [s for s in args.sizes.split(",") if s]
    if sizes:
        import models

        labels += [(f"llm_{s}", models.model_path(s)) for s in sizes]
    chips = [c for c in args.chips.split(",") if c]

    print(
        "| model | chip | "
        + " | ".join(f"{u} ms (A/G/C ops)" for u in UNITS)
        + " | ALL <= subsets |"
    )
    print("|---|---|" + "---:|" * len(UNITS) + "---|")
    bad = 0
    for label, path in labels:
        graph = load_model(path)
        for chip in chips:
            cells, totals = [], {}
            for units in UNITS:
                t0 = time.perf_counter()
                report = ProfileReport.from_placement(graph, estimate(graph, units, chip))
                dt = time.perf_counter() - t0
                s = report.summary()
                totals[units] = s.est_total_ms
                counts = "/".join(str(s.per_device[d].ops) for d in s.per_device)
                cells.append(f"{s.est_total_ms:.3f} ({counts}) [{dt:.2f} s]")
            ok = all(totals["ALL"] <= totals[u] + 1e-9 for u in UNITS[1:])
            bad += not ok
            print(
                f"| {label} | {chip} | " + " | ".join(cells) + f" | {'yes' if ok else '**no**'} |"
            )
    print(f"\ninconsistent rows: {bad}  (times in [brackets]: estimate + report, this run)")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
