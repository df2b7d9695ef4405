"""The support-rules table: one `Rule` per row, as data.

Read it like a spreadsheet: each row names what it matches, which processors it rules out, the
reason a user reads (the verbatim compiler/Core ML string where one is known), a fix, and its
evidence level and source. The checks behind the rows are in `checks.py`; `engine.py` runs them.
Each row's source cites its section of `docs/evidence.md`, which says what the evidence is, what
it measured (Core ML placement, or only what the ANE can do) and how we decided where sources
disagree.

The rows live in two files by family: `table_tensors.py` (dtype, rank / extent, flexible
shapes: rules about an op's tensors) and `table_ops.py` (op types, NeuralNetwork layers and the
fallback rows). `RULES` joins them in that order, which is the order an op's findings (and so
its reason text) are listed in.
"""

from __future__ import annotations

from .engine import Rule
from .table_ops import OP_RULES
from .table_tensors import TENSOR_RULES

RULES: tuple[Rule, ...] = TENSOR_RULES + OP_RULES
