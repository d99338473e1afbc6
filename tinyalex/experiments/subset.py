"""A class-balanced part of a data set, so that a quick experiment sees every class equally often."""
from __future__ import annotations

from typing import Any

import numpy as np

from tinyalex.data.dataset import load_rows


def balanced_indices(labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` indices into ``labels``, as evenly spread over the classes as possible, in disk order.

    The images of each class are taken in a random order fixed by ``seed``, round-robin over the
    classes: the first image of every class, then the second, and so on.
    """
    labels = np.asarray(labels)
    if not 1 <= count <= len(labels):
        raise ValueError(f"a subset needs between 1 and {len(labels)} images, got {count}")
    order = np.random.default_rng(seed).permutation(len(labels))
    seen: dict[int, int] = {}
    rank = np.empty(len(order), dtype=np.int64)  # how many images of the same class come earlier in `order`
    for position, i in enumerate(order):
        rank[position] = seen.get(int(labels[i]), 0)
        seen[int(labels[i])] = rank[position] + 1
    chosen = order[np.argsort(rank, kind="stable")[:count]]
    return np.sort(chosen)


class Subset:
    """The images ``indices`` of ``dataset``; every other attribute (size, mean, eigvals, eigvecs,
    wnids, class_names) is the whole data set's, so statistics stay those of the full training set."""

    def __init__(self, dataset: Any, indices: np.ndarray) -> None:
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=np.int64)
        self.labels = np.asarray(dataset.labels)[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.dataset[int(self.indices[i])]

    def load_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.dataset.load_batch(self.indices[np.asarray(indices)])

    def load_rows(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return load_rows(self.dataset, self.indices[np.asarray(indices)])

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (e.g. during copying): avoid recursing
            raise AttributeError(name)
        return getattr(self.dataset, name)


def balanced_subset(dataset: Any, count: int | None, seed: int = 0) -> Any:
    """``dataset`` itself when ``count`` is None or covers it, else a class-balanced ``Subset``."""
    if count is None or count >= len(dataset):
        return dataset
    return Subset(dataset, balanced_indices(dataset.labels, count, seed))
