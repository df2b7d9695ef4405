"""How the rule table and the ANE-capable groups cite their evidence.

Every source string is `cite(anchor, primary, ...)`: the section of the project's evidence
document (`docs/evidence.md`) that holds the evidence, then the primary sources in the short
forms below, spelt the same way wherever they are cited. A module of its own because both
`table.py` and `vocab.py` cite, and `table.py` imports `vocab.py`.
"""

from __future__ import annotations

EVIDENCE_DOC = "docs/evidence.md"


def cite(anchor: str, *sources: str) -> str:
    """`docs/evidence.md#<anchor>; <source>; ...`"""
    return "; ".join((f"{EVIDENCE_DOC}#{anchor}", *sources))


S_TYPED_EXEC = "apple/coremltools:docs-guides/source/typed-execution.md"
S_FREEDOMTAN = "freedomtan/coreml_modelc_profling:without_compute_plan_2.csv"
S_VX435 = "vx-lang/Vx#435"
S_VX437 = "vx-lang/Vx#437"
S_ANEMLL_PROF = "Anemll/Anemll:anemll/utils/ANE_PROFILER.md"
S_GUIDE_A = "sbryngelson/ane-guide:appendices/a-op-device-matrix.md"
S_GUIDE_4 = "sbryngelson/ane-guide:part-1-machine/04-capability-surface.md"
S_GUIDE_17 = "sbryngelson/ane-guide:part-5-practice/17-model-design-rules.md"
S_GUIDE_18 = "sbryngelson/ane-guide:part-5-practice/18-optimization-cost-model.md"
S_COREAI_RULES = (
    "apple/coreai-models:skills/skills/model-authoring/references/neural_engine_rules.md"
)
S_MOBIUS_MEL = (
    "FluidInference/mobius:models/stt/parakeet-tdt-v2-0.6b/coreml/context/"
    "mel_encoder_ane_behavior.md"
)
S_SMPANARO = "smpanaro/more-ane-transformers:src/experiments/NOTES.md"
S_CT2631 = "apple/coremltools#2631"
S_FORUM_724930 = "https://developer.apple.com/forums/thread/724930"
S_FAQS = "apple/coremltools:docs-guides/source/faqs.md"
S_CT1909 = "apple/coremltools#1909"
S_HOLLANCE = "hollance/neural-engine:docs/unsupported-layers.md"
S_HOLLANCE2 = "hollance/neural-engine#2"
S_CT1196 = "apple/coremltools#1196"
S_CT1780 = "apple/coremltools#1780"
S_CT337 = "apple/coremltools#337"
S_FLUID_CAND = "FluidInference/FluidAudio:Documentation/ANE_Candidates.md"
S_CT1278 = "apple/coremltools#1278"
S_RFDETR = "roboflow/rf-detr#1495"
S_INSPECT = "smpanaro/CoreMLInspect:README.md"
S_ANE_TRANSFORMERS = "apple/ml-ane-transformers:README.md"
S_APPLE_ARTICLE = "https://machinelearning.apple.com/research/neural-engine-transformers"
S_VOXCPM = "0seba/VoxCPMANE#15"
S_QUANT_PERF = "apple/coremltools:docs-guides/source/opt-quantization-perf.md"
S_YOLOV5_2526 = "ultralytics/yolov5#2526"
