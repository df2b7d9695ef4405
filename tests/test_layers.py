"""The layer tree (analysis/layers.py): scopes from names, converter-made names, blocks,
functions, the repeated-structure fallback, and the nesting/count invariants on real reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from test_groups import records

import ane_notebook as an
from ane_notebook.analysis.layers import MIN_LAYER_OPS, Layer, LayerKind, layer_tree, walk
from ane_notebook.placement.devices import Device

ANE, CPU = Device.ANE, Device.CPU

LLM_PARTS = (
    "input_layernorm_pow",
    "input_layernorm_mean",
    "input_layernorm_rsqrt",
    "self_attn_q_proj_cast_fp16",
    "self_attn_k_proj_cast_fp16",
    "self_attn_softmax",
    "self_attn_softmax_to_fp16",
    "mlp_up_proj",
    "mlp_act",
    "mlp_down_proj",
)


def llm_names(n_layers: int) -> list[str]:
    names = ["model_embed_tokens_cast_fp16", "cast_0"]
    for i in range(n_layers):
        names += [f"model_layers_{i}_{p}" for p in LLM_PARTS[:4]]
        names.append(f"transpose_{i}")  # converter-made, inside the layer
        names += [f"model_layers_{i}_{p}" for p in LLM_PARTS[4:]]
        names.append(f"cast_{i + 1}")  # converter-made, between layers
    return [*names, "model_norm_a", "model_norm_b", "model_norm_c", "lm_head_cast_fp16", "lm_head"]


def check_invariants(tree: Sequence[Layer], n_compute: int) -> None:
    """Children nested in their parent, disjoint and in order; counts consistent."""

    def check(nodes: Sequence[Layer], lo: int, hi: int, depth: int) -> None:
        prev = lo - 1
        for n in nodes:
            assert lo <= n.first_row <= n.last_row <= hi
            assert n.first_row > prev
            prev = n.last_row
            assert n.n_ops == n.last_row - n.first_row + 1 >= 1
            assert n.depth == depth
            assert sum(n.device_mix.values()) <= n.n_ops
            check(n.children, n.first_row, n.last_row, depth + 1)

    check(tree, 0, n_compute - 1, 0)


def find(tree: Sequence[Layer], label: str) -> list[Layer]:
    return [n for n in walk(tree) if n.label == label]


def test_llm_names_nest_model_layers_and_sublayers() -> None:
    ops = records(llm_names(4))
    tree = layer_tree(ops)
    check_invariants(tree, len(ops))
    (model,) = tree
    assert model.label == "model"
    layers = next(c for c in model.children if c.label == "layers")
    assert [c.label for c in layers.children] == [f"layers_{i}" for i in range(4)]
    first = layers.children[0]
    assert [c.label for c in first.children] == ["input_layernorm", "self_attn", "mlp"]
    # the converter-made transpose inside layer 0 belongs to it; the cast between layers not
    assert first.n_ops == len(LLM_PARTS) + 1
    names = [o.name for o in ops]
    assert names[first.first_row + 4] == "transpose_0"
    assert names.index("cast_1") not in range(first.first_row, first.last_row + 1)
    assert names.index("cast_1") in range(layers.first_row, layers.last_row + 1)
    # lm_head + its cast are two ops: no layer
    assert not find(tree, "lm_head")


def test_dotted_and_slashed_scopes() -> None:
    dotted = [f"model.layers.{i}.attn.{p}" for i in range(3) for p in "qkvo"]
    tree = layer_tree(records(dotted))
    (layers,) = tree
    assert layers.label == "model.layers"  # model and model.layers cover the same ops: merged
    # a numbered layer keeps its name over its only child (attn)
    assert [c.label for c in layers.children] == ["layers.0", "layers.1", "layers.2"]
    slashed = [f"encoder/block_{i}/{p}" for i in range(3) for p in ("a", "b", "c")]
    tree = layer_tree(records(slashed))
    assert [c.label for c in tree[0].children] == ["block_0", "block_1", "block_2"]


def test_const_ops_are_skipped_and_indices_are_graph_indices() -> None:
    names = llm_names(2)
    devs: list[Device | None] = [None if i % 3 == 0 else ANE for i in range(len(names))]
    ops = records(names, devs)
    tree = layer_tree(ops)
    compute = [o for o in ops if not o.is_const]
    for n in walk(tree):
        assert ops[n.start] is compute[n.first_row] and ops[n.end] is compute[n.last_row]
        assert not ops[n.start].is_const


def test_device_mix_and_time_sum_the_ops() -> None:
    names = llm_names(3)
    devs = [CPU if "softmax" in n else ANE for n in names]
    ops = records(names, devs, times=[0.5] * len(names))
    for n in walk(layer_tree(ops)):
        span = ops[n.first_row : n.last_row + 1]
        assert n.device_mix[CPU] == sum(o.device is CPU for o in span)
        assert n.device_mix[ANE] == sum(o.device is ANE for o in span)
        assert n.est_time_ms == pytest.approx(0.5 * len(span))


def test_functions_are_roots() -> None:
    a = records(llm_names(2), function="prefill")
    b = records(llm_names(2), function="stage2/decode", start=len(a))
    tree = layer_tree(a + b)
    assert [(n.kind, n.label) for n in tree] == [
        (LayerKind.FUNCTION, "prefill"),
        (LayerKind.STAGE, "stage2 / decode"),  # a stage of one function: one node
    ]
    assert tree[0].children[0].label == "model"
    check_invariants(tree, len(a) + len(b))


def test_blocks_of_control_flow_nest_under_their_parent_scope() -> None:
    names = [f"enc_layers_{i}_{p}" for i in range(2) for p in ("a", "b", "c", "d")]
    ops = records(names)
    # make ops 5..7 the body of a cond written as layer 1's op "enc_layers_1_a"
    ops = [
        replace(o, block=("enc_layers_1_a", "block0"), name=f"body_{k}") if 5 <= k <= 7 else o
        for k, o in enumerate(ops)
    ]
    tree = layer_tree(ops)
    layer1 = find(tree, "layers_1")[0]
    (block,) = layer1.children
    assert block.kind is LayerKind.BLOCK and block.label == "enc_layers_1_a · block0"
    assert (block.first_row, block.last_row) == (5, 7)


def test_control_flow_example_has_block_nodes() -> None:
    report = an.profile("example:control_flow")
    tree = layer_tree(report)
    kinds = {n.kind for n in walk(tree)}
    assert LayerKind.BLOCK in kinds
    labels = [n.label for n in walk(tree)]
    assert "choose · block0" in labels and "choose · block1" in labels


def test_numbered_leading_tokens_group_blocks() -> None:
    names = ["stem_conv", "stem_relu"]
    for i in range(1, 5):
        names += [f"dw{i}_cast_fp16", f"dw{i}_relu6", f"pw{i}_cast_fp16", f"pw{i}_relu6"]
    tree = layer_tree(records(names))
    assert [n.label for n in tree] == [f"dw{i}+pw{i}" for i in range(1, 5)]
    assert all(n.n_ops == 4 for n in tree)


def test_anonymous_names_fall_back_to_repeated_structure() -> None:
    types = ["layer_norm", "linear", "softmax", "linear", "add"] * 4
    ops = [
        replace(o, op_type=t)
        for o, t in zip(records([f"var_{i}" for i in range(20)]), types, strict=True)
    ]
    tree = layer_tree(ops)
    assert [n.kind for n in tree] == [LayerKind.REPEAT] * 4
    assert all(n.n_ops == 5 and n.label.startswith("layer_norm") for n in tree)
    # converter numbering alone is no structure: no scope nodes from var_N
    assert not any(n.kind is LayerKind.SCOPE for n in walk(tree))


def test_nothing_to_group_gives_empty_tree() -> None:
    assert layer_tree(records(["a", "b"])) == ()
    assert layer_tree([]) == ()
    ops = records([f"op_{i}" for i in range(6)])
    assert layer_tree(ops) == ()  # all one type, every chunk one op: below MIN_LAYER_OPS
    assert MIN_LAYER_OPS > 1


@pytest.mark.parametrize("example", ["transformer", "mobilenet"])
def test_examples_have_layers_that_match_the_report(example: str) -> None:
    report = an.profile(f"example:{example}")
    tree = layer_tree(report)
    n_compute = sum(1 for o in report.ops if not o.is_const)
    assert report.summary().n_ops == n_compute
    check_invariants(tree, n_compute)
    assert len(tree) >= 2
    compute = [o for o in report.ops if not o.is_const]
    for n in walk(tree):
        span = compute[n.first_row : n.last_row + 1]
        for d in Device:
            assert n.device_mix[d] == sum(o.device is d for o in span)


def test_hostile_and_huge_names_do_not_break_the_tree() -> None:
    evil = "<img src=x onerror=alert(1)>"
    names = [f"{evil}_layers_{i}_{p}" for i in range(3) for p in "abc"] + ["x" * 10_000]
    tree = layer_tree(records(names))
    check_invariants(tree, len(names))
    assert any(evil in n.name for n in walk(tree))  # raw here; escaped where drawn


NAMES = [
    "model_layers_12_self_attn_q_proj_cast_fp16",
    "model_layers_12_self_attn_k_proj",
    "model/encoder/block.3/attn:0",
    "/leading/slash",
    "dw3_relu6",
    "layer0",
    "layer0_q_to_fp32",
    "a_b_c_d_e_f_g_h_i_j_k_l_m_n_o",  # deeper than MAX_NAME_DEPTH
    "transpose_9",
    "plain",
    "x__y",
    "//x",
    "/",
    "_a",
    "a_",
    "layer12/attn/q_proj_cast_fp16_2",
    "dw3/a.b:c_d/e.f:g_h/i.j:k_l",
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n_cast_fp16",
    "layer0_a_b_c_d_e_f_g_h_i_j_k",
]


@pytest.mark.parametrize("lead", [None, {"3": "dw3+pw3", "0": "layer0"}])
def test_the_scope_cache_gives_each_name_its_own_scopes(lead: dict[str, str] | None) -> None:
    # ScopeCache computes a path once per prefix (issue 14); it must equal the per-name rule.
    from ane_notebook.analysis.scopes import ScopeCache, name_scopes

    cache = ScopeCache(lead)
    # Deepest first, then the reverse: a prefix is met both before and after its parents.
    for name in sorted(NAMES, key=len, reverse=True) + NAMES + NAMES:
        assert list(cache(name)) == name_scopes(name, lead), name


def test_separator_heavy_names_keep_the_scope_cache_small() -> None:
    # A 400-character name that is mostly separators once cached every prefix of itself
    # (~400 per distinct name, ~130 KB per op): only the first MAX_NAME_DEPTH cuts count.
    from ane_notebook.analysis.scopes import MAX_NAME_DEPTH, ScopeCache, name_scopes

    cache = ScopeCache(None)
    names = [f"a{i % 7}" + "_" * 380 + str(i) for i in range(200)]
    for name in names:
        assert list(cache(name)) == name_scopes(name, None)
    assert len(cache._by_prefix) <= 7 * MAX_NAME_DEPTH


def test_ops_under_one_scope_share_one_path_object() -> None:
    # _build skips an op whose path is the previous op's object: siblings must share it.
    from ane_notebook.analysis.layers import _paths

    ops = records(["m_layers_1_q_proj", "m_layers_1_q_view", "m_layers_1_k_proj"])
    paths = _paths([op.function for op in ops], [op.name for op in ops], [op.block for op in ops])
    assert paths[0] is paths[1]
    assert paths[0] is not paths[2] and paths[0][:-1] == paths[2][:-1]


def test_layers_equal_the_constructors() -> None:
    # _freeze builds Layers without the dataclass __init__ (issue 14): same fields, same values.
    from dataclasses import asdict, fields

    names = [f"model_layers_{i}_{p}" for i in range(4) for p in ("q", "k", "v", "o")]
    for layer in walk(layer_tree(records(names))):
        again = Layer(**{f.name: getattr(layer, f.name) for f in fields(Layer)})
        assert layer == again and asdict(layer) == asdict(again)
        assert type(layer.est_time_ms) is float and type(layer.start) is int
        assert all(type(c) is int for c in layer.device_mix.values())


def test_the_reversed_dtype_pattern_strips_what_dtype_suffix_strips() -> None:
    # strip_dtype_suffix matches DTYPE_SUFFIX backwards (issue 14); names made of the
    # suffix's own tokens in random order are where the two could disagree.
    import random

    from ane_notebook.analysis.names import DTYPE_SUFFIX, strip_dtype_suffix

    tokens = ["_cast", "_to", "_fp16", "_fp32", "_fp64", "_bf16", "_int4", "_int8", "_int16"]
    tokens += ["_uint8", "_uint64", "_int32", "_int64", "_bool", "_3", "_12", "_", "x", "u"]
    tokens += ["int", "fp", "16", "_cast_fp16", "_to_fp32", "t", "cast", "4", "_u", "\n"]
    rng = random.Random(14)
    for _ in range(20000):
        name = "".join(rng.choice(tokens) for _ in range(rng.randint(0, 8)))
        assert strip_dtype_suffix(name) == DTYPE_SUFFIX.sub("", name), name


def test_a_name_ending_in_a_newline_is_not_read_as_converter_made() -> None:
    # Python's `$` matches before a trailing "\n": "relu_3\n" passed for a generated name
    # (no scopes) and "q_cast_fp16\n" lost a suffix the reversed matcher kept.
    from ane_notebook.analysis.names import DTYPE_SUFFIX
    from ane_notebook.analysis.scopes import name_scopes

    assert name_scopes("relu_3", None) == []
    assert [s[1] for s in name_scopes("relu_3\n", None)] == ["relu"]
    assert DTYPE_SUFFIX.sub("", "q_cast_fp16\n") == "q_cast_fp16\n"
    assert DTYPE_SUFFIX.sub("", "q_cast_fp16") == "q"
    # nor is "dw3\n" a leading numbered token like "dw3"
    lead = {"3": "dw3+pw3"}
    assert [s[1] for s in name_scopes("dw3", lead)] == ["dw3+pw3"]
    assert name_scopes("dw3\n", lead) == []


def test_random_separator_names_get_the_per_name_scopes() -> None:
    # ScopeCache finds a name's key with one regex (`_KEY`, issue 14) where the rule cuts at
    # every separator: random names of separators, digits, letters and dtype tokens.
    import random

    from ane_notebook.analysis.scopes import ScopeCache, name_scopes

    tokens = ["/", ".", "_", ":", "a", "b", "3", "12", "_cast_fp16", "\n", "layer", "x" * 50]
    rng = random.Random(14)
    names = ["".join(rng.choice(tokens) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for lead in (None, {"3": "a3", "12": "b12"}):
        cache = ScopeCache(lead)
        for name in names:
            assert list(cache(name)) == name_scopes(name, lead), name


def test_ops_without_the_optional_fields_read_as_their_defaults() -> None:
    # layer_tree reads fields a column at a time in C and falls back to getattr's defaults only
    # when an op lacks one (issue 14): both must give the same tree.
    from types import SimpleNamespace

    names = [f"model_layers_{i}_{p}" for i in range(4) for p in ("q", "k", "v", "o")]
    full = records(names, devices=[ANE, CPU] * 8)
    bare = []
    for k, op in enumerate(full):
        fields = {"index": op.index, "name": op.name, "op_type": op.op_type}
        fields.update(function=op.function, is_const=op.is_const)
        if k % 2 == 0:  # every other op lacks device, est_time_ms and block
            fields.update(device=op.device, est_time_ms=op.est_time_ms, block=op.block)
        bare.append(SimpleNamespace(**fields))
    expected = layer_tree(
        [replace(op, device=None, est_time_ms=0.0) if k % 2 else op for k, op in enumerate(full)]
    )
    assert layer_tree(bare) == expected
