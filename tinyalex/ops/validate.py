"""Input checks shared by the ops: wrong shapes fail early with a message naming what was expected."""
from __future__ import annotations

from typing import Any


class ShapeError(ValueError):
    """Wrong input to an op or layer; layers prefix their own description once."""


def check_float(op: str, x: Any) -> None:
    """x must be float32 or float64: the two the CUDA kernels are built for (float16 ran on the CPU alone)."""
    if x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8):
        raise ShapeError(f"{op}: expected a floating-point input (float32 or float64), got dtype {x.dtype}")


def check_nchw(op: str, x: Any, channels: int | None = None) -> None:
    """x must be (N, C, H, W), with C == channels when given, and floating point."""
    expected = f"(N, {channels}, H, W)" if channels is not None else "(N, C, H, W)"
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        raise ShapeError(f"{op}: expected input of shape {expected}, got {tuple(x.shape)}")
    check_float(op, x)


def check_window(op: str, x_shape: tuple, kernel: tuple, pad: tuple) -> None:
    """The kernel must fit inside the padded input."""
    h, w = x_shape[2] + 2 * pad[0], x_shape[3] + 2 * pad[1]
    if kernel[0] > h or kernel[1] > w:
        raise ShapeError(
            f"{op}: kernel {kernel[0]}x{kernel[1]} is larger than the padded input {h}x{w} "
            f"(input {tuple(x_shape)}, padding {pad})"
        )


def check_images(net: str, x: Any, size: int) -> None:
    """x must be a floating-point batch of (N, 3, size, size) images, the one input size a net's fc6 fits."""
    if x.ndim != 4 or x.shape[1:] != (3, size, size):
        raise ShapeError(f"{net}: expected images of shape (N, 3, {size}, {size}), got {tuple(x.shape)}")
    check_float(net, x)
