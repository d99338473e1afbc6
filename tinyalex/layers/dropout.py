"""Dropout as a layer: active in train(), the identity in eval()."""
from __future__ import annotations

from typing import Any

from tinyalex.layers.module import Module
from tinyalex.ops.dropout import check_p, check_seed, dropout, random_seed


class Dropout(Module):
    """Holds its mask seed and `step`, the number of masks drawn so far (the state a checkpoint saves).

    Every training forward draws the mask `keep_mask(shape, p, seed, step, first_row)` and then
    advances `step`, so each step gets a fresh mask and a resumed run draws the masks an
    uninterrupted one would have. `first_row` is the global row of this worker's first row in
    data-parallel training (0 otherwise), so that the workers' masks together are the mask of the
    whole batch. Without a seed, one is drawn at random.
    """

    def __init__(self, p: float = 0.5, seed: int | None = None):
        self.p = check_p(p)
        self.seed = random_seed() if seed is None else check_seed(seed)
        self.step = 0
        self.first_row = 0

    def forward(self, x: Any) -> Any:
        y = dropout(x, self.p, self.training, self.seed, self.step, self.first_row)
        if self.training:
            self.skip()
        return y

    def skip(self) -> None:
        """Advance to the next mask without drawing this one (a worker with no rows in this batch)."""
        self.step += 1

    def extra_repr(self) -> str:
        return f"p={self.p}"
