"""Convolution (and the paper's two-tower grouped convolution) by im2col and one matrix product per group."""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor
from tinyalex.ops.im2col import col2im, im2col, pair
from tinyalex.ops.validate import ShapeError, check_nchw, check_window


class Conv2d(Function):
    """Grouped 2-D convolution on NCHW arrays; inputs (x, w) or (x, w, b).

    With G groups the C input channels and O filters split into G towers that see only
    their own channels (AlexNet's conv2, conv4 and conv5 use G = 2). Keeps the im2col
    columns for the weight gradient: N*C*KH*KW*OH*OW floats, the largest buffers of the
    network (about 0.5 GiB for conv1 at batch 128 in float32).
    """

    def __init__(self, stride: Any = 1, padding: Any = 0, groups: int = 1):
        self.stride, self.pad, self.groups = pair(stride), pair(padding), int(groups)

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        g = self.groups
        o, cg, kh, kw = w.shape
        if o % g:
            raise ShapeError(f"conv2d: {o} filters do not split into {g} groups")
        check_nchw("conv2d", x, cg * g)
        check_window("conv2d", x.shape, (kh, kw), self.pad)
        n = x.shape[0]
        col = im2col(x, (kh, kw), self.stride, self.pad)
        oh, ow = col.shape[-2:]
        self.x_shape, self.w_shape = x.shape, w.shape
        self.col = col.reshape(n, g, cg * kh * kw, oh * ow)
        self.w = w.reshape(g, o // g, cg * kh * kw)
        # y[n, g] = W[g] @ col[n, g]: (G, O/G, K) @ (N, G, K, P) -> (N, G, O/G, P), already NCHW
        y = xp.matmul(self.w, self.col).reshape(n, o, oh, ow)
        if b is not None:
            y += b.reshape(1, o, 1, 1)
        return y

    def backward(self, gy):
        n, o, oh, ow = gy.shape
        g = self.groups
        gy = gy.reshape(n, g, o // g, oh * ow)
        grads = [None, None]
        if self.needs_input_grad[0]:
            # dL/dcol[n, g] = W[g]^T @ gy[n, g], then col2im adds overlapping windows back
            gcol = self.w.transpose(0, 2, 1) @ gy
            c, (kh, kw) = self.x_shape[1], self.w_shape[2:]
            grads[0] = col2im(gcol.reshape(n, c, kh, kw, oh, ow), self.x_shape, self.stride, self.pad)
        if self.needs_input_grad[1]:
            # dL/dW[g] = sum_n gy[n, g] @ col[n, g]^T
            grads[1] = (gy @ self.col.transpose(0, 1, 3, 2)).sum(axis=0).reshape(self.w_shape)
        if len(self.needs_input_grad) == 3:
            grads.append(gy.sum(axis=(0, 3)).reshape(o) if self.needs_input_grad[2] else None)
        return tuple(grads)


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, groups: int = 1) -> Tensor:
    """2-D convolution; weight (out_channels, in_channels // groups, kh, kw), as in PyTorch."""
    op = Conv2d(stride, padding, groups)
    return op(x, weight) if bias is None else op(x, weight, bias)
