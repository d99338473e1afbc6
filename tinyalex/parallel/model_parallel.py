"""The paper's model parallelism (Section 3.2, Figure 2): AlexNet's two towers on two devices.

"The parallelization scheme that we employ essentially puts half of the kernels (or neurons)
on each GPU, with one additional trick: the GPUs communicate only in certain layers."
Tower t holds output block t of every conv and fc layer of the grouped model (`towers=2`), on
device t. conv1 reads the image and conv2, conv4, conv5 read only their own tower, so they run
without communication; conv3, fc6, fc7 and fc8 read both towers, so just before them the two
halves of the activations are gathered onto the first device (which also applies dropout,
drawing the same mask as the single-device model) and the whole is copied to the other.
Those four crossings, and collecting the logits at the end, are the only times data moves.

The towers are parameters of this Module; `state_dict` joins them back into the grouped
model's names and shapes, so checkpoints load into either layout.
"""
from __future__ import annotations

import copy
import itertools
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from tinyalex import backend
from tinyalex.engine.tensor import Function, Tensor, as_tensor
from tinyalex.engine.to_device import device_name, move, on_device, to_device
from tinyalex.layers import Conv2d, Dropout, Linear, LocalResponseNorm, Module, Parameter
from tinyalex.ops.validate import check_images

# What each tower runs between two crossings (Figure 2); a stage after the first reads both towers.
STAGES = (
    ("conv1", "act1", "norm1", "pool1", "conv2", "act2", "norm2", "pool2"),
    ("conv3", "act3", "conv4", "act4", "conv5", "act5", "pool5", "flatten"),
    ("fc6", "act6"),
    ("fc7", "act7"),
    ("fc8",),
)
# Applied once, on the first device, to the gathered activations that enter each stage.
SHARED = (None, None, None, "drop6", "drop7")


class Concat(Function):
    """Joins activations along the channel (or feature) axis 1; backward splits the gradient."""

    def forward(self, *xs):
        self.bounds = list(itertools.accumulate(x.shape[1] for x in xs))[:-1]
        return backend.get_array_module(xs[0]).concatenate(xs, axis=1)

    def backward(self, gy):
        return tuple(backend.get_array_module(gy).split(gy, self.bounds, axis=1))


class OnDevice(Function):
    """Runs `fn` on the first `n_inputs` arrays as one op whose forward and backward both run on `device`.

    CuPy launches kernels on the current device, so the second tower's work must run with its GPU
    current, in backward as much as in forward. The engine walks one graph with one current device;
    this op keeps `fn`'s small graph to itself and walks it under `device`. The parameters `fn`
    uses follow the inputs so that the op is recorded even when no input needs a gradient (conv1
    reads the image); they get their gradients through the inner graph, so backward returns None
    for them.
    """

    def __init__(self, fn: Callable[..., Tensor], device: str, n_inputs: int):
        self.fn, self.device, self.n_inputs = fn, device, n_inputs

    def forward(self, *arrays):
        with on_device(self.device):
            self.xs = [Tensor(a, requires_grad=need) for a, need in zip(arrays[: self.n_inputs], self.needs_input_grad)]
            self.y = self.fn(*self.xs)
        return self.y.data

    def backward(self, gy):
        with on_device(self.device):
            self.y.backward(gy)
        return tuple(x.grad for x in self.xs) + (None,) * (len(self.needs_input_grad) - self.n_inputs)


def _split_rows(layer: Conv2d | Linear, rows: slice, in_size: int) -> Conv2d | Linear:
    """A new layer holding output rows `rows` of `layer`'s weight and bias, reading `in_size` inputs."""
    out_size = rows.stop - rows.start
    if isinstance(layer, Conv2d):
        half = Conv2d(in_size, out_size, layer.kernel_size, layer.stride, layer.padding, bias=layer.bias is not None)
    else:
        half = Linear(in_size, out_size, bias=layer.bias is not None)
    half.weight = Parameter(np.array(backend.to_cpu(layer.weight.data[rows])), name="weight")
    if layer.bias is not None:
        half.bias = Parameter(np.array(backend.to_cpu(layer.bias.data[rows])), name="bias")
    return half


def _halves(n: int) -> tuple[slice, slice]:
    return slice(0, (n + 1) // 2), slice((n + 1) // 2, n)


class Tower(Module):
    """One tower: output block `t` of every conv and fc layer of a grouped AlexNet, plus its
    activations, per-tower normalisation and pooling (dropout is applied at the crossings)."""

    def __init__(self, model: Module, t: int):
        for name, layer in model.named_children():
            if isinstance(layer, Conv2d):
                reads = layer.in_channels // layer.groups  # conv2/4/5 read their own half; conv1/3 everything
                setattr(self, name, _split_rows(layer, _halves(layer.out_channels)[t], reads))
            elif isinstance(layer, Linear):
                setattr(self, name, _split_rows(layer, _halves(layer.out_features)[t], layer.in_features))
            elif isinstance(layer, LocalResponseNorm):  # the paper normalises within each GPU's kernel maps
                setattr(self, name, LocalResponseNorm(layer.size, layer.alpha, layer.beta, layer.k))
            elif not isinstance(layer, Dropout):
                setattr(self, name, layer)  # activations, pooling and flatten hold no state

    def stage(self, i: int) -> list[Module]:
        return [getattr(self, name) for name in STAGES[i] if hasattr(self, name)]


class TowerParallelAlexNet(Module):
    """AlexNet(towers=2) with tower t on `devices[t]`; the logits come out on `devices[0]`.

    Build it with `from_alexnet(model, devices)`. Its results equal the grouped model's (to
    float32 rounding) on any placement: (0, 1) is the paper's, (0, 0) and ('cpu', 'cpu') run the
    same code on one device. `place(devices)` moves the towers. Each tower normalises (LRN) over
    its own maps only, as each of the paper's GPUs did.
    """

    def __init__(self, model: Module, devices: Sequence[int | str] | None = None):
        names = [name for name, _ in model.named_children()]
        known = {name for stage in STAGES for name in stage} | {name for name in SHARED if name}
        unknown = [name for name in names if name not in known]
        if unknown or getattr(model, "config", {}).get("towers") != 2:
            raise ValueError(
                f"TowerParallelAlexNet: expected an AlexNet(towers=2), got {type(model).__name__} with "
                f"config {getattr(model, 'config', None)} and unknown layers {unknown}"
            )
        self.config = dict(model.config)
        self.input_scale = getattr(model, "input_scale", 1.0)
        self.towers = [Tower(model, 0), Tower(model, 1)]
        for name in SHARED:
            if name in names:  # a copy of the dropout layer (its seed and step): a model shares nothing with another
                setattr(self, name, copy.copy(getattr(model, name)))
        if devices is None:
            devices = (backend.device_of(model.conv1.weight.data),) * 2
        self.place(devices)

    @classmethod
    def from_alexnet(cls, model: Module, devices: Sequence[int | str] | None = None) -> "TowerParallelAlexNet":
        """The towers of `model` (an AlexNet(towers=2)) placed on `devices` (default: where `model` is)."""
        return cls(model, devices)

    def place(self, devices: Sequence[int | str]) -> "TowerParallelAlexNet":
        """Move tower t's parameters (and gradients) to `devices[t]`; returns self."""
        if len(devices) != 2:
            raise ValueError(f"TowerParallelAlexNet: expected two devices, one per tower, got {devices!r}")
        self.devices = tuple(device_name(d) for d in devices)
        for tower, device in zip(self.towers, self.devices):
            for p in tower.parameters():
                p.data = move(p.data, device)
                p.grad = None if p.grad is None else move(p.grad, device)
        return self

    def to(self, device: str) -> "TowerParallelAlexNet":
        """'cpu' or 'gpu:<id>' puts both towers there. 'gpu' keeps the towers already on a GPU where
        they are, so a trainer's `model.to("gpu")` keeps the placement, and moves the others to the current GPU."""
        if device == "gpu":
            return self.place([d if d.startswith("gpu") else "gpu" for d in self.devices])
        return self.place((device, device))

    def forward(self, x: Any) -> Tensor:
        """(N, 3, input_size, input_size) images (on any device) -> (N, num_classes) scores on `devices[0]`."""
        x = as_tensor(x)
        check_images("TowerParallelAlexNet", x.data, self.config["input_size"])  # as AlexNet.forward does first
        if self.input_scale != 1.0:
            x = x * self.input_scale
        xs = [to_device(x, device) for device in self.devices]  # the image goes to both towers
        for i, shared in enumerate(SHARED):
            if i > 0:  # this stage's first layer reads both towers
                xs = self._exchange(xs, getattr(self, shared, None) if shared else None)
            xs = [self._run(tower.stage(i), x, device) for tower, x, device in zip(self.towers, xs, self.devices)]
        return self._gather(xs)

    def _run(self, layers: list[Module], x: Tensor, device: str) -> Tensor:
        """One tower's layers, forward and backward, on its device."""
        def fn(h: Tensor) -> Tensor:
            for layer in layers:
                h = layer(h)
            return h

        params = [p for layer in layers for p in layer.parameters()]
        return OnDevice(fn, device, 1)(x, *params)

    def _gather(self, halves: list[Tensor], shared: Module | None = None) -> Tensor:
        """Both towers' activations joined on the first device, then `shared` (dropout) applied there."""
        def fn(*hs: Tensor) -> Tensor:
            h = Concat()(*hs)
            return shared(h) if shared is not None else h

        primary = self.devices[0]
        return OnDevice(fn, primary, len(halves))(*[to_device(h, primary) for h in halves])

    def _exchange(self, halves: list[Tensor], shared: Module | None) -> list[Tensor]:
        """The crossing before a layer that reads both towers: each device gets the whole activation."""
        whole = self._gather(halves, shared)
        return [to_device(whole, device) for device in self.devices]

    # --- checkpoints in the grouped model's layout --------------------------------------------
    def _pairs(self) -> Iterator[tuple[str, Parameter, Parameter]]:
        second = dict(self.towers[1].named_parameters())
        for name, p in self.towers[0].named_parameters():
            yield name, p, second[name]

    def state_dict(self) -> dict[str, np.ndarray]:
        """The grouped AlexNet's state: each layer's two halves joined along the output axis, on the host."""
        return {name: np.concatenate([backend.to_cpu(a.data), backend.to_cpu(b.data)]) for name, a, b in self._pairs()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a grouped AlexNet's state (names and shapes as its `state_dict`), each half onto its tower's device."""
        expected = {name: (a.shape[0] + b.shape[0], *a.shape[1:]) for name, a, b in self._pairs()}
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        wrong = [f"{name}: expected {shape}, got {tuple(state[name].shape)}"
                 for name, shape in expected.items() if name in state and tuple(state[name].shape) != shape]
        if missing or unexpected or wrong:
            raise ValueError(
                f"load_state_dict into TowerParallelAlexNet: missing {missing}, unexpected {unexpected}, "
                f"wrong shapes {wrong}"
            )
        for name, a, b in self._pairs():
            values = np.asarray(backend.to_cpu(state[name]))
            for p, rows, device in zip((a, b), _halves(expected[name][0]), self.devices):
                p.data = move(np.array(values[rows], dtype=p.dtype), device)
