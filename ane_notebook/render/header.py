"""The report header: static HTML (no script) saying what was placed, where from, how much."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..escape import html_text
from ..placement.devices import DEVICE_LABEL, DEVICE_ORDER, Device
from ..placement.result import PlacementSource
from ..report import ProfileReport
from ..textreport import (
    SOURCE_NOTE,
    fmt_bytes,
    fmt_ms,
    ops_counted,
    timings_text,
    uncertainty_text,
)
from .summaries import summary_of

# --- header and whole layout ----------------------------------------------------------------


def _meta_value(v: Any) -> str:
    if isinstance(v, Mapping | list | tuple):
        v = json.dumps(v, default=str, ensure_ascii=False, separators=(", ", ": "))
    return html_text(v, 300)


def _contested_note(report: ProfileReport) -> str:
    n = sum(1 for o in report.ops if o.contested)
    return f" ({n} contested ops)" if n else ""


# What the header calls the report's metadata keys (placement backends and `api` write them).
# A key not listed is shown in words ("some_key" -> "Some key"), never as snake_case.
META_LABELS: Mapping[str, str] = {
    "ane_notebook_version": "ane_notebook version",
    "backend": "Backend",
    "backend_choice": "Why this backend",
    "per_op_time": "Per-op times",
    "chip_sources": "Chip figures from",
    "chip": "Chip",
    "chip_name": "Chip (as macOS names it)",
    "macos": "macOS",
    "macos_build": "macOS build",
    "coremltools": "coremltools version",
    "model": "Model loaded as",
    "analytics_file": "Core ML analytics file",
    "recorded_plan": "Recorded plan",
    "recorded_source": "Recorded by",
    "recorded_at": "Recorded at",
    "input_shapes": "Input shapes",
}
# Shown in the header's main rows, not among the details.
_UP_FRONT = ("backend_choice",)
MAX_MODEL_METADATA = 20  # of the model's own metadata entries shown (the rest are counted)

_TH = (
    'style="text-align:left;padding:1px 12px 1px 0;vertical-align:top;white-space:nowrap;'
    'color:#555;font-weight:normal"'
)
_TD = 'style="text-align:left;padding:1px 0;vertical-align:top"'


def human_label(key: str) -> str:
    """The header's label for a metadata key: from META_LABELS, else the key in words."""
    known = META_LABELS.get(key)
    if known is not None:
        return known
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else "(unnamed)"


def _table(rows: list[tuple[str, str]]) -> str:
    """Label/value rows, both left-aligned whatever the notebook's CSS (JupyterLab right-aligns
    table cells by default). Labels and values are HTML already escaped by the caller."""
    trs = "".join(f"<tr><th {_TH}>{k}</th><td {_TD}>{v}</td></tr>" for k, v in rows)
    return f'<table style="border-collapse:collapse;text-align:left">{trs}</table>'


def _crossings_text(report: ProfileReport) -> str:
    """The same count as the lane labels and the summary: bytes and time of the edges that
    moved a tensor; edges reusing a tensor moved earlier are counted apart, at no cost."""
    s = summary_of(report)
    reused = sum(1 for c in report.crossings if not c.moved)
    paid = f"{html_text(fmt_bytes(s.crossing_bytes))}, {html_text(fmt_ms(s.crossing_ms))} estimated"
    if not reused:
        return f"{s.n_crossings} ({paid})"
    return (
        f"{s.n_crossings}: {s.n_crossings - reused} moving a tensor ({paid}), {reused} reusing "
        "one already moved (no cost)"
    )


def _details_rows(report: ProfileReport) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    m = report.model
    run = [
        (
            "Model",
            f"{html_text(m.source or '—')} ({html_text(m.format)}"
            + (f", {len(m.functions)} functions" if len(m.functions) > 1 else "")
            + ")",
        )
    ]
    run += [
        (html_text(human_label(k), 60), _meta_value(v))
        for k, v in report.metadata.items()
        if k not in _UP_FRONT
    ]
    items = list(m.metadata.items())
    # The model's own metadata keys are its author's: shown as written (escaped).
    model = [(html_text(k, 60), _meta_value(v)) for k, v in items[:MAX_MODEL_METADATA]]
    if len(items) > MAX_MODEL_METADATA:
        model.append(("…", f"{len(items) - MAX_MODEL_METADATA} more entries"))
    return run, model


def header_height_px(report: ProfileReport) -> int:
    """An upper bound of the header's height with its details collapsed (rows are ~19 px)."""
    rows = 10 + sum(k in report.metadata for k in _UP_FRONT)
    rows += (report.uncertainty is not None) + bool(report.model.flexible_inputs)
    return 60 + 19 * (rows + len(report.warnings))


def _warnings_html(report: ProfileReport) -> str:
    """Every counted warning (plan gaps, unknown shapes...), with a few of the ops it names."""
    items = []
    for w in report.warnings:
        named = [report.ops[i].name for i in w.ops if 0 <= i < len(report.ops)]
        example = f" (e.g. {html_text(', '.join(named), 300)})" if named else ""
        items.append(f"{html_text(w.message, 400)}{example}")
    return '<span style="color:#B00020">' + "<br>".join(items) + "</span>"


def header_html(report: ProfileReport) -> str:
    """Static HTML summary of a report (no script): what, where from, how much; the model and
    run details (versions, sources, the model's own metadata) in a collapsed section."""
    s = summary_of(report)
    m = report.model
    badge_bg = "#E69F00" if report.source is PlacementSource.ESTIMATE else "#0072B2"
    badge = (
        f'<span style="background:{badge_bg};color:white;border-radius:3px;'
        f'padding:1px 6px;font-weight:bold">{html_text(report.source.value.upper())}</span>'
    )
    up_front = [
        (html_text(human_label(k)), _meta_value(report.metadata[k]))
        for k in _UP_FRONT
        if k in report.metadata
    ]
    rows: list[tuple[str, str]] = [
        ("Placement", f"{badge} {html_text(SOURCE_NOTE[report.source])}"),
        *up_front,
        ("Compute units", html_text(report.compute_units.value)),
        *([("Measured", html_text(timings_text(report.timings), 400))] if report.timings else []),
        ("Chip", html_text(report.chip)),
        ("Ops", f"{html_text(ops_counted(s))}, {s.n_segments} segments"),
        ("Neural Engine share", html_text(s.share_text(Device.ANE), 400)),
        (
            "Per processor",
            " · ".join(
                f"{DEVICE_LABEL[d]}: {s.per_device[d].ops} ops, "
                f"{html_text(fmt_ms(s.per_device[d].est_time_ms))}"
                for d in DEVICE_ORDER
            ),
        ),
        ("Crossings", _crossings_text(report)),
        (
            "Total",
            f"{html_text(fmt_ms(s.est_total_ms))} estimated for one prediction (ops, "
            f"crossings, {html_text(fmt_ms(s.launch_ms))} of dispatches, "
            f"{html_text(fmt_ms(s.io_ms))} of model I/O)",
        ),
        *(
            [("Range", html_text(uncertainty_text(report.uncertainty)) + _contested_note(report))]
            if report.uncertainty is not None
            else []
        ),
    ]
    if report.warnings:
        at = next(k for k, (label, _) in enumerate(rows) if label == "Ops") + 1
        rows.insert(at, ("Warnings", _warnings_html(report)))
    if m.flexible_inputs:
        rows.append(
            (
                "Flexible inputs",
                ", ".join(html_text(n) for n in m.flexible_inputs)
                + " (placed for the default shape)",
            )
        )
    run, model = _details_rows(report)
    details = _table(run)
    if model:
        details += (
            '<div style="margin:6px 0 2px 0;color:#555">The model\'s own metadata</div>'
            + _table(model)
        )
    n_details = len(run) + len(model)
    return (
        f'<div class="ane-header" style="font:13px sans-serif;color:#222;text-align:left">'
        f'<h2 style="margin:4px 0 6px 0">{html_text(m.name)}</h2>{_table(rows)}'
        f'<details class="ane-details" style="margin-top:4px"><summary style="cursor:pointer;'
        f'color:#555">Model and run details ({n_details})</summary>{details}</details></div>'
    )
