"""NeuralNetwork (legacy .mlmodel) conv nets built with coremltools' NeuralNetworkBuilder, the way
Caffe/Keras-era converters wrote them: rank-5 blobs, an image input, separate batchnorm and
activation layers, fp16 weights.

`mobilenet_nn` is MobileNet v1 (Howard et al. 2017, Table 1): a 3x3 stride-2 conv, 13
depthwise-separable blocks (3x3 depthwise conv + 1x1 pointwise conv, each followed by batchnorm
and ReLU), global average pooling, a 1000-way fully connected layer and a softmax.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.utils import _convert_neural_network_spec_weights_to_fp16
from coremltools.proto import Model_pb2

# (output channels, stride) of the 13 depthwise-separable blocks (MobileNet v1, Table 1).
MOBILENET_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def _conv(
    b: NeuralNetworkBuilder,
    name: str,
    src: str,
    cin: int,
    cout: int,
    k: int,
    stride: int,
    groups: int = 1,
) -> str:
    b.add_convolution(
        name,
        kernel_channels=cin // groups,
        output_channels=cout,
        height=k,
        width=k,
        stride_height=stride,
        stride_width=stride,
        border_mode="same",
        groups=groups,
        W=np.zeros((k, k, cin // groups, cout), np.float32),
        b=None,
        has_bias=False,
        input_name=src,
        output_name=name,
    )
    zeros = np.zeros(cout, np.float32)
    ones = np.ones(cout, np.float32)
    b.add_batchnorm(f"{name}_bn", cout, ones, zeros, zeros, ones, f"{name}", f"{name}_bn")
    b.add_activation(f"{name}_relu", "RELU", f"{name}_bn", f"{name}_relu")
    return f"{name}_relu"


def mobilenet_nn(
    size: int = 224, *, blocks: int = len(MOBILENET_BLOCKS), fp16: bool = True
) -> Model_pb2.Model:
    """MobileNet v1 as a rank-5 NeuralNetwork with image input ``image`` (RGB, size x size);
    `blocks` keeps only the first depthwise-separable blocks (a smaller net of the same kind)."""
    b = NeuralNetworkBuilder([("image", datatypes.Array(3, size, size))], [("probs", None)])
    b.set_pre_processing_parameters(image_input_names=["image"], image_scale=1 / 255)
    x = _conv(b, "conv0", "image", 3, 32, 3, 2)
    cin = 32
    for i, (cout, stride) in enumerate(MOBILENET_BLOCKS[:blocks], start=1):
        x = _conv(b, f"dw{i}", x, cin, cin, 3, stride, groups=cin)
        x = _conv(b, f"pw{i}", x, cin, cout, 1, 1)
        cin = cout
    b.add_pooling(
        "pool",
        height=1,
        width=1,
        stride_height=1,
        stride_width=1,
        layer_type="AVERAGE",
        padding_type="VALID",
        input_name=x,
        output_name="pool",
        is_global=True,
    )
    b.add_inner_product(
        "fc",
        W=np.zeros((1000, cin), np.float32),
        b=np.zeros(1000, np.float32),
        input_channels=cin,
        output_channels=1000,
        has_bias=True,
        input_name="pool",
        output_name="logits",
    )
    b.add_softmax("softmax", "logits", "probs")
    spec: Model_pb2.Model = b.spec
    if fp16:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per layer
            spec = _convert_neural_network_spec_weights_to_fp16(spec)
    return spec
