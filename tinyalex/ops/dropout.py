"""Dropout (Section 4.2), in the inverted form."""
from __future__ import annotations

from typing import Any

import numpy as np

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor, as_tensor


class Dropout(Function):
    """Multiplies by a saved mask of 0 and 1/(1-p); keeps only that mask."""

    def __init__(self, mask: Any):
        self.mask = mask

    def forward(self, x):
        return x * self.mask

    def backward(self, gy):
        return gy * self.mask


def check_p(p: float) -> float:
    """The drop probability, refused outside [0, 1) (p = 1 would scale by 1/0)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    return p


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Zero each unit with probability p while training.

    The paper zeroes units with p = 0.5 and multiplies the outputs by 0.5 at test time.
    We use the equivalent inverted form, as PyTorch does: the kept units are scaled by
    1/(1-p) while training and nothing changes at test time. Either way the test-time
    output is the expected value of the training-time output. `rng` is a
    numpy.random.Generator; masks are drawn on the host even for CuPy inputs, so that one
    seed gives the same masks on every device.
    """
    x = as_tensor(x)
    check_p(p)
    if not training or p == 0.0:
        return x
    xp = get_array_module(x.data)
    rng = rng if rng is not None else np.random.default_rng()
    keep = rng.random(x.shape, dtype=np.float32) >= p
    mask = xp.asarray(keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p)))
    return Dropout(mask)(x)
