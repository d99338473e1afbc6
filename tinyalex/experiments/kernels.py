"""The paper's Figure 3: the first layer's kernels as an image grid, one block per tower.

In the two-tower net conv2 reads the first half of conv1's output channels on one GPU and the
second half on the other, so conv1's kernels 0..C/2-1 belong to tower 1 and the rest to tower 2.
The paper saw the kernels of one tower come out "largely color-agnostic" and those of the other
"largely color-specific".
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tinyalex.backend import to_cpu
from tinyalex.experiments.output import new_figure


def kernel_tiles(weight: Any, towers: int = 2) -> np.ndarray:
    """(towers, C/towers, kh, kw, 3) RGB tiles in [0, 1] of a (C, 3, kh, kw) conv1 weight.

    Each kernel is scaled on its own from its minimum (0) to its maximum (1), so weak kernels stay
    visible; tower t holds output channels t*C/towers .. (t+1)*C/towers - 1.
    """
    w = np.asarray(to_cpu(weight), dtype=np.float64)
    if w.ndim != 4 or w.shape[1] != 3:
        raise ValueError(f"kernel_tiles: expected a (C, 3, kh, kw) first-layer weight, got shape {w.shape}")
    if towers < 1 or w.shape[0] % towers:
        raise ValueError(f"kernel_tiles: {w.shape[0]} kernels cannot be split into {towers} towers")
    flat = w.reshape(len(w), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)
    scaled = (w - low[:, None, None, None]) / np.maximum(high - low, 1e-12)[:, None, None, None]
    return scaled.transpose(0, 2, 3, 1).reshape(towers, len(w) // towers, *w.shape[2:], 3)


def mosaic(tiles: np.ndarray, columns: int, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """Lay (n, h, w, 3) tiles out row by row, ``columns`` to a row, ``pad`` pixels of ``fill`` between
    and around them: tile i sits at row i // columns, column i % columns."""
    n, h, w, c = tiles.shape
    rows = math.ceil(n / columns)
    grid = np.full((pad + rows * (h + pad), pad + columns * (w + pad), c), fill, dtype=np.float64)
    for i, tile in enumerate(tiles):
        y, x = pad + (i // columns) * (h + pad), pad + (i % columns) * (w + pad)
        grid[y:y + h, x:x + w] = tile
    return grid


def plot_kernels(weight: Any, towers: int = 2, columns: int | None = None) -> Figure:
    """Figure 3: one panel per tower with its kernels in a grid: by default 16 to a row, as in the
    paper's 48 per tower, and in two rows (up to 6 in one) for smaller nets so the tiles stay large."""
    tiles = kernel_tiles(weight, towers)
    per_tower = tiles.shape[1]
    columns = columns or min(per_tower, 16, max(6, math.ceil(per_tower / 2)))
    grids = [mosaic(t, columns) for t in tiles]
    height, width = grids[0].shape[:2]
    fig = new_figure(8, 0.6 + towers * (8 * height / width + 0.4))
    for t, (ax, grid) in enumerate(zip(fig.subplots(towers, 1, squeeze=False)[:, 0], grids)):
        ax.imshow(grid, interpolation="nearest")
        first = t * per_tower
        label = f"tower {t + 1}: " if towers > 1 else ""
        ax.set_title(f"{label}kernels {first}-{first + per_tower - 1}", fontsize="medium")
        ax.axis("off")
    fig.suptitle(f"First-layer kernels ({tiles.shape[2]}x{tiles.shape[3]}x3), each scaled to its own range")
    return fig


def plot_model_kernels(model: Any, columns: int | None = None) -> Figure:
    """``plot_kernels`` for an AlexNet: its conv1 weights, split into its towers."""
    return plot_kernels(model.conv1.weight.data, model.config["towers"], columns)
