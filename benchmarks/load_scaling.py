"""Does the model loader scale linearly? Time `graph_from_spec` on specs with 10k and 100k items.

    python benchmarks/load_scaling.py                  # 10k vs 100k, best of 3
    python benchmarks/load_scaling.py --small 1000 --large 10000 --repeat 1

Each case is a protobuf built directly with `coremltools.proto` (no converter: seconds, not
minutes), serialized and parsed back as a file would be, then loaded in this one process, small
and large size back to back, and timed in CPU seconds (`time_load` says why). Prints a Markdown
table with the time per item and the ratio of the large to the small time: linear work gives a
ratio near large / small (10x), the target is at most 15x (GitHub issue 13: registering 100k
functions used to take ~90 s, a 50k-stage pipeline 60-90 s, because every new function was
looked up in a list). Exits 1 when a case misses the target, so it can be scripted; it is not
part of the test suite (no timings in unit tests).

Cases:

* ``functions (described)``: an ML program with N one-op functions, all listed in
  ``description.functions`` (as coremltools writes multifunction models);
* ``functions (undescribed)``: the same without the description (ordered by name);
* ``stages (NeuralNetwork)``: a pipeline of N one-layer NeuralNetwork stages;
* ``stages (ML program)``: a pipeline of N one-op ML program stages;
* ``ops (one function)``: one function of N chained ops, for reference.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

from coremltools.proto import MIL_pb2, Model_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout first

from ane_notebook.model.load import graph_from_spec  # noqa: E402

TARGET_RATIO = 15.0


def _tensor(vt: MIL_pb2.ValueType) -> None:
    tt = vt.tensorType
    tt.dataType = MIL_pb2.FLOAT16
    tt.rank = 2
    for d in (1, 8):
        tt.dimensions.add().constant.size = d


def _one_op_function(n_ops: int = 1) -> MIL_pb2.Function:
    fn = MIL_pb2.Function()
    fn.opset = "CoreML7"
    inp = fn.inputs.add()
    inp.name = "x"
    _tensor(inp.type)
    block = fn.block_specializations["CoreML7"]
    prev = "x"
    for i in range(n_ops):
        op = block.operations.add()
        op.type = "relu"
        op.inputs["x"].arguments.add().name = prev
        out = op.outputs.add()
        out.name = prev = f"r{i}"
        _tensor(out.type)
    block.outputs.append(prev)
    return fn


def _ml_program(n_functions: int, *, described: bool) -> Model_pb2.Model:
    spec = Model_pb2.Model()
    spec.specificationVersion = 8
    template = _one_op_function()
    for i in range(n_functions):
        spec.mlProgram.functions[f"f{i}"].CopyFrom(template)
        if described:
            spec.description.functions.add().name = f"f{i}"
    if described:
        spec.description.defaultFunctionName = "f0"
    return spec


def _nn_stage() -> Model_pb2.Model:
    stage = Model_pb2.Model()
    stage.specificationVersion = 4
    for feature, name in (
        (stage.description.input.add(), "x"),
        (stage.description.output.add(), "y"),
    ):
        feature.name = name
        feature.type.multiArrayType.shape.extend([1, 8])
    layer = stage.neuralNetwork.layers.add()
    layer.name = "relu"
    layer.activation.ReLU.SetInParent()
    layer.input.append("x")
    layer.output.append("y")
    return stage


def _mlprogram_stage() -> Model_pb2.Model:
    stage = Model_pb2.Model()
    stage.specificationVersion = 8
    stage.mlProgram.functions["main"].CopyFrom(_one_op_function())
    return stage


def _pipeline(n_stages: int, stage: Model_pb2.Model) -> Model_pb2.Model:
    spec = Model_pb2.Model()
    spec.specificationVersion = 8
    models = spec.pipeline.models
    for _ in range(n_stages):
        models.add().CopyFrom(stage)
    return spec


def _chain(n_ops: int) -> Model_pb2.Model:
    spec = Model_pb2.Model()
    spec.specificationVersion = 8
    spec.mlProgram.functions["main"].CopyFrom(_one_op_function(n_ops))
    return spec


CASES: dict[str, Callable[[int], Model_pb2.Model]] = {
    "functions (described)": lambda n: _ml_program(n, described=True),
    "functions (undescribed)": lambda n: _ml_program(n, described=False),
    "stages (NeuralNetwork)": lambda n: _pipeline(n, _nn_stage()),
    "stages (ML program)": lambda n: _pipeline(n, _mlprogram_stage()),
    "ops (one function)": _chain,
}


def time_load(spec: Model_pb2.Model, repeat: int) -> float:
    """Best of `repeat` `graph_from_spec` runs, in CPU seconds of this process (the graph freed
    between runs). CPU time rather than wall time: on a shared machine other jobs stretch wall
    time at random, which would make the ratio measure the neighbours, not the loader."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        graph = graph_from_spec(spec, name="bench")
        elapsed = time.process_time() - start
        best = min(best, elapsed)
        del graph
    return best


def _label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small", type=int, default=10_000, help="items in the small spec")
    parser.add_argument("--large", type=int, default=100_000, help="items in the large spec")
    parser.add_argument("--repeat", type=int, default=3, help="runs per spec; the best counts")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; choose from {', '.join(CASES)}")
    small, large = _label(args.small), _label(args.large)
    print(
        f"graph_from_spec, CPU seconds, best of {args.repeat}; "
        f"target: {large} ÷ {small} <= {TARGET_RATIO:g}x"
    )
    print()
    print(
        f"| case | {small} s | {large} s | µs per item ({small}) | µs per item ({large}) "
        f"| {large} ÷ {small} | target |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    missed = 0
    for name in names:
        times = []
        for n in (args.small, args.large):
            # Parsed back from bytes, as a spec read from a file is.
            spec = Model_pb2.Model.FromString(CASES[name](n).SerializeToString())
            times.append(time_load(spec, args.repeat))
            del spec
        ratio = times[1] / times[0] if times[0] > 0 else float("inf")
        ok = ratio <= TARGET_RATIO
        missed += not ok
        print(
            f"| {name} | {times[0]:.3f} | {times[1]:.3f} | {times[0] / args.small * 1e6:.1f} "
            f"| {times[1] / args.large * 1e6:.1f} | {ratio:.1f}x | {'met' if ok else 'MISSED'} |",
            flush=True,
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
