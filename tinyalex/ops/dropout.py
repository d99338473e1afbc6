"""Dropout (Section 4.2), in the inverted form, with masks from a counter-based hash.

A mask element is a pure function of (seed, step, i): the layer's seed, how many masks the
layer has drawn before, and the element's flat index i in the *global* batch. Nothing is
drawn from a stateful generator, so one seed gives one mask on any device (the hash is a few
integer operations that NumPy, CuPy or a CUDA kernel compute alike, with nothing to copy)
and for any number of data-parallel workers: a worker holding global rows [r0, r1) computes
exactly its rows of the mask one worker would draw for the whole batch.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor, as_tensor
from tinyalex.ops import cuda, workspace
from tinyalex.ops.validate import check_float

UINT32 = 2**32
CHUNK_BYTES = 64 * 1024  # uint32 hashes per piece on the CPU: below the C library's 128 KiB mmap threshold

# The GPU's mask, scaled: one thread per element computes keep_mask's hash (below) and writes 1/(1-p) or 0,
# one kernel instead of a dozen elementwise passes; unsigned arithmetic wraps mod 2**32 as NumPy's uint32 does
MASK_KERNEL = r"""
__device__ unsigned mix32(unsigned x)
{
    x ^= x >> 16; x *= 0x21F0AAADu; x ^= x >> 15; x *= 0x735A2D97u; x ^= x >> 15;
    return x;
}

extern "C" __global__ void dropout_mask(long long n, T* mask, unsigned key, unsigned start, unsigned threshold,
                                        T scale)
{
    for (long long i = FIRST_INDEX; i < n; i += INDEX_STRIDE) {
        // keep(i) = mix32(mix32(i ^ key) + key) >= floor(p * 2**32), i the global flat index
        const unsigned index = start + (unsigned)i;
        mask[i] = mix32(mix32(index ^ key) + key) >= threshold ? scale : 0;
    }
}
"""


class Dropout(Function):
    """Multiplies by a saved mask of 0 and 1/(1-p); keeps only that mask."""

    def __init__(self, mask: Any):
        self.mask = mask

    def forward(self, x):
        # y = x * m / (1 - p), the mask holding m / (1 - p)
        return x * self.mask

    def backward(self, gy):
        # dL/dx = dL/dy * m / (1 - p)
        return gy * self.mask


def check_p(p: float) -> float:
    """The drop probability, refused outside [0, 1) (p = 1 would scale by 1/0)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    return p


def check_seed(seed: Any) -> int:
    """A dropout seed: an integer in [0, 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < UINT32:
        raise ValueError(f"dropout: seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def random_seed() -> int:
    """A fresh uint32 seed from the operating system's entropy, for masks nobody asked to reproduce."""
    return int(np.random.default_rng().integers(UINT32))


def mix32(x: Any) -> Any:
    """Chris Wellons' "lowbias32" integer hash, in place on a uint32 array (wrapping arithmetic)."""
    x ^= x >> 16
    x *= np.uint32(0x21F0AAAD)
    x ^= x >> 15
    x *= np.uint32(0x735A2D97)
    x ^= x >> 15
    return x


def mask_constants(shape: tuple, p: float, seed: int, step: int, first_row: int) -> tuple[int, int, int]:
    """keep_mask's key, the global index of the first element (mod 2**32), and the threshold floor(p * 2**32)."""
    check_p(p)
    key = mix32(np.array([check_seed(seed)], dtype=np.uint32))
    key ^= np.uint32(step % UINT32)
    start = first_row * int(np.prod(shape[1:], dtype=np.int64)) % UINT32
    return int(mix32(key)[0]), start, int(float(p) * UINT32)


def keep_mask(shape: tuple, p: float, seed: int, step: int, first_row: int = 0) -> np.ndarray:
    """Which units dropout keeps: a bool array of `shape`, True with probability 1 - p.

    Rows are global batch rows first_row, first_row + 1, ...; element j of row r has the flat
    index i = r * features + j (mod 2**32), features being the size of one row. Then, in uint32:

        key     = mix32(mix32(seed) ^ step)
        bits(i) = mix32(mix32(i ^ key) + key)
        keep(i) = bits(i) >= floor(p * 2**32)

    This is the CPU's mask; on the GPU, MASK_KERNEL computes the same hash per element. The hash runs
    over cache-sized pieces, whose scratch arrays the C library reuses instead of asking the system
    for fresh pages (three times faster at 64 x 1024).
    """
    key, start, threshold = mask_constants(shape, p, seed, step, first_row)
    key, threshold = np.uint32(key), np.uint32(threshold)
    n = int(np.prod(shape, dtype=np.int64))
    keep = np.empty(n, dtype=bool)
    for piece in workspace.chunks(n, 4, key, CHUNK_BYTES):
        bits = np.arange(piece.start, piece.stop, dtype=np.uint32)
        bits += np.uint32(start)
        bits ^= key
        bits = mix32(mix32(bits) + key)
        np.greater_equal(bits, threshold, out=keep[piece])
    return keep.reshape(shape)


def dropout(x: Any, p: float = 0.5, training: bool = True, seed: int | None = None, step: int = 0,
            first_row: int = 0) -> Tensor:
    """Zero each unit with probability p while training.

    The paper zeroes units with p = 0.5 and multiplies the outputs by 0.5 at test time.
    We use the equivalent inverted form, as PyTorch does: the kept units are scaled by
    1/(1-p) while training and nothing changes at test time. Either way the test-time
    output is the expected value of the training-time output.

    The mask is `keep_mask(x.shape, p, seed, step, first_row)`: the same seed and step give
    the same mask (a layer advances its step once per call); `first_row` is the global row of
    x's first row when x is one worker's shard of a larger batch. Without a seed the mask is
    random.
    """
    x = as_tensor(x)
    check_p(p)
    check_float("dropout", x.data)  # an integer dtype would round the scale 1/(1-p) down
    if not training or p == 0.0:
        return x
    xp = get_array_module(x.data)
    seed = random_seed() if seed is None else seed
    scale = x.dtype.type(1.0 / (1.0 - p))
    # y = x * m / (1 - p), m ~ Bernoulli(1 - p): E[y] = x, the test-time output
    if cuda.runs_kernels(xp):
        mask = xp.empty(x.shape, dtype=x.dtype)
        cuda.launch(MASK_KERNEL, "dropout_mask", x.dtype, mask.size, mask,
                    *mask_constants(x.shape, p, seed, step, first_row), scale)
    else:
        mask = keep_mask(x.shape, p, seed, step, first_row).astype(x.dtype)
        mask *= scale
    return Dropout(mask)(x)
