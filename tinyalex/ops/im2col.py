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

These two are the plain version, the one lesson 4 builds. Conv2d mostly runs a channels-last
variant (`im2col_nhwc`, `col2im_nhwc`): the same windows, with the channels innermost, and keeps
the plain col2im for a backward whose towers have fewer channels than OW. An
NCHW window row is only OW numbers long (7 in alexnet_small's conv3-conv5), and NumPy pays
for every short row it copies; channels-last, each copy moves KW*C contiguous numbers at a
time (192 there), measured 2-6x faster for im2col and 1.5-3.5x for col2im when C >= 64.
On the GPU each of the two is one CUDA kernel (IM2COL_KERNEL, COL2IM_KERNEL): one thread per
column element, or per input pixel, straight from and to NCHW (no padded copy, no transpose).
"""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.ops import cuda, workspace

# col[g, (image, oy, ox), (a, b, ch)] = x[image, g * Cg + ch, oy * SH - PH + a, ox * SW - PW + b], 0 in the padding;
# one thread per column element, t = ((g * rows + row) * KH + a) * KW * Cg + b * Cg + ch
IM2COL_KERNEL = r"""
extern "C" __global__ void im2col(long long n, const T* x, T* col, int c, int h, int w, int oh, int ow,
                                  int kh, int kw, int sh, int sw, int ph, int pw, int groups)
{
    const int cg = c / groups;
    const long long rows = n / ((long long)groups * kh * kw * cg);
    for (long long t = FIRST_INDEX; t < n; t += INDEX_STRIDE) {
        const int ch = t % cg, b = t / cg % kw, a = t / ((long long)cg * kw) % kh;
        const long long row = t / ((long long)cg * kw * kh) % rows;
        const int g = t / ((long long)cg * kw * kh * rows);
        const int ox = row % ow, oy = row / ow % oh;
        const long long image = row / ((long long)oh * ow);
        const int r = oy * sh - ph + a, q = ox * sw - pw + b;
        const bool inside = r >= 0 && r < h && q >= 0 && q < w;
        col[t] = inside ? x[((image * c + g * cg + ch) * h + r) * w + q] : 0;
    }
}
"""

# col2im as a gather: one thread per input pixel sums, over the kernel offsets (a, b), the column element of the
# window that covers it there (if any): dL/dx[image, ch, r, q] = sum of dL/dcol[g, (image, oy, ox), (a, b, ch - g Cg)]
# with oy * SH + a = r + PH and ox * SW + b = q + PW; the offsets in the order the CPU's col2im_nhwc adds them
COL2IM_KERNEL = r"""
extern "C" __global__ void col2im(long long n, const T* col, T* x, int c, int h, int w, int oh, int ow,
                                  int kh, int kw, int sh, int sw, int ph, int pw, int groups)
{
    const int cg = c / groups;
    const long long rows = n / ((long long)c * h * w) * oh * ow;
    for (long long t = FIRST_INDEX; t < n; t += INDEX_STRIDE) {
        const int q = t % w, r = t / w % h, channel = t / ((long long)w * h) % c;
        const long long image = t / ((long long)w * h * c);
        const int g = channel / cg, ch = channel % cg;
        T sum = 0;
        for (int a = 0; a < kh; ++a) {
            const int y = r + ph - a;  // oy * SH
            if (y < 0 || y % sh || y / sh >= oh) continue;
            for (int b = 0; b < kw; ++b) {
                const int z = q + pw - b;  // ox * SW
                if (z < 0 || z % sw || z / sw >= ow) continue;
                const long long row = (image * oh + y / sh) * ow + z / sw;
                sum += col[((g * rows + row) * kh + a) * kw * cg + b * cg + ch];
            }
        }
        x[t] = sum;
    }
}
"""


def pair(value: Any, what: str = "value", least: int | None = None) -> tuple[int, int]:
    """An int or a pair of ints as a pair; `what` (e.g. "conv2d: stride") names it if it is below `least`."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{what}: expected an int or a pair of ints, got {value!r}")
        result = int(value[0]), int(value[1])
    else:
        result = int(value), int(value)
    if least is not None and min(result) < least:
        raise ValueError(f"{what} must be at least {least}, got {value!r}")
    return result


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


def im2col_nhwc(x: Any, kernel: tuple, stride: tuple, pad: tuple, groups: int) -> Any:
    """(N, C, H, W) -> columns (G, N*OH*OW, KH*KW*Cg): row (n, oh, ow), column (i, j, c) of group g.

    x is copied once into a zero-padded channels-last (N, H, W, C) workspace buffer; the
    columns are one strided view of it per group, copied into a workspace buffer (give it
    back with `workspace.give_back` when done).
    """
    xp = get_array_module(x)
    (n, c, h, w), (kh, kw), (sh, sw), (ph, pw) = x.shape, kernel, stride, pad
    oh, ow, cg = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw), c // groups
    if cuda.runs_kernels(xp):
        col = workspace.take((groups, n * oh * ow, kh * kw * cg), x.dtype, x)
        cuda.launch(IM2COL_KERNEL, "im2col", x.dtype, col.size, xp.ascontiguousarray(x), col, c, h, w, oh, ow,
                    kh, kw, sh, sw, ph, pw, groups)
        return col
    padded = workspace.take((n, h + 2 * ph, w + 2 * pw, c), x.dtype, x)
    padded[:, :ph], padded[:, h + ph :], padded[:, :, :pw], padded[:, :, w + pw :] = 0, 0, 0, 0
    padded[:, ph : ph + h, pw : pw + w] = x.transpose(0, 2, 3, 1)
    s_n, s_h, s_w, s_c = padded.strides
    view = xp.lib.stride_tricks.as_strided(padded, (n, oh, ow, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h, s_w, s_c))
    col = workspace.take((groups, n, oh, ow, kh, kw, cg), x.dtype, x)
    for g in range(groups):
        col[g] = view[..., g * cg : (g + 1) * cg]
    workspace.give_back(padded)
    return col.reshape(groups, n * oh * ow, kh * kw * cg)


def col2im_nhwc(col: Any, x_shape: tuple, kernel: tuple, stride: tuple, pad: tuple, out: Any) -> Any:
    """Columns (G, N*OH*OW, KH*KW*Cg) -> `out` (N, C, H, W), adding where windows overlap."""
    (n, c, h, w), (kh, kw), (sh, sw), (ph, pw) = x_shape, kernel, stride, pad
    groups = len(col)
    oh, ow, cg = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw), c // groups
    xp = get_array_module(col)
    if cuda.runs_kernels(xp):
        target = out if out.flags.c_contiguous else xp.empty(x_shape, dtype=col.dtype)
        cuda.launch(COL2IM_KERNEL, "col2im", col.dtype, target.size, xp.ascontiguousarray(col), target, c, h, w,
                    oh, ow, kh, kw, sh, sw, ph, pw, groups)
        if target is not out:
            out[...] = target
        return out
    col = col.reshape(groups, n, oh, ow, kh, kw, cg)
    padded = workspace.take((n, h + 2 * ph, w + 2 * pw, c), col.dtype, col)
    padded.fill(0)
    for g in range(groups):
        channels = padded[..., g * cg : (g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                channels[:, i : i + sh * oh : sh, j : j + sw * ow : sw] += col[g, :, :, :, i, j]
    out[...] = padded[:, ph : ph + h, pw : pw + w].transpose(0, 3, 1, 2)
    workspace.give_back(padded)
    return out
