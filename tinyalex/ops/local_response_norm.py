"""Local response normalization across channels, with the paper's constants (Section 3.3)."""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor
from tinyalex.ops import cuda, threads, workspace
from tinyalex.ops.validate import check_nchw

CHUNK_BYTES = 2 * 2**20  # images normalised at a time (the fastest of 0.25-4 MiB here, 2026-12-02)

# The GPU's forward: one thread per (image, channel i, pixel), its window of squares summed in a register.
# a points at channel 0 of the thread's image and pixel, so channel j is a[j * HW]; windows stop at the channel edges.
FORWARD_KERNEL = r"""
extern "C" __global__ void lrn_forward(long long n, const T* x, T* y, int c, int hw, int before, int after,
                                       T alpha, T beta, T k)
{
    for (long long t = FIRST_INDEX; t < n; t += INDEX_STRIDE) {
        const int i = t / hw % c;
        const T* a = x + (t - (long long)i * hw);  // channel 0 of this image and pixel
        T sum = 0;
        for (int j = max(i - before, 0); j <= min(i + after, c - 1); ++j) sum += a[j * hw] * a[j * hw];
        // b_i = a_i / (k + alpha * sum_{j=i-n/2}^{i+n/2} a_j^2)^beta
        y[t] = a[i * hw] * pow(k + alpha * sum, -beta);
    }
}
"""

# The GPU's backward, from x alone: each thread recomputes the denominators s_j of the channels j whose
# windows hold its channel i (those in its mirrored window), instead of keeping r and q from forward.
BACKWARD_KERNEL = r"""
extern "C" __global__ void lrn_backward(long long n, const T* x, const T* gy, T* gx, int c, int hw, int before,
                                        int after, T alpha, T beta, T k)
{
    for (long long t = FIRST_INDEX; t < n; t += INDEX_STRIDE) {
        const int i = t / hw % c;
        const long long base = t - (long long)i * hw;
        const T* a = x + base;
        const T* g = gy + base;
        T r_i = 0, mirrored = 0;
        for (int j = max(i - after, 0); j <= min(i + before, c - 1); ++j) {
            T sum = 0;
            for (int l = max(j - before, 0); l <= min(j + after, c - 1); ++l) sum += a[l * hw] * a[l * hw];
            const T s = k + alpha * sum, r = pow(s, -beta);
            if (j == i) r_i = r;
            mirrored += g[j * hw] * a[j * hw] * r / s;
        }
        // dL/da_i = g_i s_i^-beta - 2 alpha beta a_i sum_{j: i in window(j)} g_j a_j s_j^(-beta-1)
        gx[t] = g[i * hw] * r_i - 2 * alpha * beta * a[i * hw] * mirrored;
    }
}
"""


def window_sum(a: Any, before: int, after: int, out: Any) -> Any:
    """out[:, i] = sum of a[:, j] for j in [i - before, i + after], clipped at the channel edges.

    One copy plus one in-place add per neighbour, each on shifted channel slices (no padding).
    """
    out[...] = a
    for d in range(1, before + 1):
        out[:, d:] += a[:, :-d]
    for d in range(1, after + 1):
        out[:, :-d] += a[:, d:]
    return out


def power(s: Any, exponent: float, out: Any) -> Any:
    """out = s ** exponent; for the paper's -0.75 by two square roots, several times faster than pow."""
    xp = get_array_module(s)
    if exponent == -0.75:
        # s^-3/4 = r * sqrt(r) with r = 1 / sqrt(s)
        xp.sqrt(s, out=out)
        xp.reciprocal(out, out=out)
        return xp.multiply(out, xp.sqrt(out), out=out)
    return xp.power(s, s.dtype.type(exponent), out=out)


class LocalResponseNorm(Function):
    """Keeps x, r = s^-beta and q = 2 alpha beta y / s (s the denominator base) for backward; nothing under no_grad.

    How it is fast: the window sum is one copy and size - 1 shifted in-place adds; the
    power -0.75 is two square roots; and everything runs on about 2 MiB of images at a time, so
    that the dozen passes over them hit the CPU cache instead of main memory (about 3x
    faster than whole-batch passes here), the pieces spread over the op threads (threads.py).
    Backward reuses forward's r and q.

    On the GPU each direction is one CUDA kernel (FORWARD_KERNEL, BACKWARD_KERNEL) and only x is
    kept: backward recomputes the denominators, which costs a few more reads per thread and saves
    two activations' worth of memory (284 MiB for conv1's LRN at batch 128).
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        if int(size) != size or size < 1:
            raise ValueError(f"local_response_norm: size must be a positive integer, got {size!r}")
        self.size, self.alpha, self.beta, self.k = int(size), alpha, beta, k
        self.before, self.after = self.size // 2, (self.size - 1) // 2  # as PyTorch, for even sizes too

    def forward(self, x):
        check_nchw("local_response_norm", x)
        xp = get_array_module(x)
        if cuda.runs_kernels(xp):
            return self._kernel("forward", x)
        dtype = x.dtype.type
        y = xp.empty_like(x)
        parts = workspace.chunks(len(x), x[:1].nbytes, x, CHUNK_BYTES)
        keep = self.needs_input_grad[0]  # under no_grad (or for a constant input) r and q are scratch
        if keep:
            self.x, self.r, self.q = x, xp.empty_like(x), xp.empty_like(x)

        def forward_part(part: slice) -> None:
            a = x[part]
            squares = workspace.take(a.shape, a.dtype, a)
            r, q = (self.r[part], self.q[part]) if keep else (workspace.take(a.shape, a.dtype, a),
                                                              workspace.take(a.shape, a.dtype, a))
            # b_i = a_i / (k + alpha * sum_{j=i-n/2}^{i+n/2} a_j^2)^beta
            s = window_sum(xp.multiply(a, a, out=squares), self.before, self.after, out=q)
            s *= dtype(self.alpha)
            s += dtype(self.k)
            power(s, -self.beta, out=r)
            xp.multiply(a, r, out=y[part])
            if keep:  # q = 2 alpha beta b / s, the factor backward needs, written over s
                xp.divide(y[part], s, out=q)
                q *= dtype(2 * self.alpha * self.beta)
            workspace.give_back(squares, *(() if keep else (r, q)))

        threads.run_parts(forward_part, parts, x)
        return y

    def backward(self, gy):
        # db_j/da_i = [i == j] s_i^-beta - 2 alpha beta a_i a_j s_j^(-beta-1) for i in window(j);
        # i lies in window(j) exactly when j lies in the mirrored window of i
        xp = get_array_module(gy)
        if cuda.runs_kernels(xp):
            return self._kernel("backward", gy)
        gx = xp.empty_like(gy)
        parts = workspace.chunks(len(gy), gy[:1].nbytes, gy, CHUNK_BYTES)

        def backward_part(part: slice) -> None:
            g = gy[part]
            products, sums = workspace.take(g.shape, g.dtype, g), workspace.take(g.shape, g.dtype, g)
            mirrored = window_sum(xp.multiply(g, self.q[part], out=products), self.after, self.before, out=sums)
            mirrored *= self.x[part]
            xp.subtract(xp.multiply(g, self.r[part], out=products), mirrored, out=gx[part])
            workspace.give_back(products, sums)

        threads.run_parts(backward_part, parts, gy)
        return gx

    def _kernel(self, direction: str, array: Any) -> Any:
        """The GPU's forward (array = x, kept for backward) or backward (array = dL/dy), one kernel each."""
        xp = get_array_module(array)
        array = xp.ascontiguousarray(array)
        out = xp.empty_like(array)
        n, c, h, w = array.shape
        constants = (c, h * w, self.before, self.after, self.alpha, self.beta, self.k)
        if direction == "forward":
            self.x = array if self.needs_input_grad[0] else None
            cuda.launch(FORWARD_KERNEL, "lrn_forward", array.dtype, array.size, array, out, *constants)
        else:
            cuda.launch(BACKWARD_KERNEL, "lrn_backward", array.dtype, array.size, self.x, array, out, *constants)
        return out


def local_response_norm(x: Any, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> Tensor:
    """The paper's LRN: b_i = a_i / (k + alpha * sum_j a_j^2)^beta over `size` neighbouring channels.

    The paper's alpha multiplies the plain sum. PyTorch (`torch.nn.LocalResponseNorm`) and
    Caffe divide alpha by `size` (and PyTorch defaults to k = 1), so the paper's layer is
    PyTorch's LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2): pass alpha * size there.
    """
    return LocalResponseNorm(size, alpha, beta, k)(x)
