"""Agreement of the estimator with published Core ML placements, as a table.

    python benchmarks/accuracy.py

Reads tests/data/published/*.json (sources and caveats in its README) and prints, per fixture,
how many ops the estimate puts on the same device as Core ML did, then a confusion table.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from published import CONTEXT, _expanded, load_fixture, score_all  # noqa: E402


def main() -> None:
    scores = score_all()
    print("| fixture | model | chip | units | agree | ops | % |")
    print("|---|---|---|---|---:|---:|---:|")
    for s in scores:
        ctx = CONTEXT[s.fixture]
        print(
            f"| {s.fixture} | {s.model[:40]} | {ctx.chip} | {ctx.compute_units.value} | "
            f"{s.agreeing} | {s.scored} | {100 * s.agreement:.1f} |"
        )
    scored = sum(s.scored for s in scores)
    agreeing = sum(s.agreeing for s in scores)
    ops = [o for name in CONTEXT for o in _expanded(load_fixture(name)["ops"])]
    all_ane = sum(o["device"] == "ANE" for o in ops)
    pct = 100 * agreement_pct(agreeing, scored)
    print(f"| **all** | | | | **{agreeing}** | **{scored}** | **{pct:.1f}** |")
    print(
        f"\nbaseline 'every op on the ANE': {all_ane}/{len(ops)} ({100 * all_ane / len(ops):.1f}%)"
    )
    published = Counter(o["device"] for o in ops)
    missed = Counter(m.split("published ")[1].split(",")[0] for s in scores for m in s.misses)
    print("\npublished device | ops | estimated differently")
    for dev in ("ANE", "GPU", "CPU"):
        print(f"{dev:>16} | {published[dev]:>3} | {missed[dev]}")
    print("\nmisses:")
    for s in scores:
        for m in s.misses:
            print(f"  {s.fixture}: {m}")


def agreement_pct(agreeing: int, scored: int) -> float:
    return agreeing / scored if scored else 1.0


if __name__ == "__main__":
    main()
