"""Which graph op each compute-plan entry is: plan rows matched to `Graph` ops by name.

Core ML and our loader name things differently in three places, and each is matched as Core ML
names it (coremlpython/CoreMLPython.mm builds coremltools' model structure from Core ML's own
`MLModelStructure`; the remote-device runner, modelrunner/ModelService.swift, keys its plan the
same way):

* NeuralNetwork layers are named by the *layer name* (`MLModelStructureNeuralNetworkLayer.name`,
  the remote path's `neuralNetworkLayer.name`), while a graph op is named by its first output,
  renamed ``"<name>@<k>"`` when a later layer rewrites the blob in place
  (`model.neuralnetwork._rename_rewritten_blobs`). Layers are matched by the layer name the
  loader keeps in ``Op.attrs["layer_name"]``; an output name never matches a layer whose name
  differs (that output is another layer's). docs/evidence.md#plan.nn_layer_names
* Pipeline stages are named by Core ML's sub-model names (``pipeline.names[i]``, or
  ``"model<i>"``); the graph labels them ``"<i>:<name>"``. `Graph.stage_names` translates
  (docs/evidence.md#plan.pipeline_stage_names).
* ML Program ops are named by their outputs; coremltools writes one remote-plan row per output,
  the remote device one per op (its first output): any output matches
  (docs/evidence.md#plan.ml_program_outputs).

A name that is unique in the whole graph also matches across functions (a plan made for a
model whose functions the loader filed under other names). Every row that matches nothing is
returned, so that the mismatch is counted and shown, never dropped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ...model.graph import Graph, Op
from .entries import PlanEntry

__all__ = ["Matches", "entry_graph_function", "match_entries"]


def _stage_labels(graph: Graph) -> dict[tuple[str, ...], str]:
    """Core ML's stage-name path -> our stage label (the first label, should names repeat)."""
    labels: dict[tuple[str, ...], str] = {}
    for label, names in graph.stage_names.items():
        labels.setdefault(tuple(names), label)
    return labels


def entry_graph_function(entry: PlanEntry, labels: Mapping[tuple[str, ...], str]) -> str:
    """The `Op.function` of the graph op `entry` describes: Core ML's stage names translated
    into our stage labels (names without a label are kept as they are)."""
    prefix = labels.get(entry.stages, "/".join(entry.stages)) if entry.stages else ""
    if entry.function is None:  # NeuralNetwork: the stage label, or "main" at top level
        return prefix or "main"
    return f"{prefix}/{entry.function}" if prefix else entry.function


def _layer_name(op: Op) -> str | None:
    name = op.attrs.get("layer_name")
    return name if isinstance(name, str) else None


@dataclass(frozen=True)
class Matches:
    """`by_op`: graph position -> its plan entry; `unmatched`: the entries no op matched, and
    the graph function each was looked for in."""

    by_op: Mapping[int, PlanEntry]
    unmatched: tuple[tuple[str, PlanEntry], ...]


def match_entries(
    graph: Graph, entries: Sequence[PlanEntry], functions: Collection[str] | None = None
) -> Matches:
    """Match `entries` onto the ops of `graph` (see the module docstring). With `functions`,
    only entries of those graph functions are matched; the others are ignored (a plan made with
    one function loaded also lists the structure of the others)."""
    labels = _stage_labels(graph)
    by_layer: dict[tuple[str, str], int] = {}
    layer_count: dict[str, int] = {}
    by_key: dict[tuple[str, str], int] = {}
    by_name: dict[str, set[int]] = {}
    for position, op in enumerate(graph.ops):
        layer = _layer_name(op)
        if layer is not None:
            by_layer.setdefault((op.function, layer), position)
            layer_count[layer] = layer_count.get(layer, 0) + 1
        for name in (op.name, *(t.name for t in op.outputs)):
            by_key.setdefault((op.function, name), position)
            by_name.setdefault(name, set()).add(position)
    layer_anywhere = {name: pos for (_, name), pos in by_layer.items() if layer_count[name] == 1}

    wanted: list[tuple[str, PlanEntry]] = []
    for entry in entries:
        function = entry_graph_function(entry, labels)
        if functions is None or function in functions:
            wanted.append((function, entry))
    by_op: dict[int, PlanEntry] = {}
    claimed: set[int] = set()
    # Layers by layer name first: an in-place layer's output name is another layer's op.
    pending: list[tuple[str, PlanEntry]] = []
    for function, entry in wanted:
        found = None
        if entry.kind == "layer":
            found = by_layer.get((function, entry.name), layer_anywhere.get(entry.name))
        if found is None:
            pending.append((function, entry))
        elif found not in by_op:
            by_op[found] = entry
            claimed.add(found)
    unmatched: list[tuple[str, PlanEntry]] = []
    for function, entry in pending:
        found = _by_output(graph, function, entry, by_key, by_name, claimed)
        if found is None:
            unmatched.append((function, entry))
        else:
            # a multi-output op may appear once per output: the first row wins
            by_op.setdefault(found, entry)
    return Matches(by_op=by_op, unmatched=tuple(unmatched))


def _by_output(
    graph: Graph,
    function: str,
    entry: PlanEntry,
    by_key: Mapping[tuple[str, str], int],
    by_name: Mapping[str, set[int]],
    claimed: set[int],
) -> int | None:
    for name in dict.fromkeys((entry.name, *entry.outputs)):
        found = by_key.get((function, name))
        if found is None and len(by_name.get(name, ())) == 1:
            found = next(iter(by_name[name]))
        if found is None or found in claimed:
            continue
        if entry.kind == "layer":
            layer = _layer_name(graph.ops[found])
            if layer is not None and layer != entry.name:
                continue  # that output belongs to another layer (an in-place rewrite)
        return found
    return None
