"""A fixed gain as a layer: the control that stands in for LRN with LRN's measured mean gain."""
from typing import Any

from tinyalex.engine.tensor import Tensor, as_tensor
from tinyalex.layers.module import Module


class Scale(Module):
    """y = factor * x, with a fixed factor and no parameters (see tinyalex.experiments.lrn)."""

    def __init__(self, factor: float):
        self.factor = float(factor)

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x) * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"
