"""Every example's estimated placement, pinned op by op, on M1 and M4 under all four settings.

Speed work (GitHub issue 14) must not move a single op: this compares each op's device, the
segments and the crossings with tests/data/example_placements.json, both through `profile()`
and through the four-setting comparison (which shares work across settings). A deliberate
change to the rules or costs regenerates the file:

    python tests/test_example_placements.py --update
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ane_notebook.api import ALL_COMPUTE_UNITS, profile, profile_all_units
from ane_notebook.model.examples import EXAMPLES
from ane_notebook.report import ProfileReport

PINS = Path(__file__).parent / "data" / "example_placements.json"
CHIPS = ("M1", "M4")
_LETTER = {"ANE": "A", "GPU": "G", "CPU": "C"}


def fingerprint(r: ProfileReport) -> dict[str, Any]:
    """One letter per op (A/G/C, '.' for constants), the segments and the crossings."""
    return {
        "devices": "".join("." if o.device is None else _LETTER[o.device.value] for o in r.ops),
        "segments": [[s.device.value, s.start, s.end] for s in r.segments],
        "crossings": [[c.src, c.dst, c.tensor] for c in r.crossings],
    }


def current() -> dict[str, Any]:
    return {
        f"{name}/{chip}/{u.value}": fingerprint(
            profile(f"example:{name}", u, chip=chip, backend="estimate")
        )
        for name in EXAMPLES
        for chip in CHIPS
        for u in ALL_COMPUTE_UNITS
    }


@pytest.fixture(scope="module")
def pins() -> dict[str, Any]:
    return dict(json.loads(PINS.read_text()))


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_placement_is_pinned(name: str, pins: dict[str, Any]) -> None:
    for chip in CHIPS:
        for u in ALL_COMPUTE_UNITS:
            got = fingerprint(profile(f"example:{name}", u, chip=chip, backend="estimate"))
            assert got == pins[f"{name}/{chip}/{u.value}"], f"{name} {chip} {u.value}"


@pytest.mark.parametrize("name", ["transformer", "lstm", "control_flow"])
def test_comparison_gives_the_same_placements(name: str, pins: dict[str, Any]) -> None:
    for chip in CHIPS:
        for u, r in profile_all_units(f"example:{name}", chip=chip, backend="estimate").items():
            assert fingerprint(r) == pins[f"{name}/{chip}/{u.value}"], f"{name} {chip} {u}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        raise SystemExit("usage: python tests/test_example_placements.py --update")
    rows = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in current().items()]
    PINS.write_text("{\n" + ",\n".join(rows) + "\n}\n", encoding="utf-8")
    print(f"wrote {PINS}")
