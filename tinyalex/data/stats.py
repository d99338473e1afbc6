"""Training-set statistics the paper uses: the mean image and the RGB covariance for fancy PCA.

Both are accumulated in float64 over chunks of a (memory-mapped) uint8 array, so the whole
set never sits in memory. The covariance is accumulated around a fixed shift (the first
chunk's channel means) so that the sums stay small and no precision is lost to cancellation.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

CHUNK = 256  # images per chunk: 256 x 256 x 256 x 3 float64 is 400 MiB at the paper's size


def image_statistics(images: np.ndarray, chunk: int = CHUNK, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(mean image (H, W, C), C x C pixel covariance), both float64, of an (N, H, W, C) array."""
    n = len(images)
    if n == 0:
        raise ValueError("statistics of an empty image set are undefined")
    total = np.zeros(images.shape[1:], dtype=np.float64)
    channels = images.shape[-1]
    shift = None
    sums = np.zeros(channels)
    products = np.zeros((channels, channels))
    starts: Iterable[int] = range(0, n, chunk)
    for start in tqdm(starts, desc="statistics", disable=not progress, unit="chunk"):
        block = np.asarray(images[start:start + chunk], dtype=np.float64)
        total += block.sum(axis=0)
        pixels = block.reshape(-1, channels)
        if shift is None:
            shift = pixels.mean(axis=0)
        pixels = pixels - shift
        sums += pixels.sum(axis=0)
        products += pixels.T @ pixels
    count = n * int(np.prod(images.shape[1:-1]))
    centred = sums / count
    cov = (products - count * np.outer(centred, centred)) / max(count - 1, 1)
    return total / n, cov


def principal_components(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns, same order) of a covariance matrix."""
    eigvals, eigvecs = np.linalg.eigh(cov)
    order = np.argsort(eigvals)[::-1]
    return eigvals[order], eigvecs[:, order]
