"""Fully connected layer: y = x W^T + b (fc6, fc7, fc8)."""
from __future__ import annotations

from typing import Any

import numpy as np

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor
from tinyalex.ops import threads
from tinyalex.ops.validate import ShapeError, check_float


class Linear(Function):
    """Keeps x and W for the gradients of each other.

    Each product is split into one block per op thread (threads.py): the output features for
    y and dL/dW, the input features for dL/dx, so that each thread reads its own part of W
    (fc6's is 144 MiB). Running all of tinyalex's products in its own
    threads, with OpenBLAS held to one, keeps OpenBLAS's busy-waiting workers from taking
    the cores from the element-wise ops that follow.
    """

    def forward(self, x, w, b=None):
        if w.ndim != 2:
            raise ShapeError(f"linear: expected a weight of shape (out_features, in_features), got {tuple(w.shape)}")
        if b is not None and b.shape != (len(w),):
            raise ShapeError(f"linear: expected a bias of shape ({len(w)},), one per output, got {tuple(b.shape)}")
        if x.ndim != 2 or x.shape[1] != w.shape[1]:
            raise ShapeError(f"linear: expected input of shape (N, {w.shape[1]}), got {tuple(x.shape)}")
        check_float("linear", x)
        self.x, self.w = x, w
        xp = get_array_module(x)
        y = xp.empty((len(x), len(w)), dtype=xp.result_type(x, w))

        def forward_block(features: slice) -> None:
            # y = x W^T + b, computed as (W x^T)^T: when x has few rows (a batch), BLAS runs this
            # orientation several times faster (4x for fc6 at batch 32 with OpenBLAS)
            y[:, features] = (w[features] @ x.T).T
            if b is not None:
                y[:, features] += b[features]

        threads.run_parts(forward_block, _blocks(len(w), x, w), x)
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        x, w = self.x, self.w
        gx = xp.empty(x.shape, dtype=gy.dtype) if self.needs_input_grad[0] else None
        gw = xp.empty(w.shape, dtype=gy.dtype) if self.needs_input_grad[1] else None

        def input_block(features: slice) -> None:
            # dL/dx = dL/dy W, computed as (W^T dL/dy^T)^T for the same reason as forward
            gx[:, features] = (w[:, features].T @ gy.T).T

        def weight_block(features: slice) -> None:
            # dL/dW = dL/dy^T x
            gw[features] = gy[:, features].T @ x

        if gx is not None:
            threads.run_parts(input_block, _blocks(x.shape[1], x, w), x)
        if gw is not None:
            threads.run_parts(weight_block, _blocks(len(w), x, w), x)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        return gx, gw, gy.sum(axis=0) if self.needs_input_grad[2] else None


def _blocks(n: int, like: Any, w: Any) -> list[slice]:
    """n rows or features as one block per op thread (one block on the GPU, or for a W under 1 MiB)."""
    return threads.split(n, nbytes=w.nbytes) if get_array_module(like) is np else [slice(0, n)]


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """weight has shape (out_features, in_features), as in PyTorch."""
    return Linear()(x, weight) if bias is None else Linear()(x, weight, bias)
