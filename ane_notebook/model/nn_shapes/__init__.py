"""Shape inference for NeuralNetwork layers (the legacy ``neuralNetwork`` spec family).

The package's interface: `NNShaper` (shape every blob of one network, layer by layer),
`declared_shapes`, `is_rank5_network` and `RULES` (layer type -> shape rule).
"""

from __future__ import annotations

from .core import RULES, NNShaper, declared_shapes, is_rank5_network

__all__ = ["RULES", "NNShaper", "declared_shapes", "is_rank5_network"]
