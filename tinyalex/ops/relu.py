"""ReLU, the paper's non-saturating nonlinearity (Section 3.1)."""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor


class ReLU(Function):
    """Keeps only the output: its sign is the mask backward needs."""

    def forward(self, x):
        xp = get_array_module(x)
        # f(x) = max(0, x)
        self.y = xp.maximum(x, 0)
        return self.y

    def backward(self, gy):
        return gy * (self.y > 0)


def relu(x: Any) -> Tensor:
    return ReLU()(x)


class Tanh(Function):
    """tanh, the saturating unit the paper compares ReLU against (Figure 1)."""

    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        # d tanh(x)/dx = 1 - tanh(x)^2
        return gy * (1 - self.y * self.y)


def tanh(x: Any) -> Tensor:
    return Tanh()(x)
