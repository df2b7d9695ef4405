"""A test double of coremltools' native module `coremltools.libcoremlpython`.

It follows coremltools 9.0's `coremlpython/CoreMLPython.mm` (apple/coremltools; the facts used are
listed in docs/evidence.md, "Live backend"): the same classes and methods, the same Python objects
built from coremltools' own `compute_plan` / `compute_device` / `model` modules, the same errors
(`RuntimeError` from `Utils::handleError`). What Core ML itself would decide (devices, costs) comes
from a scenario file, so a test can assert every op's device against it.

Installed only by `sitecustomize.py` beside it, in processes a test starts with `COREML_SIM=1`.

Scenario (JSON, path in `COREML_SIM_SCENARIO`; every key optional):
  devices: {op output name or layer name, or "function/name": {"preferred": "gpu",
      "supported": ["cpu", "gpu"]}}
      (default: supported everywhere; preferred the Neural Engine, else GPU, else CPU, of what
      the compute units allow)
  unsupported_ops: op types the compiler refuses
  max_spec_version: newest specification version this "Core ML" reads (default 9: macOS 15)
  planned_functions: "default" (only the function loaded, i.e. the model's default, gets device
      usage: coremltools passes no function name to the plan) or "all"
  crash: "compile" | "load" | "predict" | "plan": die with SIGSEGV there
  hang: same stages: sleep there (the parent's timeout must kill it)
  ane_cores: the Neural Engine's core count (default 16)
  log: a file the double appends one line per native call to (what was called, with what)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from typing import Any

_DEVICES = ("neuralEngine", "gpu", "cpu")  # preference order of the default plan
_ALLOWED = {
    "CPU_ONLY": ("cpu",),
    "CPU_AND_GPU": ("gpu", "cpu"),
    "CPU_AND_NE": ("neuralEngine", "cpu"),
    "ALL": ("neuralEngine", "gpu", "cpu"),
}
_SPELLING = {"ane": "neuralEngine", "neuralengine": "neuralEngine", "gpu": "gpu", "cpu": "cpu"}
_SPEC_FILE = "sim_spec.pb"  # what our "compiler" writes into the .mlmodelc


def _scenario() -> dict[str, Any]:
    path = os.environ.get("COREML_SIM_SCENARIO")
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _log(*what: Any) -> None:
    path = _scenario().get("log")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps([str(w) for w in what]) + "\n")


def _stage(stage: str) -> None:
    """Scripted crash or hang at `stage`."""
    sc = _scenario()
    if sc.get("crash") == stage:
        os.kill(os.getpid(), signal.SIGSEGV)
    if sc.get("hang") == stage:
        time.sleep(3600)


def _ns_error(message: str) -> RuntimeError:
    # Utils::handleError formats the NSError's userInfo dictionary (CoreMLPythonUtils.mm)
    return RuntimeError(f'{{\n    NSLocalizedDescription = "{message}";\n}}')


def _load_spec(path: str) -> Any:
    from coremltools.proto import Model_pb2

    if path.rstrip("/").endswith(".mlmodelc"):
        spec = Model_pb2.Model()
        with open(os.path.join(path, _SPEC_FILE), "rb") as f:
            spec.ParseFromString(f.read())
        return spec
    from coremltools.models.utils import load_spec

    return load_spec(path)


def _all_specs(spec: Any) -> list[Any]:
    """The spec and every pipeline stage in it."""
    out = [spec]
    kind = spec.WhichOneof("Type")
    if kind in ("pipeline", "pipelineClassifier", "pipelineRegressor"):
        pipe = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
        for model in pipe.models:
            out += _all_specs(model)
    return out


def _program_ops(block: Any) -> list[Any]:
    ops = []
    for op in block.operations:
        ops.append(op)
        for inner in op.blocks:
            ops += _program_ops(inner)
    return ops


def _op_types(spec: Any) -> list[str]:
    types = []
    for s in _all_specs(spec):
        if s.WhichOneof("Type") == "mlProgram":
            for fn in s.mlProgram.functions.values():
                types += [op.type for op in _program_ops(fn.block_specializations[fn.opset])]
        else:
            types += [layer.WhichOneof("layer") for layer in _nn_layers(s)]
    return types


def _nn_layers(spec: Any) -> list[Any]:
    kind = spec.WhichOneof("Type")
    if kind in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
        return list(getattr(spec, kind).layers)
    return []


def _compile(source: str, destination: str) -> str:
    """MLModel compileModelAtURL: validate, then write an .mlmodelc folder."""
    _log("compileModel", source)
    _stage("compile")
    try:
        spec = _load_spec(source)
    except Exception as exc:  # noqa: BLE001 - Core ML reports any unreadable model this way
        raise _ns_error(f"Failed to read the model at {source}: {exc}") from None
    newest = int(_scenario().get("max_spec_version", 9))
    if spec.specificationVersion > newest:
        raise _ns_error(
            f"The model specification version {spec.specificationVersion} is newer than this "
            f"Core ML reads ({newest})"
        )
    refused = set(_scenario().get("unsupported_ops", ()))
    for op_type in _op_types(spec):
        if op_type in refused:
            raise _ns_error(f"Failed to compile the model: unsupported operation '{op_type}'")
    os.makedirs(destination, exist_ok=False)
    with open(os.path.join(destination, _SPEC_FILE), "wb") as f:
        f.write(spec.SerializeToString())
    return destination


def _functions(spec: Any) -> dict[str, Any]:
    """name -> FunctionDescription-like (input, output, state) of the model."""
    desc = spec.description
    if len(desc.functions):
        return {fn.name: fn for fn in desc.functions}
    return {"main": desc}


def _default_function(spec: Any) -> str:
    desc = spec.description
    if len(desc.functions):
        return desc.defaultFunctionName or desc.functions[0].name
    return "main"


class _State:
    """MLState: one buffer per state feature of the loaded function."""

    def __init__(self, features: Any) -> None:
        import numpy as np

        self._buffers = {}
        for feature in features:
            array = feature.type.stateType.arrayType
            self._buffers[feature.name] = np.zeros([int(d) for d in array.shape], np.float32)

    def read_state(self, name: str) -> Any:
        if name not in self._buffers:
            raise RuntimeError(f"No state named {name}")  # NSException reason, rethrown
        return self._buffers[name].copy()

    def write_state(self, name: str, value: Any) -> None:
        if name not in self._buffers:
            raise RuntimeError(f"No state named {name}")
        self._buffers[name][...] = value


_NUMPY = {"FLOAT32": "float32", "FLOAT16": "float32", "DOUBLE": "float64", "INT32": "int32"}


def _output_value(feature: Any) -> Any:
    import numpy as np

    kind = feature.type.WhichOneof("Type")
    if kind == "multiArrayType":
        array = feature.type.multiArrayType
        shape = [int(d) for d in array.shape]
        if not shape and array.WhichOneof("ShapeFlexibility") == "shapeRange":
            shape = [max(1, int(r.lowerBound)) for r in array.shapeRange.sizeRanges]
        # fp16 outputs come back as fp32 (CoreMLPythonUtils.mm, convertArrayValueToPython)
        dtype = _NUMPY.get(array.ArrayDataType.Name(array.dataType), "float32")
        return np.zeros(shape or [1], dtype)
    if kind == "doubleType":
        return 0.0
    if kind == "int64Type":
        return 0
    if kind == "stringType":
        return ""
    if kind == "dictionaryType":
        return {}
    return None


class _MLModelProxy:
    """CoreML::Python::Model."""

    def __init__(
        self,
        url: str,
        compute_units: str,
        function_name: str,
        optimization_hints: dict[str, str],
        asset: Any = None,
    ) -> None:
        _log("load", url, compute_units, function_name)
        self._delete = None
        if asset is not None:
            raise RuntimeError("MLModelAsset loading is not simulated")
        if url.rstrip("/").endswith(".mlmodelc"):  # Utils::isCompiledModelPath
            compiled = url
        else:  # the model is compiled first and the result deleted with the proxy
            compiled = _compile(url, tempfile.mkdtemp(suffix=".mlmodelc"))
            self._delete = compiled
        if compute_units not in _ALLOWED:
            raise AssertionError(compute_units)  # setComputeUnit asserts "ALL" in the else branch
        start = time.perf_counter_ns()
        _stage("load")
        self._path = compiled
        self._spec = _load_spec(compiled)
        functions = _functions(self._spec)
        name = function_name or _default_function(self._spec)
        if name not in functions:
            raise _ns_error(f"The model has no function named '{name}'")
        self._function = functions[name]
        self._load_ns = time.perf_counter_ns() - start
        self._predict_ns: int | None = None

    def __del__(self) -> None:
        if getattr(self, "_delete", None):
            shutil.rmtree(self._delete, ignore_errors=True)

    def predict(self, data: dict[str, Any], state: _State | None = None) -> dict[str, Any]:
        import numpy as np

        _log("predict", sorted(data), state is not None)
        _stage("predict")
        start = time.perf_counter_ns()
        wanted = {f.name: f for f in self._function.input}
        for name in data:
            if name not in wanted:
                raise _ns_error(f"Feature {name} is not an input of the model")
        for name, feature in wanted.items():
            if name not in data and not feature.type.isOptional:
                raise _ns_error(f"Required input feature not passed to neural network: {name}")
            value = data.get(name)
            if isinstance(value, np.ndarray) and value.dtype == np.float16:
                # coremltools converts fp16 arrays before calling us (_update_float16_...)
                raise TypeError("float16 arrays never reach the native layer")
            if feature.type.WhichOneof("Type") == "multiArrayType" and isinstance(
                value, np.ndarray
            ):
                shape = [int(d) for d in feature.type.multiArrayType.shape]
                flexible = feature.type.multiArrayType.WhichOneof("ShapeFlexibility")
                if shape and not flexible and list(value.shape) != shape:
                    raise _ns_error(
                        f"MultiArray shape {tuple(value.shape)} does not match the shape "
                        f"{tuple(shape)} specified in the model description for {name}"
                    )
        if len(self._function.state) and state is None:
            raise _ns_error("The model is stateful: a prediction needs an MLState")
        outputs = {f.name: _output_value(f) for f in self._function.output}
        self._predict_ns = time.perf_counter_ns() - start
        return outputs

    def batchPredict(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:  # noqa: N802
        return [self.predict(item) for item in batch]

    def get_compiled_model_path(self) -> str:
        return self._path

    def get_load_duration_in_nano_seconds(self) -> int:
        return self._load_ns

    def get_last_predict_duration_in_nano_seconds(self) -> int | None:
        return self._predict_ns

    def newState(self) -> _State:  # noqa: N802
        return _State(self._function.state)

    @staticmethod
    def auto_set_specification_version(model_bytes: bytes) -> bytes:
        return model_bytes

    @staticmethod
    def maximum_supported_specification_version() -> int:
        return int(_scenario().get("max_spec_version", 9))

    @staticmethod
    def compileModel(url: str) -> str:  # noqa: N802
        # compileModelAtURL writes to a temporary folder; coremltools moves it afterwards
        return _compile(url, os.path.join(tempfile.mkdtemp(), "model.mlmodelc"))

    @staticmethod
    def create_model_asset_from_path(path: str) -> Any:
        from coremltools.models.model import MLModelAsset

        return MLModelAsset(_MLModelAssetProxy(path))

    @staticmethod
    def create_model_asset_from_memory(spec: bytes, blobs: dict[str, bytes]) -> Any:
        from coremltools.models.model import MLModelAsset

        return MLModelAsset(_MLModelAssetProxy(spec))

    @staticmethod
    def get_model_structure(path: str) -> Any:
        return _structure(_load_spec(path), None, None)

    @staticmethod
    def get_available_compute_devices() -> list[Any]:
        return _device_objects(_DEVICES)

    @staticmethod
    def get_all_compute_devices() -> list[Any]:
        return _device_objects(_DEVICES)

    @staticmethod
    def get_compute_plan(path: str, compute_units: str) -> Any:
        from coremltools.models.compute_plan import MLComputePlan

        _log("get_compute_plan", path, compute_units)
        _stage("plan")
        spec = _load_spec(path)
        usage: dict[int, Any] = {}
        structure = _structure(spec, compute_units, usage)
        return MLComputePlan(_MLComputePlanProxy(structure, usage))


class _MLCPUComputeDeviceProxy:
    pass


class _MLGPUComputeDeviceProxy:
    pass


class _MLNeuralEngineComputeDeviceProxy:
    def get_total_core_count(self) -> int:
        return int(_scenario().get("ane_cores", 16))


class _MLModelStructureProgramOperationProxy:
    pass


class _MLModelStructureNeuralNetworkLayerProxy:
    pass


class _MLModelAssetProxy:
    def __init__(self, source: Any = None) -> None:
        self.source = source


def _device_objects(names: tuple[str, ...] | list[str]) -> list[Any]:
    from coremltools.models import compute_device as cd

    make = {
        "cpu": lambda: cd.MLCPUComputeDevice(_MLCPUComputeDeviceProxy()),
        "gpu": lambda: cd.MLGPUComputeDevice(_MLGPUComputeDeviceProxy()),
        "neuralEngine": lambda: cd.MLNeuralEngineComputeDevice(_MLNeuralEngineComputeDeviceProxy()),
    }
    return [make[n]() for n in names]


def _plan_row(
    name: str, op_type: str, compute_units: str, function: str = ""
) -> tuple[Any, bool] | None:
    """(device usage, costed) the scenario gives op `name` under `compute_units`; None for
    consts (Core ML gives them no usage)."""
    from coremltools.models.compute_plan import MLComputePlanDeviceUsage

    if op_type == "const":
        return None
    allowed = _ALLOWED[compute_units]
    table = _scenario().get("devices", {})
    row = table.get(f"{function}/{name}", table.get(name, {}))
    supported = [_SPELLING[s.lower()] for s in row.get("supported", _DEVICES)]
    usable = [d for d in _DEVICES if d in supported and d in allowed] or ["cpu"]
    preferred = _SPELLING[row["preferred"].lower()] if "preferred" in row else usable[0]
    if preferred not in usable:
        preferred = usable[0]
    return MLComputePlanDeviceUsage(
        _device_objects([preferred])[0], _device_objects([d for d in _DEVICES if d in usable])
    ), True


class _MLComputePlanProxy:
    """CoreML::Python::ComputePlan: usage is looked up by the structure node's proxy."""

    def __init__(self, structure: Any = None, usage: dict[int, Any] | None = None) -> None:
        self._structure = structure
        self._usage = usage or {}

    @property
    def model_structure(self) -> Any:
        return self._structure

    def get_compute_device_usage_for_mlprogram_operation(self, operation: Any) -> Any:
        return self._usage.get(id(operation.__proxy__), (None, None))[0]

    def get_compute_device_usage_for_neuralnetwork_layer(self, layer: Any) -> Any:
        return self._usage.get(id(layer.__proxy__), (None, None))[0]

    def get_estimated_cost_for_mlprogram_operation(self, operation: Any) -> Any:
        return self._usage.get(id(operation.__proxy__), (None, None))[1]


def _structure(spec: Any, compute_units: str | None, usage: dict[int, Any] | None) -> Any:
    """MLModelStructure of `spec` (toPythonObject(MLModelStructure *)); with compute units,
    also fill `usage` (proxy id -> (usage, cost)) the way the scenario plans it."""
    from coremltools.models import compute_plan as cp

    kind = spec.WhichOneof("Type")
    if kind == "mlProgram":
        planned = _scenario().get("planned_functions", "default")
        default = _default_function(spec)
        functions = {}
        costed: list[Any] = []
        for fname, fn in spec.mlProgram.functions.items():
            plan_it = compute_units is not None and (planned == "all" or fname == default)
            block = _block(
                fname,
                fn.block_specializations[fn.opset],
                compute_units if plan_it else None,
                usage,
                costed,
            )
            inputs = [
                cp.MLModelStructureProgramNamedValueType(
                    i.name, cp.MLModelStructureProgramValueType()
                )
                for i in fn.inputs
            ]
            functions[fname] = cp.MLModelStructureProgramFunction(inputs, block)
        if usage is not None:
            from coremltools.models.compute_plan import MLComputePlanCost

            for key in costed:
                usage[key] = (usage[key][0], MLComputePlanCost(1.0 / len(costed)))
        return cp.MLModelStructure(None, cp.MLModelStructureProgram(functions), None)
    if kind in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
        layers = []
        for layer in _nn_layers(spec):
            proxy = _MLModelStructureNeuralNetworkLayerProxy()
            node = cp.MLModelStructureNeuralNetworkLayer(
                layer.name, layer.WhichOneof("layer"), list(layer.input), list(layer.output), proxy
            )
            if compute_units is not None and usage is not None:
                row = _plan_row(layer.name, layer.WhichOneof("layer"), compute_units)
                if row is not None:
                    usage[id(proxy)] = (row[0], None)  # Core ML costs ML Program ops only
            layers.append(node)
        return cp.MLModelStructure(cp.MLModelStructureNeuralNetwork(layers), None, None)
    if kind in ("pipeline", "pipelineClassifier", "pipelineRegressor"):
        pipe = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
        names = list(pipe.names)
        subs = []
        for index, model in enumerate(pipe.models):
            name = names[index] if index < len(names) and names[index] else f"model{index}"
            subs.append((name, _structure(model, compute_units, usage)))
        return cp.MLModelStructure(None, None, cp.MLModelStructurePipeline(subs))
    return cp.MLModelStructure(None, None, None)


def _block(
    function: str,
    block: Any,
    compute_units: str | None,
    usage: dict[int, Any] | None,
    costed: list[Any],
) -> Any:
    from coremltools.models import compute_plan as cp

    operations = []
    for op in block.operations:
        proxy = _MLModelStructureProgramOperationProxy()
        inputs = {
            name: cp.MLModelStructureProgramArgument(
                [
                    cp.MLModelStructureProgramBinding(
                        b.name or None, None if b.name else cp.MLModelStructureProgramValue()
                    )
                    for b in arg.arguments
                ]
            )
            for name, arg in op.inputs.items()
        }
        outputs = [
            cp.MLModelStructureProgramNamedValueType(o.name, cp.MLModelStructureProgramValueType())
            for o in op.outputs
        ]
        blocks = [_block(function, b, compute_units, usage, costed) for b in op.blocks]
        operations.append(
            cp.MLModelStructureProgramOperation(inputs, op.type, outputs, blocks, proxy)
        )
        if compute_units is not None and usage is not None:
            name = op.outputs[0].name if op.outputs else ""
            row = _plan_row(name, op.type, compute_units, function)
            if row is not None:
                usage[id(proxy)] = (row[0], None)
                costed.append(id(proxy))
    inputs = [
        cp.MLModelStructureProgramNamedValueType(i.name, cp.MLModelStructureProgramValueType())
        for i in block.inputs
    ]
    return cp.MLModelStructureProgramBlock(inputs, operations, list(block.outputs))


def _named(name: str) -> Any:
    from coremltools.models import compute_plan as cp

    return cp.MLModelStructureProgramNamedValueType(name, cp.MLModelStructureProgramValueType())


def stubborn() -> None:
    """A child that ignores SIGTERM and never ends (for run_isolated's last resort, SIGKILL)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(3600)
