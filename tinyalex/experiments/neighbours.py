"""The paper's Figure 4: test images and the training images nearest to them in the feature space
of the last hidden layer (Section 6.1: "the smallest Euclidean distance" between the 4096-d
activations of fc7). Images whose pixels differ can be neighbours when the network sees them alike.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from tinyalex.backend import to_cpu
from tinyalex.data.augment import center_crop
from tinyalex.data.dataset import FolderDataset
from tinyalex.data.errors import DataError
from tinyalex.data.loader import DataLoader
from tinyalex.engine.tensor import as_tensor, no_grad
from tinyalex.experiments.output import new_figure
from tinyalex.experiments.subset import Subset

# fc7 after its activation: the last hidden layer (dropout, when on, is off in eval mode).
LAST_HIDDEN = "act7"


def hidden_features(model: Any, x: Any, layer: str = LAST_HIDDEN) -> Any:
    """The activations of child ``layer`` of ``model`` for the batch ``x``, in eval mode without gradients."""
    names = [name for name, _ in model.named_children()]
    if layer not in names:
        raise ValueError(f"hidden_features: the model has no layer {layer!r}; its layers are {names}")
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            scale = getattr(model, "input_scale", 1.0)  # as AlexNet.forward does before its first layer
            if scale != 1.0:
                x = as_tensor(x) * scale
            for name, child in model.named_children():
                x = child(x)
                if name == layer:
                    return x.data
    finally:
        model.train(was_training)


def dataset_features(model: Any, dataset: Any, crop: int, indices: Sequence[int] | None = None,
                     batch_size: int = 64, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (N, D) float32, labels (N,), indices (N,)) of the centre crops of ``dataset`` (or of its
    ``indices``): an image folder leaves out the files it cannot decode, and the indices say which are left."""
    ids = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    loader = DataLoader(Subset(dataset, ids), batch_size, train=False, crop=crop, device=device)
    features, labels = [], []
    for x, y in loader:
        features.append(to_cpu(hidden_features(model, x)).reshape(len(y), -1))
        labels.append(to_cpu(y))
    found = sum(len(y) for y in labels)
    if found != len(ids) and isinstance(dataset, FolderDataset):  # it skipped (and reported) what it could not decode
        ids = ids[[str(dataset.paths[i]) not in dataset.skipped for i in ids]]
    if found != len(ids) or not found:
        raise DataError(f"{found} of the {len(ids)} images asked for could be decoded")
    return np.concatenate(features).astype(np.float32), np.concatenate(labels), ids


def nearest_neighbours(queries: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances), each (Q, k): the ``k`` rows of ``gallery`` nearest to each row of ``queries``
    in Euclidean distance, nearest first (ties: the lower index first)."""
    q, g = np.asarray(queries, dtype=np.float64), np.asarray(gallery, dtype=np.float64)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"nearest_neighbours: expected (Q, D) and (N, D) features, got {q.shape} and {g.shape}")
    if not 1 <= k <= len(g):
        raise ValueError(f"nearest_neighbours: k must be between 1 and the gallery's {len(g)} rows, got {k}")
    # ||q - g||^2 = ||q||^2 - 2 q.g + ||g||^2
    squared = (q * q).sum(axis=1)[:, None] - 2 * q @ g.T + (g * g).sum(axis=1)[None, :]
    order = np.argsort(squared, axis=1, kind="stable")[:, :k]
    distances = np.sqrt(np.maximum(np.take_along_axis(squared, order, axis=1), 0))
    return order, distances


def display_images(dataset: Any, indices: Sequence[int], crop: int) -> np.ndarray:
    """(n, crop, crop, 3) uint8: the centre crops the network saw, for showing."""
    images, _ = dataset.load_batch(np.asarray(indices))
    return center_crop(images, crop)


def short_name(name: str) -> str:
    """'tench, Tinca tinca' -> 'tench'."""
    return name.split(",")[0]


def plot_neighbours(queries: np.ndarray, neighbours: np.ndarray, query_names: Sequence[str],
                    neighbour_names: Sequence[Sequence[str]]) -> Figure:
    """Figure 4's grid: one row per test image (left), its nearest training images to the right,
    each titled with its class: green when it is the test image's class, red when not."""
    rows, k = neighbours.shape[:2]
    fig = new_figure(1.2 * (k + 1) + 0.3, 1.35 * rows + 0.5)
    axes = fig.subplots(rows, k + 1, squeeze=False)
    for r in range(rows):
        axes[r, 0].imshow(queries[r])
        axes[r, 0].set_title(short_name(query_names[r]), fontsize="small", fontweight="bold")
        for j in range(k):
            ax, name = axes[r, j + 1], neighbour_names[r][j]
            ax.imshow(neighbours[r, j])
            ax.set_title(short_name(name), fontsize="small",
                         color="tab:green" if name == query_names[r] else "tab:red")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("test image")
    fig.suptitle("Test images (left) and their nearest training images in the last hidden layer", fontsize="medium")
    return fig


def neighbours_figure(model: Any, train: Any, test: Any, crop: int, queries: int = 5, k: int = 6,
                      gallery: int | None = None, seed: int = 0, batch_size: int = 64,
                      device: str = "cpu") -> Figure:
    """Figure 4 for ``queries`` test images drawn with ``seed``, searching ``gallery`` training images
    (drawn with ``seed``; None: all of them) for each one's ``k`` nearest."""
    rng = np.random.default_rng(seed)
    query_ids = np.sort(rng.choice(len(test), min(queries, len(test)), replace=False))
    gallery_ids = (np.arange(len(train)) if gallery is None or gallery >= len(train)
                   else np.sort(rng.choice(len(train), gallery, replace=False)))
    qf, ql, query_ids = dataset_features(model, test, crop, query_ids, batch_size, device)
    gf, gl, gallery_ids = dataset_features(model, train, crop, gallery_ids, batch_size, device)
    nearest, _ = nearest_neighbours(qf, gf, min(k, len(gf)))
    names = train.class_names
    neighbour_images = np.stack([display_images(train, gallery_ids[row], crop) for row in nearest])
    return plot_neighbours(display_images(test, query_ids, crop), neighbour_images,
                           [names[c] for c in ql], [[names[c] for c in gl[row]] for row in nearest])
