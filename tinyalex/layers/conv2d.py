"""The convolutional layer; groups=2 gives the paper's two towers."""
from __future__ import annotations

from typing import Any

from tinyalex.engine.tensor import Tensor
from tinyalex.layers.init import as_rng, constant, normal
from tinyalex.layers.module import Module, Parameter
from tinyalex.ops.conv2d import conv2d
from tinyalex.ops.im2col import pair


class Conv2d(Module):
    """weight (out_channels, in_channels // groups, kh, kw) from N(0, weight_std^2); bias bias_init."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        weight_std: float = 0.01,
        bias_init: float = 0.0,
        rng: Any = None,
    ):
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: {in_channels} in and {out_channels} out channels do not split into {groups} groups")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "Conv2d: kernel_size", least=1)
        self.stride, self.padding = pair(stride, "Conv2d: stride", least=1), pair(padding, "Conv2d: padding", least=0)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(normal(shape, weight_std, as_rng(rng)), name="weight")
        self.bias = Parameter(constant((out_channels,), bias_init), name="bias") if bias else None

    def forward(self, x: Any) -> Tensor:
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.groups)

    def extra_repr(self) -> str:
        groups = f", groups={self.groups}" if self.groups != 1 else ""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}{groups}"
        )
