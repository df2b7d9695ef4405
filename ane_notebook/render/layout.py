"""The whole report as one bokeh column: header, legend, mapping bar, lanes, graph, tables.

Every function in `render/` returns bokeh models and never calls `show()`: the caller decides
where they go (a standalone page in `render/html.py`, a notebook, a test that inspects them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bokeh.layouts import column, row
from bokeh.models.layouts import Column
from bokeh.models.widgets import Div

from ..analysis.layers import layer_tree, layer_tree_of_columns
from ..report import ProfileReport
from .compare import compare_figure, compare_summary_html
from .detail import detail_data, explorer, hazard_markers
from .graph import GRAPH_MAX_OPS, _graph_parts, _link_selection
from .graphunits import COLLAPSE_ABOVE, layer_arrays
from .header import header_height_px, header_html
from .lanes import _lane_parts
from .mapping import mapping_bar
from .optable import _color_mapper, op_table
from .palette import DEVICE_COLORS, UNKNOWN, legend_html
from .summaries import summary_of
from .tables import not_on_ane_table

LEGEND_HEIGHT_PX = 28
SEARCH_HEIGHT_PX = 64

_TOOLS_NOTE = (
    "Drag across the lanes (box select, on by default) to show that range in the "
    "data-flow view below; click a layer in the band to zoom to it and see it there; scroll "
    "to zoom along the ops; pick the ↔ tool to pan; hover or click an op for details."
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
    # The tree reads what the op table read already, when its records are the compute ops.
    tree = (
        layer_tree_of_columns(table.fields.records, table.fields)
        if table.compute_ops
        else layer_tree(report)
    )
    lanes = _lane_parts(report, table, mapper, tree)
    graph = _graph_parts(
        report, table, lanes.crossings.data, mapper, None, None, graph_max_ops, layer_arrays(tree)
    )
    collapse = _link_selection(lanes, graph, table, graph_max_ops)
    details = detail_data(report, table)
    hazard_markers(lanes.figure, table, details)
    found = explorer(
        report, table, details, lanes, graph, {d.value: c for d, c in DEVICE_COLORS.items()}
    )

    items: list[Any] = []
    if header:
        # A header's height depends on its metadata; rows are ~18 px.
        items.append(Div(text=header_html(report), sizing_mode="stretch_width", name="header"))
    # An op that runs with no device: the op table's "?" lane (not a pass over 50k records).
    unknown = UNKNOWN in table.columns["device"]
    summary = summary_of(report)
    items.append(
        Div(
            text=legend_html(
                unknown,
                reused=any(not c.moved for c in report.crossings),
                dispatch=summary.launch_ms > 0,
                io=summary.io_ms > 0,
            ),
            sizing_mode="stretch_width",
            height=LEGEND_HEIGHT_PX,
            name="legend",
        )
    )
    items.append(mapping_bar(report))
    found.search.width = 420
    found.listing.styles = {"overflow-y": "auto", "font": "12px sans-serif"}
    found.listing.height = SEARCH_HEIGHT_PX - 10
    items.append(
        row(
            [found.search, found.listing],
            sizing_mode="stretch_width",
            height=SEARCH_HEIGHT_PX,
            name="search_row",
        )
    )
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
    if len(graph.layers_all.data["first"]) and len(table) > COLLAPSE_ABOVE:
        items.append(collapse)
    items.append(found.panel)
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
        height += header_height_px(report)  # its details start collapsed
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
