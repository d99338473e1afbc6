"""Shared fixtures: run tests once per array module, and skip GPU tests where there is no GPU.

`xp` is numpy, then cupy when CuPy finds a CUDA device. Setting TINYALEX_DEVICE=gpu
asks for the GPU explicitly: the numpy runs still happen, and the cupy runs and
`@pytest.mark.gpu` tests fail (rather than skip) when no GPU can be found, so that a
GPU CI job with a broken CuPy install cannot pass by skipping everything.

In CI (``CI`` set to anything but "", "false" or "0", as .ci/optional reads it) a test that skips
because PyTorch or MPI is missing fails instead: .ci/run installs them, so a skip there means an
install that broke (``pytest.importorskip("torch")`` also skips when torch installed but does not
import). Run by hand, those tests skip as usual.
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


# Skip reasons that mean a reference .ci/run installs is missing: pytest.importorskip("torch")'s, and
# tests/parallel_helpers.mpirun_missing()'s.
MISSING_REFERENCES = ("could not import 'torch'", "mpirun not found", "mpi4py not installed")


def _in_ci() -> bool:
    return os.environ.get("CI", "") not in ("", "false", "0")


def _fail_in_ci(report) -> None:
    """Turn the skip of a test (or module) that lacks a reference into a failure, in CI."""
    if not report.skipped or hasattr(report, "wasxfail") or not _in_ci():
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if any(missing in reason for missing in MISSING_REFERENCES):
        report.outcome = "failed"
        report.longrepr = f"CI={os.environ['CI']}: in CI a missing reference fails instead of skipping: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):  # pytest.importorskip at module level skips the whole file
    outcome = yield
    _fail_in_ci(outcome.get_result())
