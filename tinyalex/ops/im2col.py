"""im2col and col2im: turn convolution into one matrix product, and back.

Notation: N batch, C channels, H x W input, KH x KW kernel, SH x SW stride,
PH x PW padding, OH x OW output. The loops run over the KH*KW kernel offsets,
never over output pixels: each offset is one strided slice of the padded input.
"""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module


def pair(value: Any) -> tuple[int, int]:
    """An int or a pair of ints as a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"expected an int or a pair of ints, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a sliding window (floor mode), shared by convolution and pooling."""
    return (size + 2 * pad - kernel) // stride + 1


def im2col(x: Any, kernel: tuple, stride: tuple, pad: tuple, fill: float = 0.0) -> Any:
    """(N, C, H, W) -> columns (N, C, KH, KW, OH, OW); padding is filled with `fill`."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    if ph or pw:
        x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="constant", constant_values=fill)
    col = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            col[:, :, i, j] = x[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
    return col


def col2im(col: Any, x_shape: tuple, stride: tuple, pad: tuple) -> Any:
    """Columns (N, C, KH, KW, OH, OW) -> (N, C, H, W), adding where windows overlap."""
    xp = get_array_module(col)
    n, c, h, w = x_shape
    _, _, kh, kw, oh, ow = col.shape
    (sh, sw), (ph, pw) = stride, pad
    x = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=col.dtype)
    for i in range(kh):
        for j in range(kw):
            x[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += col[:, :, i, j]
    return x[:, :, ph : ph + h, pw : pw + w]
