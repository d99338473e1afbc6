"""Convolution (and the paper's two-tower grouped convolution) by im2col and matrix products, a chunk of images at a time."""
from __future__ import annotations

from typing import Any

import numpy as np

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor
from tinyalex.ops import cuda, threads, workspace
from tinyalex.ops.im2col import col2im, col2im_nhwc, im2col_nhwc, output_size, pair
from tinyalex.ops.validate import ShapeError, check_nchw, check_window
from tinyalex.ops.winograd import Winograd, filter_gradient, filter_transform

CHUNK_BYTES = 32 * 2**20  # im2col columns built at a time: big enough for BLAS, small enough to stay cached
# on the GPU: the paper's conv2 at batch 128 has 854 MiB of columns, built in four pieces instead of at once
GPU_CHUNK_BYTES = 256 * 2**20
ALGORITHMS = ("auto", "im2col", "winograd")
# "auto" takes Winograd where a tower's input x output channels reach this. On this project's 2-core CPU
# (2026-12-02, `python examples/conv_algorithms.py`) the paper's conv3-conv5 (192-256 x 128-384) ran
# 1.19-1.37x faster forward + backward at batch 32, alexnet_small's (48-64 x 32-96) 1.02-1.09x alone, but
# its whole training step at batch 64 ran 0.89x as fast with them on Winograd (median of 6 alternated
# rounds of `python -m tinyalex.bench.child tinyalex --model small --batch 64`, this limit at 0 against
# 128 * 128)
WINOGRAD_MIN_PRODUCT = 128 * 128


class Conv2d(Function):
    """Grouped 2-D convolution on NCHW arrays; inputs (x, w) or (x, w, b). Keeps x and w.

    With G groups the C input channels and O filters split into G towers that see only
    their own channels (AlexNet's conv2, conv4 and conv5 use G = 2).

    How it is made fast:
    - im2col (channels-last, `im2col_nhwc`) lays the columns out as (images*OH*OW, KH*KW*Cg)
      per tower, so each tower is one big matrix product with the long side first (the G
      towers in one batched `matmul`), the shape BLAS runs fastest, and every copy moves
      runs of KW*Cg contiguous numbers. col2im runs channels-last too when a tower has at
      least OW channels, else on NCHW rows of OW numbers, whichever runs are longer. On the GPU
      both are CUDA kernels (im2col.py).
    - It works on chunks of images whose columns take about 32 MiB, instead of the whole
      batch's (214 MiB for conv2 at batch 32, 854 MiB at 128): the columns are reused
      from the workspace pool while still in the cache, and never kept. On the GPU the
      chunks are 256 MiB, to bound the memory the columns take. Backward builds
      them again, chunk by chunk, for the weight gradient; that costs one im2col and
      saves keeping half a GiB of columns per step.
    - The chunks run in the op thread pool (threads.py), one per core at a time; the weight
      gradient's shares are summed in the chunks' order, so results do not depend on timing.
    - The image gradient is skipped when the input needs none (conv1).
    - Wide 3x3 stride-1 kernels (the paper's conv3-conv5) take Winograd's F(2x2, 3x3) instead
      (winograd.py), with 2.25x fewer multiplies, on the CPU (`algorithm="auto"`); "im2col" or
      "winograd" choose.
    """

    def __init__(self, stride: Any = 1, padding: Any = 0, groups: int = 1, algorithm: str = "auto"):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"conv2d: algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        self.stride, self.pad = pair(stride, "conv2d: stride", least=1), pair(padding, "conv2d: padding", least=0)
        self.groups = int(groups)
        if self.groups < 1:
            raise ValueError(f"conv2d: groups must be at least 1, got {groups!r}")
        self.algorithm = algorithm

    def _winograd(self, x: Any, w: Any) -> bool:
        """Whether to use Winograd's algorithm: asked for, or "auto" on the CPU for a 3x3 stride-1 kernel
        whose towers are wide enough (WINOGRAD_MIN_PRODUCT) for the saved multiplies to pay for the transforms."""
        fits = w.shape[2:] == (3, 3) and self.stride == (1, 1)
        if self.algorithm == "winograd" and not fits:
            raise ValueError(f"conv2d: Winograd's F(2x2, 3x3) needs a 3x3 kernel at stride 1, got a "
                             f"{w.shape[2]}x{w.shape[3]} kernel at stride {self.stride}")
        wide = w.shape[1] * (w.shape[0] // self.groups) >= WINOGRAD_MIN_PRODUCT
        auto = self.algorithm == "auto" and wide and get_array_module(x) is np
        return fits and (auto or self.algorithm == "winograd")

    def _shapes(self, x: Any, w: Any) -> tuple:
        """The chunks of the batch, output size and the weight as (G, KH*KW*Cg, O/G), the columns' order."""
        g, (o, cg, kh, kw) = self.groups, w.shape
        oh = output_size(x.shape[2], kh, self.stride[0], self.pad[0])
        ow = output_size(x.shape[3], kw, self.stride[1], self.pad[1])
        parts = workspace.chunks(len(x), cg * g * kh * kw * oh * ow * x.itemsize, x, CHUNK_BYTES, GPU_CHUNK_BYTES)
        w_cols = w.reshape(g, o // g, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(g, kh * kw * cg, o // g)
        return parts, oh, ow, w_cols

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        if w.ndim != 4 or 0 in w.shape:
            raise ShapeError(f"conv2d: expected a weight of shape (out_channels, in_channels // groups, KH, KW), "
                             f"none of them 0, got {tuple(w.shape)}")
        o, cg, kh, kw = w.shape
        if o % self.groups:
            raise ShapeError(f"conv2d: {o} filters do not split into {self.groups} groups")
        if b is not None and b.shape != (o,):
            raise ShapeError(f"conv2d: expected a bias of shape ({o},), one per filter, got {tuple(b.shape)}")
        check_nchw("conv2d", x, cg * self.groups)
        check_window("conv2d", x.shape, (kh, kw), self.pad)
        if x.dtype != w.dtype:  # mixed precisions compute in the wider one, as NumPy would
            x, w = x.astype(xp.result_type(x, w)), w.astype(xp.result_type(x, w))
        self.x, self.w, self.u = x, w, None
        if self._winograd(x, w):
            self.winograd = Winograd(self.pad, self.groups)
            oh, ow, _, _ = self.winograd.tiles(x.shape)
            y = xp.empty((len(x), o, oh, ow), dtype=x.dtype)
            with threads.one_blas_thread():
                self.u = filter_transform(w, self.groups)
            self.parts = self.winograd.chunks(x)  # backward's parts must be the ones whose V forward kept
            self.kept = self.winograd.forward(x, self.u, b, self.parts, y, keep=self.needs_input_grad[1])
            return y
        parts, oh, ow, w_cols = self._shapes(x, w)
        g = self.groups
        y = xp.empty((len(x), o, oh, ow), dtype=x.dtype)

        def forward_part(part: slice) -> None:
            col = im2col_nhwc(x[part], (kh, kw), self.stride, self.pad, g)
            # Y[g] = col[g] @ W[g]: rows are the part's pixels (n, oh, ow), columns its filters
            y_rows = workspace.take((g, col.shape[1], o // g), x.dtype, x)
            xp.matmul(col, w_cols, out=y_rows)
            # y_rows is ordered (G, images, OH*OW, O/G): one transposing copy gives NCHW, adding the bias on the way
            y_rows = y_rows.reshape(g, -1, oh * ow, o // g).transpose(1, 0, 3, 2)
            y_part = y[part].reshape(-1, g, o // g, oh * ow)
            if b is None:
                y_part[...] = y_rows
            else:
                xp.add(y_rows, b.reshape(1, g, o // g, 1), out=y_part)
            workspace.give_back(col, y_rows)

        threads.run_parts(forward_part, parts, x)
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        x, w, g = self.x, self.w, self.groups
        o, cg, kh, kw = w.shape
        gx = xp.empty(x.shape, dtype=x.dtype) if self.needs_input_grad[0] else None
        if self.u is not None:
            return self._winograd_backward(gy, gx)
        parts, oh, ow, w_cols = self._shapes(x, w)

        def backward_part(part: slice) -> Any:
            """This part's shares of dL/dW as (G, O/G, KH*KW*Cg) and of dL/db (None where not needed); writes its
            rows of dL/dx."""
            m = part.stop - part.start
            gy_rows = workspace.take((g, o // g, m * oh * ow), gy.dtype, gy)  # dL/dY[g] as (O/G, pixels)
            gy_rows.reshape(o, m, oh, ow)[...] = gy[part].transpose(1, 0, 2, 3)
            col = im2col_nhwc(x[part], (kh, kw), self.stride, self.pad, g)
            gw_part = gb_part = None
            if len(self.needs_input_grad) == 3 and self.needs_input_grad[2]:
                # dL/db = sum of dL/dY over the images and the pixels, here while the part is in the cache
                gb_part = gy_rows.sum(axis=2).reshape(o)
            if self.needs_input_grad[1]:
                # dL/dW[g]^T = dL/dY[g] @ col[g], summed over the part's pixels (the fastest orientation here)
                gw_part = xp.matmul(gy_rows, col)
            if gx is not None and (cg >= ow or cuda.runs_kernels(xp)):
                # dL/dcol[g] = dL/dY[g]^T @ W[g]^T, written over the columns, then col2im adds the windows up
                xp.matmul(gy_rows.transpose(0, 2, 1), w_cols.transpose(0, 2, 1), out=col)
                col2im_nhwc(col, (m, *x.shape[1:]), (kh, kw), self.stride, self.pad, out=gx[part])
            elif gx is not None:  # few channels per tower: NCHW rows of OW numbers are the longer runs
                gcol = workspace.take((g, cg * kh * kw, m * oh * ow), gy.dtype, gy)
                xp.matmul(w.reshape(g, o // g, cg * kh * kw).transpose(0, 2, 1), gy_rows, out=gcol)
                gcol_view = gcol.reshape(g * cg, kh, kw, m, oh, ow).transpose(3, 0, 1, 2, 4, 5)
                col2im(gcol_view, (m, *x.shape[1:]), self.stride, self.pad, out=gx[part])
                workspace.give_back(gcol)
            workspace.give_back(col, gy_rows)
            return gw_part, gb_part

        # the parts' shares are summed in the parts' order, whichever thread finished first
        gw_shares, gb_shares = zip(*threads.run_parts(backward_part, parts, x))
        gw = None
        if self.needs_input_grad[1]:
            gw_rows = sum(gw_shares[1:], gw_shares[0])  # (G, O/G, KH*KW*Cg)
            gw = gw_rows.reshape(g, o // g, kh, kw, cg).transpose(0, 1, 4, 2, 3).reshape(w.shape)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        return gx, gw, sum(gb_shares[1:], gb_shares[0]) if self.needs_input_grad[2] else None

    def _winograd_backward(self, gy: Any, gx: Any) -> tuple:
        """dL/dx, dL/dw (and dL/db) the Winograd way, from the V that forward kept."""
        gu = self.winograd.backward(self.u, gy, self.parts, gx, self.kept, self.x.shape)
        with threads.one_blas_thread():
            gw = None if gu is None else filter_gradient(gu, self.w.shape)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        return gx, gw, gy.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, groups: int = 1,
           algorithm: str = "auto") -> Tensor:
    """2-D convolution; weight (out_channels, in_channels // groups, kh, kw), as in PyTorch.

    algorithm: "im2col", "winograd" (3x3 stride-1 kernels only), or "auto": Winograd where it fits, on the CPU.
    """
    op = Conv2d(stride, padding, groups, algorithm)
    return op(x, weight) if bias is None else op(x, weight, bias)
