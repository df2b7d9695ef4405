"""Small graphs built straight from the dataclasses, for tests that need no Core ML model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ane_notebook.model.graph import Graph, Op, TensorInfo


def chain(
    op_types: Sequence[str],
    shape: tuple[int, ...] = (1, 64, 1, 64),
    dtype: str = "fp16",
    attrs: Sequence[dict[str, Any]] | None = None,
    function: str = "main",
    name: str = "chain",
) -> Graph:
    """x -> op0 -> op1 -> ... : one tensor flows through every op."""
    ops = []
    prev = "x"
    for i, t in enumerate(op_types):
        out = TensorInfo(f"{t}_{i}", shape, dtype)
        ops.append(
            Op(
                index=i,
                name=out.name,
                op_type=t,
                function=function,
                inputs=(prev,),
                outputs=(out,),
                attrs=(attrs[i] if attrs else {}),
            )
        )
        prev = out.name
    x = TensorInfo("x", shape, dtype)
    return Graph(
        name=name,
        format="mlprogram",
        ops=tuple(ops),
        inputs=(x,),
        outputs=(ops[-1].outputs[0],) if ops else (),
        functions=(function,),
        function_inputs={(function, "x"): x},
    )
