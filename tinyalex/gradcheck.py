"""Gradient checking: compare backward() against central differences, in float64.

The check contracts the output with a random upstream gradient `gy`, so that every
element of the output's Jacobian takes part (a constant gy would hide errors that
cancel when summed), then compares, for every input element,

    analytic:  d(sum(f(x) * gy))/dx       from backward()
    numeric:   (sum(f(x + eps) * gy) - sum(f(x - eps) * gy)) / (2 eps)

That costs two evaluations per element. The directional mode (as Chainer's `check_backward`)
costs two in all, whatever the size: along one random direction d over all inputs (each
element drawn from N(0, 1), so every element moves by about eps, as in the element-wise check),

    analytic:  sum_x <d(sum(f * gy))/dx, d_x>
    numeric:   (sum(f(x + eps d) * gy) - sum(f(x - eps d) * gy)) / (2 eps)

A wrong gradient makes them differ unless its error happens to be orthogonal to d, which a
random direction makes vanishingly unlikely; it cannot say which element is wrong.

Both modes first evaluate f once more at x itself: a random f (unseeded dropout) would
otherwise read as a wrong gradient.
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
    """A float64 copy in the same memory layout (a transposed input stays transposed)."""
    data = x.data if isinstance(x, Tensor) else x
    xp = get_array_module(data)
    return xp.array(data, dtype=xp.float64)


def _prepared(x: Any) -> tuple[Any, bool]:
    """An input as the check uses it, and whether it is checked: a floating-point one as a float64 copy;
    an integer or bool one (labels, indices) unchanged, as a constant with no gradient."""
    data = x.data if isinstance(x, Tensor) else x
    kind = getattr(data, "dtype", np.asarray(data).dtype).kind
    if kind == "c":
        raise TypeError("gradcheck: complex inputs are not supported; pass the real and imaginary parts as two inputs")
    if kind in "iub":
        return data if hasattr(data, "dtype") else np.asarray(data), False
    return _float64(x), True


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    params: Sequence[Tensor] | Mapping[str, Tensor] = (),
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    seed: int = 0,
    directional: bool = False,
) -> float:
    """Check fn's gradients with respect to `inputs` (and the Tensors in `params`).

    `params` may be a dict such as ``dict(model.named_parameters())``, whose keys then
    name the parameters in errors.

    `fn(*tensors)` must return one Tensor and be deterministic (seed any dropout, or use eval
    mode); it runs on float64 copies of the floating-point inputs, in their own memory layout
    (params are switched to float64 for the check, and their data and .grad restored afterwards).
    Integer and bool inputs (labels) are passed unchanged, as constants. A Parameter that fn
    uses but `params` does not list gets the check's gradient added to its .grad.
    Each element is checked unless `directional` is set, which checks one random direction
    (see the module docstring). A value fails when |analytic - numeric| > atol + rtol * |numeric|.
    Returns the largest relative error |a - n| / max(|a|, |n|, atol); raises GradcheckError,
    naming the input and its worst element (or the direction's seed), when a value fails.
    """
    prepared = [_prepared(x) for x in inputs]
    arrays = [a for a, _ in prepared]
    if isinstance(params, Mapping):
        param_names, params = list(params), list(params.values())
    else:
        param_names = [p.name or f"param {i}" for i, p in enumerate(params)]
    checked = [i for i, (_, is_checked) in enumerate(prepared) if is_checked]
    if not checked and not params:
        raise ValueError("gradcheck: nothing to check: no floating-point input and no params")
    saved = [(p.data, p.grad) for p in params]
    for p in params:
        p.data, p.grad = _float64(p), None
    targets = [arrays[i] for i in checked] + [p.data for p in params]
    names = [f"input {i}" for i in checked] + param_names
    try:
        tensors = [Tensor(a, requires_grad=is_checked) for a, is_checked in prepared]
        y = fn(*tensors)
        if not isinstance(y, Tensor):
            raise TypeError(f"gradcheck: fn must return one Tensor, got {type(y).__name__}")
        xp = get_array_module(y.data)
        rng = np.random.default_rng(seed)
        gy = xp.asarray(rng.standard_normal(y.shape))
        y.backward(gy)
        analytic = [tensors[i].grad for i in checked] + [p.grad for p in params]
        analytic = [xp.zeros_like(t) if g is None else g for t, g in zip(targets, analytic)]

        def objective() -> float:
            with no_grad():  # params require grad: without this every probe would build a graph
                return float((fn(*[Tensor(a) for a in arrays]).data * gy).sum())

        first, again = float((y.data * gy).sum()), objective()
        if abs(first - again) > 1e-12 * max(1.0, abs(first)):  # one more evaluation, at the same point
            raise GradcheckError(f"gradcheck: fn is not deterministic: two evaluations at the same point gave "
                                 f"{first!r} and {again!r}; seed its dropout, or put the model in eval mode")
        if directional:
            return _check_direction(objective, names, targets, analytic, rng, seed, eps, atol, rtol)
        return _check_elements(objective, names, targets, analytic, eps, atol, rtol)
    finally:
        for p, (data, grad) in zip(params, saved):
            p.data, p.grad = data, grad


def _check_elements(objective: Callable[[], float], names: list[str], targets: list, analytic: list,
                    eps: float, atol: float, rtol: float) -> float:
    """Central differences element by element, perturbing each target in place (any memory layout)."""
    worst = 0.0
    for name, target, grad in zip(names, targets, analytic):
        xp = get_array_module(target)
        numeric = xp.zeros_like(target)
        for index in np.ndindex(*target.shape):
            original = float(target[index])
            target[index] = original + eps
            up = objective()
            target[index] = original - eps
            down = objective()
            target[index] = original
            numeric[index] = (up - down) / (2 * eps)
        diff = xp.abs(grad - numeric)
        relative = diff / xp.maximum(xp.maximum(xp.abs(grad), xp.abs(numeric)), atol)
        worst = max(worst, float(relative.max()) if relative.size else 0.0)
        excess = diff - (atol + rtol * xp.abs(numeric))
        if excess.size and float(excess.max()) > 0:
            index = tuple(int(i) for i in np.unravel_index(int(excess.argmax()), target.shape))
            raise GradcheckError(
                f"gradient of {name} (shape {tuple(target.shape)}) is wrong at {index}: "
                f"analytic {float(grad[index]):.6g}, numeric {float(numeric[index]):.6g} (atol {atol}, rtol {rtol})",
                worst,
            )
    return worst


def _check_direction(objective: Callable[[], float], names: list[str], targets: list, analytic: list,
                     rng: np.random.Generator, seed: int, eps: float, atol: float, rtol: float) -> float:
    """One random direction over all targets: the analytic directional derivative against two evaluations."""
    xp = get_array_module(targets[0]) if targets else np
    directions = [xp.asarray(rng.standard_normal(t.shape)) for t in targets]
    along = sum(float((g * d).sum()) for g, d in zip(analytic, directions))
    originals = [t.copy() for t in targets]
    for target, d in zip(targets, directions):
        target += eps * d
    up = objective()
    for target, original, d in zip(targets, originals, directions):
        target[...] = original - eps * d
    down = objective()
    for target, original in zip(targets, originals):
        target[...] = original
    numeric = (up - down) / (2 * eps)
    relative = abs(along - numeric) / max(abs(along), abs(numeric), atol)
    if abs(along - numeric) > atol + rtol * abs(numeric):
        shapes = ", ".join(f"{name} {tuple(t.shape)}" for name, t in zip(names, targets))
        raise GradcheckError(
            f"directional derivative along a random direction (seed {seed}) is wrong: analytic {along:.6g}, "
            f"numeric {numeric:.6g} (atol {atol}, rtol {rtol}) for {shapes}; check element by element (without "
            "directional) on smaller inputs to find which gradient is wrong",
            relative,
        )
    return relative
