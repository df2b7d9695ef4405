"""The fast paths of the page's per-op steps (GitHub issue 14) against the simple code they
replaced: batch escaping, per-distinct-value caches, record fields read in one pass, fixes per
distinct input. Each test compares the two on inputs chosen to hit every branch, so a fast
path that stops agreeing with its simple twin fails here, not in a page byte later."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_render import HOSTILE, make_report

import ane_notebook as an
from ane_notebook import fixes
from ane_notebook.escape import html_text, html_texts
from ane_notebook.fixes import fix_for, fix_from, fix_inputs
from ane_notebook.placement.devices import Device
from ane_notebook.placement.result import CostDriver, OpEstimate, ReasonKind
from ane_notebook.render.detail import detail_data
from ane_notebook.render.optable import (
    _EVIDENCE_CODE,
    RECORD_FIELDS,
    UNKNOWN,
    RecordColumns,
    _Escaper,
    _evidence_text,
    _outputs_text,
    lane_ys,
    op_table,
    supported_code,
)
from ane_notebook.report import ProfileReport
from ane_notebook.textreport import estimate_note

A, G, C = Device.ANE, Device.GPU, Device.CPU


class _Str(str):
    def __str__(self) -> str:
        return "other"


TEXTS: list[Any] = [
    *HOSTILE,
    "",
    "plain_name",
    "x" * 200,  # at the limit
    "y" * 201,  # over it: cut
    "line\nbreak",  # the separator of the joined fast path
    "lone\udcffsurrogate",
    "\u2028sep",
    "a&b<c>d\"e'f",
    "tab\there",
]


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["a"],
        ["op_1", "op_2", "x" * 200, "a&b<c>\"'"],  # the fast path
        TEXTS,
        [*TEXTS, 7, None, 1.5],  # not all str
        ["name", _Str("sub")],  # a str subclass is turned into text by str()
        ["é", "日本語", "emoji 🙂"],  # printable non-ASCII
    ],
)
@pytest.mark.parametrize("limit", [200, 5])
def test_html_texts_is_html_text_of_each(values: list[Any], limit: int) -> None:
    assert html_texts(values, limit) == [html_text(v, limit) for v in values]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.sampled_from(["a", "Z", " ", "~", "&", "\n", "\t", "\x00", "\x1f", "\x7f"])
            | st.characters(codec="utf-8"),
            max_size=6,
        ),
        max_size=12,
    )
)
def test_html_texts_is_html_text_of_each_on_random_texts(values: list[str]) -> None:
    # ASCII and not, with every kind of non-printable character the batch check must notice
    assert html_texts(values, 5) == [html_text(v, 5) for v in values]
    assert html_texts(values) == [html_text(v) for v in values]


@pytest.mark.parametrize("values", [TEXTS * 3, [*TEXTS, 3, None, 3], ["a", "b", "a"] * 50])
def test_escaper_column_is_the_escaper_of_each(values: list[Any]) -> None:
    warm = _Escaper(40)
    warm("a")  # a cache that already holds some values
    warm(HOSTILE[0])
    assert warm.column(values) == [_Escaper(40)(v) for v in values]
    assert warm.column(values) == [warm(v) for v in values]  # and again, from the cache


@pytest.fixture(scope="module")
def reports() -> list[ProfileReport]:
    mixed = make_report(
        [None, A, G, C, None, A, A, C, G, A], names=[*HOSTILE, "a", "b", "c", "d", "e"]
    )
    return [mixed, make_report(), an.profile("example:transformer")]


def test_record_columns_read_in_one_pass_are_those_read_one_by_one(
    reports: list[ProfileReport],
) -> None:
    for rep in reports:
        records = list(rep.ops)
        fast = RecordColumns(records)
        lazy = RecordColumns(records, prefetch=())
        for name in (*RECORD_FIELDS, "index", "is_const"):
            want = [getattr(r, name) for r in records]
            assert list(fast(name)) == want == list(lazy(name)), name
    assert list(RecordColumns([])("name")) == []


def _simple_columns(report: ProfileReport) -> dict[str, Any]:
    """The op table's record columns as the per-op comprehensions before issue 14 made them."""
    live = [report.ops[i] for i in [r.index for r in report.ops if not r.is_const]]
    esc, esc_long = _Escaper(), _Escaper(400)
    device = [UNKNOWN if r.device is None else r.device.value for r in live]
    lane_y = lane_ys(device)
    cols: dict[str, Any] = {
        "y": [lane_y[d] for d in device],
        "device": device,
        "name": [html_text(r.name) for r in live],
        "op_type": [esc(r.op_type) for r in live],
        "outputs": [esc(_outputs_text(r)) for r in live],
        "supported": [supported_code(r.supported) for r in live],
        "reason": [esc_long(r.reason or "—") for r in live],
        "evidence": [_EVIDENCE_CODE[_evidence_text(r, report.source)] for r in live],
        "time_ms": [r.est_time_ms for r in live],
    }
    if len({r.function for r in live}) > 1:
        cols["function"] = [esc(r.function) for r in live]
    if any(r.estimate is not None for r in live):
        cols["estimate"] = [esc_long(estimate_note(r) or "—") for r in live]
    return cols


def test_op_table_columns_are_the_simple_ones(reports: list[ProfileReport]) -> None:
    for rep in reports:
        table = op_table(rep)
        want = _simple_columns(rep)
        got = {k: list(np.asarray(v).tolist()) for k, v in table.columns.items() if k in want}
        assert got == want
        assert set(table.columns) - set(want) == {"x", "index", "segment", "segment_ops"}


def _fix_one_op(op: Any) -> str:
    """The fix as `fix_for` found it for one op before `fix_inputs` / `fix_from` existed: the
    reference the split is held to (`fix_for` itself is now built from the two)."""
    kind = op.reason_kind
    if kind is ReasonKind.RULE:
        return fixes._rule_fix(op.rules)
    if kind is ReasonKind.COMPUTE_UNITS:
        return fixes.COMPUTE_UNITS_FIX
    if kind is ReasonKind.COST_MODEL:
        driver = op.cost_driver
        return fixes.COST_MODEL_FIX if driver is None else fixes.COST_DRIVER_FIX[driver]
    if kind in (ReasonKind.COREML_UNSUPPORTED, ReasonKind.COREML_PREFERRED):
        est = op.estimate
        if est is not None and est.reason_kind is ReasonKind.RULE:
            return fixes._rule_fix(est.rules)
    return ""


def test_fix_from_its_inputs_is_the_fix_of_the_op(reports: list[ProfileReport]) -> None:
    op = next(r for r in reports[0].ops if not r.is_const)
    seen = sorted({r.rules for rep in reports for r in rep.ops if r.rules})
    rules = [(), ("no_such_rule",), *seen]
    assert len(rules) >= 4  # some real rule lists among them
    estimates = [
        None,
        *(
            OpEstimate(device=C, reason="r", reason_kind=k, rules=r)
            for k in ReasonKind
            for r in rules[:3]
        ),
    ]
    for kind, rule, driver, est in itertools.product(
        ReasonKind, rules[:4], [None, *CostDriver], estimates
    ):
        r = replace(op, reason_kind=kind, rules=rule, cost_driver=driver, estimate=est)
        assert fix_from(*fix_inputs(r)) == fix_for(r) == _fix_one_op(r), (kind, rule, driver, est)


@pytest.mark.parametrize("every", [2, 0], ids=["some estimates", "no estimate"])
def test_detail_codes_are_fix_for_of_each_op_with_estimates(
    reports: list[ProfileReport], every: int
) -> None:
    """detail_data finds a fix once per distinct input: the texts are still each op's own
    (with no estimate beside any op, the estimates' part of the inputs is not read per op)."""
    rep = reports[2]
    kinds = [ReasonKind.COREML_UNSUPPORTED, ReasonKind.COREML_PREFERRED, ReasonKind.RULE]
    ops = tuple(
        replace(
            r,
            reason_kind=kinds[k % 3],
            estimate=OpEstimate(device=C, reason="r", reason_kind=ReasonKind.RULE, rules=r.rules)
            if every and k % every
            else None,
        )
        if not r.is_const
        else r
        for k, r in enumerate(rep.ops)
    )
    rep = replace(rep, ops=ops)
    table = op_table(rep)
    d = detail_data(rep, table)
    esc = _Escaper(600)
    for k, i in enumerate(table.rows):
        assert d.fixes[int(d.source.data["fix"][k])] == esc(fix_for(rep.ops[int(i)]))
        assert d.rules[int(d.source.data["rules"][k])] == _Escaper()(
            ", ".join(rep.ops[int(i)].rules)
        )


def _unit_edges_simple(
    table: Any, us: list[Any], unit_of: np.ndarray, lo: int
) -> tuple[np.ndarray, np.ndarray]:
    """The per-row loop `graphunits._unit_edges` replaced."""
    ptr, src = table.in_ptr, table.in_src
    depth = np.zeros(len(us), dtype=np.int64)
    edges: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for u, (kind, _, f, last) in enumerate(us):
        d = 0
        for r in range(f, last + 1):
            for s in src[ptr[r] : ptr[r + 1]]:
                if lo <= s < f:
                    su = int(unit_of[s - lo])
                    d = max(d, int(depth[su]) + 1)
                    if kind < 0 and us[su][0] < 0:
                        edges.append((su, u))
                    elif (su, u) not in seen:
                        seen.add((su, u))
                        edges.append((su, u))
        depth[u] = d
    return np.asarray(edges, dtype=np.int64).reshape(-1, 2), depth


def test_unit_edges_are_those_of_the_row_loop(reports: list[ProfileReport]) -> None:
    from test_render_layers import llm_report

    from ane_notebook.analysis.layers import layer_tree
    from ane_notebook.render.graphunits import auto_expanded, layer_arrays, unit_layout

    for rep in [llm_report(60), reports[2]]:
        table = op_table(rep)
        layers = layer_arrays(layer_tree(rep))
        n = len(table)
        for lo, hi in [(0, n), (0, 0), (3, n // 2), (n // 3, n), (5, 6)]:
            for expanded in [None, set(), auto_expanded(layers, lo, hi), {0, 1, 2}]:
                for cap in [2000, 7]:
                    lay = unit_layout(table, layers, lo, hi, expanded, cap)
                    edges, depth = _unit_edges_simple(table, lay.units, lay.unit_of, lay.lo)
                    assert lay.edges.tolist() == edges.tolist()
                    assert lay.gx.tolist() == depth.astype(np.float64).tolist()
                    assert lay.edges.dtype == edges.dtype


def test_names_from_the_op_table_are_those_escaped_anew(reports: list[ProfileReport]) -> None:
    from ane_notebook.render.lanes import _op_names

    for rep in reports:
        table = op_table(rep)
        every = list(range(len(rep.ops)))  # const ops (not in the table) too
        assert _op_names(rep, table, every, _Escaper()) == [_Escaper()(r.name) for r in rep.ops]


def test_crossing_columns_with_the_groups_given_are_those_made_anew() -> None:
    from ane_notebook.render.lane_crossings import (
        crossing_columns,
        crossing_groups,
        label_columns,
    )

    rep = make_report([A, C, G, A, None, C] * 12)
    table = op_table(rep)
    grouped = crossing_groups(rep, table)
    assert len(grouped[0]) > 1
    lane_y = lane_ys(table.columns["device"])

    def plain(cols: dict[str, Any]) -> dict[str, Any]:
        return {k: np.asarray(v).tolist() for k, v in cols.items()}

    assert plain(crossing_columns(rep, table, lane_y, grouped)) == plain(
        crossing_columns(rep, table, lane_y)
    )
    given = label_columns(rep, table, lane_y, (-1.0, len(table)), grouped=grouped)
    anew = label_columns(rep, table, lane_y, (-1.0, len(table)))
    assert [plain(c) for c in given] == [plain(c) for c in anew]


def test_band_columns_with_the_levels_given_are_those_found_anew() -> None:
    from test_render_layers import llm_report

    from ane_notebook.analysis.layers import layer_tree
    from ane_notebook.render.layerband import band_columns, band_levels

    rep = llm_report(40)
    tree = layer_tree(rep)
    given = band_columns(tree, 320, 2.0, band_levels(tree))
    anew = band_columns(tree, 320, 2.0)
    for a, b in zip(given, anew, strict=True):
        assert {k: np.asarray(v).tolist() for k, v in a.items()} == {
            k: np.asarray(v).tolist() for k, v in b.items()
        }


def test_count_ops_is_the_per_attribute_loop(reports: list[ProfileReport]) -> None:
    from ane_notebook.placement.devices import DEVICE_ORDER
    from ane_notebook.placement.result import PlacementSource
    from ane_notebook.shares import count_ops, counts_and_times

    def simple(ops: Any) -> tuple[Any, ...]:
        per = dict.fromkeys(DEVICE_ORDER, 0)
        time = dict.fromkeys(DEVICE_ORDER, 0.0)
        cost = dict.fromkeys(DEVICE_ORDER, 0.0)
        n_run = n_const = n_unplaced = n_cost = 0
        for r in ops:
            if r.is_const:
                n_const += 1
                continue
            n_run += 1
            if r.cost_weight is not None:
                n_cost += 1
            if r.device is None:
                n_unplaced += 1
                continue
            per[r.device] += 1
            time[r.device] += r.est_time_ms
            if r.cost_weight is not None:
                cost[r.device] += r.cost_weight
        return per, time, cost, n_run, n_const, n_unplaced, n_cost

    for rep in reports:
        weighted = [
            replace(r, cost_weight=0.1 * k if k % 3 else None) for k, r in enumerate(rep.ops)
        ]
        for ops in (rep.ops, weighted):
            want = simple(ops)
            for source in PlacementSource:
                got = count_ops(ops, source)
                assert (got.ops, got.n_run, got.n_const, got.n_unplaced) == (
                    want[0],
                    *want[3:6],
                )
                basis_weights = want[2] if source.is_measured_plan and want[6] else want[1]
                assert got.weights == basis_weights
                # the summary's per-device times come from the same pass (report.summary)
                counts, times = counts_and_times(ops, source)
                assert counts == got
                assert times == want[1]
                assert list(map(repr, times.values())) == list(map(repr, want[1].values()))


def test_the_unknown_lane_is_there_when_an_op_that_runs_has_no_device(
    reports: list[ProfileReport],
) -> None:
    """build_layout reads the legend's "?" entry off the op table."""
    seen = set()
    for rep in reports:
        want = any(r.device is None and not r.is_const for r in rep.ops)
        assert (UNKNOWN in op_table(rep).columns["device"]) == want
        seen.add(want)
    assert seen == {True, False}


def test_band_mix_texts_are_each_layers_own() -> None:
    from test_render_layers import llm_report

    from ane_notebook.analysis.layers import layer_tree, walk
    from ane_notebook.render.layerband import _mix_text, _mix_texts

    layers = list(walk(layer_tree(llm_report(30))))
    assert len({_mix_text(n) for n in layers}) > 1
    assert _mix_texts(layers) == [_mix_text(n) for n in layers]


def test_detail_codes_past_int16_do_not_fail() -> None:
    """A (hostile) report with more distinct rule lists and hazard texts than int16 holds: the
    page sent int16 codes and numpy refused the 32,768th (OverflowError in `to_html`)."""
    from ane_notebook.placement.devices import Evidence
    from ane_notebook.placement.result import Hazard

    n = 33_000
    base = make_report([A, G, C] * (n // 3))
    ops = tuple(replace(r, rules=(f"r{r.index}",)) for r in base.ops)
    hazards = tuple(
        Hazard("sdpa_mask", f"h{r.index}", Evidence.OFFICIAL, "s", (r.index,))
        for r in base.ops
        if not r.is_const
    )
    rep = replace(base, ops=ops, hazards=hazards)
    table = op_table(rep)
    d = detail_data(rep, table)
    rules, hazard = d.source.data["rules"], d.source.data["hazard"]
    assert rules.dtype == np.int32 and hazard.dtype == np.int32
    names = [rep.ops[int(i)] for i in table.rows]
    assert [d.rules[c] for c in rules.tolist()] == [f"r{r.index}" for r in names]
    assert [d.hazards[c].split(" ")[0] for c in hazard.tolist()] == [f"h{r.index}" for r in names]
    # the usual report keeps its int16 codes
    small = detail_data(base, op_table(base))
    assert small.source.data["rules"].dtype == np.int16


def _misplaced(report: ProfileReport) -> ProfileReport:
    """`report` with its first two compute records swapped: records no longer at their index."""
    ops = list(report.ops)
    i, j = [k for k, r in enumerate(ops) if not r.is_const][:2]
    ops[i], ops[j] = ops[j], ops[i]
    return replace(report, ops=tuple(ops))


def test_the_layouts_layer_tree_is_the_reports_own(
    reports: list[ProfileReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_layout's tree from the op table's columns (issue 14) is `layer_tree(report)`, and
    a report whose records are not at their index takes `layer_tree` itself."""
    from test_render_layers import llm_report

    from ane_notebook.analysis.layers import layer_tree, layer_tree_of_columns
    from ane_notebook.render import layout

    trees: list[Any] = []
    real = layout._lane_parts

    def spy(report: ProfileReport, table: Any, mapper: Any, tree: Any) -> Any:
        trees.append(tree)
        return real(report, table, mapper, tree)

    monkeypatch.setattr(layout, "_lane_parts", spy)
    for rep in [*reports, llm_report(12)]:
        table = op_table(rep)
        assert table.compute_ops
        assert layer_tree_of_columns(table.fields.records, table.fields) == layer_tree(rep)
        odd = _misplaced(rep)
        assert not op_table(odd).compute_ops
        for r in (rep, odd):
            trees.clear()
            layout.build_layout(r, header=False)
            assert trees == [layer_tree(r)]
