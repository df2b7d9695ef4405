"""Layer groups found from op names (analysis/groups.py): naming conventions, converter-made
names, const ops, functions, and the cover-every-op-once property on real reports."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import ane_notebook as an
from ane_notebook.analysis.groups import Group, candidate_keys, find_groups
from ane_notebook.placement.devices import DEVICE_ORDER, Device
from ane_notebook.report import OpRecord

ANE, GPU, CPU = Device.ANE, Device.GPU, Device.CPU


def records(
    names: Sequence[str],
    devices: Sequence[Device | None] | None = None,
    function: str = "main",
    start: int = 0,
    times: Sequence[float] | None = None,
) -> list[OpRecord]:
    """One OpRecord per name; a device of None makes a const op."""
    devs = list(devices) if devices is not None else [ANE] * len(names)
    out = []
    for i, (name, dev) in enumerate(zip(names, devs, strict=True)):
        out.append(
            OpRecord(
                index=start + i,
                name=name,
                op_type="const" if dev is None else "add",
                function=function,
                device=dev,
                supported=tuple(DEVICE_ORDER),
                reason="",
                evidence=None,
                est_time_ms=0.0 if dev is None else (times[i] if times else 1.0),
                is_const=dev is None,
            )
        )
    return out


def layer_names(
    pattern: str, n_layers: int, parts: Sequence[str] = ("q", "k", "v", "o")
) -> list[str]:
    return [pattern.format(i=i, part=p) for i in range(n_layers) for p in parts]


@pytest.mark.parametrize(
    ("pattern", "key"),
    [
        ("layer{i}_{part}", "layer{i}"),
        ("model.layers.{i}.self_attn.{part}_proj", "model.layers.{i}"),
        ("model_layers_{i}_self_attn_{part}_proj_cast_fp16", "model_layers_{i}"),
        ("blocks.{i}/attn/{part}", "blocks.{i}"),
        ("encoder.layer.{i}.attention.{part}", "encoder.layer.{i}"),
        ("transformer.h.{i}.attn.{part}", "transformer.h.{i}"),
    ],
)
def test_naming_conventions(pattern: str, key: str) -> None:
    groups = find_groups(records(layer_names(pattern, 3)))
    assert [g.name for g in groups] == [key.format(i=i) for i in range(3)]
    assert [(g.start, g.end, g.n_ops) for g in groups] == [(0, 3, 4), (4, 7, 4), (8, 11, 4)]
    assert all(g.is_layer for g in groups)


def test_device_mix_and_time() -> None:
    names = layer_names("layer{i}_{part}", 2)
    devs = [ANE, ANE, GPU, CPU, ANE, ANE, ANE, ANE]
    times = [0.5, 0.25, 1.0, 2.0, 0.1, 0.1, 0.1, 0.1]
    g0, g1 = find_groups(records(names, devs, times=times))
    assert g0.device_mix == {ANE: 2, GPU: 1, CPU: 1}
    assert list(g0.device_mix) == list(DEVICE_ORDER)  # every lane, in lane order
    assert g1.device_mix == {ANE: 4, GPU: 0, CPU: 0}
    assert g0.est_time_ms == pytest.approx(3.75)
    assert g1.est_time_ms == pytest.approx(0.4)


def test_outermost_number_wins() -> None:
    # Expert numbers inside a layer must not split the layer.
    names = [
        f"model.layers.{i}.mlp.experts.{e}.w{j}" for i in range(2) for e in range(4) for j in (1, 2)
    ]
    assert [g.name for g in find_groups(records(names))] == ["model.layers.0", "model.layers.1"]


def test_converter_numbering_is_not_structure() -> None:
    # coremltools names ops it makes up var_N, <op>_N, ..._cast_fp16: one op per number.
    names = [
        "var_12",
        "linear_0",
        "transpose_8",
        "transpose_9",
        "x_cast_fp16",
        "var_13",
        "cast_0",
        "cast_1",
        "op_7_cast_fp16",
    ]
    assert find_groups(records(names)) == []


def test_unnamed_ops_inside_a_layer_join_it() -> None:
    names = [
        "layer0_ln",
        "layer0_q",
        "transpose_8",
        "transpose_9",
        "layer0_scores",
        "layer0_out",
        "layer1_ln",
        "layer1_q",
        "transpose_10",
        "layer1_scores",
        "layer1_out",
    ]
    groups = find_groups(records(names))
    assert [(g.name, g.start, g.end, g.n_ops) for g in groups] == [
        ("layer0", 0, 5, 6),
        ("layer1", 6, 10, 5),
    ]


def test_ops_between_layers_form_named_gaps() -> None:
    names = ["embed", "add_position"] + layer_names("layer{i}_{part}", 2) + ["final_ln", "lm_head"]
    groups = find_groups(records(names))
    assert [(g.name, g.is_layer, g.n_ops) for g in groups] == [
        ("before layer0", False, 2),
        ("layer0", True, 4),
        ("layer1", True, 4),
        ("after layer1", False, 2),
    ]
    gap = find_groups(
        records(
            layer_names("layer{i}_{part}", 1) + ["glue"] + layer_names("layer{i}_{part}", 2)[4:]
        )
    )[1]
    assert (gap.name, gap.is_layer) == ("between layer0 and layer1", False)


def test_const_ops_belong_to_no_group() -> None:
    names = [
        "layer0_w",
        "layer0_q",
        "layer0_k",
        "layer0_v",
        "layer1_w",
        "layer1_q",
        "layer1_k",
        "layer1_v",
    ]
    devs = [None, ANE, ANE, ANE, None, GPU, GPU, GPU]
    g0, g1 = find_groups(records(names, devs))
    assert (g0.start, g0.end, g0.n_ops) == (1, 3, 3)
    assert (g1.start, g1.end, g1.n_ops) == (5, 7, 3)
    assert g1.device_mix[GPU] == 3


def test_groups_never_span_functions() -> None:
    a = records(layer_names("layer{i}_{part}", 2), function="prefill")
    b = records(layer_names("layer{i}_{part}", 2), function="decode", start=len(a))
    groups = find_groups(a + b)
    assert [(g.function, g.name) for g in groups] == [
        ("prefill", "layer0"),
        ("prefill", "layer1"),
        ("decode", "layer0"),
        ("decode", "layer1"),
    ]


def test_no_structure_no_groups() -> None:
    assert find_groups([]) == []
    assert find_groups(records(["conv", "relu", "pool", "fc"])) == []
    # A single numbered block is not repetition.
    assert find_groups(records(["layer0_a", "layer0_b", "layer0_c", "head"])) == []


def test_candidate_keys() -> None:
    assert candidate_keys("layer12_q_cast_fp16") == [
        ("layer12", "layer#"),
        ("layer12_q_cast_fp16", "layer12_q_cast_fp#"),
    ]
    assert candidate_keys("12_foo") == []  # a key needs a letter before its number
    assert candidate_keys("conv2d") == []  # the number must end a name component
    assert candidate_keys("blocks.3/attn") == [("blocks.3", "blocks.#")]


def _check_cover(report: an.ProfileReport, groups: list[Group]) -> None:
    """Groups cover every compute op exactly once, in execution order."""
    compute = [r for r in report.ops if not r.is_const]
    assert sum(g.n_ops for g in groups) == len(compute)
    pos = {r.index: k for k, r in enumerate(compute)}
    expected = 0
    for g in groups:
        assert pos[g.start] == expected
        assert pos[g.end] == expected + g.n_ops - 1
        expected += g.n_ops
    for g in groups:
        ops = [r for r in compute if g.start <= r.index <= g.end]
        assert sum(g.device_mix.values()) == len(ops)
        assert g.est_time_ms == pytest.approx(sum(r.est_time_ms for r in ops))


def test_example_transformer_layers() -> None:
    report = an.profile("example:transformer", backend="estimate")
    groups = find_groups(report)
    assert [g.name for g in groups if g.is_layer] == ["layer0", "layer1"]
    # The converter's transpose_8/transpose_9 inside layer 0 stay in layer 0.
    layer0 = groups[1]
    names = {r.name for r in report.ops if layer0.start <= r.index <= layer0.end}
    assert {"transpose_8", "transpose_9"} <= names
    _check_cover(report, groups)


def test_graph_input_has_no_device_mix() -> None:
    from ane_notebook.model.load import load_model

    groups = find_groups(load_model("example:transformer"))
    assert [g.name for g in groups if g.is_layer] == ["layer0", "layer1"]
    assert all(sum(g.device_mix.values()) == 0 for g in groups)
