"""`fusion.epilogue_fused`'s fast path (GitHub issue 14: operands looked at only for op types
that may fold) held to the code it replaced (tests/fusion_reference.py), on every example model
(cond/while bodies, NeuralNetwork layers, pipelines, several functions), the synthetic LLM and
hand-built graphs: fold chains, swish gates, shared and returned producers, constants, names
nobody declared, no ops and a single op."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_reference import ref_epilogue_fused
from graphs import chain
from test_costs_fusion import _graph

import ane_notebook as an
from ane_notebook.model.examples import EXAMPLES
from ane_notebook.model.graph import Graph
from ane_notebook.placement.fusion import epilogue_fused


def _hand_built() -> list[Graph]:
    return [
        _graph([("c", "conv", ("x", "w")), ("b", "add", ("c", "bias")), ("r", "relu", ("b",))]),
        _graph([("c", "conv", ("x", "w")), ("s", "sigmoid", ("c",)), ("m", "mul", ("c", "s"))]),
        _graph([("c", "conv", ("x", "w")), ("r", "relu", ("c",)), ("t", "tanh", ("c",))]),
        _graph([("c", "linear", ("x", "w")), ("a", "add", ("c", "c")), ("g", "ghost", ("q",))]),
        _graph([("m", "mul", ("x", "x")), ("r", "relu", ("m",)), ("k", "clip", ("r",))]),
        _graph([("c", "conv", ("x", "w")), ("b", "add", ("c", "w")), ("r", "relu6", ("b",))]),
        chain([]),
        chain(["relu"]),
        chain(["conv", "relu", "sigmoid", "add", "relu", "tanh"]),
    ]


@pytest.fixture(scope="module")
def graphs() -> list[Graph]:
    examples = [an.load_model(f"example:{name}") for name in EXAMPLES]
    return [*examples, *_hand_built()]


def test_epilogue_fused_matches_the_reference(graphs: list[Graph]) -> None:
    folds = 0
    for graph in graphs:
        work = [op.index for op in graph.ops if not op.is_const]
        got, want = epilogue_fused(graph, work), ref_epilogue_fused(graph, work)
        np.testing.assert_array_equal(got, want, err_msg=graph.name)
        folds += int(want.sum())
    assert folds > 5  # the graphs do fold ops, so the fast path is exercised
