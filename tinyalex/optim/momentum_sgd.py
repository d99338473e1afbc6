"""Stochastic gradient descent with momentum and weight decay, as in the paper (Section 5)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tinyalex.backend import device_of, get_array_module, to_cpu, to_device
from tinyalex.layers import Parameter

DEFAULTS = {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005}


class MomentumSGD:
    """The paper's update, per parameter w with velocity v:

        v <- momentum * v - weight_decay * lr * w - lr * dL/dw
        w <- w + v

    The learning rate sits inside the velocity (some frameworks apply it after). `params` is
    a list of Parameters or of parameter groups, dicts {"params": [...], "lr": ..., ...} whose
    keys override the defaults (e.g. weight_decay 0 for biases). Updates run in place on the
    parameters' own device (NumPy or CuPy): the velocity buffers and one scratch buffer per
    parameter are allocated once, not each step.
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0005):
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay}
        params = list(params)
        if not params:
            raise ValueError("MomentumSGD: got no parameters to optimise")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        for group in groups:
            unknown = set(group) - set(DEFAULTS) - {"params"}
            if unknown:
                raise ValueError(f"MomentumSGD: unknown parameter-group keys {sorted(unknown)}; expected {sorted(DEFAULTS)}")
            group = {**defaults, **group, "params": list(group["params"])}
            for p in group["params"]:
                if not isinstance(p, Parameter):
                    raise TypeError(f"MomentumSGD: expected Parameters, got {type(p).__name__}")
            self.param_groups.append(group)
        self.velocities: dict[int, Any] = {}
        self._scratch: dict[int, Any] = {}

    @property
    def lr(self) -> float:
        """The first group's learning rate (all groups' rates are scaled together by schedules)."""
        return self.param_groups[0]["lr"]

    def parameters(self) -> list[Parameter]:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                w, g = p.data, p.grad
                v, tmp = self._buffers(p)
                xp = get_array_module(w)
                # v <- momentum * v - weight_decay * lr * w - lr * dL/dw ;  w <- w + v
                v *= w.dtype.type(momentum)
                xp.multiply(w, w.dtype.type(decay * lr), out=tmp)
                v -= tmp
                xp.multiply(g, w.dtype.type(lr), out=tmp)
                v -= tmp
                w += v

    def _buffers(self, p: Parameter) -> tuple[Any, Any]:
        """p's velocity (zeros at first) and scratch buffer, on p's device; allocated once."""
        device = device_of(p.data)
        v = self.velocities.get(id(p))
        if v is None:
            v = self.velocities[id(p)] = get_array_module(p.data).zeros_like(p.data)
        elif device_of(v) != device:  # the model was moved since the last step
            v = self.velocities[id(p)] = to_device(v, device)
        tmp = self._scratch.get(id(p))
        if tmp is None or device_of(tmp) != device:
            tmp = self._scratch[id(p)] = get_array_module(p.data).empty_like(p.data)
        return v, tmp

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters per group and the velocities as NumPy arrays, indexed by position."""
        params = self.parameters()
        return {
            "groups": [{k: v for k, v in group.items() if k != "params"} for group in self.param_groups],
            "velocities": {i: np.array(to_cpu(self.velocities[id(p)])) for i, p in enumerate(params) if id(p) in self.velocities},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore hyperparameters and velocities (onto each parameter's current device)."""
        if len(state["groups"]) != len(self.param_groups):
            raise ValueError(f"MomentumSGD.load_state_dict: {len(state['groups'])} groups saved, {len(self.param_groups)} here")
        for group, saved in zip(self.param_groups, state["groups"]):
            group.update(saved)
        params = self.parameters()
        self.velocities, self._scratch = {}, {}
        for i, v in state["velocities"].items():
            p = params[int(i)]
            if tuple(v.shape) != p.shape:
                raise ValueError(f"MomentumSGD.load_state_dict: velocity {i} has shape {tuple(v.shape)}, parameter {p.shape}")
            self.velocities[id(p)] = get_array_module(p.data).array(v, dtype=p.dtype)
