"""Every CPU core for every op: the fast ops run their chunks of the batch in a small thread pool.

NumPy releases the GIL inside copies, ufuncs and matrix products on large arrays, so two
Python threads working on two chunks of a batch keep two cores busy. Without them, each
element-wise pass (ReLU, pooling, LRN, im2col's copy, col2im, the SGD update) runs on one
core, and only the matrix products use OpenBLAS's own threads.

Inside the pool OpenBLAS is held to one thread: the pool already has a thread per core, and
OpenBLAS's workers busy-wait for a while after each product, taking the cores from whatever
runs next (measured on this project's 2-core machine: docs/bench/cpu-2026-11-27-method.md). So every
product tinyalex runs on the CPU runs with OpenBLAS held to one thread, in the pool or, for work
too small to split, in the calling thread (`run_parts`, `one_blas_thread`). Outside them the BLAS
thread count is left as the user had it.

`TINYALEX_THREADS` sets the pool's size (default: the cores this process may use); 1 runs
everything in the calling thread. CuPy work is never split over threads: `run_parts` runs its
parts one after another in the calling thread (one part, or the chunks an op asks for).
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from tinyalex.backend import get_array_module

MIN_SPLIT_BYTES = 2**20  # less work than this costs more to hand to another thread than it saves
_local = threading.local()  # marks the pool's own threads, which must not wait on the pool
_lock = threading.Lock()
_state: dict[str, Any] = {"pool": None, "threads": 0, "blas": None, "inside": 0, "saved": None}


def count() -> int:
    """Threads an op may use: $TINYALEX_THREADS, else the cores available to this process."""
    value = os.environ.get("TINYALEX_THREADS")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"TINYALEX_THREADS must be a positive integer, got {value!r}")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _openblas() -> tuple[Callable, Callable] | None:
    """OpenBLAS's get/set_num_threads from NumPy's bundled library, or None (another BLAS, or not found)."""
    here = os.path.dirname(np.__file__)
    for path in glob.glob(os.path.join(here, os.pardir, "numpy.libs", "*openblas*")) + glob.glob(
            os.path.join(here, ".dylibs", "*openblas*")):
        library = ctypes.CDLL(path)  # already loaded by NumPy: this returns the same handle
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"), ("openblas", "")):
            get = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                set_.argtypes = [ctypes.c_int]
                return get, set_
    return None


def _blas() -> tuple:
    """_openblas(), looked up once: (get, set) or () (call under _lock)."""
    if _state["blas"] is None:
        _state["blas"] = _openblas() or ()
    return _state["blas"]


def blas_threads() -> int | None:
    """OpenBLAS's thread count outside the pool, or None where NumPy uses another BLAS."""
    with _lock:
        blas = _blas()
    return blas[0]() if blas else None


def limit(threads: int) -> None:
    """Use at most ``threads`` cores from now on, in the op pool and in OpenBLAS's own threads (for a
    process that shares the machine with others, such as one of `tinyalex ablate --jobs`)."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    os.environ["TINYALEX_THREADS"] = str(threads)
    with _lock:
        blas = _blas()
        if blas and _state["inside"] == 0:
            blas[1](threads)


def _enter() -> None:
    """First thread into the pool: hold OpenBLAS to one thread, remembering its count."""
    with _lock:
        if _state["inside"] == 0 and _blas():
            get, set_ = _state["blas"]
            _state["saved"] = get()
            set_(1)
        _state["inside"] += 1


def _leave() -> None:
    """Last thread out: give OpenBLAS its thread count back."""
    with _lock:
        _state["inside"] -= 1
        if _state["inside"] == 0 and _state["blas"]:
            _state["blas"][1](_state["saved"])


def _pool(threads: int) -> ThreadPoolExecutor:
    """The shared pool, made anew when the thread count changed."""
    with _lock:
        if _state["threads"] != threads:
            if _state["pool"] is not None:
                _state["pool"].shutdown(wait=False)  # its threads end once their work is done
            _state["pool"] = ThreadPoolExecutor(threads, thread_name_prefix="tinyalex",
                                                initializer=setattr, initargs=(_local, "worker", True))
            _state["threads"] = threads
        return _state["pool"]


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """OpenBLAS held to one thread inside the block (for the products an op runs outside run_parts)."""
    _enter()
    try:
        yield
    finally:
        _leave()


def run_parts(work: Callable[[Any], Any], parts: Sequence[Any], like: Any = None, nbytes: int | None = None) -> list:
    """[work(part) for part in parts], the parts (slices of a batch, usually) spread over the pool, in order.

    Serial on the GPU (`like` a CuPy array), for a single part, with one thread, for less than
    MIN_SPLIT_BYTES of work (`nbytes`, when given), and inside the pool itself (an op called
    from a pool thread must not wait for the pool). With two or more op threads OpenBLAS is held
    to one thread in the serial case too: a product it spread over its own threads would leave
    them spinning against the pool's (measured: alexnet_small's fc8, whose weight is under 1 MiB,
    made every training step at batch 64 take about 25% longer).
    """
    if (like is not None and get_array_module(like) is not np) or getattr(_local, "worker", False):
        return [work(part) for part in parts]
    threads = count()
    if threads < 2:  # one op thread, as asked: nothing else of tinyalex's runs beside OpenBLAS's threads
        return [work(part) for part in parts]
    small = nbytes is not None and nbytes < MIN_SPLIT_BYTES
    with one_blas_thread():
        if len(parts) < 2 or small:
            return [work(part) for part in parts]
        return list(_pool(threads).map(work, parts))


def split(n: int, pieces: int | None = None, nbytes: int | None = None) -> list[slice]:
    """n items as `pieces` (default: one per thread; one if `nbytes` < MIN_SPLIT_BYTES) slices of nearly equal length."""
    if nbytes is not None and nbytes < MIN_SPLIT_BYTES:
        pieces = 1
    pieces = max(1, min(n, pieces or count()))
    bounds = [n * i // pieces for i in range(pieces + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]
