"""Synchronous data parallelism, exactly: N workers compute what one worker computes on the whole batch.

Each global batch of N rows is cut into contiguous shards, one per worker (`shard_range`); a
worker may get none (17 images in batches of 8 leave a last batch of 1). One step of a worker:

1. `global_rows`: the workers exchange their row counts, so each knows where its rows start in
   the global batch and how many rows the batch has (a data set may have skipped bad images);
2. `set_first_row`: its dropout layers draw their masks for those global rows, so the workers'
   masks together are the mask of the whole batch (`ops/dropout.py`); a worker without rows
   runs nothing and only advances its dropout layers' counters (`skip_dropout`);
3. `average_gradients`: each gradient, the mean over the worker's n_k rows, is weighted by
   n_k / N and summed over workers: sum_k (n_k / N) * mean_k = the mean over all N rows, the
   gradient one worker would compute on the whole batch.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from tinyalex.backend import get_array_module, to_device
from tinyalex.layers import Dropout, Module, Parameter


def shard_range(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows [start, stop) of a batch of n rows that worker `rank` of `size` takes (contiguous, sizes differ by <= 1)."""
    return n * rank // size, n * (rank + 1) // size


def shard(batch: Any, communicator: Any, rows_per_item: int = 1) -> Any:
    """Worker ``rank``'s contiguous share of a batch (items of ``rows_per_item`` rows stay together)."""
    start, stop = shard_range(len(batch) // rows_per_item, communicator.rank, communicator.size)
    return batch[start * rows_per_item:stop * rows_per_item]


def worker_batches(loader: Iterable, communicator: Any, rows_per_item: int = 1) -> Iterator[tuple[Any, Any]]:
    """This worker's share of every batch of `loader`, empty shares included (the workers stay in step).

    A loader with `set_shard` (tinyalex's DataLoader) is told to load only this worker's images;
    any other iterable of (x, y) batches is cut here, after it has built the whole batch.
    """
    if communicator is None:
        yield from loader
    elif hasattr(loader, "set_shard"):
        loader.set_shard(communicator.rank, communicator.size)
        yield from loader
    else:
        for x, y in loader:
            yield shard(x, communicator, rows_per_item), shard(y, communicator)


def global_rows(rows: int, communicator: Any, device: str) -> tuple[int, int]:
    """(global index of this worker's first row, rows in the whole batch), from every worker's row count."""
    counts = to_device(np.zeros(communicator.size), device)
    counts[communicator.rank] = rows
    communicator.allreduce_sum([counts])
    counts = [int(c) for c in counts.tolist()]
    return sum(counts[:communicator.rank]), sum(counts)


def set_first_row(model: Module, first_row: int) -> None:
    """Tell every dropout layer of `model` the global row of this worker's first row."""
    for module in model.modules():
        if isinstance(module, Dropout):
            module.first_row = first_row


def skip_dropout(model: Module) -> None:
    """Advance every dropout layer's mask counter as a training forward would (a worker without rows)."""
    for module in model.modules():
        if isinstance(module, Dropout):
            module.skip()


def average_gradients(params: Sequence[Parameter], rows: int, total: int, communicator: Any,
                      stats: Sequence[float] = ()) -> list[float]:
    """Make every parameter's gradient the whole batch's, and sum `stats` (numbers) over workers.

    Each worker's gradient (the mean over its `rows`, or zero when it had none) is weighted by
    rows / total and all are summed, in one message with `stats`; returns the summed stats.
    """
    xp = get_array_module(params[0].data)
    dtype = params[0].data.dtype
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = xp.zeros_like(p.data)
        else:
            p.grad *= p.grad.dtype.type(rows / total)  # sum_k (n_k / N) mean_k = the mean over all N rows
        grads.append(p.grad)
    summed = xp.asarray(list(stats), dtype=dtype)
    communicator.allreduce_sum([summed, *grads] if len(stats) else grads)
    return [float(v) for v in summed.tolist()]
