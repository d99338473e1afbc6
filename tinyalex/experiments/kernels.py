"""The paper's Figure 3: the first layer's kernels as an image grid, one block per tower.

In the two-tower net conv2 reads the first half of conv1's output channels on one GPU and the
second half on the other, so conv1's kernels 0..C/2-1 belong to tower 1 and the rest to tower 2.
The paper saw the kernels of one tower come out "largely color-agnostic" and those of the other
"largely color-specific" (Section 6.1: "on GPU 1" and "on GPU 2", a split that "occurs during every
run and is independent of any particular random weight initialization (modulo a renumbering of the
GPUs)": which tower gets which is not fixed).

That observation as numbers (``kernel_statistics``, printed and written to kernels.json by
``tinyalex figures``), per tower:

* **colour-plane correlation** (``plane_correlation``): for each kernel, the mean of the three
  uncentred correlations (cosines) between its R, G and B planes, each plane flattened to kh*kw
  numbers: mean(cos(R, G), cos(R, B), cos(G, B)), with cos(u, v) = u.v / (|u| |v|); then the mean
  (and sample sd, ddof = 1) over the tower's kernels. 1: the same pattern, with the same sign, in
  every colour (a grey, colour-agnostic kernel: it sees only brightness); about 0: unrelated
  patterns in the three colours (as at a random initialisation: independent N(0, s^2) planes give
  0 +- 1/sqrt(kh*kw) per pair); negative: opponent colours (e.g. red against green, -1/3 for
  B = R = -G). The planes are not centred: a plane's mean is the kernel's response to a flat field
  of that colour, which is colour information, so a kernel R = G + c is not counted as grey.
  A kernel with an all-zero plane has no value (NaN) and is left out of its tower's mean.
* **correlation with the initial weights** (``init_correlation``): for each kernel, cos(w, w0)
  between its weights now and at initialisation (all 3*kh*kw numbers); w0 is what
  ``AlexNet(**model.config)`` draws, which is exactly the start of a run of ``tinyalex train`` or
  ``tinyalex ablate`` (the config holds the seed). 1: unchanged; near 0: nothing left of the start.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tinyalex.backend import to_cpu
from tinyalex.experiments.output import new_figure
from tinyalex.models import AlexNet


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
    paper's 48 per tower, and in two rows (up to 6 in one) for smaller nets so the tiles stay large.
    Each panel's title gives the tower's colour-plane correlation (``plane_correlation``)."""
    tiles = kernel_tiles(weight, towers)
    colour = tower_summary(plane_correlation(weight), towers)
    per_tower = tiles.shape[1]
    columns = columns or min(per_tower, 16, max(6, math.ceil(per_tower / 2)))
    grids = [mosaic(t, columns) for t in tiles]
    height, width = grids[0].shape[:2]
    fig = new_figure(8, 0.6 + towers * (8 * height / width + 0.4))
    for t, (ax, grid) in enumerate(zip(fig.subplots(towers, 1, squeeze=False)[:, 0], grids)):
        ax.imshow(grid, interpolation="nearest")
        first = t * per_tower
        label = f"tower {t + 1}: " if towers > 1 else ""
        ax.set_title(f"{label}kernels {first}-{first + per_tower - 1}, colour-plane correlation "
                     f"{summary_text(colour[t])}", fontsize="medium")
        ax.axis("off")
    fig.suptitle(f"First-layer kernels ({tiles.shape[2]}x{tiles.shape[3]}x3), each scaled to its own range")
    return fig


def plot_model_kernels(model: Any, columns: int | None = None) -> Figure:
    """``plot_kernels`` for an AlexNet: its conv1 weights, split into its towers."""
    return plot_kernels(model.conv1.weight.data, model.config["towers"], columns)


# --- Figure 3 in numbers ------------------------------------------------------------------------

PLANE_CORRELATION = ("colour-plane correlation: per kernel, the mean of the cosines between its R, G and B planes "
                     "(uncentred correlations of the kh*kw numbers of each plane); 1 = grey (colour-agnostic), "
                     "about 0 = unrelated colours (a random start), negative = opponent colours")
INIT_CORRELATION = ("correlation with the initial weights: per kernel, the cosine between its weights now and at "
                    "initialisation (AlexNet(**config) with the checkpoint's seed); 1 = unchanged")


def _first_layer(weight: Any) -> np.ndarray:
    w = np.asarray(to_cpu(weight), dtype=np.float64)
    if w.ndim != 4 or w.shape[1] != 3:
        raise ValueError(f"expected a (C, 3, kh, kw) first-layer weight, got shape {w.shape}")
    return w


def _cosines(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """cos(u_i, v_i) for the rows of (n, d) ``u`` and ``v``; NaN where a row is all zeros."""
    norms = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, np.einsum("nd,nd->n", u, v) / np.where(norms > 0, norms, 1.0), np.nan)


def plane_correlation(weight: Any) -> np.ndarray:
    """Per kernel of a (C, 3, kh, kw) first-layer weight: mean(cos(R, G), cos(R, B), cos(G, B)) of its
    colour planes, each flattened to kh*kw numbers and not centred (see the module docstring); NaN
    for a kernel with an all-zero plane. Shape (C,)."""
    w = _first_layer(weight)
    r, g, b = (w[:, c].reshape(len(w), -1) for c in range(3))
    return (_cosines(r, g) + _cosines(r, b) + _cosines(g, b)) / 3


def init_correlation(weight: Any, initial: Any) -> np.ndarray:
    """Per kernel: cos(w, w0) between a first-layer weight and its initial value, each kernel's 3*kh*kw
    numbers flattened; NaN for an all-zero kernel. Shape (C,)."""
    w, w0 = _first_layer(weight), _first_layer(initial)
    if w.shape != w0.shape:
        raise ValueError(f"init_correlation: weights of shape {w.shape} against initial weights {w0.shape}")
    return _cosines(w.reshape(len(w), -1), w0.reshape(len(w0), -1))


def tower_summary(values: Any, towers: int = 2) -> list[dict[str, Any]]:
    """Split per-kernel ``values`` into ``towers`` consecutive blocks (tower t: kernels t*C/towers ..
    (t+1)*C/towers - 1, as in ``kernel_tiles``) and summarise each: {"tower" (from 1), "kernels"
    [first, last], "mean", "sd" (sample, ddof = 1; None with one kernel), "n" (kernels with a value)}."""
    values = np.asarray(values, dtype=np.float64)
    if towers < 1 or len(values) % towers:
        raise ValueError(f"tower_summary: {len(values)} kernels cannot be split into {towers} towers")
    per = len(values) // towers
    summary = []
    for t in range(towers):
        block = values[t * per:(t + 1) * per]
        block = block[~np.isnan(block)]
        summary.append({"tower": t + 1, "kernels": [t * per, (t + 1) * per - 1], "n": int(len(block)),
                        "mean": float(block.mean()) if len(block) else None,
                        "sd": float(block.std(ddof=1)) if len(block) > 1 else None})
    return summary


def kernel_statistics(weight: Any, towers: int = 2, initial: Any = None) -> dict[str, Any]:
    """Figure 3's observation in numbers, per tower: {"plane_correlation": tower_summary(...),
    "init_correlation": tower_summary(...) or None without ``initial``, "per_kernel": {name: [values]},
    "definitions": {name: text}}; NaN per-kernel values are written as None (JSON has no NaN)."""
    per_kernel = {"plane_correlation": plane_correlation(weight)}
    if initial is not None:
        per_kernel["init_correlation"] = init_correlation(weight, initial)
    stats: dict[str, Any] = {name: tower_summary(v, towers) for name, v in per_kernel.items()}
    stats.setdefault("init_correlation", None)
    stats["per_kernel"] = {name: [None if np.isnan(x) else float(x) for x in v] for name, v in per_kernel.items()}
    stats["definitions"] = {"plane_correlation": PLANE_CORRELATION, "init_correlation": INIT_CORRELATION}
    return stats


def model_kernel_statistics(model: Any) -> dict[str, Any]:
    """``kernel_statistics`` of an AlexNet's conv1, split into its towers, against the conv1 that
    ``AlexNet(**model.config)`` draws: the initial weights of the run that trained it."""
    initial = AlexNet(**model.config).conv1.weight.data
    return kernel_statistics(model.conv1.weight.data, model.config["towers"], initial)


def summary_text(tower: dict[str, Any], digits: int = 3) -> str:
    """One tower's summary as "mean ± sd" (three decimals: kernels that moved little from their start
    show 0.997, not 1.00), the mean alone for one kernel, "-" for none."""
    if tower["mean"] is None:
        return "-"
    return f"{tower['mean']:.{digits}f}" + ("" if tower["sd"] is None else f" ± {tower['sd']:.{digits}f}")
