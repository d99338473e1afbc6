"""A per-layer table of a network: output shape, parameters and multiply-adds per image."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyalex.engine.tensor import no_grad
from tinyalex.layers import Conv2d, Linear, Module


@dataclass
class LayerInfo:
    name: str
    layer: str
    output_shape: tuple
    parameters: int
    mult_adds: int


def _mult_adds(layer: Module, output_shape: tuple) -> int:
    """Multiply-adds of one image through a conv or fc layer (the others are counted as 0)."""
    if isinstance(layer, Conv2d):
        kh, kw = layer.kernel_size
        return int(np.prod(output_shape)) * (layer.in_channels // layer.groups) * kh * kw
    if isinstance(layer, Linear):
        return layer.in_features * layer.out_features
    return 0


def layer_table(model: Module, input_size: int | None = None) -> list[LayerInfo]:
    """Run one zero image through the model's children in order and describe each layer."""
    size = input_size or model.config["input_size"]
    x = np.zeros((1, 3, size, size), dtype=np.float32)
    rows = []
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for name, layer in model.named_children():
                x = layer(x)
                shape = tuple(x.shape[1:])
                rows.append(LayerInfo(name, type(layer).__name__, shape, layer.num_parameters(), _mult_adds(layer, shape)))
    finally:
        model.train(was_training)
    return rows


def summary(model: Module, input_size: int | None = None) -> str:
    """The table as text, with totals; multiply-adds count conv and fc layers only."""
    rows = layer_table(model, input_size)
    lines = [f"{'layer':<10}{'type':<20}{'output':>18}{'parameters':>14}{'mult-adds':>16}"]
    for r in rows:
        shape = "x".join(str(n) for n in r.output_shape)
        lines.append(f"{r.name:<10}{r.layer:<20}{shape:>18}{r.parameters:>14,}{r.mult_adds:>16,}")
    total_params = sum(r.parameters for r in rows)
    total_macs = sum(r.mult_adds for r in rows)
    lines.append(f"{'total':<10}{'':<20}{'':>18}{total_params:>14,}{total_macs:>16,}")
    return "\n".join(lines)
