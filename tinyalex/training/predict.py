"""Classify image files with a trained model: the top-5 classes and their probabilities."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from tinyalex.backend import resolve_device, to_cpu, to_device
from tinyalex.data.augment import center_crop, ten_crop
from tinyalex.data.class_names import display_names
from tinyalex.data.decode import load_rgb_square
from tinyalex.data.errors import BadImageError
from tinyalex.engine.tensor import no_grad
from tinyalex.functional import softmax
from tinyalex.layers import Module
from tinyalex.training.checkpoint import data_of, load_model

BATCH = 32  # images per forward pass


@dataclass
class Prediction:
    """One file's result: ``top`` holds (wnid, class name, probability), most likely first;
    ``error`` says why the file could not be classified (then ``top`` is empty)."""

    path: str
    top: list[tuple[str, str, float]] = field(default_factory=list)
    error: str | None = None


def find_images(paths: Sequence[str | os.PathLike]) -> tuple[list[str], list[str]]:
    """(files, folders without images): each path given, and every file under each folder given
    (recursively, sorted, hidden files and folders left out) whose extension Pillow reads."""
    extensions = {ext.lower() for ext in Image.registered_extensions()}
    files, empty = [], []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(str(path))
            continue
        found = []
        for folder, subfolders, names in os.walk(path):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            found += [os.path.join(folder, n) for n in sorted(names)
                      if not n.startswith(".") and os.path.splitext(n)[1].lower() in extensions]
        files += found
        if not found:
            empty.append(str(path))
    return files, empty


def predict_images(model: Module, paths: Sequence[str | os.PathLike], info: dict, mean: np.ndarray,
                   top: int = 5, ten_crops: bool = False, device: str = "cpu") -> list[Prediction]:
    """Preprocess each file as in training (rescale the shorter side, centre square, crop, subtract
    the mean image) and classify it; with ``ten_crops`` average the softmax over the paper's ten crops.
    A file that cannot be decoded gets an ``error`` and the others are still classified."""
    results, images = [], []
    for path in paths:
        try:
            images.append(load_rgb_square(path, info["size"]))
            results.append(Prediction(str(path)))
        except BadImageError as exc:
            results.append(Prediction(str(path), error=exc.reason))
    good = [r for r in results if r.error is None]
    if not good:
        return results
    crop = info["crop"]
    cut = ten_crop if ten_crops else center_crop
    mean_crops = cut(mean, crop).astype(np.float32)
    model.eval()
    probs = []
    for start in range(0, len(images), BATCH):
        x = cut(np.stack(images[start:start + BATCH]), crop).astype(np.float32) - mean_crops
        x = np.ascontiguousarray(x.reshape(-1, crop, crop, 3).transpose(0, 3, 1, 2))
        with no_grad():
            p = to_cpu(softmax(model(to_device(x, device))).data)
        probs.append(p.reshape(-1, 10 if ten_crops else 1, p.shape[1]).mean(axis=1))
    names = display_names(info["wnids"], info.get("class_names"))
    for result, p in zip(good, np.concatenate(probs)):
        best = np.argsort(-p, kind="stable")[:top]
        result.top = [(info["wnids"][k], names[k], float(p[k])) for k in best]
    return results


def predict_checkpoint(path: str | os.PathLike, images: Sequence[str | os.PathLike], top: int = 5,
                       ten_crops: bool = False, device: str | None = "auto") -> list[Prediction]:
    """``predict_images`` with the model, classes and preprocessing saved in a checkpoint."""
    device = resolve_device(device)
    model, checkpoint = load_model(path, device)
    return predict_images(model, images, data_of(path, checkpoint), checkpoint["mean"], top, ten_crops, device)
