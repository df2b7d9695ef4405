"""Small example models to try ane_notebook on, built locally with coremltools (no downloads).

Each example is a MIL program (or, for ``nn_legacy``, a NeuralNetwork spec) with small random
weights drawn from a fixed seed, built on first use and cached under
``<cache root>/examples/<name>-<version>.mlpackage`` (``.mlmodel`` for NeuralNetwork examples).
The cache root is ``platformdirs.user_cache_dir("ane_notebook")``, or ``$ANE_NOTEBOOK_CACHE`` when
set. One thread or process at a time builds a model, in a temporary folder inside the cache
folder, and renames it into place (`cache.cached_build`); an entry left damaged is rebuilt.
Bump an example's ``version`` whenever its builder changes so that stale caches are not reused.

The examples are chosen to show different placements: ``mobilenet`` is fully Neural-Engine
friendly; ``transformer`` mixes ANE-friendly layers with a vocabulary head wider than the ANE's
16384-per-axis limit; ``lstm`` and ``control_flow`` contain ops the ANE does not run; ``fp32``
is typed fp32 throughout (which bars the ANE); ``flexible`` has a range-shaped input;
``nn_legacy`` is an old-style NeuralNetwork model.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelLoadError
from .cache import CACHE_ENV, cache_root, cached_build

if TYPE_CHECKING:
    import coremltools as ct
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import Program, types
    from coremltools.models import MLModel

    from .proto import Model_pb2

__all__ = [
    "CACHE_ENV",
    "EXAMPLES",
    "Example",
    "build_example_model",
    "build_example_program",
    "cache_root",
    "example_path",
    "list_examples",
]

_HEAVY_LOCK = threading.Lock()
_TARGET: Any = None  # ct.target.iOS17, set by _import_builders


def _import_builders() -> None:
    """Import coremltools' MIL builder and numpy into this module, for the builders below.

    Only building an example needs them: listing the examples and finding a cached one must
    not pay coremltools' import (1-3 s; `ane-notebook examples`, GitHub issue 14).
    """
    with _HEAVY_LOCK:
        if _TARGET is not None:
            return
        import coremltools as ct
        import numpy as np
        from coremltools.converters.mil import Builder as mb
        from coremltools.converters.mil.mil import Program, types
        from coremltools.models import MLModel

        globals().update(ct=ct, np=np, mb=mb, Program=Program, types=types, MLModel=MLModel)
        # Every ML program example targets iOS17 / macOS14: the oldest OS with
        # MLComputePlan-era placement, and an opset every op used below exists in.
        globals()["_TARGET"] = ct.target.iOS17


@dataclass(frozen=True)
class Example:
    """One example model: how to build it and what it is for."""

    name: str
    description: str
    version: int
    # Exactly one of `program` (an ML program example) and `nn_spec` (a NeuralNetwork one).
    program: Callable[[], Program] | None = None
    nn_spec: Callable[[], Model_pb2.Model] | None = None
    # Extra ct.convert keyword arguments (inputs with flexible shapes, compute precision...),
    # produced lazily because they hold coremltools objects.
    convert_options: Callable[[], dict[str, Any]] = field(default=lambda: {})

    @property
    def kind(self) -> str:
        return "mlprogram" if self.program is not None else "neuralnetwork"

    @property
    def suffix(self) -> str:
        return ".mlpackage" if self.program is not None else ".mlmodel"

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.version}{self.suffix}"


def _rng(name: str) -> np.random.Generator:
    # One fixed seed per example, so rebuilding gives the same weights on every machine.
    return np.random.default_rng(zlib.crc32(name.encode()))


def _w(rng: np.random.Generator, *shape: int, scale: float = 0.05) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Builders


def _mobilenet() -> Program:
    rng = _rng("mobilenet")

    def conv(x: Any, cin: int, cout: int, k: int, stride: int, groups: int, name: str) -> Any:
        return mb.conv(
            x=x,
            weight=_w(rng, cout, cin // groups, k, k),
            bias=_w(rng, cout),
            strides=[stride, stride],
            pad_type="same",
            dilations=[1, 1],
            groups=groups,
            name=name,
        )

    # MobileNetV1 (Howard et al. 2017, table 1) at 224x224 with its standard widths: large
    # enough that Core ML would use the Neural Engine. fp16 input and output, so no fp32<->fp16
    # boundary casts are needed (those run off the ANE on M1: docs/evidence.md#dtype.fp32_cast).
    blocks = [
        (32, 64, 1),
        (64, 128, 2),
        (128, 128, 1),
        (128, 256, 2),
        (256, 256, 1),
        (256, 512, 2),
        *[(512, 512, 1)] * 5,
        (512, 1024, 2),
        (1024, 1024, 1),
    ]

    @mb.program(
        input_specs=[mb.TensorSpec(shape=(1, 3, 224, 224), dtype=types.fp16)], opset_version=_TARGET
    )
    def prog(image: Any) -> Any:
        x = mb.relu6(x=conv(image, 3, 32, 3, 2, 1, "stem_conv"), name="stem_relu6")  # 112x112
        for i, (cin, cout, stride) in enumerate(blocks, start=1):
            x = mb.relu6(x=conv(x, cin, cin, 3, stride, cin, f"dw{i}"), name=f"dw{i}_relu6")
            x = mb.relu6(x=conv(x, cin, cout, 1, 1, 1, f"pw{i}"), name=f"pw{i}_relu6")
        x = mb.avg_pool(
            x=x, kernel_sizes=[7, 7], strides=[1, 1], pad_type="valid", name="global_pool"
        )  # 1x1
        x = mb.reshape(x=x, shape=[1, 1024], name="flatten")
        x = mb.linear(x=x, weight=_w(rng, 1000, 1024), bias=_w(rng, 1000), name="classifier")
        return mb.softmax(x=x, axis=-1, name="probs")

    return prog


# Transformer sizes: a small BERT/GPT-style encoder, large enough that Core ML would find the
# Neural Engine worth a dispatch (a ~50K-parameter transformer stays on the CPU: vx-lang/Vx#436,
# docs/evidence.md#costs.LAUNCH_MS), still built in about a second; the 32000-token vocabulary
# (Llama-sized) makes the output head wider than the ANE's 16384-per-axis limit.
_SEQ, _HIDDEN, _HEADS, _FFN, _VOCAB, _LAYERS = 128, 256, 4, 1024, 32000, 2


def _transformer() -> Program:
    rng = _rng("transformer")
    head_dim = _HIDDEN // _HEADS
    causal = np.triu(np.full((_SEQ, _SEQ), -1e4, dtype=np.float32), k=1)[None, None]

    def layer_norm(x: Any, name: str) -> Any:
        return mb.layer_norm(
            x=x,
            axes=[-1],
            gamma=np.ones(_HIDDEN, np.float32),
            beta=np.zeros(_HIDDEN, np.float32),
            epsilon=1e-5,
            name=name,
        )

    def heads(x: Any, name: str) -> Any:
        x = mb.reshape(x=x, shape=[1, _SEQ, _HEADS, head_dim], name=f"{name}_split")
        return mb.transpose(x=x, perm=[0, 2, 1, 3], name=f"{name}_heads")

    @mb.program(
        input_specs=[mb.TensorSpec(shape=(1, _SEQ), dtype=types.int32)], opset_version=_TARGET
    )
    def prog(input_ids: Any) -> Any:
        # One table for the token embedding and the (tied) output head, as GPT-2 does: it keeps
        # the weight file at ~6 MB.
        table = mb.const(val=_w(rng, _VOCAB, _HIDDEN, scale=0.02), name="token_embedding")
        x = mb.gather(x=table, indices=input_ids, axis=0, name="embed")
        x = mb.add(x=x, y=_w(rng, 1, _SEQ, _HIDDEN, scale=0.02), name="add_position")
        for i in range(_LAYERS):
            p = f"layer{i}"
            h = layer_norm(x, f"{p}_ln1")
            q = heads(
                mb.linear(
                    x=h, weight=_w(rng, _HIDDEN, _HIDDEN), bias=_w(rng, _HIDDEN), name=f"{p}_q"
                ),
                f"{p}_q",
            )
            k = heads(
                mb.linear(
                    x=h, weight=_w(rng, _HIDDEN, _HIDDEN), bias=_w(rng, _HIDDEN), name=f"{p}_k"
                ),
                f"{p}_k",
            )
            v = heads(
                mb.linear(
                    x=h, weight=_w(rng, _HIDDEN, _HIDDEN), bias=_w(rng, _HIDDEN), name=f"{p}_v"
                ),
                f"{p}_v",
            )
            s = mb.matmul(x=q, y=k, transpose_x=False, transpose_y=True, name=f"{p}_scores")
            s = mb.mul(x=s, y=np.float32(1.0 / np.sqrt(head_dim)), name=f"{p}_scale")
            s = mb.add(x=s, y=causal, name=f"{p}_mask")
            a = mb.softmax(x=s, axis=-1, name=f"{p}_attn")
            c = mb.matmul(x=a, y=v, transpose_x=False, transpose_y=False, name=f"{p}_context")
            c = mb.transpose(x=c, perm=[0, 2, 1, 3], name=f"{p}_merge")
            c = mb.reshape(x=c, shape=[1, _SEQ, _HIDDEN], name=f"{p}_merge_heads")
            o = mb.linear(
                x=c, weight=_w(rng, _HIDDEN, _HIDDEN), bias=_w(rng, _HIDDEN), name=f"{p}_out"
            )
            x = mb.add(x=x, y=o, name=f"{p}_residual1")
            h = layer_norm(x, f"{p}_ln2")
            h = mb.linear(
                x=h, weight=_w(rng, _FFN, _HIDDEN), bias=_w(rng, _FFN), name=f"{p}_mlp_up"
            )
            h = mb.gelu(x=h, mode="TANH_APPROXIMATION", name=f"{p}_gelu")
            h = mb.linear(
                x=h, weight=_w(rng, _HIDDEN, _FFN), bias=_w(rng, _HIDDEN), name=f"{p}_mlp_down"
            )
            x = mb.add(x=x, y=h, name=f"{p}_residual2")
        x = layer_norm(x, "final_ln")
        return mb.linear(x=x, weight=table, name="lm_head")  # (1, 64, 50257)

    return prog


def _lstm() -> Program:
    rng = _rng("lstm")
    seq, feat, hidden, classes = 16, 32, 64, 10

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, seq, feat))], opset_version=_TARGET)
    def prog(features: Any) -> Any:
        x = mb.linear(
            x=features, weight=_w(rng, hidden, feat), bias=_w(rng, hidden), name="project"
        )
        x = mb.transpose(x=x, perm=[1, 0, 2], name="to_time_major")  # (seq, batch, hidden)
        zeros = np.zeros((1, hidden), np.float32)
        y, _, _ = mb.lstm(
            x=x,
            initial_h=zeros,
            initial_c=zeros,
            weight_ih=_w(rng, 4 * hidden, hidden),
            weight_hh=_w(rng, 4 * hidden, hidden),
            bias=_w(rng, 4 * hidden),
            direction="forward",
            output_sequence=True,
            recurrent_activation="sigmoid",
            cell_activation="tanh",
            activation="tanh",
            name="lstm",
        )
        y = mb.transpose(x=y, perm=[1, 0, 2], name="to_batch_major")
        return mb.linear(
            x=y, weight=_w(rng, classes, hidden), bias=_w(rng, classes), name="classifier"
        )

    return prog


def _fp32() -> Program:
    rng = _rng("fp32")

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, 32, 32))], opset_version=_TARGET)
    def prog(image: Any) -> Any:
        x = mb.conv(
            x=image, weight=_w(rng, 8, 3, 3, 3), bias=_w(rng, 8), pad_type="same", name="conv"
        )
        x = mb.relu(x=x, name="relu")
        x = mb.reduce_mean(x=x, axes=[2, 3], keep_dims=False, name="global_pool")
        return mb.linear(x=x, weight=_w(rng, 10, 8), bias=_w(rng, 10), name="classifier")

    return prog


def _flexible() -> Program:
    rng = _rng("flexible")
    from coremltools.converters.mil.mil import get_new_symbol

    height, width = get_new_symbol(), get_new_symbol()

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, height, width))], opset_version=_TARGET)
    def prog(image: Any) -> Any:
        x = mb.conv(x=image, weight=_w(rng, 16, 3, 3, 3), pad_type="same", name="conv1")
        x = mb.relu(x=x, name="relu1")
        x = mb.conv(x=x, weight=_w(rng, 8, 16, 3, 3), pad_type="same", name="conv2")
        return mb.sigmoid(x=x, name="mask")

    return prog


def _flexible_options() -> dict[str, Any]:
    size = ct.RangeDim(lower_bound=32, upper_bound=512, default=128)
    return {"inputs": [ct.TensorType(name="image", shape=(1, 3, size, size))]}


def _control_flow() -> Program:
    @mb.program(
        input_specs=[mb.TensorSpec(shape=(1, 8)), mb.TensorSpec(shape=(1,), dtype=types.int32)],
        opset_version=_TARGET,
    )
    def prog(x: Any, steps: Any) -> Any:
        total = mb.reduce_sum(x=x, axes=[1], keep_dims=False, name="total")
        positive = mb.squeeze(x=mb.greater(x=total, y=0.0, name="is_positive"), name="pred")
        y = mb.cond(
            pred=positive,
            _true_fn=lambda: mb.relu(x=x, name="branch_relu"),
            _false_fn=lambda: mb.mul(x=x, y=-1.0, name="branch_negate"),
            name="choose",
        )
        n = mb.squeeze(x=steps, name="n_steps")

        def keep_going(i: Any, v: Any) -> Any:
            return mb.less(x=i, y=n, name="keep_going")

        def body(i: Any, v: Any) -> Any:
            return mb.add(x=i, y=1, name="next_i"), mb.mul(x=v, y=0.5, name="halve")

        _, out = mb.while_loop(
            _cond=keep_going, _body=body, loop_vars=(np.int32(0), y), name="repeat"
        )
        return mb.tanh(x=out, name="squash")

    return prog


def _nn_legacy() -> Model_pb2.Model:
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    rng = _rng("nn_legacy")
    builder = NeuralNetworkBuilder(
        # Rank 4: with the exact (ND) input mapping, Core ML's validator requires convolution
        # inputs of rank 4 or more (NeuralNetworkLayerValidator.cpp).
        [("image", datatypes.Array(1, 3, 32, 32))],
        [("probs", None)],
        disable_rank5_shape_mapping=True,
    )
    builder.add_convolution(
        "conv",
        kernel_channels=3,
        output_channels=8,
        height=3,
        width=3,
        stride_height=1,
        stride_width=1,
        border_mode="same",
        groups=1,
        W=_w(rng, 3, 3, 3, 8),
        b=_w(rng, 8),
        has_bias=True,
        input_name="image",
        output_name="conv_out",
    )
    builder.add_activation("relu", "RELU", "conv_out", "relu_out")
    builder.add_pooling(
        "pool",
        height=2,
        width=2,
        stride_height=2,
        stride_width=2,
        layer_type="MAX",
        padding_type="VALID",
        input_name="relu_out",
        output_name="pool_out",
    )
    builder.add_add_broadcastable("skip_add", ["pool_out", "pool_out"], "add_out")
    builder.add_flatten_to_2d("flatten", "add_out", "flat")
    builder.add_inner_product(
        "fc",
        W=_w(rng, 10, 8 * 16 * 16),
        b=_w(rng, 10),
        input_channels=8 * 16 * 16,
        output_channels=10,
        has_bias=True,
        input_name="flat",
        output_name="logits",
    )
    builder.add_softmax_nd("softmax", "logits", "probs", axis=-1)
    spec: Model_pb2.Model = builder.spec
    spec.description.metadata.shortDescription = "ane_notebook example: legacy NeuralNetwork"
    return spec


EXAMPLES: dict[str, Example] = {
    ex.name: ex
    for ex in (
        Example(
            "mobilenet",
            "MobileNetV1, 1x3x224x224 fp16 in and out: fully Neural-Engine friendly",
            2,
            program=_mobilenet,
        ),
        Example(
            "transformer",
            "2-layer GPT-style encoder (hidden 256), 128 int32 tokens, "
            "32000-wide vocab head (beyond the ANE's 16384 limit)",
            2,
            program=_transformer,
        ),
        Example("lstm", "linear -> LSTM -> linear over a 16-step sequence", 1, program=_lstm),
        Example(
            "fp32",
            "small conv/linear classifier typed fp32 (the ANE runs fp16 only)",
            1,
            program=_fp32,
            convert_options=lambda: {"compute_precision": ct.precision.FLOAT32},
        ),
        Example(
            "flexible",
            "fully convolutional model with a 32..512 range-shaped input",
            1,
            program=_flexible,
            convert_options=_flexible_options,
        ),
        Example(
            "control_flow",
            "cond and while_loop around small elementwise ops",
            1,
            program=_control_flow,
        ),
        Example(
            "nn_legacy",
            "old-style NeuralNetwork .mlmodel (conv, pooling, addBroadcastable, innerProduct)",
            2,
            nn_spec=_nn_legacy,
        ),
    )
}


# --------------------------------------------------------------------------------------------
# API


def list_examples() -> list[tuple[str, str]]:
    """(name, one-line description) of every example, in a stable order."""
    return [(ex.name, ex.description) for ex in EXAMPLES.values()]


def _get(name: str) -> Example:
    try:
        return EXAMPLES[name]
    except KeyError:
        raise ModelLoadError(
            f"example:{name}", f"unknown example; choose one of {', '.join(EXAMPLES)}"
        ) from None


def build_example_program(name: str) -> Program:
    """A fresh MIL Program of example `name` (not converted, not cached)."""
    ex = _get(name)
    if ex.program is None:
        raise ModelLoadError(f"example:{name}", "is a NeuralNetwork model, not a MIL program")
    _import_builders()
    from .convert import COREMLTOOLS_LOCK

    with COREMLTOOLS_LOCK:  # the MIL builder's state is global: see convert.py
        return ex.program()


def build_example_model(name: str, package_dir: str | os.PathLike[str] | None = None) -> MLModel:
    """Convert example `name` to an MLModel without loading it into Core ML.

    ML program examples are written to `package_dir` when given (else coremltools' own
    temporary package); nothing is cached. Use `example_path` for the cached model.
    """
    ex = _get(name)
    _import_builders()
    from .convert import COREMLTOOLS_LOCK, convert_quietly

    with COREMLTOOLS_LOCK:  # the MIL builder and converter keep global state: see convert.py
        if ex.program is not None:
            options: dict[str, Any] = {"package_dir": os.fspath(package_dir)} if package_dir else {}
            return convert_quietly(
                ex.program(),
                convert_to="mlprogram",
                minimum_deployment_target=_TARGET,
                skip_model_load=True,
                **options,
                **ex.convert_options(),
            )
        assert ex.nn_spec is not None
        return MLModel(ex.nn_spec(), skip_model_load=True)


def _complete(path: Path) -> bool:
    """Whether a cached example is whole: its spec parses and, for a package, every item its
    Manifest.json lists exists. What a crash or a full disk leaves fails this and is rebuilt."""
    from .package import read_spec  # local: listing the examples needs no protobuf

    try:
        read_spec(path)
    except ModelLoadError:
        return False
    if path.suffix != ".mlpackage":
        return True
    try:
        entries = json.loads((path / "Manifest.json").read_bytes())["itemInfoEntries"]
        return all((path / "Data" / e["path"]).exists() for e in entries.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def example_path(name: str) -> Path:
    """Path of the cached model file for example `name`, building it first if needed.

    Safe from several threads and processes at once: one of them builds, the others wait and
    use its model (`cache.cached_build`). Raises a one-line `ModelLoadError` when the cache
    cannot be written.
    """
    ex = _get(name)
    label = f"example:{name}"

    def build(path: Path) -> None:
        try:
            if ex.program is not None:
                build_example_model(name, package_dir=path)
            else:
                build_example_model(name).save(os.fspath(path))
        except RuntimeError as e:
            # coremltools' package writer (C++) reports file system errors this way.
            if "filesystem error" in str(e):
                raise ModelLoadError(
                    label, f"cannot write to cache folder {path.parent.parent}: {e}"
                ) from e
            raise ModelLoadError(label, f"coremltools could not build the example: {e}") from e
        except (ValueError, TypeError, KeyError, NotImplementedError, AssertionError) as e:
            raise ModelLoadError(label, f"coremltools could not build the example: {e}") from e

    return cached_build("examples", ex.file_name, label, build, _complete)
