"""The paper's learning-rate schedule (Section 5): divide by 10 when validation error stops improving."""
from __future__ import annotations

from typing import Any

from tinyalex.optim.momentum_sgd import MomentumSGD


class ReduceLROnPlateau:
    """Call `step(val_error)` once per epoch.

    When the error has not improved on the best seen (by more than `threshold`) for `patience`
    epochs in a row, every group's lr is multiplied by `factor` (floored at `min_lr`). The paper
    "reduced three times prior to termination": once `max_reductions` reductions have been made
    (or lr sits at the floor) the next plateau sets `stop` instead, which the trainer obeys.
    `max_reductions=None` never stops.
    """

    def __init__(self, optimizer: MomentumSGD, factor: float = 0.1, patience: int = 3, min_lr: float = 1e-6,
                 max_reductions: int | None = 3, threshold: float = 0.0):
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        if patience < 1:
            raise ValueError(f"ReduceLROnPlateau: patience must be at least 1 epoch, got {patience}")
        self.optimizer = optimizer
        self.factor, self.patience, self.min_lr = factor, patience, min_lr
        self.max_reductions, self.threshold = max_reductions, threshold
        self.best: float | None = None
        self.bad_epochs = 0
        self.reductions = 0
        self.stop = False

    def step(self, val_error: float) -> bool:
        """Record one epoch's validation error; True when the learning rate was just reduced."""
        if self.best is None or val_error < self.best - self.threshold:
            self.best, self.bad_epochs = val_error, 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs < self.patience:
            return False
        exhausted = self.max_reductions is not None and self.reductions >= self.max_reductions
        if exhausted or all(group["lr"] <= self.min_lr for group in self.optimizer.param_groups):
            self.stop = True
            return False
        for group in self.optimizer.param_groups:
            group["lr"] = max(group["lr"] * self.factor, self.min_lr)
        self.reductions += 1
        self.bad_epochs = 0
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs, "reductions": self.reductions, "stop": self.stop}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad_epochs = state["best"], state["bad_epochs"]
        self.reductions, self.stop = state["reductions"], state["stop"]
