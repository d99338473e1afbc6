"""Which classes a trained model mixes up: the confusion matrix and the most confused pairs."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from tinyalex.backend import to_cpu
from tinyalex.engine.tensor import no_grad
from tinyalex.experiments.neighbours import short_name
from tinyalex.experiments.output import new_figure


def predict_labels(model: Any, loader: Any) -> tuple[np.ndarray, np.ndarray]:
    """(true labels, predicted labels) over one pass of ``loader``, in eval mode: the top-1 class per image."""
    was_training = model.training
    model.eval()
    labels, predicted = [], []
    try:
        with no_grad():
            for x, y in loader:
                predicted.append(to_cpu(model(x).data.argmax(axis=1)))
                labels.append(to_cpu(y))
    finally:
        model.train(was_training)
    return np.concatenate(labels), np.concatenate(predicted)


def confusion_matrix(labels: Sequence[int], predicted: Sequence[int], num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: entry [i, j] is how many images of class i were predicted as class j."""
    labels, predicted = np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    if labels.shape != predicted.shape or labels.ndim != 1:
        raise ValueError(f"confusion_matrix: labels {labels.shape} and predictions {predicted.shape} must be "
                         "1-d of the same length")
    for name, values in (("labels", labels), ("predictions", predicted)):
        if len(values) and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {name} must lie in 0..{num_classes - 1}, "
                             f"got {values.min()}..{values.max()}")
    return np.bincount(labels * num_classes + predicted, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def most_confused(matrix: np.ndarray, class_names: Sequence[str], top: int = 5) -> list[tuple[str, str, int]]:
    """The ``top`` largest off-diagonal counts as (true class, predicted class, images), largest first."""
    off = np.array(matrix, dtype=np.int64)
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:top]
    pairs = [np.unravel_index(i, off.shape) for i in order]
    return [(class_names[i], class_names[j], int(off[i, j])) for i, j in pairs if off[i, j] > 0]


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """The matrix as an image (rows: true class, columns: predicted), with counts written in when it is small."""
    k = len(matrix)
    side = min(12.0, 3 + 0.45 * k)
    fig = new_figure(side + 1, side)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8, label="images")
    if k <= 20:
        names = [short_name(n) for n in class_names]
        ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize="small")
        ax.set_yticks(range(k), names, fontsize="small")
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    dark = matrix[i, j] > matrix.max() / 2
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize="x-small",
                            color="white" if dark else "black")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"Confusion matrix: {matrix.sum()} images, top-1 error {1 - accuracy:.1%}")
    return fig
