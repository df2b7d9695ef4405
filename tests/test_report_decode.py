"""The typed fast path of `load_report` (`report_decode`).

It may only ever say "certainly valid": whatever the full path (orjson, then
`report_validation`) refuses, `load_report` must still refuse with the same one-line error, and
whatever both accept must give the same report, field for field. It must also be taken on the
reports we write, or it buys nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_report_columns import (
    _BAD,
    _BAD_ESTIMATE,
    ONE_OP_CHANGE,
    _doc,
    _set,
    changed_doc,
    with_estimates,
)

from ane_notebook import report_decode
from ane_notebook.errors import PlanError
from ane_notebook.model.examples import EXAMPLES
from ane_notebook.placement.devices import DEVICE_ORDER
from ane_notebook.report import OpRecord, TensorRecord, load_report
from ane_notebook.report_decode import decode_report
from ane_notebook.report_format import MAX_DIM


def _bytes(doc: Any) -> bytes:
    # NaN and infinities go out as the literals JSON forbids: both parsers must refuse them
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _outcome(raw: bytes, tmp_path: Path, fast: bool) -> tuple[Any, ...]:
    """("ok", the report's JSON, its records) or ("refused", the PlanError's text), with the
    fast path on or off."""
    path = tmp_path / "r.json"
    path.write_bytes(raw)
    with pytest.MonkeyPatch.context() as m:
        if not fast:
            m.setattr(report_decode, "decode_report", lambda raw: None)
        try:
            report = load_report(path)
        except PlanError as e:
            return "refused", str(e)
    return "ok", report.to_json(), report.ops


def _same_outcome(raw: bytes, tmp_path: Path) -> tuple[Any, ...]:
    fast, slow = _outcome(raw, tmp_path, True), _outcome(raw, tmp_path, False)
    assert fast == slow
    return fast


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_our_reports_take_the_fast_path_and_load_as_before(example: str, tmp_path: Path) -> None:
    for units in ("ALL", "CPU_AND_NE", "CPU_ONLY"):
        for doc in (_doc(example, units), with_estimates(_doc(example, units))):
            raw = _bytes(doc)
            decoded = decode_report(raw)
            assert decoded is not None
            path = tmp_path / "r.json"
            path.write_bytes(raw)
            fast = load_report(path)
            with pytest.MonkeyPatch.context() as m:
                m.setattr(report_decode, "decode_report", lambda raw: None)
                slow = load_report(path)
            assert fast == slow and fast.to_dict() == doc
            # the records' own dicts: the same fields, values, types and order
            for a, b in zip(fast.ops, slow.ops, strict=True):
                assert type(a) is OpRecord and list(vars(a).items()) == list(vars(b).items())
                assert [type(v) for v in vars(a).values()] == [type(v) for v in vars(b).values()]
                assert OpRecord(**vars(a)) == a
            assert decoded.devices == [o["device"] for o in doc["ops"]]


@pytest.mark.parametrize(("path", "value"), _BAD + _BAD_ESTIMATE)
def test_one_bad_value_is_refused_with_the_full_paths_error(
    path: tuple[Any, ...], value: Any, tmp_path: Path
) -> None:
    doc = with_estimates(_doc()) if path[:3] == ("ops", 3, "estimate") else _doc()
    _set(doc, path, value)
    raw = _bytes(doc)
    kind = _same_outcome(raw, tmp_path)[0]
    # a str subclass is a plain string once written: then the file is valid
    if kind == "refused":
        assert decode_report(raw) is None or _refused_after_decoding(raw)


def _refused_after_decoding(raw: bytes) -> bool:
    decoded = decode_report(raw)
    assert decoded is not None
    from ane_notebook.report_validation import validate_report

    try:
        validate_report(decoded.data, "<doc>", op_devices=decoded.devices)
    except PlanError:
        return True
    return False


_TIME = '"est_time_ms": 0.0'
_SLOT = '"<slot>"'  # a value in the top-level metadata, for texts json.dumps cannot write
_TEXT_CASES = {
    "duplicate key, last valid": lambda t: t.replace('"index": 3,', '"index": "x", "index": 3,'),
    "duplicate key, last bad": lambda t: t.replace('"index": 3,', '"index": 3, "index": "x",'),
    "escaped key": lambda t: t.replace('"op_type"', '"op\\u005ftype"'),
    "byte order mark": lambda t: "\ufeff" + t,
    "trailing data": lambda t: t + " []",
    "control character in a string": lambda t: t.replace('"main"', '"ma\x01in"', 1),
    "unpaired surrogate": lambda t: t.replace('"main"', '"ma\\ud800in"', 1),
    "paired surrogates": lambda t: t.replace('"main"', '"ma\\ud83d\\ude00in"', 1),
    "huge integer as a time": lambda t: t.replace(_TIME, f'"est_time_ms": 1{"0" * 400}', 1),
    "integer above the time limit": lambda t: t.replace(_TIME, f'"est_time_ms": 1{"0" * 199}1', 1),
    "exponent past a float": lambda t: t.replace(_TIME, '"est_time_ms": 1e400', 1),
    "negative zero": lambda t: t.replace(_TIME, '"est_time_ms": -0.0', 1),
    "integer weight": lambda t: t.replace('"cost_weight": null', '"cost_weight": 1', 1),
    "version 2.0": lambda t: t.replace('"version": 2', '"version": 2.0', 1),
    "deep metadata": lambda t: t.replace(_SLOT, "[" * 40 + "]" * 40),
    "metadata nested past the parsers": lambda t: t.replace(_SLOT, "[" * 3000 + "]" * 3000),
    "not UTF-8": lambda t: t.replace('"main"', '"ma\udcffin"', 1),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(_TEXT_CASES))
def test_texts_either_path_reads_alike(case: str, tmp_path: Path) -> None:
    doc = _doc()
    doc["metadata"]["slot"] = "<slot>"
    text = json.dumps(doc, ensure_ascii=False)
    changed = _TEXT_CASES[case](text)
    assert changed != text
    raw = changed.encode("utf-8", "surrogateescape")
    _same_outcome(raw, tmp_path)


def test_older_reports_go_the_full_way(tmp_path: Path) -> None:
    doc = _doc()
    for o in doc["ops"]:
        del o["cost_driver"]  # written before cost drivers: read as None by the full path
    raw = _bytes(doc)
    assert decode_report(raw) is None
    kind, text, _ = _same_outcome(raw, tmp_path)
    assert kind == "ok" and all(o["cost_driver"] is None for o in json.loads(text)["ops"])
    no_ops = dict(_doc(), ops=[], segments=[], crossings=[], warnings=[], hazards=[])
    no_ops["uncertainty"] = None
    assert decode_report(_bytes(no_ops)) is None
    _same_outcome(_bytes(no_ops), tmp_path)


def test_supported_devices_in_another_order_come_out_in_lane_order(tmp_path: Path) -> None:
    doc = _doc()
    ops = [o for o in doc["ops"] if len(o["supported"]) > 1]
    assert ops
    for o in ops:
        o["supported"].reverse()
    kind, _, records = _same_outcome(_bytes(doc), tmp_path)
    assert kind == "ok"
    order = {d.value: i for i, d in enumerate(DEVICE_ORDER)}
    assert [[d.value for d in r.supported] for r in records] == [
        sorted(o["supported"], key=order.__getitem__) for o in doc["ops"]
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (10**400, "refused"),
        (-(10**400), "refused"),
        ([[[[10**309]]]], "refused"),
        (1234567890123456789012, "ok"),
        ({"a": [1.5, 10**308]}, "ok"),
    ],
)
def test_integers_in_free_form_metadata_read_alike(value: Any, kind: str, tmp_path: Path) -> None:
    # the full path's parser refuses integers beyond any float; msgspec would keep them
    doc = _doc()
    doc["metadata"]["n"] = value
    assert _same_outcome(_bytes(doc), tmp_path)[0] == kind


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**ONE_OP_CHANGE)
def test_any_change_to_an_op_has_one_outcome(
    estimates: bool, choice: int, action: str, value: Any, tmp_path_factory: Any
) -> None:
    doc, _ = changed_doc(estimates, choice, action, copy.deepcopy(value))
    _same_outcome(_bytes(doc), tmp_path_factory.mktemp("r"))


def test_the_op_struct_has_the_report_fields_in_the_column_order() -> None:
    from ane_notebook.report_validation import _COLUMN_LIMITS

    assert tuple(_COLUMN_LIMITS["op_types"]) == report_decode._OP_FIELDS
    assert set(report_decode._OP_FIELDS) == {f.name for f in dataclasses.fields(OpRecord)}


# Segments and crossings: typed and checked by the fast path too (report_decode._placed_ok)
_PLACED_VALUES = (
    None, True, False, 0, 1, 2, 3, -1, 0.0, 1.0, 2.5, -0.0, 1e200, 1e201, 2**63, 2**64,
     2**131, 2**131 + 1, "", "ANE", "GPU", "CPU", "TPU", "main", [], [1, None], [None] * 65,
     [-1], {},
)  # fmt: skip
_DELETED = object()
_SEGMENT_KEYS = ("index", "device", "function", "start", "end", "n_ops", "est_time_ms",
                 "launch_ms", "io_ms", "extra")  # fmt: skip
_CROSSING_KEYS = ("src", "dst", "tensor", "shape", "dtype", "bytes", "src_device",
                  "dst_device", "est_cost_ms", "moved", "extra")  # fmt: skip


def _placed_doc() -> dict[str, Any]:
    doc = _doc("transformer", "ALL")
    assert len(doc["segments"]) > 1 and doc["crossings"]
    return doc


def test_reports_with_crossings_take_the_fast_path_and_load_as_before(tmp_path: Path) -> None:
    for doc in (_placed_doc(), _doc("transformer", "CPU_AND_NE")):
        for s in doc["segments"][:1]:  # optional fields, absent in older reports
            del s["launch_ms"], s["io_ms"]
        doc["crossings"][0]["bytes"] = 2**131  # beyond int64: kept exact
        doc["crossings"][-1]["est_cost_ms"] = 0  # an integer time: read as a float
        raw = _bytes(doc)
        decoded = decode_report(raw)
        assert decoded is not None and decoded.segments and decoded.crossings
        kind, text, _ = _same_outcome(raw, tmp_path)
        assert kind == "ok"
        fast = load_report(tmp_path / "r.json")
        for a in (*fast.segments, *fast.crossings):
            assert type(a)(**vars(a)) == a
            assert [type(v) for v in vars(a).values()] == [
                type(v) for v in vars(type(a)(**vars(a))).values()
            ]
        assert json.loads(text)["crossings"][-1]["est_cost_ms"] == 0.0


def test_any_change_to_a_segment_or_crossing_has_one_outcome(tmp_path: Path) -> None:
    # every field of a segment and of a crossing: each value above, and the field deleted
    outcomes = set()
    for kind, keys in (("segments", _SEGMENT_KEYS), ("crossings", _CROSSING_KEYS)):
        for name in keys:
            for value in (*_PLACED_VALUES, _DELETED):
                doc = _placed_doc()
                target = doc[kind][1]
                if value is _DELETED:
                    target.pop(name, None)
                else:
                    target[name] = copy.deepcopy(value)
                outcomes.add(_same_outcome(_bytes(doc), tmp_path)[0])
    assert outcomes == {"ok", "refused"}


def test_a_crossing_between_ops_on_one_device_is_refused(tmp_path: Path) -> None:
    doc = _placed_doc()
    c = doc["crossings"][0]
    # a later op on the producer's device made the consumer, on that device too
    later = [o["index"] for o in doc["ops"][c["src"] + 1 :] if o["device"] == c["src_device"]]
    assert later
    c["dst"], c["dst_device"] = later[0], c["src_device"]
    assert decode_report(_bytes(doc)) is None
    assert _same_outcome(_bytes(doc), tmp_path)[0] == "refused"


_NAMES = st.text(max_size=8)
_TENSORS = st.builds(
    report_decode._Tensor,
    name=_NAMES,
    shape=st.none()
    | st.tuples()
    | st.lists(st.none() | st.integers(0, MAX_DIM), max_size=5).map(tuple),
    dtype=_NAMES,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_TENSORS, max_size=4).map(tuple), max_size=12))
def test_output_records_are_those_tensor_records_makes(outputs: list[tuple[Any, ...]]) -> None:
    # the fast path's msgspec conversion against the column-at-a-time records it replaced
    from ane_notebook.report_records import attribute_fields, tensor_records

    made = report_decode._output_records(outputs)
    expected = list(tensor_records(outputs, attribute_fields))
    assert made == expected
    for a, b in zip(made, expected, strict=True):
        assert type(a) is tuple and [type(t) for t in a] == [type(t) for t in b]
        for t, u in zip(a, b, strict=True):
            assert (type(t.shape), t.shape and [type(d) for d in t.shape]) == (
                type(u.shape),
                u.shape and [type(d) for d in u.shape],
            )
            assert TensorRecord(t.name, t.shape, t.dtype) == t


@pytest.mark.parametrize("long_integer", [False, True])
def test_a_raised_recursion_limit_does_not_let_deep_files_crash_the_parsers(
    long_integer: bool, tmp_path: Path
) -> None:
    # The C parsers' nesting bound follows the recursion limit: raised far, a deep file would
    # crash the interpreter (in a child process here, so a crash fails the test, not the run).
    # msgspec reads the file first; orjson then refuses it (1024 levels), unless it holds a
    # long integer: then the standard library's parser reads it.
    path = tmp_path / "deep.json"
    deep = b"[" * 10**6 + (b"1" * 30 if long_integer else b"") + b"]" * 10**6
    path.write_bytes(b'{"format": "ane_notebook.report", "version": 2, "metadata": %s}' % deep)
    code = (
        "import sys\nfrom ane_notebook.report import load_report\n"
        "from ane_notebook.errors import PlanError\nsys.setrecursionlimit(10**7)\n"
        f"try:\n    load_report({str(path)!r})\nexcept PlanError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert "nested too deeply" in done.stdout


def test_orjsons_depth_limit_is_not_handed_to_the_exact_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ane_notebook.schema as schema

    def exact(raw: bytes, p: Path) -> Any:
        raise AssertionError("the exact parser was used")

    monkeypatch.setattr(schema, "_parse_exactly", exact)
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 2000 + b"]" * 2000)
    with pytest.raises(PlanError, match="nested too deeply"):
        load_report(path)


def test_the_recursion_limit_is_lowered_only_while_parsing() -> None:
    old = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(100_000)
        assert decode_report(_bytes(_doc())) is not None
        assert sys.getrecursionlimit() == 100_000
    finally:
        sys.setrecursionlimit(old)


_HUGE = "1" + "0" * 400
_DEEP = "[" * 1100 + "]" * 1100


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"chip": "', f'"chip": {_HUGE}, "chip": "'),
        ('"chip": "', f'"chip": 9{"9" * 308}, "chip": "'),
        ('"metadata": {', f'"metadata": [{_HUGE}], "metadata": {{'),
        ('"model": {"name": ', f'"model": {{"name": {_HUGE}, "name": '),
        ('"timings": ', f'"timings": {_HUGE}, "timings": '),
        ('"segments": ', f'"segments": {_HUGE}, "segments": '),
        ('"estimate": null', f'"estimate": {{"a": {_HUGE}}}, "estimate": null'),
        ('"chip": "', f'"chip": {_DEEP}, "chip": "'),
        ('"estimate": null', f'"estimate": {{"a": {_DEEP}}}, "estimate": null'),
    ],
)
def test_a_value_a_duplicate_key_replaces_is_refused_as_by_the_full_path(
    old: str, new: str, tmp_path: Path
) -> None:
    # Every parser keeps the last of two equal keys, but the full path's refuses an integer
    # beyond a float or nesting past 1024 levels even in the value replaced (found in review).
    # A raised recursion limit (as in IPython) would let msgspec nest that deep.
    text = json.dumps(_doc(), ensure_ascii=False)
    assert old in text
    raw = text.replace(old, new, 1).encode("utf-8")
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(3000)
        assert _same_outcome(raw, tmp_path)[0] == "refused"
    finally:
        sys.setrecursionlimit(limit)


def test_a_deep_call_stack_with_a_raised_limit_still_parses(tmp_path: Path) -> None:
    # the parsers' recursion limit is relative to the depth they are called at: from 9,990
    # frames down, a file with a long integer (the standard parser's) loads as from the top
    doc = _doc()
    doc["metadata"]["big"] = 12345678901234567890123
    raw = _bytes(doc)
    limit = sys.getrecursionlimit()

    def at_depth(n: int) -> tuple[Any, ...]:
        return at_depth(n - 1) if n else _same_outcome(raw, tmp_path)

    try:
        sys.setrecursionlimit(100_000)
        assert at_depth(9_990)[0] == "ok"
    finally:
        sys.setrecursionlimit(limit)
