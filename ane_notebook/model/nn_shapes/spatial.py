"""Shape rules for the spatial NeuralNetwork layers.

Convolution and deconvolution, pooling, their 3-D forms, crop, padding, upsample,
resizeBilinear and cropResize: each a closed-form function of the input's trailing H, W (or
D, H, W) and the layer's parameters, from ``NeuralNetwork.proto``'s formulas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .dims import Dim, MaybeShape, _border, _known, _pair
from .layer import _chw, _Layer, _rank5

# ---- convolution and pooling (formulas: NeuralNetwork.proto; verified against MIL) ---------


def _convolution(L: _Layer) -> list[MaybeShape]:
    p = L.p
    x = _chw(L.x)
    if x is None:
        return [None]
    w = L.ins[1] if len(L.ins) > 1 else None  # dynamic weights [C_out, kernelChannels, kH, kW]
    w = w if w is not None and len(w) == 4 else None
    if len(p.kernelSize) == 2:
        kh, kw = _pair(p.kernelSize, 3)
    elif w is not None and _known(w[2], w[3]):
        kh, kw = int(w[2] or 0), int(w[3] or 0)
    else:
        kh, kw = 3, 3  # the proto's default kernel
    cout: Dim = int(p.outputChannels) or (w[0] if w is not None else None)
    sh, sw = _pair(p.stride, 1)
    dh, dw = _pair(p.dilationFactor, 1)
    h, wd = x[-2], x[-1]
    if sh <= 0 or sw <= 0:  # an invalid stride: no size to compute
        h = wd = None
    pad = p.WhichOneof("ConvolutionPaddingType")
    ho: Dim
    wo: Dim
    if p.isDeconvolution:
        if len(p.outputShape) == 2:
            ho, wo = _pair(p.outputShape, 0)  # wins over the padding type (proto)
        elif (dh, dw) != (1, 1):
            # The proto says deconvolution ignores dilation; Core ML's C++ shaper applies it.
            ho = wo = None
        elif pad == "valid" and _known(h, wd):
            t, b, left, r = _border(p.valid.paddingAmounts)
            ho = (int(h or 0) - 1) * sh + kh - t - b
            wo = (int(wd or 0) - 1) * sw + kw - left - r
        elif pad == "same" and _known(h, wd):
            ho, wo = int(h or 0) * sh, int(wd or 0) * sw
        else:
            ho = wo = None
        return [x[:-3] + (cout, ho, wo)]
    khd, kwd = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if pad == "valid":
        t, b, left, r = _border(p.valid.paddingAmounts)
        ho = None if h is None else (h + t + b - khd) // sh + 1
        wo = None if wd is None else (wd + left + r - kwd) // sw + 1
    elif pad == "same":  # the asymmetry mode moves the odd pixel, not the size
        ho = None if h is None else -(-h // sh)
        wo = None if wd is None else -(-wd // sw)
    else:
        ho = wo = None
    return [x[:-3] + (cout, ho, wo)]


def _pool_last_pixel(n: Dim, k: int, s: int, pad: int, any_pad: bool) -> Dim:
    """``includeLastPixel`` (ValidCompletePadding) output size: the proto's formula, which is
    MIL's ``ceil_mode=True``."""
    if n is None:
        return None
    out = -(-(n + 2 * pad - k) // s) + 1
    if any_pad and (out - 1) * s >= n + pad:
        out -= 1
    return out


def _pooling(L: _Layer) -> list[MaybeShape]:
    p = L.p
    x = _chw(L.x)
    if x is None:
        return [None]
    if p.globalPooling:
        return [x[:-2] + (1, 1)]
    kh, kw = _pair(p.kernelSize, 3)
    sh, sw = _pair(p.stride, 1)
    h, w = x[-2], x[-1]
    if sh <= 0 or sw <= 0:  # an invalid stride: no size to compute
        h = w = None
    pad = p.WhichOneof("PoolingPaddingType")
    ho: Dim
    wo: Dim
    if pad == "valid":
        t, b, left, r = _border(p.valid.paddingAmounts)
        ho = None if h is None else (h + t + b - kh) // sh + 1
        wo = None if w is None else (w + left + r - kw) // sw + 1
    elif pad == "same":
        ho = None if h is None else -(-h // sh)
        wo = None if w is None else -(-w // sw)
    elif pad == "includeLastPixel":
        ph, pw = _pair(p.includeLastPixel.paddingAmounts, 0)
        any_pad = ph > 0 or pw > 0  # either padding, as the proto writes it
        ho = _pool_last_pixel(h, kh, sh, ph, any_pad)
        wo = _pool_last_pixel(w, kw, sw, pw, any_pad)
    else:
        ho = wo = None
    return [x[:-2] + (ho, wo)]


def _spatial3d(
    sizes: Sequence[Dim],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Sequence[tuple[int, int]],
    mode: int,
    deconv: bool,
) -> tuple[Dim, ...]:
    """D, H, W of a 3-D conv / pool: paddingType CUSTOM (0), VALID (1) or SAME (2)."""
    out: list[Dim] = []
    for n, k, s, d, (front, back) in zip(sizes, kernel, stride, dilation, pads, strict=True):
        s = s or 1
        kd = (k - 1) * (d or 1) + 1
        if n is None or mode not in (0, 1, 2) or s < 0:
            out.append(None)
        elif deconv:
            if (d or 1) != 1:
                out.append(None)  # dilated deconvolution: sources disagree (see _convolution)
            elif mode == 2:
                out.append(n * s)
            else:
                extra = front + back if mode == 0 else 0
                out.append((n - 1) * s + kd - extra)
        elif mode == 2:
            out.append(-(-n // s))
        else:
            extra = front + back if mode == 0 else 0
            out.append((n + extra - kd) // s + 1)
    return tuple(out)


def _pads3d(p: Any) -> list[tuple[int, int]]:
    return [
        (int(p.customPaddingFront), int(p.customPaddingBack)),
        (int(p.customPaddingTop), int(p.customPaddingBottom)),
        (int(p.customPaddingLeft), int(p.customPaddingRight)),
    ]


def _convolution3d(L: _Layer) -> list[MaybeShape]:
    p, x = L.p, L.x
    if x is None or len(x) < 4:
        return [None]
    if p.isDeconvolution and len(p.outputShape) == 3:
        dhw: tuple[Dim, ...] = tuple(int(v) for v in p.outputShape)
    else:
        dhw = _spatial3d(
            x[-3:],
            (p.kernelDepth, p.kernelHeight, p.kernelWidth),
            (p.strideDepth, p.strideHeight, p.strideWidth),
            (p.dilationDepth, p.dilationHeight, p.dilationWidth),
            _pads3d(p),
            int(p.paddingType),
            bool(p.isDeconvolution),
        )
    return [x[:-4] + (int(p.outputChannels) or None, *dhw)]


def _pooling3d(L: _Layer) -> list[MaybeShape]:
    p, x = L.p, L.x
    if x is None or len(x) < 4:
        return [None]
    dhw = _spatial3d(
        x[-3:],
        (p.kernelDepth, p.kernelHeight, p.kernelWidth),
        (p.strideDepth, p.strideHeight, p.strideWidth),
        (1, 1, 1),
        _pads3d(p),
        int(p.paddingType),
        False,
    )
    return [x[:-3] + dhw]


def _global_pooling3d(L: _Layer) -> list[MaybeShape]:
    x = L.x
    return [None if x is None or len(x) < 4 else x[:-3] + (1, 1, 1)]


def _crop(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    if x is None:
        return [None]
    if len(L.ins) >= 2:  # H, W of the second input (the offset does not change the size)
        ref = _chw(L.ins[1])
        return [None if ref is None else x[:-2] + ref[-2:]]
    t, b, left, r = _border(L.p.cropAmounts)
    h, w = x[-2], x[-1]
    return [x[:-2] + (None if h is None else h - t - b, None if w is None else w - left - r)]


def _padding(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None or len(x) < 2:
        return [None]
    t, b, left, r = _border(L.p.paddingAmounts)
    h, w = x[-2], x[-1]
    return [x[:-2] + (None if h is None else h + t + b, None if w is None else w + left + r)]


def _upsample(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    if x is None:
        return [None]
    h, w = x[-2], x[-1]
    frac = L.p.fractionalScalingFactor
    if len(frac) == 2:  # MIL upsample_bilinear type inference: floor
        fh, fw = float(frac[0]), float(frac[1])
        if not (math.isfinite(fh) and math.isfinite(fw)):
            return [x[:-2] + (None, None)]
        return [
            x[:-2]
            + (None if h is None else math.floor(h * fh), None if w is None else math.floor(w * fw))
        ]
    sh, sw = _pair(L.p.scalingFactor, 1)
    sh, sw = sh or 1, sw or 1  # a 0 factor counts as 1 (C++ shaper)
    return [x[:-2] + (None if h is None else h * sh, None if w is None else w * sw)]


def _resize_bilinear(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    if x is None:
        return [None]
    th, tw = _pair(L.p.targetSize, 1)
    return [x[:-2] + (th or 1, tw or 1)]


def _crop_resize(L: _Layer) -> list[MaybeShape]:
    x = _rank5(L.x)
    roi = _rank5(L.ins[1]) if len(L.ins) > 1 else None
    if x is None:
        return [None]
    th, tw = _pair(L.p.targetSize, 1)
    th, tw = th or 1, tw or 1
    n = roi[0] if roi is not None else None
    c = roi[2] if roi is not None else None
    batch: Dim = x[1] if c == 4 else (1 if c == 5 else None)
    return [(n, batch, x[2], th, tw)]
