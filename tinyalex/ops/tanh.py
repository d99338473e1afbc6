"""tanh, the saturating unit the paper compares ReLU against (Section 3.1, Figure 1)."""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor


class Tanh(Function):
    """Keeps only the output: the derivative is a function of it."""

    def forward(self, x):
        # f(x) = tanh(x)
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        # f'(x) = 1 - tanh(x)^2
        return gy * (1 - self.y * self.y)


def tanh(x: Any) -> Tensor:
    """tanh(x), elementwise."""
    return Tanh()(x)
