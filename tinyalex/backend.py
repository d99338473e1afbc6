"""NumPy/CuPy backend: the only module that imports CuPy.

Ops never consult a global device flag: they ask `get_array_module(*arrays)` and
compute with whatever module owns their inputs. This module also picks the default
device (``TINYALEX_DEVICE=cpu|gpu|auto``), moves arrays between host and GPU, and sets
CuPy's TF32 mode (``TINYALEX_TF32=0|1``, off by default) before importing it.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np


def tf32_requested() -> bool:
    """TINYALEX_TF32=1: let cuBLAS round float32 products' inputs to TF32 (10-bit mantissas) on tensor cores.

    Off by default, so that the GPU computes in float32 as the CPU does. CuPy reads its own switch,
    CUPY_TF32, when it is imported, so this module sets it before importing CuPy (unless it is set).
    """
    tf32 = os.environ.get("TINYALEX_TF32", "")
    if tf32 not in ("", "0", "1"):
        raise ValueError(f"TINYALEX_TF32 must be 0 or 1, got {tf32!r}")
    return tf32 == "1"


def environment_problem() -> str | None:
    """What is misspelt in TINYALEX_DEVICE or TINYALEX_TF32, or None. Checked when a device is chosen
    (and by the command line before it starts), not on import: ``import tinyalex`` always works."""
    device = os.environ.get("TINYALEX_DEVICE", "")
    if device.lower() not in ("", "cpu", "gpu", "cuda", "auto"):
        return f"unknown TINYALEX_DEVICE {device!r}: expected 'cpu', 'gpu' or 'auto'"
    try:
        tf32_requested()
    except ValueError as error:
        return str(error)
    return None


if os.environ.get("TINYALEX_TF32") == "1":
    os.environ.setdefault("CUPY_TF32", "1")

try:  # CuPy is an optional extra; without it everything runs on NumPy.
    import cupy as _cupy
except Exception:  # ImportError, or a broken CUDA install raising at import time
    _cupy = None

INSTALL_HINT = (
    "install CuPy: the wheel for your CUDA version, e.g. `pip install cupy-cuda12x`, or "
    "`pip install -e \".[gpu]\"` in a checkout of tinyalex"
)


class DeviceError(RuntimeError):
    """A device was asked for that this machine cannot provide."""


def tf32_enabled() -> bool:
    """Whether CuPy's products may use TF32: CUPY_TF32=1 as CuPy read it (TINYALEX_TF32=1 sets it)."""
    return os.environ.get("CUPY_TF32", "0") == "1"


def cupy_available() -> bool:
    """True when CuPy imports (a device may still be missing)."""
    return _cupy is not None


def gpu_available() -> bool:
    """True when CuPy imports and at least one CUDA device answers."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def require_gpu() -> Any:
    """Return the cupy module, or raise DeviceError saying how to get one (ValueError: a misspelt setting)."""
    tf32_requested()  # a TINYALEX_TF32 that is neither 0 nor 1 stops here, before the first GPU array
    if _cupy is None:
        raise DeviceError(f"the GPU was requested but CuPy is not installed: {INSTALL_HINT}")
    if not gpu_available():
        raise DeviceError("the GPU was requested but CuPy finds no CUDA device")
    return _cupy


def is_cupy_array(x: Any) -> bool:
    return _cupy is not None and isinstance(x, _cupy.ndarray)


def get_array_module(*arrays: Any) -> Any:
    """numpy or cupy, whichever owns the arrays or Tensors (numpy for anything else)."""
    if _cupy is None:  # CuPy not loaded: no array can be a CuPy array (and this is called for every op)
        return np
    for a in arrays:
        # a Tensor's array is its .data; a CuPy array's own .data is a memory pointer
        if is_cupy_array(a) or is_cupy_array(getattr(a, "data", None)):
            return _cupy
    return np


def device_of(x: Any) -> str:
    """'cpu' or 'gpu:<id>' for an array."""
    if is_cupy_array(x):
        return f"gpu:{x.device.id}"
    return "cpu"


def check_same_device(op_name: str, arrays: list) -> None:
    """Refuse NumPy and CuPy arrays (or two GPUs) mixed in one op, naming the op."""
    devices = {device_of(a) for a in arrays if a is not None}
    if len(devices) > 1:
        raise DeviceError(
            f"{op_name}: inputs live on different devices ({', '.join(sorted(devices))}); "
            "move them to one device with .to('cpu') or .to('gpu') first"
        )


def resolve_device(device: str | None = None) -> str:
    """Turn 'cpu' | 'gpu' | 'auto' | None (read TINYALEX_DEVICE) into 'cpu' or 'gpu'."""
    choice = (device or os.environ.get("TINYALEX_DEVICE") or "auto").lower()
    if choice == "auto":
        choice = "gpu" if gpu_available() else "cpu"
    if choice in ("gpu", "cuda"):
        require_gpu()
        return "gpu"
    if choice == "cpu":
        return "cpu"
    source = "device" if device else "TINYALEX_DEVICE"
    raise ValueError(f"unknown {source} {choice!r}: expected 'cpu', 'gpu' or 'auto'")


def to_cpu(x: Any) -> Any:
    """A NumPy array holding x (no copy when x already is one)."""
    if is_cupy_array(x):
        return _cupy.asnumpy(x)
    return x


def require_nccl() -> Any:
    """CuPy's NCCL bindings (for data-parallel training on GPUs), or DeviceError saying how to get them."""
    require_gpu()
    from cupy.cuda import nccl

    if not nccl.available:
        raise DeviceError(
            "NCCL was requested but CuPy cannot load it: install NCCL for your CUDA version, "
            "e.g. `pip install nvidia-nccl-cu12`"
        )
    return nccl


def device_scope(x: Any) -> Any:
    """A context in which new arrays land on x's GPU (a no-op for NumPy arrays)."""
    return x.device if is_cupy_array(x) else contextlib.nullcontext()


def to_gpu(x: Any, device_id: int | None = None) -> Any:
    """A CuPy array holding x on the current (or given) device, copied across GPUs if needed."""
    cp = require_gpu()
    if device_id is None:
        return cp.asarray(x)
    with cp.cuda.Device(device_id):
        if is_cupy_array(x) and x.device.id != device_id:
            return x.copy()  # cp.asarray would hand back the array on its old device
        return cp.asarray(x)


def to_device(x: Any, device: str) -> Any:
    """Move an array to 'cpu', 'gpu' or 'gpu:<id>'."""
    if device == "cpu":
        return to_cpu(x)
    if device.startswith("gpu"):
        device_id = int(device.split(":")[1]) if ":" in device else None
        return to_gpu(x, device_id)
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'gpu' or 'gpu:<id>'")
