"""Two PyTorch modules the twin of a tinyalex AlexNet needs and torch.nn lacks: the input scale and per-tower LRN.

Imported only when PyTorch is installed (it is not a dependency of tinyalex).
"""
from __future__ import annotations

import torch


class InputScale(torch.nn.Module):
    """Multiplies the input by the model's `input_scale`, as AlexNet.forward does before conv1."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class TowerLRN(torch.nn.Module):
    """The paper's LRN on each tower's channels on their own, as tinyalex's LocalResponseNorm(groups=towers).

    The channels are viewed as `towers` slabs of C / towers, so no window crosses a tower's edge.
    `alpha` is the paper's (it multiplies the sum); PyTorch's LocalResponseNorm divides its alpha by
    `size`, so it is given alpha * size.
    """

    def __init__(self, size: int, alpha: float, beta: float, k: float, towers: int):
        super().__init__()
        self.towers = towers
        self.lrn = torch.nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return self.lrn(x.reshape(n * self.towers, c // self.towers, h, w)).reshape(n, c, h, w)

    def extra_repr(self) -> str:
        return f"towers={self.towers}"
