"""The paper's data augmentation (section 4.1) and test-time crops, on NumPy HWC arrays.

Images are (H, W, C) or batches (N, H, W, C). Every random choice comes from the ``rng``
(a ``numpy.random.Generator``) passed in, so a seed fixes every crop, flip and colour shift.
"""
from __future__ import annotations

import numpy as np


def _check_crop(shape: tuple[int, ...], crop: int) -> tuple[int, int]:
    h, w = shape[-3], shape[-2]
    if not 1 <= crop <= min(h, w):
        raise ValueError(f"crop {crop} does not fit images of {h}x{w}: expected 1 <= crop <= {min(h, w)}")
    return h, w


def crop_params(n: int, hw: tuple[int, int], crop: int, rng: np.random.Generator,
                flip: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top offsets, left offsets (uniform over every position) and flip flags for n images."""
    h, w = hw
    ys = rng.integers(0, h - crop + 1, size=n)
    xs = rng.integers(0, w - crop + 1, size=n)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, dtype=bool)
    return ys, xs, flips


def crop_flip(images: np.ndarray, ys: np.ndarray, xs: np.ndarray, flips: np.ndarray, crop: int) -> np.ndarray:
    """(N, crop, crop, C): image i cut at (ys[i], xs[i]) and mirrored left-right where flips[i]."""
    out = np.empty((len(ys), crop, crop, images.shape[-1]), dtype=images.dtype)
    for i, (y, x, flipped) in enumerate(zip(ys, xs, flips)):
        patch = images[i, y:y + crop, x:x + crop]
        out[i] = patch[:, ::-1] if flipped else patch
    return out


def random_crop_flip(images: np.ndarray, crop: int, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
    """Random crop x crop patches, each mirrored with probability 1/2: "extracting random
    224 x 224 patches (and their horizontal reflections) from the 256 x 256 images"."""
    single = images.ndim == 3
    batch = images[None] if single else images
    _check_crop(batch.shape, crop)
    out = crop_flip(batch, *crop_params(len(batch), batch.shape[1:3], crop, rng, flip), crop)
    return out[0] if single else out


def center_crop(images: np.ndarray, crop: int) -> np.ndarray:
    """The central crop x crop patch of an image or of every image of a batch."""
    h, w = _check_crop(images.shape, crop)
    top, left = (h - crop) // 2, (w - crop) // 2
    return images[..., top:top + crop, left:left + crop, :]


def ten_crop_params(hw: tuple[int, int], crop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top offsets, left offsets and flip flags of the ten test crops, in ``ten_crop`` order."""
    h, w = hw
    corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop), ((h - crop) // 2, (w - crop) // 2)]
    ys, xs = np.array(corners * 2).T
    return ys, xs, np.repeat([False, True], 5)


def ten_crop(images: np.ndarray, crop: int) -> np.ndarray:
    """The paper's test-time set: (10, crop, crop, C) per image, (N, 10, ...) per batch.

    Order: top-left, top-right, bottom-left, bottom-right, centre, then the same five
    mirrored left-right (crop k + 5 is crop k flipped).
    """
    h, w = _check_crop(images.shape, crop)
    crops = []
    for y, x, flipped in zip(*ten_crop_params((h, w), crop)):
        patch = images[..., y:y + crop, x:x + crop, :]
        crops.append(patch[..., ::-1, :] if flipped else patch)
    return np.stack(crops, axis=-4)


def average_ten_crop(outputs: np.ndarray, crops: int = 10) -> np.ndarray:
    """Average per-crop outputs (N * crops, K), image-major, into (N, K): "averaging the
    predictions made by the network's softmax layer on the ten patches"."""
    return outputs.reshape(-1, crops, *outputs.shape[1:]).mean(axis=1)


def pca_shifts(n: int, eigvals: np.ndarray, eigvecs: np.ndarray, rng: np.random.Generator,
               std: float = 0.1, scale: float = 1.0) -> np.ndarray:
    """(n, C) colour shifts [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T / scale, a_i ~ N(0, std) per image.

    ``eigvals``/``eigvecs`` (columns p_i) are those of the RGB covariance of pixels on the
    0..``scale`` range. The paper's formula is applied on the 0..1 range, the common reading
    of it (with 0..255 eigenvalues of ~10^4 it would move pixels by about a thousand levels): on 0..scale
    pixels the shift is P (a * l) / scale. ``scale=1`` is the formula exactly as printed.
    """
    alphas = rng.normal(0.0, std, size=(n, len(eigvals)))
    return (alphas * eigvals) @ eigvecs.T / scale  # row n: P (alpha_n * lambda) / scale


def fancy_pca(batch: np.ndarray, eigvals: np.ndarray, eigvecs: np.ndarray, rng: np.random.Generator,
              std: float = 0.1, scale: float = 1.0) -> np.ndarray:
    """Add one ``pca_shifts`` colour to every pixel of each image (section 4.1's "altering the
    intensities of the RGB channels"). Returns a new float array (float32 for integer input)."""
    single = batch.ndim == 3
    images = batch[None] if single else batch
    if not np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32)
    shifts = pca_shifts(len(images), eigvals, eigvecs, rng, std, scale)
    out = images + shifts[:, None, None, :].astype(images.dtype)
    return out[0] if single else out


def crop_to_nchw(images: np.ndarray, ys: np.ndarray, xs: np.ndarray, flips: np.ndarray, crop: int,
                 mean_chw: np.ndarray | None = None, shifts: np.ndarray | None = None,
                 source: np.ndarray | None = None) -> np.ndarray:
    """The network's input in one pass per crop: float32 (len(ys), C, crop, crop).

    Crop k is image ``source[k]`` (default k) cut at (ys[k], xs[k]), mirrored where flips[k],
    minus ``mean_chw`` (C, H, W float32) cut and mirrored the same way, plus ``shifts[k]``.
    Equal to ``crop_flip`` then ``subtract_mean`` then ``fancy_pca`` then a transpose, without
    the four full-size temporaries (the loader's hot loop).
    """
    out = np.empty((len(ys), images.shape[-1], crop, crop), dtype=np.float32)
    for k, (y, x, flipped) in enumerate(zip(ys, xs, flips)):
        patch = images[k if source is None else source[k], y:y + crop, x:x + crop].transpose(2, 0, 1)
        target = out[k]
        target[...] = patch[:, :, ::-1] if flipped else patch
        if mean_chw is not None:
            window = mean_chw[:, y:y + crop, x:x + crop]
            target -= window[:, :, ::-1] if flipped else window
        if shifts is not None:
            target += shifts[k].astype(np.float32)[:, None, None]
    return out


def subtract_mean(batch: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Subtract the training set's mean image (same crop) as a float32 batch: the paper's
    only preprocessing besides rescaling ("subtracting the mean activity over the training set")."""
    return batch.astype(np.float32) - mean.astype(np.float32)
