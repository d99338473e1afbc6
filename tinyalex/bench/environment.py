"""What a benchmark ran on: date, CPU, versions and thread counts, for the results beside the numbers.

`host()` is read by the parent process; `process()` by each child, since only there are the
framework's libraries loaded and its threads set up.
"""
from __future__ import annotations

import datetime
import importlib
import os
import platform
from typing import Any

import numpy as np

from tinyalex.ops import threads

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TINYALEX_THREADS")


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (else what platform says) and the number of cores."""
    name = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
        name = names[0] if names else name
    return f"{name}, {os.cpu_count()} cores"


def numpy_version() -> str:
    """NumPy's version and the BLAS it was built with, e.g. '2.4.6 (scipy-openblas 0.3.31)'."""
    blas = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    return f"{np.__version__} ({blas.get('name', '?')} {blas.get('version', '')})".strip()


def blas_threads() -> Any:
    """Each loaded BLAS or OpenMP library with its thread count, through threadpoolctl; without it NumPy's
    OpenBLAS as tinyalex's thread pool sees it, else 'unknown'."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        count = threads.blas_threads()
        if count is None:
            return "unknown (threadpoolctl is not installed)"
        return [{"library": "NumPy's OpenBLAS (threadpoolctl is not installed)", "threads": count}]
    return [{"library": info.get("internal_api"), "version": info.get("version"), "threads": info.get("num_threads")}
            for info in threadpoolctl.threadpool_info()]


def host() -> dict[str, Any]:
    """Date, CPU, Python and NumPy, and any thread-count variables that are set."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numpy": numpy_version(),
        "thread_variables": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ},
    }


def process(framework: str, device: str) -> dict[str, Any]:
    """Versions and threads as this child process sees them: BLAS's always, PyTorch's in the torch child."""
    env: dict[str, Any] = {"python": platform.python_version(), "numpy": numpy_version()}
    if framework == "torch":
        import torch

        env.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                   torch_interop_threads=torch.get_num_interop_threads())
        if device == "gpu":
            env.update(gpu=torch.cuda.get_device_name(), cudnn=str(torch.backends.cudnn.version()))
    elif device == "gpu":
        from tinyalex import backend

        xp = backend.require_gpu()
        env.update(cupy=xp.__version__, gpu=xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)["name"].decode())
    if device == "gpu":
        from tinyalex import backend

        env["tf32"] = backend.tf32_enabled()  # both frameworks follow TINYALEX_TF32 (bench/networks.py)
    if framework == "tinyalex":
        env["tinyalex_threads"] = threads.count()  # the op pool's threads; OpenBLAS runs one inside each
    env["blas_threads"] = blas_threads()
    return env
