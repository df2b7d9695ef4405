"""The estimate charges an op the ANE runs in several calls one ANE launch per extra call.

`OpSupport.ane_dispatches` comes from the rules (a convolution kernel larger than one ANE call
takes, docs/evidence.md#conv.kernel); `estimate` adds `(n - 1) * LAUNCH_MS[ANE]` to the op's
ANE time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types

from ane_notebook.model.load import load_model
from ane_notebook.placement.costs import LAUNCH_MS
from ane_notebook.placement.devices import Device, get_chip
from ane_notebook.placement.estimate import estimate


def _conv(kernel_width: int) -> object:
    """A large fp16 conv (so the ANE is worth it) with a 1 x `kernel_width` kernel."""

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 64, 64, 128), dtype=types.fp16)])
    def prog(x: object) -> object:
        return mb.conv(x=x, weight=np.ones((64, 64, 1, kernel_width), np.float16))

    return load_model(prog)


@pytest.mark.parametrize(("width", "extra"), [(15, 1), (40, 3)])
def test_extra_ane_dispatches_cost_one_launch_each(width: int, extra: int) -> None:
    graph = _conv(width)
    m1 = get_chip("M1")  # one ANE call takes a kernel 13 wide: ceil(15/13) = 2, ceil(40/13) = 4
    # The same chip with a wider per-call limit: the same rates, one call fewer or more.
    wide = dataclasses.replace(m1, name="M1 (wide kernels)", conv_kernel_max=64)
    conv = next(i for i, op in enumerate(graph.ops) if op.op_type == "conv")
    split = estimate(graph, "CPU_AND_NE", m1).ops[conv]
    whole = estimate(graph, "CPU_AND_NE", wide).ops[conv]
    assert split.device == Device.ANE and whole.device == Device.ANE
    assert split.est_time_ms == pytest.approx(whole.est_time_ms + extra * LAUNCH_MS[Device.ANE])
