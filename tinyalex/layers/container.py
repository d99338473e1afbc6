"""Sequential and Flatten: chaining layers."""
from tinyalex.engine.arithmetic import flatten
from tinyalex.layers.module import Module


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W)."""

    def forward(self, x):
        return flatten(x)


class Sequential(Module):
    """Calls its layers in order; they are named 0, 1, 2, ... like PyTorch's."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def named_children(self):
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
