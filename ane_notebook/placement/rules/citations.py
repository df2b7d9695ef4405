"""Short forms of the sources the rule table and the ANE-capable groups cite.

One name per source, so a citation is spelt the same way in every rule and group that uses it.
A module of its own because both `table.py` and `vocab.py` cite these, and `table.py` imports
`vocab.py`.
"""

from __future__ import annotations

AR = "ane-rules.md"
S_TYPED_EXEC = "apple/coremltools: docs-guides/source/typed-execution.md"
S_FREEDOMTAN = "freedomtan/coreml_modelc_profling: without_compute_plan_2.csv"
S_VX435 = "https://github.com/vx-lang/Vx/issues/435"
S_VX437 = "https://github.com/vx-lang/Vx/issues/437"
S_ANEMLL_PROF = "Anemll/Anemll: anemll/utils/ANE_PROFILER.md"
S_GUIDE_A = "sbryngelson/ane-guide: appendices/a-op-device-matrix.md"
S_GUIDE_4 = "sbryngelson/ane-guide ch.4"
S_GUIDE_17 = "sbryngelson/ane-guide ch.17"
S_GUIDE_18 = "sbryngelson/ane-guide ch.18"
S_COREAI_RULES = "apple/coreai-models: neural_engine_rules.md"
S_MOBIUS_MEL = (
    "FluidInference/mobius: models/stt/parakeet-tdt-v2-0.6b/coreml/context/"
    "mel_encoder_ane_behavior.md"
)
S_SMPANARO = "smpanaro/more-ane-transformers: src/experiments/NOTES.md"
S_ANEMLL_LLAMA = "Anemll/Anemll: anemll/models/llama_model.py"
S_CT2631 = "https://github.com/apple/coremltools/issues/2631"
S_FORUM_724930 = "https://developer.apple.com/forums/thread/724930"
S_CT1029 = "https://github.com/apple/coremltools/issues/1029"
S_FAQS = "apple/coremltools: docs-guides/source/faqs.md, flexible-inputs.md"
S_CT1909 = "https://github.com/apple/coremltools/issues/1909"
S_HOLLANCE = "hollance/neural-engine: docs/unsupported-layers.md"
S_HOLLANCE1 = "https://github.com/hollance/neural-engine/issues/1"
S_CT1196 = "https://github.com/apple/coremltools/issues/1196"
S_CT1780 = "https://github.com/apple/coremltools/issues/1780"
S_CT337 = "https://github.com/apple/coremltools/issues/337"
S_FLUID_CAND = "FluidInference/FluidAudio: Documentation/ANE_Candidates.md"
S_CT1278 = "https://github.com/apple/coremltools/issues/1278"
S_RFDETR = "https://github.com/roboflow/rf-detr/pull/1495"
S_INSPECT = "smpanaro/CoreMLInspect README"
S_ANE_TRANSFORMERS = "apple/ml-ane-transformers README"
S_APPLE_ARTICLE = "https://machinelearning.apple.com/research/neural-engine-transformers"
S_VOXCPM = "https://github.com/0seba/VoxCPMANE/issues/15"
