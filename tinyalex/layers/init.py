"""Parameter initialisation: the paper draws weights from N(0, 0.01^2) (Section 5)."""
from __future__ import annotations

from typing import Any

import numpy as np


def normal(shape: tuple, std: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """float32 weights from N(0, std^2), drawn on the host so one seed gives one network everywhere."""
    rng = rng if rng is not None else np.random.default_rng()
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)


def constant(shape: tuple, value: float) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def as_rng(seed: Any) -> np.random.Generator:
    """A Generator from a seed, or the Generator itself."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
