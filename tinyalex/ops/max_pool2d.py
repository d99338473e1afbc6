"""Max pooling; with kernel 3 and stride 2 the windows overlap, as in the paper (Section 3.4)."""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor
from tinyalex.ops.im2col import output_size, pair
from tinyalex.ops.validate import check_nchw, check_window


class MaxPool2d(Function):
    """Keeps, for each output, which kernel offset held the maximum (the first one on ties)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        self.kernel = pair(kernel_size)
        self.stride = pair(stride if stride is not None else kernel_size)
        self.pad = pair(padding)

    def forward(self, x):
        xp = get_array_module(x)
        check_nchw("max_pool2d", x)
        check_window("max_pool2d", x.shape, self.kernel, self.pad)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        n, c, h, w = x.shape
        oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
        if ph or pw:  # pad with -inf so that padding never wins a window
            x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-xp.inf)
        y = x[:, :, 0 : sh * oh : sh, 0 : sw * ow : sw].copy()
        argmax = xp.zeros(y.shape, dtype=xp.uint8 if kh * kw <= 256 else xp.int32)
        for offset in range(1, kh * kw):
            i, j = divmod(offset, kw)
            window = x[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
            better = window > y
            xp.copyto(y, window, where=better)
            argmax[better] = offset
        self.x_shape, self.argmax = (n, c, h, w), argmax
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        n, c, h, w = self.x_shape
        oh, ow = gy.shape[2:]
        gx = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=gy.dtype)
        for offset in range(kh * kw):
            i, j = divmod(offset, kw)
            gx[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += gy * (self.argmax == offset)
        return gx[:, :, ph : ph + h, pw : pw + w]


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Max over kernel_size windows every `stride` pixels (default: stride = kernel_size), floor mode."""
    return MaxPool2d(kernel_size, stride, padding)(x)
