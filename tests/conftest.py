"""Shared fixtures: run tests once per array module, and skip GPU tests where there is no GPU.

`xp` is numpy, then cupy when CuPy finds a CUDA device. Setting TINYALEX_DEVICE=gpu
asks for the GPU explicitly: the numpy runs still happen, and the cupy runs and
`@pytest.mark.gpu` tests fail (rather than skip) when no GPU can be found, so that a
GPU CI job with a broken CuPy install cannot pass by skipping everything.
"""
import os

import numpy as np
import pytest

from tinyalex import backend


def _gpu_requested() -> bool:
    return os.environ.get("TINYALEX_DEVICE", "").lower() in ("gpu", "cuda")


def _array_modules() -> list[str]:
    if backend.gpu_available() or _gpu_requested():
        return ["numpy", "cupy"]
    return ["numpy"]


@pytest.fixture(params=_array_modules())
def xp(request):
    """The array module a test runs on: numpy, and cupy when a GPU is present."""
    if request.param == "numpy":
        return np
    return backend.require_gpu()  # raises DeviceError when the GPU was requested but is missing


def pytest_runtest_setup(item):
    if "gpu" not in item.keywords or backend.gpu_available():
        return
    if _gpu_requested():
        pytest.fail("TINYALEX_DEVICE=gpu but no GPU is usable (CuPy missing or no CUDA device)", pytrace=False)
    pytest.skip("needs CuPy and a CUDA device")
