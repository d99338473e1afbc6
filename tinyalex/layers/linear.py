"""The fully connected layer."""
from __future__ import annotations

from typing import Any

from tinyalex.engine.tensor import Tensor
from tinyalex.layers.init import as_rng, constant, normal
from tinyalex.layers.module import Module, Parameter
from tinyalex.ops.linear import linear


class Linear(Module):
    """weight (out_features, in_features) from N(0, weight_std^2); bias bias_init."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        weight_std: float = 0.01,
        bias_init: float = 0.0,
        rng: Any = None,
    ):
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(normal((out_features, in_features), weight_std, as_rng(rng)), name="weight")
        self.bias = Parameter(constant((out_features,), bias_init), name="bias") if bias else None

    def forward(self, x: Any) -> Tensor:
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}"
