"""Training curves: the paper's Figure 1 (ReLU against tanh) and every ablation variant in one figure, one
line per seed."""
from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tinyalex.experiments.output import new_figure

# Figure 1 of the paper: "a 25% training error rate on CIFAR-10".
THRESHOLD = 0.25


def training_error(history: list[dict[str, Any]]) -> list[float]:
    """Per epoch, the fraction of training images misclassified while training (dropout and augmentation on)."""
    return [1.0 - r["train_accuracy"] for r in history]


def epochs_to_error(history: list[dict[str, Any]], threshold: float = THRESHOLD) -> int | None:
    """The first epoch whose training error is at most ``threshold``; None if no epoch reached it."""
    for record, error in zip(history, training_error(history)):
        if error <= threshold:
            return int(record["epoch"])
    return None


def reach_label(label: str, runs: list[list[dict[str, Any]]], threshold: float = THRESHOLD) -> str:
    """``label`` with the epoch at which each run (one per seed) reached ``threshold`` training error."""
    reached = [epochs_to_error(history, threshold) for history in runs]
    if len(runs) == 1:
        note = f"reaches {threshold:.0%} at epoch {reached[0]}" if reached[0] else f"does not reach {threshold:.0%}"
        return f"{label} ({note})"
    epochs = ", ".join(str(e) if e else "not reached" for e in reached)
    return f"{label}, {len(runs)} seeds (epochs to {threshold:.0%}: {epochs})"


def plot_relu_tanh(relu: list[list[dict[str, Any]]], tanh: list[list[dict[str, Any]]],
                   threshold: float = THRESHOLD) -> Figure:
    """Figure 1: training error against epochs, ReLU solid and tanh dashed (one line per seed's
    history), with the 25% line."""
    fig = new_figure(5.5, 4)
    ax = fig.add_subplot()
    for runs, style, label in ((relu, "-", "ReLU"), (tanh, "--", "tanh")):
        for i, history in enumerate(runs):
            ax.plot([r["epoch"] for r in history], training_error(history), style, marker="o", color="k",
                    alpha=1.0 if len(runs) == 1 else 0.6, label=reach_label(label, runs, threshold) if i == 0 else None)
    ax.axhline(threshold, color="tab:red", lw=0.8, ls=":")
    ax.set(xlabel="epochs", ylabel="training error rate", ylim=(0, 1), title="ReLU against tanh (paper's Figure 1)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_variant_curves(histories: dict[str, list[list[dict[str, Any]]]]) -> Figure:
    """Training error (left) and validation top-1 error (right) against epochs: one colour per variant,
    one line per seed's history."""
    fig = new_figure(10, 4)
    left, right = fig.subplots(1, 2)
    for i, (name, runs) in enumerate(histories.items()):
        style = "-" if name == "baseline" else "--"
        width = 2.5 if name == "baseline" else 1.2
        for j, history in enumerate(runs):
            epochs = [r["epoch"] for r in history]
            options = dict(lw=width, marker=".", color=f"C{i % 10}", label=name if j == 0 else None)
            left.plot(epochs, training_error(history), style, **options)
            right.plot(epochs, [r["top1_error"] for r in history], style, **options)
    left.set(xlabel="epoch", ylabel="training error", title="Training error (while training)", ylim=(0, 1))
    right.set(xlabel="epoch", ylabel="validation top-1 error", title="Validation top-1 error (centre crop)",
              ylim=(0, 1))
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    right.legend(fontsize="small")
    return fig
