"""The functional API, with PyTorch's names and keywords so that what students learn carries over.

Every function accepts Tensors or raw NumPy/CuPy arrays and returns a Tensor.
"""
from tinyalex.engine.arithmetic import exp, flatten, log, matmul, mean, reshape, transpose
from tinyalex.engine.arithmetic import max as max  # noqa: A004 - mirrors torch.max
from tinyalex.engine.arithmetic import sum as sum  # noqa: A004 - mirrors torch.sum
from tinyalex.ops.conv2d import conv2d
from tinyalex.ops.dropout import dropout
from tinyalex.ops.linear import linear
from tinyalex.ops.local_response_norm import local_response_norm
from tinyalex.ops.max_pool2d import max_pool2d
from tinyalex.ops.relu import relu
from tinyalex.ops.softmax_cross_entropy import log_softmax, softmax, softmax_cross_entropy
from tinyalex.ops.tanh import tanh

__all__ = [
    "conv2d", "dropout", "exp", "flatten", "linear", "local_response_norm", "log", "log_softmax",
    "matmul", "max", "max_pool2d", "mean", "relu", "reshape", "softmax", "softmax_cross_entropy",
    "sum", "tanh", "transpose",
]
