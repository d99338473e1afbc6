"""ReLU, the paper's non-saturating nonlinearity (Section 3.1)."""
from __future__ import annotations

from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor
from tinyalex.ops import threads, workspace

CHUNK_BYTES = 2**20  # bytes of the array per piece, the pieces spread over the op threads


def _pieces(a: Any) -> list[slice]:
    """Pieces of a's flat view for the op threads (the whole array on the GPU)."""
    return workspace.chunks(a.size, a.itemsize, a, CHUNK_BYTES)


class ReLU(Function):
    """Keeps only the output: its sign is the mask backward needs. Runs in pieces on the op threads."""

    def forward(self, x):
        xp = get_array_module(x)
        x = xp.ascontiguousarray(x).reshape(x.shape)  # reshape: ascontiguousarray makes a 0-d array 1-d
        y = xp.empty_like(x)
        flat_x, flat_y = x.reshape(-1), y.reshape(-1)

        def forward_piece(piece: slice) -> None:
            # f(x) = max(0, x)
            xp.maximum(flat_x[piece], 0, out=flat_y[piece])

        threads.run_parts(forward_piece, _pieces(x), x)
        self.y = y
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        gy = xp.ascontiguousarray(gy).reshape(gy.shape)
        gx = xp.empty_like(gy)
        flat_g, flat_y, flat_gx = gy.reshape(-1), self.y.reshape(-1), gx.reshape(-1)

        def backward_piece(piece: slice) -> None:
            # f'(x) = 1 where the output is positive, else 0
            xp.multiply(flat_g[piece], flat_y[piece] > 0, out=flat_gx[piece])

        threads.run_parts(backward_piece, _pieces(gy), gy)
        return gx


def relu(x: Any) -> Tensor:
    """max(0, x), elementwise."""
    return ReLU()(x)
