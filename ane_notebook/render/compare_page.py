"""The compare page: which setting is best and why, first; each setting's full report below.

A reader opens a comparison to learn which setting (compute units, chip, model version) to use
and what the others do differently. So the page opens with the answer: the best setting (the
lowest total, `compareset.best_label`), a table of every setting with the ops each places on
another processor than the best one, the stacked lanes with those ops highlighted, and the
reasons grouped. Each setting's full report (header, mapping bar, lanes, graph, table) follows
in a collapsed `<details>`: bokeh lays a root out when it becomes visible, so they cost nothing
until opened.

Every model string is escaped with `escape.html_text` before it enters the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bokeh.core.templates import get_env
from bokeh.layouts import column

from ..compareset import (
    align,
    all_measured,
    basis_text,
    best_label,
    diff_groups,
    differs_from_best,
    noun,
    total_ms,
)
from ..escape import html_text, plain
from ..placement.devices import DEVICE_ORDER
from ..report import ProfileReport
from ..textreport import fmt_bytes, fmt_ms
from .diagram import build_layout, compare_figure, header_html, placement_label
from .encode import encode_sources
from .packjs import packed_file_html
from .pagejson import file_page
from .propcache import class_facts_cached
from .summaries import shared_summaries, summary_of

BEST_BG = "#e6f4ee"  # the best setting's row: a pale tint of the ANE green (palette.py)
MAX_WHY_ROWS = 6  # reason groups listed per setting (the rest are counted)
_TD = 'style="padding:3px 10px;border-bottom:1px solid #ddd;text-align:{a}"'

# bokeh's own page template with the body replaced: the comparison root, then one collapsed
# section per setting. Everything inserted is HTML built (and escaped) in Python.
_TEMPLATE = get_env().from_string(
    """{% extends "file.html.jinja" %}
{% block contents %}
<div style="font:13px sans-serif;color:#222;margin:6px 8px">{{ intro }}</div>
{{ embed(roots.compare_view) }}
<div style="font:13px sans-serif;color:#222;margin:6px 8px">{{ why }}</div>
<h3 style="font:bold 15px sans-serif;margin:14px 8px 4px 8px">{{ sections_title }}</h3>
{% for item in sections %}
<details class="ane-setting" style="margin:4px 8px;font:13px sans-serif">
<summary style="cursor:pointer;padding:3px 0">{{ item.summary }}</summary>
<div style="margin:4px 0">{{ item.header }}</div>
{{ embed(roots[item.root]) }}
</details>
{% endfor %}
{% endblock %}"""
)


def _models_title(reports: Mapping[str, ProfileReport]) -> str:
    models = list(dict.fromkeys(r.model.name for r in reports.values()))
    return " vs ".join(html_text(m, 80) for m in models)


def intro_html(reports: Mapping[str, ProfileReport]) -> str:
    """Heading, the best setting, and one row per setting (the best one tinted)."""
    best = best_label(reports)
    measured = all_measured(reports)
    best_ms = total_ms(reports[best], measured)
    alignment = align(reports)
    differ = differs_from_best(reports, alignment, best)
    ties = [k for k in reports if k != best and total_ms(reports[k], measured) == best_ms]
    tie = f"; {', '.join(f'<b>{html_text(k, 60)}</b>' for k in ties)} the same" if ties else ""
    sources = sorted({placement_label(r.source) for r in reports.values()})
    cols = [
        ("setting", "left"),
        *((f"{d.value} ops", "right") for d in DEVICE_ORDER),
        ("segments", "right"),
        ("crossings", "right"),
        (f"total ({'measured' if measured else 'estimated'})", "right"),
        ("ops on another processor than the best", "right"),
    ]
    th = "".join(
        f'<th style="text-align:{a};padding:3px 10px;border-bottom:2px solid #999">{h}</th>'
        for h, a in cols
    )
    body = []
    for label, rep in reports.items():
        s = summary_of(rep)
        is_best = label == best
        cells = [
            f"<td {_TD.format(a='left')}><b>{html_text(label, 60)}</b>"
            + (" ★ best" if is_best else "")
            + "</td>"
        ]
        cells += [f"<td {_TD.format(a='right')}>{s.per_device[d].ops}</td>" for d in DEVICE_ORDER]
        cells.append(f"<td {_TD.format(a='right')}>{s.n_segments}</td>")
        cells.append(
            f"<td {_TD.format(a='right')}>{s.n_crossings} ({html_text(fmt_bytes(s.crossing_bytes))}"
            f", {html_text(fmt_ms(s.crossing_ms))})</td>"
        )
        cells.append(
            f"<td {_TD.format(a='right')}><b>{html_text(fmt_ms(total_ms(rep, measured)))}</b></td>"
        )
        cells.append(f"<td {_TD.format(a='right')}>{'—' if is_best else len(differ[label])}</td>")
        bg = f' style="background:{BEST_BG}"' if is_best else ""
        body.append(f'<tr class="{"best" if is_best else ""}"{bg}>{"".join(cells)}</tr>')
    return (
        f'<h2 style="margin:4px 0">{_models_title(reports)}: {len(reports)} {noun(reports)} '
        "compared</h2>"
        f'<p style="margin:4px 0 8px 0;font-size:14px">Best: <b>{html_text(best, 60)}</b>, '
        f"{html_text(fmt_ms(best_ms))} ({html_text(basis_text(reports))}, the lowest{tie}). "
        f"Placement {html_text(', '.join(sources))}; ops highlighted below run on another "
        "processor than in the best setting.</p>"
        '<table class="ane-compare" style="border-collapse:collapse;font:12px sans-serif">'
        f"<thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def why_html(reports: Mapping[str, ProfileReport]) -> str:
    """Per setting, its ops on another processor than in the best setting, grouped by why."""
    best = best_label(reports)
    alignment = align(reports)
    differ = differs_from_best(reports, alignment, best)
    rows = []
    for label in reports:
        if label == best:
            continue
        groups = diff_groups(reports, alignment, best, label, differ[label])
        for g in groups[:MAX_WHY_ROWS]:
            eg = ", ".join(html_text(o.name, 50) for o in g.ops[:3])
            dev = g.device.value if g.device else "?"
            best_dev = g.best_device.value if g.best_device else "?"
            rows.append(
                f"<tr><td {_TD.format(a='left')}>{html_text(label, 60)}</td>"
                f"<td {_TD.format(a='right')}>{len(g.ops)}</td>"
                f"<td {_TD.format(a='left')} nowrap>{html_text(dev)} (best: "
                f"{html_text(best_dev)})</td>"
                f"<td {_TD.format(a='left')}>{html_text(g.reason, 300)}</td>"
                f"<td {_TD.format(a='left')}><code>{eg}</code></td></tr>"
            )
        if len(groups) > MAX_WHY_ROWS:
            rows.append(
                f"<tr><td {_TD.format(a='left')} colspan=5>{html_text(label, 60)}: "
                f"{len(groups) - MAX_WHY_ROWS} more reasons</td></tr>"
            )
    head = f'<h3 style="margin:4px 0">Why the others differ from {html_text(best, 60)}</h3>'
    if not rows:
        return head + "<p>Every setting places every op where the best one does.</p>"
    th = "".join(
        f'<th style="text-align:left;padding:3px 10px;border-bottom:2px solid #999">{h}</th>'
        for h in ("setting", "ops", "runs on", "why", "e.g.")
    )
    return (
        head + '<table class="ane-why" style="border-collapse:collapse;font:12px sans-serif">'
        f"<thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def section_summary(label: str, report: ProfileReport) -> str:
    s = summary_of(report)
    per = " · ".join(f"{d.value} {s.per_device[d].ops}" for d in DEVICE_ORDER)
    return (
        f"<b>{html_text(label, 60)}</b>: {html_text(report.model.name, 60)}, {per} ops, "
        f"{html_text(fmt_ms(s.est_total_ms))} estimated"
    )


@dataclass(frozen=True)
class ComparePage:
    html: str
    height: int  # pixels of the comparison part (sections collapsed): an iframe's height


@shared_summaries()
@class_facts_cached()  # bokeh's per-class defaults computed once (propcache.py)
def compare_page(reports: Mapping[str, ProfileReport], *, packed: bool = False) -> ComparePage:
    """The standalone compare page (bokeh resources inline, works offline; `packed`: BokehJS
    and the data compressed, unpacked by the page, as notebook outputs ship them)."""
    if not reports:
        raise ValueError("compare_page needs at least one report")
    view = compare_figure(reports)
    view_root = column([view], sizing_mode="stretch_width", name="compare_view")
    roots: list[Any] = [view_root]
    sections = []
    for k, (label, rep) in enumerate(reports.items()):
        # The header as plain HTML above the root (a bokeh Div would not reflow when its
        # collapsed details open).
        layout = build_layout(rep, header=False)
        layout.root.name = f"setting_{k}"
        roots.append(layout.root)
        sections.append(
            {
                "summary": section_summary(label, rep),
                "header": header_html(rep),
                "root": f"setting_{k}",
            }
        )
    # Text columns go compactly, as in a single report's page (render/encode.py).
    encode_sources(*roots)
    intro = intro_html(reports)
    why = why_html(reports)
    first = next(iter(reports.values()))
    title = f"ane_notebook: compare {plain(first.model.name, 100)}"
    variables = {
        "intro": intro,
        "why": why,
        "sections": sections,
        "sections_title": "Each setting's full report"
        if noun(reports) == "settings"
        else "Each report in full",
    }
    if packed:
        page = packed_file_html(roots, title, template=_TEMPLATE, template_variables=variables)
    else:
        page = file_page(roots, title, template=_TEMPLATE, template_variables=variables)
    n_why = why.count("<tr>")
    height = (
        110
        + 28 * len(reports)
        + int(getattr(view, "height", 0) or 0)
        + 60
        + 24 * n_why
        + 50
        + 30 * len(reports)
    )
    return ComparePage(page, height)


def compare_static_html(reports: Mapping[str, ProfileReport]) -> str:
    """The comparison as plain HTML (no script): what an untrusted notebook still shows."""
    return intro_html(reports) + why_html(reports)
