"""The gradient checks that `tinyalex gradcheck` runs: every op and layer on small random inputs.

The inputs are chosen so that a wrong backward cannot pass: odd, non-square sizes,
stride > 1, padding and two groups for convolution; distinct values for max pooling
(a tie would make the numeric derivative meaningless); a fixed dropout mask; values
away from ReLU's kink; and an LRN alpha large enough that a window off by one channel
changes the gradient (under the paper's alpha = 1e-4 it would hide in the rounding).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinyalex import functional as F
from tinyalex import layers as nn
from tinyalex.backend import to_device
from tinyalex.gradcheck import gradcheck


@dataclass
class Check:
    """One gradient check: `fn(*inputs)` (and the parameters of `module`, if any)."""

    name: str
    shapes: str
    fn: Callable
    inputs: list
    module: nn.Module | None = None

    def run(self, device: str = "cpu", directional: bool = False) -> float:
        """Gradient-check on `device`, element by element or along one random direction;
        returns the max relative error or raises GradcheckError."""
        inputs = [to_device(x, device) for x in self.inputs]
        params = {}
        if self.module is not None:
            params = dict(self.module.to(device).named_parameters())
        return gradcheck(self.fn, inputs, params=params, directional=directional)


def _describe(arrays: dict, options: str = "") -> str:
    """'x 2x3x5x5, w 4x3x3x3; stride 2' for the table."""
    text = ", ".join(f"{name} {'x'.join(map(str, a.shape)) or 'scalar'}" for name, a in arrays.items())
    return f"{text}; {options}" if options else text


def distinct(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Values in random order, 0.1 apart and none near 0: max pooling meets no tie, ReLU no kink."""
    n = int(np.prod(shape))
    return (rng.permutation(n) - n // 2 + 0.25).reshape(shape) * 0.1


def _op(name: str, fn: Callable, arrays: dict, options: str = "") -> Check:
    return Check(name, _describe(arrays, options), fn, list(arrays.values()))


def _layer(module: nn.Module, x: np.ndarray, fn: Callable | None = None, name: str | None = None) -> Check:
    """Check a layer's input and parameters; the shapes column lists both."""
    arrays = {"x": x, **{name: p.data for name, p in module.named_parameters()}}
    name = name or f"nn.{type(module).__name__}"
    return Check(name, _describe(arrays, module.extra_repr()), fn or module, [x], module)


def _conv(rng, x_shape, w_shape, stride=1, padding=0, groups=1, algorithm="auto") -> Check:
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    return _op(
        "conv2d",
        lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups, algorithm=algorithm),
        {"x": x, "w": w, "b": b},
        f"stride {stride}, padding {padding}, groups {groups}" + (f", {algorithm}" if algorithm != "auto" else ""),
    )


def _lrn(rng, shape, size, alpha=0.5, beta=0.75, k=2.0) -> Check:
    return _op(
        "local_response_norm",
        lambda x: F.local_response_norm(x, size, alpha, beta, k),
        {"x": rng.standard_normal(shape)},
        f"size {size}, alpha {alpha}, beta {beta}, k {k}",
    )


def _pool(rng, shape, kernel, stride=None, padding=0) -> Check:
    return _op(
        "max_pool2d",
        lambda x: F.max_pool2d(x, kernel, stride, padding),
        {"x": distinct(rng, *shape)},
        f"kernel {kernel}, stride {stride}, padding {padding}",
    )


def _fixed_mask_dropout(layer: nn.Dropout) -> Callable:
    """The layer with its step counter rewound on every call, so each call draws the same mask."""

    def fn(x):
        layer.step = 0
        return layer(x)

    return fn


def _stack(rng: np.random.Generator) -> Check:
    """conv - ReLU - LRN - pool - conv (two towers) - flatten - linear - softmax cross-entropy."""
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, weight_std=0.5, bias_init=0.1, rng=rng),
        nn.ReLU(),
        nn.LocalResponseNorm(3, alpha=0.5),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(4, 4, (2, 1), groups=2, weight_std=0.5, rng=rng),
        nn.Flatten(),
        nn.Linear(8, 3, weight_std=0.5, rng=rng),
    )
    labels = np.array([2, 0])
    x = rng.standard_normal((2, 2, 5, 6))
    arrays = {"x": x, **{name: p.data for name, p in model.named_parameters()}}
    return Check(
        "conv-LRN-pool-linear-loss", _describe(arrays), lambda x: F.softmax_cross_entropy(model(x), labels), [x], model
    )


def all_checks(seed: int = 0) -> list[Check]:
    """Every op, tensor operation and layer, on float64 inputs drawn from `seed`."""
    rng = np.random.default_rng(seed)
    r = rng.standard_normal
    labels = np.array([1, 0, 3])
    dropout = nn.Dropout(0.3, seed=seed)
    return [
        _conv(rng, (2, 3, 5, 5), (4, 3, 3, 3)),
        _conv(rng, (1, 4, 7, 6), (6, 2, 3, 2), stride=2, padding=1, groups=2),
        _conv(rng, (2, 2, 6, 5), (3, 2, 2, 3), stride=(2, 1), padding=(0, 2)),
        _conv(rng, (2, 4, 5, 6), (6, 2, 3, 3), padding=1, groups=2, algorithm="winograd"),
        _op("relu", F.relu, {"x": distinct(rng, 3, 4)}),
        _op("tanh", F.tanh, {"x": r((3, 4))}),
        _lrn(rng, (2, 7, 2, 3), 5),
        _lrn(rng, (1, 6, 3, 2), 4, beta=0.6, k=1.0),
        _pool(rng, (2, 2, 7, 7), 3, 2),
        _pool(rng, (1, 3, 5, 4), (2, 3), (1, 2), 1),
        _op("dropout", lambda x: F.dropout(x, 0.5, True, seed=0), {"x": r((4, 5))}, "p 0.5"),
        _op("linear", F.linear, {"x": r((3, 5)), "w": r((4, 5)), "b": r(4)}),
        _op("flatten", F.flatten, {"x": r((2, 3, 2, 2))}),
        _op("softmax_cross_entropy", lambda z: F.softmax_cross_entropy(z, labels), {"z": r((3, 5)) * 3}),
        _op("log_softmax", F.log_softmax, {"z": r((3, 5))}),
        _op("softmax", F.softmax, {"z": r((3, 5))}),
        _op("a + b", lambda a, b: a + b, {"a": r((2, 3, 4)), "b": r((3, 1))}, "broadcast"),
        _op("a - b", lambda a, b: a - b, {"a": r((3, 1)), "b": r((2, 1, 4))}, "broadcast"),
        _op("a * b", lambda a, b: a * b, {"a": r((2, 3)), "b": r(3)}, "broadcast"),
        _op("a / b", lambda a, b: a / b, {"a": r((2, 3)), "b": r((2, 1)) + 3}, "broadcast"),
        _op("-a", lambda a: -a, {"a": r((2, 3))}),
        _op("a ** 3", lambda a: a**3, {"a": r((2, 3))}),
        _op("a @ b", lambda a, b: a @ b, {"a": r((2, 3)), "b": r((3, 4))}),
        _op("exp", F.exp, {"a": r((2, 3))}),
        _op("log", F.log, {"a": r((2, 3)) ** 2 + 0.5}),
        _op("sum", lambda a: F.sum(a, axis=(0, 2)), {"a": r((2, 3, 4))}, "axis (0, 2)"),
        _op("mean", lambda a: F.mean(a, axis=1, keepdims=True), {"a": r((2, 3, 4))}, "axis 1, keepdims"),
        _op("max", lambda a: F.max(a, axis=1), {"a": distinct(rng, 3, 4)}, "axis 1"),
        _op("reshape", lambda a: F.reshape(a, (4, 3)), {"a": r((2, 6))}),
        _op("transpose", lambda a: F.transpose(a, (2, 0, 1)), {"a": r((2, 3, 4))}, "axes (2, 0, 1)"),
        _op("a[index]", lambda a: a[1:, [0, 2, 0]], {"a": r((3, 4))}, "[1:, [0, 2, 0]]"),
        _layer(nn.Conv2d(4, 6, (3, 2), 2, 1, groups=2, weight_std=0.5, bias_init=0.1, rng=rng), r((1, 4, 5, 7))),
        _layer(nn.Linear(5, 3, weight_std=0.5, bias_init=0.1, rng=rng), r((2, 5))),
        _layer(nn.ReLU(), distinct(rng, 2, 3)),
        _layer(nn.Tanh(), r((2, 3))),
        _layer(nn.LocalResponseNorm(5, alpha=0.5), r((2, 5, 2, 2))),
        _layer(nn.MaxPool2d(3, 2), distinct(rng, 1, 2, 5, 5)),
        _layer(dropout, r((3, 4)), _fixed_mask_dropout(dropout)),
        _layer(nn.Flatten(), r((2, 2, 1, 3))),
        _layer(nn.Scale(0.595), r((2, 3, 2, 2))),  # LRN's gain control in the ablations
        _stack(rng),
    ]


def paper_checks(seed: int = 0) -> list[Check]:
    """AlexNet's layers at the paper's sizes, one image each (conv1 to pool5 of Figure 2, both towers).

    Element by element these would take millions of evaluations; `tinyalex gradcheck --directional`
    checks them along one random direction each, which catches an index that only goes wrong at
    full size (96 channels in LRN's window, conv2's two groups of 48). LRN uses alpha 0.5 for the
    reason given above. Pooling's distinct inputs are 0.001 apart: with values in the thousands, the
    sums the check subtracts would lose in float64 rounding the small change it measures. fc6 and
    fc7 (37.7 and 16.8 million weights, hundreds of MiB in float64) are left out: they are plain
    matrix products, checked at small size.
    """
    rng = np.random.default_rng(seed)
    r = rng.standard_normal

    def conv(cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, groups: int = 1) -> nn.Conv2d:
        return nn.Conv2d(cin, cout, k, stride, padding, groups, weight_std=0.05, bias_init=0.1, rng=rng)

    return [
        _layer(conv(3, 96, 11, 4, 2), r((1, 3, 224, 224)), name="alexnet.conv1"),
        _layer(nn.LocalResponseNorm(5, alpha=0.5, groups=2), r((1, 96, 55, 55)), name="alexnet.norm1"),
        _layer(nn.MaxPool2d(3, 2), distinct(rng, 1, 96, 55, 55) / 100, name="alexnet.pool1"),
        _layer(conv(96, 256, 5, padding=2, groups=2), r((1, 96, 27, 27)), name="alexnet.conv2"),
        _layer(nn.LocalResponseNorm(5, alpha=0.5, groups=2), r((1, 256, 27, 27)), name="alexnet.norm2"),
        _layer(nn.MaxPool2d(3, 2), distinct(rng, 1, 256, 27, 27) / 100, name="alexnet.pool2"),
        _layer(conv(256, 384, 3, padding=1), r((1, 256, 13, 13)), name="alexnet.conv3"),
        _layer(conv(384, 384, 3, padding=1, groups=2), r((1, 384, 13, 13)), name="alexnet.conv4"),
        _layer(conv(384, 256, 3, padding=1, groups=2), r((1, 384, 13, 13)), name="alexnet.conv5"),
        _layer(nn.MaxPool2d(3, 2), distinct(rng, 1, 256, 13, 13) / 100, name="alexnet.pool5"),
        _layer(nn.Linear(4096, 1000, weight_std=0.01, rng=rng), r((1, 4096)), name="alexnet.fc8"),
    ]
