"""Local response normalization across channels, with the paper's constants (Section 3.3)."""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor
from tinyalex.ops import workspace
from tinyalex.ops.validate import check_nchw

CHUNK_BYTES = 2**20  # images normalised at a time: half of one core's 2 MiB cache

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
    """Keeps r = s^-beta and q = 2 alpha beta y / s (s the denominator base) for backward.

    How it is fast: the window sum is one copy and size - 1 shifted in-place adds; the
    power -0.75 is two square roots; and everything runs on about 1 MiB of images at a time, so
    that the dozen passes over them hit the CPU cache instead of main memory (about 3x
    faster than whole-batch passes here). Backward reuses forward's r and q.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        if int(size) != size or size < 1:
            raise ValueError(f"local_response_norm: size must be a positive integer, got {size!r}")
        self.size, self.alpha, self.beta, self.k = int(size), alpha, beta, k
        self.before, self.after = self.size // 2, (self.size - 1) // 2  # as PyTorch, for even sizes too

    def forward(self, x):
        check_nchw("local_response_norm", x)
        xp = get_array_module(x)
        dtype = x.dtype.type
        y = xp.empty_like(x)
        parts = workspace.chunks(len(x), x[0].nbytes, x, CHUNK_BYTES)
        squares = xp.empty_like(x[parts[0]])
        self.x = x
        self.r, self.q = xp.empty_like(x), xp.empty_like(x)
        for part in parts:
            a, r, q = x[part], self.r[part], self.q[part]
            # b_i = a_i / (k + alpha * sum_{j=i-n/2}^{i+n/2} a_j^2)^beta
            s = window_sum(xp.multiply(a, a, out=squares[: len(a)]), self.before, self.after, out=q)
            s *= dtype(self.alpha)
            s += dtype(self.k)
            power(s, -self.beta, out=r)
            xp.multiply(a, r, out=y[part])
            # q = 2 alpha beta b / s, the factor backward needs, written over s
            xp.divide(y[part], s, out=q)
            q *= dtype(2 * self.alpha * self.beta)
        return y

    def backward(self, gy):
        # db_j/da_i = [i == j] s_i^-beta - 2 alpha beta a_i a_j s_j^(-beta-1) for i in window(j);
        # i lies in window(j) exactly when j lies in the mirrored window of i
        xp = get_array_module(gy)
        gx = xp.empty_like(gy)
        parts = workspace.chunks(len(gy), gy[0].nbytes, gy, CHUNK_BYTES)
        products, sums = xp.empty_like(gy[parts[0]]), xp.empty_like(gy[parts[0]])
        for part in parts:
            g, n = gy[part], len(gy[part])
            mirrored = window_sum(xp.multiply(g, self.q[part], out=products[:n]), self.after, self.before, out=sums[:n])
            mirrored *= self.x[part]
            xp.subtract(xp.multiply(g, self.r[part], out=products[:n]), mirrored, out=gx[part])
        return gx


def local_response_norm(x: Any, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> Tensor:
    """The paper's LRN: b_i = a_i / (k + alpha * sum_j a_j^2)^beta over `size` neighbouring channels.

    The paper's alpha multiplies the plain sum. PyTorch (`torch.nn.LocalResponseNorm`) and
    Caffe divide alpha by `size` (and PyTorch defaults to k = 1), so the paper's layer is
    PyTorch's LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2): pass alpha * size there.
    """
    return LocalResponseNorm(size, alpha, beta, k)(x)
