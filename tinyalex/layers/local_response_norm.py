"""Local response normalization as a layer, with the paper's constants as defaults."""
from tinyalex.layers.module import Module
from tinyalex.ops.local_response_norm import local_response_norm


class LocalResponseNorm(Module):
    """The paper's LRN (k=2, n=5, alpha=1e-4, beta=0.75); PyTorch's alpha is this alpha * size."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
