"""The report header: static HTML (no script) saying what was placed, where from, how much."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..escape import html_text
from ..placement.devices import DEVICE_LABEL, DEVICE_ORDER, Device
from ..placement.result import PlacementSource
from ..report import ProfileReport
from ..textreport import SOURCE_NOTE, fmt_bytes, fmt_ms, ops_counted, uncertainty_text

# --- header and whole layout ----------------------------------------------------------------


def _meta_value(v: Any) -> str:
    if isinstance(v, Mapping | list | tuple):
        v = json.dumps(v, default=str, ensure_ascii=False, separators=(", ", ": "))
    return html_text(v, 300)


def _contested_note(report: ProfileReport) -> str:
    n = sum(1 for o in report.ops if o.contested)
    return f" ({n} contested ops)" if n else ""


def _warnings_html(report: ProfileReport) -> str:
    """Every counted warning (plan gaps, unknown shapes...), with a few of the ops it names."""
    items = []
    for w in report.warnings:
        named = [report.ops[i].name for i in w.ops if 0 <= i < len(report.ops)]
        example = f" (e.g. {html_text(', '.join(named), 300)})" if named else ""
        items.append(f"{html_text(w.message, 400)}{example}")
    return '<span style="color:#B00020">' + "<br>".join(items) + "</span>"


def header_html(report: ProfileReport) -> str:
    """Static HTML summary of a report (no script): what, where from, how much."""
    s = report.summary()
    m = report.model
    badge_bg = "#E69F00" if report.source is PlacementSource.ESTIMATE else "#0072B2"
    badge = (
        f'<span style="background:{badge_bg};color:white;border-radius:3px;'
        f'padding:1px 6px;font-weight:bold">{html_text(report.source.value.upper())}</span>'
    )
    rows: list[tuple[str, str]] = [
        ("placement", f"{badge} {html_text(SOURCE_NOTE[report.source])}"),
        ("compute units", html_text(report.compute_units.value)),
        ("chip", html_text(report.chip)),
        ("ops", f"{html_text(ops_counted(s))}, {s.n_segments} segments"),
        ("Neural Engine share", html_text(s.share_text(Device.ANE), 400)),
        (
            "per processor",
            " · ".join(
                f"{DEVICE_LABEL[d]}: {s.per_device[d].ops} ops, "
                f"{html_text(fmt_ms(s.per_device[d].est_time_ms))}"
                for d in DEVICE_ORDER
            ),
        ),
        (
            "crossings",
            f"{s.n_crossings} ({html_text(fmt_bytes(s.crossing_bytes))}, "
            f"{html_text(fmt_ms(s.crossing_ms))} estimated)",
        ),
        (
            "total",
            f"{html_text(fmt_ms(s.est_total_ms))} estimated for one prediction (ops, "
            f"crossings, {html_text(fmt_ms(s.launch_ms))} of dispatches, "
            f"{html_text(fmt_ms(s.io_ms))} of model I/O)",
        ),
        *(
            [("range", html_text(uncertainty_text(report.uncertainty)) + _contested_note(report))]
            if report.uncertainty is not None
            else []
        ),
        (
            "model",
            f"{html_text(m.source or '—')} ({html_text(m.format)}"
            + (f", {len(m.functions)} functions" if len(m.functions) > 1 else "")
            + ")",
        ),
    ]
    if report.warnings:
        rows.insert(4, ("warnings", _warnings_html(report)))
    if m.flexible_inputs:
        rows.append(
            (
                "flexible inputs",
                ", ".join(html_text(n) for n in m.flexible_inputs)
                + " (placed for the default shape)",
            )
        )
    for k, v in report.metadata.items():
        rows.append((html_text(k, 60), _meta_value(v)))
    for k, v in list(m.metadata.items())[:8]:
        rows.append((f"model {html_text(k, 50)}", _meta_value(v)))
    trs = "".join(
        f'<tr><th style="text-align:left;padding:1px 12px 1px 0;vertical-align:top;'
        f'white-space:nowrap;color:#555;font-weight:normal">{k}</th>'
        f'<td style="padding:1px 0">{v}</td></tr>'
        for k, v in rows
    )
    return (
        f'<div class="ane-header" style="font:13px sans-serif;color:#222">'
        f'<h2 style="margin:4px 0 6px 0">{html_text(m.name)}</h2>'
        f'<table style="border-collapse:collapse">{trs}</table></div>'
    )
