"""Dropout as a layer: active in train(), the identity in eval()."""
from typing import Any

from tinyalex.layers.init import as_rng
from tinyalex.layers.module import Module
from tinyalex.ops.dropout import check_p, dropout


class Dropout(Module):
    """Owns its numpy Generator (`self.rng`), whose state a checkpoint can save for exact resumes."""

    def __init__(self, p: float = 0.5, rng: Any = None):
        self.p = check_p(p)
        self.rng = as_rng(rng)

    def forward(self, x):
        return dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
