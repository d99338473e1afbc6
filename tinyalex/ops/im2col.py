"""im2col and col2im: turn convolution into one matrix product, and back.

Notation: N batch, C channels, H x W input, KH x KW kernel, SH x SW stride,
PH x PW padding, OH x OW output.

im2col is one strided *view* of the padded input (no Python loop at all: the view's
strides step through kernel offsets and output pixels) copied once into the columns.
The columns are indexed col[n, c, i, j, oh, ow] = x_padded[n, c, i + SH*oh, j + SW*ow],
but stored in memory as (C, KH, KW, N, OH, OW): reshaped to (C*KH*KW, N*OH*OW), that is
the right-hand side of one matrix product for the whole batch, with no transpose.
col2im adds each kernel offset's slice back, a loop over the KH*KW offsets (never over
output pixels).
"""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.ops import workspace


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


def pad_input(x: Any, pad: tuple, fill: float = 0.0) -> Any:
    """x with `pad` rows/columns of `fill` around H and W, in a workspace buffer (x itself when pad is 0)."""
    (ph, pw), (n, c, h, w) = pad, x.shape
    if not (ph or pw):
        return x
    padded = workspace.take((n, c, h + 2 * ph, w + 2 * pw), x.dtype, x)
    padded[:, :, :ph], padded[:, :, h + ph :] = fill, fill
    padded[:, :, :, :pw], padded[:, :, :, w + pw :] = fill, fill
    padded[:, :, ph : ph + h, pw : pw + w] = x
    return padded


def windows(x: Any, kernel: tuple, stride: tuple) -> Any:
    """The view v[c, i, j, n, oh, ow] = x[n, c, i + SH*oh, j + SW*ow] of an (N, C, H, W) array, without copying."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = output_size(h, kh, sh, 0), output_size(w, kw, sw, 0)
    s_n, s_c, s_h, s_w = x.strides
    shape = (c, kh, kw, n, oh, ow)
    strides = (s_c, s_h, s_w, s_n, s_h * sh, s_w * sw)
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


def im2col(x: Any, kernel: tuple, stride: tuple, pad: tuple, fill: float = 0.0) -> Any:
    """(N, C, H, W) -> columns (N, C, KH, KW, OH, OW); padding is filled with `fill`.

    The result is a transposed view of a (C, KH, KW, N, OH, OW) workspace buffer; give it
    back with `workspace.give_back(col)` when done with it.
    """
    padded = pad_input(x, pad, fill)
    view = windows(padded, kernel, stride)
    col = workspace.take(view.shape, x.dtype, x)
    col[...] = view
    workspace.give_back(padded)
    return col.transpose(3, 0, 1, 2, 4, 5)


def col2im(col: Any, x_shape: tuple, stride: tuple, pad: tuple, out: Any = None) -> Any:
    """Columns (N, C, KH, KW, OH, OW) -> (N, C, H, W), adding where windows overlap (into `out` if given)."""
    xp = get_array_module(col)
    n, c, h, w = x_shape
    _, _, kh, kw, oh, ow = col.shape
    (sh, sw), (ph, pw) = stride, pad
    padded = workspace.take((n, c, h + 2 * ph, w + 2 * pw), col.dtype, col)
    padded.fill(0)
    for i in range(kh):
        for j in range(kw):
            padded[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += col[:, :, i, j]
    if out is None:
        out = xp.empty(x_shape, dtype=col.dtype)
    out[...] = padded[:, :, ph : ph + h, pw : pw + w]
    workspace.give_back(padded)
    return out
