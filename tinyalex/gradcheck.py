"""Gradient checking: compare backward() against central differences, in float64.

The check contracts the output with a random upstream gradient `gy`, so that every
element of the output's Jacobian takes part (a constant gy would hide errors that
cancel when summed), then compares, for every input element,

    analytic:  d(sum(f(x) * gy))/dx       from backward()
    numeric:   (sum(f(x + eps) * gy) - sum(f(x - eps) * gy)) / (2 eps)
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tinyalex.backend import get_array_module
from tinyalex.engine.tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with the numeric one; `max_relative_error` says by how much."""

    def __init__(self, message: str, max_relative_error: float = float("nan")):
        super().__init__(message)
        self.max_relative_error = max_relative_error


def _float64(x: Any) -> Any:
    data = x.data if isinstance(x, Tensor) else x
    xp = get_array_module(data)
    return xp.array(data, dtype=xp.float64)


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    params: Sequence[Tensor] | Mapping[str, Tensor] = (),
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    seed: int = 0,
) -> float:
    """Check fn's gradients with respect to `inputs` (and the Tensors in `params`).

    `params` may be a dict such as ``dict(model.named_parameters())``, whose keys then
    name the parameters in errors.

    `fn(*tensors)` must return one Tensor; it runs on float64 copies of the inputs
    (params are switched to float64 for the check and restored afterwards). An element
    fails when |analytic - numeric| > atol + rtol * |numeric|. Returns the largest
    relative error |a - n| / max(|a|, |n|, atol) over all elements; raises
    GradcheckError naming the input and its worst element when any element fails.
    """
    arrays = [_float64(x) for x in inputs]
    if isinstance(params, Mapping):
        param_names, params = list(params), list(params.values())
    else:
        param_names = [p.name or f"param {i}" for i, p in enumerate(params)]
    saved = [p.data for p in params]
    for p in params:
        p.data, p.grad = _float64(p), None
    targets = arrays + [p.data for p in params]
    names = [f"input {i}" for i in range(len(arrays))] + param_names
    try:
        tensors = [Tensor(a, requires_grad=True) for a in arrays]
        y = fn(*tensors)
        xp = get_array_module(y.data)
        rng = np.random.default_rng(seed)
        gy = xp.asarray(rng.standard_normal(y.shape))
        y.backward(gy)
        analytic = [t.grad for t in tensors] + [p.grad for p in params]

        def objective() -> float:
            with no_grad():  # params require grad: without this every probe would build a graph
                return float((fn(*[Tensor(a) for a in arrays]).data * gy).sum())

        worst = 0.0
        for name, target, grad in zip(names, targets, analytic):
            if grad is None:
                grad = xp.zeros_like(target)
            numeric = xp.zeros_like(target)
            flat, flat_numeric = target.reshape(-1), numeric.reshape(-1)
            for i in range(flat.size):
                original = float(flat[i])
                flat[i] = original + eps
                up = objective()
                flat[i] = original - eps
                down = objective()
                flat[i] = original
                flat_numeric[i] = (up - down) / (2 * eps)
            diff = xp.abs(grad - numeric)
            relative = diff / xp.maximum(xp.maximum(xp.abs(grad), xp.abs(numeric)), atol)
            worst = max(worst, float(relative.max()) if relative.size else 0.0)
            excess = diff - (atol + rtol * xp.abs(numeric))
            if excess.size and float(excess.max()) > 0:
                k = int(excess.argmax())
                index = tuple(int(i) for i in np.unravel_index(k, target.shape))
                raise GradcheckError(
                    f"gradient of {name} (shape {tuple(target.shape)}) is wrong at {index}: "
                    f"analytic {float(grad.reshape(-1)[k]):.6g}, numeric {float(numeric.reshape(-1)[k]):.6g} "
                    f"(atol {atol}, rtol {rtol})",
                    worst,
                )
        return worst
    finally:
        for p, data in zip(params, saved):
            p.data, p.grad = data, None
