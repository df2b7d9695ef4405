"""Every op input of a graph as flat columns, and the graph's data edges made from them.

A report reads each op's inputs twice: for its per-op links (the ops an op reads,
`report_build`) and for its crossings (the data edges, `crossings`). Walking `graph.ops` and
each op's input names in Python for both (`Graph.edges` yields one edge at a time) took
~0.25 s of a 50k-op report (GitHub issue 14). Here every input is one row of a few columns
(its op, its (function, name) key, the op producing it) made with C-level `map` and `zip`, and
the edges are a filter of those rows; nothing runs Python code per input.

The edges are `Graph.edges`', in its order (tests/test_report_fastpaths.py holds them to it):
consumer order, then input order, each input name once per op, only values an op produces,
no op's own output. Both tables depend on the graph alone: inside `Graph.sharing` they are made
once for every report of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, compress, repeat
from operator import and_, attrgetter, is_not, ne

from ..model.graph import Graph

__all__ = ["Edges", "InputColumns", "edges_of", "input_columns"]

Key = tuple[str, str]  # (function, tensor name), as `Graph.producer` and `Graph.tensors` key


@dataclass(frozen=True, slots=True)
class InputColumns:
    """Every input name of every op, in op then input order (repeats included)."""

    counts: list[int]  # per op: how many input names it has
    dst: list[int]  # per input: the graph index of the op reading it
    keys: list[Key]  # per input: its (function, name)
    src: list[int | None]  # per input: the graph index of the op producing it (None: none does)


@dataclass(frozen=True, slots=True)
class Edges:
    """The graph's data edges as columns, in `Graph.edges` order (tensors looked up by key)."""

    src: list[int]
    dst: list[int]
    keys: list[Key]


def input_columns(graph: Graph) -> InputColumns:
    """The inputs of `graph`'s ops as columns (kept inside `Graph.sharing`)."""

    def make() -> InputColumns:
        ops = graph.ops
        names = list(map(attrgetter("inputs"), ops))
        counts = list(map(len, names))
        per_op = (map(attrgetter(f), ops) for f in ("index", "function"))
        dst, functions = (list(chain.from_iterable(map(repeat, col, counts))) for col in per_op)
        keys = list(zip(functions, chain.from_iterable(names), strict=True))
        return InputColumns(counts, dst, keys, list(map(graph.producer.get, keys)))

    return graph.memo("analysis.input_columns", make)


def edges_of(graph: Graph, inputs: InputColumns | None = None) -> Edges:
    """`graph`'s data edges (kept inside `Graph.sharing`), from its `inputs` when given."""

    def make() -> Edges:
        cols = input_columns(graph) if inputs is None else inputs
        # each (op, name) once, at its first place: a dict keeps the first key's position (a
        # repeated name has the same producer, so which value it keeps does not matter)
        first = dict(zip(zip(cols.dst, cols.keys, strict=True), cols.src, strict=True))
        dst, keys, src = cols.dst, cols.keys, cols.src
        if len(first) != len(src):  # some op reads a name twice (rare): its first place only
            dst, keys = map(list, zip(*first, strict=True))
            src = list(first.values())
        # only values some op produces, and not the reading op itself
        keep = list(map(and_, map(is_not, src, repeat(None)), map(ne, src, dst)))
        return Edges(
            list(compress(src, keep)),  # type: ignore[arg-type]  # the None ones are left out
            list(compress(dst, keep)),
            list(compress(keys, keep)),
        )

    return graph.memo("analysis.edges", make)
