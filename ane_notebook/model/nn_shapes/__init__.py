"""Shape inference for NeuralNetwork layers (the legacy ``neuralNetwork`` spec family).

`NNShaper` infers the shape of every blob of one network from the model description and the
layer parameters, one layer at a time (`core`'s docstring says how: rank mode, flexible
inputs, in-place rewrites). The package's interface is `NNShaper`, `declared_shapes`,
`is_rank5_network` and `RULES`.

Modules, one job each:

* `core.py`: the walk over layers (`NNShaper`), rank-5 vs ND mode, the input blob shapes, the
  declared shapes, and the values of small integer blobs (shape vectors);
* `table.py`: `RULES`, layer type -> shape rule, as data;
* `spatial.py`: the rules of convolution, pooling (2-D and 3-D), crop, padding, upsample and
  the resizes;
* `legacy.py`: the rules of the other rank-5-era layers and the recurrent layers;
* `nd.py`: the rules of the ND (iOS 13+) layers;
* `layer.py`: `_Layer`, what a rule is given, and the `Rule` type;
* `dims.py`: the shape types and the helpers on dimensions the rules share.

Imports run one way: `core` -> `table` -> the rule modules -> `layer` -> `dims`.
"""

from __future__ import annotations

from .core import NNShaper, declared_shapes, is_rank5_network
from .table import RULES

__all__ = ["RULES", "NNShaper", "declared_shapes", "is_rank5_network"]
