"""The rule engine: what a rule is, what it may look at, and how the table is run on an op.

`Rule` is one row of the table (`table.py`); `RuleContext` is what a rule's check may read
besides the op (the graph, the chip, cached lookups); a `Finding` is one rule that fired; an
`OpSupport` is the result for one op. Rules are indexed by (format, op type), so each op is only
checked against the few rules that can match it plus the cheap generic ones. The CPU is never
excluded: Core ML can always fall back to it (BNNS / classic CPU).

A rule does one of two things when it fires: it rules devices out (`Rule.excludes`), or, where
the evidence is that Core ML splits an op the ANE cannot take in one call, it leaves the ANE in
and says how many ANE calls the op needs (its check sets `ANE_DISPATCHES` in its details). The
estimate charges each call past the first as one more ANE launch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ...model.graph import Graph, Op, TensorInfo
from ..devices import ChipProfile, Device, Evidence, get_chip
from .vocab import FORMATS, KNOWN_BY_FORMAT, MLPROGRAM, NEURAL_FORMATS, NEURALNETWORK, NON_NEURAL

ALL_DEVICES: frozenset[Device] = frozenset(Device)

Details = Mapping[str, object]

ANE_DISPATCHES = "ane_dispatches"
"""Key a check sets in its details (an int > 1) when the op needs that many ANE calls."""


@dataclass(frozen=True)
class Rule:
    """One row of the support table.

    `check(op, ctx)` returns None when the rule does not fire, else the values that fill
    `reason` (`{chip}`, `{op}` and `{op_type}` are always available as well).
    """

    id: str
    applies_to: str
    op_types: frozenset[str] | None
    excludes: frozenset[Device]
    reason: str
    fix: str
    evidence: Evidence
    source: str
    check: Callable[[Op, RuleContext], Details | None]
    formats: frozenset[str] = NEURAL_FORMATS
    # Sources disagree about this decision and neither clearly outranks the other
    # (docs/evidence.md says how, rule by rule): the rule still acts, the decision is flagged.
    contested: bool = False


@dataclass(frozen=True, eq=False)
class RuleContext:
    """What rules may look at besides the op: the graph, the chip, and cached lookups.

    Build one per (graph, chip); the caches assume `op.index` identifies an op of `graph`.
    """

    graph: Graph
    chip: ChipProfile
    _io: dict[int, tuple[TensorInfo, ...]] = field(default_factory=dict, repr=False)

    def format_of(self, op: Op) -> str:
        """ "mlprogram" or "neuralnetwork": the graph's format, or for pipelines (which mix
        stages) the op's own, told by the loader's marker attributes; "non_neural" for a
        non-neural pipeline stage."""
        attrs = op.attrs
        if "pipeline_stage" in attrs:
            return NON_NEURAL
        fmt = self.graph.format
        if fmt in NEURAL_FORMATS:
            return fmt
        if "nn_precision_unknown" in attrs or "layer_name" in attrs:
            return NEURALNETWORK
        return MLPROGRAM

    def is_known(self, op: Op) -> bool:
        if "pipeline_stage" in op.attrs:
            return True  # a non-neural pipeline stage: `op.non_neural_stage` covers it
        return op.op_type in KNOWN_BY_FORMAT[self.format_of(op)]

    @cached_property
    def runtime(self) -> Mapping[tuple[str, str], TensorInfo]:
        """(function, name) -> tensor, for values computed at run time: function inputs and
        outputs of non-const ops. Weights and other constants are left out on purpose: they
        are folded at compile time, so their dtype and shape say nothing about the op's
        placement (an int32 `shape` argument of a reshape is not integer compute)."""
        out: dict[tuple[str, str], TensorInfo] = dict(self.graph.function_inputs)
        for op in self.graph.ops:
            if not op.is_const:
                for t in op.outputs:
                    out[(op.function, t.name)] = t
        return out

    @cached_property
    def range_inputs_without_default(self) -> tuple[str, ...]:
        """Range-flexible inputs with no usable default shape (none given, or a 0 in it)."""
        return tuple(
            f.name
            for f in self.graph.flexible_inputs
            if f.kind == "range" and (not f.default_shape or 0 in f.default_shape)
        )

    @cached_property
    def has_enumerated(self) -> bool:
        return any(f.kind == "enumerated" for f in self.graph.flexible_inputs)

    @cached_property
    def ane_family(self) -> int:
        """The chip's ANE family (1 = M1-class ... 4 = M4/M5-class, docs/evidence.md#devices.family)
        read back from its capability gates."""
        c = self.chip
        if c.max_axis >= 65536:
            return 4
        if c.ane_trig:
            return 3
        return 2 if c.texture_engine else 1

    def tensors_of(self, op: Op) -> tuple[TensorInfo, ...]:
        """The op's outputs followed by its run-time inputs (constants left out, see
        `runtime`), without duplicates. Cached per op."""
        got = self._io.get(op.index)
        if got is None:
            rt = self.runtime
            seen = {t.name for t in op.outputs}
            ins: list[TensorInfo] = []
            for name in op.inputs:
                if name in seen:
                    continue
                seen.add(name)
                t = rt.get((op.function, name))
                if t is not None:
                    ins.append(t)
            got = op.outputs + tuple(ins)
            self._io[op.index] = got
        return got

    def arg_tensor(self, op: Op, param: str, index: int) -> TensorInfo | None:
        """The tensor bound to MIL parameter `param` (constant or not), from the loader's
        `attrs["args"]`; without it, the `index`-th input. None when unknown."""
        args = op.attrs.get("args")
        if isinstance(args, Mapping):
            bound = args.get(param)
            if not bound or len(bound) != 1:
                return None
            name = bound[0]
        elif index < len(op.inputs):
            name = op.inputs[index]
        else:
            return None
        return self.graph.tensors.get((op.function, name))

    def is_runtime(self, op: Op, name: str) -> bool:
        return (op.function, name) in self.runtime


@dataclass(frozen=True)
class Finding:
    """One rule that fired on one op."""

    rule: Rule
    reason: str
    excludes: frozenset[Device]
    ane_dispatches: int = 1  # ANE calls the op needs by this rule (1: no split)
    contested: bool = False  # the rule's `contested`, carried to where findings are read


@dataclass(frozen=True)
class OpSupport:
    """The devices one op can run on and the findings that removed the others."""

    supported: frozenset[Device]
    findings: tuple[Finding, ...]
    known: bool
    ane_dispatches: int = 1
    """How many ANE calls the op needs if it runs on the ANE (the most any finding asks for);
    each call past the first costs one more ANE launch."""
    contested: bool = False
    """True when a finding that decided this op's support is contested (`Rule.contested`)."""


# --------------------------------------------------------------------------------------------
# The index: (format, op type) -> rules to check.


class _Index:
    """The table indexed for lookup: by id, and by (format, op type). Type-specific rules come
    first (their reasons are the most specific), then the generic ones every op of that format
    gets; the per-type tuples are built on first use."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.by_id: Mapping[str, Rule] = {r.id: r for r in rules}
        if len(self.by_id) != len(rules):  # pragma: no cover - caught at import by the tests
            raise RuntimeError("duplicate rule ids in RULES")
        self._generic: Mapping[str, tuple[Rule, ...]] = {
            fmt: tuple(r for r in rules if r.op_types is None and fmt in r.formats)
            for fmt in FORMATS
        }
        self._specific: Mapping[str, Mapping[str, tuple[Rule, ...]]] = {
            fmt: {
                t: tuple(
                    r
                    for r in rules
                    if r.op_types is not None and fmt in r.formats and t in r.op_types
                )
                for t in KNOWN_BY_FORMAT[fmt]
            }
            for fmt in FORMATS
        }
        self._cache: dict[tuple[str, str], tuple[Rule, ...]] = {}

    def rules_for(self, fmt: str, op_type: str) -> tuple[Rule, ...]:
        key = (fmt, op_type)
        got = self._cache.get(key)
        if got is None:
            got = self._specific[fmt].get(op_type, ()) + self._generic[fmt]
            self._cache[key] = got
        return got


@functools.cache
def _index() -> _Index:
    # The table imports `Rule` from this module, so it is read on first use, not at import.
    from .table import RULES

    return _Index(RULES)


def rule_by_id(id: str) -> Rule:
    """The rule with this id; KeyError (naming the known ids) when there is none."""
    by_id = _index().by_id
    try:
        return by_id[id]
    except KeyError:
        raise KeyError(f"unknown rule id {id!r}; known: {', '.join(by_id)}") from None


def _fill(rule: Rule, details: Details, op: Op, ctx: RuleContext) -> str:
    values: dict[str, Any] = {"chip": ctx.chip.name, "op": op.name, "op_type": op.op_type}
    values.update(details)
    return rule.reason.format_map(values)


def op_support(op: Op, ctx: RuleContext) -> OpSupport:
    """Which devices `op` can run on in `ctx.graph` on `ctx.chip`, and the findings why not.

    Const ops have no placement: ask `support_for_graph`, which returns None for them.
    """
    if op.is_const:
        raise ValueError(
            f"{op.name!r} is a constant ({op.op_type}); constants are folded at "
            "compile time and have no device (support_for_graph gives None)"
        )
    findings: list[Finding] = []
    excluded: set[Device] = set()
    dispatches = 1
    for rule in _index().rules_for(ctx.format_of(op), op.op_type):
        details = rule.check(op, ctx)
        if details is None:
            continue
        n = details.get(ANE_DISPATCHES, 1)
        n = n if isinstance(n, int) and n > 1 else 1
        reason = _fill(rule, details, op, ctx)
        findings.append(Finding(rule, reason, rule.excludes, n, rule.contested))
        excluded |= rule.excludes
        dispatches = max(dispatches, n)
    known = ctx.is_known(op)
    if not findings:
        # Most ops of a big model: one shared, immutable result instead of a new frozen
        # dataclass each (GitHub issue 14: 23.5k of the 50k benchmark's 25k ops).
        return _UNRESTRICTED if known else _UNRESTRICTED_UNKNOWN
    excluded.discard(Device.CPU)  # the CPU can always run it (no rule excludes it, by design)
    return OpSupport(
        supported=ALL_DEVICES - excluded,
        findings=tuple(findings),
        known=known,
        ane_dispatches=dispatches,
        contested=any(f.contested for f in findings),
    )


# `ALL_DEVICES - set()` as `op_support` builds it, not `ALL_DEVICES` itself: the same devices,
# but a set built anew iterates (and so prints) in the order placements have always shown.
_UNRESTRICTED = OpSupport(supported=ALL_DEVICES - set(), findings=(), known=True)
_UNRESTRICTED_UNKNOWN = OpSupport(supported=ALL_DEVICES - set(), findings=(), known=False)


def support_for_graph(
    graph: Graph, chip: ChipProfile | str | None = None
) -> list[OpSupport | None]:
    """`op_support` for every op of `graph`, in order; None for const ops."""
    ctx = RuleContext(graph, get_chip(chip))
    return [None if op.is_const else op_support(op, ctx) for op in graph.ops]
