"""Synthetic LLM-shaped ML programs for the scaling benchmarks (about 1k, 10k and 50k ops).

Each model is a deep stack of Llama-style decoder layers built with the MIL builder, with tiny
weights (hidden 64) so that even the 50k-op package stays a few tens of MB. What matters for the
benchmark is the *op count and mix*, which looks like a converted Llama export:

* RMSNorm written out (mul, reduce_mean, add, rsqrt, mul, mul), q/k/v/o projections, rotary
  embeddings (slices, negation, concat, mul/add with constant cos/sin tables), attention
  (matmul, scale, causal mask, softmax, matmul), a SwiGLU MLP and two residual adds;
* softmax kept in fp32 (a common accuracy choice, ``FP16ComputePrecision(op_selector=...)``),
  so every layer has a small fp32 island: fp16 -> fp32 casts around it, which keeps it off the
  Neural Engine. That gives many segments and crossings, the worst case for the diagram;
* op names follow coremltools' torch frontend: ``model_layers_<i>_self_attn_q_proj`` (plus the
  ``_cast_fp16`` suffixes the fp16 pass adds), so layer grouping can be exercised.

Models are converted with coremltools' default pass pipeline (like a real conversion; about
4 minutes for 50k ops on 2 cores) once and cached under ``<cache root>/benchmarks/``, where the
cache root is ``$ANE_NOTEBOOK_CACHE`` or the user cache folder (as for the examples: see
`ane_notebook.model.examples.cache_root`). A model is built in a temporary folder and renamed
into place. Bump `VERSION` when the builder changes.

    python benchmarks/models.py            # build (or find) every size and print the paths
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

VERSION = 1
# Decoder layers per size. One layer is ~100 graph ops (51 compute ops + their consts; the
# converter shares identical small consts across layers); the embedding and head add ~30.
# `python benchmarks/models.py` prints the counts.
SIZES: dict[str, int] = {"1k": 10, "10k": 100, "50k": 500}

_SEQ, _HIDDEN, _HEADS, _FFN, _VOCAB = 64, 64, 4, 128, 1000


def _program(n_layers: int) -> Any:
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types

    rng = np.random.default_rng(n_layers)
    head_dim = _HIDDEN // _HEADS
    half = head_dim // 2

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    causal = np.triu(np.full((_SEQ, _SEQ), -1e4, dtype=np.float32), k=1)[None, None]
    pos = np.arange(_SEQ, dtype=np.float32)[:, None]
    inv = 1.0 / (10000 ** (np.arange(half, dtype=np.float32) / half))
    angles = np.concatenate([pos * inv, pos * inv], axis=-1)[None, None]  # (1, 1, S, D)
    cos_t, sin_t = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)

    def rms_norm(x: Any, name: str) -> Any:
        sq = mb.mul(x=x, y=x, name=f"{name}_pow")
        mean = mb.reduce_mean(x=sq, axes=[-1], keep_dims=True, name=f"{name}_mean")
        r = mb.rsqrt(x=mb.add(x=mean, y=1e-6, name=f"{name}_add"), name=f"{name}_rsqrt")
        return mb.mul(
            x=mb.mul(x=x, y=r, name=f"{name}_mul"),
            y=np.ones(_HIDDEN, np.float32),
            name=f"{name}_weight",
        )

    def heads(x: Any, name: str) -> Any:
        x = mb.reshape(x=x, shape=[1, _SEQ, _HEADS, head_dim], name=f"{name}_view")
        return mb.transpose(x=x, perm=[0, 2, 1, 3], name=f"{name}_transpose")

    def rope(x: Any, name: str) -> Any:
        x1 = mb.slice_by_index(
            x=x, begin=[0, 0, 0, 0], end=[1, _HEADS, _SEQ, half], name=f"{name}_x1"
        )
        x2 = mb.slice_by_index(
            x=x, begin=[0, 0, 0, half], end=[1, _HEADS, _SEQ, head_dim], name=f"{name}_x2"
        )
        rot = mb.concat(
            values=[mb.mul(x=x2, y=-1.0, name=f"{name}_neg"), x1],
            axis=-1,
            name=f"{name}_rotate_half",
        )
        return mb.add(
            x=mb.mul(x=x, y=cos_t, name=f"{name}_cos"),
            y=mb.mul(x=rot, y=sin_t, name=f"{name}_sin"),
            name=f"{name}_embed",
        )

    def linear(x: Any, cout: int, cin: int, name: str) -> Any:
        return mb.linear(x=x, weight=w(cout, cin), name=name)

    @mb.program(
        input_specs=[mb.TensorSpec(shape=(1, _SEQ), dtype=types.int32)],
        opset_version=ct.target.iOS17,
    )
    def prog(input_ids: Any) -> Any:
        x = mb.gather(x=w(_VOCAB, _HIDDEN), indices=input_ids, axis=0, name="model_embed_tokens")
        for i in range(n_layers):
            p = f"model_layers_{i}"
            h = rms_norm(x, f"{p}_input_layernorm")
            q = rope(
                heads(linear(h, _HIDDEN, _HIDDEN, f"{p}_self_attn_q_proj"), f"{p}_self_attn_q"),
                f"{p}_self_attn_q_rope",
            )
            k = rope(
                heads(linear(h, _HIDDEN, _HIDDEN, f"{p}_self_attn_k_proj"), f"{p}_self_attn_k"),
                f"{p}_self_attn_k_rope",
            )
            v = heads(linear(h, _HIDDEN, _HIDDEN, f"{p}_self_attn_v_proj"), f"{p}_self_attn_v")
            s = mb.matmul(x=q, y=k, transpose_y=True, name=f"{p}_self_attn_scores")
            s = mb.mul(x=s, y=np.float32(1.0 / np.sqrt(head_dim)), name=f"{p}_self_attn_scale")
            s = mb.add(x=s, y=causal, name=f"{p}_self_attn_mask")
            a = mb.softmax(x=s, axis=-1, name=f"{p}_self_attn_softmax")  # kept in fp32
            c = mb.matmul(x=a, y=v, name=f"{p}_self_attn_context")
            c = mb.transpose(x=c, perm=[0, 2, 1, 3], name=f"{p}_self_attn_merge")
            c = mb.reshape(x=c, shape=[1, _SEQ, _HIDDEN], name=f"{p}_self_attn_merge_heads")
            x = mb.add(
                x=x, y=linear(c, _HIDDEN, _HIDDEN, f"{p}_self_attn_o_proj"), name=f"{p}_residual1"
            )
            h = rms_norm(x, f"{p}_post_attention_layernorm")
            gate = mb.silu(x=linear(h, _FFN, _HIDDEN, f"{p}_mlp_gate_proj"), name=f"{p}_mlp_act")
            up = linear(h, _FFN, _HIDDEN, f"{p}_mlp_up_proj")
            down = linear(
                mb.mul(x=gate, y=up, name=f"{p}_mlp_mul"), _HIDDEN, _FFN, f"{p}_mlp_down_proj"
            )
            x = mb.add(x=x, y=down, name=f"{p}_residual2")
        x = rms_norm(x, "model_norm")
        return linear(x, _VOCAB, _HIDDEN, "lm_head")

    return prog


def cache_dir() -> Path:
    from ane_notebook.model.examples import cache_root

    return cache_root() / "benchmarks"


EXAMPLES = ("mobilenet", "transformer", "lstm", "fp32", "flexible", "control_flow", "nn_legacy")

# Sizes made from another size's package, its main function repeated N times (see `_repeated`):
# converting 2,000 layers would take most of an hour on 2 cores, copying takes seconds.
DERIVED: dict[str, tuple[str, int]] = {"200k": ("50k", 4)}


def model_file(label: str) -> Path:
    """The model file (.mlpackage / .mlmodel) of an example name or a synthetic size."""
    if label in EXAMPLES:
        from ane_notebook.model.examples import example_path

        return example_path(label)
    return model_path(label)


def model_path(size: str) -> Path:
    """The cached package of synthetic model `size` ("1k", "10k", "50k", "200k"), built if
    needed."""
    if size in DERIVED:
        return _repeated(size, *DERIVED[size])
    if size not in SIZES:
        raise SystemExit(f"unknown size {size!r}; choose from {', '.join([*SIZES, *DERIVED])}")
    folder = cache_dir()
    final = folder / f"llm_{size}-{SIZES[size]}L-v{VERSION}.mlpackage"
    if (final / "Manifest.json").is_file():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".llm_{size}-", dir=folder))
    try:
        import coremltools as ct

        from ane_notebook.model.convert import convert_quietly

        t0 = time.perf_counter()
        print(f"building llm_{size} ({SIZES[size]} layers) into {final} ...", file=sys.stderr)
        built = tmp / final.name
        convert_quietly(
            _program(SIZES[size]),
            convert_to="mlprogram",
            minimum_deployment_target=ct.target.iOS17,
            skip_model_load=True,
            # softmax stays fp32, everything else fp16 (see the module docstring)
            compute_precision=ct.transform.FP16ComputePrecision(
                op_selector=lambda op: op.op_type != "softmax"
            ),
            package_dir=os.fspath(built),
        )
        os.rename(built, final)
        print(f"  built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _repeated(size: str, base: str, copies: int) -> Path:
    """`base`'s package with its main block's ops repeated `copies` times, each copy's tensor
    names suffixed ``_c<k>`` (all copies read the same model input; the weights file is shared,
    so every copy's consts point at the same blobs). The original copy still feeds the output."""
    folder = cache_dir()
    final = folder / f"llm_{size}-{base}x{copies}-v{VERSION}.mlpackage"
    if (final / "Manifest.json").is_file():
        return final
    src = model_path(base)
    tmp = Path(tempfile.mkdtemp(prefix=f".llm_{size}-", dir=folder))
    try:
        import json

        from coremltools.proto import MIL_pb2, Model_pb2

        built = tmp / final.name
        shutil.copytree(src, built)
        manifest = json.loads((built / "Manifest.json").read_text())
        root = manifest["itemInfoEntries"][manifest["rootModelIdentifier"]]["path"]
        spec_path = built / "Data" / root
        spec = Model_pb2.Model()
        spec.ParseFromString(spec_path.read_bytes())
        fn = spec.mlProgram.functions["main"]
        block = fn.block_specializations[fn.opset]
        inputs = {i.name for i in fn.inputs}
        original = list(block.operations)

        def rename(n: str, k: int) -> str:
            return n if n in inputs else f"{n}_c{k}"

        for k in range(1, copies):
            for op in original:
                new = block.operations.add()
                new.CopyFrom(op)
                for o in new.outputs:
                    o.name = rename(o.name, k)
                for arg in new.inputs.values():
                    for b in arg.arguments:
                        if b.WhichOneof("binding") == "name":
                            b.name = rename(b.name, k)
                if "name" in new.attributes:
                    v = new.attributes["name"].immediateValue.tensor.strings.values
                    if len(v) == 1:
                        v[0] = rename(v[0], k)
        assert isinstance(block, MIL_pb2.Block)
        spec_path.write_bytes(spec.SerializeToString())
        os.rename(built, final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    from ane_notebook.model.load import load_model

    for size in SIZES:
        path = model_path(size)
        g = load_model(path)
        n_compute = sum(not o.is_const for o in g.ops)
        mb_size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
        print(f"{size:>4}: {len(g.ops):6} ops ({n_compute} compute), {mb_size:.1f} MB  {path}")


if __name__ == "__main__":
    main()
