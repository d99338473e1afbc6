"""Sequential: chaining layers."""
from collections.abc import Iterator
from typing import Any

from tinyalex.engine.tensor import Tensor
from tinyalex.layers.module import Module


class Sequential(Module):
    """Calls its layers in order; they are named 0, 1, 2, ... like PyTorch's."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x: Any) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
