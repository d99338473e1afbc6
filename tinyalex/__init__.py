"""tinyalex: AlexNet rebuilt from scratch on NumPy and CuPy, one idea of the paper at a time."""
from tinyalex import functional
from tinyalex import layers as nn
from tinyalex.backend import gpu_available, get_array_module, to_cpu, to_gpu
from tinyalex.engine import Function, Tensor, no_grad
from tinyalex.gradcheck import GradcheckError, gradcheck

__version__ = "0.1.0"

__all__ = [
    "Function", "GradcheckError", "Tensor", "functional", "get_array_module", "gpu_available", "gradcheck",
    "nn", "no_grad", "to_cpu", "to_gpu",
]
