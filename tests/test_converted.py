"""The estimator on real converted models (issue 10 §2), not only on chains rebuilt from
published op lists: small networks built with the MIL builder and converted with coremltools
like any export, so they carry the converter's fp32<->fp16 boundary casts and its op names.

What decides the boundary casts and the small work next to an ANE segment is the crossings and
the chip, and the reason must say which: an input cast right before an ANE segment needs no
dispatch of its own, so "too little work to pay an ANE dispatch" would be wrong there.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ane_notebook.model.examples import example_path
from ane_notebook.model.graph import Graph
from ane_notebook.model.load import load_model
from ane_notebook.placement.devices import CHIPS, ChipProfile, ComputeUnits, Device, get_chip
from ane_notebook.placement.estimate import estimate
from ane_notebook.placement.result import CostDriver, ReasonKind
from ane_notebook.report import ProfileReport


def _convnet() -> Any:
    """fp32 image in: scale and shift, four convs with relu, pooling, a classifier; fp32 out."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    rng = np.random.default_rng(0)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, 128, 128))], opset_version=ct.target.iOS16)
    def prog(image: Any) -> Any:
        x = mb.mul(x=image, y=np.float32(1 / 255), name="preprocess_scale")
        x = mb.add(x=x, y=np.float32(-0.5), name="preprocess_shift")
        cin = 3
        for i, cout in enumerate((32, 64, 64, 128)):
            x = mb.conv(x=x, weight=w(cout, cin, 3, 3), bias=w(cout), strides=[2, 2],
                        pad_type="same", name=f"features_{i}_conv")  # fmt: skip
            x = mb.relu(x=x, name=f"features_{i}_relu")
            cin = cout
        x = mb.reduce_mean(x=x, axes=[2, 3], keep_dims=False, name="pool")
        return mb.linear(x=x, weight=w(10, cin), bias=w(10), name="classifier")

    return prog


@pytest.fixture(scope="module")
def convnet(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    from ane_notebook.model.convert import convert_quietly

    path = Path(tmp_path_factory.mktemp("converted")) / "convnet.mlpackage"
    convert_quietly(
        _convnet(), convert_to="mlprogram", skip_model_load=True, package_dir=os.fspath(path)
    )
    return load_model(path)


def _report(graph: Graph, units: str, chip: str | ChipProfile) -> ProfileReport:
    return ProfileReport.from_placement(graph, estimate(graph, units, chip))


def _casts(report: ProfileReport) -> list[Any]:
    return [o for o in report.ops if o.op_type == "cast" and o.device is not None]


def test_the_conversion_adds_boundary_casts(convnet: Graph) -> None:
    report = _report(convnet, "ALL", "M1")
    casts = _casts(report)
    assert len(casts) == 2  # fp32 image -> fp16, fp16 logits -> fp32
    assert any(o.name.endswith("_cast_fp16") for o in report.ops)  # the converter's names


def test_m1_casts_off_the_ane_by_rule_and_the_work_after_them_on_it(convnet: Graph) -> None:
    report = _report(convnet, "ALL", "M1")
    for cast in _casts(report):
        assert cast.device is Device.CPU and cast.reason_kind is ReasonKind.RULE
    # everything between the casts is one ANE segment: the small preprocessing right after the
    # input cast joins it rather than making an island of its own
    assert [s.device for s in report.segments] == [Device.CPU, Device.ANE, Device.CPU]
    scale = next(o for o in report.ops if o.op_type == "mul")
    assert scale.device is Device.ANE


def test_m4_runs_the_boundary_casts_on_the_ane(convnet: Graph) -> None:
    # M4-class: boundary casts measured ANE-preferred (vx-lang/Vx#435)
    report = _report(convnet, "ALL", "M4")
    assert all(o.device is Device.ANE for o in _casts(report))
    assert [s.device for s in report.segments] == [Device.ANE]


def test_a_cast_kept_off_by_crossings_says_so(convnet: Graph) -> None:
    # The same chip if fp32 tensors reached the ANE at the conversion rate: the casts could run
    # there, but on the ANE the fp32 tensor would cross instead of the half-size fp16 one.
    chip = dataclasses.replace(get_chip("M4"), ane_fp32_io=False)
    report = _report(convnet, "ALL", chip)
    cast_in, cast_out = _casts(report)
    assert cast_in.device is Device.CPU  # 192 KB of fp32 image
    assert cast_in.reason_kind is ReasonKind.COST_MODEL
    assert cast_in.cost_driver is CostDriver.CROSSINGS
    assert "192.0 KB of fp32" in cast_in.reason and "96.0 KB of fp16" in cast_in.reason
    assert "dispatch" not in cast_in.reason
    # 40 bytes of fp32 logits: crossing as fp32 costs nothing worth a CPU segment of its own
    assert cast_out.device is Device.ANE


def _neighbour_devices(report: ProfileReport, index: int) -> list[Device]:
    running = [o for o in report.ops if o.device is not None]
    pos = next(i for i, o in enumerate(running) if o.index == index)
    near = [running[j] for j in (pos - 1, pos + 1) if 0 <= j < len(running)]
    return [o.device for o in near if o.function == report.ops[index].function and o.device]


@pytest.mark.parametrize("chip", sorted(CHIPS))
@pytest.mark.parametrize("units", ["ALL", "CPU_AND_NE"])
def test_no_dispatch_reason_next_to_an_ane_segment(convnet: Graph, chip: str, units: str) -> None:
    for graph in (convnet, load_model(example_path("transformer"))):
        report = _report(graph, units, chip)
        for o in report.ops:
            if o.cost_driver is CostDriver.DISPATCH:
                assert Device.ANE not in _neighbour_devices(report, o.index), (o.name, chip)


def test_cost_model_reasons_group_by_what_decided() -> None:
    graph = load_model(example_path("transformer"))
    chip = dataclasses.replace(get_chip("M4"), ane_fp32_io=False)
    report = _report(graph, str(ComputeUnits.ALL), chip)
    cost_model = [o for o in report.ops if o.reason_kind is ReasonKind.COST_MODEL]
    assert cost_model
    groups = report.not_on_ane()
    for ops in groups.values():
        assert len({o.cost_driver for o in ops}) == 1  # one decision per group
