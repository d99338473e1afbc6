"""Learning curves as a PNG: loss on the left, top-1 and top-5 error on the right."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tinyalex.data import atomic


def plot_history(history: list[dict[str, Any]], path: str | Path) -> Path:
    """Draw the per-epoch records of ``fit`` into ``path`` (written atomically)."""
    path = Path(path)
    epochs = [r["epoch"] for r in history]
    # a Figure outside pyplot: no display or global backend needed (safe in threads, on servers,
    # and it leaves a notebook's inline plotting alone)
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    left.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    left.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    left.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    right.plot(epochs, [100 * (1 - r["train_accuracy"]) for r in history], "o-", label="train top-1")
    right.plot(epochs, [100 * r["top1_error"] for r in history], "o-", label="validation top-1")
    right.plot(epochs, [100 * r["top5_error"] for r in history], "o-", label="validation top-5")
    right.set(xlabel="epoch", ylabel="error (%)", title="Error", ylim=(0, 100))
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic.writing(path) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    return path
