"""Score the estimator against published per-op placements (tests/data/published/*.json).

Each fixture lists the ops of a real (or probe) model in execution order with the device Core ML
chose. Most sources give op types but not shapes, so each fixture's graph is rebuilt here as a
chain of its ops with shapes and dtypes taken from the model's own description (the `CONTEXT`
table below says where each comes from). Nothing here reads the published device to build the
graph: the devices are used only for scoring.

Used by tests/test_published.py and benchmarks/accuracy.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ane_notebook.model.graph import FlexibleInput, Graph, Op, TensorInfo
from ane_notebook.placement.devices import ComputeUnits, Device
from ane_notebook.placement.estimate import estimate

FIXTURES = Path(__file__).parent / "data" / "published"


@dataclass(frozen=True)
class Context:
    """What the source says about the model, beyond its op list."""

    chip: str
    compute_units: ComputeUnits
    shape: tuple[int, ...]  # representative activation shape (fixture gives none per op)
    io_fp32: bool = False  # fp32 model inputs/outputs around an fp16 body
    precision: str = "fp16"
    separate_models: bool = False  # each op is its own single-op model
    range_input_default: tuple[int, ...] | None = None
    why: str = ""


CONTEXT: Mapping[str, Context] = {
    "freedomtan_mobilenet_edgetpu_e5": Context(
        "M1",
        ComputeUnits.ALL,
        (1, 64, 56, 56),
        io_fp32=True,
        why="MobilenetEdgeTPU (MLPerf Mobile), 224x224 fp32 image in, fp16 body (fixture notes); "
        "M1-family (H13G bundle); a mid-network activation stands for every op",
    ),
    "freedomtan_mobilenet_edgetpu_computeplan_readme": Context(
        "M1",
        ComputeUnits.ALL,
        (1, 64, 56, 56),
        io_fp32=True,
        why="same model as the E5 fixture (its first 13 ops)",
    ),
    "meridian_ane_encoder_counts": Context(
        "M1",
        ComputeUnits.CPU_AND_NE,
        (1, 384, 1, 64),
        range_input_default=(1, 384, 1, 64),
        why="AneEncoder: input [1,384,1,RangeDim(32..256, default 64)], fp16, CPU_AND_NE; chip "
        "not stated (M1 = our default)",
    ),
    "coremlinspect_readme_gpt2_sample": Context(
        "M1",
        ComputeUnits.ALL,
        (1, 64, 768),
        why="GPT-2-style LM (hidden 768); chip and sequence length not stated",
    ),
    "voxcpmane_m5max_block_partial": Context(
        "M4",
        ComputeUnits.CPU_AND_NE,
        (1, 768, 1, 128),
        why="HIDDEN=768, SEQ_LENGTH=128 (B,C,1,S) block; M5 Max -> our newest profile (M4); "
        "supported lists are CPU/ANE only (CPU_AND_NE)",
    ),
    "vx_matmul_4x4_f32": Context(
        "M4", ComputeUnits.ALL, (4, 4), precision="fp32", why="4x4 fp32 GEMM on an M4"
    ),
    "vx_affine_4": Context(
        "M4",
        ComputeUnits.ALL,
        (4,),
        precision="fp32",
        why="affine over 4 elements on an M4; precision not stated (fp32: Vx's default)",
    ),
    "vx_matmul_512_f16": Context(
        "M4",
        ComputeUnits.ALL,
        (512, 512),
        io_fp32=True,
        why="512x512 fp16 matmul with fp32 IO casts, M4",
    ),
    "vx_single_op_sweeps": Context(
        "M4",
        ComputeUnits.ALL,
        (1,),
        separate_models=True,
        why="single-op models with the shapes given per entry, M4",
    ),
}


@dataclass(frozen=True)
class Score:
    fixture: str
    model: str
    scored: int
    agreeing: int
    misses: tuple[str, ...]

    @property
    def agreement(self) -> float:
        return self.agreeing / self.scored if self.scored else 1.0


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def _expanded(ops: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Grouped entries ({"count": n}) become n ops (order within the model is unknown)."""
    out: list[Mapping[str, Any]] = []
    for o in ops:
        out.extend([o] * int(o.get("count", 1)))
    return out


def _dtypes(ops: Sequence[Mapping[str, Any]], ctx: Context) -> list[str]:
    """Each op's output dtype: given by the source, else from the model's precision and IO.

    With fp32 IO around an fp16 body, ops before the first cast work on the fp32 input and the
    last cast produces the fp32 output (the cast positions come from the op list itself).
    """
    n = len(ops)
    out = [ctx.precision] * n
    if ctx.io_fp32:
        casts = [i for i, o in enumerate(ops) if o["op_type"] == "cast"]
        if casts:
            for i in range(casts[0]):
                out[i] = "fp32"
            out[casts[0]] = "fp16"
            if len(casts) > 1:
                out[casts[-1]] = "fp32"
    for i, o in enumerate(ops):
        given = o.get("outputs") or o.get("inputs")
        if given and given[0].get("dtype") and o["op_type"] != "cast":
            out[i] = given[0]["dtype"]
    return out


def chain_graph(name: str, ops: Sequence[Mapping[str, Any]], ctx: Context) -> Graph:
    """The fixture's ops as one chain: each consumes the previous op's output."""
    dtypes = _dtypes(ops, ctx)
    first_in = ops[0].get("inputs") if ops else None
    x_dtype = "fp32" if ctx.io_fp32 else (first_in[0]["dtype"] if first_in else dtypes[0])
    x = TensorInfo("x", ctx.shape, x_dtype)
    graph_ops: list[Op] = []
    prev = x
    for i, o in enumerate(ops):
        shape = tuple(o["outputs"][0]["shape"]) if o.get("outputs") else ctx.shape
        out = TensorInfo(f"t{i}", shape, dtypes[i])
        # further published inputs (matmul b, attention k/v) are model inputs of their own
        inputs = [prev.name] + [f"t{i}_in{j}" for j in range(1, len(o.get("inputs", [])))]
        attrs: dict[str, Any] = {}
        if o["op_type"] == "conv":
            # kernel not published: a 3x3 conv over the representative activation
            c = ctx.shape[1] if len(ctx.shape) > 1 else 1
            attrs["weight_shape"] = (c, c, 3, 3)
        graph_ops.append(
            Op(
                index=i,
                name=f"{i}:{o['name']}",
                op_type=o["op_type"],
                function="main",
                inputs=tuple(inputs),
                outputs=(out,),
                attrs=attrs,
            )
        )
        prev = out
    function_inputs: dict[tuple[str, str], TensorInfo] = {("main", "x"): x}
    for op, o in zip(graph_ops, ops, strict=True):
        for j, spec in enumerate(o.get("inputs", [])[1:], start=1):
            key = ("main", f"t{op.index}_in{j}")
            function_inputs[key] = TensorInfo(key[1], tuple(spec["shape"]), spec["dtype"])
    if ops and ops[0].get("inputs"):
        spec = ops[0]["inputs"][0]
        x = TensorInfo("x", tuple(spec["shape"]), spec["dtype"])
        function_inputs[("main", "x")] = x
    flex: tuple[FlexibleInput, ...] = ()
    if ctx.range_input_default is not None:
        flex = (FlexibleInput("x", "range", ctx.range_input_default),)
    return Graph(
        name=name,
        format="mlprogram",
        ops=tuple(graph_ops),
        inputs=(x,),
        outputs=(prev,),
        flexible_inputs=flex,
        function_inputs=function_inputs,
    )


def score_fixture(name: str) -> Score:
    data = load_fixture(name)
    ctx = CONTEXT[name]
    ops = _expanded(data["ops"])
    models = [[o] for o in ops] if ctx.separate_models else [ops]
    agreeing = 0
    misses: list[str] = []
    for k, model_ops in enumerate(models):
        graph = chain_graph(f"{name}#{k}", model_ops, ctx)
        placement = estimate(graph, ctx.compute_units, ctx.chip)
        for o, p in zip(model_ops, placement.ops, strict=True):
            if p.device == Device(o["device"]):
                agreeing += 1
            else:
                misses.append(
                    f"{o['name']} ({o['op_type']}): published {o['device']}, "
                    f"estimated {p.device.value if p.device else None}"
                )
    return Score(name, data.get("model", name), len(ops), agreeing, tuple(misses))


def score_all() -> list[Score]:
    return [score_fixture(name) for name in CONTEXT]
