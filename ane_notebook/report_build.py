"""The op records of a report made from a placement (`ProfileReport.from_placement`), built a
column at a time (GitHub issue 14).

Making them one op at a time (21 fields gathered from the op, its placement and its links,
then a record) was most of `from_placement`'s own ~0.27 s at 50k ops (profiled). Here each
field is one column, read with a C-level `map` (`attrgetter` over the ops or their placements),
and each record's ``__dict__`` is made from the columns by `zip` and `dict`, as
`report_records` makes a loaded report's: no Python code runs per field. The per-op links (the
ops an op reads) are made the same way from the graph's input columns (`analysis/inputs.py`).

The records are those `OpRecord(...)` makes from the same fields, in the same ``__dict__``
order (tests/test_report.py); tests/test_report_fastpaths.py holds them to the one-op-at-a-time
code they replace (tests/report_reference.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import compress, islice, repeat
from operator import attrgetter, eq, is_, itemgetter, not_
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from .analysis.inputs import InputColumns, input_columns
from .model.graph import Graph
from .placement.result import OpPlacement
from .report_records import attribute_fields, lane_order, tensor_records, with_dicts

if TYPE_CHECKING:
    from .report import OpRecord, TensorRecord

__all__ = ["KeptRecords", "op_links", "placed_records"]

Links = list[tuple[tuple[int, ...], tuple["TensorRecord", ...]]]

# The record's fields in `OpRecord`'s order; `_record_dicts` reads each from the op
# (`_FROM_OP`), makes it (from the placement or the links) or reads it from the placement.
_FIELDS = (
    "index", "name", "op_type", "function", "device", "supported", "reason", "evidence",
    "est_time_ms", "outputs", "inputs", "is_const", "block", "rules", "cost_weight",
    "reason_kind", "contested", "alt_device", "shape_unknown", "estimate", "cost_driver",
)  # fmt: skip
_FROM_OP = frozenset({"index", "name", "op_type", "function", "block"})


class KeptRecords:
    """Inside `Graph.sharing`, for the reports of one graph, chip and placement source (the
    settings of a comparison): per op, the placement the latest of them placed it with and the
    record made from it, and that report's segments, crossings and hazards (`analyses`, None
    once a placement changed).

    A record is made from the op, its links and its placement alone, all immutable, so an op
    placed as before takes the kept record. "As before" is the very same placement object (the
    one every constant op shares), or for the estimator's placements (`by_value`) an equal
    one: they hold enums, strings, bools and times read from one table per graph and chip, so
    equal placements make the same record, down to the bits of each float. CPU_AND_NE and ALL
    often place every op alike (the 50k-op benchmark on M1 and M4): then ALL's report is
    CPU_AND_NE's records and analyses again, not ~0.13 s of building them anew (GitHub issue
    14). The segments, crossings and hazards depend on the graph, chip, source and placements
    alone: unchanged placements keep them too.
    """

    def __init__(self, n: int, by_value: bool) -> None:
        self.by_value = by_value
        self.placed: list[Any] = [_NOT_YET] * n
        self.records: list[OpRecord | None] = [None] * n
        self.analyses: tuple[Any, ...] | None = None


# A kept placement that matches none: `vars()` of it is {}, unequal to any placement's fields.
_NOT_YET = SimpleNamespace()


def placed_records(
    graph: Graph,
    placed: Sequence[OpPlacement],
    links: Links,
    kept: KeptRecords | None = None,
) -> list[OpRecord]:
    """The record of each op of `graph` placed by `placed` (one placement per op, in order),
    `links` its `op_links`; with `kept` (inside `Graph.sharing`), an op placed as in the
    previous report takes its kept record, and the others' new records are kept."""
    from .report import OpRecord  # local: report imports us

    if kept is None:
        return with_dicts(OpRecord, _record_dicts(graph.ops, placed, links), len(placed))
    # in C, one op at a time: ~12 ms at 50k ops, a tenth of making the records
    same = (
        map(eq, map(vars, placed), map(vars, kept.placed))
        if kept.by_value
        else map(is_, placed, kept.placed)
    )
    todo = list(compress(range(len(placed)), map(not_, same)))
    if todo:
        ops = list(map(graph.ops.__getitem__, todo))
        new = list(map(placed.__getitem__, todo))
        made = with_dicts(
            OpRecord, _record_dicts(ops, new, list(map(links.__getitem__, todo))), len(todo)
        )
        deque(map(kept.records.__setitem__, todo, made), maxlen=0)
        deque(map(kept.placed.__setitem__, todo, new), maxlen=0)
        kept.analyses = None  # made for other placements
    return list(kept.records)  # type: ignore[arg-type]  # every op has its record now


def _record_dicts(ops: Sequence[Any], placed: Sequence[OpPlacement], links: Links) -> Any:
    """One ``__dict__`` per op, fields in `_FIELDS` order, made from columns in C."""
    devices = list(map(attrgetter("device"), placed))
    computed = {
        "supported": map(lane_order().__getitem__, map(attrgetter("supported"), placed)),
        "est_time_ms": map(float, map(attrgetter("est_time_ms"), placed)),
        "outputs": map(itemgetter(1), links),
        "inputs": map(itemgetter(0), links),
        # a constexpr_* op that Core ML's plan runs and costs is not "no processor runs it":
        # it counts where the plan puts it
        "is_const": [op.is_const and d is None for op, d in zip(ops, devices, strict=True)],
        "device": devices,
    }
    columns = [
        computed[f] if f in computed else map(attrgetter(f), ops if f in _FROM_OP else placed)
        for f in _FIELDS
    ]
    return map(dict, map(zip, repeat(_FIELDS), zip(*columns, strict=True)))


def op_links(graph: Graph, inputs: InputColumns | None = None) -> Links:
    """Per op: the ops it reads (producer indices, in order, once each) and its output records.

    They depend on the graph alone: inside `Graph.sharing` they are made once and shared by
    every report of it (the four settings of a comparison; GitHub issue 14). `inputs`: the
    graph's `input_columns`, when the caller has them already.
    """

    def make() -> Links:
        cols = input_columns(graph) if inputs is None else inputs
        # each op's producers, in input order, once each (a dict keeps the first place), then
        # without the inputs no op produces (None) and the op's own outputs: all in C
        read = iter(cols.src)
        reads: list[dict[Any, None]] = list(
            map(dict.fromkeys, map(islice, repeat(read), cols.counts))
        )
        deque(map(dict.pop, reads, repeat(None), repeat(None)), maxlen=0)
        deque(map(dict.pop, reads, map(attrgetter("index"), graph.ops), repeat(None)), maxlen=0)
        # the output records a column at a time (a frozen __init__ per tensor took ~75 ms at
        # 50k ops, issue 14)
        outputs = tensor_records([op.outputs for op in graph.ops], attribute_fields)
        return list(zip(map(tuple, reads), outputs, strict=True))

    return graph.memo("report.op_links", make)
