"""The autograd engine: Tensor, Function, no_grad, and tensor arithmetic."""
from tinyalex.engine import arithmetic
from tinyalex.engine.tensor import Function, Tensor, as_tensor, is_grad_enabled, no_grad

__all__ = ["Function", "Tensor", "arithmetic", "as_tensor", "is_grad_enabled", "no_grad"]
