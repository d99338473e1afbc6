"""Local response normalization across channels, with the paper's constants (Section 3.3)."""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor
from tinyalex.ops.validate import check_nchw


def window_sum(a: Any, before: int, after: int) -> Any:
    """s[:, i] = sum of a[:, j] for j in [i - before, i + after], clipped at the channel edges."""
    xp = get_array_module(a)
    channels = a.shape[1]
    padded = xp.pad(a, ((0, 0), (before, after), (0, 0), (0, 0)))
    s = padded[:, 0:channels].copy()
    for d in range(1, before + after + 1):
        s += padded[:, d : d + channels]
    return s


class LocalResponseNorm(Function):
    """Keeps x, the denominator base and the output for backward."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self.before, self.after = size // 2, (size - 1) // 2  # as PyTorch, for even sizes too

    def forward(self, x):
        check_nchw("local_response_norm", x)
        # b_i = a_i / (k + alpha * sum_{j=i-n/2}^{i+n/2} a_j^2)^beta
        self.x = x
        self.scale = self.k + self.alpha * window_sum(x * x, self.before, self.after)
        self.y = x * self.scale**-self.beta
        return self.y

    def backward(self, gy):
        # db_j/da_i = [i == j] s_i^-beta - 2 alpha beta a_i a_j s_j^(-beta-1) for i in window(j);
        # i lies in window(j) exactly when j lies in the mirrored window of i
        t = gy * self.y / self.scale
        mirrored = window_sum(t, self.after, self.before)
        return gy * self.scale**-self.beta - (2 * self.alpha * self.beta) * self.x * mirrored


def local_response_norm(x: Any, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> Tensor:
    """The paper's LRN: b_i = a_i / (k + alpha * sum_j a_j^2)^beta over `size` neighbouring channels.

    The paper's alpha multiplies the plain sum. PyTorch (`torch.nn.LocalResponseNorm`) and
    Caffe divide alpha by `size` (and PyTorch defaults to k = 1), so the paper's layer is
    PyTorch's LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2): pass alpha * size there.
    """
    return LocalResponseNorm(size, alpha, beta, k)(x)
