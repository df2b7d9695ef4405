"""Pipelines (``pipeline``, ``pipelineClassifier``, ``pipelineRegressor``): every stage is
flattened in order into the one graph.

A stage is labelled ``"<index>:<name>"`` where the name comes from ``pipeline.names`` when set,
else the stage's model type (``"0:neuralNetwork"``, ``"1:treeEnsembleClassifier"``).
NeuralNetwork stages and non-neural stages use the label as their function name; ML Program
stages use ``"<label>/<function>"``; nested pipelines prefix their stages with ``"<label>/"``.
Core ML names a stage ``pipeline.names[i]``, or ``"model<i>"`` when the pipeline gives no names
(docs/evidence.md#plan.pipeline_stage_names); `Graph.stage_names` keeps that name for each
label, so that a compute plan's stages find their ops.
Non-neural stages (tree ensembles, GLMs, feature vectorizers, ...) become one `Op` each whose
``op_type`` is the model type; Core ML runs them on the CPU.
"""

from __future__ import annotations

from .builder import GraphBuilder, too_many
from .graph import Op
from .interface import check_description, feature_info
from .limits import MAX_NESTING, MAX_PIPELINE_STAGES
from .mlprogram import add_ml_program
from .neuralnetwork import NN_TYPES, add_neural_network
from .proto import Model_pb2

__all__ = ["PIPELINE_TYPES", "add_pipeline"]

PIPELINE_TYPES = frozenset({"pipeline", "pipelineClassifier", "pipelineRegressor"})


def add_pipeline(
    builder: GraphBuilder,
    spec: Model_pb2.Model,
    *,
    prefix: str,
    depth: int,
    coreml_path: tuple[str, ...] = (),
) -> None:
    """Add every stage of pipeline `spec` (any of `PIPELINE_TYPES`), nested `depth` deep;
    `coreml_path` is Core ML's names of the enclosing stages."""
    if depth > MAX_NESTING:
        raise builder.fail(f"pipelines nested deeper than {MAX_NESTING} levels")
    kind = spec.WhichOneof("Type")
    pipeline = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
    if len(pipeline.models) > MAX_PIPELINE_STAGES:
        raise builder.fail(
            too_many("stages", MAX_PIPELINE_STAGES, count=len(pipeline.models), where="pipeline")
        )
    names = list(pipeline.names)
    for i, stage in enumerate(pipeline.models):
        check_description(stage.description, builder.label)
        stage_type = stage.WhichOneof("Type") or "unknown"
        given = names[i] if i < len(names) and names[i] else stage_type
        label = f"{prefix}{i}:{given}"
        # Model.proto: "If not supplied it defaults to ["model0",..., "model"(models.size()-1)]"
        coreml_name = names[i] if i < len(names) else f"model{i}"
        path = (*coreml_path, coreml_name)
        builder.stage_names[label] = path
        if stage_type == "mlProgram":
            add_ml_program(builder, stage, prefix=label + "/")
        elif stage_type in NN_TYPES:
            add_neural_network(builder, stage, function=label)
        elif stage_type in PIPELINE_TYPES:
            add_pipeline(builder, stage, prefix=label + "/", depth=depth + 1, coreml_path=path)
        else:
            _add_opaque_stage(builder, stage, stage_type, label)


def _add_opaque_stage(
    builder: GraphBuilder, stage: Model_pb2.Model, stage_type: str, function: str
) -> None:
    """A non-neural pipeline stage (tree ensemble, GLM, ...) as one op (run on the CPU)."""
    builder.add_function(function)
    ins = [feature_info(f, interface=True) for f in stage.description.input]
    for t in ins:
        builder.function_inputs[(function, t.name)] = t
    outputs = tuple(feature_info(f, interface=True) for f in stage.description.output)
    builder.check_op_count()
    index = len(builder.ops)
    builder.ops.append(
        Op(
            index=index,
            name=outputs[0].name if outputs else f"{stage_type}_{index}",
            op_type=stage_type,
            function=function,
            inputs=tuple(t.name for t in ins),
            outputs=outputs,
            attrs={"pipeline_stage": function},
        )
    )
