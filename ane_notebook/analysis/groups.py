"""Groups: repeated structure (transformer layers, blocks, stages) found from op names.

A 50,000-op LLM is a few hundred copies of one layer. Drawn op by op, the lane view is a blur
when zoomed out; drawn layer by layer ("model_layers_12: 48 ANE, 3 GPU, 1.2 ms") it reads like
the model's own structure. This module finds those groups as *data*; drawing them is
`render/`'s job.

How a group is recognised, from names alone (Core ML keeps the source framework's names):

* A *candidate key* of an op name is the name up to and including a number that ends a name
  component: ``layer12`` in ``layer12_q``, ``model.layers.12`` in
  ``model.layers.12.self_attn.q_proj``, ``model_layers_12`` in ``model_layers_12_mlp_up_proj``
  (coremltools' torch frontend turns dots into underscores), ``blocks.3`` in ``blocks.3/attn``.
  Its *stem* is the key with the number replaced: ``model.layers.#``.
* A stem counts as repeated structure when it appears with at least `MIN_REPEATS` different
  numbers and covers on average at least `MIN_OPS_PER_GROUP` ops per number. That keeps out
  the converter's own numbering (``var_123``, ``linear_0``, ``transpose_8``, ``cast_fp16``):
  there each number names one op, or the stem has one number only.
* Each op takes its *leftmost* candidate key whose stem counts, so that
  ``model.layers.3.mlp.experts.7.w1`` belongs to layer 3 (layer granularity), not to expert 7.

Groups are then maximal runs of consecutive compute ops (const ops hold weights, run nowhere
and are skipped, as in segments) with the same key, within one function. Ops without a key
(converter-made ``var_123``, ``transpose_8``) that sit between two runs of the same key are
part of that group: they are the layer's own ops under a generated name. Other runs of ops
without a key become groups too (``is_layer=False``), named after their neighbours ("before
model_layers_0", "after model_layers_31", "between ... and ..."), so that the groups of a model
cover every compute op exactly once, in execution order. When no repeated structure is found,
`find_groups` returns an empty list: there is nothing to collapse.

The cost is linear in the number of ops (one regular-expression scan per name).

What the diagram draws is the whole nesting (`layers.py`, which uses the same thresholds); this
one level stays as the API for scripts that want "the layers" as a flat list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..placement.devices import DEVICE_ORDER, Device

if TYPE_CHECKING:
    from ..model.graph import Graph
    from ..report import ProfileReport

__all__ = ["MIN_OPS_PER_GROUP", "MIN_REPEATS", "Group", "candidate_keys", "find_groups"]

# A stem must repeat with at least this many numbers to be structure rather than a one-off name.
MIN_REPEATS = 2
# ... and its numbers must name this many compute ops each on average: converter numbering
# (var_12, linear_3) names one op, or two with a cast, per number.
MIN_OPS_PER_GROUP = 3

# A number that ends a name component: preceded by a non-digit, followed by a separator or the
# end of the name. The prefix before it must contain a letter (a key is never just "12").
_NUMBER = re.compile(r"(?<!\d)\d+(?=[._/:\-]|$)")
_HAS_LETTER = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class Group:
    """A run of consecutive compute ops sharing a layer key (or a run between layers).

    start/end: graph indices of the first and last compute op (inclusive; const ops in between
    belong to no group). device_mix: compute ops per device, with every device in lane order
    (zeros included), ops without a device not counted. est_time_ms: the ops' estimated times
    summed (crossings not included).
    """

    name: str
    start: int
    end: int
    n_ops: int
    device_mix: Mapping[Device, int]
    est_time_ms: float
    function: str = "main"
    is_layer: bool = True  # False for the ops between layers (embedding, head, ...)


def candidate_keys(name: str) -> list[tuple[str, str]]:
    """(key, stem) for every number that ends a component of `name`, leftmost first.

    >>> candidate_keys("model.layers.12.mlp.experts.3.w1")
    [('model.layers.12', 'model.layers.#'), ('model.layers.12.mlp.experts.3', \
'model.layers.12.mlp.experts.#')]
    """
    out = []
    for m in _NUMBER.finditer(name):
        prefix = name[: m.start()]
        if prefix and _HAS_LETTER.search(prefix):
            out.append((name[: m.end()], prefix + "#"))
    return out


def _ops_of(report_or_ops: Any) -> Sequence[Any]:
    # A ProfileReport, a Graph (both have .ops) or a sequence of OpRecord / Op.
    ops = getattr(report_or_ops, "ops", report_or_ops)
    return ops if isinstance(ops, Sequence) else list(ops)


def _layer_keys(compute: Sequence[Any]) -> list[str | None]:
    """The layer key of every compute op (None when it has none), per the module rules."""
    cands = [candidate_keys(op.name) for op in compute]
    numbers: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for cs in cands:
        for key, stem in cs:
            numbers.setdefault(stem, set()).add(key)
            counts[stem] = counts.get(stem, 0) + 1
    accepted = {
        stem
        for stem, keys in numbers.items()
        if len(keys) >= MIN_REPEATS and counts[stem] >= MIN_OPS_PER_GROUP * len(keys)
    }
    return [next((key for key, stem in cs if stem in accepted), None) for cs in cands]


def _runs(compute: Sequence[Any], keys: Sequence[str | None]) -> list[list[Any]]:
    """[key, function, first position, last position] runs of equal (key, function)."""
    runs: list[list[Any]] = []
    for pos, (op, key) in enumerate(zip(compute, keys, strict=True)):
        if runs and runs[-1][0] == key and runs[-1][1] == op.function:
            runs[-1][3] = pos
        else:
            runs.append([key, op.function, pos, pos])
    return runs


def _absorb_sandwiched(runs: list[list[Any]]) -> list[list[Any]]:
    """Merge key-less runs lying between two runs of the same key into that key's run."""
    out: list[list[Any]] = []
    i = 0
    while i < len(runs):
        run = runs[i]
        if (
            run[0] is None
            and out
            and i + 1 < len(runs)
            and out[-1][0] is not None
            and runs[i + 1][0] == out[-1][0]
            and out[-1][1] == run[1] == runs[i + 1][1]
        ):
            out[-1][3] = runs[i + 1][3]
            i += 2
            continue
        if out and out[-1][0] == run[0] and out[-1][1] == run[1]:
            out[-1][3] = run[3]
        else:
            out.append(list(run))
        i += 1
    return out


def _gap_name(before: str | None, after: str | None) -> str:
    if before and after:
        return f"between {before} and {after}"
    if after:
        return f"before {after}"
    if before:
        return f"after {before}"
    return "other ops"


def find_groups(report_or_ops: ProfileReport | Graph | Iterable[Any]) -> list[Group]:
    """Layer-level groups of a report's compute ops (see the module doc); [] if none.

    Accepts a `ProfileReport` (device mix and times filled in), a `Graph`, or a sequence of
    `OpRecord`/`Op` (anything with ``index``, ``name``, ``function``, ``is_const`` and, when
    known, ``device`` and ``est_time_ms``).
    """
    compute = [op for op in _ops_of(report_or_ops) if not op.is_const]
    if not compute:
        return []
    keys = _layer_keys(compute)
    if all(k is None for k in keys):
        return []
    runs = _absorb_sandwiched(_runs(compute, keys))
    groups: list[Group] = []
    for i, (key, function, lo, hi) in enumerate(runs):
        mix = dict.fromkeys(DEVICE_ORDER, 0)
        time_ms = 0.0
        for op in compute[lo : hi + 1]:
            dev = getattr(op, "device", None)
            if dev is not None:
                mix[dev] += 1
            time_ms += float(getattr(op, "est_time_ms", 0.0))
        if key is None:
            # Name a gap after the layers around it in the same function.
            before = runs[i - 1][0] if i > 0 and runs[i - 1][1] == function else None
            after = runs[i + 1][0] if i + 1 < len(runs) and runs[i + 1][1] == function else None
            name = _gap_name(before, after)
        else:
            name = key
        groups.append(
            Group(
                name=name,
                start=compute[lo].index,
                end=compute[hi].index,
                n_ops=hi - lo + 1,
                device_mix=mix,
                est_time_ms=time_ms,
                function=function,
                is_layer=key is not None,
            )
        )
    return groups
