"""Softmax, log-softmax and the softmax cross-entropy loss of the 1000-way output (Section 3.5)."""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor, as_tensor
from tinyalex.ops.validate import ShapeError


def _log_softmax(z: Any) -> Any:
    """log softmax along axis 1, stable for large logits: z - max - log sum exp(z - max)."""
    xp = get_array_module(z)
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


class SoftmaxCrossEntropy(Function):
    """Keeps the softmax probabilities: backward is (p - onehot) / N."""

    def __init__(self, labels: Any):
        self.labels = labels

    def forward(self, z):
        xp = get_array_module(z)
        t = self.labels
        n = z.shape[0] if z.ndim else None
        if z.ndim != 2 or t.shape != (n,):
            raise ShapeError(f"softmax_cross_entropy: expected logits (N, K) and labels (N,), got {z.shape} and {t.shape}")
        if t.dtype.kind not in "iu" or (n and (int(t.min()) < 0 or int(t.max()) >= z.shape[1])):
            raise ShapeError(f"softmax_cross_entropy: labels must be integers in [0, {z.shape[1]}), got {t}")
        logp = _log_softmax(z)
        self.p = xp.exp(logp)
        # L = -(1/N) sum_n log p[n, t_n]
        return xp.asarray(-logp[xp.arange(n), t].mean(), dtype=z.dtype)

    def backward(self, gy):
        xp = get_array_module(gy)
        n = self.p.shape[0]
        # dL/dz = (p - onehot(t)) / N, p = softmax(z)
        g = self.p.copy()
        g[xp.arange(n), self.labels] -= 1
        return g * (gy / n)


def softmax_cross_entropy(logits: Any, labels: Any) -> Tensor:
    """Mean over the batch of -log softmax(logits)[label]; labels are integer class indices."""
    labels = labels.data if isinstance(labels, Tensor) else labels
    xp = get_array_module(as_tensor(logits).data)
    return SoftmaxCrossEntropy(xp.asarray(labels))(logits)


class LogSoftmax(Function):
    """Keeps only the output: its exponential is the softmax that backward needs."""

    def forward(self, z):
        # y_k = z_k - log sum_j exp(z_j)
        self.y = _log_softmax(z)
        return self.y

    def backward(self, gy):
        # dL/dz_j = gy_j - softmax(z)_j * sum_k gy_k
        xp = get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=1, keepdims=True)


def log_softmax(logits: Any) -> Tensor:
    """log softmax over axis 1."""
    return LogSoftmax()(logits)


def softmax(logits: Any) -> Tensor:
    """Probabilities over axis 1 (for inference; train with softmax_cross_entropy)."""
    return log_softmax(logits).exp()
