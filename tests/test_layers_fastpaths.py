"""The layer tree's fast paths (issue 14) held to the plain code they replace.

`stems.name_paths` (scope paths per name stem) must give every name the paths `ScopeCache`
gives it name by name, and `layer_tree` must give the tree the code before issue 14's fourth
pass gave (kept in tests/layers_reference.py), field for field, on varied and random op lists:
hostile names (separator-heavy, the joiner U+001F, trailing newlines, unicode digits, names
over `MAX_NAME_CHARS`, deeper than `MAX_NAME_DEPTH`), converter-made names, several functions,
cond / while blocks, ops without a device. `render/layerarrays.layer_arrays`, which flattens the
tree for the graph view, is held to the code it replaced the same way.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import layers_reference
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_groups import records
from test_layers import NAMES, llm_names

from ane_notebook.analysis import stems
from ane_notebook.analysis.layers import Layer, layer_tree, layer_tree_of_columns, walk
from ane_notebook.analysis.scopes import MAX_NAME_CHARS, MAX_NAME_DEPTH, ScopeCache, lead_labels
from ane_notebook.analysis.stems import name_paths
from ane_notebook.placement.devices import DEVICE_ORDER, Device
from ane_notebook.render.graphunits import LayerArrays, layer_arrays
from ane_notebook.render.optable import _Escaper
from ane_notebook.report import OpRecord

# Pieces names are made of: separators, digits (ASCII and not), dtype suffix tokens, the
# joiner name_paths uses, a newline, HTML, letters, long runs.
TOKENS = ["/", ".", "_", ":", "a", "b", "x1", "layer", "dw", "3", "12", "0", "٣", "７"]
TOKENS += ["_cast_fp16", "_to_fp32", "_cast_uint16", "_int8", "fp16", "_16", "_2", "bool"]
TOKENS += ["\x1f", "\n", "<b>", "é", "relu", "transpose", "x" * 60, "_" * 30]


def random_names(rng: random.Random, n: int, tokens: Sequence[str] = TOKENS) -> list[str]:
    return ["".join(rng.choice(tokens) for _ in range(rng.randint(0, 12))) for _ in range(n)]


@contextmanager
def stems_always(on: bool = True) -> Iterator[None]:
    """With `on`, name_paths takes the stem path however few names share a stem (these lists
    are small: at the default threshold most would go name by name)."""
    saved = stems._MIN_NAMES_PER_STEM
    stems._MIN_NAMES_PER_STEM = 0 if on else saved
    try:
        yield
    finally:
        stems._MIN_NAMES_PER_STEM = saved


def check_name_paths(names: list[str]) -> None:
    for always in (True, False):
        with stems_always(always):
            own = ScopeCache(lead_labels(names))  # the default: the names' own lead blocks
            assert name_paths(names) == [own(name) for name in names]
            for lead in (lead_labels(names), None, {"3": "dw3+pw3", "12": "b12", "0": "l0"}):
                got = name_paths(names, lead)
                cache = ScopeCache(lead)
                assert got == [cache(name) for name in names]
                if not always or any("\x1f" in name for name in names):
                    continue  # (name by name)
                for a, b, x, y in zip(got, got[1:], names, names[1:], strict=False):
                    if x == y:
                        assert a is b  # one key, one tuple: _build skips the op by identity


NAME_LISTS = {
    "empty": [],
    "one": ["model_layers_0_q_proj"],
    "examples": NAMES,
    "llm": llm_names(6),
    "generated": ["transpose_9", "var_12", "cast_0", "", "add"],
    "joiner": ["a_b\x1fc_d", "a_b_c", "\x1f", "x_cast_fp16\x1f"],
    "newline": ["relu_3\n", "q_cast_fp16\n", "dw3\n", "a_b\n_c", "\n"],
    "unicode digits": ["layer٣_q", "layer٣", "m_layers_٣_q", "relu_٣", "a_７_b_c"],
    "long": ["a_" * 300 + "b", "model_" + "x" * 500 + "_q", "a" * 399 + "_b", "a" * 401],
    "deep": ["_".join("abcdefghijklmnopqrstu"[: k + 1]) for k in range(21)],
    "separators": ["/", "//", "._:", "a//b", "_a_", "a__b", ":" * 50, "/leading/x"],
    "leads": [f"{t}{i}_{p}" for i in range(6) for t in ("dw", "pw") for p in ("a", "b_c")]
    + ["dw3_cast_fp16", "dw3", "dw3x_a", "layer٣_a", "dw12_to_fp16", "dw3\n", "d" * 401 + "3_a"],
    "dtype": ["q_cast_fp16_cast_uint16_2", "a_to_bool_3", "x_cast_int164", "y_fp32_to_fp16"]
    + [
        "x_cast_fp16",
        "x_cast_fp17",
        "x_cast_int16",
        "x_cast_int17",
        "x_9_cast_fp99",
        "x_1_to_fp32",
    ],
}


@pytest.mark.parametrize("names", NAME_LISTS.values(), ids=NAME_LISTS.keys())
def test_name_paths_are_the_scope_caches(names: list[str]) -> None:
    check_name_paths(names)


def test_leading_numbers_are_read_off_the_stems() -> None:
    from ane_notebook.analysis.names import strip_dtype_suffix
    from ane_notebook.analysis.stems import _stem_leads

    names = NAME_LISTS["leads"][:-1]  # (no name over MAX_NAME_CHARS: those take lead_labels)
    assert lead_labels(names) is not None
    blind = str.maketrans("0123456789", "0" * 10)
    stems = [strip_dtype_suffix(name).translate(blind) for name in names]
    assert _stem_leads(names, stems, dict.fromkeys(stems)) == lead_labels(names)
    assert _stem_leads(["a_b", "c"], ["a_b", "c"], ["a_b", "c"]) is None


def test_name_paths_of_random_names() -> None:
    rng = random.Random(14)
    for _ in range(200):
        check_name_paths(random_names(rng, rng.randint(1, 40)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab1٣_/.:\x1f\n" + "cstofp6", max_size=30), max_size=30))
def test_name_paths_of_generated_names(names: list[str]) -> None:
    check_name_paths(names)


# --- the whole tree against the reference ---------------------------------------------------


def tree_fields(tree: Sequence[object]) -> list[tuple[object, ...]]:
    """Every node's fields in walk order (the classes differ: compare values)."""
    return [tuple(vars(n).values()) for n in walk(tree)]  # type: ignore[arg-type]


def check_tree(ops: Sequence[OpRecord]) -> None:
    want = layers_reference.layer_tree(ops)
    for always in (True, False):
        with stems_always(always):
            got = layer_tree(ops)
        assert got == want
        assert tree_fields(got) == tree_fields(want)


def varied_ops(rng: random.Random, n: int) -> list[OpRecord]:
    """Ops of random names from a mix of LLM, generated and hostile names, in 1-3 functions,
    some in blocks, some const, some without a device."""
    pool = llm_names(3) + NAMES + random_names(rng, 10) + [f"relu_{i}" for i in range(5)]
    names = [rng.choice(pool) for _ in range(n)]
    devices = [rng.choice([Device.ANE, Device.GPU, Device.CPU, None]) for _ in range(n)]
    ops = records(names, devices=devices, times=[rng.random() for _ in range(n)])
    functions = rng.choice([["main"], ["main", "f"], ["stage0/a", "stage1/a", "b"]])
    out = []
    f = 0
    for op in ops:
        if rng.random() < 0.1:
            f = rng.randrange(len(functions))
        block: tuple[str, ...] = ()
        if rng.random() < 0.2 and out:
            block = (rng.choice(out).name, rng.choice(["then", "else", "body"]))
        unplaced = not op.is_const and rng.random() < 0.05
        out.append(
            replace(op, function=functions[f], block=block, device=None if unplaced else op.device)
        )
    return out


def test_the_tree_is_the_references_on_varied_ops() -> None:
    rng = random.Random(14)
    for _ in range(150):
        check_tree(varied_ops(rng, rng.randint(0, 80)))


def check_tree_of_columns(ops: Sequence[OpRecord]) -> None:
    """`layer_tree_of_columns` on the op table's columns of the compute ops is `layer_tree`."""
    from ane_notebook.render.optable import _PREFETCH, RecordColumns

    compute = [op for op in ops if not op.is_const]
    want = layer_tree(ops)
    for fields in (RecordColumns(compute, _PREFETCH), RecordColumns(compute, prefetch=())):
        got = layer_tree_of_columns(fields.records, fields)
        assert got == want
        assert tree_fields(got) == tree_fields(want)
    # plain lists read here, not the op table's: the same tree
    got = layer_tree_of_columns(compute, lambda f: [getattr(op, f) for op in compute])
    assert tree_fields(got) == tree_fields(want)


def test_the_tree_of_the_op_tables_columns_is_the_tree_of_the_ops() -> None:
    rng = random.Random(15)
    check_tree_of_columns([])
    check_tree_of_columns(records(["model_layers_0_q"]))
    for _ in range(80):
        check_tree_of_columns(varied_ops(rng, rng.randint(0, 80)))
    for names in NAME_LISTS.values():
        check_tree_of_columns(records(names * 3))
    check_tree_of_columns(records(llm_names(30)))


@pytest.mark.parametrize("names", NAME_LISTS.values(), ids=NAME_LISTS.keys())
def test_the_tree_is_the_references_on_each_name_list(names: list[str]) -> None:
    check_tree(records(names * 3))
    check_tree(records(names, function="a") + records(names, function="b", start=len(names)))


def test_the_tree_is_the_references_on_a_large_llm() -> None:
    check_tree(records(llm_names(200)))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*llm_names(2), *NAMES, "relu_1", "\x1f", "a" * (MAX_NAME_CHARS + 1)]),
            st.sampled_from(["main", "f", "s/g"]),
            st.sampled_from([(), ("a_b", "then"), ("model_layers_0_mlp_act", "body")]),
            st.sampled_from([Device.ANE, Device.CPU, None]),
        ),
        max_size=60,
    )
)
def test_the_tree_is_the_references_on_generated_ops(
    ops: list[tuple[str, str, tuple[str, ...], Device | None]],
) -> None:
    base = records([name for name, *_ in ops], devices=[d for *_, d in ops])
    check_tree(
        [replace(op, function=f, block=b) for op, (_, f, b, _) in zip(base, ops, strict=True)]
    )


def test_the_tree_is_the_references_where_the_pruning_decides() -> None:
    """`_build` prunes as scopes close: the cases where the two passes it replaced decided."""
    chain = ["a_b_c_d_x", "a_b_c_d_y", "a_b_c_d_z"]  # a_b > a_b_c > a_b_c_d: one span, folded
    numbered = ["m.layers.3.attn.q", "m.layers.3.attn.k", "m.layers.3.attn.v"]
    lists = [
        chain,
        numbered,
        chain[:2],  # too few ops: nothing
        chain[:2] + ["a_b_c_e"],  # a_b_c spans 3, a_b_c_d 2: dropped under it
        ["p_q_1", "p_q_2", "p_r_1", "p_r_2", "p_r_3", "s_1"],  # a small first child
        ["u_v", "w"] * 2 + chain + ["u_v"],  # scopes reopened after others
    ]
    for names in lists:
        check_tree(records(names))
        # Functions are kept however small; a scope with their ops folds into them.
        check_tree(records(names[:1], function="f") + records(names, function="g", start=1))
        check_tree(records(names, function="f") + records(names[:2], function="g", start=9))
    with_block = [replace(op, block=("a_b_c_d_x", "then")) for op in records(chain, start=3)]
    check_tree(records(chain) + with_block)


def test_depth_limit_names_match() -> None:
    deep = ["/".join(f"s{i}" for i in range(k)) for k in range(MAX_NAME_DEPTH + 5)]
    check_name_paths(deep)
    check_tree(records([n + "/op" for n in deep for _ in range(3)]))


# --- render/layerarrays.layer_arrays against the code it replaced ----------------------------


def reference_layer_arrays(tree: Sequence[Layer]) -> LayerArrays:
    """layer_arrays as render/graphunits.py had it before issue 14's fourth pass."""
    nodes = list(walk(tree))
    index = {id(n): i for i, n in enumerate(nodes)}
    parent = np.full(len(nodes), -1, dtype=np.int32)
    for n in nodes:
        for c in n.children:
            parent[index[id(c)]] = index[id(n)]
    esc = _Escaper(120)

    def mix_text(n: Layer) -> str:
        return " · ".join(f"{d.value} {n.device_mix[d]}" for d in DEVICE_ORDER if n.device_mix[d])

    def dominant(n: Layer) -> str:
        best = max(DEVICE_ORDER, key=lambda d: n.device_mix[d])
        return best.value if n.device_mix[best] else "?"

    def second(n: Layer) -> str:
        ranked = sorted(DEVICE_ORDER, key=lambda d: -n.device_mix[d])
        return ranked[1].value if n.device_mix[ranked[1]] else dominant(n)

    # The texts depend on the device mix only, and thousands of layers share a few mixes.
    by_mix: dict[tuple[int, ...], tuple[str, str, str]] = {}
    texts = []
    for n in nodes:
        key = tuple(n.device_mix[d] for d in DEVICE_ORDER)
        got = by_mix.get(key)
        if got is None:
            got = by_mix[key] = (mix_text(n), dominant(n), second(n))
        texts.append(got)
    cols: dict[str, Any] = {
        "label": esc.column([n.label for n in nodes]),
        "name": esc.column([n.name for n in nodes]),
        "kind": [n.kind.value for n in nodes],
        "n_ops": np.fromiter((n.n_ops for n in nodes), np.int32, len(nodes)),
        "mix": [t[0] for t in texts],
        "device": [t[1] for t in texts],
        "device2": [t[2] for t in texts],
        "time_ms": np.fromiter((n.est_time_ms for n in nodes), np.float64, len(nodes)),
    }
    return LayerArrays(
        first=np.fromiter((n.first_row for n in nodes), np.int32, len(nodes)),
        last=np.fromiter((n.last_row for n in nodes), np.int32, len(nodes)),
        parent=parent,
        depth=np.fromiter((n.depth for n in nodes), np.int32, len(nodes)),
        columns=cols,
    )


def check_layer_arrays(tree: Sequence[Layer]) -> None:
    got, want = layer_arrays(tree), reference_layer_arrays(tree)
    for field in ("first", "last", "parent", "depth"):
        a, b = getattr(got, field), getattr(want, field)
        assert a.dtype == b.dtype and a.tolist() == b.tolist(), field
    assert got.columns.keys() == want.columns.keys()
    for key, column in want.columns.items():
        if isinstance(column, np.ndarray):
            assert (
                got.columns[key].dtype == column.dtype
                and got.columns[key].tolist() == column.tolist()
            )
        else:
            assert type(got.columns[key]) is list and got.columns[key] == column, key


def test_layer_arrays_are_the_references() -> None:
    rng = random.Random(14)
    check_layer_arrays(())
    for _ in range(60):
        check_layer_arrays(layer_tree(varied_ops(rng, rng.randint(0, 80))))
    for names in NAME_LISTS.values():
        check_layer_arrays(layer_tree(records(names * 3)))
    names = llm_names(40)
    mixed = [rng.choice(DEVICE_ORDER) for _ in names]  # many distinct device mixes
    check_layer_arrays(layer_tree(records(names, devices=mixed)))


# --- render/layerband._pieces against the loop it replaced -----------------------------------


def reference_pieces(
    shown: Sequence[Layer],
    lefts: Sequence[float],
    rights: Sequence[float],
    bottoms: Sequence[float],
    tops: Sequence[float],
) -> dict[str, Any]:
    """band_columns' pieces as render/layerband.py made them before issue 14's fourth pass."""
    from ane_notebook.render.palette import DEVICE_COLORS

    pieces: dict[str, Any] = {k: [] for k in ("left", "right", "bottom", "top", "color")}
    for n, left, right, bottom, top in zip(shown, lefts, rights, bottoms, tops, strict=True):
        x = left
        for d in DEVICE_ORDER:
            c = n.device_mix[d]
            if c:
                w = (right - left) * c / n.n_ops
                for k, v in zip(pieces, (x, x + w, bottom, top, DEVICE_COLORS[d]), strict=True):
                    pieces[k].append(v)
                x += w
        if x < right:  # ops the plan placed nowhere
            for k, v in zip(pieces, (x, right, bottom, top, "#bbbbbb"), strict=True):
                pieces[k].append(v)
    return pieces


def check_pieces(tree: Sequence[Layer]) -> None:
    from ane_notebook.render.layerband import _pieces

    shown = list(walk(tree))
    lefts = [n.first_row - 0.5 for n in shown]
    rights = [n.last_row + 0.5 for n in shown]
    bottoms = [n.depth * 0.62 - 0.27 for n in shown]
    tops = [n.depth * 0.62 + 0.27 for n in shown]
    got = _pieces(shown, lefts, rights, bottoms, tops)
    want = reference_pieces(shown, lefts, rights, bottoms, tops)
    assert got.keys() == want.keys()
    for key in ("left", "right", "bottom", "top"):
        assert got[key].dtype == np.float64 and got[key].tolist() == want[key], key
    assert got["color"] == want["color"]


def test_band_pieces_are_the_loops() -> None:
    rng = random.Random(14)
    check_pieces(())
    for _ in range(60):
        check_pieces(layer_tree(varied_ops(rng, rng.randint(0, 80))))
    names = llm_names(40)
    devices = [rng.choice([*DEVICE_ORDER, None]) for _ in names]
    ops = records(names, devices=devices)
    # some ops placed nowhere (compute ops without a device): the grey piece
    ops = [replace(op, is_const=False) if k % 7 == 0 else op for k, op in enumerate(ops)]
    check_pieces(layer_tree(ops))


@pytest.mark.parametrize("without", ["index", "function", "name"])
def test_an_op_without_a_required_field_is_refused_as_before(without: str) -> None:
    # Only block, device and est_time_ms may be missing (they have defaults); the column-at-a-
    # time fallback gave None for the others and returned a tree with start=None.
    from types import SimpleNamespace

    ops = []
    for i in range(12):
        fields = {"index": i, "name": f"model_layers_{i // 6}_op{i}", "function": "main"}
        del fields[without]
        ops.append(SimpleNamespace(is_const=False, **fields))
    with pytest.raises(AttributeError, match=without):
        layers_reference.layer_tree(ops)
    with pytest.raises(AttributeError, match=without):
        layer_tree(ops)


def test_an_infinite_time_gives_the_references_tree_without_a_warning() -> None:
    import warnings
    from types import SimpleNamespace

    ops = [
        SimpleNamespace(
            index=i, name=f"model_layers_{i // 4}_op{i}", function="main", is_const=False,
            block=(), device=None, est_time_ms=float("inf") if i == 5 else 1.0,
        )
        for i in range(12)
    ]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = layer_tree(ops)
    want = layers_reference.layer_tree(ops)
    assert repr(got) == repr(want)  # (inf - inf is nan, and nan != nan: compare the texts)
