"""Compare two reports of the same model: per-op agreement and the differences.

Works for any pair: estimate vs live Core ML, two compute-unit settings, two chips, or two
versions of a model (ops are matched by function and name; ops only in one report are listed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .escape import plain
from .placement.devices import Device

if TYPE_CHECKING:
    from .report import ProfileReport


@dataclass(frozen=True)
class OpDifference:
    function: str
    name: str
    op_type: str
    device_a: Device | None
    device_b: Device | None
    reason_a: str
    reason_b: str


@dataclass(frozen=True)
class Comparison:
    label_a: str
    label_b: str
    matched: int  # ops (non-const) present in both
    agreeing: int
    differences: tuple[OpDifference, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]

    @property
    def agreement(self) -> float:
        """Fraction of matched ops placed on the same device (1.0 when nothing matched)."""
        return self.agreeing / self.matched if self.matched else 1.0

    def to_text(self, max_rows: int = 20) -> str:
        """The agreement and the ops placed differently, at most TEXT_WIDTH columns a line."""
        from .compareset import wrap_line  # local: compareset imports this module's users

        lines = wrap_line(
            f"{plain(self.label_a)} vs {plain(self.label_b)}: {self.agreeing}/{self.matched}"
            f" ops on the same device ({100 * self.agreement:.1f}%; ops that run in both, "
            "const ops not counted)"
        )
        if self.only_a or self.only_b:
            lines += wrap_line(
                f"  ops only in {plain(self.label_a)}: {len(self.only_a)}; only in "
                f"{plain(self.label_b)}: {len(self.only_b)}"
            )
        for d in self.differences[:max_rows]:
            a = d.device_a.value if d.device_a else "-"
            b = d.device_b.value if d.device_b else "-"
            lines += wrap_line(
                f"  {plain(d.name, 40):<40} {plain(d.op_type, 20):<20} {a:>3} -> {b:<3}"
                f"  {plain(d.reason_b or d.reason_a, 300)}"
            )
        if len(self.differences) > max_rows:
            lines.append(f"  ... {len(self.differences) - max_rows} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """How IPython and Jupyter show a comparison: its text (the protocol needs no import)."""
        p.text(self.to_text())


def label_of(r: ProfileReport) -> str:
    return f"{r.source}/{r.compute_units.value}/{r.chip}"


def compare(
    a: ProfileReport, b: ProfileReport, label_a: str | None = None, label_b: str | None = None
) -> Comparison:
    """Per-op agreement between two reports; ops matched by (function, name).

    >>> import ane_notebook as an
    >>> c = an.compare(an.profile("example:lstm", compute_units="CPU_ONLY"),
    ...                an.profile("example:lstm", compute_units="ALL"))
    >>> c.matched > 0
    True
    """
    ops_b = {(o.function, o.name): o for o in b.ops if not o.is_const}
    keys_a: set[tuple[str, str]] = set()
    diffs: list[OpDifference] = []
    only_a: list[str] = []
    agreeing = 0
    for o in a.ops:
        if o.is_const:
            continue
        key = (o.function, o.name)
        keys_a.add(key)
        ob = ops_b.get(key)
        if ob is None:
            only_a.append(o.name)
            continue
        if o.device == ob.device:
            agreeing += 1
        else:
            diffs.append(
                OpDifference(
                    o.function, o.name, o.op_type, o.device, ob.device, o.reason, ob.reason
                )
            )
    only_b = [k[1] for k in ops_b if k not in keys_a]
    matched = len(keys_a) - len(only_a)
    return Comparison(
        label_a or label_of(a),
        label_b or label_of(b),
        matched,
        agreeing,
        tuple(diffs),
        tuple(only_a),
        tuple(only_b),
    )
