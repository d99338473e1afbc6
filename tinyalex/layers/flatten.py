"""Flatten: the feature maps of each image as one vector, between the last pooling and fc6."""
from typing import Any

from tinyalex.engine.arithmetic import flatten
from tinyalex.engine.tensor import Tensor
from tinyalex.layers.module import Module


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W)."""

    def forward(self, x: Any) -> Tensor:
        return flatten(x)
