"""The whole report as one bokeh column: header, legend, mapping bar, lanes, graph, tables.

Every function in `render/` returns bokeh models and never calls `show()`: the caller decides
where they go (a standalone page in `render/html.py`, a notebook, a test that inspects them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bokeh.layouts import column
from bokeh.models.layouts import Column
from bokeh.models.widgets import Div

from ..report import ProfileReport
from .compare import compare_figure, compare_summary_html
from .graph import GRAPH_MAX_OPS, _graph_parts, _link_selection
from .header import header_html
from .lanes import _lane_parts
from .mapping import mapping_bar
from .optable import _color_mapper, op_table
from .palette import legend_html
from .tables import not_on_ane_table

LEGEND_HEIGHT_PX = 28

_TOOLS_NOTE = (
    "Drag across the lanes (box select, on by default) to show that range in the "
    "data-flow view below; scroll to zoom along the ops; pick the ↔ tool to pan; "
    "hover an op or a crossing for details."
)


@dataclass(frozen=True)
class ReportLayout:
    root: Column
    height: int  # pixels, an upper bound for an iframe holding it


def build_layout(
    report: ProfileReport,
    compare: Mapping[str, ProfileReport] | None = None,
    *,
    header: bool = True,
    graph_max_ops: int = GRAPH_MAX_OPS,
) -> ReportLayout:
    """report_layout plus its height (used to size the notebook iframe)."""
    table = op_table(report)
    mapper = _color_mapper()
    lanes = _lane_parts(report, table, mapper)
    graph = _graph_parts(report, table, lanes.crossings.data, mapper, None, None, graph_max_ops)
    _link_selection(lanes, graph, table, graph_max_ops)

    items: list[Any] = []
    if header:
        # A header's height depends on its metadata; rows are ~18 px.
        items.append(Div(text=header_html(report), sizing_mode="stretch_width", name="header"))
    unknown = any(r.device is None and not r.is_const for r in report.ops)
    items.append(
        Div(
            text=legend_html(unknown),
            sizing_mode="stretch_width",
            height=LEGEND_HEIGHT_PX,
            name="legend",
        )
    )
    items.append(mapping_bar(report))
    items.append(lanes.figure)
    items.append(
        Div(
            text=f'<div style="font:12px sans-serif;color:#555">{_TOOLS_NOTE}</div>',
            sizing_mode="stretch_width",
            height=22,
            name="lanes_note",
        )
    )
    items.append(graph.figure)
    items.append(not_on_ane_table(report))
    if compare:
        items.append(
            Div(
                text=compare_summary_html(compare),
                sizing_mode="stretch_width",
                height=60 + 26 * len(compare),
                name="compare_summary",
            )
        )
        items.append(compare_figure(compare))
    # Heights are fixed except the header; bokeh puts ~5 px between the items of a column.
    height = sum(int(getattr(i, "height", None) or 0) for i in items) + 5 * len(items)
    if header:
        height += 60 + 19 * (
            9 + len(report.metadata) + min(len(report.model.metadata), 8) + len(report.warnings)
        )
    root = column(items, sizing_mode="stretch_width", name="ane_report")
    return ReportLayout(root, height + 20)


def report_layout(
    report: ProfileReport,
    compare: Mapping[str, ProfileReport] | None = None,
    *,
    header: bool = True,
) -> Column:
    """Everything for one report: header, legend, mapping bar, lanes (box-select drives the
    graph view), graph view, the not-on-ANE table and, when given, the compare view."""
    return build_layout(report, compare, header=header).root
