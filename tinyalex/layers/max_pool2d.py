"""Max pooling as a layer; MaxPool2d(3, 2) is the paper's overlapping pooling."""
from typing import Any

from tinyalex.engine.tensor import Tensor
from tinyalex.layers.module import Module
from tinyalex.ops.im2col import pair
from tinyalex.ops.max_pool2d import max_pool2d


class MaxPool2d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        self.kernel_size = pair(kernel_size, "MaxPool2d: kernel_size", least=1)
        self.stride = pair(stride if stride is not None else kernel_size, "MaxPool2d: stride", least=1)
        self.padding = pair(padding, "MaxPool2d: padding", least=0)

    def forward(self, x: Any) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
