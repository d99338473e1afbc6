"""Nonlinearities as layers."""
from typing import Any

from tinyalex.engine.tensor import Tensor
from tinyalex.layers.module import Module
from tinyalex.ops.relu import relu
from tinyalex.ops.tanh import tanh


class ReLU(Module):
    def forward(self, x: Any) -> Tensor:
        return relu(x)


class Tanh(Module):
    def forward(self, x: Any) -> Tensor:
        return tanh(x)
