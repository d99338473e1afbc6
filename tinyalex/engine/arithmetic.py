"""Tensor arithmetic: + - * / @, powers, exp, log, reductions and reshaping, each with its backward.

Broadcasting is undone in backward by `sum_to`, which sums a gradient back down to
the shape of the input that was broadcast.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tinyalex import backend
from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Function, Tensor, as_tensor


def sum_to(grad: Any, shape: tuple) -> Any:
    """Sum `grad` over the axes that broadcasting added or stretched to reach its shape."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, gy):
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, gy):
        return sum_to(gy, self.shapes[0]), sum_to(-gy, self.shapes[1])


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        # d(ab)/da = b, d(ab)/db = a; sum_to undoes broadcasting
        return sum_to(gy * self.b, self.a.shape), sum_to(gy * self.a, self.b.shape)


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        ga = gy / self.b
        return sum_to(ga, self.a.shape), sum_to(-ga * self.a / self.b, self.b.shape)


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, gy):
        return -gy


class Pow(Function):
    """x ** c for a constant exponent c."""

    def __init__(self, exponent: float):
        self.exponent = float(exponent)  # a Python float: a NumPy float64 exponent would promote float32 to float64

    def forward(self, a):
        self.a = a
        return a**self.exponent

    def backward(self, gy):
        # d(a^c)/da = c a^(c-1)
        c = self.exponent
        return gy * c * self.a ** (c - 1)


class Exp(Function):
    def forward(self, a):
        self.y = get_array_module(a).exp(a)
        return self.y

    def backward(self, gy):
        # d exp(a)/da = exp(a)
        return gy * self.y


class Log(Function):
    def forward(self, a):
        self.a = a
        return get_array_module(a).log(a)

    def backward(self, gy):
        # d log(a)/da = 1/a
        return gy / self.a


class MatMul(Function):
    """a @ b for 2-D operands (batched operands via reshape outside)."""

    def forward(self, a, b):
        if a.ndim != 2 or b.ndim != 2:
            raise ValueError(f"matmul: expected two 2-D operands, got shapes {a.shape} and {b.shape}")
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        # dL/da = dL/dy b^T, dL/db = a^T dL/dy
        ga = gy @ self.b.T if self.needs_input_grad[0] else None
        gb = self.a.T @ gy if self.needs_input_grad[1] else None
        return ga, gb


def _normalize_axis(axis: Any, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axes)


class Sum(Function):
    def __init__(self, axis: Any = None, keepdims: bool = False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a):
        self.shape = a.shape
        self.axes = _normalize_axis(self.axis, a.ndim)
        return a.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        xp = get_array_module(gy)
        if not self.keepdims:
            gy = gy.reshape([1 if i in self.axes else n for i, n in enumerate(self.shape)])
        return xp.broadcast_to(gy, self.shape).copy()


class Max(Function):
    """Maximum over axes; positions that tie for the maximum share its gradient equally (as torch.amax)."""

    def __init__(self, axis: Any = None, keepdims: bool = False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a):
        self.a = a
        self.axes = _normalize_axis(self.axis, a.ndim)
        self.y = a.max(axis=self.axes, keepdims=True)
        return self.y if self.keepdims else self.y.reshape([n for i, n in enumerate(a.shape) if i not in self.axes])

    def backward(self, gy):
        gy = gy.reshape(self.y.shape)
        winners = self.a == self.y
        return winners * (gy / winners.sum(axis=self.axes, keepdims=True, dtype=gy.dtype))


class Reshape(Function):
    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, a):
        self.in_shape = a.shape
        return a.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.in_shape)


class Transpose(Function):
    def __init__(self, axes: tuple | None = None):
        self.axes = axes

    def forward(self, a):
        self.ndim = a.ndim
        return a.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        inverse = [0] * self.ndim
        for i, axis in enumerate(self.axes):
            inverse[axis % self.ndim] = i
        return gy.transpose(inverse)


class GetItem(Function):
    def __init__(self, index: Any):
        self.index = index

    def forward(self, a):
        self.shape, self.dtype = a.shape, a.dtype
        return a[self.index]

    def backward(self, gy):
        xp = get_array_module(gy)
        ga = xp.zeros(self.shape, dtype=gy.dtype)
        xp.add.at(ga, self.index, gy)  # adds up repeated indices (NumPy, and CuPy >= 13)
        return ga


def _like(value: Any, tensor: Tensor) -> Tensor:
    """`value` on the tensor's device. A number (Python's or a NumPy scalar) or a list takes the tensor's
    dtype if that is floating point, as in PyTorch (float32 * 0.5 stays float32, and int_tensor * 0.5 must
    not round to 0); an array keeps its own, so that `t + array` promotes as `t + Tensor(array)` does."""
    xp = get_array_module(tensor.data)
    if isinstance(value, np.ndarray) or backend.is_cupy_array(value):
        return Tensor(xp.asarray(value))
    return Tensor(xp.asarray(value, dtype=tensor.dtype if tensor.dtype.kind == "f" else None))


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Two tensors; a bare Python number takes the floating-point dtype of the tensor beside it."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        b = _like(b, a)
    elif isinstance(b, Tensor) and not isinstance(a, Tensor):
        a = _like(a, b)
    return as_tensor(a), as_tensor(b)


def add(a: Any, b: Any) -> Tensor:
    return Add()(*_pair(a, b))


def sub(a: Any, b: Any) -> Tensor:
    return Sub()(*_pair(a, b))


def mul(a: Any, b: Any) -> Tensor:
    return Mul()(*_pair(a, b))


def div(a: Any, b: Any) -> Tensor:
    return Div()(*_pair(a, b))


def neg(a: Any) -> Tensor:
    return Neg()(a)


def power(a: Any, exponent: float) -> Tensor:
    return Pow(exponent)(a)


def exp(a: Any) -> Tensor:
    return Exp()(a)


def log(a: Any) -> Tensor:
    return Log()(a)


def matmul(a: Any, b: Any) -> Tensor:
    return MatMul()(a, b)


def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001 - mirrors numpy
    return Sum(axis, keepdims)(a)


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    a = as_tensor(a)
    count = 1
    for i in _normalize_axis(axis, a.ndim):
        count *= a.shape[i]
    return div(sum(a, axis, keepdims), count)


def max(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001 - mirrors numpy
    return Max(axis, keepdims)(a)


def reshape(a: Any, *shape: Any) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape(shape)(a)


def transpose(a: Any, *axes: Any) -> Tensor:
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Transpose(axes or None)(a)


def flatten(a: Any) -> Tensor:
    """(N, ...) -> (N, prod(...)): the step from the last pooling layer to fc6."""
    a = as_tensor(a)
    features = 1
    for n in a.shape[1:]:
        features *= n
    return reshape(a, a.shape[0], features)  # not -1, which an empty batch (N = 0) leaves undetermined


Tensor.__add__ = lambda self, other: add(self, other)
Tensor.__radd__ = lambda self, other: add(other, self)
Tensor.__sub__ = lambda self, other: sub(self, other)
Tensor.__rsub__ = lambda self, other: sub(other, self)
Tensor.__mul__ = lambda self, other: mul(self, other)
Tensor.__rmul__ = lambda self, other: mul(other, self)
Tensor.__truediv__ = lambda self, other: div(self, other)
Tensor.__rtruediv__ = lambda self, other: div(other, self)
Tensor.__neg__ = lambda self: neg(self)
Tensor.__pow__ = lambda self, exponent: power(self, exponent)
Tensor.__matmul__ = lambda self, other: matmul(self, other)
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
Tensor.__getitem__ = lambda self, index: GetItem(index)(self)
Tensor.exp = lambda self: exp(self)
Tensor.log = lambda self: log(self)
Tensor.sum = lambda self, axis=None, keepdims=False: sum(self, axis, keepdims)
Tensor.mean = lambda self, axis=None, keepdims=False: mean(self, axis, keepdims)
Tensor.max = lambda self, axis=None, keepdims=False: max(self, axis, keepdims)
Tensor.reshape = lambda self, *shape: reshape(self, *shape)
Tensor.transpose = lambda self, *axes: transpose(self, *axes)
Tensor.T = property(lambda self: transpose(self))
