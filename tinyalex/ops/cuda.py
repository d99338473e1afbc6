"""CUDA kernels for the GPU path: each op keeps its kernel's source beside its NumPy code.

A kernel here is plain CUDA C over one flat index i, written once for a type T:

    extern "C" __global__ void name(long long n, const T* x, T* y, int c, T alpha)
    {
        for (long long i = FIRST_INDEX; i < n; i += INDEX_STRIDE) { ... one output element ... }
    }

`launch(source, name, dtype, n, *args)` compiles it (once per dtype, by CuPy's NVRTC, cached on
disk by CuPy) with `typedef float T;` or `typedef double T;` in front, and runs it on enough
threads to cover n elements; the grid-stride loop covers the rest when the grid is capped.
Python numbers are converted to the parameter types the source declares, and every array must
be C-contiguous with the dtype its pointer declares: a kernel indexes raw memory, so a
transposed view or a float64 array behind a `float*` would give wrong numbers, not an error.

The ops ask `runs_kernels(xp)` whether to take this path. Both names are looked up on this
module at call time, so the tests can run every kernel's source on the CPU (tests/cuda_emulator.py).
"""
from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from tinyalex import backend

THREADS = 256  # threads per block
MAX_BLOCKS = 2**16  # beyond this the grid-stride loops give each thread several elements
PRELUDE = (
    "#define FIRST_INDEX ((long long)blockIdx.x * blockDim.x + threadIdx.x)\n"
    "#define INDEX_STRIDE ((long long)blockDim.x * gridDim.x)\n"
    "#ifndef INFINITY\n#define INFINITY __int_as_float(0x7f800000)\n#endif\n"  # NVRTC has no math.h
)
DECLARATION = re.compile(r'extern "C" __global__ void (\w+)\s*\(([^)]*)\)')  # a kernel's name and parameters
# a parameter's C type (without const and *) -> its NumPy dtype; None: the kernel's T
C_TYPES = {"T": None, "float": np.float32, "double": np.float64, "int": np.int32, "unsigned": np.uint32,
           "unsigned int": np.uint32, "long long": np.int64, "unsigned char": np.uint8}


def runs_kernels(xp: Any) -> bool:
    """Whether ops take their CUDA kernels: for CuPy arrays."""
    return xp is not np


def source_for(source: str, dtype: Any) -> str:
    """The full CUDA source of a kernel for one floating dtype."""
    c_type = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}.get(np.dtype(dtype))
    if c_type is None:
        raise TypeError(f"CUDA kernels run in float32 or float64, got {np.dtype(dtype)}")
    return f"typedef {c_type} T;\n{PRELUDE}{source}"


def declarations(source: str) -> dict[str, str]:
    """The kernels a source declares: name -> its parameter list as written."""
    return dict(DECLARATION.findall(source))


@functools.lru_cache(maxsize=None)
def signature(source: str, name: str) -> tuple[tuple[str, bool], ...]:
    """The kernel's parameters as (C type, is a pointer), read from its declaration in the source."""
    declared = declarations(source).get(name)
    if declared is None:
        raise ValueError(f"no kernel named {name!r} in this source")
    params = []
    for param in declared.split(","):
        words = param.replace("*", " * ").split()
        pointer = "*" in words
        c_type = " ".join(w for w in words[:-1] if w not in ("const", "*", "__restrict__"))
        if c_type not in C_TYPES:
            raise ValueError(f"kernel {name}: parameter {param.strip()!r} has a type launch() does not know")
        params.append((c_type, pointer))
    return tuple(params)


def arguments(source: str, name: str, dtype: Any, args: tuple) -> list:
    """args checked against the kernel's parameters; numbers as NumPy scalars of the declared types."""
    params = signature(source, name)
    if len(args) != len(params):
        raise TypeError(f"kernel {name} takes {len(params)} arguments, got {len(args)}")
    converted = []
    for k, ((c_type, pointer), arg) in enumerate(zip(params, args)):
        want = np.dtype(C_TYPES[c_type] or dtype)
        if pointer:
            is_array = hasattr(arg, "flags")
            if not is_array or arg.dtype != want or not arg.flags.c_contiguous:
                got = f"a {arg.dtype} array, C-contiguous: {arg.flags.c_contiguous}" if is_array else repr(arg)
                raise TypeError(f"kernel {name}: argument {k} must be a C-contiguous {want} array, got {got}")
            converted.append(arg)
        else:
            converted.append(want.type(arg))
    return converted


@functools.lru_cache(maxsize=None)
def compiled(source: str, name: str, dtype: Any) -> Any:
    """The kernel compiled for one dtype (a cupy.RawKernel)."""
    return backend.require_gpu().RawKernel(source_for(source, dtype), name)


def launch(source: str, name: str, dtype: Any, n: int, *args: Any) -> None:
    """Run kernel `name` of `source` on n flat indices; args follow the source's parameters after n."""
    if n == 0:
        return
    converted = arguments(source, name, dtype, (n, *args))
    blocks = min(-(-n // THREADS), MAX_BLOCKS)
    first_array = next(a for a, (_, pointer) in zip(converted, signature(source, name)) if pointer)
    with backend.device_scope(first_array):  # a kernel runs on the current device: make it the arrays' own
        compiled(source, name, np.dtype(dtype))((blocks,), (THREADS,), tuple(converted))
