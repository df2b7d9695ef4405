"""ProfileReport: the one result object, and the records it holds.

A report is self-contained: it keeps every op's record (type, shapes, device, reason, evidence,
estimated time), the segments and crossings, and where the placement came from (`source`:
coreml / estimate / recorded), so it can be saved as JSON, loaded on another machine and drawn
without the model. The JSON is versioned and described by `report.schema.json`; the conversion
to and from it lives in `report_io` (its names are importable from here too).

The HTML form (`to_html`, `_repr_mimebundle_`) is drawn by `render/` and imported lazily, so this
module and everything below it stay free of IPython, ipywidgets and bokeh.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from ._gc import gc_paused
from .analysis.crossings import Crossing, find_crossings
from .analysis.hazards import find_hazards
from .analysis.inputs import input_columns
from .analysis.segments import Segment, find_segments
from .errors import UnknownOpError, writing
from .escape import plain
from .model.graph import Graph, Shape
from .placement.devices import DEVICE_ORDER, ComputeUnits, Device, Evidence, known_chip
from .placement.result import (
    CoreMLTimings,
    CostDriver,
    Hazard,
    OpEstimate,
    Placement,
    PlacementSource,
    ReasonKind,
    ReportWarning,
    Uncertainty,
)
from .report_build import KeptRecords, op_links, placed_records
from .report_io import load_report as load_report
from .report_io import report_from_dict as report_from_dict
from .report_io import report_to_dict

if TYPE_CHECKING:
    from .check import CheckResult
from .shares import Counts, Share, counts_and_times, share_of


@dataclass(frozen=True, slots=True)  # one or more per op: slotted, a third of the memory
class TensorRecord:
    name: str
    shape: Shape | None
    dtype: str


@dataclass(frozen=True)
class OpRecord:
    """One op as shown to users: what it is, where it runs, why, and what it costs.

    The placement fields have the meaning they have on `OpPlacement`.
    """

    index: int
    name: str
    op_type: str
    function: str
    device: Device | None  # None for const ops
    supported: tuple[Device, ...]
    reason: str
    evidence: Evidence | None  # None when Core ML measured it
    est_time_ms: float
    outputs: tuple[TensorRecord, ...] = ()
    inputs: tuple[int, ...] = ()  # graph indices of the ops producing this op's inputs
    is_const: bool = False
    block: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    cost_weight: float | None = None
    reason_kind: ReasonKind = ReasonKind.ON_ANE
    contested: bool = False
    alt_device: Device | None = None
    shape_unknown: bool = False
    estimate: OpEstimate | None = None
    cost_driver: CostDriver | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    source: str
    format: str
    functions: tuple[str, ...]
    inputs: tuple[TensorRecord, ...] = ()
    outputs: tuple[TensorRecord, ...] = ()
    flexible_inputs: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceTotals:
    ops: int
    est_time_ms: float


@dataclass(frozen=True)
class Summary:
    """Totals of one report. Op counts say what they count (see `shares.py`): `n_ops` is the ops
    that run (const ops out; ops the plan placed nowhere in, on no device); `n_const` the const
    and constexpr_* ops, which no processor runs."""

    source: str
    compute_units: str
    chip: str
    per_device: Mapping[Device, DeviceTotals]
    n_ops: int  # ops that run (const ops excluded), placed or not
    n_const: int  # const and constexpr_* ops: hold weights, not counted
    n_segments: int
    n_crossings: int
    crossing_bytes: int
    crossing_ms: float
    launch_ms: float  # dispatches into each segment's processor + per-prediction cost
    io_ms: float  # model inputs from the caller and outputs back to it
    est_total_ms: float  # ops + crossings + launches + model I/O: one prediction, estimated
    counts: Counts
    n_unplaced: int = 0  # ops that run but the plan placed on no processor (inside n_ops)

    def share(self, device: Device = Device.ANE) -> Share:
        """`device`'s op share and cost-weighted share, with their denominators."""
        return share_of(self.counts, device)

    def share_text(self, device: Device = Device.ANE) -> str:
        """The sentence every output shows for `device`, e.g. "Neural Engine: 84.7% of ops (50
        of 59 ops that run; 79 const ops not counted), 0.6% of estimated op time"."""
        return self.share(device).text()


@dataclass(frozen=True, eq=True)
class ProfileReport:
    """The result of profiling one model under one compute-unit setting on one chip.

    Every op's record (`ops`, in execution order; look one up with `op(name)`), the
    same-device runs (`segments`) and the data edges between processors (`crossings`), where
    the placement came from (`source`: coreml / estimate / recorded) and, for Core ML runs, the
    measured `timings`. Warnings count what did not line up (ops a plan did not place, ...);
    `uncertainty` gives the range of an estimate over its contested decisions; `hazards` flag
    splits that can change results.

        >>> import ane_notebook as an
        >>> r = an.profile("example:mobilenet", compute_units="CPU_AND_NE", chip="M1")
        >>> r.source.value, r.summary().n_ops > 0
        ('estimate', True)

    Forms: `to_text()`, `to_json(path)` / `load_report(path)`, `to_html(path)`, and the notebook
    display (a text twin and the interactive diagram).
    """

    model: ModelInfo
    source: PlacementSource
    compute_units: ComputeUnits
    chip: str
    ops: tuple[OpRecord, ...]
    segments: tuple[Segment, ...]
    crossings: tuple[Crossing, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    timings: CoreMLTimings | None = None
    warnings: tuple[ReportWarning, ...] = ()
    uncertainty: Uncertainty | None = None
    hazards: tuple[Hazard, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", PlacementSource(self.source))

    # --- building ---------------------------------------------------------------------
    @classmethod
    @gc_paused()  # one record per op, many small objects on big models: see _gc.py
    def from_placement(cls, graph: Graph, placement: Placement) -> ProfileReport:
        if len(placement.ops) != len(graph.ops):
            raise ValueError("placement and graph disagree on the number of ops")
        # A lone report keeps nothing: no memory spent on records no other report will read.
        # Inside `Graph.sharing` the settings of a comparison build the records of ops placed
        # alike once: see `report_build.KeptRecords`.
        kept: KeptRecords | None = (
            graph.memo(
                ("report.records", placement.chip, placement.source),
                lambda: KeptRecords(len(graph.ops), placement.source is PlacementSource.ESTIMATE),
            )
            if graph.is_sharing
            else None
        )
        inputs = input_columns(graph)  # read by the links and the crossings
        records = placed_records(graph, placement.ops, op_links(graph, inputs), kept)
        info = ModelInfo(
            name=graph.name,
            source=graph.source,
            format=graph.format,
            functions=graph.functions,
            inputs=tuple(TensorRecord(t.name, t.shape, t.dtype) for t in graph.inputs),
            outputs=tuple(TensorRecord(t.name, t.shape, t.dtype) for t in graph.outputs),
            flexible_inputs=tuple(f.name for f in graph.flexible_inputs),
            metadata=dict(graph.metadata),
        )
        meta = {"ane_notebook_version": __version__, **dict(placement.metadata)}
        analyses = kept.analyses if kept is not None else None  # (placed as the last one)
        if analyses is None:
            chip = known_chip(placement.chip)
            segments = tuple(
                find_segments(
                    graph, placement.ops, chip, overheads=not placement.source.is_measured_plan
                )
            )
            crossings = tuple(find_crossings(graph, placement.ops, chip, inputs))
            hazards = find_hazards(graph, placement.ops, segments, placement.source)
            if kept is not None:
                kept.analyses = (segments, crossings, hazards)
        else:
            segments, crossings, hazards = analyses
        return cls(
            model=info,
            source=placement.source,
            compute_units=placement.compute_units,
            chip=placement.chip,
            ops=tuple(records),
            segments=segments,
            crossings=crossings,
            metadata=meta,
            timings=placement.timings,
            warnings=placement.warnings,
            uncertainty=placement.uncertainty,
            hazards=hazards,
        )

    # --- reading ----------------------------------------------------------------------
    def summary(self) -> Summary:
        # (the per-device times summed in the counting pass: the same sums, one pass)
        counts, time = counts_and_times(self.ops, self.source)
        xb = sum(c.bytes for c in self.crossings if c.moved)
        xms = sum(c.est_cost_ms for c in self.crossings)
        totals = {d: DeviceTotals(counts.ops[d], float(time[d])) for d in DEVICE_ORDER}
        launch = sum(s.launch_ms for s in self.segments)
        io = sum(s.io_ms for s in self.segments)
        return Summary(
            source=self.source,
            compute_units=self.compute_units.value,
            chip=self.chip,
            per_device=totals,
            n_ops=counts.n_run,
            n_const=counts.n_const,
            n_segments=len(self.segments),
            n_crossings=len(self.crossings),
            crossing_bytes=xb,
            crossing_ms=xms,
            launch_ms=launch,
            io_ms=io,
            est_total_ms=sum(t.est_time_ms for t in totals.values()) + xms + launch + io,
            counts=counts,
            n_unplaced=counts.n_unplaced,
        )

    def not_on_ane(self) -> dict[str, list[OpRecord]]:
        """Ops that run but not on the ANE, grouped by why (most ops first).

        The group is the decision as data: device, reason kind, the rules that fired and the
        supported devices. Ops kept off by the same rules form one group even when the rule's
        text names a different tensor for each; the key is the first op's reason.
        """
        groups: dict[tuple[Any, ...], list[OpRecord]] = {}
        for r in self.ops:
            if r.device is not None and r.device != Device.ANE:
                key = (
                    r.device,
                    r.reason_kind,
                    r.cost_driver,
                    r.rules,
                    () if r.rules else r.supported,
                )
                groups.setdefault(key, []).append(r)
        ordered = sorted(groups.values(), key=lambda ops: -len(ops))
        out: dict[str, list[OpRecord]] = {}
        for ops in ordered:
            label = ops[0].reason or "no reason given"
            out.setdefault(label, []).extend(ops)
        return out

    @cached_property
    def _by_name(self) -> dict[str, OpRecord]:
        return {r.name: r for r in self.ops}

    def op(self, name: str) -> OpRecord:
        """The record of the op called `name`; UnknownOpError (a KeyError) when there is none."""
        found = self._by_name.get(name)
        if found is None:
            raise UnknownOpError(
                # plain() has escaped the names already: no repr on top (it doubles backslashes)
                f"no op named '{plain(name, 80)}' in the report of '{plain(self.model.name, 80)}'"
            )
        return found

    def hazards_by_op(self) -> dict[int, tuple[Hazard, ...]]:
        """Graph index of each op at risk (a hazard's first op) -> its hazards: where a diagram
        puts a marker. The other ops of a hazard are context (e.g. the op that made the mask)."""
        out: dict[int, list[Hazard]] = {}
        for h in self.hazards:
            if h.ops:
                out.setdefault(h.ops[0], []).append(h)
        return {k: tuple(v) for k, v in out.items()}

    # --- text ---------------------------------------------------------------------------
    def to_text(self, max_reasons: int = 12, max_rows: int = 8) -> str:
        from .textreport import render_text  # local: keeps the text layout in its own module

        return render_text(self, max_reasons=max_reasons, max_rows=max_rows)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<ProfileReport {self.model.name!r} source={self.source} "
            f"compute_units={self.compute_units.value} chip={self.chip} ops={s.n_ops} "
            f"segments={s.n_segments} crossings={s.n_crossings}>"
        )

    # --- checks -------------------------------------------------------------------------
    def check(self, **conditions: Any) -> CheckResult:
        """Check placement conditions; truthy when all hold. See `ane_notebook.check`.

        Keywords: min_ane_ops, min_ane_time (fractions), max_crossings, max_segments,
        require_ane, allow_off_ane (op-type regular expressions), baseline (a report or its
        JSON path), fail_on_regression, fail_on_hazard, time_tolerance.

            >>> import ane_notebook as an
            >>> r = an.profile("example:mobilenet", "CPU_AND_NE", backend="estimate")
            >>> bool(r.check(min_ane_ops=0.9, max_segments=1))
            True
        """
        from .check import check_report, settings_from_kwargs

        return check_report(self, settings_from_kwargs(**conditions))

    # --- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return report_to_dict(self)

    @gc_paused()  # the dict is made, written and freed in one pause: the collector never
    # walks its ~1M objects (which made to_json 2.3x json.dumps at 50k ops; GitHub issue 14)
    def to_json(self, path: str | os.PathLike[str] | None = None, indent: int | None = None) -> str:
        """The report as JSON text; also written to `path` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)
        if path is not None:
            with writing(path):
                Path(path).write_text(text, encoding="utf-8")
        return text

    # --- HTML / notebook ------------------------------------------------------------------
    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """A standalone HTML page (bokeh resources inline); written to `path` when given."""
        from .render.html import report_html  # lazy: bokeh is only needed for HTML

        html = report_html(self)
        if path is not None:
            with writing(path):
                Path(path).write_text(html, encoding="utf-8")
        return html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from .render.html import notebook_bundle

        return {"text/plain": self.to_text(), **notebook_bundle(self)}


@dataclass(frozen=True)
class ReportSet:
    """Several reports of one model (e.g. the four compute-unit settings), shown side by side.

    >>> import ane_notebook as an
    >>> rs = an.run(an.ProfileRequest("example:lstm", compare=True))
    >>> list(rs.reports), rs["CPU_AND_NE"].compute_units.value
    (['CPU_ONLY', 'CPU_AND_GPU', 'CPU_AND_NE', 'ALL'], 'CPU_AND_NE')
    """

    reports: Mapping[str, ProfileReport]

    def __getitem__(self, key: str) -> ProfileReport:
        return self.reports[key]

    def to_text(self) -> str:
        """The compare summary (at most 100 columns a line): see `compareset.compare_text`."""
        from .compareset import compare_text

        return compare_text(self.reports)

    def best(self) -> str:
        """The label of the setting with the lowest total (measured if all were timed)."""
        from .compareset import best_label

        return best_label(self.reports)

    def __str__(self) -> str:
        return self.to_text()

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """The compare page: the best setting and the differences first, each setting's full
        report below, collapsed (`render/compare_page.py`)."""
        from .render.compare_page import compare_page

        html = compare_page(self.reports).html
        if path is not None:
            with writing(path):
                Path(path).write_text(html, encoding="utf-8")
        return html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from .render.html import compare_notebook_html

        return {"text/plain": self.to_text(), "text/html": compare_notebook_html(self.reports)}
