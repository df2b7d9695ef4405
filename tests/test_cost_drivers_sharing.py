"""`cost_drivers` inside `Graph.sharing`: a call asking what the previous one asked (same
problem, costs, placement and ANE-capable ops) gets its answer again (issue 14); any other call,
and every call outside the block, works it out."""

from __future__ import annotations

import pytest

from ane_notebook.model.load import load_model
from ane_notebook.placement import cost_drivers as cd
from ane_notebook.placement.costs import corner, hardware_for
from ane_notebook.placement.devices import ComputeUnits
from ane_notebook.placement.estimate import build_problem
from ane_notebook.placement.partition import partition


@pytest.mark.parametrize("example", ["lstm", "control_flow", "nn_legacy", "transformer"])
def test_kept_answers_are_the_fresh_ones(example: str, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    fresh = cd._cost_drivers

    def counted(*args: object) -> dict[int, cd.Decision]:
        made.append(1)
        return fresh(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(cd, "_cost_drivers", counted)
    g = load_model(f"example:{example}")
    with g.sharing():
        problem = build_problem(g, "M1")
        hw = hardware_for(g, problem.chip)
        other_hw = hardware_for(g, problem.chip, corner(True, True))
        asks = []
        for cu in (ComputeUnits.CPU_AND_NE, ComputeUnits.ALL, ComputeUnits.CPU_AND_GPU):
            unary = problem.unary(cu, hw)
            assign = partition(unary, problem.edges, problem.functions, problem.tensors, hw=hw)
            times = problem.op_times(hw)
            asks += [(unary, times, assign, hw)] * 3
            asks.append((unary, times, [0] * len(assign), hw))  # another placement
            asks.append((unary, problem.op_times(other_hw), assign, other_hw))  # other costs
            asks.append((unary, times, assign, other_hw))  # other crossing costs only
        for unary, times, assign, h in asks:
            made.clear()
            got = cd.cost_drivers(problem, unary, times, assign, h)
            again = made == []
            assert got == fresh(problem, unary, times, assign, h)
            got.clear()  # the caller's to change: the kept answer is not
        assert cd.cost_drivers(problem, *asks[-1][:1], *asks[-1][1:]) == fresh(problem, *asks[-1])
    assert again is False  # the last ask differed from the one before it
    made.clear()
    cd.cost_drivers(problem, *asks[0])
    cd.cost_drivers(problem, *asks[0])
    assert len(made) == 2  # outside the block nothing is kept


def test_a_repeated_ask_is_not_worked_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    g = load_model("example:lstm")
    made: list[int] = []
    fresh = cd._cost_drivers
    monkeypatch.setattr(cd, "_cost_drivers", lambda *a: made.append(1) or fresh(*a))
    with g.sharing():
        problem = build_problem(g, "M1")
        hw = hardware_for(g, problem.chip)
        unary = problem.unary(ComputeUnits.ALL, hw)
        assign = partition(unary, problem.edges, problem.functions, problem.tensors, hw=hw)
        ne = problem.unary(ComputeUnits.CPU_AND_NE, hw)
        for u in (unary, unary, ne):  # CPU_AND_NE allows the ANE where ALL does
            cd.cost_drivers(problem, u, problem.op_times(hw), assign, hw)
    assert len(made) == 1
