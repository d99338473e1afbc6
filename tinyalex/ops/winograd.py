"""Winograd's minimal filtering F(2x2, 3x3): a 3x3 stride-1 convolution with 2.25x fewer multiplies.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016). The output is cut
into 2x2 tiles; each needs a 4x4 tile d of the input. For one input channel and one filter g,

    Y = A^T [ (G g G^T) * (B^T d B) ] A           (* is element-wise, over the 16 points of the tile)

Summed over the input channels, the 16 products per channel pair (a direct 3x3 convolution
needs 4 * 9 = 36 for the same 2x2 outputs) become 16 independent matrix products, one per
point xi of the tile, tower by tower:

    M[xi] = V[xi] @ U[xi]^T      V[xi]: (tiles, C) of B^T d B,  U[xi]: (K, C) of G g G^T

Each transform is one matrix product too, with a Kronecker matrix (see `kron`) over all the
tiles of a chunk of images at once, on a channels-last layout.

Backward is the adjoint of each linear step, in reverse: dM = A dY A^T, then dU[xi] = dM[xi]^T V[xi]
and dV[xi] = dM[xi] U[xi], then dL/dd = B dV B^T added back where neighbouring input tiles
overlap (by two pixels), and dL/dg = G^T dU G. Forward keeps V for dU (16 numbers per 2x2
output tile: 4 times the input's size, 4.6 times on 13x13 maps) instead of building it again.

conv2d (conv2d.py) takes this path for the paper's conv3-conv5 on the CPU. Measured on
2026-12-02 on this project's 2-core CPU machine, forward + backward at batch 32, by
`python examples/conv_algorithms.py`: 1.37x, 1.27x and 1.19x faster than im2col.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tinyalex.backend import get_array_module
from tinyalex.ops import threads, workspace

CHUNK_BYTES = 32 * 2**20  # of transformed input (V) built at a time

# Lavin & Gray's F(2x2, 3x3) matrices: input B^T (4x4), filter G (4x3), output A^T (2x4)
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])


def kron(matrix: np.ndarray, like: Any) -> Any:
    """kron(M, M) on like's device: M t M^T of a tile t is kron(M, M) @ t, with t flattened row by row.

    So each transform below is one matrix product over all the tiles of a chunk at once, with the
    tile's points as the rows: (16, 16) @ (16, tiles * channels) for the input.
    """
    xp = get_array_module(like)
    return xp.asarray(np.kron(matrix, matrix), dtype=like.dtype)


def filter_transform(w: Any, groups: int) -> Any:
    """U = G g G^T of every 3x3 filter g: (O, Cg, 3, 3) -> (16, groups, O/groups, Cg)."""
    o, cg = w.shape[:2]
    return (kron(G, w) @ w.reshape(o * cg, 9).T).reshape(16, groups, o // groups, cg)


def filter_gradient(gu: Any, w_shape: tuple) -> Any:
    """dL/dg = G^T dU G, the adjoint of filter_transform: (16, groups, O/groups, Cg) -> (O, Cg, 3, 3)."""
    return (kron(G, gu).T @ gu.reshape(16, -1)).T.reshape(w_shape)


def tiles_view(padded: Any, tiles: tuple) -> Any:
    """The overlapping 4x4 input tiles of a channels-last (N, H, W, C) array, as a view (4, 4, N, TH, TW, C)."""
    xp = get_array_module(padded)
    s_n, s_h, s_w, s_c = padded.strides
    shape = (4, 4, len(padded), *tiles, padded.shape[3])
    return xp.lib.stride_tricks.as_strided(padded, shape, (s_h, s_w, s_n, 2 * s_h, 2 * s_w, s_c))


class Winograd:
    """F(2x2, 3x3) forward and backward of a grouped 3x3 stride-1 convolution, a chunk of images at a time.

    Not a Function itself: Conv2d hands it its arrays (same arguments, same results as its im2col
    path, to rounding). Layouts, per chunk of N images with T = N * TH * TW tiles:
    V (16, G, T, Cg) and M (16, G, T, K) are contiguous, so each tower's product reads whole
    blocks; U is (16, G, K, Cg), used transposed.
    """

    def __init__(self, pad: tuple, groups: int):
        self.pad, self.groups = pad, groups

    def tiles(self, x_shape: tuple) -> tuple:
        """(OH, OW, TH, TW): the output size and how many 2x2 output tiles cover it."""
        (_, _, h, w), (ph, pw) = x_shape, self.pad
        oh, ow = h + 2 * ph - 2, w + 2 * pw - 2
        return oh, ow, -(-oh // 2), -(-ow // 2)

    def chunks(self, x: Any) -> list:
        """The parts of the batch, each with about CHUNK_BYTES of transformed input."""
        _, _, th, tw = self.tiles(x.shape)
        return workspace.chunks(len(x), 16 * th * tw * x.shape[1] * x.itemsize, x, CHUNK_BYTES)

    def _input_transform(self, x: Any, keep: bool) -> Any:
        """V = B^T d B of every 4x4 input tile d of x (a chunk of images): (16, G, T, Cg), in a workspace
        buffer, or a new array to keep for backward."""
        xp = get_array_module(x)
        (n, c, h, w), (ph, pw), g = x.shape, self.pad, self.groups
        _, _, th, tw = self.tiles(x.shape)
        padded = workspace.take((n, 2 * th + 2, 2 * tw + 2, c), x.dtype, x)  # zero-padded, channels last
        padded.fill(0)
        padded[:, ph : ph + h, pw : pw + w] = x.transpose(0, 2, 3, 1)
        d = workspace.take((4, 4, g, n, th, tw, c // g), x.dtype, x)  # the tiles, tower by tower
        d[...] = tiles_view(padded, (th, tw)).reshape(4, 4, n, th, tw, g, c // g).transpose(0, 1, 5, 2, 3, 4, 6)
        workspace.give_back(padded)
        shape = (16, g, n * th * tw, c // g)
        v = xp.empty(shape, dtype=x.dtype) if keep else workspace.take(shape, x.dtype, x)
        xp.matmul(kron(B_T, x), d.reshape(16, -1), out=v.reshape(16, -1))
        workspace.give_back(d)
        return v

    def forward(self, x: Any, u: Any, b: Any, parts: list, y: Any, keep: bool) -> list | None:
        """Writes y[part] for every part of the batch (u = filter_transform(w)); returns each part's V
        when asked to keep them (backward needs them for dL/dU; keeping costs 16 numbers per 2x2
        output tile, 4 times x's size, and saves building them again)."""
        kept = threads.run_parts(lambda part: self._forward_part(x, u, b, y, part, keep), parts, x)
        return kept if keep else None

    def _forward_part(self, x: Any, u: Any, b: Any, y: Any, part: slice, keep: bool) -> Any:
        xp, g, kg = get_array_module(x), self.groups, u.shape[2]
        oh, ow, th, tw = self.tiles(x.shape)
        n = part.stop - part.start
        v = self._input_transform(x[part], keep)
        m = workspace.take((16, g, n * th * tw, kg), x.dtype, x)
        xp.matmul(v, u.transpose(0, 1, 3, 2), out=m)  # M[xi] = V[xi] @ U[xi]^T, tower by tower
        if not keep:
            workspace.give_back(v)
        tiles = workspace.take((2, 2, g, n, th, tw, kg), x.dtype, x)
        xp.matmul(kron(A_T, x), m.reshape(16, -1), out=tiles.reshape(4, -1))  # Y = A^T M A
        workspace.give_back(m)
        # the 2x2 tiles' pixels in NCHW order, then cut to the output's size (plus the bias)
        pixels = workspace.take((n, g, kg, th, 2, tw, 2), x.dtype, x)
        pixels[...] = tiles.transpose(3, 2, 6, 4, 0, 5, 1)
        pixels = pixels.reshape(n, g * kg, 2 * th, 2 * tw)[:, :, :oh, :ow]
        if b is None:
            y[part] = pixels
        else:
            xp.add(pixels, b.reshape(1, -1, 1, 1), out=y[part])
        workspace.give_back(tiles, pixels)
        return v if keep else None

    def backward(self, u: Any, gy: Any, parts: list, gx: Any, kept: list | None, x_shape: tuple) -> Any:
        """Writes dL/dx into gx (unless None); returns dL/dU (16, G, K, Cg), or None when forward kept no V
        (no filter gradient wanted). The parts' shares are summed in the parts' order."""
        shares = threads.run_parts(lambda i: self._backward_part(u, gy, gx, kept and kept[i], x_shape, parts[i]),
                                   range(len(parts)), gy)
        return sum(shares[1:], shares[0]) if kept else None

    def _backward_part(self, u: Any, gy: Any, gx: Any, v: Any, x_shape: tuple, part: slice) -> Any:
        xp, g, kg = get_array_module(gy), self.groups, u.shape[2]
        (ph, pw), (_, c, h, w) = self.pad, x_shape
        oh, ow, th, tw = self.tiles(x_shape)
        n = part.stop - part.start
        # dL/dY zero-padded to whole tiles, then in the tiles' layout (2, 2, G, N, TH, TW, K)
        pixels = workspace.take((n, g * kg, 2 * th, 2 * tw), gy.dtype, gy)
        pixels[:, :, oh:], pixels[:, :, :, ow:] = 0, 0
        pixels[:, :, :oh, :ow] = gy[part]
        tiles = workspace.take((2, 2, g, n, th, tw, kg), gy.dtype, gy)
        tiles[...] = pixels.reshape(n, g, kg, th, 2, tw, 2).transpose(4, 6, 1, 0, 3, 5, 2)
        workspace.give_back(pixels)
        gm = workspace.take((16, g, n * th * tw, kg), gy.dtype, gy)
        xp.matmul(kron(A_T, gy).T, tiles.reshape(4, -1), out=gm.reshape(16, -1))  # dM = A dY A^T
        workspace.give_back(tiles)
        gu_part = None if v is None else xp.matmul(gm.transpose(0, 1, 3, 2), v)  # dU[xi] = dM[xi]^T V[xi]
        if gx is not None:
            gv = workspace.take((16, g, n * th * tw, c // g), gy.dtype, gy)
            xp.matmul(gm, u, out=gv)  # dV[xi] = dM[xi] U[xi] (V stays as it was: backward may run again)
            gd = workspace.take((4, 4, g, n, th, tw, c // g), gy.dtype, gy)
            xp.matmul(kron(B_T, gy).T, gv.reshape(16, -1), out=gd.reshape(16, -1))  # dL/dd = B dV B^T
            # the input tiles overlap by two pixels: add each tile point back where it came from
            padded = workspace.take((n, 2 * th + 2, 2 * tw + 2, c), gy.dtype, gy)
            padded.fill(0)
            towers = padded.reshape(n, 2 * th + 2, 2 * tw + 2, g, c // g).transpose(3, 0, 1, 2, 4)
            for i in range(4):
                for j in range(4):
                    towers[:, :, i : i + 2 * th : 2, j : j + 2 * tw : 2] += gd[i, j]
            gx[part] = padded[:, ph : ph + h, pw : pw + w].transpose(0, 3, 1, 2)
            workspace.give_back(gd, padded, gv)
        workspace.give_back(gm)
        return gu_part
