"""What is timed, for tinyalex and for PyTorch: the training step, inference, and each layer alone.

A training step is forward, softmax cross-entropy, backward and the momentum SGD update
(paper's lr 0.01, momentum 0.9, weight decay 5e-4) on random float32 images of the net's input
size, dropout on; inference is the forward in eval mode, logits copied to the host. Each layer
is timed on its real input (the previous layer's output), forward and backward apart; as in a
training step, conv1's input needs no gradient. Each framework runs in its own process (child.py).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tinyalex import backend
from tinyalex.bench.timing import Job
from tinyalex.engine.tensor import Tensor, no_grad
from tinyalex.ops.softmax_cross_entropy import softmax_cross_entropy
from tinyalex.optim.momentum_sgd import MomentumSGD

LR, MOMENTUM, WEIGHT_DECAY = 0.01, 0.9, 5e-4


def random_batch(batch: int, image_size: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images from N(0, 1) as float32 NCHW and labels in [0, classes)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, image_size, image_size), dtype=np.float32)
    return x, rng.integers(0, classes, batch)


class TinyalexRuns:
    """Jobs for a tinyalex model on 'cpu' or 'gpu'."""

    def __init__(self, model: Any, batch: int, device: str):
        self.model = model.to(device).train()
        x, labels = random_batch(batch, model.config["input_size"], model.config["num_classes"])
        self.x, self.labels = backend.to_device(x, device), backend.to_device(labels, device)
        self.xp = backend.get_array_module(self.x)
        self.optimizer = MomentumSGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    def sync(self) -> None:
        if self.xp is not np:
            self.xp.cuda.get_current_stream().synchronize()

    def gpu_peak_mib(self) -> float:
        """What CuPy's pool holds: it keeps every block it ever needed, so this is its peak."""
        return self.xp.get_default_memory_pool().total_bytes() / 2**20

    def train_step(self) -> float:
        self.optimizer.zero_grad()
        loss = softmax_cross_entropy(self.model(Tensor(self.x)), self.labels)
        loss.backward()
        self.optimizer.step()
        return float(loss.item())

    def logits(self) -> np.ndarray:
        """Inference-mode outputs (dropout off), on the host."""
        self.model.eval()
        with no_grad():
            out = self.model(Tensor(self.x)).data
        self.model.train()
        return backend.to_cpu(out)

    def jobs(self) -> dict[str, Job]:
        return {
            "train": Job(self.train_step, sync=self.sync),
            "inference": Job(self.logits, sync=self.sync),
        }

    def layer_jobs(self) -> dict[str, tuple[Job, Job]]:
        """layer name -> (forward Job, backward Job) on that layer's real input (scaled first, untimed)."""
        jobs, h = {}, self.x * self.xp.float32(self.model.input_scale)
        for index, (name, layer) in enumerate(self.model.named_children()):
            inp = Tensor(h, requires_grad=index > 0)
            out = layer(inp)
            gy = self.xp.asarray(np.random.default_rng(index).standard_normal(out.shape, dtype=np.float32))
            jobs[name] = self._layer_pair(layer, inp, gy)
            h = out.data
        return jobs

    def _layer_pair(self, layer: Any, inp: Tensor, gy: Any) -> tuple[Job, Job]:
        held: dict[str, Tensor] = {}

        def forward() -> None:
            held["out"] = layer(inp)

        def backward_last() -> None:  # untimed: frees the last forward's graph as training does
            if "out" in held:
                layer.zero_grad()
                held.pop("out").backward(gy)

        def backward() -> None:
            held.pop("out").backward(gy)

        def forward_untimed() -> None:
            backward_last()
            layer.zero_grad()
            forward()

        return (Job(forward, prepare=backward_last, sync=self.sync),
                Job(backward, prepare=forward_untimed, sync=self.sync))


class TorchRuns:
    """The same jobs for the PyTorch twin (torch.optim.SGD with the same hyperparameters)."""

    def __init__(self, twin: Any, batch: int, image_size: int, classes: int, device: str):
        import torch

        self.torch, self.model = torch, twin.train()
        self.device = "cuda" if device == "gpu" else "cpu"
        if self.device == "cuda":  # cuDNN's fastest algorithms (torch_twin has turned TF32 off)
            torch.backends.cudnn.benchmark = True
        x, labels = random_batch(batch, image_size, classes)
        self.x, self.labels = torch.from_numpy(x).to(self.device), torch.from_numpy(labels).to(self.device)
        self.optimizer = torch.optim.SGD(twin.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    def sync(self) -> None:
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def gpu_peak_mib(self) -> float:
        """The most device memory PyTorch's caching allocator held."""
        return self.torch.cuda.max_memory_reserved() / 2**20

    def train_step(self) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.torch.nn.functional.cross_entropy(self.model(self.x), self.labels)
        loss.backward()
        self.optimizer.step()
        return float(loss.item())

    def logits(self) -> np.ndarray:
        self.model.eval()
        with self.torch.no_grad():
            out = self.model(self.x)
        self.model.train()
        return out.cpu().numpy()

    def jobs(self) -> dict[str, Job]:
        return {
            "train": Job(self.train_step, sync=self.sync),
            "inference": Job(self.logits, sync=self.sync),
        }

    def layer_jobs(self) -> dict[str, tuple[Job, Job]]:
        """The twin's layers as TinyalexRuns.layer_jobs times them: the input scale is applied first, untimed."""
        torch = self.torch
        children = list(self.model.named_children())
        jobs, h = {}, self.x
        if children[0][0] == "input_scale":
            h = children.pop(0)[1](h)
        for index, (name, layer) in enumerate(children):
            base = h.detach().requires_grad_(index > 0)
            with torch.no_grad():
                out = layer(base.clone())
            gy = torch.from_numpy(np.random.default_rng(index).standard_normal(tuple(out.shape), dtype=np.float32))
            jobs[name] = self._layer_pair(layer, base, gy.to(self.device))
            h = out
        return jobs

    def _layer_pair(self, layer: Any, base: Any, gy: Any) -> tuple[Job, Job]:
        held: dict[str, Any] = {}

        def fresh_input() -> Any:  # a non-leaf copy, so that in-place ReLUs are allowed
            return base.clone() if base.requires_grad else base

        def forward() -> None:
            held["out"] = layer(held.pop("inp"))

        def backward_last() -> None:
            if "out" in held:
                layer.zero_grad(set_to_none=True)
                held.pop("out").backward(gy)
            held["inp"] = fresh_input()

        def backward() -> None:
            held.pop("out").backward(gy)

        def forward_untimed() -> None:
            backward_last()
            layer.zero_grad(set_to_none=True)
            forward()

        return (Job(forward, prepare=backward_last, sync=self.sync),
                Job(backward, prepare=forward_untimed, sync=self.sync))
