"""Data sets the loader reads: a prepared subset (memory-mapped) or an image folder (decoded on the fly).

Both give ``images`` of ``size`` x ``size`` x 3 uint8, ``labels`` (int64 indices into the
sorted ``wnids``), ``class_names``, the training ``mean`` image (float64, size x size x 3) and
the RGB ``eigvals``/``eigvecs`` for fancy PCA (0..255 scale), plus ``load_batch(indices)``.
A folder may fail to decode an image; its ``load_rows`` also says which of the rows it loaded.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tinyalex.data.decode import load_rgb_square
from tinyalex.data.errors import BadImageError, DataError
from tinyalex.data.layouts import find_split, has_split, read_class_names
from tinyalex.data.prepare import class_names_of, read_meta, unfinished
from tinyalex.data.stats import image_statistics, principal_components


def load_rows(dataset: Any, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dataset``'s images and labels for ``indices``, and the positions in ``indices`` they are of.

    The positions are all of them unless the data set left an undecodable image out; the loader
    needs them to give every image the crop it gets however the batch is split.
    """
    if hasattr(dataset, "load_rows"):
        return dataset.load_rows(indices)
    images, labels = dataset.load_batch(indices)
    return images, labels, np.arange(len(labels))


class PreparedDataset:
    """One split of a folder written by ``prepare``; images stay on disk as a memory map."""

    def __init__(self, root: str | os.PathLike, split: str = "train") -> None:
        self.root = Path(root)
        meta = read_meta(self.root)
        if meta is None:
            if (self.root / "train").is_dir():  # the images themselves: they are prepared into another folder
                raise DataError(f"{self.root} is an ImageNet-layout folder, not a prepared set: run `tinyalex "
                                f"prepare {self.root} --out PREPARED` and use PREPARED (or FolderDataset for "
                                "the folder as it is)")
            raise DataError(unfinished(self.root) or f"{self.root} is not a prepared set (no valid meta.json): "
                            f"run `tinyalex prepare SRC --out {self.root}` first")
        if split not in meta["counts"]:
            why = " (its source had no val/ folder: give it one and prepare again)" if split == "val" else ""
            raise DataError(f"{self.root} has no '{split}' split{why}: it has {', '.join(meta['counts'])}")
        self.split = split
        self.size = int(meta["size"])
        self.wnids: list[str] = meta["wnids"]
        self.class_names = class_names_of(self.root, meta)
        self.images = np.load(self.root / f"{split}_images.npy", mmap_mode="r")
        self.labels = np.load(self.root / f"{split}_labels.npy")
        self.paths: list[str] = json.loads((self.root / f"{split}_paths.json").read_text(encoding="utf-8"))
        # the files of this split that prepare left out, and why (older sets lack "split": read from the path)
        self.skipped = {s["path"]: s["reason"] for s in meta["skipped"]
                        if s.get("split", split if split in Path(s["path"]).parts else None) == split}
        self.mean = np.load(self.root / "mean.npy")
        with np.load(self.root / "pca.npz") as pca:
            self.cov, self.eigvals, self.eigvecs = pca["cov"], pca["eigvals"], pca["eigvecs"]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return np.asarray(self.images[i]), int(self.labels[i])

    def load_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, size, size, 3) uint8 and (N,) int64 for ``indices``, read in disk order."""
        indices = np.asarray(indices)
        order = np.argsort(indices, kind="stable")
        images = np.empty((len(indices), *self.images.shape[1:]), dtype=np.uint8)
        images[order] = self.images[indices[order]]
        return images, self.labels[indices]


class FolderDataset:
    """One split of an ImageNet-layout folder, decoded and rescaled/cropped on every access.

    Labels index the sorted wnids of the ``train`` split (of this split if there is no
    train folder), so train and val agree. Without ``mean``/``eigvals``/``eigvecs`` the
    statistics are estimated from ``stats_images`` training images chosen with ``seed``
    (an estimate: ``prepare`` computes them on the whole set). A file that cannot be decoded
    is left out of its batch, recorded in ``skipped`` and warned about once; so is a class whose
    every file turned out undecodable (a classifier for a class it never sees, as ``prepare`` refuses).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", size: int = 256,
                 mean: np.ndarray | None = None, eigvals: np.ndarray | None = None,
                 eigvecs: np.ndarray | None = None, stats_images: int = 256, seed: int = 0) -> None:
        self.root, self.split, self.size = Path(root), split, size
        unlisted: list[tuple[str, str]] = []
        listing = find_split(self.root, split, unlisted)
        train = find_split(self.root, "train") if split != "train" and has_split(self.root, "train") else None
        self.wnids = sorted({w for _, w in (train if train is not None else listing)})
        index = {w: k for k, w in enumerate(self.wnids)}
        names = read_class_names(self.root, self.wnids)
        self.class_names = [names[w] for w in self.wnids]
        self.paths = [p for p, w in listing if w in index]
        self.labels = np.array([index[w] for _, w in listing if w in index], dtype=np.int64)
        self.skipped: dict[str, str] = dict(unlisted)
        self.skipped.update({str(p): f"class {w} is not in the training set" for p, w in listing if w not in index})
        if self.skipped:
            shown = "; ".join(f"{path} ({reason})" for path, reason in sorted(self.skipped.items())[:5])
            more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            count = f"{len(self.skipped)} entr{'y' if len(self.skipped) == 1 else 'ies'}"
            warnings.warn(f"skipping {count} of {self.root / split}: {shown}{more}", stacklevel=2)
        self.lost_classes: set[int] = set()  # labels none of whose files could be decoded
        self._position_of: dict[str, int] | None = None
        if mean is None or eigvals is None or eigvecs is None:
            sample = train if train is not None else listing
            estimate = self._estimate_statistics([p for p, _ in sample], stats_images, seed)
            mean = estimate[0] if mean is None else mean
            eigvals = estimate[1] if eigvals is None else eigvals
            eigvecs = estimate[2] if eigvecs is None else eigvecs
        self.mean, self.eigvals, self.eigvecs = np.asarray(mean), np.asarray(eigvals), np.asarray(eigvecs)
        if self.mean.shape != (size, size, 3):
            raise DataError(f"mean image has shape {self.mean.shape}, expected {(size, size, 3)}")

    def _estimate_statistics(self, paths: list[Path], count: int,
                             seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(paths), min(count, len(paths)), replace=False)
        images = [img for img in (self._decode(paths[i]) for i in sorted(chosen)) if img is not None]
        if not images:
            raise DataError(f"none of the sampled images of {self.root} could be decoded")
        mean, cov = image_statistics(np.stack(images))
        return (mean, *principal_components(cov))

    def _decode(self, path: Path) -> np.ndarray | None:
        try:
            return load_rgb_square(path, self.size)
        except BadImageError as exc:
            if exc.path not in self.skipped:
                self.skipped[exc.path] = exc.reason
                warnings.warn(f"skipping {exc}", stacklevel=3)
                self._check_class_of(exc.path)
            return None

    def _check_class_of(self, path: str) -> None:
        """Warn, once, when ``path`` was the last decodable hope of its class in this split."""
        if self._position_of is None:  # built at the first undecodable file, not for every data set
            self._position_of = {str(p): k for k, p in enumerate(self.paths)}
        position = self._position_of.get(path)
        if position is None:  # a training file sampled for the statistics of the validation split
            return
        label = int(self.labels[position])
        files = [str(self.paths[k]) for k in np.flatnonzero(self.labels == label)]
        if label in self.lost_classes or any(f not in self.skipped for f in files):
            return
        self.lost_classes.add(label)
        consequence = "the network never sees that class" if self.split == "train" else "that class is never tested"
        warnings.warn(f"none of the {len(files)} files of class {self.wnids[label]} in {self.root / self.split} "
                      f"could be decoded, so {consequence}; mend or remove them", stacklevel=4)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return load_rgb_square(self.paths[i], self.size), int(self.labels[i])

    def load_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decoded images and labels for ``indices``, undecodable files left out."""
        return self.load_rows(indices)[:2]

    def load_rows(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``load_batch``, and the positions in ``indices`` of the images it decoded."""
        decoded = [(row, img) for row, img in enumerate(self._decode(self.paths[i]) for i in indices)
                   if img is not None]
        rows = np.array([row for row, _ in decoded], dtype=np.int64)
        if not decoded:
            return np.zeros((0, self.size, self.size, 3), np.uint8), np.zeros(0, np.int64), rows
        return np.stack([img for _, img in decoded]), self.labels[np.asarray(indices)[rows]], rows
