"""Does the layer tree scale linearly, and what does a 200k-op model cost to draw by layers?

    python benchmarks/layers.py                  # 20k vs 200k ops, best of 3
    python benchmarks/layers.py --small 2000 --large 20000 --repeat 1

Op records named like coremltools' torch frontend (``model_layers_12_self_attn_q_proj`` plus
converter-made ``transpose_7`` inside layers), 50 ops per layer, are grouped by
`analysis.layers.layer_tree`, flattened (`render.graphunits.layer_arrays`) and cut into the
graph view's units with the automatic opening (`auto_expanded`): the Python half of a report
page's layer work. Timed in CPU seconds, small and large back to back in one process; prints a
Markdown table and the ratio of large to small time. Linear work gives a ratio near large /
small (10x); the target is at most 15x. Exits 1 when it misses, so it can be scripted; not part
of the test suite (no timings in unit tests).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout first

from ane_notebook.analysis.layers import layer_tree, walk  # noqa: E402
from ane_notebook.placement.devices import DEVICE_ORDER, Device  # noqa: E402
from ane_notebook.render.graphunits import auto_expanded, layer_arrays, units  # noqa: E402
from ane_notebook.report import OpRecord  # noqa: E402

TARGET_RATIO = 15.0
PARTS = [f"self_attn_{p}_{k}" for p in ("q", "k", "v", "o") for k in range(6)] + [
    f"mlp_{p}_{k}" for p in ("up", "gate", "down") for k in range(8)
]  # 48 named ops, plus 2 converter-made ones: 50 per layer


def records(n_ops: int) -> list[OpRecord]:
    out: list[OpRecord] = []
    layer = 0
    while len(out) < n_ops:
        names = [f"model_layers_{layer}_{p}_cast_fp16" for p in PARTS]
        names[10:10] = [f"transpose_{2 * layer}", f"cast_{2 * layer + 1}"]
        for nm in names[: n_ops - len(out)]:
            dev = Device.CPU if "softmax" in nm or len(out) % 97 == 0 else Device.ANE
            out.append(
                OpRecord(
                    index=len(out),
                    name=nm,
                    op_type="linear",
                    function="main",
                    device=dev,
                    supported=tuple(DEVICE_ORDER),
                    reason="",
                    evidence=None,
                    est_time_ms=0.01,
                )
            )
        layer += 1
    return out


def run(ops: list[OpRecord]) -> tuple[float, int, int]:
    gc.collect()
    t0 = time.process_time()
    tree = layer_tree(ops)
    arrays = layer_arrays(tree)
    opened = auto_expanded(arrays, 0, len(ops))
    shown = len(units(arrays, 0, len(ops), opened))
    return time.process_time() - t0, sum(1 for _ in walk(tree)), shown


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=20_000)
    ap.add_argument("--large", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for n in (args.small, args.large):
        ops = records(n)
        best = min(run(ops) for _ in range(args.repeat))
        rows.append((n, *best))
    print("| ops | CPU s | µs per op | layer nodes | graph nodes shown |")
    print("|---:|---:|---:|---:|---:|")
    for n, t, nodes, shown in rows:
        print(f"| {n} | {t:.3f} | {1e6 * t / n:.1f} | {nodes} | {shown} |")
    ratio = rows[1][1] / max(rows[0][1], 1e-9)
    print(
        f"\nratio large/small: {ratio:.1f}x for {args.large / args.small:.0f}x the ops "
        f"(target <= {TARGET_RATIO:.0f}x)"
    )
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
