"""Module and Parameter: layers that hold parameters, switch train/eval, save and move."""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from tinyalex import backend
from tinyalex.engine.tensor import Tensor
from tinyalex.ops.validate import ShapeError


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimiser updates, in place: like any Tensor it wraps its
    array without copying it (as torch.from_numpy does), so two Parameters made from one array are one."""

    def __init__(self, data: Any, name: str | None = None):
        super().__init__(data, requires_grad=True, name=name)


class Module:
    """A layer or a network of layers.

    Parameters and sub-modules are found by walking the attributes (lists and tuples
    of modules too) in the order they were assigned, which fixes the names used by
    `named_parameters()` and `state_dict()`.
    """

    training = True

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError

    def __call__(self, *args: Any) -> Any:
        try:
            return self.forward(*args)
        except ShapeError as error:
            if getattr(error, "named", False):
                raise
            named = ShapeError(f"{self!r}: {error}")
            named.named = True
            raise named from None

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    # --- walking the tree -------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter once, under the first name that reaches it: a tied (shared) parameter
        is listed, saved and updated once, however many layers use it."""
        seen = set()
        for name, p in self._all_parameters(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _all_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child._all_parameters(f"{prefix}{name}.")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def modules(self) -> Iterator["Module"]:
        """This module and every sub-module, each once (a shared sub-module too)."""
        seen = set()
        stack = [self]
        while stack:
            module = stack.pop()
            if id(module) not in seen:
                seen.add(id(module))
                yield module
                stack.extend(reversed([child for _, child in module.named_children()]))

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # --- modes, gradients, devices --------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (the next backward starts them afresh)."""
        for p in self.parameters():
            p.zero_grad()

    def to(self, device: str) -> "Module":
        """Move every parameter to 'cpu', 'gpu' or 'gpu:<id>' in place; returns self."""
        for p in self.parameters():
            p.data = backend.to_device(p.data, device)
            p.grad = None if p.grad is None else backend.to_device(p.grad, device)
        return self

    # --- saving ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameter name -> a NumPy copy of its values (device-independent)."""
        return {name: np.array(backend.to_cpu(p.data)) for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy values in by name onto the parameters' current device; names and shapes must match."""
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        wrong = [
            f"{name}: expected {params[name].shape}, got {tuple(state[name].shape)}"
            for name in params
            if name in state and tuple(state[name].shape) != params[name].shape
        ]
        if missing or unexpected or wrong:
            raise ValueError(
                f"load_state_dict into {type(self).__name__}: missing {missing}, unexpected {unexpected}, "
                f"wrong shapes {wrong}"
            )
        for name, p in params.items():
            xp = backend.get_array_module(p.data)
            with backend.device_scope(p.data):
                p.data = xp.array(backend.to_cpu(state[name]), dtype=p.dtype)
