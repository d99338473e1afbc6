"""Max pooling; with kernel 3 and stride 2 the windows overlap, as in the paper (Section 3.4)."""
from __future__ import annotations

from typing import Any

import numpy as np

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor
from tinyalex.ops import cuda, threads, workspace
from tinyalex.ops.im2col import output_size, pad_input, pair
from tinyalex.ops.validate import check_nchw, check_window

CHUNK_BYTES = 2 * 2**20  # images pooled at a time (the fastest of 0.25-4 MiB here, 2026-12-02)

# The GPU's forward: one thread per output, the window read once; i = ((image * C + channel) * OH + oy) * OW + ox.
# Padding counts as -inf, so it never wins; a NaN in the window makes y NaN and is its argmax (the last NaN), as
# on the CPU and in PyTorch.
FORWARD_KERNEL = r"""
extern "C" __global__ void max_pool_forward(long long n, const T* x, T* y, unsigned char* argmax, int h, int w,
                                            int oh, int ow, int kh, int kw, int sh, int sw, int ph, int pw)
{
    for (long long i = FIRST_INDEX; i < n; i += INDEX_STRIDE) {
        const int ox = i % ow, oy = i / ow % oh;
        const T* plane = x + i / ((long long)oh * ow) * h * w;
        T best = -INFINITY, nan = 0;
        int best_offset = 0, nan_offset = -1;
        // y = max over the window, argmax = the first kernel offset a * KW + b that holds it
        for (int a = 0; a < kh; ++a) {
            for (int b = 0; b < kw; ++b) {
                const int r = oy * sh - ph + a, c = ox * sw - pw + b;
                const T v = (r >= 0 && r < h && c >= 0 && c < w) ? plane[r * w + c] : -INFINITY;
                if (v > best) { best = v; best_offset = a * kw + b; }
                if (v != v) { nan = v; nan_offset = a * kw + b; }
            }
        }
        y[i] = nan_offset >= 0 ? nan : best;
        argmax[i] = nan_offset >= 0 ? nan_offset : best_offset;
    }
}
"""

# The GPU's backward, a gather: one thread per input pixel adds the gradients of the windows whose
# maximum it is, in the windows' order (so it sums exactly as the CPU's np.add.at does); no atomics.
BACKWARD_KERNEL = r"""
extern "C" __global__ void max_pool_backward(long long n, const T* gy, const unsigned char* argmax, T* gx, int h,
                                             int w, int oh, int ow, int kh, int kw, int sh, int sw, int ph, int pw)
{
    for (long long i = FIRST_INDEX; i < n; i += INDEX_STRIDE) {
        const int col = i % w + pw, row = i / w % h + ph;  // the pixel in padded coordinates
        const long long plane = i / ((long long)h * w) * oh * ow;
        // the windows oy * SH <= row < oy * SH + KH, and likewise for the columns
        const int oy0 = row < kh ? 0 : (row - kh) / sh + 1, oy1 = min(row / sh, oh - 1);
        const int ox0 = col < kw ? 0 : (col - kw) / sw + 1, ox1 = min(col / sw, ow - 1);
        T sum = 0;
        // dL/dx = sum of dL/dy over the windows whose argmax is this pixel
        for (int oy = oy0; oy <= oy1; ++oy) {
            for (int ox = ox0; ox <= ox1; ++ox) {
                const long long o = plane + oy * ow + ox;
                if (argmax[o] == (row - oy * sh) * kw + (col - ox * sw)) sum += gy[o];
            }
        }
        gx[i] = sum;
    }
}
"""


class MaxPool2d(Function):
    """Keeps, for each output, which kernel offset held the maximum (the first one on ties); nothing under no_grad.

    A NaN in a window makes its output NaN and takes its gradient (the window's last NaN), as in PyTorch.

    How it is fast: each of the KH*KW kernel offsets is one strided view of the input
    (no copy, no loop over pixels), and the work runs one chunk of about 2 MiB of images
    at a time, so the KH*KW passes over a chunk stay in the CPU cache; the chunks spread over
    the op threads (threads.py). The argmax is one byte per output, which is all backward needs:
    on the CPU one `np.add.at` sends each window's gradient to its maximum. On the GPU each
    direction is one CUDA kernel (FORWARD_KERNEL, BACKWARD_KERNEL): one thread per output, or
    per input pixel, instead of KH*KW passes over the whole batch.
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        self.kernel = pair(kernel_size, "max_pool2d: kernel_size", least=1)
        self.stride = pair(stride if stride is not None else kernel_size, "max_pool2d: stride", least=1)
        self.pad = pair(padding, "max_pool2d: padding", least=0)
        if 2 * self.pad[0] > self.kernel[0] or 2 * self.pad[1] > self.kernel[1]:
            raise ValueError(
                f"max_pool2d: padding {self.pad} must be at most half the kernel {self.kernel}, "
                "or some windows would hold only padding"
            )

    def forward(self, x):
        xp = get_array_module(x)
        check_nchw("max_pool2d", x)
        check_window("max_pool2d", x.shape, self.kernel, self.pad)
        (kh, kw), (sh, sw) = self.kernel, self.stride
        n, c, h, w = x.shape
        oh, ow = output_size(h, kh, sh, self.pad[0]), output_size(w, kw, sw, self.pad[1])
        if cuda.runs_kernels(xp) and kh * kw <= 256:
            return self._kernel_forward(x, oh, ow)
        padded = pad_input(x, self.pad, fill=-xp.inf)  # -inf: padding never wins a window
        y = xp.empty((n, c, oh, ow), dtype=x.dtype)
        keep = self.needs_input_grad[0]  # the argmax is only for backward: scratch under no_grad
        argmax = xp.empty(y.shape, dtype=xp.uint8 if kh * kw <= 256 else xp.int32) if keep else None
        parts = workspace.chunks(n, padded[:1].nbytes, x, CHUNK_BYTES)

        def forward_part(part: slice) -> None:
            xs, ys = padded[part], y[part]
            # y = max over the window, argmax = the first kernel offset that holds it
            ys[...] = xs[:, :, 0 : sh * oh : sh, 0 : sw * ow : sw]
            if not keep:
                for offset in range(1, kh * kw):
                    i, j = divmod(offset, kw)
                    xp.maximum(ys, xs[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw], out=ys)
                return
            best = argmax[part]
            wins, mark = workspace.take(ys.shape, bool, ys), workspace.take(ys.shape, best.dtype, ys)
            best.fill(0)
            for offset in range(1, kh * kw):
                i, j = divmod(offset, kw)
                window = xs[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
                xp.greater(window, ys, out=wins)
                xp.maximum(ys, window, out=ys)
                # offsets only grow, so max(best, offset where the window wins) records the newest winner
                xp.maximum(best, xp.multiply(wins, best.dtype.type(offset), out=mark), out=best)
            if xp.isnan(ys).any():  # rare: a NaN is its window's argmax (the last one), as in PyTorch
                for offset in range(kh * kw):
                    i, j = divmod(offset, kw)
                    xp.isnan(xs[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw], out=wins)
                    best[wins] = offset
            workspace.give_back(wins, mark)

        threads.run_parts(forward_part, parts, x)
        workspace.give_back(padded)
        self.x_shape, self.argmax = (n, c, h, w), argmax
        return y

    def _kernel_forward(self, x: Any, oh: int, ow: int) -> Any:
        """The GPU's forward: FORWARD_KERNEL writes y and the argmax in one pass (the argmax dropped under no_grad)."""
        xp = get_array_module(x)
        n, c, h, w = x.shape
        y = xp.empty((n, c, oh, ow), dtype=x.dtype)
        argmax = xp.empty(y.shape, dtype=xp.uint8)
        cuda.launch(FORWARD_KERNEL, "max_pool_forward", x.dtype, y.size, xp.ascontiguousarray(x), y, argmax,
                    h, w, oh, ow, *self.kernel, *self.stride, *self.pad)
        self.x_shape, self.argmax = x.shape, argmax if self.needs_input_grad[0] else None
        return y

    def backward(self, gy):
        # dL/dx[p] = sum of dL/dy[w] over the windows w whose maximum sits at p (0 where none does)
        xp = get_array_module(gy)
        if cuda.runs_kernels(xp) and self.argmax.dtype == xp.uint8:
            gx = xp.empty(self.x_shape, dtype=gy.dtype)
            cuda.launch(BACKWARD_KERNEL, "max_pool_backward", gy.dtype, gx.size, xp.ascontiguousarray(gy),
                        self.argmax, gx, *self.x_shape[2:], *gy.shape[2:], *self.kernel, *self.stride, *self.pad)
            return gx
        return self._scatter_backward(gy) if xp is np else self._strided_backward(gy)

    def _strided_backward(self, gy: Any) -> Any:
        """The GPU's backward for windows of over 256 offsets: for each kernel offset, the gradients of the
        windows whose maximum it holds."""
        xp = get_array_module(gy)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        n, c, h, w = self.x_shape
        oh, ow = gy.shape[2:]
        gx = xp.empty(self.x_shape, dtype=gy.dtype)
        parts = workspace.chunks(n, c * (h + 2 * ph) * (w + 2 * pw) * gy.itemsize, gy, CHUNK_BYTES)

        def backward_part(part: slice) -> None:
            gs, best = gy[part], self.argmax[part]
            m = len(gs)
            gp = workspace.take((m, c, h + 2 * ph, w + 2 * pw), gy.dtype, gy) if ph or pw else gx[part]
            wins, share = workspace.take(gs.shape, bool, gs), workspace.take(gs.shape, gs.dtype, gs)
            gp.fill(0)
            # each window sends its gradient to its maximum only
            for offset in range(kh * kw):
                i, j = divmod(offset, kw)
                target = gp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
                target += xp.multiply(gs, xp.equal(best, offset, out=wins), out=share)
            if ph or pw:
                gx[part] = gp[:, :, ph : ph + h, pw : pw + w]
                workspace.give_back(gp)
            workspace.give_back(wins, share)

        threads.run_parts(backward_part, parts, gy)
        return gx

    def _scatter_backward(self, gy: np.ndarray) -> np.ndarray:
        """The CPU's backward: every output's gradient added at its maximum's flat index by one np.add.at.

        Overlapping windows can share a maximum: add.at adds every one of them. One call over flat
        arrays instead of the KH*KW strided passes of _strided_backward, whose rows are only OW
        numbers long: alexnet_small's three poolings at batch 64 took 21.1 ms of backward that way,
        in two threads, and 11.2 ms this way on one core (add.at holds the interpreter lock), by
        `tinyalex bench --compare torch --model small --layers` on 2026-12-02 (docs/BENCHMARKS.md).
        """
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        n, c, h, w = self.x_shape
        hp, wp, (oh, ow) = h + 2 * ph, w + 2 * pw, gy.shape[2:]
        gp = np.zeros((n, c, hp, wp), dtype=gy.dtype)
        # flat index of each maximum in gp: its kernel offset i * WP + j, plus its window's top-left corner
        index = np.array([i * wp + j for i in range(kh) for j in range(kw)], np.intp)[self.argmax.reshape(n * c, oh, ow)]
        index += (np.arange(n * c, dtype=np.intp) * (hp * wp)).reshape(-1, 1, 1)
        index += (np.arange(oh, dtype=np.intp) * (sh * wp)).reshape(-1, 1)
        index += np.arange(ow, dtype=np.intp) * sw
        np.add.at(gp.reshape(-1), index.reshape(-1), gy.reshape(-1))
        return gp if not (ph or pw) else np.ascontiguousarray(gp[:, :, ph : ph + h, pw : pw + w])


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Max over kernel_size windows every `stride` pixels (default: stride = kernel_size), floor mode."""
    return MaxPool2d(kernel_size, stride, padding)(x)
