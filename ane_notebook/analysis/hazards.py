"""Hazards of a split: placements that can change a model's *results*, not just its speed.

This module is a table, like the support rules: each `HazardRule` names the pattern it looks
for in the placed graph, what can go wrong, the fix, its evidence level and its published
source (docs/evidence.md, "Hazards", quotes and
dates each one). `find_hazards` runs the table
on a graph and its placement and returns the `Hazard`s a report carries; each flags the op at
risk first, then the ops that make it a hazard (e.g. the op that computed the mask).

Only patterns with a published source are here. Patterns we looked for and found no published
source for are listed in `NONE_KNOWN` and said to be "none known" rather than guessed at.

A hazard is only as sure as the placement it is found on: on an estimate (`source: estimate`)
the devices are ours, not Core ML's, and the message says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from ..model.graph import Graph, Op
from ..placement.devices import DEVICE_LABEL, Device, Evidence
from ..placement.result import Hazard, OpPlacement, PlacementSource
from .inputs import edges_of
from .segments import Segment

SDPA = "scaled_dot_product_attention"
FP16_MAX = 65504.0  # the largest finite IEEE 754 half-precision value

S_SIDEKICK_SDPA = (
    "ironblock/sidekick: tools/repro_sdpa_mask.py and docs/DECISIONS.md D25 "
    "(M1 Max, macOS 27.0, coremltools 9.0)"
)
S_CT2650 = "https://github.com/apple/coremltools/issues/2650 (macOS 26.2, coremltools 9.0)"
S_TYPED_EXEC = (
    "apple/coremltools: docs-guides/source/typed-execution.md (Neural Network Untyped Tensors)"
)


@dataclass(frozen=True)
class Site:
    """One place a hazard rule matched: the ops (the op at risk first) and message values."""

    ops: tuple[int, ...]
    details: Mapping[str, object]


def _ops_by_type(graph: Graph) -> Mapping[str, list[Op]]:
    def make() -> dict[str, list[Op]]:
        out: dict[str, list[Op]] = {}
        for op in graph.ops:
            out.setdefault(op.op_type, []).append(op)
        return out

    return graph.memo("hazards.ops_by_type", make)


@dataclass(frozen=True, eq=False)
class HazardContext:
    """What hazard rules may look at: the graph, where each op runs, and its segment."""

    graph: Graph
    placed: Sequence[OpPlacement]
    segments: Sequence[Segment]
    source: PlacementSource

    def device(self, index: int) -> Device | None:
        return self.placed[index].device

    @cached_property
    def segment_of(self) -> Mapping[int, int]:
        """Graph index -> index of its segment (ops that run somewhere only)."""
        out: dict[int, int] = {}
        for s in self.segments:
            for i in range(s.start, s.end + 1):
                if self.placed[i].device is s.device and self.graph.ops[i].function == s.function:
                    out[i] = s.index
        return out

    def ops_of(self, op_type: str) -> Sequence[Op]:
        """The graph's ops of one type, in order: patterns start from a few op types, and the
        index is made once per graph inside `Graph.sharing` (a comparison's four reports)
        instead of each pattern walking every op of every report (GitHub issue 14)."""
        return self._by_type.get(op_type, ())

    @cached_property
    def _by_type(self) -> Mapping[str, list[Op]]:
        # once per report outside `Graph.sharing` too: three patterns ask (issue 14)
        return _ops_by_type(self.graph)

    def producer(self, op: Op, name: str) -> int | None:
        return self.graph.producer.get((op.function, name))

    def arg(self, op: Op, param: str) -> str | None:
        """The one tensor name bound to `param` of an ML Program op (None if absent)."""
        args = op.attrs.get("args")
        if not isinstance(args, Mapping):
            return None
        names = args.get(param)
        if not names or len(names) != 1:
            return None
        return str(names[0])

    def shape(self, op: Op, name: str) -> tuple[int | None, ...] | None:
        t = self.graph.tensors.get((op.function, name))
        return None if t is None else t.shape

    def consumers(self, index: int) -> tuple[int, ...]:
        return self._consumers.get(index, ())

    @cached_property
    def _consumers(self) -> Mapping[int, tuple[int, ...]]:
        # the graph's edges as columns (`analysis.inputs`, made once inside `Graph.sharing`),
        # in `Graph.edges` order: no tensor looked up per edge
        edges = edges_of(self.graph)
        out: dict[int, list[int]] = {}
        for src, dst in zip(edges.src, edges.dst, strict=True):
            out.setdefault(src, []).append(dst)
        return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True)
class HazardRule:
    """One row of the hazards table.

    `find(ctx)` yields the sites where the pattern occurs; `message` is filled from a site's
    details (plus `{op}`, the at-risk op's name, and `{device}`, where it runs).
    """

    id: str
    pattern: str
    risk: str
    message: str
    fix: str
    evidence: Evidence
    source: str
    find: Callable[[HazardContext], Iterator[Site]]


# --- the patterns -----------------------------------------------------------------------------


def _sdpa_mask_outside_procedure(ctx: HazardContext) -> Iterator[Site]:
    """SDPA on the ANE whose attn_mask is a model input, computed off the ANE, or computed in an
    earlier ANE segment (a non-ANE op between splits the ANE work: a separate procedure)."""
    for op in ctx.ops_of(SDPA):
        if ctx.device(op.index) is not Device.ANE:
            continue
        mask = ctx.arg(op, "attn_mask")
        if mask is None:
            continue
        src = ctx.producer(op, mask)
        if src is None:
            if (op.function, mask) in ctx.graph.function_inputs:
                yield Site((op.index,), {"origin": f"that is the model input {mask!r}"})
            continue
        producer = ctx.graph.ops[src]
        dev = ctx.device(src)
        # A constant mask is folded into the ANE program, and an op the plan did not place has
        # no known processor: the source measured neither, so neither is flagged.
        if producer.is_const or dev is None:
            continue
        if dev is not Device.ANE:
            origin = f"computed on the {DEVICE_LABEL[dev]} by {producer.name!r}"
            yield Site((op.index, src), {"origin": origin})
        elif ctx.segment_of.get(src) != ctx.segment_of.get(op.index):
            origin = (
                f"computed by {producer.name!r} in an earlier Neural Engine segment "
                "(ops on another processor run in between)"
            )
            yield Site((op.index, src), {"origin": origin})


def _head_dim(ctx: HazardContext, op: Op) -> int | None:
    q = ctx.arg(op, "query")
    shape = ctx.shape(op, q) if q is not None else None
    if not shape or shape[-1] is None:
        return None
    return shape[-1]


def _sdpa_cpu_masked(ctx: HazardContext) -> Iterator[Site]:
    """Fused SDPA with an attn_mask, run on the CPU."""
    for op in ctx.ops_of(SDPA):
        if ctx.device(op.index) is not Device.CPU:
            continue
        if ctx.arg(op, "attn_mask") is None:
            continue
        d = _head_dim(ctx, op)
        if d is None:
            limit = "|fill| x sqrt(head dim) > 65504 (head dim unknown)"
        else:
            limit = f"the fill is below -{FP16_MAX / math.sqrt(d):.0f} (head dim {d})"
        yield Site((op.index,), {"limit": limit})


_SCALE_OPS = frozenset({"mul", "real_div"})


def _gpu_attention_batch(ctx: HazardContext) -> Iterator[Site]:
    """matmul -> [mul/real_div] -> add -> softmax -> matmul, all on the GPU, batch dim >= 10."""
    ops = ctx.graph.ops
    for op in ctx.ops_of("matmul"):
        if ctx.device(op.index) is not Device.GPU:
            continue
        shape = op.outputs[0].shape if op.outputs else None
        if not shape or shape[0] is None or shape[0] < 10:
            continue
        chain = [op.index]
        cur = op.index
        for want in ("add", "softmax", "matmul"):
            nxt = _only_consumer(ctx, cur)
            while want == "add" and nxt is not None and ops[nxt].op_type in _SCALE_OPS:
                chain.append(nxt)
                nxt = _only_consumer(ctx, nxt)
            if nxt is None or ops[nxt].op_type != want:
                break
            chain.append(nxt)
            cur = nxt
        else:
            if all(ctx.device(i) is Device.GPU for i in chain):
                yield Site(tuple(chain), {"batch": shape[0]})


def _only_consumer(ctx: HazardContext, index: int) -> int | None:
    users = ctx.consumers(index)
    return users[0] if len(users) == 1 else None


def _is_neuralnetwork(graph: Graph, op: Op) -> bool:
    return graph.format == "neuralnetwork" or "nn_precision_unknown" in op.attrs


def _nn_fp16_islands(ctx: HazardContext) -> Iterator[Site]:
    """NeuralNetwork layers split between the CPU (fp32) and the GPU/ANE (fp16)."""
    ops = ctx.graph.ops
    by_function: dict[str, list[Segment]] = {}
    for s in ctx.segments:
        if _is_neuralnetwork(ctx.graph, ops[s.start]):
            by_function.setdefault(s.function, []).append(s)
    for segs in by_function.values():
        if not any(s.device is Device.CPU for s in segs):
            continue  # one precision throughout this program: not a split
        for s in segs:
            if s.device is Device.CPU:
                continue
            members = tuple(
                i
                for i in range(s.start, s.end + 1)
                if ctx.segment_of.get(i) == s.index and not ops[i].is_const
            )
            yield Site(members, {"n": len(members), "seg_device": DEVICE_LABEL[s.device]})


HAZARDS: tuple[HazardRule, ...] = (
    HazardRule(
        id="sdpa.ane_mask_outside_procedure",
        pattern="scaled_dot_product_attention on the Neural Engine whose attn_mask is a model "
        "input, is computed off the Neural Engine, or is computed in an earlier Neural Engine "
        "segment",
        risk="the Neural Engine's fused attention ignores the mask: the output equals unmasked "
        "attention",
        message="{op} runs on the Neural Engine with an attn_mask {origin}; the Neural Engine's "
        "fused attention was measured to ignore such a mask (the output equals unmasked "
        "attention)",
        fix="compute the mask inside the attention's own Neural Engine segment, or write the "
        "attention as matmul -> softmax -> matmul (or pass scale= to "
        "F.scaled_dot_product_attention, which makes coremltools emit those ops): both were "
        "measured to honour the mask",
        evidence=Evidence.COMMUNITY,
        source=S_SIDEKICK_SDPA,
        find=_sdpa_mask_outside_procedure,
    ),
    HazardRule(
        id="sdpa.cpu_fully_masked_row_nan",
        pattern="scaled_dot_product_attention with an attn_mask on the CPU",
        risk="a query row whose keys are all masked comes out NaN, and the NaN spreads",
        message="{op} runs on the CPU with an attn_mask; Core ML's fused attention on the CPU "
        "was measured to return NaN for a query row whose keys are all masked when {limit}",
        fix="keep the mask fill above that limit (e.g. let every query attend to itself so no "
        "row is fully masked), or write the attention as matmul -> softmax -> matmul, "
        "measured to stay finite",
        evidence=Evidence.COMMUNITY,
        source=S_SIDEKICK_SDPA,
        find=_sdpa_cpu_masked,
    ),
    HazardRule(
        id="attention.gpu_batch_ge_10",
        pattern="matmul -> add -> softmax -> matmul attention on the GPU with batch (dim 0) >= 10",
        risk="the GPU's fused attention kernel gives wrong results",
        message="{op} starts a matmul -> add -> softmax -> matmul attention on the GPU with "
        "batch {batch}; Core ML's GPU was reported to fuse this pattern into an attention "
        "kernel that gives wrong results for batch >= 10 (CPU_ONLY and CPU_AND_NE were "
        "correct)",
        fix="run with CPU_AND_NE (or CPU_ONLY), or split the batch into calls of fewer than 10; "
        "check the coremltools issue for your macOS version",
        evidence=Evidence.COMMUNITY,
        source=S_CT2650,
        find=_gpu_attention_batch,
    ),
    HazardRule(
        id="precision.neuralnetwork_fp16_island",
        pattern="NeuralNetwork (.mlmodel) layers split between the CPU and the GPU or Neural "
        "Engine",
        risk="the layers on the GPU/Neural Engine compute in fp16 while the CPU computes in "
        "fp32: results depend on the split, which changes with hardware and OS",
        message="{n} NeuralNetwork layers from {op} run on the {seg_device} in fp16 while "
        "other layers run on the CPU in fp32: a neural network's intermediate tensors take "
        "the precision of the processor that runs them",
        fix="convert to an ML Program (typed tensors: Core ML never lowers their precision), "
        "keeping fp32 where needed (compute_precision=FLOAT32 or Float16ComputePrecision with "
        "op_selector), or load with CPU_ONLY for fp32 throughout",
        evidence=Evidence.OFFICIAL,
        source=S_TYPED_EXEC,
        find=_nn_fp16_islands,
    ),
)

# Patterns we looked for (docs/evidence.md, "None known") and found no published source for.
NONE_KNOWN: tuple[tuple[str, str], ...] = (
    (
        "fp32 ML Program ops forced into fp16 on the Neural Engine",
        "none known: Apple documents the opposite (typed-execution.md: an ML Program's types "
        "are the minimum precision; fp32 ops never run on the Neural Engine)",
    ),
    (
        "integer values leaving the fp16 range (or fp16's exact-integer range, 2048) at a crossing",
        "none known: no published Core ML case; ML Programs convert integers with explicit "
        "cast ops, which the placement shows",
    ),
)

_BY_ID: Mapping[str, HazardRule] = {h.id: h for h in HAZARDS}


def hazard_rule(hazard_id: str) -> HazardRule | None:
    """The table row behind a hazard (None for ids this version does not know)."""
    return _BY_ID.get(hazard_id)


def find_hazards(
    graph: Graph,
    placed: Sequence[OpPlacement],
    segments: Sequence[Segment],
    source: PlacementSource,
) -> tuple[Hazard, ...]:
    """Run the hazards table on a placed graph."""
    ctx = HazardContext(graph, placed, segments, PlacementSource(source))
    note = (
        " (on the estimated placement: Core ML may place these ops elsewhere)"
        if ctx.source is PlacementSource.ESTIMATE
        else ""
    )
    out: list[Hazard] = []
    for rule in HAZARDS:
        for site in rule.find(ctx):
            at = graph.ops[site.ops[0]]
            dev = ctx.device(at.index)
            message = rule.message.format(
                op=repr(at.name),
                device=DEVICE_LABEL[dev] if dev is not None else "no processor",
                **site.details,
            )
            out.append(Hazard(rule.id, message + note, rule.evidence, rule.source, site.ops))
    return tuple(out)
