"""The data set a lesson trains on, from its `DATA` switch.

`DATA` is one of

- None: the embedded data set of drawn shapes, generated on first use into the cache folder
  (`$TINYALEX_DATA`, default `~/.cache/tinyalex`);
- a folder in the ImageNet layout (`train/<class>/*.JPEG`, `val/<class>/...`);
- a folder written by `tinyalex prepare` (it holds a `meta.json`).

The first two are prepared once, at the lesson's image size, into the cache folder. A prepared set is opened
where it is, as `tinyalex train --data` opens it; when its images are not the lesson's size they are rescaled
to it in memory (the squares rescaled again, as `tinyalex prepare --size` would have made them from the
originals), with the mean image and the RGB principal components computed again from them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from tinyalex.data.dataset import PreparedDataset
from tinyalex.data.decode import RESAMPLE
from tinyalex.data.layouts import find_split
from tinyalex.data.prepare import prepare, read_meta
from tinyalex.data.stats import image_statistics, principal_components
from tinyalex.data.synthetic import default_root, ensure_default_dataset

__all__ = ["source_folder", "is_prepared", "open_splits", "training_files", "Rescaled"]


def source_folder(data: str | os.PathLike | None) -> Path:
    """The folder `DATA` names, or the embedded shapes' folder (generated on first use)."""
    return Path(data) if data else ensure_default_dataset(train_per_class=100, val_per_class=20, progress=False)


def is_prepared(folder: str | os.PathLike) -> bool:
    """Whether a folder is a finished set written by `tinyalex prepare`."""
    return read_meta(Path(folder)) is not None


def open_splits(data: str | os.PathLike | None, size: int, cache: str, splits: tuple[str, ...] = ("train", "val")):
    """The lesson's splits of `DATA` as `size` x `size` squares: one data set per name in `splits`.

    `cache` names the folder (in the cache folder) that a raw folder is prepared into; "{name}" in it becomes
    the source folder's name. A prepared set is opened where it is (and rescaled when it is not `size` pixels).
    """
    source = source_folder(data)
    if is_prepared(source):
        opened = [PreparedDataset(source, split) for split in splits]
        if opened[0].size != size:
            print(f"{source.name}: a prepared set of {opened[0].size}-pixel images, rescaled here to {size}")
            first = Rescaled(opened[0], size)
            opened = [first] + [Rescaled(d, size, statistics_of=first) for d in opened[1:]]
        return opened
    prepared = Path(default_root()) / cache.format(name=source.name)
    prepare(source, prepared, size=size, progress=False)
    return [PreparedDataset(prepared, split) for split in splits]


def training_files(data: str | os.PathLike | None) -> list[tuple[Path, str]]:
    """(path, class id) of every original training image: the folder's own, or for a prepared set those it was
    prepared from that are still where they were (an empty list when none is)."""
    source = source_folder(data)
    meta = read_meta(source)
    if meta is None:
        return find_split(source, "train")
    train = PreparedDataset(source, "train")
    found = [(Path(meta["src"]) / path, train.wnids[label]) for path, label in zip(train.paths, train.labels)]
    return [(path, wnid) for path, wnid in found if path.is_file()]


class Rescaled:
    """One split of a prepared set with its images rescaled to `size` x `size` in memory; the same interface as
    `PreparedDataset` (images, labels, class_names, mean, eigvals, eigvecs, load_batch).

    The mean image and the RGB covariance are computed from the rescaled training images, or taken from
    `statistics_of` (the training split) for a validation split, as `tinyalex prepare` does.
    """

    def __init__(self, dataset: PreparedDataset, size: int, statistics_of: "Rescaled | None" = None) -> None:
        self.root, self.split, self.size = dataset.root, dataset.split, size
        self.wnids, self.class_names, self.paths = dataset.wnids, dataset.class_names, dataset.paths
        self.labels, self.skipped = dataset.labels, dataset.skipped
        self.images = np.stack([np.asarray(Image.fromarray(np.asarray(image)).resize((size, size), RESAMPLE))
                                for image in dataset.images]) if len(dataset) else np.empty((0, size, size, 3), np.uint8)
        if statistics_of is None:
            self.mean, self.cov = image_statistics(self.images)
            self.eigvals, self.eigvecs = principal_components(self.cov)
        else:
            self.mean, self.cov = statistics_of.mean, statistics_of.cov
            self.eigvals, self.eigvecs = statistics_of.eigvals, statistics_of.eigvecs

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.images[i], int(self.labels[i])

    def load_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        indices = np.asarray(indices)
        return self.images[indices], self.labels[indices]
