"""The "not on the Neural Engine" table: ops that run elsewhere, grouped by reason, with a fix."""

from __future__ import annotations

from collections.abc import Mapping

from bokeh.models.widgets import Div

from ..escape import html_text
from ..fixes import fix_for
from ..report import OpRecord, ProfileReport
from ..textreport import estimate_note
from .optable import _EVIDENCE_ORDER, _evidence_text

TABLE_MAX_HEIGHT_PX = 420

# --- not on the ANE -----------------------------------------------------------------------


def not_on_ane_html(report: ProfileReport, max_examples: int = 3, max_types: int = 8) -> str:
    """HTML table of the ops that run but not on the ANE, grouped by reason, with a fix."""
    return _groups_html(report, report.not_on_ane(), max_examples, max_types)


def _groups_html(
    report: ProfileReport,
    groups: Mapping[str, list[OpRecord]],
    max_examples: int = 3,
    max_types: int = 8,
) -> str:
    n_off = sum(len(v) for v in groups.values())
    head = (
        f'<h3 style="margin:4px 0">Not on the Neural Engine: {n_off} ops, '
        f"{len(groups)} reasons</h3>"
    )
    if not groups:
        return head + "<p>Every op that runs is placed on the Neural Engine.</p>"
    th = "".join(
        f'<th style="text-align:left;padding:4px 8px;border-bottom:2px solid #999">{h}</th>'
        for h in ("ops", "reason", "op types", "e.g.", "evidence", "suggested fix")
    )
    body = []
    for reason, ops in groups.items():
        types = sorted({o.op_type for o in ops})
        type_txt = ", ".join(html_text(t, 40) for t in types[:max_types])
        if len(types) > max_types:
            type_txt += f", … (+{len(types) - max_types})"
        examples = "<br>".join(html_text(o.name, 60) for o in ops[:max_examples])
        # Weakest evidence first: that is what the decision rests on.
        evs = sorted(
            {_evidence_text(o, report.source) for o in ops}, key=lambda e: _EVIDENCE_ORDER.get(e, 9)
        )
        devices = sorted({o.device.value for o in ops if o.device is not None})
        fix = fix_for(ops[0])
        note = estimate_note(ops[0])  # Core ML gives no reason: ours beside it, labelled
        reason_html = html_text(reason, 300)
        if note:
            reason_html += f"<br><i>{html_text(note, 300)}</i>"
        td = 'style="vertical-align:top;padding:4px 8px;border-bottom:1px solid #ddd"'
        body.append(
            f"<tr><td {td}><b>{len(ops)}</b><br><small>{html_text(', '.join(devices))}"
            f"</small></td><td {td}>{reason_html}</td><td {td}>{type_txt}</td>"
            f"<td {td}><code>{examples}</code></td><td {td}>{html_text(', '.join(evs))}</td>"
            f"<td {td}>{html_text(fix, 400) if fix else '—'}</td></tr>"
        )
    return (
        head + '<table style="border-collapse:collapse;font:12px sans-serif;width:100%">'
        f"<thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def not_on_ane_table(report: ProfileReport) -> Div:
    """The "not on the Neural Engine" table as a bokeh Div (content escaped, scrolls if long)."""
    groups = report.not_on_ane()  # one grouping pass over the ops for both uses
    height = min(TABLE_MAX_HEIGHT_PX, 70 + 58 * len(groups))
    return Div(
        text=_groups_html(report, groups),
        sizing_mode="stretch_width",
        height=height,
        styles={"overflow-y": "auto", "font-family": "sans-serif"},
        name="not_on_ane_table",
    )
