"""Memory habits of the fast ops: cache-sized chunks of the batch, and reusable scratch buffers.

`chunks` splits a batch into pieces of a given size. Several passes over a piece that
fits in the CPU's cache run several times faster than the same passes over the whole
batch in main memory, and the scratch arrays of a convolution stay a few MiB instead of
hundreds (im2col's columns for conv2 at batch 32 are 214 MiB whole).

`take` and `give_back` lend scratch buffers and take them back for the next op.
Allocating a fresh big array costs more than filling it: the operating system hands out
new memory one zeroed page at a time on first touch, and the C library returns freed
big blocks to the system at once (a fresh 214 MiB array filled once took 55-80 ms on
this project's CPU machine, the same array reused 33 ms). Buffers are pooled by size
class (powers of two), so every layer's chunks share the same few buffers. Only scratch
arrays that never leave an op are given back; one that is never given back is simply
garbage-collected. CuPy keeps its own memory pool, so on the GPU `take` is just `empty`.

The arrays that do leave an op (activations, gradients) are new every step. On Linux,
importing this module therefore asks the C library (glibc's `mallopt`) to keep freed
memory for reuse, instead of giving it back to the system and taking fresh zeroed pages
again on the next step: no block is served by its own memory map (glibc maps every block
above 32 MiB, such as fc6's 144 MiB weight gradient, afresh each time), and up to 1 GiB of
free memory stays in the heap. Measured here: alexnet_small's steps at batch 64 took 11,000
page faults each in some runs and none in others (glibc adapts its thresholds by itself,
not always in time), the faulting runs using about 20% more CPU time; the paper's net at
batch 32 went from 2,900 page faults per step to 590, its whole-process peak memory from
1,423 to 1,453 MiB. It changes
nothing where the glibc variables MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ are
set, or where TINYALEX_KEEP_FREED_MEMORY=0.
"""
from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
import weakref
from typing import Any

import numpy as np

from tinyalex.backend import device_scope, get_array_module
from tinyalex.ops import threads

_local = threading.local()  # one pool per thread: ops running in two threads must not share a buffer
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)
KEEP_FREE_AT_MOST = 2**30  # free memory at the top of the heap kept before any is given back


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed memory rather than map fresh pages; True if it was asked."""
    variables = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_")
    if not sys.platform.startswith("linux") or os.environ.get("TINYALEX_KEEP_FREED_MEMORY") == "0" or any(
            name in os.environ for name in variables):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_FREE_AT_MOST))


keep_freed_memory()


def _pool() -> tuple[dict[int, list], "weakref.WeakValueDictionary[int, np.ndarray]"]:
    """This thread's free buffers (size class in bytes -> raw byte buffers) and the ones it has lent."""
    if not hasattr(_local, "free"):
        _local.free, _local.lent = {}, weakref.WeakValueDictionary()
    return _local.free, _local.lent


def chunks(n: int, item_bytes: int, like: Any, target: int, gpu_target: int | None = None) -> list[slice]:
    """A batch of n items in nearly equal pieces of at most about `target` bytes.

    On the CPU the number of pieces is a multiple of the op threads (`threads.count()`), so
    that every thread gets as much work, unless the whole batch is less than
    `threads.MIN_SPLIT_BYTES` (then handing pieces to other threads costs more than it saves).
    On the GPU the whole batch is one piece, or pieces of at most about `gpu_target` bytes when given.
    """
    if get_array_module(like) is not np:
        return threads.split(n, -(-n // max(1, gpu_target // max(1, item_bytes))) if gpu_target else 1)
    pieces = -(-n // max(1, target // max(1, item_bytes)))  # at most target // item_bytes items each
    if n * item_bytes >= threads.MIN_SPLIT_BYTES:
        pieces = -(-pieces // threads.count()) * threads.count()
    return threads.split(n, pieces)


def take(shape: tuple, dtype: Any, like: Any) -> Any:
    """An uninitialised array of this shape and dtype on `like`'s device, reusing a pooled buffer when one is free."""
    xp = get_array_module(like)
    if xp is not np:
        with device_scope(like):  # CuPy allocates on the current GPU, which need not be like's
            return xp.empty(shape, dtype=dtype)
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    size_class = 1 << max(nbytes - 1, 1).bit_length()
    _free, _lent = _pool()
    stack = _free.get(size_class)
    raw = stack.pop() if stack else np.empty(size_class, dtype=np.uint8)
    _lent[id(raw)] = raw
    return raw[:nbytes].view(dtype).reshape(shape)


def give_back(*arrays: Any) -> None:
    """Return arrays (or views of them) obtained from `take`; None and other arrays are ignored."""
    _free, _lent = _pool()
    for array in arrays:
        while isinstance(array, np.ndarray) and array.base is not None:
            array = array.base
        if isinstance(array, np.ndarray) and _lent.get(id(array)) is array:
            del _lent[id(array)]
            _free.setdefault(array.nbytes, []).append(array)


def clear() -> None:
    """Drop every buffer pooled by this thread."""
    _pool()[0].clear()


def pooled_bytes() -> int:
    """Bytes held in this thread's pool, waiting to be lent."""
    return sum(raw.nbytes for stack in _pool()[0].values() for raw in stack)
