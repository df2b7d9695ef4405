"""Public architectures rebuilt with the MIL builder, for the latency cases (benchmarks/latency.py).

Placement and timing need no trained weights, so every weight here is random (seeded): only the
shapes, op types and dtypes matter. Each builder follows the published definition of the
architecture at inference time (batch norms folded into the convs before them, as the converter
and the published reparameterised models do; batch norms after a concat kept, as they cannot be
folded); the docstring names the definition followed. Op names follow the module paths of the
PyTorch reference where there is one.

    build("resnet50")                     # a MIL Program (not converted)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Program = Any  # coremltools.converters.mil.Program (imported lazily: coremltools is slow to load)


class _Weights:
    """Seeded random fp32 weights: fast to make, never equal (so no pass merges two ops)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, *shape: int, scale: float = 0.02) -> np.ndarray:
        return (self.rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)


def _mb() -> Any:
    from coremltools.converters.mil import Builder as mb

    return mb


# --------------------------------------------------------------------------------------------
# Convolutional networks (NCHW, fp32 image in: the converter adds the fp16 casts)


class _Conv:
    def __init__(self, w: _Weights) -> None:
        self.w = w
        self.mb = _mb()

    def conv(
        self,
        x: Any,
        cin: int,
        cout: int,
        k: int,
        stride: int = 1,
        groups: int = 1,
        name: str = "conv",
        bias: bool = True,
    ) -> Any:
        mb = self.mb
        pad = k // 2
        return mb.conv(
            x=x,
            weight=self.w(cout, cin // groups, k, k),
            bias=self.w(cout) if bias else None,
            strides=[stride, stride],
            pad_type="custom",
            pad=[pad, pad, pad, pad],
            groups=groups,
            name=name,
        )

    def relu(self, x: Any, name: str) -> Any:
        return self.mb.relu(x=x, name=name)

    def relu6(self, x: Any, name: str) -> Any:
        return self.mb.clip(x=x, alpha=0.0, beta=6.0, name=name)

    def hardswish(self, x: Any, name: str) -> Any:
        # as coremltools' torch frontend writes it (ops.py `hardswish`): w = thresholded_relu(x,
        # -3), then w * sigmoid_hard(w)
        mb = self.mb
        w = mb.thresholded_relu(x=x, alpha=-3.0, name=f"{name}_thr")
        return mb.mul(
            x=w, y=mb.sigmoid_hard(x=w, alpha=1.0 / 6, beta=0.5, name=f"{name}_hsig"), name=name
        )

    def gap(self, x: Any, name: str) -> Any:
        return self.mb.reduce_mean(x=x, axes=[2, 3], keep_dims=True, name=name)

    def head(self, x: Any, cin: int, classes: int, name: str) -> Any:
        mb = self.mb
        x = mb.reshape(x=x, shape=[1, cin], name=f"{name}_flatten")
        return mb.linear(x=x, weight=self.w(classes, cin), bias=self.w(classes), name=name)

    def se(self, x: Any, c: int, squeeze: int, name: str, gate: str = "sigmoid") -> Any:
        mb = self.mb
        s = self.gap(x, f"{name}_pool")
        s = self.relu(self.conv(s, c, squeeze, 1, name=f"{name}_reduce"), f"{name}_relu")
        s = self.conv(s, squeeze, c, 1, name=f"{name}_expand")
        if gate == "hardsigmoid":
            s = mb.sigmoid_hard(x=s, alpha=1.0 / 6, beta=0.5, name=f"{name}_gate")
        else:
            s = mb.sigmoid(x=s, name=f"{name}_gate")
        return mb.mul(x=x, y=s, name=f"{name}_scale")


def _image_program(hw: int, body: Callable[[Any], Any]) -> Program:
    import coremltools as ct

    mb = _mb()

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, hw, hw))], opset_version=ct.target.iOS16)
    def prog(image: Any) -> Any:
        return body(image)

    return prog


def resnet(depth: int = 50, hw: int = 224) -> Program:
    """torchvision ResNet-18/34/50/101/152 (He et al. 2016; torchvision.models.resnet)."""
    blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}[depth]
    bottleneck = depth >= 50
    c = _Conv(_Weights(depth))
    mb = c.mb

    def body(x: Any) -> Any:
        x = c.relu(c.conv(x, 3, 64, 7, 2, name="conv1"), "relu")
        x = mb.max_pool(
            x=x,
            kernel_sizes=[3, 3],
            strides=[2, 2],
            pad_type="custom",
            pad=[1, 1, 1, 1],
            name="maxpool",
        )
        cin = 64
        for stage, n in enumerate(blocks):
            width = 64 * 2**stage
            cout = width * 4 if bottleneck else width
            for b in range(n):
                p = f"layer{stage + 1}_{b}"
                stride = 2 if b == 0 and stage > 0 else 1
                if bottleneck:
                    h = c.relu(c.conv(x, cin, width, 1, name=f"{p}_conv1"), f"{p}_relu1")
                    h = c.relu(c.conv(h, width, width, 3, stride, name=f"{p}_conv2"), f"{p}_relu2")
                    h = c.conv(h, width, cout, 1, name=f"{p}_conv3")
                else:
                    h = c.relu(c.conv(x, cin, width, 3, stride, name=f"{p}_conv1"), f"{p}_relu1")
                    h = c.conv(h, width, cout, 3, name=f"{p}_conv2")
                if b == 0 and (stride != 1 or cin != cout):
                    x = c.conv(x, cin, cout, 1, stride, name=f"{p}_downsample")
                x = c.relu(mb.add(x=h, y=x, name=f"{p}_add"), f"{p}_relu")
                cin = cout
        return c.head(c.gap(x, "avgpool"), cin, 1000, "fc")

    return _image_program(hw, body)


def _divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def mobilenet_v2(width: float = 1.0, hw: int = 224) -> Program:
    """torchvision MobileNetV2 (Sandler et al. 2018; torchvision.models.mobilenetv2)."""
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1)]
    settings += [(6, 160, 3, 2), (6, 320, 1, 1)]
    c = _Conv(_Weights(2))
    mb = c.mb

    def body(x: Any) -> Any:
        cin = _divisible(32 * width)
        last = _divisible(1280 * max(1.0, width))
        x = c.relu6(c.conv(x, 3, cin, 3, 2, name="features_0"), "features_0_relu6")
        i = 1
        for t, ch, n, s in settings:
            cout = _divisible(ch * width)
            for b in range(n):
                p = f"features_{i}"
                hidden = cin * t
                h = x
                if t != 1:
                    h = c.relu6(c.conv(h, cin, hidden, 1, name=f"{p}_expand"), f"{p}_relu6_0")
                h = c.conv(h, hidden, hidden, 3, s if b == 0 else 1, hidden, name=f"{p}_dw")
                h = c.relu6(h, f"{p}_relu6_1")
                h = c.conv(h, hidden, cout, 1, name=f"{p}_project")
                x = mb.add(x=x, y=h, name=f"{p}_add") if (b > 0 and cin == cout) else h
                cin = cout
                i += 1
        x = c.relu6(c.conv(x, cin, last, 1, name="features_18"), "features_18_relu6")
        return c.head(c.gap(x, "avgpool"), last, 1000, "classifier")

    return _image_program(hw, body)


def mobilenet_v3_small(hw: int = 224) -> Program:
    """torchvision MobileNetV3-Small (Howard et al. 2019; torchvision.models.mobilenetv3)."""
    # (in, kernel, expanded, out, SE, activation, stride)
    cfg = [
        (16, 3, 16, 16, True, "RE", 2),
        (16, 3, 72, 24, False, "RE", 2),
        (24, 3, 88, 24, False, "RE", 1),
        (24, 5, 96, 40, True, "HS", 2),
        (40, 5, 240, 40, True, "HS", 1),
        (40, 5, 240, 40, True, "HS", 1),
        (40, 5, 120, 48, True, "HS", 1),
        (48, 5, 144, 48, True, "HS", 1),
        (48, 5, 288, 96, True, "HS", 2),
        (96, 5, 576, 96, True, "HS", 1),
        (96, 5, 576, 96, True, "HS", 1),
    ]
    c = _Conv(_Weights(3))
    mb = c.mb

    def act(x: Any, kind: str, name: str) -> Any:
        return c.relu(x, name) if kind == "RE" else c.hardswish(x, name)

    def body(x: Any) -> Any:
        x = c.hardswish(c.conv(x, 3, 16, 3, 2, name="features_0"), "features_0_hs")
        for i, (cin, k, exp, cout, se, a, s) in enumerate(cfg, start=1):
            p = f"features_{i}"
            h = x
            if exp != cin:
                h = act(c.conv(h, cin, exp, 1, name=f"{p}_expand"), a, f"{p}_act0")
            h = act(c.conv(h, exp, exp, k, s, exp, name=f"{p}_dw"), a, f"{p}_act1")
            if se:
                h = c.se(h, exp, _divisible(exp // 4), f"{p}_se", gate="hardsigmoid")
            h = c.conv(h, exp, cout, 1, name=f"{p}_project")
            x = mb.add(x=x, y=h, name=f"{p}_add") if (s == 1 and cin == cout) else h
        x = c.hardswish(c.conv(x, 96, 576, 1, name="features_12"), "features_12_hs")
        x = mb.reshape(x=c.gap(x, "avgpool"), shape=[1, 576], name="flatten")
        x = mb.linear(x=x, weight=c.w(1024, 576), bias=c.w(1024), name="classifier_0")
        x = c.hardswish(x, "classifier_1")
        return mb.linear(x=x, weight=c.w(1000, 1024), bias=c.w(1000), name="classifier_3")

    return _image_program(hw, body)


def densenet121(hw: int = 224) -> Program:
    """torchvision DenseNet-121 (Huang et al. 2017; torchvision.models.densenet): growth 32,
    blocks (6, 12, 24, 16), bottleneck 4x; pre-activation batch norms stay (nothing to fold
    them into)."""
    c = _Conv(_Weights(121))
    mb = c.mb

    def bn_relu(x: Any, ch: int, name: str) -> Any:
        x = mb.batch_norm(
            x=x,
            mean=c.w(ch),
            variance=np.abs(c.w(ch)) + 1,
            gamma=c.w(ch) + 1,
            beta=c.w(ch),
            name=f"{name}_norm",
        )
        return c.relu(x, f"{name}_relu")

    def body(x: Any) -> Any:
        x = c.relu(c.conv(x, 3, 64, 7, 2, name="features_conv0"), "features_relu0")
        x = mb.max_pool(
            x=x,
            kernel_sizes=[3, 3],
            strides=[2, 2],
            pad_type="custom",
            pad=[1, 1, 1, 1],
            name="features_pool0",
        )
        ch = 64
        for bi, n in enumerate((6, 12, 24, 16), start=1):
            feats = [x]
            for li in range(1, n + 1):
                p = f"features_denseblock{bi}_denselayer{li}"
                cat = (
                    feats[0]
                    if len(feats) == 1
                    else mb.concat(values=feats, axis=1, name=f"{p}_cat")
                )
                h = c.conv(
                    bn_relu(cat, ch + 32 * (li - 1), f"{p}_1"),
                    ch + 32 * (li - 1),
                    128,
                    1,
                    name=f"{p}_conv1",
                    bias=False,
                )
                h = c.conv(bn_relu(h, 128, f"{p}_2"), 128, 32, 3, name=f"{p}_conv2", bias=False)
                feats.append(h)
            x = mb.concat(values=feats, axis=1, name=f"features_denseblock{bi}_out")
            ch += 32 * n
            if bi < 4:
                p = f"features_transition{bi}"
                x = c.conv(bn_relu(x, ch, p), ch, ch // 2, 1, name=f"{p}_conv", bias=False)
                x = mb.avg_pool(
                    x=x, kernel_sizes=[2, 2], strides=[2, 2], pad_type="valid", name=f"{p}_pool"
                )
                ch //= 2
        x = bn_relu(x, ch, "features_norm5")
        return c.head(c.gap(x, "avgpool"), ch, 1000, "classifier")

    return _image_program(hw, body)


MOBILEONE = {  # apple/ml-mobileone mobileone.py PARAMS (width multipliers, SE)
    "s0": ((0.75, 1.0, 1.0, 2.0), False),
    "s1": ((1.5, 1.5, 2.0, 2.5), False),
    "s2": ((1.5, 2.0, 2.5, 4.0), False),
    "s3": ((2.0, 2.5, 3.0, 4.0), False),
    "s4": ((3.0, 3.5, 3.5, 4.0), True),
}


def mobileone(variant: str = "s0", hw: int = 224) -> Program:
    """apple/ml-mobileone MobileOne, reparameterised for inference (one conv + ReLU per block,
    SE-ReLU in the last blocks of S4): stages of (2, 8, 10, 1) depthwise-3x3 + pointwise blocks."""
    widths, use_se = MOBILEONE[variant]
    c = _Conv(_Weights(11))

    def block(x: Any, cin: int, cout: int, k: int, s: int, g: int, se: bool, name: str) -> Any:
        h = c.conv(x, cin, cout, k, s, g, name=f"{name}_reparam_conv")
        if se:
            h = c.se(h, cout, int(cout * 0.0625), f"{name}_se")
        return c.relu(h, f"{name}_act")

    def body(x: Any) -> Any:
        cin = min(64, int(64 * widths[0]))
        x = block(x, 3, cin, 3, 2, 1, False, "stage0")
        stages = [(int(64 * widths[0]), 2, 0), (int(128 * widths[1]), 8, 0)]
        stages += [(int(256 * widths[2]), 10, 5 if use_se else 0)]
        stages += [(int(512 * widths[3]), 1, 1 if use_se else 0)]
        for si, (planes, n, n_se) in enumerate(stages, start=1):
            for b in range(n):
                se = b >= n - n_se
                p = f"stage{si}_{2 * b}"
                x = block(x, cin, cin, 3, 2 if b == 0 else 1, cin, se, p)
                x = block(x, cin, planes, 1, 1, 1, se, f"stage{si}_{2 * b + 1}")
                cin = planes
        return c.head(c.gap(x, "gap"), cin, 1000, "linear")

    return _image_program(hw, body)


# --------------------------------------------------------------------------------------------
# Transformers


def _split_head_attention(
    q: Any, k: Any, v: Any, seq: int, hd: int, scale: float, mask: Any, name: str
) -> Any:
    """One head of ml-ane-transformers' split-einsum attention on (B, C, 1, S) tensors:
    einsum('bchq,bkhc->bkhq') then softmax over k, then einsum('bkhq,bchk->bchq'), written as
    the reshapes and matmuls the torch frontend lowers them to."""
    mb = _mb()
    qm = mb.reshape(x=q, shape=[1, hd, seq], name=f"{name}_q")
    km = mb.transpose(
        x=mb.reshape(x=k, shape=[1, hd, seq], name=f"{name}_k"), perm=[0, 2, 1], name=f"{name}_kt"
    )
    s = mb.matmul(x=km, y=qm, name=f"{name}_qk")  # [1, k, q]
    s = mb.mul(x=s, y=scale, name=f"{name}_scale")
    s = mb.add(
        x=mb.reshape(x=s, shape=[1, seq, 1, seq], name=f"{name}_bkhq"), y=mask, name=f"{name}_mask"
    )
    a = mb.softmax(x=s, axis=1, name=f"{name}_softmax")
    am = mb.reshape(x=a, shape=[1, seq, seq], name=f"{name}_a")
    vm = mb.reshape(x=v, shape=[1, hd, seq], name=f"{name}_v")
    o = mb.matmul(x=vm, y=am, name=f"{name}_av")  # [1, c, q]
    return mb.reshape(x=o, shape=[1, hd, 1, seq], name=f"{name}_out")


def _multi_head_attention(
    x: Any,
    conv1: Callable[[Any, int, int, str], Any],
    d: int,
    heads: int,
    seq: int,
    mask: Any,
    name: str,
    proj: str,
) -> Any:
    """ml-ane-transformers' split-head attention on (B, C, 1, S): 1x1-conv q/k/v projections
    (named `<proj>_q_proj`, ...), split per head along C, `_split_head_attention` per head,
    and the heads concatenated back (`<name>_heads`)."""
    mb = _mb()
    hd = d // heads
    q = conv1(x, d, d, f"{proj}_q_proj")
    k = conv1(x, d, d, f"{proj}_k_proj")
    v = conv1(x, d, d, f"{proj}_v_proj")
    qs = mb.split(x=q, num_splits=heads, axis=1, name=f"{name}_q_split")
    ks = mb.split(x=k, num_splits=heads, axis=1, name=f"{name}_k_split")
    vs = mb.split(x=v, num_splits=heads, axis=1, name=f"{name}_v_split")
    outs = [
        _split_head_attention(
            qs[h], ks[h], vs[h], seq, hd, float(hd**-0.5), mask, f"{name}_head{h}"
        )
        for h in range(heads)
    ]
    return mb.concat(values=outs, axis=1, name=f"{name}_heads")


def distilbert(optimized: bool, seq: int = 128, layers: int = 6, d: int = 768) -> Program:
    """DistilBERT-base for sequence classification at batch 1.

    optimized=False: the Hugging Face model as the torch frontend converts it ((B, S, C)
    layout, linear layers, a boolean attention mask applied with `select`).
    optimized=True: apple/ml-ane-transformers' `DistilBertForSequenceClassification`
    ((B, C, 1, S) layout, 1x1 convs, layer norm over channels written out, attention split
    per head into einsums, additive mask).
    """
    import coremltools as ct
    from coremltools.converters.mil.mil import types

    mb = _mb()
    w = _Weights(768 if optimized else 769)
    heads, ffn, vocab = 12, 3072, 30522
    hd = d // heads

    def lin(x: Any, cin: int, cout: int, name: str) -> Any:
        return mb.linear(x=x, weight=w(cout, cin), bias=w(cout), name=name)

    def conv1(x: Any, cin: int, cout: int, name: str) -> Any:
        return mb.conv(x=x, weight=w(cout, cin, 1, 1), bias=w(cout), name=name)

    def ln_ane(x: Any, name: str) -> Any:
        # ml-ane-transformers LayerNormANE: normalise over the channel axis (1) of (B, C, 1, S)
        mean = mb.reduce_mean(x=x, axes=[1], keep_dims=True, name=f"{name}_mean")
        zm = mb.sub(x=x, y=mean, name=f"{name}_zero_mean")
        var = mb.reduce_mean(
            x=mb.mul(x=zm, y=zm, name=f"{name}_sq"), axes=[1], keep_dims=True, name=f"{name}_var"
        )
        den = mb.rsqrt(x=mb.add(x=var, y=1e-12, name=f"{name}_eps"), name=f"{name}_rsqrt")
        out = mb.mul(x=zm, y=den, name=f"{name}_norm")
        out = mb.mul(x=out, y=w(1, d, 1, 1) + 1, name=f"{name}_weight")
        return mb.add(x=out, y=w(1, d, 1, 1), name=f"{name}_bias")

    @mb.program(
        input_specs=[
            mb.TensorSpec(shape=(1, seq), dtype=types.int32),
            mb.TensorSpec(shape=(1, seq), dtype=types.int32),
        ],
        opset_version=ct.target.iOS16,
    )
    def prog(input_ids: Any, attention_mask: Any) -> Any:
        tok = mb.gather(x=w(vocab, d), indices=input_ids, axis=0, name="embeddings_word")
        x = mb.add(x=tok, y=w(1, seq, d), name="embeddings_add")  # + position embeddings
        if not optimized:
            x = mb.layer_norm(x=x, axes=[-1], gamma=w(d) + 1, beta=w(d), name="embeddings_ln")

            def split(t: Any, name: str) -> Any:
                t = mb.reshape(x=t, shape=[1, seq, heads, hd], name=f"{name}_view")
                return mb.transpose(x=t, perm=[0, 2, 1, 3], name=f"{name}_transpose")

            for i in range(layers):
                p = f"transformer_layer_{i}"
                q = split(lin(x, d, d, f"{p}_attention_q_lin"), f"{p}_q")
                q = mb.real_div(x=q, y=float(np.sqrt(hd)), name=f"{p}_q_scale")
                k = split(lin(x, d, d, f"{p}_attention_k_lin"), f"{p}_k")
                v = split(lin(x, d, d, f"{p}_attention_v_lin"), f"{p}_v")
                s = mb.matmul(x=q, y=k, transpose_y=True, name=f"{p}_scores")
                # MultiHeadSelfAttention: mask = (mask == 0).view(...).expand_as(scores),
                # in every layer, then scores.masked_fill(mask, -inf)
                m = mb.equal(x=attention_mask, y=0, name=f"{p}_mask_eq")
                m = mb.reshape(x=m, shape=[1, 1, 1, seq], name=f"{p}_mask_view")
                s = mb.select(
                    cond=mb.tile(x=m, reps=[1, heads, seq, 1], name=f"{p}_mask_tile"),
                    a=np.float32(-3.4e38),
                    b=s,
                    name=f"{p}_masked_fill",
                )
                a = mb.softmax(x=s, axis=-1, name=f"{p}_softmax")
                ctx = mb.matmul(x=a, y=v, name=f"{p}_context")
                ctx = mb.transpose(x=ctx, perm=[0, 2, 1, 3], name=f"{p}_unshape")
                ctx = mb.reshape(x=ctx, shape=[1, seq, d], name=f"{p}_merge")
                x = mb.add(x=lin(ctx, d, d, f"{p}_attention_out_lin"), y=x, name=f"{p}_res1")
                x = mb.layer_norm(x=x, axes=[-1], gamma=w(d) + 1, beta=w(d), name=f"{p}_sa_ln")
                h = mb.gelu(x=lin(x, d, ffn, f"{p}_ffn_lin1"), mode="EXACT", name=f"{p}_gelu")
                x = mb.add(x=lin(h, ffn, d, f"{p}_ffn_lin2"), y=x, name=f"{p}_res2")
                x = mb.layer_norm(x=x, axes=[-1], gamma=w(d) + 1, beta=w(d), name=f"{p}_out_ln")
            cls = mb.slice_by_index(x=x, begin=[0, 0, 0], end=[1, 1, d], name="cls")
            cls = mb.reshape(x=cls, shape=[1, d], name="cls_flat")
            cls = mb.relu(x=lin(cls, d, d, "pre_classifier"), name="pre_classifier_relu")
            return lin(cls, d, 2, "classifier")
        # (B, S, C) -> (B, C, 1, S)
        x = mb.expand_dims(
            x=mb.transpose(x=x, perm=[0, 2, 1], name="emb_t"), axes=[2], name="emb_bc1s"
        )
        x = ln_ane(x, "embeddings_ln")
        m = mb.cast(x=attention_mask, dtype="fp32", name="mask_float")
        m = mb.mul(x=mb.sub(x=1.0, y=m, name="mask_inv"), y=-1e4, name="mask_add")
        m = mb.reshape(x=m, shape=[1, seq, 1, 1], name="mask_bk11")
        for i in range(layers):
            p = f"transformer_layer_{i}"
            ctx = _multi_head_attention(x, conv1, d, heads, seq, m, p, f"{p}_attention")
            x = mb.add(x=conv1(ctx, d, d, f"{p}_attention_out_proj"), y=x, name=f"{p}_res1")
            x = ln_ane(x, f"{p}_sa_ln")
            h = mb.gelu(x=conv1(x, d, ffn, f"{p}_ffn_lin1"), mode="EXACT", name=f"{p}_gelu")
            x = mb.add(x=conv1(h, ffn, d, f"{p}_ffn_lin2"), y=x, name=f"{p}_res2")
            x = ln_ane(x, f"{p}_out_ln")
        cls = mb.slice_by_index(x=x, begin=[0, 0, 0, 0], end=[1, d, 1, 1], name="cls")
        cls = mb.relu(x=conv1(cls, d, d, "pre_classifier"), name="pre_classifier_relu")
        return mb.reshape(x=conv1(cls, d, 2, "classifier"), shape=[1, 2], name="logits")

    return prog


GPT2 = {  # (layers, d_model, heads): Radford et al. 2019 model sizes
    "gpt2": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
}


def gpt2(size: str = "gpt2", seq: int = 512) -> Program:
    """GPT-2 with smpanaro/more-ane-transformers' ANE layout (the no-KV-cache version measured
    in its evals/SPEED.md): the whole `seq`-token prompt forward, (B, C, 1, S) layout, 1x1
    convs, layer norm over channels, attention split per head, causal mask added; logits for
    the last position only (GUESS: the script generates one token per forward)."""
    import coremltools as ct
    from coremltools.converters.mil.mil import types

    layers, d, heads = GPT2[size]
    vocab = 50257
    mb = _mb()
    w = _Weights(layers)
    causal = np.triu(np.full((seq, seq), -1e4, dtype=np.float32), k=1).T  # [k, q]
    causal = causal.reshape(1, seq, 1, seq)

    def conv1(x: Any, cin: int, cout: int, name: str) -> Any:
        return mb.conv(x=x, weight=w(cout, cin, 1, 1), bias=w(cout), name=name)

    def ln(x: Any, name: str) -> Any:
        mean = mb.reduce_mean(x=x, axes=[1], keep_dims=True, name=f"{name}_mean")
        zm = mb.sub(x=x, y=mean, name=f"{name}_zero_mean")
        var = mb.reduce_mean(
            x=mb.mul(x=zm, y=zm, name=f"{name}_sq"), axes=[1], keep_dims=True, name=f"{name}_var"
        )
        den = mb.rsqrt(x=mb.add(x=var, y=1e-5, name=f"{name}_eps"), name=f"{name}_rsqrt")
        out = mb.mul(
            x=mb.mul(x=zm, y=den, name=f"{name}_norm"), y=w(1, d, 1, 1) + 1, name=f"{name}_weight"
        )
        return mb.add(x=out, y=w(1, d, 1, 1), name=f"{name}_bias")

    @mb.program(
        input_specs=[mb.TensorSpec(shape=(1, seq), dtype=types.int32)],
        opset_version=ct.target.iOS16,
    )
    def prog(input_ids: Any) -> Any:
        x = mb.gather(x=w(vocab, d), indices=input_ids, axis=0, name="wte")
        x = mb.add(x=x, y=w(1, seq, d), name="wpe")
        x = mb.expand_dims(
            x=mb.transpose(x=x, perm=[0, 2, 1], name="to_bcs"), axes=[2], name="to_bc1s"
        )
        for i in range(layers):
            p = f"h_{i}"
            h = ln(x, f"{p}_ln_1")
            ctx = _multi_head_attention(h, conv1, d, heads, seq, causal, p, f"{p}_attn")
            x = mb.add(x=x, y=conv1(ctx, d, d, f"{p}_attn_c_proj"), name=f"{p}_res1")
            h = ln(x, f"{p}_ln_2")
            h = mb.gelu(
                x=conv1(h, d, 4 * d, f"{p}_mlp_c_fc"), mode="TANH_APPROXIMATION", name=f"{p}_gelu"
            )
            x = mb.add(x=x, y=conv1(h, 4 * d, d, f"{p}_mlp_c_proj"), name=f"{p}_res2")
        x = ln(x, "ln_f")
        last = mb.slice_by_index(x=x, begin=[0, 0, 0, seq - 1], end=[1, d, 1, seq], name="last")
        last = mb.reshape(x=last, shape=[1, d], name="last_flat")
        return mb.linear(x=last, weight=w(vocab, d), name="lm_head")

    return prog


def lm_head(hidden: int = 4096, vocab: int = 128256, splits: int = 16) -> Program:
    """Llama-3-8B's output projection as Anemll/anemll-bench converts it for the Neural
    Engine: one token [1, hidden, 1, 1] in fp16, the vocabulary split into `splits` 1x1 convs
    (each under the 16384-per-axis limit), logits concatenated."""
    import coremltools as ct
    from coremltools.converters.mil.mil import types

    mb = _mb()
    per = vocab // splits
    rng = np.random.default_rng(8)

    @mb.program(
        input_specs=[mb.TensorSpec(shape=(1, hidden, 1, 1), dtype=types.fp16)],
        opset_version=ct.target.iOS18,
    )
    def prog(hidden_states: Any) -> Any:
        outs = []
        for i in range(splits):
            wt = rng.standard_normal((per, hidden, 1, 1), dtype=np.float32).astype(np.float16)
            outs.append(mb.conv(x=hidden_states, weight=wt, name=f"lm_head{i}"))
        return mb.concat(values=outs, axis=1, name="logits")

    return prog


# Bumped when a builder changes what it builds (part of the cache key in latency.py).
VERSIONS: dict[str, int] = {"distilbert": 2, "mobilenet_v3_small": 2}

BUILDERS: dict[str, Callable[..., Program]] = {
    "resnet": resnet,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_small": mobilenet_v3_small,
    "densenet121": densenet121,
    "mobileone": mobileone,
    "distilbert": distilbert,
    "gpt2": gpt2,
    "lm_head": lm_head,
}


def build(arch: str, **params: Any) -> Program:
    """The MIL Program of architecture `arch` with `params` (see each builder)."""
    return BUILDERS[arch](**params)
