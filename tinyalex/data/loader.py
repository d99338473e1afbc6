"""Batches for training and testing, built in background threads while the model computes.

Threads, not processes: NumPy copies and Pillow decoding release the GIL, and threads share
the memory-mapped images without pickling. Every random choice of epoch ``e``, batch ``b``
comes from a generator seeded with (seed, e, b), so batches do not depend on thread timing
and a run resumed at epoch ``e`` sees exactly the batches of an uninterrupted one.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from tinyalex.backend import resolve_device, to_gpu
from tinyalex.data.augment import crop_params, crop_to_nchw, pca_shifts, ten_crop_params
from tinyalex.data.dataset import load_rows
from tinyalex.parallel.data_parallel import shard_range

PIXEL_SCALE = 255.0  # images and PCA statistics are on the 0..255 scale


class DataLoader:
    """Iterate over ``(x, y)`` batches of a PreparedDataset or FolderDataset.

    x: float32 (N, C, crop, crop), mean-subtracted pixels on the 0..255 scale; with
    ``ten_crop`` (test only) (N * 10, C, crop, crop), rows 10 i .. 10 i + 9 being image i's
    crops in ``augment.ten_crop`` order (average their softmax with ``average_ten_crop``).
    y: int64 (N,). On ``device="gpu"`` both are CuPy arrays, copied once per batch.

    train=True: a random crop and flip per image (``flip``), fancy PCA (``pca``, ``pca_std``)
    and mean subtraction (``subtract_mean``), shuffled each epoch unless ``shuffle=False``.
    train=False: the centre crop (or the ten crops), in dataset order.
    ``workers`` threads build up to max(``prefetch``, ``workers``) batches ahead;
    ``prefetch=0`` builds each batch in the calling thread.

    In data-parallel training, ``set_shard(rank, size)`` makes it load and yield only worker
    ``rank``'s contiguous share of every global batch (possibly empty), with the crops, flips and
    colour shifts that image gets when one worker loads the whole batch.
    """

    def __init__(self, dataset: Any, batch_size: int = 128, train: bool = True, crop: int = 224,
                 shuffle: bool | None = None, drop_last: bool = False, seed: int = 0,
                 device: str = "cpu", flip: bool = True, pca: bool = True, subtract_mean: bool = True,
                 prefetch: int = 2, workers: int = 2, ten_crop: bool = False, pca_std: float = 0.1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if crop > dataset.size:
            raise ValueError(f"crop {crop} is larger than the data set's {dataset.size}x{dataset.size} images")
        if ten_crop and train:
            raise ValueError("ten_crop is a test-time evaluation: use it with train=False")
        self.dataset, self.batch_size, self.train, self.crop = dataset, batch_size, train, crop
        self.shuffle = train if shuffle is None else shuffle
        self.drop_last, self.seed, self.device = drop_last, seed, resolve_device(device)
        self.flip, self.pca, self.subtract_mean, self.pca_std = flip, pca, subtract_mean, pca_std
        self.prefetch, self.workers, self.ten_crop = prefetch, workers, ten_crop
        self.epoch = 0
        self.rank, self.size = 0, 1
        # The mean image once as float32 channels-first, the layout the hot loop reads.
        self._mean_chw = (np.ascontiguousarray(np.asarray(dataset.mean, dtype=np.float32).transpose(2, 0, 1))
                          if subtract_mean else None)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (its order depends only on seed and epoch)."""
        self.epoch = epoch

    def set_shard(self, rank: int, size: int) -> None:
        """Yield only worker ``rank``'s share (of ``size`` workers) of every batch, empty shares included."""
        if not 0 <= rank < size:
            raise ValueError(f"set_shard: rank must be in [0, {size}), got {rank}")
        self.rank, self.size = rank, size

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def batch_indices(self, epoch: int) -> list[np.ndarray]:
        """The dataset indices of every batch of ``epoch``."""
        n = len(self.dataset)
        order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
        return [order[b * self.batch_size:(b + 1) * self.batch_size] for b in range(len(self))]

    def make_batch(self, epoch: int, b: int, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``b`` of ``epoch`` as NumPy arrays (x float32 NCHW, y int64): this worker's rows of it.

        ``indices`` are the whole batch's; only this worker's shard is loaded, and the random crops,
        flips and colour shifts are drawn for the whole batch and sliced, so they do not depend on
        how many workers share it.
        """
        start, stop = shard_range(len(indices), self.rank, self.size)
        images, labels, rows = load_rows(self.dataset, indices[start:stop])
        n, hw, c = len(images), images.shape[1:3], self.crop
        mine = start + rows  # the batch positions of the images loaded (a folder may skip a bad one)
        shifts = source = None
        if self.train:
            rng = np.random.default_rng([self.seed, epoch, b])
            ys, xs, flips = (p[mine] for p in crop_params(len(indices), hw, c, rng, self.flip))
            if self.pca:
                shifts = pca_shifts(len(indices), self.dataset.eigvals, self.dataset.eigvecs, rng, self.pca_std,
                                    PIXEL_SCALE)[mine]
        elif self.ten_crop:
            ys, xs, flips = (np.tile(p, n) for p in ten_crop_params(hw, c))
            source = np.repeat(np.arange(n), 10)
        else:
            ys, xs = np.full(n, (hw[0] - c) // 2), np.full(n, (hw[1] - c) // 2)
            flips = np.zeros(n, dtype=bool)
        x = crop_to_nchw(images, ys, xs, flips, c, self._mean_chw, shifts, source)
        return x, labels.astype(np.int64)

    def _deliver(self, batch: tuple[np.ndarray, np.ndarray]) -> tuple[Any, Any]:
        if self.device == "gpu":
            return to_gpu(batch[0]), to_gpu(batch[1])
        return batch

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        epoch = self.epoch
        self.epoch += 1
        jobs = enumerate(self.batch_indices(epoch))
        if self.prefetch <= 0 or self.workers <= 0:
            for b, indices in jobs:
                x, y = self.make_batch(epoch, b, indices)
                if len(y) or self.size > 1:
                    yield self._deliver((x, y))
            return
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="tinyalex-loader")
        pending: deque[Future] = deque()

        def submit_next() -> None:
            job = next(jobs, None)
            if job is not None:
                pending.append(pool.submit(self.make_batch, epoch, *job))

        try:
            for _ in range(max(self.prefetch, self.workers)):
                submit_next()
            while pending:
                x, y = pending.popleft().result()
                submit_next()
                if len(y) or self.size > 1:  # a worker yields its empty shares: the others wait for it
                    yield self._deliver((x, y))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
