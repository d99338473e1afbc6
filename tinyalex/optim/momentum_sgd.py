"""Stochastic gradient descent with momentum and weight decay, as in the paper (Section 5)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tinyalex.backend import device_of, device_scope, get_array_module, to_cpu, to_device
from tinyalex.layers import Parameter
from tinyalex.ops import cuda, threads, workspace

DEFAULTS = {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005}
PIECE_BYTES = 2**20  # of a parameter at a time (the paper's net: 256 KiB pieces took 132 ms a step, 1 MiB 59 ms)

# The GPU's update: one thread per weight, one pass over w, v and g instead of the CPU's five
UPDATE_KERNEL = r"""
extern "C" __global__ void momentum_sgd(long long n, T* w, T* v, const T* g, T lr, T momentum, T decay_lr)
{
    for (long long i = FIRST_INDEX; i < n; i += INDEX_STRIDE) {
        // v <- momentum * v - weight_decay * lr * w - lr * dL/dw ;  w <- w + v
        T velocity = momentum * v[i];
        velocity -= decay_lr * w[i];
        velocity -= lr * g[i];
        v[i] = velocity;
        w[i] += velocity;
    }
}
"""


def _check_hyperparameters(group: dict) -> None:
    """lr and weight_decay finite and at least 0, momentum in [0, 1): anything else diverges or does nothing."""
    lr, momentum, decay = (float(group[key]) for key in ("lr", "momentum", "weight_decay"))
    if not (np.isfinite(lr) and lr >= 0):
        raise ValueError(f"MomentumSGD: lr must be a finite number >= 0, got {group['lr']!r}")
    if not 0 <= momentum < 1:
        raise ValueError(f"MomentumSGD: momentum must be in [0, 1), got {group['momentum']!r}")
    if not (np.isfinite(decay) and decay >= 0):
        raise ValueError(f"MomentumSGD: weight_decay must be a finite number >= 0, got {group['weight_decay']!r}")


class MomentumSGD:
    """The paper's update, per parameter w with velocity v:

        v <- momentum * v - weight_decay * lr * w - lr * dL/dw
        w <- w + v

    The learning rate sits inside the velocity (some frameworks apply it after). `params` is
    a list of Parameters or of parameter groups, dicts {"params": [...], "lr": ..., ...} whose
    keys override the defaults (e.g. weight_decay 0 for biases). Updates run in place on the
    parameters' own device (NumPy or CuPy): the velocity buffers are allocated once, not each
    step, and the scratch space is one cache-sized piece per thread.
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
            _check_hyperparameters(group)
            for p in group["params"]:
                if not isinstance(p, Parameter):
                    raise TypeError(f"MomentumSGD: expected Parameters, got {type(p).__name__}")
            self.param_groups.append(group)
        listed = [id(p) for p in self.parameters()]
        if len(set(listed)) != len(listed):
            raise ValueError("MomentumSGD: a parameter is listed more than once, so each step would update it "
                             "that many times; list each once (Module.parameters() lists a tied one once)")
        self.velocities: dict[int, Any] = {}

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
        """Update every parameter that has a gradient.

        Each parameter is updated in pieces of about 1 MiB, so that the four passes over a
        piece stay in the CPU cache instead of going to memory four times; the pieces of all the
        parameters spread over the op threads (tinyalex/ops/threads.py). On the GPU each
        parameter is one piece, updated by one CUDA kernel (UPDATE_KERNEL).
        """
        pieces = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    w, v, g = p.data, self._velocity(p), p.grad
                    if w.flags.c_contiguous and v.flags.c_contiguous:
                        w, v, g = w.reshape(-1), v.reshape(-1), g.reshape(-1)
                        parts = workspace.chunks(w.size, w.itemsize, w, PIECE_BYTES)
                    else:
                        parts = [Ellipsis]
                    pieces += [(group, w, v, g, part) for part in parts]
        nbytes = sum(w[part].nbytes for _, w, _, _, part in pieces)
        threads.run_parts(self._update, pieces, pieces[0][1] if pieces else None, nbytes)

    @staticmethod
    def _update(piece: tuple) -> None:
        """The paper's rule on one piece of one parameter, in place."""
        group, w, v, g, part = piece
        w, v, g = w[part], v[part], g[part]
        lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
        xp = get_array_module(w)
        with device_scope(w):  # CuPy allocates on the current GPU: make it w's (a second tower's, say)
            if cuda.runs_kernels(xp) and w.flags.c_contiguous and v.flags.c_contiguous:
                g = xp.ascontiguousarray(g, dtype=w.dtype)
                cuda.launch(UPDATE_KERNEL, "momentum_sgd", w.dtype, w.size, w, v, g, lr, momentum,
                            w.dtype.type(decay * lr))
                return
            tmp = workspace.take(w.shape, w.dtype, w)
            # v <- momentum * v - weight_decay * lr * w - lr * dL/dw ;  w <- w + v
            v *= w.dtype.type(momentum)
            xp.multiply(w, w.dtype.type(decay * lr), out=tmp)
            v -= tmp
            xp.multiply(g, w.dtype.type(lr), out=tmp)
            v -= tmp
            w += v
            workspace.give_back(tmp)

    def _velocity(self, p: Parameter) -> Any:
        """p's velocity (zeros at first), on p's device; allocated once."""
        device = device_of(p.data)
        v = self.velocities.get(id(p))
        if v is None:
            with device_scope(p.data):  # zeros_like allocates on the current GPU, not on p's
                v = self.velocities[id(p)] = get_array_module(p.data).zeros_like(p.data)
        elif device_of(v) != device:  # the model was moved since the last step
            v = self.velocities[id(p)] = to_device(v, device)
        return v

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
        self.velocities = {}
        for i, v in state["velocities"].items():
            p = params[int(i)]
            if tuple(v.shape) != p.shape:
                raise ValueError(f"MomentumSGD.load_state_dict: velocity {i} has shape {tuple(v.shape)}, parameter {p.shape}")
            with device_scope(p.data):
                self.velocities[id(p)] = get_array_module(p.data).array(v, dtype=p.dtype)
