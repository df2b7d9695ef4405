"""The placement of every op, whichever backend produced it, and the decisions as data.

All three sources (`estimate`, `coreml`, `recorded`) return a `Placement`: one `OpPlacement` per
graph op, in graph order, plus a `PlacementSource` that travels with every number derived from
it. Why an op is where it is travels as a `ReasonKind` beside the sentence people read: code
(fixes, the recorded-plan check, the not-on-ANE table, `check`) switches on the kind and never
matches the sentence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .devices import DEVICE_ORDER, ComputeUnits, Device, Evidence


class PlacementSource(str, Enum):
    """Where a placement came from. Shown with every number derived from it."""

    ESTIMATE = "estimate"  # rules + cost model + partitioner, anywhere: not a measurement
    COREML = "coreml"  # Core ML's own compute plan, live on macOS
    RECORDED = "recorded"  # a Core ML plan recorded on a Mac, replayed

    def __str__(self) -> str:
        return self.value

    @property
    def is_measured_plan(self) -> bool:
        """True when the placement is Core ML's own (live or replayed), not our estimate."""
        return self is not PlacementSource.ESTIMATE


class Backend(str, Enum):
    """The `backend=` choices of `profile()`: a source, or `auto` (coreml where it runs)."""

    AUTO = "auto"
    ESTIMATE = "estimate"
    COREML = "coreml"
    RECORDED = "recorded"

    def __str__(self) -> str:
        return self.value


class ReasonKind(str, Enum):
    """Why an op is on its device, as data (the sentence beside it is for people)."""

    ON_ANE = "on_ane"  # on the Neural Engine
    RULE = "rule"  # estimate: a support rule keeps it off the Neural Engine
    COMPUTE_UNITS = "compute_units"  # the compute-unit setting excludes the Neural Engine
    COST_MODEL = "cost_model"  # estimate: the ANE could run it; the cost model chose otherwise
    CONSTANT = "constant"  # a const op: holds weights, no processor runs it
    COREML_PREFERRED = "coreml_preferred"  # Core ML supports the ANE for it but preferred another
    COREML_UNSUPPORTED = "coreml_unsupported"  # Core ML's plan does not list the ANE as supported
    NOT_IN_PLAN = "not_in_plan"  # Core ML's plan does not name this op
    NO_USAGE = "no_usage"  # Core ML's plan names the op but gives no device for it
    FUNCTION_NOT_PLANNED = "function_not_planned"  # no plan was made with the op's function loaded

    def __str__(self) -> str:
        return self.value

    @property
    def is_plan_gap(self) -> bool:
        """The op runs but the plan placed it nowhere: a mismatch worth a visible warning."""
        return self in (
            ReasonKind.NOT_IN_PLAN,
            ReasonKind.NO_USAGE,
            ReasonKind.FUNCTION_NOT_PLANNED,
        )


class CostDriver(str, Enum):
    """For a cost-model decision (`ReasonKind.COST_MODEL`): which cost kept the op off the
    Neural Engine, from the change in estimated time if it alone moved there."""

    DISPATCH = "dispatch"  # it would need an ANE dispatch of its own, more than its work saves
    CROSSINGS = "crossings"  # more bytes (or fp32 bytes) would cross between processors
    WORK = "work"  # it runs faster where it is
    SEGMENT = "segment"  # alone it would gain; it stays with its segment (the search moves runs)

    def __str__(self) -> str:
        return self.value


# One sentence for const ops, whatever the source.
CONSTANT_REASON = "constant: holds weights, no processor runs it"


def derive_reason_kind(
    *,
    source: PlacementSource,
    device: Device | None,
    is_const: bool,
    supported: frozenset[Device] | tuple[Device, ...],
    compute_units: ComputeUnits,
    rule_excludes_ane: bool,
) -> ReasonKind:
    """The kind of a placement from its structured fields alone (never from its text).

    Used for reports written before kinds existed (report format version 1), where only the
    device, the supported devices, the rules that fired and the compute units were recorded.
    Ops a plan did not place cannot be told apart from ops the plan gave no usage for; both
    read as `NOT_IN_PLAN`.
    """
    if is_const:
        return ReasonKind.CONSTANT
    if device is Device.ANE:
        return ReasonKind.ON_ANE
    if device is None:
        return ReasonKind.NOT_IN_PLAN
    if Device.ANE not in compute_units.devices:
        return ReasonKind.COMPUTE_UNITS
    if source is PlacementSource.ESTIMATE:
        return ReasonKind.RULE if rule_excludes_ane else ReasonKind.COST_MODEL
    if Device.ANE in supported:
        return ReasonKind.COREML_PREFERRED
    return ReasonKind.COREML_UNSUPPORTED


@dataclass(frozen=True)
class OpEstimate:
    """Our estimate for one op, shown beside a Core ML placement (which gives no reason).

    Labelled an estimate wherever it is shown: it is what the rules and cost model say, not
    what Core ML said.
    """

    device: Device | None
    reason: str
    reason_kind: ReasonKind
    evidence: Evidence | None = None
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpPlacement:
    """Where one op runs and why.

    device: None for const ops (they hold weights; no processor runs them) and for ops a plan
        did not place.
    supported: devices the op could run on (before the compute units are applied).
    reason: the sentence for people: why it is not on the ANE, or why not elsewhere it could
        run; "" when on the ANE with nothing to explain.
    reason_kind: the same decision as data.
    evidence: the weakest evidence behind the decision (None when measured by Core ML).
    est_time_ms: estimated time on `device` (an estimate even for live plans: Core ML gives a
        relative cost weight, not a per-op time).
    rules: ids of the rules that fired.
    cost_weight: Core ML's MLComputePlanCost.weight, when known.
    contested: the decision rests on a guess or on sources that disagree; `alt_device` is
        where the op would go under the other reading (None when it would not move).
    cost_driver: for cost-model decisions, which cost decided (None otherwise).
    shape_unknown: the op's tensor shapes could not be known, so its costs are not sized.
    estimate: for Core ML placements, our estimate beside it (None otherwise).
    """

    device: Device | None
    supported: frozenset[Device]
    # Everything else by keyword: a positional list this long invites mix-ups.
    _: dataclasses.KW_ONLY
    reason: str = ""
    reason_kind: ReasonKind = ReasonKind.ON_ANE
    evidence: Evidence | None = None
    est_time_ms: float = 0.0
    rules: tuple[str, ...] = ()
    cost_weight: float | None = None
    contested: bool = False
    alt_device: Device | None = None
    shape_unknown: bool = False
    estimate: OpEstimate | None = None
    cost_driver: CostDriver | None = None


@dataclass(frozen=True)
class CoreMLTimings:
    """Measured by the live Core ML run, wall clock, milliseconds, for one compute-unit setting.

    compile_ms: compiling the package into an .mlmodelc (None when handed an .mlmodelc).
    Loads are `CompiledMLModel(...)` constructions: the first (cold: device specialisation,
    e.g. the Neural Engine compile) and a second one (cached). Predictions include coremltools'
    input conversion; the first is reported apart and left out of median and p90.
    """

    compute_units: str
    compile_ms: float | None
    plan_ms: float
    load_first_ms: float
    load_cached_ms: float
    predict_first_ms: float
    predict_median_ms: float
    predict_p90_ms: float
    runs: int


class WarningKind(str, Enum):
    """A mismatch or gap the report must show, counted, never silently."""

    NOT_IN_PLAN = "not_in_plan"  # ops Core ML's plan does not name
    NO_USAGE = "no_usage"  # ops the plan names without a device
    UNMATCHED_PLAN_OPS = "unmatched_plan_ops"  # plan rows that match no op of the model
    FUNCTION_NOT_PLANNED = "function_not_planned"  # a function of the model that was not planned
    SHAPE_UNKNOWN = "shape_unknown"  # ops costed without known shapes
    NO_REASONS = "no_reasons"  # Core ML gave no reasons; ours are shown, labelled estimates

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ReportWarning:
    """One counted warning: what kind, a sentence, how many, and (some of) the ops concerned."""

    kind: WarningKind
    message: str
    count: int
    ops: tuple[int, ...] = ()  # graph indices (at most a few examples for big counts)


@dataclass(frozen=True)
class Uncertainty:
    """How sure an estimate is: the range over the contested decisions.

    ops: per device, (fewest, most) ops that may run there; est_total_ms: (low, high).
    """

    ops: Mapping[Device, tuple[int, int]]
    est_total_ms: tuple[float, float]


@dataclass(frozen=True)
class Placement:
    source: PlacementSource
    compute_units: ComputeUnits
    chip: str
    ops: tuple[OpPlacement, ...]
    # Free-form facts about how the placement was obtained: backend choice and why, recorded
    # plan metadata (chip, OS, coremltools version...).
    metadata: Mapping[str, Any] = field(default_factory=dict)
    timings: CoreMLTimings | None = None  # measured (live Core ML, or recorded from it)
    warnings: tuple[ReportWarning, ...] = ()
    uncertainty: Uncertainty | None = None

    def __post_init__(self) -> None:
        # Accept the enum's value too (callers outside the package), but store the enum.
        object.__setattr__(self, "source", PlacementSource(self.source))


@dataclass(frozen=True)
class Hazard:
    """A pattern in the placed graph that can change results (not speed), from a published source.

    id: the hazard rule's id; ops: graph indices of the ops it flags (the op at risk first).
    """

    id: str
    message: str
    evidence: Evidence
    source: str
    ops: tuple[int, ...]


# --- plain-data forms (the report JSON's op fields; shared by the report and recorded plans) ---


def placement_fields_to_dict(p: Any) -> dict[str, Any]:
    """The placement fields of an `OpPlacement` or `OpRecord` (same names) as JSON-ready data."""
    est = p.estimate
    return {
        "device": None if p.device is None else p.device.value,
        "supported": [d.value for d in DEVICE_ORDER if d in p.supported],
        "reason": p.reason,
        "reason_kind": p.reason_kind.value,
        "evidence": None if p.evidence is None else p.evidence.value,
        "est_time_ms": p.est_time_ms,
        "rules": list(p.rules),
        "cost_weight": p.cost_weight,
        "contested": p.contested,
        "alt_device": None if p.alt_device is None else p.alt_device.value,
        "shape_unknown": p.shape_unknown,
        "cost_driver": None if p.cost_driver is None else p.cost_driver.value,
        "estimate": None
        if est is None
        else {
            "device": None if est.device is None else est.device.value,
            "reason": est.reason,
            "reason_kind": est.reason_kind.value,
            "evidence": None if est.evidence is None else est.evidence.value,
            "rules": list(est.rules),
        },
    }


# Members by value, for reading 50k-op reports: `Enum(value)` costs ~1 µs a call, a dict
# lookup a tenth of it (GitHub issue 14). A value not in a table goes through the Enum as before
# (same member, same error).
_DEVICE_BY: dict[Any, Device | None] = {None: None, **{d.value: d for d in Device}}
_KIND_BY: dict[Any, ReasonKind] = {k.value: k for k in ReasonKind}
_EVIDENCE_BY: dict[Any, Evidence | None] = {None: None, **{e.value: e for e in Evidence}}
_DRIVER_BY: dict[Any, CostDriver | None] = {None: None, **{c.value: c for c in CostDriver}}
_LANES: dict[tuple[Any, ...], tuple[Device, ...]] = {}  # supported devices as listed -> lanes


def _device(value: Any) -> Device | None:
    try:
        return _DEVICE_BY[value]
    except (KeyError, TypeError):  # TypeError: unhashable
        return Device(value)


def _kind(value: Any) -> ReasonKind:
    try:
        return _KIND_BY[value]
    except (KeyError, TypeError):
        return ReasonKind(value)


def _evidence(value: Any) -> Evidence | None:
    try:
        return _EVIDENCE_BY[value]
    except (KeyError, TypeError):
        return Evidence(value)


def _driver(value: Any) -> CostDriver | None:
    try:
        return _DRIVER_BY[value]
    except (KeyError, TypeError):
        return CostDriver(value)


def _lanes(values: Sequence[Any]) -> tuple[Device, ...]:
    key = tuple(values)
    try:
        got = _LANES.get(key)
    except TypeError:  # unhashable items: worked out every time
        return tuple(dev for dev in DEVICE_ORDER if dev.value in values)
    if got is None:
        got = tuple(dev for dev in DEVICE_ORDER if dev.value in values)
        if len(_LANES) < 256:  # a few distinct lists in practice; bounded whatever the input
            _LANES[key] = got
    return got


def placement_fields_from_dict(d: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `OpPlacement` / `OpRecord` from a validated report op (version 2).

    `supported` comes back as a tuple in lane order (what `OpRecord` holds).
    """
    est = d["estimate"]
    return {
        "device": _device(d["device"]),
        "supported": _lanes(d["supported"]),
        "reason": d["reason"],
        "reason_kind": _kind(d["reason_kind"]),
        "evidence": _evidence(d["evidence"]),
        "est_time_ms": float(d["est_time_ms"]),
        "rules": tuple(d["rules"]),
        "cost_weight": d["cost_weight"],
        "contested": d["contested"],
        "alt_device": _device(d["alt_device"]),
        "shape_unknown": d["shape_unknown"],
        "cost_driver": _driver(d.get("cost_driver")),
        "estimate": None if est is None else estimate_from_dict(est),
    }


def estimate_from_dict(est: Mapping[str, Any]) -> OpEstimate:
    """Our own estimate beside a Core ML plan's op, from a validated report op's `estimate`."""
    return OpEstimate(
        device=_device(est["device"]),
        reason=est["reason"],
        reason_kind=_kind(est["reason_kind"]),
        evidence=_evidence(est["evidence"]),
        rules=tuple(est["rules"]),
    )


def timings_to_dict(t: CoreMLTimings | None) -> dict[str, Any] | None:
    return None if t is None else dataclasses.asdict(t)


def timings_from_dict(d: Mapping[str, Any] | None) -> CoreMLTimings | None:
    return None if d is None else CoreMLTimings(**d)


def warnings_to_list(ws: tuple[ReportWarning, ...]) -> list[dict[str, Any]]:
    return [
        {"kind": w.kind.value, "message": w.message, "count": w.count, "ops": list(w.ops)}
        for w in ws
    ]


def warnings_from_list(items: list[Mapping[str, Any]]) -> tuple[ReportWarning, ...]:
    return tuple(
        ReportWarning(WarningKind(w["kind"]), w["message"], w["count"], tuple(w["ops"]))
        for w in items
    )


def uncertainty_to_dict(u: Uncertainty | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {
        "ops": {d.value: list(u.ops[d]) for d in DEVICE_ORDER if d in u.ops},
        "est_total_ms": list(u.est_total_ms),
    }


def uncertainty_from_dict(d: Mapping[str, Any] | None) -> Uncertainty | None:
    if d is None:
        return None
    lo, hi = d["est_total_ms"]
    return Uncertainty(
        ops={Device(k): (int(v[0]), int(v[1])) for k, v in d["ops"].items()},
        est_total_ms=(float(lo), float(hi)),
    )


def hazards_to_list(hs: tuple[Hazard, ...]) -> list[dict[str, Any]]:
    return [
        {
            "id": h.id,
            "message": h.message,
            "evidence": h.evidence.value,
            "source": h.source,
            "ops": list(h.ops),
        }
        for h in hs
    ]


def hazards_from_list(items: list[Mapping[str, Any]]) -> tuple[Hazard, ...]:
    return tuple(
        Hazard(h["id"], h["message"], Evidence(h["evidence"]), h["source"], tuple(h["ops"]))
        for h in items
    )
