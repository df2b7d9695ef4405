"""How much work an op is: its FLOPs and the weight elements a recurrent step multiplies by.

The cost model (`costs.py`) turns work into time; this module only counts it, from the op's
shapes and attributes, so the counts can be read and tested without any hardware constant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..model.graph import Op, TensorInfo

# --- FLOPs per op ---------------------------------------------------------------------------
# Work counts are the textbook ones (2 FLOPs per multiply-accumulate); elementwise and data
# movement ops are costed by the bytes they touch, which is what bounds them.
_ELEMENTWISE_FLOPS = {
    "gelu": 8,
    "silu": 4,
    "sigmoid": 4,
    "tanh": 4,
    "erf": 4,
    "exp": 4,
    "log": 4,
    "softplus": 4,
    "sin": 4,
    "cos": 4,
    "pow": 4,
    "sqrt": 2,
    "rsqrt": 2,
    "real_div": 2,
    "inverse": 2,
    "softmax": 5,
    "layer_norm": 8,
    "batch_norm": 4,
    "instance_norm": 8,
    "l2_norm": 4,
    "local_response_norm": 8,
}


def elements(shape: Sequence[int | None] | None) -> int:
    """Elements of a tensor of `shape` (unknown or non-positive dimensions count 1; None: 0)."""
    if not shape:
        return 1 if shape == () else 0
    n = 1
    for d in shape:
        n *= d if d is not None and d > 0 else 1
    return n


def op_flops(op: Op, in_tensors: Sequence[TensorInfo | None]) -> float:
    """FLOPs of one op from its shapes and attributes (0 when they are unknown)."""
    out = op.outputs[0] if op.outputs else None
    out_elems = elements(out.shape) if out is not None else 0
    t = op.op_type
    w = op.attrs.get("weight_shape")
    if t in ("conv", "conv_transpose", "convolution") and w and len(w) >= 3:
        # weight (Cout, Cin/groups, *kernel): each output element is one Cin/groups*k dot product
        per_out = elements(tuple(w[1:]))
        return 2.0 * out_elems * per_out
    if t in ("linear", "innerProduct") and w and len(w) == 2:
        return 2.0 * out_elems * (w[1] or 1)
    if t in ("matmul", "batchedMatmul", "einsum"):
        x = in_tensors[0] if in_tensors else None
        if x is not None and x.shape:
            k_axis = -2 if op.attrs.get("transpose_x") else -1
            depth = x.shape[k_axis] if len(x.shape) >= 2 or k_axis == -1 else 1
            return 2.0 * out_elems * (depth or 1)
        return 2.0 * out_elems
    if t == "scaled_dot_product_attention" and len(in_tensors) >= 2:
        q, key = in_tensors[0], in_tensors[1]
        if q is not None and key is not None and q.shape and key.shape:
            # key is (..., L_k, E); a key of rank 1 (an invalid model) counts one key position,
            # as a rank-1 matmul operand counts depth 1, instead of failing the whole profile
            lk = (key.shape[-2] if len(key.shape) >= 2 else 1) or 1
            return 4.0 * elements(q.shape) * lk
    if t in RECURRENT_GATES:
        # every step multiplies the input and the hidden state by each gate's weights: 2 FLOPs
        # per weight element per step of each sequence (the gates' elementwise work is small).
        # Steps x batch are the input's first two axes (MIL (S, B, I); NeuralNetwork rank-5
        # (S, B, C, 1, 1)); an NN input declared as (C,) or (C, H, W) carries no sequence (it is
        # set at run time) and an unknown length counts one step: the op is then `unsized`.
        x = in_tensors[0] if in_tensors else None
        nn = "outputVectorSize" in op.attrs
        steps = 1
        if x is not None and x.shape and (not nn or len(x.shape) == 5):
            steps = elements(x.shape[:2])
        return 2.0 * steps * recurrent_weight_elements(op, in_tensors)
    return float(out_elems * _ELEMENTWISE_FLOPS.get(t, 1))


# Gate count of each recurrent layer (NeuralNetwork names and MIL names).
RECURRENT_GATES = {
    "lstm": 4,
    "uniDirectionalLSTM": 4,
    "biDirectionalLSTM": 4,
    "gru": 3,
    "rnn": 1,
    "simpleRecurrent": 1,
}


def recurrent_weight_elements(op: Op, in_tensors: Sequence[TensorInfo | None]) -> int:
    """Weight elements one step of a recurrent layer multiplies by, over both directions.

    NeuralNetwork layers keep their weights inside the layer: gates x hidden x (input + hidden)
    per direction from `inputVectorSize` / `outputVectorSize`. MIL ops take them as const
    inputs (`weight_ih`, `weight_hh` and their `_back` twins), whose shapes are summed."""
    n_in, hidden = op.attrs.get("inputVectorSize"), op.attrs.get("outputVectorSize")
    if isinstance(n_in, int) and isinstance(hidden, int):
        directions = 2 if op.op_type == "biDirectionalLSTM" else 1
        return directions * RECURRENT_GATES.get(op.op_type, 0) * hidden * (n_in + hidden)
    args = op.attrs.get("args")
    if not isinstance(args, Mapping):
        return 0
    names = {n for key in _RECURRENT_WEIGHTS for n in args.get(key, ())}
    return sum(
        elements(t.shape)
        for t in in_tensors
        if t is not None and t.name in names and t.shape is not None
    )


_RECURRENT_WEIGHTS = ("weight_ih", "weight_hh", "weight_ih_back", "weight_hh_back")
