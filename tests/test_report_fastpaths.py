"""The report's column-at-a-time fast paths (issue 14) held to the plain code they replace.

`report_build.placed_records` and `op_links` (a report's records and per-op links) and
`find_crossings` (its edges between processors, picked out of `analysis/inputs`' columns) must
give what the one-op-at-a-time code before them gave (tests/report_reference.py), field for
field, on random graphs and placements (several functions, const ops, ops reading a name twice,
their own output or a name nothing produces, ops without outputs or shapes, unplaced ops, one
placement object shared by many ops), on hand-made edge cases and on the examples, alone and
inside `Graph.sharing` (where constant ops' records are kept between reports).
"""

from __future__ import annotations

import dataclasses

import pytest
import report_reference as ref
from hypothesis import given
from hypothesis import strategies as st
from test_properties import SETTINGS, graphs

from ane_notebook.analysis.crossings import find_crossings
from ane_notebook.analysis.inputs import edges_of, input_columns
from ane_notebook.api import load_model
from ane_notebook.model.graph import Graph, Op, TensorInfo
from ane_notebook.placement.devices import CHIPS, ComputeUnits, Device, Evidence
from ane_notebook.placement.estimate import estimate
from ane_notebook.placement.result import OpPlacement, ReasonKind
from ane_notebook.report import OpRecord, ProfileReport
from ane_notebook.report_build import KeptRecords, op_links, placed_records

DEVICES = [None, Device.ANE, Device.GPU, Device.CPU]
CONST = OpPlacement(None, frozenset(), reason="const", reason_kind=ReasonKind.CONSTANT)


def placement_for(draw: st.DrawFn, graph: Graph) -> list[OpPlacement]:
    """A random placement: any device or none, the shared const placement, odd times."""
    out = []
    for op in graph.ops:
        if op.is_const and draw(st.booleans()):
            out.append(CONST)
            continue
        out.append(
            OpPlacement(
                draw(st.sampled_from(DEVICES)),
                frozenset(draw(st.lists(st.sampled_from(DEVICES[1:]), max_size=3))),
                reason=draw(st.sampled_from(["", "why", "<b>x</b>"])),
                evidence=draw(st.sampled_from([None, *Evidence])),
                est_time_ms=draw(st.sampled_from([0, 0.25, 1e-9, 3])),
                rules=tuple(draw(st.lists(st.sampled_from(["r.a", "r.b"]), max_size=2))),
                contested=draw(st.booleans()),
                alt_device=draw(st.sampled_from(DEVICES)),
            )
        )
    return out


@st.composite
def placed_graphs(draw: st.DrawFn) -> tuple[Graph, list[OpPlacement]]:
    graph = draw(graphs())
    return graph, placement_for(draw, graph)


def odd_graph() -> Graph:
    """Edge cases by hand: an op reading a name twice, its own output, a name nothing makes,
    an op with no outputs, with unknown shapes, inside a cond block, in a second function."""
    t = [
        TensorInfo(f"t{i}", (1, i) if i % 2 else None, "fp32" if i % 3 else "int32")
        for i in range(6)
    ]
    x = TensorInfo("x", (1, None), "fp16")
    ops = (
        Op(0, "t0", "const", "main", (), (t[0],), is_const=True),
        Op(1, "t1", "add", "main", ("x", "t0", "x", "t0"), (t[1],)),
        Op(2, "t2", "while_loop", "main", ("t2", "t1", "nowhere"), (t[2], t[3])),
        Op(3, "t4", "mul", "main", ("t3", "t2", "t1"), (t[4],), block=("while", "body"), parent=2),
        Op(4, "", "print", "main", ("t4",), ()),
        Op(5, "t5", "relu", "second", ("x", "t1"), (t[5],)),
    )
    fi = {("main", "x"): x, ("second", "x"): x}
    return Graph("odd", "mlprogram", ops, (x,), (t[4],), ("main", "second"), function_inputs=fi)


def check(graph: Graph, placed: list[OpPlacement]) -> None:
    cols = input_columns(graph)
    assert [
        (s, d, graph.tensors[k])
        for s, d, k in zip(*dataclasses.astuple(edges_of(graph)), strict=True)
    ] == list(graph.edges())
    links = op_links(graph, cols)
    assert links == ref.op_links(graph)
    got = placed_records(graph, placed, links)
    want = ref.records(graph, placed)
    assert got == want
    assert all(
        type(r) is OpRecord and list(vars(r)) == list(vars(w))
        for r, w in zip(got, want, strict=True)
    )
    for chip in (None, CHIPS["M1"]):
        assert find_crossings(graph, placed, chip, cols) == ref.find_crossings(graph, placed, chip)
        assert find_crossings(graph, placed, chip) == ref.find_crossings(graph, placed, chip)
    # inside Graph.sharing: an op placed by the same object as in the previous report (the
    # estimator's: an equal one) takes its kept record; the others' are made and kept
    changed = [
        dataclasses.replace(p, est_time_ms=float(p.est_time_ms) + 1) if i % 2 else p
        for i, p in enumerate(placed)
    ]
    equal = [dataclasses.replace(p) for p in placed]
    for by_value in (False, True):
        kept = KeptRecords(len(graph.ops), by_value)
        kept_ref: dict[int, tuple[OpPlacement, OpRecord]] = {}
        prev: list[OpRecord] = []
        prev_ref: list[OpRecord] = []
        for now in (placed, placed, equal, changed, placed, equal):
            got = placed_records(graph, now, links, kept)
            want = ref.records(graph, now, kept_ref, by_value)
            assert got == want
            assert [a is b for a, b in zip(got, prev, strict=False)] == [
                a is b for a, b in zip(want, prev_ref, strict=False)
            ]
            prev, prev_ref = got, want
        assert all(a is b for a, b in zip(kept.records, got, strict=True))
        assert len(kept_ref) == len(kept.placed)
        assert all(kept.placed[i] is p for i, (p, _) in kept_ref.items())


@given(placed_graphs())
@SETTINGS
def test_fast_paths_match_the_reference_on_random_graphs(
    case: tuple[Graph, list[OpPlacement]],
) -> None:
    check(*case)


@given(st.data())
@SETTINGS
def test_fast_paths_match_the_reference_on_edge_cases(data: st.DataObject) -> None:
    graph = odd_graph()
    check(graph, placement_for(data.draw, graph))


def test_an_empty_graph_and_a_single_op() -> None:
    empty = Graph("empty", "mlprogram", (), (), ())
    check(empty, [])
    one = Graph("one", "mlprogram", (Op(0, "y", "relu", "main", ("x",), ()),), (), ())
    check(one, [OpPlacement(Device.ANE, frozenset({Device.ANE}))])


@pytest.mark.parametrize("example", ["transformer", "lstm", "mobilenet"])
def test_fast_paths_match_the_reference_on_examples(example: str) -> None:
    graph = load_model(f"example:{example}")
    for units in ComputeUnits:
        placed = list(estimate(graph, units, "M4").ops)
        check(graph, placed)
        report = ProfileReport.from_placement(graph, estimate(graph, units, "M4"))
        assert list(report.ops) == ref.records(graph, placed)
