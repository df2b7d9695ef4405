"""NeuralNetwork models (plain, classifier or regressor): every layer becomes an `Op`.

An op's ``op_type`` is the layer's oneof name (``"convolution"``, ``"innerProduct"``, ...) and its
scalar parameters are copied into ``attrs`` (`_nn_params`). NeuralNetwork specs declare no compute
dtype (Core ML runs them in fp32 on the CPU and fp16 on the GPU/ANE), so layer outputs are
recorded as ``"fp32"`` with ``attrs["nn_precision_unknown"] = True``. ``branch`` / ``loop`` bodies
are flattened like ML Program blocks, with block names taken from the proto fields
(``"ifBranch"``, ``"elseBranch"``, ``"conditionNetwork"``, ``"bodyNetwork"``).

Shapes: `nn_shapes.NNShaper` infers each layer's output shapes from the model description and
the layer parameters (declared ``outputTensor`` shapes fill what it cannot tell), as the layers
are walked, on the spec's own blob names: its table holds the current version of each name, as
the reader of a rewritten blob sees it. `add_neural_network` then renames rewritten blobs so
that every tensor name is unique; the shapes travel with the renamed tensors. Function inputs
get the shape of the blob the network reads (``[1, 1, C, H, W]`` in rank-5 mode, the default
shape of a flexible input).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .builder import Frame, GraphBuilder
from .graph import Op, Shape, TensorInfo
from .interface import feature_info
from .limits import MAX_CONST_ELEMENTS, MAX_NESTING
from .nn_shapes import NNShaper
from .proto import Model_pb2, NeuralNetwork_pb2

__all__ = ["NN_TYPES", "add_neural_network"]

NN_TYPES = frozenset({"neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"})


def add_neural_network(builder: GraphBuilder, spec: Model_pb2.Model, *, function: str) -> None:
    """Add the layers of NeuralNetwork `spec` (any of `NN_TYPES`) as ops of `function`."""
    builder.add_function(function)
    nn = getattr(spec, spec.WhichOneof("Type") or "neuralNetwork")
    shaper = NNShaper.for_network(nn, spec.description.input)
    for feature in spec.description.input:
        info = feature_info(feature, interface=False)
        blob = shaper.shape(feature.name)
        builder.function_inputs[(function, feature.name)] = (
            info if blob is None else replace(info, shape=blob)
        )
    start = len(builder.ops)
    builder.check_op_count(len(nn.layers))
    stack = [Frame(iter(nn.layers), (), None, 0)]
    while stack:
        frame = stack[-1]
        layer = next(frame.ops, None)
        if layer is None:
            stack.pop()
            continue
        builder.check_op_count()
        index = len(builder.ops)
        op = _nn_op(layer, index, function, frame, shaper.visit(layer, nested=frame.depth > 0))
        builder.ops.append(op)
        subs = _nn_subnetworks(layer)
        if subs:
            if frame.depth + 1 > MAX_NESTING:
                raise builder.fail(f"layers nested deeper than {MAX_NESTING} levels")
            for block_name, sub in reversed(subs):
                builder.check_op_count(len(sub.layers))
                stack.append(
                    Frame(
                        iter(sub.layers),
                        (*frame.path, op.name, block_name),
                        index,
                        frame.depth + 1,
                    )
                )
    _rename_rewritten_blobs(builder, start)


def _rename_rewritten_blobs(builder: GraphBuilder, start: int) -> None:
    """Give every NN blob version its own name, so that edges stay right.

    NeuralNetwork layers may write a blob name that already exists (in-place activations
    from Caffe-era converters, ``copy`` layers in loops). Graph keys tensors by name, so each
    overwritten version is renamed ``"<name>@<k>"`` (k = 0, 1, ... in execution order); the
    last version keeps the original name so that model outputs still match. Readers see the
    version current at their position. ``attrs["renamed_outputs"]`` maps new to old names.
    """
    ops = builder.ops[start:]
    counts: dict[str, int] = {}
    for op in ops:
        for t in op.outputs:
            counts[t.name] = counts.get(t.name, 0) + 1
    if all(c == 1 for c in counts.values()):
        return
    written: dict[str, int] = {}
    current: dict[str, str] = {}
    for i, op in enumerate(ops):
        inputs = tuple(dict.fromkeys(current.get(n, n) for n in op.inputs))
        outputs: list[TensorInfo] = []
        renamed: dict[str, str] = {}
        for t in op.outputs:
            total = counts[t.name]
            if total > 1:
                k = written.get(t.name, 0)
                written[t.name] = k + 1
                new = t.name if k == total - 1 else f"{t.name}@{k}"
                current[t.name] = new
                if new != t.name:
                    renamed[new] = t.name
                    t = replace(t, name=new)
            outputs.append(t)
        if renamed or inputs != op.inputs:
            attrs = dict(op.attrs)
            if renamed:
                attrs["renamed_outputs"] = renamed
            builder.ops[start + i] = replace(
                op,
                name=outputs[0].name if outputs else op.name,
                inputs=inputs,
                outputs=tuple(outputs),
                attrs=attrs,
            )


def _nn_op(
    layer: NeuralNetwork_pb2.NeuralNetworkLayer,
    index: int,
    function: str,
    frame: Frame,
    shapes: list[Shape | None],
) -> Op:
    """One layer as an op; `shapes` are its output shapes (`NNShaper.visit`), by position."""
    kind = layer.WhichOneof("layer") or "unknown"
    attrs: dict[str, Any] = {"layer_name": layer.name, "nn_precision_unknown": True}
    if kind != "unknown":
        _nn_params(getattr(layer, kind), attrs)
    if kind == "convolution" and len(layer.convolution.kernelSize) == 2:
        c = layer.convolution
        attrs["weight_shape"] = (
            int(c.outputChannels),
            int(c.kernelChannels),
            *(int(k) for k in c.kernelSize),
        )
    elif kind == "innerProduct":
        ip = layer.innerProduct
        attrs["weight_shape"] = (int(ip.outputChannels), int(ip.inputChannels))
    outputs = tuple(
        TensorInfo(n, shapes[i] if i < len(shapes) else None, "fp32")
        for i, n in enumerate(layer.output)
    )
    inputs = tuple(dict.fromkeys(layer.input))  # de-duplicated, order kept
    return Op(
        index=index,
        name=outputs[0].name if outputs else (layer.name or f"{kind}_{index}"),
        op_type=kind,
        function=function,
        inputs=inputs,
        outputs=outputs,
        attrs=attrs,
        block=frame.path,
        parent=frame.parent,
    )


def _nn_subnetworks(
    layer: NeuralNetwork_pb2.NeuralNetworkLayer,
) -> list[tuple[str, NeuralNetwork_pb2.NeuralNetwork]]:
    kind = layer.WhichOneof("layer")
    if kind == "branch":
        names = ("ifBranch", "elseBranch")
        params: Any = layer.branch
    elif kind == "loop":
        names = ("conditionNetwork", "bodyNetwork")
        params = layer.loop
    else:
        return []
    return [(n, getattr(params, n)) for n in names if params.HasField(n)]


def _nn_params(msg: Any, attrs: dict[str, Any], *, depth: int = 0) -> None:
    """Copy a NN layer's scalar parameters into attrs under their proto names.

    Enums become their value names ("MAX"), repeated scalars tuples (when small), a chosen oneof
    member is recorded as ``attrs[<oneof name>] = <member>`` and its own scalars are copied too
    (one level deep: e.g. activation's ``NonlinearityType`` and ``alpha``). Weight messages and
    sub-networks are skipped: weights are never read.
    """
    for fd in msg.DESCRIPTOR.fields:
        oneof = fd.containing_oneof
        if fd.message_type is not None:
            if fd.message_type.name in ("WeightParams", "NeuralNetwork"):
                continue
            repeated = _is_repeated(fd)
            if repeated or not msg.HasField(fd.name):
                continue
            if oneof is not None:
                attrs.setdefault(oneof.name, fd.name)
            if depth < 1:
                sub: dict[str, Any] = {}
                _nn_params(getattr(msg, fd.name), sub, depth=depth + 1)
                for k, v in sub.items():
                    attrs.setdefault(k, v)
            continue
        value = getattr(msg, fd.name)
        if _is_repeated(fd):
            if len(value) > MAX_CONST_ELEMENTS:
                continue
            items = list(value)
            if fd.enum_type is not None:
                items = [_enum_name(fd, v) for v in items]
            attrs.setdefault(fd.name, tuple(items))
        elif oneof is not None and not msg.HasField(fd.name):
            continue
        elif fd.enum_type is not None:
            attrs.setdefault(fd.name, _enum_name(fd, value))
        elif isinstance(value, bytes):
            continue
        else:
            attrs.setdefault(fd.name, value)


def _is_repeated(fd: Any) -> bool:
    # protobuf >= 5 has `is_repeated`; older versions only `label`.
    is_rep = getattr(fd, "is_repeated", None)
    if is_rep is not None:
        return bool(is_rep)
    return bool(fd.label == fd.LABEL_REPEATED)


def _enum_name(fd: Any, number: int) -> str | int:
    value = fd.enum_type.values_by_number.get(number)
    return value.name if value is not None else int(number)
