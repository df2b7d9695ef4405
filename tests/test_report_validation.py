"""The hand-written report validator: it agrees with report.schema.json (the contract) and
catches what a schema cannot say."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ane_notebook.api import profile
from ane_notebook.errors import PlanError
from ane_notebook.model.examples import EXAMPLES
from ane_notebook.report import load_report, report_from_dict
from ane_notebook.report_validation import MAX_JSON_DEPTH, validate_report
from ane_notebook.schema import report_schema


@cache
def _report_dict(example: str, units: str = "ALL") -> str:
    return profile(f"example:{example}", units).to_json()


def _fresh(example: str = "transformer") -> dict[str, Any]:
    return json.loads(_report_dict(example))


@cache
def _reference() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(report_schema())


def _ours_accepts(doc: Any) -> bool:
    try:
        validate_report(doc, "<doc>")
    except PlanError:
        return False
    return True


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_example_report_is_valid_for_both(example: str) -> None:
    for units in ("ALL", "CPU_AND_NE", "CPU_ONLY"):
        doc = json.loads(_report_dict(example, units))
        assert not list(_reference().iter_errors(doc))
        assert _ours_accepts(doc)


# --- agreement: whatever the schema rejects, we reject -----------------------------------------

_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into `doc`, a few items of each long list only (reports are big)."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i in sorted({0, 1, len(doc) - 1} & set(range(len(doc)))):
            out += _paths(doc[i], (*prefix, i))
    return out


_SMALL = ("lstm", "control_flow", "transformer")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    example=st.sampled_from(_SMALL),
    choice=st.integers(min_value=0),
    action=st.sampled_from(["replace", "delete", "add"]),
    value=_JSON_VALUES,
)
def test_whatever_the_schema_rejects_we_reject(
    example: str, choice: int, action: str, value: Any
) -> None:
    doc = _fresh(example)
    paths = [p for p in _paths(doc) if p]
    path = paths[choice % len(paths)]
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[f"extra_{last}"] = value
    else:
        parent.append(value)
    schema_rejects = bool(list(_reference().iter_errors(doc)))
    if schema_rejects:
        assert not _ours_accepts(doc), f"{action} at {path}: schema rejects, we accept"


def test_the_agreement_check_can_fail() -> None:
    # A validator that forgot a field would be caught: the schema rejects a missing `chip`.
    doc = _fresh()
    del doc["chip"]
    assert list(_reference().iter_errors(doc))
    assert not _ours_accepts(doc)


# --- what only this validator catches (each passed the schema, or crashed a renderer) --------


# Too deep for json.dumps: written into the file as text (see _write).
_DEEP = "<deep metadata>"
_DEEP_JSON = '{"x": ' * 600 + '"leaf"' + "}" * 600


def _write(doc: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(doc).replace(json.dumps(_DEEP), _DEEP_JSON), encoding="utf-8")


Edit = Callable[[dict[str, Any]], None]


def _other_device(segment: dict[str, Any]) -> None:
    segment["device"] = "GPU" if segment["device"] != "GPU" else "CPU"


MEANING: list[tuple[str, Edit, str]] = [
    ("an integral float where an int belongs", lambda d: d["ops"][0].update(index=0.0),
     r"ops/0/index: expected an integer, got a number 0.0"),
    ("true where a number belongs", lambda d: d["ops"][0].update(est_time_ms=True),
     r"ops/0/est_time_ms: expected a number, got a boolean"),
    ("true where an int belongs", lambda d: d["segments"][0].update(start=True),
     r"segments/0/start: expected an integer, got a boolean"),
    ("a segment count of 2**40", lambda d: d["segments"][0].update(n_ops=2**40),
     r"segments/0/n_ops: 1099511627776 is out of range"),
    ("a segment index that is not its position", lambda d: d["segments"][0].update(index=3),
     r"segments/0/index: 3 is out of range \(must be between 0 and 0\)"),
    ("bytes near 1e308", lambda d: d["crossings"][0].update(bytes=10**308),
     r"crossings/0/bytes: 10{29} is out of range"),
    ("bytes as a float", lambda d: d["crossings"][0].update(bytes=1e308),
     r"crossings/0/bytes: expected an integer, got a number"),
    ("metadata nested 600 deep", lambda d: d.update(metadata=_DEEP),
     rf"metadata: nested more than {MAX_JSON_DEPTH} levels deep"),
    ("an input from a later op", lambda d: d["ops"][3].update(inputs=[5]),
     r"ops/3/inputs/0: op index 5 out of range \(0 to 2\)"),
    ("a crossing whose device is not its op's",
     lambda d: d["crossings"][0].update(src_device=d["crossings"][0]["dst_device"]),
     r"crossings/0/src_device: op \d+ \(src\) runs on \w+, not \w+"),
    ("a crossing backwards in time",
     lambda d: d["crossings"][0].update(src=d["crossings"][0]["dst"]),
     r"crossings/0: src \d+ is not before dst \d+"),
    ("a segment on another device than its ops", lambda d: _other_device(d["segments"][0]),
     r"segments/0: op \d+ runs on \w+, not on the segment's \w+"),
    ("a cost weight above 1", lambda d: d["ops"][0].update(cost_weight=1.5),
     r"ops/0/cost_weight: 1.5 is out of range \(must be between 0 and 1\)"),
    ("a device listed twice", lambda d: d["ops"][0].update(supported=["CPU", "CPU"]),
     r"ops/0/supported: lists a device twice"),
    ("a warning naming a missing op",
     lambda d: d.update(warnings=[{"kind": "no_usage", "message": "", "count": 1, "ops": [10**6]}]),
     r"warnings/0/ops/0: op index 1000000 out of range"),
    ("an uncertainty range upside down",
     lambda d: d.update(uncertainty={"ops": {"ANE": [5, 2]}, "est_total_ms": [1.0, 2.0]}),
     r"uncertainty/ops/ANE/1: 2 is out of range \(must be between 5 and \d+\)"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "problem"), [m[1:] for m in MEANING], ids=[m[0] for m in MEANING])
def test_reports_are_checked_for_meaning(edit: Edit, problem: str, tmp_path: Path) -> None:
    doc = _fresh()
    edit(doc)
    path = tmp_path / "r.json"
    _write(doc, path)
    with pytest.raises(PlanError, match=problem) as info:
        load_report(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{path}: invalid report")


def test_a_valid_report_round_trips_through_the_file(tmp_path: Path) -> None:
    doc = _fresh()
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert load_report(path) == report_from_dict(copy.deepcopy(doc))


def test_huge_integers_are_read_exactly(tmp_path: Path) -> None:
    # Byte counts beyond 64 bits (absurd declared shapes keep their size) must reload as the
    # integers they are: the fast parser would turn them into floats.
    doc = _fresh()
    doc["crossings"][0]["bytes"] = 2**100
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert load_report(path).crossings[0].bytes == 2**100


def test_json_nested_beyond_the_parser_limit_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    with pytest.raises(PlanError, match="nested too deeply"):
        load_report(path)


def test_metadata_nested_990_deep_is_one_line(tmp_path: Path) -> None:
    # Deeper than Python's recursion limit allows a recursive renderer to walk.
    doc = _fresh()
    doc["metadata"] = _DEEP
    path = tmp_path / "r.json"
    path.write_text(
        json.dumps(doc).replace(json.dumps(_DEEP), '{"x": ' * 990 + "1" + "}" * 990),
        encoding="utf-8",
    )
    with pytest.raises(PlanError, match="nested") as info:
        load_report(path)
    assert "\n" not in str(info.value)
