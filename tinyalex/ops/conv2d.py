"""Convolution (and the paper's two-tower grouped convolution) by im2col and matrix products, a chunk of images at a time."""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor
from tinyalex.ops import threads, workspace
from tinyalex.ops.im2col import col2im, im2col, output_size, pair
from tinyalex.ops.validate import ShapeError, check_nchw, check_window

CHUNK_BYTES = 32 * 2**20  # im2col columns built at a time: big enough for BLAS, small enough to stay cached


class Conv2d(Function):
    """Grouped 2-D convolution on NCHW arrays; inputs (x, w) or (x, w, b). Keeps x and w.

    With G groups the C input channels and O filters split into G towers that see only
    their own channels (AlexNet's conv2, conv4 and conv5 use G = 2).

    How it is made fast:
    - im2col lays the columns out as (C*KH*KW, images*OH*OW), so each tower is one big
      matrix product (the G towers in one batched `matmul`), the shape BLAS runs fastest.
    - It works on chunks of images whose columns take about 32 MiB, instead of the whole
      batch's (224 MiB for conv2 at batch 32, 0.9 GiB at 128): the columns are reused
      from the workspace pool while still in the cache, and never kept. Backward builds
      them again, chunk by chunk, for the weight gradient; that costs one im2col and
      saves keeping half a GiB of columns per step.
    - The chunks run in the op thread pool (threads.py), one per core at a time; the weight
      gradient's shares are summed in the chunks' order, so results do not depend on timing.
    - The image gradient is skipped when the input needs none (conv1).
    """

    def __init__(self, stride: Any = 1, padding: Any = 0, groups: int = 1):
        self.stride, self.pad, self.groups = pair(stride), pair(padding), int(groups)

    def _shapes(self, x: Any, w: Any) -> tuple:
        """The chunks of the batch, output size and the weight as (G, O/G, Cg*KH*KW)."""
        g, (o, cg, kh, kw) = self.groups, w.shape
        oh = output_size(x.shape[2], kh, self.stride[0], self.pad[0])
        ow = output_size(x.shape[3], kw, self.stride[1], self.pad[1])
        parts = workspace.chunks(len(x), cg * g * kh * kw * oh * ow * x.itemsize, x, CHUNK_BYTES)
        return parts, oh, ow, w.reshape(g, o // g, cg * kh * kw)

    def _columns(self, x: Any, kernel: tuple) -> Any:
        """im2col of a chunk, as (G, Cg*KH*KW, images*OH*OW): its memory order makes this reshape free."""
        col = im2col(x, kernel, self.stride, self.pad)
        n, c, kh, kw, oh, ow = col.shape
        return col.transpose(1, 2, 3, 0, 4, 5).reshape(self.groups, c // self.groups * kh * kw, n * oh * ow)

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        o, cg, kh, kw = w.shape
        if o % self.groups:
            raise ShapeError(f"conv2d: {o} filters do not split into {self.groups} groups")
        check_nchw("conv2d", x, cg * self.groups)
        check_window("conv2d", x.shape, (kh, kw), self.pad)
        if x.dtype != w.dtype:  # mixed precisions compute in the wider one, as NumPy would
            x, w = x.astype(xp.result_type(x, w)), w.astype(xp.result_type(x, w))
        parts, oh, ow, w_rows = self._shapes(x, w)
        y = xp.empty((len(x), o, oh, ow), dtype=x.dtype)

        def forward_part(part: slice) -> None:
            col = self._columns(x[part], (kh, kw))
            # Y[g] = W[g] @ col[g], computed transposed as col[g]^T @ W[g]^T: BLAS runs this
            # orientation (the long side, images*OH*OW, first) 25-45% faster here
            y_cols = workspace.take((self.groups, col.shape[2], o // self.groups), x.dtype, x)
            xp.matmul(col.transpose(0, 2, 1), w_rows.transpose(0, 2, 1), out=y_cols)
            # y_cols is ordered (G, images, OH*OW, O/G): one transposing copy gives NCHW, adding the bias on the way
            y_cols = y_cols.reshape(self.groups, -1, oh * ow, o // self.groups).transpose(1, 0, 3, 2)
            y_part = y[part].reshape(-1, self.groups, o // self.groups, oh * ow)
            if b is None:
                y_part[...] = y_cols
            else:
                xp.add(y_cols, b.reshape(1, self.groups, o // self.groups, 1), out=y_part)
            workspace.give_back(col, y_cols)

        threads.run_parts(forward_part, parts, x)
        self.x, self.w = x, w
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        x, w, g = self.x, self.w, self.groups
        o, cg, kh, kw = w.shape
        parts, oh, ow, w_rows = self._shapes(x, w)
        gx = xp.empty(x.shape, dtype=x.dtype) if self.needs_input_grad[0] else None

        def backward_part(part: slice) -> Any:
            """This part's share of dL/dW[g]^T (None if not needed); writes its rows of dL/dx."""
            gy_rows = workspace.take((g, o // g, (part.stop - part.start) * oh * ow), gy.dtype, gy)
            gy_rows.reshape(o, -1, oh, ow)[...] = gy[part].transpose(1, 0, 2, 3)
            col = self._columns(x[part], (kh, kw))
            gw_part = None
            if self.needs_input_grad[1]:
                # dL/dW[g] = dL/dY[g] @ col[g]^T, computed transposed as col[g] @ dL/dY[g]^T:
                # BLAS runs that orientation (long side first) about 3x faster here
                gw_part = xp.matmul(col, gy_rows.transpose(0, 2, 1))
            if gx is not None:
                # dL/dcol[g] = W[g]^T @ dL/dY[g], written over the columns, then col2im adds the windows up
                xp.matmul(w_rows.transpose(0, 2, 1), gy_rows, out=col)
                gcol = col.reshape(cg * g, kh, kw, -1, oh, ow).transpose(3, 0, 1, 2, 4, 5)
                col2im(gcol, (len(gcol), *x.shape[1:]), self.stride, self.pad, out=gx[part])
            workspace.give_back(col, gy_rows)
            return gw_part

        shares = threads.run_parts(backward_part, parts, x)
        # the parts' shares summed in the parts' order, whichever thread finished first
        gw_rows = sum(shares[1:], shares[0]) if self.needs_input_grad[1] else None
        gw = gw_rows.transpose(0, 2, 1).reshape(w.shape) if self.needs_input_grad[1] else None
        if len(self.needs_input_grad) == 2:
            return gx, gw
        # dL/db = sum of dL/dY over the batch and the pixels
        return gx, gw, gy.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, groups: int = 1) -> Tensor:
    """2-D convolution; weight (out_channels, in_channels // groups, kh, kw), as in PyTorch."""
    op = Conv2d(stride, padding, groups)
    return op(x, weight) if bias is None else op(x, weight, bias)
