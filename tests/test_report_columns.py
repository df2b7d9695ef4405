"""The column-wise fast path of the report validator (`report_columns.op_columns`).

It may only ever say "certainly valid": whatever the per-op validator refuses, it must not
accept, and a report's outcome (accepted, or the one-line error) is the same with and without
it. It must also actually be taken on valid reports, or it buys nothing.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ane_notebook import report_validation
from ane_notebook.api import profile
from ane_notebook.errors import PlanError
from ane_notebook.model.examples import EXAMPLES
from ane_notebook.report_columns import op_columns
from ane_notebook.report_validation import _COLUMN_LIMITS, validate_report


def op_devices(ops: list[Any], limits: dict[str, Any]) -> list[Any] | None:
    """The ops' `device` values when the fast path is sure every op is valid; else None."""
    columns = op_columns(ops, limits)
    return None if columns is None else list(columns.get("device", ()))


class _Str(str):
    """A str subclass: equal to and hashed like its value, but not a JSON string."""


@cache
def _text(example: str, units: str = "ALL") -> str:
    return profile(f"example:{example}", units).to_json()


def _doc(example: str = "lstm", units: str = "ALL") -> dict[str, Any]:
    return dict(json.loads(_text(example, units)))


def with_estimates(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with an estimate beside every op (what Core ML plans carry), all valid (also used
    by test_report_records)."""
    for o in doc["ops"]:
        o["estimate"] = {k: copy.deepcopy(o[k]) for k in ("device", "reason", "reason_kind",
                                                          "evidence", "rules")}  # fmt: skip
    return doc


def _outcome(doc: dict[str, Any], fast: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    """ "ok", or the PlanError's text, with the fast path on or off."""
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(report_validation, "op_columns", lambda ops, limits: None)
        try:
            validate_report(copy.deepcopy(doc), "<doc>")
        except PlanError as e:
            return str(e)
    return "ok"


def test_the_column_tables_name_the_fields_of_the_per_op_check() -> None:
    v = report_validation
    assert _COLUMN_LIMITS["op_types"].keys() == v._OP | v._OP_OPTIONAL
    assert _COLUMN_LIMITS["op_optional"] == v._OP_OPTIONAL
    assert _COLUMN_LIMITS["tensor_types"].keys() == v._TENSOR
    assert _COLUMN_LIMITS["estimate_types"].keys() == v._ESTIMATE


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_valid_reports_take_the_fast_path(example: str) -> None:
    for units in ("ALL", "CPU_AND_NE", "CPU_ONLY"):
        for doc in (_doc(example, units), with_estimates(_doc(example, units))):
            devices = op_devices(doc["ops"], _COLUMN_LIMITS)
            assert devices == [o["device"] for o in doc["ops"]]


def test_reports_without_the_later_op_field_take_the_fast_path() -> None:
    # cost_driver came later in version 2: absent from every op of older reports
    doc = _doc()
    for o in doc["ops"]:
        del o["cost_driver"]
    assert op_devices(doc["ops"], _COLUMN_LIMITS) is not None
    assert op_devices([], _COLUMN_LIMITS) == []


# One wrong value per rule of `_check_op`, each of them a case the fast path must not accept.
_OP, _TENSOR, _EST = ("ops", 3), ("ops", 3, "outputs", 0), ("ops", 3, "estimate")
_BAD: list[tuple[tuple[Any, ...], Any]] = [
    ((*_OP, "index"), True), ((*_OP, "index"), 3.0), ((*_OP, "index"), 4),
    ((*_OP, "name"), 1), ((*_OP, "name"), _Str("x")), ((*_OP, "name"), None),
    ((*_OP, "op_type"), []), ((*_OP, "function"), False), ((*_OP, "reason"), None),
    ((*_OP, "device"), "TPU"), ((*_OP, "device"), _Str("ANE")), ((*_OP, "device"), 1),
    ((*_OP, "supported"), ["ANE", "ANE"]), ((*_OP, "supported"), ["TPU"]),
    ((*_OP, "supported"), [_Str("CPU")]), ((*_OP, "supported"), "CPU"),
    ((*_OP, "supported"), [["CPU"]]), ((*_OP, "supported"), [None]),
    ((*_OP, "reason_kind"), "because"), ((*_OP, "reason_kind"), None),
    ((*_OP, "reason_kind"), _Str("on_ane")),
    ((*_OP, "evidence"), "rumour"), ((*_OP, "evidence"), _Str("measured")),
    ((*_OP, "est_time_ms"), -1.0), ((*_OP, "est_time_ms"), float("nan")),
    ((*_OP, "est_time_ms"), float("inf")), ((*_OP, "est_time_ms"), 1e201),
    ((*_OP, "est_time_ms"), True), ((*_OP, "est_time_ms"), "1"), ((*_OP, "est_time_ms"), None),
    ((*_OP, "rules"), [1]), ((*_OP, "rules"), [_Str("r")]), ((*_OP, "rules"), "r"),
    ((*_OP, "cost_weight"), 1.5), ((*_OP, "cost_weight"), -0.1),
    ((*_OP, "cost_weight"), float("nan")), ((*_OP, "cost_weight"), True),
    ((*_OP, "contested"), 1), ((*_OP, "contested"), None),
    ((*_OP, "alt_device"), "TPU"), ((*_OP, "shape_unknown"), 0),
    ((*_OP, "cost_driver"), "x"), ((*_OP, "cost_driver"), _Str("launch")),
    ((*_OP, "estimate"), []), ((*_OP, "estimate"), {"device": None}),
    ((*_OP, "outputs"), None), ((*_OP, "outputs"), [None]), ((*_OP, "outputs"), [{}]),
    ((*_TENSOR, "name"), 3), ((*_TENSOR, "dtype"), None), ((*_TENSOR, "shape"), "1x2"),
    ((*_TENSOR, "shape"), [1.0]), ((*_TENSOR, "shape"), [True]), ((*_TENSOR, "shape"), [-1]),
    ((*_TENSOR, "shape"), [2**63]), ((*_TENSOR, "shape"), [1] * 65), ((*_TENSOR, "shape"), [[1]]),
    ((*_OP, "inputs"), [3]), ((*_OP, "inputs"), [4]), ((*_OP, "inputs"), [-1]),
    ((*_OP, "inputs"), [True]), ((*_OP, "inputs"), [0.0]), ((*_OP, "inputs"), 0),
    ((*_OP, "is_const"), "no"), ((*_OP, "block"), [None]), ((*_OP, "block"), [_Str("b")]),
    (("ops", 0, "inputs"), [0]),
]  # fmt: skip
# The same inside an estimate (checked when not null).
_BAD_ESTIMATE: list[tuple[tuple[Any, ...], Any]] = [
    ((*_EST, "device"), "TPU"), ((*_EST, "device"), _Str("CPU")), ((*_EST, "reason"), None),
    ((*_EST, "reason_kind"), "?"), ((*_EST, "evidence"), 1), ((*_EST, "rules"), [2]),
    ((*_EST, "rules"), None),
]  # fmt: skip


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    parent: Any = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value


@pytest.mark.parametrize(("path", "value"), _BAD + _BAD_ESTIMATE)
def test_one_bad_value_is_never_accepted(
    path: tuple[Any, ...], value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The good report first, then the same report with one bad value (same keys everywhere):
    # nothing from the first call may make the second pass.
    doc = with_estimates(_doc()) if path[:3] == _EST else _doc()
    assert op_devices(doc["ops"], _COLUMN_LIMITS) is not None
    _set(doc, path, value)
    assert op_devices(doc["ops"], _COLUMN_LIMITS) is None
    slow = _outcome(doc, fast=False, monkeypatch=monkeypatch)
    assert slow != "ok" and _outcome(doc, fast=True, monkeypatch=monkeypatch) == slow


@pytest.mark.parametrize("change", ["missing", "extra", "order", "one_without_cost_driver"])
def test_field_sets_and_orders(change: str, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _doc()
    op = doc["ops"][2]
    if change == "missing":
        del op["rules"]
    elif change == "extra":
        op["colour"] = "red"
    elif change == "order":  # valid, in another order: accepted either way
        doc["ops"][2] = dict(reversed(op.items()))
    else:
        del op["cost_driver"]  # valid too: the one-by-one check accepts a mix
    assert _outcome(doc, True, monkeypatch) == _outcome(doc, False, monkeypatch)
    if change in ("missing", "extra"):
        assert op_devices(doc["ops"], _COLUMN_LIMITS) is None


def test_values_a_float_cannot_hold_are_not_sure() -> None:
    # float() of such an int overflows; the fast path must hand them over, not raise or
    # accept, and the per-op check refuses them with its one-line error
    doc = _doc()
    doc["ops"][1]["est_time_ms"] = 10**400
    assert op_devices(doc["ops"], _COLUMN_LIMITS) is None
    for huge in (10**400, 10**5000):  # (str() refuses the second: past 4300 digits)
        doc["ops"][1]["est_time_ms"] = huge
        with pytest.raises(PlanError, match=r"ops/1/est_time_ms.*out of range"):
            validate_report(copy.deepcopy(doc), "<doc>")
    doc = _doc()
    doc["ops"][1]["est_time_ms"] = 10**200 + 1  # above MAX_TIME_MS exactly, not as a float
    assert op_devices(doc["ops"], _COLUMN_LIMITS) is None
    assert validate_report(doc, "<doc>") is doc  # the per-op check accepts it, as before


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["ANE", "GPU", "CPU", "on_ane", "measured", _Str("ANE")]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=5,
)


def _op_paths(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        out.append(path)
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))

    for i in (0, 1, len(doc["ops"]) - 1):
        walk(doc["ops"][i], ("ops", i))
    return out


# The arguments of `changed_doc`, drawn: one change to one op of a report.
ONE_OP_CHANGE = {
    "estimates": st.booleans(),
    "choice": st.integers(min_value=0),
    "action": st.sampled_from(["replace", "delete", "add"]),
    "value": _VALUES,
}


def changed_doc(
    estimates: bool, choice: int, action: str, value: Any
) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """A control_flow report with one change to one of its ops (a value replaced, deleted or
    added beside it), and the path changed; also used by test_report_decode."""
    doc = with_estimates(_doc("control_flow")) if estimates else _doc("control_flow")
    paths = _op_paths(doc)
    path = paths[choice % len(paths)]
    parent: Any = doc
    for key in path[:-1]:
        parent = parent[key]
    if action == "replace":
        parent[path[-1]] = value
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[f"extra_{path[-1]}"] = value
    else:
        parent.append(value)
    return doc, path


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**ONE_OP_CHANGE)
def test_any_change_to_an_op_has_one_outcome(
    estimates: bool, choice: int, action: str, value: Any
) -> None:
    doc, path = changed_doc(estimates, choice, action, value)
    with pytest.MonkeyPatch.context() as m:
        assert _outcome(doc, True, m) == _outcome(doc, False, m), (action, path, value)
