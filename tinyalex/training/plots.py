"""Learning curves as a PNG: loss (log scale) on the left, top-1 and top-5 error on the right, each
learning-rate change marked by a dashed line where it took effect."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tinyalex.data import atomic


def lr_changes(history: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(epoch, new learning rate) for every epoch trained with another rate than the one before it."""
    return [(now["epoch"], now["lr"]) for before, now in zip(history, history[1:]) if now["lr"] != before["lr"]]


def history_figure(history: list[dict[str, Any]]) -> Figure:
    """The curves of ``fit``'s per-epoch records."""
    epochs = [r["epoch"] for r in history]
    # a Figure outside pyplot: no display or global backend needed (safe in threads, on servers,
    # and it leaves a notebook's inline plotting alone)
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    left.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    left.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    left.set(xlabel="epoch", ylabel="cross-entropy loss (log scale)", title="Loss", yscale="log")
    right.plot(epochs, [100 * (1 - r["train_accuracy"]) for r in history], "o-", label="train top-1")
    right.plot(epochs, [100 * r["top1_error"] for r in history], "o-", label="validation top-1")
    right.plot(epochs, [100 * r["top5_error"] for r in history], "o-", label="validation top-5")
    right.set(xlabel="epoch", ylabel="error (%)", title="Error", ylim=(0, 100))
    for ax in (left, right):
        for k, (epoch, lr) in enumerate(lr_changes(history)):  # between the last epoch at the old rate and this one
            ax.axvline(epoch - 0.5, color="grey", linestyle="--", linewidth=1,
                       label="learning rate changed" if k == 0 else None)
            # labels of changes a few epochs apart would overlap at one height: three heights in turn
            ax.annotate(f"lr {lr:g}", (epoch - 0.5, 1), xycoords=("data", "axes fraction"),
                        xytext=(2, -12 - 11 * (k % 3)), textcoords="offset points", fontsize="small", color="grey")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_history(history: list[dict[str, Any]], path: str | Path) -> Path:
    """Draw the per-epoch records of ``fit`` into ``path`` (written atomically)."""
    path = Path(path)
    with atomic.writing(path) as tmp, open(tmp, "wb") as f:
        history_figure(history).savefig(f, format="png", dpi=100)
    return path
