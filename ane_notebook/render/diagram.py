"""Bokeh models for a ProfileReport, re-exported from the modules that build them.

The views live one per module: `optable` (the per-op columns every view shares, escaping and
hover helpers), `lanes` (placement lanes and crossings), `graph` (data-flow graph), `mapping`
(the Compute Unit Mapping bar), `tables` (not on the Neural Engine), `compare`, `header` and
`layout` (the whole report). This module keeps the names callers and tests import.
"""

from __future__ import annotations

from .compare import changed_rows, compare_figure, compare_summary_html
from .graph import (
    GRAPH_HEIGHT_PX,
    GRAPH_MAX_OPS,
    MAX_GRAPH_LABEL_LAYERS,
    MAX_GRAPH_LABELS,
    GraphLayout,
    graph_figure,
    graph_layout,
    widest_layers,
)
from .header import header_html
from .lanes import CROSSING_TOOLTIPS, MAX_CROSSING_LABELS, lanes_figure
from .layout import LEGEND_HEIGHT_PX, ReportLayout, build_layout, report_layout
from .mapping import MAPPING_HEIGHT_PX, mapping_bar, mapping_columns
from .optable import (
    EVIDENCE_CHOICES,
    LANE_HEIGHT_PX,
    LANE_NAME,
    LANE_Y,
    OP_HEIGHT,
    SUPPORTED_CHOICES,
    OpTable,
    op_table,
    placement_label,
    source_note,
    supported_code,
)
from .tables import TABLE_MAX_HEIGHT_PX, not_on_ane_html, not_on_ane_table

__all__ = [
    "CROSSING_TOOLTIPS",
    "EVIDENCE_CHOICES",
    "GRAPH_HEIGHT_PX",
    "GRAPH_MAX_OPS",
    "LANE_HEIGHT_PX",
    "LANE_NAME",
    "LANE_Y",
    "LEGEND_HEIGHT_PX",
    "MAPPING_HEIGHT_PX",
    "MAX_CROSSING_LABELS",
    "MAX_GRAPH_LABELS",
    "MAX_GRAPH_LABEL_LAYERS",
    "OP_HEIGHT",
    "SUPPORTED_CHOICES",
    "TABLE_MAX_HEIGHT_PX",
    "GraphLayout",
    "OpTable",
    "ReportLayout",
    "build_layout",
    "changed_rows",
    "compare_figure",
    "compare_summary_html",
    "graph_figure",
    "graph_layout",
    "header_html",
    "lanes_figure",
    "mapping_bar",
    "mapping_columns",
    "not_on_ane_html",
    "not_on_ane_table",
    "op_table",
    "placement_label",
    "report_layout",
    "source_note",
    "supported_code",
    "widest_layers",
]
