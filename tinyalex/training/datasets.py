"""Which images a run trains on: the embedded default, a prepared subset, or an ImageNet-layout folder.

A run records its data as a small JSON-able description (``info``) in every checkpoint, so that
``evaluate`` and ``predict`` can find the images again and preprocess new ones the same way.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tinyalex.data.dataset import FolderDataset, PreparedDataset
from tinyalex.data.errors import DataError
from tinyalex.data.prepare import prepare, read_meta, unfinished
from tinyalex.data.synthetic import default_root, ensure_default_dataset
from tinyalex.models.alexnet import SMALL_INPUT_SIZE

# The paper crops 224 from 256 (Section 4.1); smaller crops keep that ratio.
PAPER_CROP, PAPER_SIZE = 224, 256
SMALLEST_SHARE = 0.75  # crops below this share of the stored side are warned about


def image_size_for(crop: int) -> int:
    """Side of the stored square images for a given crop: 256 for 224, 73 for 64."""
    return round(crop * PAPER_SIZE / PAPER_CROP)


def default_data(crop: int, progress: bool = True) -> Path:
    """The embedded shapes set, generated once and prepared once (cached under ``default_root()``)."""
    folder = ensure_default_dataset(progress=progress)
    size = image_size_for(crop)
    out = default_root() / f"{folder.name}-prepared-{size}"
    prepare(folder, out, size=size, progress=progress)
    return out


def open_datasets(data: str | os.PathLike | None, crop: int, progress: bool = True) -> tuple[Any, Any, dict]:
    """(train set, validation set, info) for ``--data``: None (the embedded default), a folder written
    by ``tinyalex prepare`` (has meta.json) or an ImageNet-layout folder (train/ and val/)."""
    source = "default" if data is None else "prepared" if read_meta(Path(data)) is not None else "folder"
    root = default_data(crop, progress) if data is None else Path(data)
    if source == "folder":
        if not root.exists():
            raise DataError(f"data folder {root} does not exist")
        if unfinished(root):
            raise DataError(unfinished(root))
        if not (root / "train").is_dir() or not (root / "val").is_dir():
            raise DataError(f"{root} is neither a prepared set (no meta.json) nor an ImageNet-layout folder with "
                            "train/ and val/ subfolders")
        train = FolderDataset(root, "train", size=image_size_for(crop))
        val = FolderDataset(root, "val", size=train.size, mean=train.mean, eigvals=train.eigvals,
                            eigvecs=train.eigvecs)
    else:
        train, val = PreparedDataset(root, "train"), PreparedDataset(root, "val")
    if len(train.wnids) < 2:
        raise DataError(f"{root} has {len(train.wnids)} class ({', '.join(train.wnids)}): a classifier needs at "
                        "least two to learn anything")
    if crop > train.size:
        fits = (f"; --model small trains on {SMALL_INPUT_SIZE}x{SMALL_INPUT_SIZE} crops" if train.size >= SMALL_INPUT_SIZE
                else "")
        raise DataError(f"{root} holds {train.size}x{train.size} images, too small for {crop}x{crop} crops: prepare "
                        f"the images with --size {image_size_for(crop)}{fits}")
    if crop < SMALLEST_SHARE * train.size:  # the paper's 224 of 256 see 88% of an image's side
        warnings.warn(f"{root} holds {train.size}x{train.size} images: {crop}x{crop} crops see only "
                      f"{crop / train.size:.0%} of an image's side (the paper's 224 of 256: 88%); prepare it with "
                      f"--size {image_size_for(crop)} for this crop", stacklevel=2)
    info = {
        "source": source, "root": str(root.resolve()), "size": int(train.size), "crop": int(crop),
        "wnids": list(train.wnids), "class_names": list(train.class_names),
        "eigvals": np.asarray(train.eigvals).tolist(), "eigvecs": np.asarray(train.eigvecs).tolist(),
    }
    return train, val, info


def open_split(info: dict, mean: np.ndarray, split: str = "val", data: str | os.PathLike | None = None) -> Any:
    """One split of the data a checkpoint describes (or of ``data`` instead), with the training mean.

    The classes must be the checkpoint's, in the same order, and the images the same size.
    """
    root = Path(data) if data is not None else Path(info["root"])
    if not root.is_dir():
        where = ("" if data is not None else
                 " (the checkpoint's data folder: moved or deleted? pass --data with where it is now)")
        raise DataError(f"data folder {root} does not exist{where}")
    if read_meta(root) is not None or unfinished(root):
        dataset = PreparedDataset(root, split)
        if dataset.size != info["size"]:
            raise DataError(f"{root} holds {dataset.size}px images; the checkpoint was trained on {info['size']}px")
    elif (root / split).is_dir():
        dataset = FolderDataset(root, split, size=info["size"], mean=mean, eigvals=np.asarray(info["eigvals"]),
                                eigvecs=np.asarray(info["eigvecs"]))
    else:
        raise DataError(f"{root} has no '{split}' split (expected a prepared set or {root / split}/<class>/...)")
    if list(dataset.wnids) != list(info["wnids"]):
        raise DataError(f"{root} has classes {list(dataset.wnids)[:5]}...; the checkpoint was trained on "
                        f"{list(info['wnids'])[:5]}... ({len(info['wnids'])} classes): they must match in order")
    dataset.mean = mean  # normalise with the statistics the network was trained with
    return dataset
