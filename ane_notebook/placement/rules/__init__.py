"""The support rules: which processors each Core ML op *can* run on, and why not the others.

This package answers one question per op, without Core ML: "could this op run on the Neural
Engine (ANE), the GPU, the CPU?" It is data. Every `Rule` names what it matches, which
processors it rules out, the reason a user reads (the verbatim compiler/Core ML string where one
is known), a fix, and its evidence level and source: its section of the project's evidence
document, `docs/evidence.md`. `op_support` runs the rules that apply to one op;
`support_for_graph` does it for a whole graph. *Where* each op finally runs (the cost-based
choice among the supported devices) is decided by `estimate.py`, not here: small-work effects
are deliberately not rules.

An op is ANE-capable by default when its type is in `KNOWN_OP_TYPES` and no rule fires
(`ANE_CAPABLE` gives the evidence for each such type); an op type the table does not know is
kept off the ANE by the `op.unknown` rule (GUESS). The format is the graph's ("mlprogram" /
"neuralnetwork"); in a pipeline each op keeps its own stage's format, and a non-neural stage
(tree ensemble, GLM, ...) is "non_neural", which only the `op.non_neural_stage` rule speaks for.

Modules, one job each:

* `engine.py`: `Rule`, `RuleContext`, `Finding`, `OpSupport` and running the table on ops;
* `checks.py`: the check behind each rule, and the thresholds they compare against;
* `attrs.py`: reading an op's constant attributes for the checks (None when unreadable);
* `table.py`: `RULES`, the table itself, as data, joined from `table_tensors.py` (rules about
  an op's tensors) and `table_ops.py` (rules about op types, and the fallback rows);
* `vocab.py`: op-type vocabularies and groups, and `ANE_CAPABLE`;
* `citations.py`: how the table and the groups cite `docs/evidence.md` and primary sources.
"""

from __future__ import annotations

from .checks import MAX_RANK, NC_LIMIT, SDPA_ANE_MIN_ELEMENTS, STATE_WIDTH_MULTIPLE
from .engine import (
    ALL_DEVICES,
    Details,
    Finding,
    OpSupport,
    Rule,
    RuleContext,
    op_support,
    rule_by_id,
    support_for_graph,
)
from .table import RULES
from .vocab import (
    ANE_CAPABLE,
    FORMATS,
    GATHER_TYPES,
    KNOWN_MIL_OP_TYPES,
    KNOWN_NN_LAYER_TYPES,
    KNOWN_OP_TYPES,
    MIL_OP_TYPES,
    MLPROGRAM,
    NEURAL_FORMATS,
    NEURALNETWORK,
    NN_LAYER_TYPES,
    NON_NEURAL,
)

__all__ = [
    "ALL_DEVICES",
    "ANE_CAPABLE",
    "FORMATS",
    "GATHER_TYPES",
    "KNOWN_MIL_OP_TYPES",
    "KNOWN_NN_LAYER_TYPES",
    "KNOWN_OP_TYPES",
    "MAX_RANK",
    "MIL_OP_TYPES",
    "MLPROGRAM",
    "NC_LIMIT",
    "NEURALNETWORK",
    "NEURAL_FORMATS",
    "NON_NEURAL",
    "NN_LAYER_TYPES",
    "RULES",
    "SDPA_ANE_MIN_ELEMENTS",
    "STATE_WIDTH_MULTIPLE",
    "Details",
    "Finding",
    "OpSupport",
    "Rule",
    "RuleContext",
    "op_support",
    "rule_by_id",
    "support_for_graph",
]
