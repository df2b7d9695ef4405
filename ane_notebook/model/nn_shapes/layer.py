"""One NeuralNetwork layer as a shape rule sees it, and the `Rule` type.

`_Layer` carries the layer, its params message, its input shapes and the known values of its
small integer inputs, and the rank mode; a `Rule` maps it to one shape per output. `_chw` and
`_rank5` are the input views the old (rank-5 era) layers share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..graph import Shape
from ..proto import NeuralNetwork_pb2
from .dims import MaybeShape, Values


@dataclass
class _Layer:
    layer: NeuralNetwork_pb2.NeuralNetworkLayer
    p: Any  # the layer's params message
    ins: list[MaybeShape]  # input shapes, by position (repeated names kept)
    vals: list[Values | None]  # known values of small integer inputs, by position
    nd: bool  # ND mode (False: rank-5 mode)

    @property
    def x(self) -> MaybeShape:
        return self.ins[0] if self.ins else None

    @property
    def n_out(self) -> int:
        return len(self.layer.output)


Rule = Callable[[_Layer], list[MaybeShape]]


def _chw(x: MaybeShape) -> Shape | None:
    """The input of an old layer acting on its trailing C, H, W axes (rank >= 3), else None."""
    return x if x is not None and len(x) >= 3 else None


def _rank5(x: MaybeShape) -> Shape | None:
    return x if x is not None and len(x) == 5 else None
