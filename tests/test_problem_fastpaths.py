"""The partition problem's fast paths (GitHub issue 14) held to plain reference twins.

`TensorInfo.nbytes` / `num_elements` (one `math.prod`), `op_support`'s shared result for ops no
rule fires on, `op_costs` counting each tensor's bytes once and `_build_problem` reading the
activations' sizes once: each is compared with the obviously-correct code it replaced, on every
example model (cond/while bodies, NeuralNetwork layers, pipelines, flexible inputs, several
functions) and on hand-built graphs with unknown shapes, no ops and a single op.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import pytest
from graphs import chain

import ane_notebook as an
from ane_notebook.model.examples import EXAMPLES
from ane_notebook.model.graph import DTYPE_BYTES, Graph, Op, TensorInfo
from ane_notebook.placement.costs import (
    UNKNOWN_TENSOR_BYTES,
    known_bytes,
    op_costs,
    tensor_bytes,
)
from ane_notebook.placement.devices import Device, get_chip
from ane_notebook.placement.estimate import _build_problem
from ane_notebook.placement.rules.engine import (
    ALL_DEVICES,
    Finding,
    OpSupport,
    RuleContext,
    _fill,
    _index,
    op_support,
)


def ref_num_elements(t: TensorInfo) -> int | None:
    if t.shape is None:
        return None
    n = 1
    for d in t.shape:
        if d is None:
            return None
        n *= d
    return n


def ref_nbytes(t: TensorInfo) -> int | None:
    n = ref_num_elements(t)
    return None if n is None else int(n * DTYPE_BYTES.get(t.dtype, 4))


def ref_tensor_bytes(t: TensorInfo | None, fp16: bool = False) -> int:
    b = ref_nbytes(t) if t is not None else None
    if t is None or b is None:
        return UNKNOWN_TENSOR_BYTES
    return b // 2 if fp16 and t.dtype == "fp32" else b


def ref_op_support(op: Op, ctx: RuleContext) -> OpSupport:
    """`op_support` as it was: a new `OpSupport` for every op."""
    findings: list[Finding] = []
    excluded: set[Device] = set()
    dispatches = 1
    for rule in _index().rules_for(ctx.format_of(op), op.op_type):
        details = rule.check(op, ctx)
        if details is None:
            continue
        n = details.get("ane_dispatches", 1)
        n = n if isinstance(n, int) and n > 1 else 1
        findings.append(
            Finding(rule, _fill(rule, details, op, ctx), rule.excludes, n, rule.contested)
        )
        excluded |= rule.excludes
        dispatches = max(dispatches, n)
    excluded.discard(Device.CPU)
    return OpSupport(
        ALL_DEVICES - excluded,
        tuple(findings),
        ctx.is_known(op),
        dispatches,
        any(f.contested for f in findings),
    )


def ref_problem_parts(
    graph: Graph, work: Sequence[int]
) -> tuple[list[list[int]], set[int], list[list[TensorInfo | None]], list[list[TensorInfo | None]]]:
    """Edge bytes (as the live `tensor_bytes` counts them), unsized ops, activations and
    weights, as `_build_problem` found them reading each tensor's size twice."""
    tensors, producer = graph.tensors, graph.producer
    edge_bytes: list[list[int]] = []
    unsized: set[int] = set()
    activations: list[list[TensorInfo | None]] = []
    weights: list[list[TensorInfo | None]] = []
    for gi in work:
        op = graph.ops[gi]
        acts: list[TensorInfo | None] = []
        ws: list[TensorInfo | None] = []
        eb: list[int] = []
        for name in dict.fromkeys(op.inputs):
            key = (op.function, name)
            t, src = tensors.get(key), producer.get(key)
            if src is not None and graph.ops[src].is_const:
                ws.append(t)
                continue
            if src is None and t is None:
                continue
            acts.append(t)
            eb.append(tensor_bytes(t))  # the live function: `_build_problem` must agree with it
        edge_bytes.append(eb)
        activations.append(acts)
        weights.append(ws)
        if any(t is None or ref_nbytes(t) is None for t in (*acts, *ws, *op.outputs)):
            unsized.add(gi)
    return edge_bytes, unsized, activations, weights


def ref_act_bytes(
    ops: Sequence[Op], activations: Sequence[Sequence[TensorInfo | None]]
) -> tuple[list[float], list[float], list[float]]:
    """`op_costs`'s activation bytes (CPU, ANE/GPU, largest on the ANE) as it counted them."""
    act, accel, largest = [], [], []
    for op, acts in zip(ops, activations, strict=True):
        a = sum(ref_tensor_bytes(t) for t in acts) + sum(ref_tensor_bytes(t) for t in op.outputs)
        half = bool(op.attrs.get("nn_precision_unknown"))
        sizes = [ref_tensor_bytes(t, fp16=half) for t in (*acts, *op.outputs)]
        act.append(a)
        accel.append(sum(sizes) if half else a)
        largest.append(max(sizes, default=0))
    return act, accel, largest


def _odd_graph() -> Graph:
    """Unknown ranks and dims, an input nobody declared, fp32/int/int4 and unknown dtypes, a
    repeated input, a const weight, hostile names, and an op inside a cond body."""
    w = TensorInfo("w'\"<>", (64,), "fp16")
    outs = [
        TensorInfo("a b", None, "fp16"),
        TensorInfo("c", (1, None, 8), "fp32"),
        TensorInfo("d", (), "int32"),
        TensorInfo("e", (0, 3), "int4"),
        TensorInfo("f", (2, 3), "unknown(999)"),
        TensorInfo("g", (1, 70000), "fp16"),
    ]
    ops = [
        Op(0, w.name, "const", "main", (), (w,), is_const=True),
        Op(1, "a b", "relu", "main", ("x", "x"), (outs[0],)),
        Op(2, "c", "add", "main", ("a b", w.name, "ghost"), (outs[1],)),
        Op(3, "d", "cast", "main", ("c",), (outs[2],), {"dtype": "int32"}),
        Op(4, "e", "mul", "main", ("d", "x"), (outs[3],), block=("cond_0", "true")),
        Op(5, "f", "add", "main", ("e",), (outs[4],)),
        Op(6, "g", "linear", "main", ("f",), (outs[5],), {"weight_shape": [70000, 3]}),
    ]
    x = TensorInfo("x", (1, 64), "fp16")
    return Graph(
        "odd",
        "mlprogram",
        tuple(ops),
        (x,),
        (outs[-1],),
        function_inputs={("main", "x"): x},
    )


def _graphs() -> list[Graph]:
    graphs = [an.load_model(f"example:{name}") for name in EXAMPLES]
    return [*graphs, _odd_graph(), chain([]), chain(["relu"]), chain(["relu", "add"], dtype="fp32")]


@pytest.fixture(scope="module")
def graphs() -> list[Graph]:
    return _graphs()


@pytest.mark.parametrize(
    "shape",
    [None, (), (None,), (0, 3), (1, None, 4), (1, 64, 1, 64), (70000, 70000), (7,), (-1, 2)],
)
@pytest.mark.parametrize("dtype", ["fp16", "fp32", "int4", "int8", "int32", "bool", "odd"])
def test_nbytes_matches_the_loop(shape: tuple[int | None, ...] | None, dtype: str) -> None:
    t = TensorInfo("t", shape, dtype)
    assert t.num_elements == ref_num_elements(t)
    assert t.nbytes == ref_nbytes(t)
    assert type(t.nbytes) is type(ref_nbytes(t))
    # the one size function `tensor_bytes` and `_build_problem` share, and `tensor_bytes` on it
    assert known_bytes(t) == ref_nbytes(t)
    for fp16 in (False, True):
        assert tensor_bytes(t, fp16=fp16) == ref_tensor_bytes(t, fp16)


@pytest.mark.parametrize("chip", ["M1", "M4"])
def test_op_support_matches_fresh_results(graphs: list[Graph], chip: str) -> None:
    for graph in graphs:
        ctx = RuleContext(graph, get_chip(chip))
        for op in graph.ops:
            if op.is_const:
                continue
            got, want = op_support(op, ctx), ref_op_support(op, ctx)
            assert got == want, (graph.name, op.name)
            # the same devices in the same order: placements print them
            assert list(got.supported) == list(want.supported), (graph.name, op.name)


@pytest.mark.parametrize("chip", ["M1", "M4"])
def test_problem_sizes_match_the_reference(graphs: list[Graph], chip: str) -> None:
    profile = get_chip(chip)
    for graph in graphs:
        problem = _build_problem(graph, profile)
        edge_bytes, unsized, activations, weights = ref_problem_parts(graph, problem.work)
        assert [[nb for _, nb, _ in ek] for ek in problem.edges] == edge_bytes, graph.name
        assert problem.unsized == frozenset(unsized), graph.name
        ops = [graph.ops[gi] for gi in problem.work]
        act, accel, largest = ref_act_bytes(ops, activations)
        costs = op_costs(ops, activations, weights, profile)
        np.testing.assert_array_equal(costs.act_bytes, np.array(act, dtype=float))
        np.testing.assert_array_equal(costs.act_bytes_accel, np.array(accel, dtype=float))
        assert costs.act_max_accel is not None
        np.testing.assert_array_equal(costs.act_max_accel, np.array(largest, dtype=float))


def test_the_odd_graph_reaches_every_path() -> None:
    """The hand-built graph does hold what the fast paths must get right."""
    graph = _odd_graph()
    problem = _build_problem(graph, get_chip("M1"))
    assert problem.unsized == {1, 2, 3}
    sup = [s for s in problem.support if s is not None]
    assert any(s.findings for s in sup) and any(not s.findings for s in sup)
    assert tensor_bytes(None) == UNKNOWN_TENSOR_BYTES and known_bytes(None) is None


_ORDER_PROBE = """
from ane_notebook.placement.rules import engine
fresh = engine.ALL_DEVICES - set()
for shared in (engine._UNRESTRICTED, engine._UNRESTRICTED_UNKNOWN):
    assert list(shared.supported) == list(fresh), (list(shared.supported), list(fresh))
"""


@pytest.mark.parametrize("seed", ["0", "1", "2", "3"])
def test_shared_support_prints_its_devices_in_the_fresh_order(seed: str) -> None:
    """Set order hangs on the hash seed (a Device hashes by its name): under several seeds the
    shared result iterates as a freshly built `ALL_DEVICES - excluded` does (placement reprs)."""
    env = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run([sys.executable, "-c", _ORDER_PROBE], check=True, env=env)
