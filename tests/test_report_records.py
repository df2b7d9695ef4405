"""A loaded report's records: built a column at a time (`report_records`) from the parsed op
dicts. They are the records the constructor makes, and the loaded report behaves as the one
that was saved in every way."""

from __future__ import annotations

import copy
import dataclasses
import gc
import json
import pickle
import weakref
from pathlib import Path
from typing import Any

import pytest
from test_report import as_version_1
from test_report_columns import with_estimates

from ane_notebook._gc import survivors_promoted
from ane_notebook.api import profile
from ane_notebook.model.examples import EXAMPLES
from ane_notebook.report import (
    OpRecord,
    TensorRecord,
    load_report,
    report_from_dict,
)
from ane_notebook.report_columns import op_columns
from ane_notebook.report_records import op_records
from ane_notebook.report_validation import _COLUMN_LIMITS
from ane_notebook.schema import read_json_file

_OP_FIELDS = [f.name for f in dataclasses.fields(OpRecord)]


def _save(tmp_path: Path, doc: dict[str, Any], name: str = "r.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, allow_nan=False, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_records_are_those_the_constructor_makes(example: str) -> None:
    for units in ("ALL", "CPU_AND_NE"):
        built = profile(f"example:{example}", units)
        doc = json.loads(built.to_json())
        for d in (doc, with_estimates(copy.deepcopy(doc))):
            records = op_records(d["ops"])
            assert records == tuple(report_from_dict(d).ops)
            # from the validator's columns (what report_from_dict and load_report pass)
            columns = op_columns(d["ops"], _COLUMN_LIMITS)
            assert columns and op_records(d["ops"], columns=columns) == records
            # the fresh dicts made from the columns: the same fields, values and order
            for fresh, rec in zip(op_records(d["ops"], columns=columns), records, strict=True):
                assert list(vars(fresh).items()) == list(vars(rec).items())
            for rec, o in zip(records, d["ops"], strict=True):
                # the fields in the order of the op's JSON, as the per-op loader had them
                assert type(rec) is OpRecord and list(vars(rec)) == list(o)
                assert sorted(o) == sorted(_OP_FIELDS)
                assert OpRecord(**vars(rec)) == rec
                for t in rec.outputs:
                    assert type(t) is TensorRecord and TensorRecord(t.name, t.shape, t.dtype) == t
        assert op_records(doc["ops"]) == built.ops


def test_ops_with_several_outputs_or_none_keep_their_own() -> None:
    # control_flow and lstm have ops of two and three outputs; here also one of none
    doc = json.loads(profile("example:lstm").to_json())
    assert {len(o["outputs"]) for o in doc["ops"]} == {1, 3}
    doc["ops"][0]["outputs"] = []
    records = op_records(doc["ops"])
    for rec, o in zip(records, doc["ops"], strict=True):
        assert [(t.name, t.shape, t.dtype) for t in rec.outputs] == [
            (t["name"], None if t["shape"] is None else tuple(t["shape"]), t["dtype"])
            for t in o["outputs"]
        ]
    doc = json.loads(profile("example:lstm").to_json())
    for o in doc["ops"]:
        o["outputs"] = []
    assert all(rec.outputs == () for rec in op_records(doc["ops"]))


def test_as_many_outputs_as_ops_but_not_one_each(tmp_path: Path) -> None:
    # one op without outputs, one with two: as many tensors as ops, which once took the
    # one-each shortcut and gave the first op the second's first output (both load paths)
    doc = json.loads(profile("example:lstm").to_json())
    ops = doc["ops"]
    assert all(len(o["outputs"]) in (1, 3) for o in ops)
    three = next(o for o in ops if len(o["outputs"]) == 3)
    three["outputs"].pop()
    ones = [o for o in ops if len(o["outputs"]) == 1 and o is not three]
    ones[0]["outputs"] = []
    assert sum(len(o["outputs"]) for o in ops) == len(ops)
    for report in (load_report(_save(tmp_path, doc)), report_from_dict(doc)):
        for rec, o in zip(report.ops, doc["ops"], strict=True):
            assert [t.name for t in rec.outputs] == [t["name"] for t in o["outputs"]]


def test_the_callers_dicts_are_left_as_they_were() -> None:
    doc = with_estimates(json.loads(profile("example:control_flow").to_json()))
    before = copy.deepcopy(doc)
    report_from_dict(doc)
    op_records(doc["ops"])
    assert doc == before


def test_reports_without_cost_driver_read_it_as_none(tmp_path: Path) -> None:
    doc = json.loads(profile("example:lstm").to_json())
    for o in doc["ops"]:
        del o["cost_driver"]
    loaded = load_report(_save(tmp_path, doc))
    assert all(rec.cost_driver is None for rec in loaded.ops)
    assert loaded == report_from_dict(doc)


def test_a_loaded_report_is_the_saved_one_in_every_form(tmp_path: Path) -> None:
    built = profile("example:transformer", "CPU_AND_NE")
    path = tmp_path / "r.json"
    text = built.to_json(path)
    loaded = load_report(path)
    assert loaded.ops == built.ops and loaded == built
    assert loaded.to_json() == text
    assert loaded.to_text() == built.to_text()
    assert loaded == report_from_dict(read_json_file(path))
    assert str(loaded.check(max_segments=100)) == str(built.check(max_segments=100))
    assert repr(loaded) == repr(built)
    assert loaded.op(built.ops[5].name) == built.ops[5]


def test_a_loaded_report_pickles_copies_and_replaces(tmp_path: Path) -> None:
    built = profile("example:lstm")
    path = tmp_path / "r.json"
    built.to_json(path)
    assert pickle.loads(pickle.dumps(load_report(path))) == built
    assert copy.deepcopy(load_report(path)) == built
    assert copy.copy(load_report(path)).ops == built.ops
    assert dataclasses.replace(load_report(path), chip="M4").ops == built.ops


def test_version_1_reports_load_the_same_way(tmp_path: Path) -> None:
    doc = as_version_1(profile("example:lstm"))
    loaded = load_report(_save(tmp_path, doc))
    assert loaded == report_from_dict(doc)


def test_promoting_keeps_others_frozen_objects_and_frees_the_callers_garbage() -> None:
    class Cycle:
        me: Any = None

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with survivors_promoted():  # something else froze objects (a server before forking)
            pass
        assert gc.get_freeze_count() == frozen  # left so
    finally:
        gc.unfreeze()
    b = Cycle()  # the caller's garbage, made just before the step
    b.me = b
    ref = weakref.ref(b)
    del b
    with survivors_promoted():
        kept = Cycle()
        kept.me = kept
    assert gc.get_freeze_count() == 0
    assert ref() is None  # freed at once, not promoted to wait for a full collection
    assert gc.is_tracked(kept) and kept.me is kept


def test_fields_are_set_by_the_slot_setter_or_the_generic_one() -> None:
    # tensor_records sets TensorRecord's slots through their own setters; a class without the
    # slot (a frozen dataclass with a __dict__) gets the generic, frozen-proof setter.
    from ane_notebook.report_records import _slot_setter

    @dataclasses.dataclass(frozen=True)
    class Plain:
        name: str = ""

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        name: str = ""

    for cls in (Plain, Slotted):
        obj = cls()
        _slot_setter(cls, "name")(obj, "set")
        assert obj == cls("set"), cls
    assert _slot_setter(Slotted, "name") == Slotted.__dict__["name"].__set__
    with pytest.raises(AttributeError):
        _slot_setter(Slotted, "other")(Slotted(), 1)  # no such slot: refused, not added


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_a_profiles_output_records_are_those_the_constructor_makes(example: str) -> None:
    # report_build.op_links makes the output records a column at a time (tensor_records)
    from ane_notebook.api import load_model
    from ane_notebook.report import TensorRecord

    graph = load_model(f"example:{example}")
    records = profile(f"example:{example}").ops
    want = [tuple(TensorRecord(t.name, t.shape, t.dtype) for t in op.outputs) for op in graph.ops]
    got = [r.outputs for r in records]
    assert got == want
    assert all(type(t) is TensorRecord for ts in got for t in ts)
    if example == "lstm":  # ops with no output or several are regrouped too
        assert any(len(ts) != 1 for ts in want)


def test_tensor_records_regroup_ops_with_none_or_several_outputs() -> None:
    from ane_notebook.model.graph import TensorInfo
    from ane_notebook.report import TensorRecord
    from ane_notebook.report_records import attribute_fields, tensor_records

    t = [TensorInfo(f"t{i}", (1, i) if i % 2 else None, "fp16") for i in range(6)]
    for outputs in ([[t[0]], [], [t[1], t[2]], [t[3]]], [[], []], [[t[4]]], [[t[5]], [t[0]]]):
        got = list(tensor_records(outputs, attribute_fields))
        assert got == [tuple(TensorRecord(x.name, x.shape, x.dtype) for x in o) for o in outputs]
