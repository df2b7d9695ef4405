"""How the rule table and the ANE-capable groups cite their evidence.

Every source string is `cite(anchor, primary, ...)`: the section of the project's evidence
document (`docs/evidence.md`) that holds the evidence, then the primary sources, in the short
forms below (`src.NAME` where cited) so that each is spelt the same way everywhere. A module
of its own because both `table.py` and `vocab.py` cite, and `table.py` imports `vocab.py`.
"""

from __future__ import annotations

EVIDENCE_DOC = "docs/evidence.md"


def cite(anchor: str, *sources: str) -> str:
    """`docs/evidence.md#<anchor>; <source>; ...`"""
    return "; ".join((f"{EVIDENCE_DOC}#{anchor}", *sources))


TYPED_EXEC = "apple/coremltools:docs-guides/source/typed-execution.md"
FREEDOMTAN = "freedomtan/coreml_modelc_profling:without_compute_plan_2.csv"
VX435 = "vx-lang/Vx#435"
VX437 = "vx-lang/Vx#437"
ANEMLL_PROF = "Anemll/Anemll:anemll/utils/ANE_PROFILER.md"
GUIDE_A = "sbryngelson/ane-guide:appendices/a-op-device-matrix.md"
GUIDE_4 = "sbryngelson/ane-guide:part-1-machine/04-capability-surface.md"
GUIDE_17 = "sbryngelson/ane-guide:part-5-practice/17-model-design-rules.md"
GUIDE_18 = "sbryngelson/ane-guide:part-5-practice/18-optimization-cost-model.md"
COREAI_RULES = "apple/coreai-models:skills/skills/model-authoring/references/neural_engine_rules.md"
MOBIUS_MEL = (
    "FluidInference/mobius:models/stt/parakeet-tdt-v2-0.6b/coreml/context/"
    "mel_encoder_ane_behavior.md"
)
SMPANARO = "smpanaro/more-ane-transformers:src/experiments/NOTES.md"
CT2631 = "apple/coremltools#2631"
FORUM_724930 = "https://developer.apple.com/forums/thread/724930"
FAQS = "apple/coremltools:docs-guides/source/faqs.md"
CT1909 = "apple/coremltools#1909"
HOLLANCE = "hollance/neural-engine:docs/unsupported-layers.md"
HOLLANCE2 = "hollance/neural-engine#2"
CT1196 = "apple/coremltools#1196"
CT1780 = "apple/coremltools#1780"
CT337 = "apple/coremltools#337"
FLUID_CAND = "FluidInference/FluidAudio:Documentation/ANE_Candidates.md"
CT1278 = "apple/coremltools#1278"
RFDETR = "roboflow/rf-detr#1495"
INSPECT = "smpanaro/CoreMLInspect:README.md"
ANE_TRANSFORMERS = "apple/ml-ane-transformers:README.md"
APPLE_ARTICLE = "https://machinelearning.apple.com/research/neural-engine-transformers"
VOXCPM = "0seba/VoxCPMANE#15"
QUANT_PERF = "apple/coremltools:docs-guides/source/opt-quantization-perf.md"
YOLOV5_2526 = "ultralytics/yolov5#2526"
