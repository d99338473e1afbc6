"""Local response normalization as a layer, with the paper's constants as defaults."""
from typing import Any

from tinyalex.engine.arithmetic import reshape
from tinyalex.engine.tensor import Tensor
from tinyalex.layers.module import Module
from tinyalex.ops.local_response_norm import local_response_norm
from tinyalex.ops.validate import ShapeError, check_nchw


class LocalResponseNorm(Module):
    """The paper's LRN (k=2, n=5, alpha=1e-4, beta=0.75); PyTorch's alpha is this alpha * size.

    With groups=g the channels split into g towers normalised separately, as on the paper's
    two GPUs, where each GPU's maps never saw the other's: the window stops at the tower edge.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0, groups: int = 1):
        self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups

    def forward(self, x: Any) -> Tensor:
        g = self.groups
        if g == 1:
            return local_response_norm(x, self.size, self.alpha, self.beta, self.k)
        check_nchw("local_response_norm", x)
        n, c, h, w = x.shape
        if c % g:
            raise ShapeError(f"local_response_norm: {c} channels do not split into {g} towers")
        # each tower is its own (N*g, C/g, H, W) slab, so windows never cross towers
        y = local_response_norm(reshape(x, n * g, c // g, h, w), self.size, self.alpha, self.beta, self.k)
        return reshape(y, n, c, h, w)

    def extra_repr(self) -> str:
        groups = f", groups={self.groups}" if self.groups != 1 else ""
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}{groups}"
