"""Moving tensors between devices without cutting the graph: `Tensor.to` and the model-parallel crossings.

`ToDevice` copies an array to another device in forward and its gradient back in backward, so a
network may run partly on the CPU and partly on one or two GPUs and still backpropagate end to end.
"""
from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from tinyalex import backend
from tinyalex.engine.tensor import Function, Tensor, as_tensor


def device_name(device: int | str) -> str:
    """0 -> 'gpu:0'; 'cpu' and 'gpu:<id>' pass through; 'gpu' names the current GPU."""
    if isinstance(device, (int, np.integer)):
        return f"gpu:{int(device)}"
    if device == "gpu":
        return f"gpu:{backend.require_gpu().cuda.Device().id}"
    if device == "cpu" or (device.startswith("gpu:") and device[4:].isdigit()):
        return device
    raise ValueError(f"unknown device {device!r}: expected a GPU number, 'cpu', 'gpu' or 'gpu:<id>'")


def on_device(device: str) -> contextlib.AbstractContextManager:
    """Make `device` ('cpu' or 'gpu:<id>') the current CUDA device for the block (nothing to do on the CPU)."""
    if device == "cpu":
        return contextlib.nullcontext()
    return backend.require_gpu().cuda.Device(int(device[4:]))


def move(array: Any, device: str) -> Any:
    """`array` on `device` ('cpu' or 'gpu:<id>'), copied only when it lives elsewhere (GPU to GPU included)."""
    if backend.device_of(array) == device:
        return array
    if device != "cpu" and backend.is_cupy_array(array):
        with on_device(device):
            return array.copy()  # CuPy copies into the current device, from any other
    return backend.to_device(array, device)


class ToDevice(Function):
    """A crossing: copies an activation to another device, and its gradient back."""

    def __init__(self, device: str):
        self.device = device

    def forward(self, x):
        self.source = backend.device_of(x)
        return move(x, self.device)

    def backward(self, gy):
        return move(gy, self.source)


def to_device(x: Any, device: int | str) -> Tensor:
    """x on `device`: x itself when it is already there, else a copy that stays in the graph."""
    x, device = as_tensor(x), device_name(device)
    return x if x.device == device else ToDevice(device)(x)
