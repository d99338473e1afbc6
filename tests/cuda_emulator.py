"""Run the ops' CUDA kernels on the CPU: each kernel's source compiled by g++ behind a small shim.

The kernels of tinyalex/ops are independent per flat index (no shared memory, no barriers, no
atomics), so running their threads one after another in C gives what the GPU computes. The
shim defines CUDA's __global__, __device__, threadIdx, blockIdx, blockDim and gridDim; a
generated wrapper runs every (block, thread) of a small grid (so the grid-stride loops go
round several times). `launch` has tinyalex.ops.cuda.launch's signature and takes NumPy arrays,
so monkeypatching it (and `runs_kernels`) runs an op's GPU path, launches included, on the CPU.

What this cannot catch: NVRTC-only compile errors, and the GPU's rounding (fused
multiply-adds, its pow): the GPU tests compare with tolerances, this file's users can too.
"""
from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading

import numpy as np

from tinyalex.ops import cuda

SHIM = r"""
#include <cmath>
using std::pow; using std::sqrt; using std::fabs; using std::min; using std::max;
struct emulated_dim3 { unsigned x, y, z; };
static thread_local emulated_dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
"""
GRID, BLOCK = 3, 32  # 96 threads: every test input larger than that exercises the grid-stride loop
CTYPES = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
          np.dtype(np.int32): ctypes.c_int32, np.dtype(np.uint32): ctypes.c_uint32,
          np.dtype(np.int64): ctypes.c_int64, np.dtype(np.uint8): ctypes.c_uint8}
_built: dict = {}
_building = threading.Lock()
_folder = tempfile.mkdtemp(prefix="tinyalex-cuda-emulator-")
atexit.register(shutil.rmtree, _folder, ignore_errors=True)  # the loaded libraries stay mapped


def all_kernels() -> list[tuple[str, str]]:
    """(source, name) of every kernel of tinyalex's core: the `*_KERNEL` strings of its engine, ops, layers, optim."""
    import importlib
    import pkgutil

    import tinyalex

    found = []
    for info in pkgutil.walk_packages(tinyalex.__path__, "tinyalex."):
        if not info.name.startswith(("tinyalex.engine.", "tinyalex.ops.", "tinyalex.layers.", "tinyalex.optim.")):
            continue
        module = importlib.import_module(info.name)
        for attribute, value in sorted(vars(module).items()):
            if attribute.endswith("_KERNEL") and isinstance(value, str):
                found += [(value, name) for name in cuda.declarations(value)]
    return found


def compiler_missing() -> str | None:
    """Why kernels cannot be emulated here, or None."""
    return None if shutil.which("g++") else "g++ not found"


def _wrapper(source: str, name: str) -> str:
    """C code of `emulate_<name>(grid, block, params...)`, which runs every thread of the grid in turn."""
    declared = cuda.declarations(source)[name]
    names = [param.replace("*", " ").split()[-1] for param in declared.split(",")]
    return (f'extern "C" void emulate_{name}(unsigned grid, unsigned block, {declared}) {{\n'
            "    gridDim.x = grid; blockDim.x = block; gridDim.y = gridDim.z = blockDim.y = blockDim.z = 1;\n"
            "    for (unsigned b = 0; b < grid; ++b) for (unsigned t = 0; t < block; ++t) {\n"
            f"        blockIdx.x = b; threadIdx.x = t; {name}({', '.join(names)});\n"
            "    }\n}\n")


def _library(source: str, name: str, dtype: np.dtype):
    """The kernel built into a shared library for one dtype (once per process)."""
    key = (source, name, dtype)
    with _building:  # the op threads launch kernels at once: one of them builds, the others wait for it
        if key not in _built:
            code = SHIM + cuda.source_for(source, dtype) + _wrapper(source, name)
            stem = os.path.join(_folder, hashlib.sha1(code.encode()).hexdigest()[:16])
            with open(stem + ".cpp", "w") as f:
                f.write(code)
            subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-w", "-o", stem + ".so", stem + ".cpp"],
                           check=True, capture_output=True, text=True)
            _built[key] = ctypes.CDLL(stem + ".so")
    return _built[key]


def launch(source: str, name: str, dtype, n: int, *args) -> None:
    """tinyalex.ops.cuda.launch on the CPU: the same checks, the kernel's threads run in C."""
    if n == 0:
        return
    dtype = np.dtype(dtype)
    converted = cuda.arguments(source, name, dtype, (n, *args))
    params = cuda.signature(source, name)
    kernel = getattr(_library(source, name, dtype), f"emulate_{name}")
    c_args = [ctypes.c_uint(GRID), ctypes.c_uint(BLOCK)]
    for (_, pointer), arg in zip(params, converted):
        c_args.append(ctypes.c_void_p(arg.ctypes.data) if pointer else CTYPES[arg.dtype](arg))
    kernel(*c_args)


def emulate_gpu(monkeypatch) -> None:
    """Make the ops take their kernel path on NumPy arrays, each kernel run by `launch` above."""
    monkeypatch.setattr(cuda, "runs_kernels", lambda xp: True)
    monkeypatch.setattr(cuda, "launch", launch)
