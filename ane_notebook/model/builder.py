"""The graph being built: ops of every function in execution order, the function names, the
tensors no op produces (function and block inputs), and the checks run on the finished graph.

The format modules (`mlprogram`, `neuralnetwork`, `pipeline`) append to one `GraphBuilder`;
`load.graph_from_spec` then runs `check_order` and `check_shapes` and freezes it into a `Graph`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelLoadError
from ..escape import plain
from .graph import Op, Shape, TensorInfo
from .limits import MAX_DIM, MAX_FUNCTIONS, MAX_OPS, MAX_RANK, MAX_TENSOR_ELEMENTS

__all__ = ["Frame", "GraphBuilder", "q", "too_many"]


@dataclass
class Frame:
    """One block being walked: its ops, where it sits, and the nesting depth."""

    ops: Iterator[Any]
    path: tuple[str, ...]
    parent: int | None
    depth: int


@dataclass
class GraphBuilder:
    """Ops, functions and unproduced tensors collected so far; `label` names the model in errors."""

    label: str
    ops: list[Op] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    function_inputs: dict[tuple[str, str], TensorInfo] = field(default_factory=dict)
    stage_names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # see Graph
    # The same names as `functions`, for O(1) duplicate checks (a list scan made 100k functions
    # or pipeline stages quadratic: ~90 s).
    _function_set: set[str] = field(default_factory=set)

    def fail(self, problem: str) -> ModelLoadError:
        return ModelLoadError(self.label, problem)

    def add_function(self, function: str) -> None:
        if function in self._function_set:
            raise self.fail(f"function {q(function)} appears twice")
        if len(self.functions) >= MAX_FUNCTIONS:
            raise self.fail(too_many("functions", MAX_FUNCTIONS))
        self._function_set.add(function)
        self.functions.append(function)

    @property
    def op_limit(self) -> int:
        """`MAX_OPS`, for a reader that tests ``len(ops) < op_limit`` itself before each op
        (then `check_op_count` raises the error)."""
        return MAX_OPS

    def check_op_count(self, more: int = 1) -> None:
        """Refuse `more` ops if they would take the graph past `MAX_OPS`: called before each op
        is added, and with a whole block's count before it is walked (so that a block of a
        billion ops fails at once, not after building a million of them)."""
        if len(self.ops) + more > MAX_OPS:
            raise self.fail(too_many("ops", MAX_OPS))

    def check_order(self) -> None:
        """Refuse graphs where an op reads a tensor that a later op produces: a cycle, ops out of
        execution order, or a name produced twice with a reader in between (ML programs are SSA;
        NeuralNetwork rewrites were renamed already). Everything downstream relies on the tuple
        being in execution order, with `Graph.producer` (the last producer of a name) before
        each reader."""
        # Per function, each name's last producer: no (function, name) tuple per tensor, and the
        # first producer is only looked for when there is an error to report (issue 14, 50k
        # ops: ~48 -> ~25 ms, and the load's peak, which falls here, 7 MB lower).
        last: dict[str, dict[str, int]] = {}
        for op in self.ops:
            produced = last.get(op.function)
            if produced is None:
                produced = last[op.function] = {}
            for t in op.outputs:
                produced[t.name] = op.index
        unproduced = self.function_inputs
        for op in self.ops:
            produced = last[op.function]
            index = op.index
            for name in op.inputs:
                src = produced.get(name)
                if src is None or src < index or (op.function, name) in unproduced:
                    continue
                first = next(
                    o.index
                    for o in self.ops
                    if o.function == op.function and any(t.name == name for t in o.outputs)
                )
                if first < index:
                    raise self.fail(
                        f"tensor {q(name)} is produced twice (by ops #{first} and #{src}) "
                        f"and op {q(op.name)} reads it in between (tensor names must be "
                        "unique)"
                    )
                raise self.fail(
                    f"op {q(op.name)} reads {q(name)} before it is produced "
                    "(cycle or ops out of order)"
                )

    def check_shapes(self, interface: Iterable[TensorInfo]) -> None:
        """Refuse declared shapes no model can have (see `_shape_problem`)."""
        tensors = itertools.chain(
            self.function_inputs.values(), (t for op in self.ops for t in op.outputs), interface
        )
        # A big model's tensors share a few dozen shapes: each is checked once (issue 14: 50k
        # tensors at 50k ops, ~27 -> ~17 ms). A shape with a problem is never added, so the
        # first tensor that has it is the one named.
        fine: set[Shape | None] = set()
        for t in tensors:
            if t.shape in fine:
                continue
            problem = _shape_problem(t.shape)
            if problem is not None:
                raise self.fail(f"tensor {q(t.name)} declares {problem}")
            fine.add(t.shape)


def q(name: str) -> str:
    """A model-provided name quoted for an error message (cut short: names can be huge)."""
    return f"'{plain(name, 80)}'"


def too_many(what: str, limit: int, *, count: int | None = None, where: str = "the model") -> str:
    """The problem of a count beyond one of `limits`, naming the limit."""
    if count is None:
        return f"{where} has more than {limit:,} {what} (the limit)"
    return f"{where} has {count:,} {what}, more than the limit of {limit:,}"


def _shape_problem(shape: Shape | None) -> str | None:
    if shape is None:
        return None
    if len(shape) > MAX_RANK:
        return f"{len(shape)} dimensions (more than {MAX_RANK}: not a real tensor)"
    elements = 1
    for d in shape:
        if d is None:
            continue
        if d > MAX_DIM:
            return (
                f"dimension {d}, which is not a valid size (more than 2**63 - 1: a negative "
                "size stored unsigned?)"
            )
        elements *= d
    if elements > MAX_TENSOR_ELEMENTS:
        return "a shape of more than 2**128 elements"
    return None
