"""The hand-written report validator: it agrees with report.schema.json (the contract) and
catches what a schema cannot say."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from graphs import chain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ane_notebook.api import profile
from ane_notebook.errors import PlanError
from ane_notebook.model.examples import EXAMPLES
from ane_notebook.model.limits import MAX_OPS
from ane_notebook.placement.estimate import estimate
from ane_notebook.report import ProfileReport, load_report, report_from_dict
from ane_notebook.report_validation import validate_report
from ane_notebook.schema import MAX_REPORT_BYTES, report_schema


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


_SMALL = ("lstm", "control_flow", "fp32")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


# --- what only this validator catches: tests/bad_inputs.py holds those cases (plan_index_as_float,
# plan_count_of_2_to_the_40, plan_metadata_600_deep, ...), run through the API, CLI and magic.

# Too deep for json.dumps: written into the file as text.
_DEEP = "<deep metadata>"


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


def test_long_fractions_take_the_fast_parser(tmp_path: Path, monkeypatch: Any) -> None:
    # 19 digits after the point are a float either parser reads the same; only a long integer
    # part needs the exact (slow) parser, whose hooks cost ~10x on a 50k-op report.
    import ane_notebook.schema as schema

    def slow(raw: bytes, p: Path) -> Any:
        raise AssertionError("the exact parser was used")

    doc = _fresh()
    doc["ops"][0]["est_time_ms"] = 0.0050062515262515265
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert "0.0050062515262515265" in path.read_text(encoding="utf-8")
    monkeypatch.setattr(schema, "_parse_exactly", slow)
    # (the full path's parser: load_report decodes these files with msgspec, report_decode)
    assert schema.read_json_file(path)["ops"][0]["est_time_ms"] == 0.0050062515262515265
    doc["crossings"][0]["bytes"] = 2**100
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(AssertionError, match="exact parser"):
        schema.read_json_file(path)


def test_the_long_integer_scan_sees_runs_across_its_pieces() -> None:
    # The scan works on overlapping pieces (schema._PIECE): a run of 19 digits starting or
    # ending anywhere near a piece's edge, or at either end of the text, is found; after a "."
    # (a fraction) or 18 digits long it is not.
    import re

    from ane_notebook.schema import _PIECE, _has_long_integer

    def reference(raw: bytes) -> bool:
        return re.search(rb"(?<![0-9.])[0-9]{19}", raw) is not None

    size = 2 * _PIECE + 100
    for at in (0, 1, _PIECE - 20, _PIECE - 19, _PIECE - 10, _PIECE - 1, _PIECE, _PIECE + 1,
               2 * _PIECE - 5, size - 19):  # fmt: skip
        for length, before in ((19, b" "), (25, b":"), (18, b" "), (19, b"."), (30, b".")):
            raw = bytearray(b"a" * size)
            raw[at : at + length] = b"7" * length
            if at:
                raw[at - 1 : at] = before
            assert _has_long_integer(bytes(raw)) == reference(bytes(raw)), (at, length, before)


def test_the_sieve_before_the_long_run_scan_misses_no_run() -> None:
    # schema._may_hold_digit_run reads one byte in 154 before the 309-digit scan: a run of 309
    # digits anywhere (across any sample point, at either end, among many shorter runs that
    # pass the sieve's first test) is still found; 308 digits, or after a ".", is not.
    import random
    import re

    from ane_notebook.schema import has_digit_run

    def reference(raw: bytes) -> bool:
        return re.search(rb"(?<![0-9.])[0-9]{309}", raw) is not None

    rng = random.Random(14)
    size = 20_000
    cases = 0
    for at in (0, 1, 153, 154, 155, 307, 308, 309, 7_000, size - 310, size - 309):
        for length, before in ((309, b" "), (310, b":"), (308, b" "), (309, b"."), (400, b"-")):
            # plain text, digits everywhere between commas, or shorter runs that pass the
            # strided test (both ends of a window digits)
            # (153 digits and a comma: so many candidate windows that the scan runs at once)
            for filler, decoys in (
                (b"a", 0), (b"1.5,", 0), (b"a", 20), (b"1.5,", 20), (b"7" * 153 + b",", 0)
            ):  # fmt: skip
                raw = bytearray((filler * size)[:size])
                for start in rng.sample(range(0, size - 300, 154), decoys):
                    if start + 251 < at or start > at + length + 1:  # apart from the run
                        raw[start : start + 250] = b"9" * 250
                raw[at : at + length] = b"7" * length
                del raw[size:]
                if at:
                    raw[at - 1 : at] = before
                got = has_digit_run(bytes(raw), 309)
                assert got == reference(bytes(raw)), (at, length, before, filler)
                cases += got
    assert cases > 20  # the runs were there to find, not cut off


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


def test_our_report_of_a_model_at_the_op_limit_fits_the_size_cap() -> None:
    # A report costs a few hundred bytes per op; the loader takes up to MAX_OPS ops, so the
    # report reader's cap must leave room for our own report of such a model. Names here are
    # longer than a converter writes (~45 characters), every op on its own device run.
    kinds = ["gather", "conv", "topk", "softmax", "relu"]
    graph = chain(
        [kinds[i % len(kinds)] for i in range(2000)],
        shape=(1, 512, 1, 512),
        attrs=[{"weight_shape": (512, 512, 1, 1)} if i % 5 == 1 else {} for i in range(2000)],
    )
    long_names = {
        op.name: f"model_layers_{op.index // 50}_self_attn_q_proj_cast_fp16_{op.index}"
        for op in graph.ops
    }
    ops = tuple(
        replace(
            op,
            name=long_names[op.name],
            outputs=tuple(replace(t, name=long_names[t.name]) for t in op.outputs),
            inputs=tuple(long_names.get(n, n) for n in op.inputs),
        )
        for op in graph.ops
    )
    graph = replace(graph, ops=ops, outputs=(ops[-1].outputs[0],))
    report = ProfileReport.from_placement(graph, estimate(graph, "CPU_AND_NE"))
    per_op = len(report.to_json()) / len(report.ops)
    assert len(report.crossings) > 500  # near the worst case: many ops start a crossing
    assert per_op * MAX_OPS < MAX_REPORT_BYTES, f"{per_op:.0f} bytes per op"


def test_a_segment_with_two_bad_optional_fields_names_the_same_one_every_run(
    tmp_path: Path,
) -> None:
    # The optional fields were checked in a set's order, which moves with PYTHONHASHSEED: the
    # same file named launch_ms in one process and io_ms in the next.
    import os
    import subprocess
    import sys

    data = _fresh("lstm")
    data["segments"][0].update(launch_ms="GPU", io_ms="CPU")
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    probe = (
        "import sys\nfrom ane_notebook.report import load_report\n"
        "try:\n    load_report(sys.argv[1])\nexcept Exception as e:\n    print(e)\n"
    )
    said = {
        subprocess.run(
            [sys.executable, "-c", probe, str(path)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(8)
    }
    assert len(said) == 1, said
    (message,) = said
    assert "io_ms" in message and "expected a number" in message
