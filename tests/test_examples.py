"""Tests for ane_notebook.model.examples: every example builds, loads and contains what it is
meant to show; the cache is reused, respects $ANE_NOTEBOOK_CACHE and is written atomically."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from coremltools.converters.mil.mil import Program

from ane_notebook.errors import ModelLoadError
from ane_notebook.model import examples
from ane_notebook.model.graph import Graph
from ane_notebook.model.load import load_model

ANE_AXIS_LIMIT = 16384


@pytest.fixture(scope="module")
def graphs() -> dict[str, Graph]:
    # Built once into the session cache (see conftest.example_cache).
    return {name: load_model(f"example:{name}") for name in examples.EXAMPLES}


def compute_types(g: Graph) -> Counter[str]:
    return Counter(o.op_type for o in g.ops if not o.is_const)


def test_listing() -> None:
    listed = examples.list_examples()
    assert [name for name, _ in listed] == list(examples.EXAMPLES)
    assert {"mobilenet", "transformer", "lstm", "fp32"} <= {name for name, _ in listed}
    for name, description in listed:
        assert description and "\n" not in description, name


def test_every_example_loads(graphs: dict[str, Graph]) -> None:
    for name, g in graphs.items():
        assert (g.name, g.source) == (name, f"example:{name}")
        assert len(g) > 0 and g.inputs and g.outputs
        assert g.format == examples.EXAMPLES[name].kind


def test_mobilenet(graphs: dict[str, Graph]) -> None:
    g = graphs["mobilenet"]
    types = compute_types(g)
    for t in ("conv", "relu6", "avg_pool", "linear", "softmax"):
        assert types[t] >= 1, t
    assert types["conv"] == 27  # MobileNetV1: stem + 13 depthwise/pointwise pairs
    assert "cast" not in types  # fp16 in and out: no boundary casts
    convs = [o for o in g.ops if o.op_type == "conv"]
    depthwise = [o for o in convs if o.attrs["groups"] > 1]
    assert depthwise
    for o in depthwise:
        shape = o.outputs[0].shape
        assert shape is not None and o.attrs["groups"] == shape[1], o.name
    # ANE-friendly: fp16 everywhere, static shapes.
    for o in g.ops:
        if not o.is_const and o.op_type != "cast":
            assert all(t.dtype == "fp16" for t in o.outputs), o.name
        assert all(t.num_elements is not None for t in o.outputs), o.name
    assert not g.is_flexible


def test_transformer(graphs: dict[str, Graph]) -> None:
    g = graphs["transformer"]
    types = compute_types(g)
    for t in ("gather", "layer_norm", "softmax", "matmul", "linear", "gelu", "transpose"):
        assert types[t] >= 1, t
    assert types["layer_norm"] == 5  # 2 per layer + final
    assert g.inputs[0].dtype == "int32" and g.inputs[0].shape == (1, 128)
    wide = [
        o
        for o in g.ops
        if o.op_type == "linear"
        and o.outputs[0].shape
        and (o.outputs[0].shape[-1] or 0) > ANE_AXIS_LIMIT
    ]
    assert len(wide) == 1 and wide[0].attrs["weight_shape"] == (32000, 256)
    scores = [o for o in g.ops if o.op_type == "matmul" and o.attrs.get("transpose_y")]
    assert len(scores) == 2


def test_lstm(graphs: dict[str, Graph]) -> None:
    types = compute_types(graphs["lstm"])
    assert types["lstm"] == 1 and types["linear"] == 2


def test_fp32(graphs: dict[str, Graph]) -> None:
    g = graphs["fp32"]
    types = compute_types(g)
    assert types["conv"] == 1 and types["linear"] == 1 and types["cast"] == 0
    assert all(t.dtype == "fp32" for o in g.ops if not o.is_const for t in o.outputs)


def test_flexible(graphs: dict[str, Graph]) -> None:
    g = graphs["flexible"]
    (flex,) = g.flexible_inputs
    assert flex.kind == "range" and flex.ranges[2:] == ((32, 512), (32, 512))
    conv = next(o for o in g.ops if o.op_type == "conv")
    assert conv.outputs[0].shape == (1, 16, None, None)


def test_control_flow(graphs: dict[str, Graph]) -> None:
    g = graphs["control_flow"]
    types = compute_types(g)
    assert types["cond"] == 1 and types["while_loop"] == 1
    assert any(o.block and o.parent is not None for o in g.ops)


def test_nn_legacy(graphs: dict[str, Graph]) -> None:
    g = graphs["nn_legacy"]
    assert examples.example_path("nn_legacy").suffix == ".mlmodel"
    types = compute_types(g)
    assert {"convolution", "pooling", "addBroadcastable", "innerProduct"} <= set(types)
    # A valid ND-mode network: convolution reads rank >= 4 (Core ML's layer validator), and
    # the flattened features match the inner product's declared input width.
    assert g.function_inputs[("main", "image")].shape == (1, 3, 32, 32)
    assert [o.outputs[0].shape for o in g.ops] == [
        (1, 8, 32, 32),
        (1, 8, 32, 32),
        (1, 8, 16, 16),
        (1, 8, 16, 16),
        (1, 2048),
        (1, 10),
        (1, 10),
    ]
    fc = next(o for o in g.ops if o.op_type == "innerProduct")
    assert fc.attrs["inputChannels"] == 2048


def test_build_example_program() -> None:
    prog = examples.build_example_program("lstm")
    assert isinstance(prog, Program)
    assert any(op.op_type == "lstm" for op in prog.functions["main"].operations)
    with pytest.raises(ModelLoadError, match="not a MIL program"):
        examples.build_example_program("nn_legacy")


def test_unknown_example() -> None:
    with pytest.raises(ModelLoadError) as info:
        examples.example_path("resnet")
    assert str(info.value).startswith("example:resnet: unknown example; choose one of ")
    assert "mobilenet" in str(info.value)


def test_cache_is_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    first = examples.example_path("fp32")
    mtime = first.stat().st_mtime_ns

    def no_rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("example rebuilt although it is cached")

    monkeypatch.setattr(examples, "build_example_model", no_rebuild)
    assert examples.example_path("fp32") == first
    assert load_model("example:fp32").name == "fp32"
    assert first.stat().st_mtime_ns == mtime


def test_cache_env_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path / "cache"))
    assert examples.cache_root() == tmp_path / "cache"
    path = examples.example_path("fp32")
    assert path == tmp_path / "cache" / "examples" / "fp32-1.mlpackage"
    assert (path / "Manifest.json").is_file()
    # Nothing but the finished model is left behind (no temporary build folders).
    assert os.listdir(path.parent) == ["fp32-1.mlpackage"]


def test_damaged_cache_entry_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path))
    damaged = tmp_path / "examples" / "fp32-1.mlpackage"
    damaged.mkdir(parents=True)
    (damaged / "junk").write_text("half a model")
    path = examples.example_path("fp32")
    assert path == damaged and (path / "Manifest.json").is_file()
    assert not (path / "junk").exists()
    assert os.listdir(path.parent) == ["fp32-1.mlpackage"]


def test_concurrent_builder_wins_race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If another process renames its copy into place while we build, we use theirs."""
    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path))
    final = tmp_path / "examples" / "fp32-1.mlpackage"
    real_build = examples.build_example_model

    def build_and_lose(name: str, package_dir: object = None) -> object:
        model = real_build(name, package_dir=package_dir)  # type: ignore[arg-type]
        shutil.copytree(str(package_dir), final)  # the other process finishes first
        (final / "theirs").write_text("")
        return model

    monkeypatch.setattr(examples, "build_example_model", build_and_lose)
    path = examples.example_path("fp32")
    assert path == final and (final / "theirs").exists()
    assert os.listdir(final.parent) == ["fp32-1.mlpackage"]
    assert load_model(path).format == "mlprogram"


def test_cache_folder_unwritable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(examples.CACHE_ENV, str(blocker))  # a file where a folder must go
    with pytest.raises(ModelLoadError, match="example:fp32: cannot create cache folder"):
        examples.example_path("fp32")
