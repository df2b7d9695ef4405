"""NeuralNetwork layers are costed in fp16 on the Neural Engine and GPU.

NN specs declare no compute dtype; the loader records their tensors as fp32 with
``attrs["nn_precision_unknown"]``. Core ML runs NN layers in fp16 on the ANE and GPU (and fp32 on
the CPU), so the bytes an NN layer moves there are half of what its nominal fp32 dtype says.
"""

from __future__ import annotations

from ane_notebook.model.graph import Op, TensorInfo
from ane_notebook.placement.costs import DEVICE_COLUMNS, op_costs, tensor_bytes
from ane_notebook.placement.devices import Device, get_chip

X = TensorInfo("x", (1, 64, 128, 128), "fp32")  # 4 MiB at fp32: memory-bound for any processor


def _relu(nn: bool) -> Op:
    attrs = {"nn_precision_unknown": True} if nn else {}
    return Op(
        0,
        "y",
        "activation" if nn else "relu",
        "main",
        ("x",),
        (TensorInfo("y", X.shape, "fp32"),),
        attrs,
    )


def test_nn_activations_count_fp16_on_ane_and_gpu_and_fp32_on_cpu() -> None:
    chip = get_chip("M1")
    nn = op_costs([_relu(True)], [[X]], [[]], chip)
    mil = op_costs([_relu(False)], [[X]], [[]], chip)
    col = {d: j for j, d in enumerate(DEVICE_COLUMNS)}
    assert nn.time_ms[0, col[Device.ANE]] < mil.time_ms[0, col[Device.ANE]]
    assert nn.time_ms[0, col[Device.GPU]] < mil.time_ms[0, col[Device.GPU]]
    assert nn.time_ms[0, col[Device.CPU]] == mil.time_ms[0, col[Device.CPU]]
    assert nn.bytes[0] == mil.bytes[0] == 2 * tensor_bytes(X)  # the CPU count


def test_tensor_bytes_fp16_halves_only_fp32() -> None:
    assert tensor_bytes(X, fp16=True) == tensor_bytes(X) // 2
    i32 = TensorInfo("i", (10,), "int32")
    assert tensor_bytes(i32, fp16=True) == tensor_bytes(i32) == 40
    unknown = TensorInfo("u", (None, 3), "fp32")
    assert tensor_bytes(unknown, fp16=True) == tensor_bytes(unknown)  # the unknown-size guess
