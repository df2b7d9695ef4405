"""report.check(): conditions, verdicts, offending ops, every output form, every source."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from graphs import chain
from test_escaping import UNSAFE

from ane_notebook.api import profile
from ane_notebook.baseline import diff
from ane_notebook.check import SHOWN, CheckResult
from ane_notebook.errors import UsageError
from ane_notebook.model.load import load_model
from ane_notebook.placement.devices import ComputeUnits, Device
from ane_notebook.placement.result import (
    CONSTANT_REASON,
    OpPlacement,
    Placement,
    PlacementSource,
    ReasonKind,
)
from ane_notebook.report import ProfileReport


@pytest.fixture(scope="module")
def transformer() -> ProfileReport:
    # 50 of 59 running ops on the ANE, 3 segments, 2 crossings (M1, CPU_AND_NE)
    return profile("example:transformer", "CPU_AND_NE", chip="M1", backend="estimate")


@pytest.fixture(scope="module")
def mobilenet() -> ProfileReport:
    return profile("example:mobilenet", "CPU_AND_NE", chip="M1", backend="estimate")


def coreml_plan(model: str, off: set[str], weights: bool = True) -> ProfileReport:
    """A Core ML plan: the ops named in `off` on the CPU, the rest on the ANE."""
    g = load_model(model)
    ops = []
    for op in g.ops:
        if op.is_const:
            ops.append(
                OpPlacement(
                    None, frozenset(), reason=CONSTANT_REASON, reason_kind=ReasonKind.CONSTANT
                )
            )
            continue
        dev = Device.CPU if op.name in off else Device.ANE
        ops.append(
            OpPlacement(
                dev,
                frozenset(Device),
                reason_kind=ReasonKind.ON_ANE if dev is Device.ANE else ReasonKind.COREML_PREFERRED,
                est_time_ms=0.1,
                cost_weight=(0.5 if dev is Device.CPU else 0.1) if weights else None,
            )
        )
    return ProfileReport.from_placement(
        g, Placement("coreml", ComputeUnits.CPU_AND_NE, "M2", tuple(ops))
    )


def by_id(result: CheckResult) -> dict[str, bool]:
    return {c.id: c.ok for c in result.conditions}


# --- conditions ---------------------------------------------------------------------------


def test_min_ane_ops_passes_and_fails_at_the_measured_share(transformer: ProfileReport) -> None:
    share = transformer.summary().share().op_share
    assert share is not None and 0.8 < share < 0.9
    assert transformer.check(min_ane_ops=share)
    r = transformer.check(min_ane_ops=0.9)
    assert not r and not r.ok and by_id(r) == {"min-ane-ops": False}
    line = r.conditions[0].line()
    assert line.startswith("FAIL min-ane-ops: 84.7% of ops on the Neural Engine, limit >= 90.0%")
    assert "50 of 59 ops that run; 79 const ops not counted" in line
    # up to five offending ops named, the rest counted
    assert line.count("(cast, CPU") + line.count(", CPU, ") >= SHOWN
    assert "(+4 more)" in line
    assert r.conditions[0].n_offenders == 9


def test_min_ane_time_uses_estimated_time_for_estimates(transformer: ProfileReport) -> None:
    r = transformer.check(min_ane_time=0.5)
    c = r.conditions[0]
    assert not c.ok and "of estimated op time on the Neural Engine" in c.measured
    # the heaviest op off the ANE comes first: the 32000-wide vocabulary head
    assert c.offenders[0].name == "lm_head_cast_fp16"
    assert transformer.check(min_ane_time=0.001)


def test_min_ane_time_uses_core_mls_cost_weight_for_plans() -> None:
    r = coreml_plan("example:mobilenet", off={"probs"})
    res = r.check(min_ane_time=0.95, min_ane_ops=0.95)
    assert res.source is PlacementSource.COREML
    c = {c.id: c for c in res.conditions}
    assert "of Core ML's cost weight" in c["min-ane-time"].measured
    n = r.summary().n_ops
    assert c["min-ane-time"].value == pytest.approx((n - 1) * 0.1 / ((n - 1) * 0.1 + 0.5))
    assert c["min-ane-ops"].ok and not c["min-ane-time"].ok


def test_max_crossings_and_segments(transformer: ProfileReport) -> None:
    assert transformer.check(max_crossings=2, max_segments=3)
    r = transformer.check(max_crossings=1, max_segments=2)
    assert by_id(r) == {"max-crossings": False, "max-segments": False}
    seg = r.conditions[1]
    # the off-ANE segments are named by their first op
    assert [o.name for o in seg.offenders] == [
        transformer.ops[s.start].name for s in transformer.segments if s.device != Device.ANE
    ]


def test_require_ane_and_allow_off_ane_match_whole_op_types(transformer: ProfileReport) -> None:
    assert transformer.check(require_ane="matmul|softmax|layer_norm")
    r = transformer.check(require_ane="linear")
    assert not r and [o.name for o in r.conditions[0].offenders] == ["lm_head_cast_fp16"]
    # fullmatch: "lin" matches no op type, and says so
    r = transformer.check(require_ane="lin")
    assert r and "(no op type matches)" in r.conditions[0].measured
    off_types = {o.op_type for o in transformer.ops if not o.is_const and o.device != Device.ANE}
    assert transformer.check(allow_off_ane="|".join(sorted(off_types)))
    r = transformer.check(allow_off_ane="gather|cast")
    assert {o.op_type for o in r.conditions[0].offenders} == off_types - {"gather", "cast"}


def test_hazards_fail_only_when_asked() -> None:
    from test_hazards import report as hazard_report
    from test_hazards import sdpa_mask_input

    r = hazard_report(sdpa_mask_input(), {})
    assert r.hazards
    assert r.check(max_segments=5)  # shown, not failing
    assert "hazards (can change results, not speed): 1" in r.check().to_text()
    res = r.check(fail_on_hazard=True)
    assert by_id(res) == {"no-hazards": False}
    assert res.conditions[0].offenders[0].name == "attn"


def test_no_conditions_holds_and_says_so(mobilenet: ProfileReport) -> None:
    r = mobilenet.check()
    assert r and "no conditions set" in r.to_text()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_ane_ops": 1.5},
        {"min_ane_time": -0.1},
        {"max_crossings": -1},
        {"max_segments": 2.5},
        {"require_ane": "conv("},
        {"allow_off_ane": ""},
        {"time_tolerance": -1},
        {"fail_on_regression": True},  # needs a baseline
        {"min_ane_opz": 0.9},
    ],
)
def test_bad_settings_are_one_line_usage_errors(mobilenet: ProfileReport, kwargs: dict) -> None:
    with pytest.raises(UsageError) as e:
        mobilenet.check(**kwargs)
    assert "\n" not in str(e.value)


# --- baseline -------------------------------------------------------------------------------


def test_baseline_diff_lists_what_left_the_ane_and_unmatched_ops() -> None:
    a = profile(chain(["relu", "sigmoid", "relu"], name="m"), "CPU_AND_NE", backend="estimate")
    b = profile(chain(["relu", "topk", "tanh"], name="m"), "CPU_AND_NE", backend="estimate")
    d = diff(a, b)
    # names are op_type_index: relu_0 is in both; sigmoid_1/topk_1 and relu_2/tanh_2 differ
    assert d.matched == 1
    assert d.only_a == (("main", "sigmoid_1"), ("main", "relu_2"))
    assert d.only_b == (("main", "topk_1"), ("main", "tanh_2"))
    assert "unmatched ops: 2 only in the baseline (sigmoid_1, relu_2); 2 only in the new" in (
        d.to_text()
    )
    js = d.to_dict()
    assert js["only_in_new"] == [
        {"function": "main", "name": "topk_1"},
        {"function": "main", "name": "tanh_2"},
    ]


def test_fail_on_regression_flags_ops_leaving_the_ane_and_time_growth(
    mobilenet: ProfileReport,
) -> None:
    cpu = profile("example:mobilenet", "CPU_ONLY", chip="M1", backend="estimate")
    r = cpu.check(baseline=mobilenet, fail_on_regression=True)
    assert by_id(r) == {"no-op-left-ane": False, "time-tolerance": False}
    assert r.conditions[0].n_offenders == mobilenet.summary().n_ops
    # a generous tolerance passes the time, not the ops that left
    r = cpu.check(baseline=mobilenet, fail_on_regression=True, time_tolerance=1000.0)
    assert by_id(r) == {"no-op-left-ane": False, "time-tolerance": True}
    # the other way round is an improvement
    assert mobilenet.check(baseline=cpu, fail_on_regression=True)
    # without --fail-on-regression the diff is shown, not failing
    shown = cpu.check(baseline=mobilenet)
    assert shown and "ops that left the Neural Engine: 58" in shown.to_text()


def test_baseline_from_another_source_says_so(mobilenet: ProfileReport, tmp_path: Path) -> None:
    plan = coreml_plan("example:mobilenet", off=set())
    plan.to_json(tmp_path / "plan.json")
    r = mobilenet.check(baseline=tmp_path / "plan.json", fail_on_regression=True)
    assert r.diff is not None and not r.diff.same_source
    assert "the baseline's placement is coreml, the new one's is estimate" in r.to_text()


def test_new_crossings_are_listed(transformer: ProfileReport) -> None:
    m4 = profile("example:transformer", "CPU_AND_NE", chip="M4", backend="estimate")

    def keys(r: ProfileReport) -> set[tuple[str, str, str]]:
        return {(r.ops[c.src].name, r.ops[c.dst].name, c.tensor) for c in r.crossings}

    d = diff(m4, transformer)
    assert d.crossings == (m4.summary().n_crossings, transformer.summary().n_crossings)
    assert {(c.src, c.dst, c.tensor) for c in d.new_crossings} == keys(transformer) - keys(m4)
    assert {(c.src, c.dst, c.tensor) for c in d.removed_crossings} == keys(m4) - keys(transformer)
    assert f"({len(d.new_crossings)} new" in d.to_text()


# --- forms ------------------------------------------------------------------------------------


def test_every_form_names_the_source_and_the_denominator(transformer: ProfileReport) -> None:
    r = transformer.check(min_ane_ops=0.9, max_segments=3)
    text = r.to_text()
    assert "placement source: estimate" in text.splitlines()[0]
    assert "79 const ops not counted" in text
    assert text.splitlines()[-1] == (
        "check failed: 1 of 2 conditions violated (placement source: estimate)"
    )
    js = json.loads(r.to_json())
    assert js["source"] == "estimate" and js["ok"] is False
    assert js["ane_share"]["const_ops_not_counted"] == 79
    assert js["ane_share"]["ops_that_run"] == 59
    assert [c["id"] for c in js["conditions"]] == ["min-ane-ops", "max-segments"]
    bundle = r._repr_mimebundle_()
    assert bundle["text/plain"] == text
    assert "79 const ops not counted" in bundle["text/html"]
    root = ET.fromstring(r.to_junit())
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["placement_source"] == "estimate"
    assert "79 const ops not counted" in props["ane_share"]


def test_junit_has_one_testcase_per_condition(transformer: ProfileReport) -> None:
    r = transformer.check(min_ane_ops=0.9, max_segments=3, max_crossings=0, fail_on_hazard=True)
    root = ET.fromstring(r.to_junit())
    assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "2"
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "min-ane-ops",
        "max-crossings",
        "max-segments",
        "no-hazards",
    ]
    failed = {c.get("name"): c.find("failure") for c in cases}
    fail = failed["min-ane-ops"]
    assert fail is not None and fail.get("message", "").startswith("FAIL min-ane-ops")
    # the failure body keeps every offending op, not only five
    assert (fail.text or "").count("\n  ") == 9
    assert failed["max-segments"] is None
    out = suite.find("system-out")
    assert out is not None and "check failed" in (out.text or "")


def test_hostile_names_are_escaped_in_every_form() -> None:
    evil = "x\x1b[31m<script>alert(1)</script>]]>&\u202e\x00"
    g = chain(["relu", evil, "relu"], name=f"model{evil}")
    r = profile(g, "CPU_AND_NE", backend="estimate").check(
        min_ane_ops=1.0, require_ane=".*", fail_on_hazard=True
    )
    assert not r
    assert not UNSAFE.search(r.to_text())
    html = r._repr_mimebundle_()["text/html"]
    assert "<script>" not in html and not UNSAFE.search(html)
    xml = r.to_junit()
    assert not UNSAFE.search(xml)
    root = ET.fromstring(xml)  # well-formed despite the markup and control characters
    assert root.find("testsuite") is not None
    assert json.loads(r.to_json())["model"] == f"model{evil}"  # JSON keeps the data exact


# --- sources ----------------------------------------------------------------------------------


def test_check_works_for_estimate_coreml_and_recorded(tmp_path: Path) -> None:
    live = coreml_plan("example:mobilenet", off={"probs"})
    live.to_json(tmp_path / "plan.json")
    recorded = profile("example:mobilenet", "CPU_AND_NE", plan=tmp_path / "plan.json")
    estimate = profile("example:mobilenet", "CPU_AND_NE", backend="estimate")
    for r, source in ((estimate, "estimate"), (live, "coreml"), (recorded, "recorded")):
        res = r.check(min_ane_ops=0.9)
        assert res.source.value == source
        assert f"placement source: {source}" in res.to_text()
        assert json.loads(res.to_json())["source"] == source
    assert not live.check(require_ane="softmax")
    assert not recorded.check(require_ane="softmax")


def test_saved_reports_check_the_same_as_live_ones(
    transformer: ProfileReport, tmp_path: Path
) -> None:
    from ane_notebook.report import load_report

    transformer.to_json(tmp_path / "r.json")
    again = load_report(tmp_path / "r.json")
    kw = {"min_ane_ops": 0.9, "max_crossings": 2, "require_ane": "linear"}
    assert transformer.check(**kw).to_dict() == again.check(**kw).to_dict()


def test_diff_stays_the_function_after_its_module_loads() -> None:
    # a submodule import sets the package attribute: `an.diff` lives in baseline.py, so the
    # function is never replaced by a module of the same name
    code = (
        "import ane_notebook as an\n"
        "import ane_notebook.baseline, ane_notebook.check\n"
        "assert callable(an.diff) and an.diff.__module__ == 'ane_notebook.baseline', an.diff\n"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
