"""Is the PyTorch twin the same network? Every layer's output and every gradient compared, on weights where it shows.

With the paper's N(0, 0.01) initialisation the logits hardly depend on the input and LRN's sum is
tiny next to k, so a twin with conv1 negated and no LRN gives the same logits. The check therefore
re-draws the weights (`check_init`) so that each layer's output has a set size: unit size, except
the layers that feed an LRN, whose outputs are made large enough that alpha * sum(a^2) is as big as
k. It then compares, in eval mode (dropout is the identity in both), each layer's forward output
and, after one backward of the same cross-entropy loss, the gradient of every weight and of the
input; and it refuses to pass when the logits barely depend on the input, where it could not fail.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from tinyalex import backend
from tinyalex import layers as nn
from tinyalex.engine.tensor import Tensor, no_grad
from tinyalex.ops.softmax_cross_entropy import softmax_cross_entropy

RTOL = 1e-3  # float32 through eight layers agrees to about 1e-5; every wrong twin tried differs by 1e-2 or more
MIN_INPUT_DEPENDENCE = 0.3  # spread of the logits over the batch, over their size; about 0.99 after check_init
BIAS_SHARE = 0.1  # biases drawn at this fraction of their layer's output size, so that their copies are checked too


class NetworkMismatch(AssertionError):
    """The twin computes something else; `report` holds the per-layer differences."""

    def __init__(self, report: dict):
        super().__init__("the PyTorch twin is not the same network: " + "; ".join(report["problems"]))
        self.report = report


def check_batch(model: nn.Module, batch: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random N(0, 1) float32 images of the model's input size and labels of its classes."""
    rng = np.random.default_rng(seed)
    size, classes = model.config["input_size"], model.config["num_classes"]
    return rng.standard_normal((batch, 3, size, size), dtype=np.float32), rng.integers(0, classes, batch)


@contextlib.contextmanager
def recording(model: nn.Module) -> Iterator[dict[str, np.ndarray]]:
    """While open, every call of the model's own forward stores a host copy of each child's output by name.

    A copy, so that a later layer working in place cannot change what was recorded.
    """
    outputs: dict[str, np.ndarray] = {}
    children = list(model.named_children())

    def recorder(name: str, forward: Any) -> Any:
        def recorded(*args: Any) -> Any:
            out = forward(*args)
            outputs[name] = np.array(backend.to_cpu(out.data))
            return out
        return recorded

    for name, layer in children:
        layer.forward = recorder(name, layer.forward)  # an instance attribute, shadowing the class's forward
    try:
        yield outputs
    finally:
        for _, layer in children:
            del layer.forward


def _targets(model: nn.Module) -> dict[str, float]:
    """Output std wanted of each conv and fc layer: 1, or sqrt(2k / (alpha n)) before an LRN (alpha sum a^2 ~ k)."""
    children = list(model.named_children())
    targets = {}
    for index, (name, layer) in enumerate(children):
        if not isinstance(layer, (nn.Conv2d, nn.Linear)):
            continue
        after = [c for _, c in children[index + 1:] if not isinstance(c, (nn.ReLU, nn.Tanh))]
        lrn = after[0] if after and isinstance(after[0], nn.LocalResponseNorm) else None
        targets[name] = 1.0 if lrn is None else float(np.sqrt(2 * lrn.k / (lrn.alpha * lrn.size)))
    return targets


def check_init(model: nn.Module, x: np.ndarray, seed: int = 0) -> None:
    """Re-draw the weights of `model` in place, layer by layer, so that on `x` each output has its target std.

    Each conv or fc layer gets N(0, 1) weights, scaled so that its output's spread is the target,
    and biases that centre every channel over `x`, plus a little noise: what reaches the logits is
    then mostly what differs from image to image, not a constant that any input would give.
    """
    rng = np.random.default_rng(seed)
    device = backend.device_of(model.parameters()[0].data)
    inputs = backend.to_device(x, device)
    was_training = model.training
    model.eval()
    try:
        for name, target in _targets(model).items():
            layer = getattr(model, name)
            weight = rng.standard_normal(layer.weight.shape, dtype=np.float32)
            layer.weight.data = backend.to_device(weight, device)
            layer.bias.data = backend.to_device(np.zeros(layer.bias.shape, np.float32), device)
            with no_grad(), recording(model) as outputs:
                model(Tensor(inputs))
            out = outputs[name]
            mean = out.mean(axis=tuple(i for i in range(out.ndim) if i != 1))
            spread = float((out - mean.reshape(-1, *[1] * (out.ndim - 2))).std())
            if not spread > 0:
                raise ValueError(f"check_init: {name}'s output is the same for every image")
            scale = np.float32(target / spread)
            noise = rng.standard_normal(layer.bias.shape, dtype=np.float32) * np.float32(BIAS_SHARE * target)
            layer.weight.data = backend.to_device(weight * scale, device)
            layer.bias.data = backend.to_device(-mean * scale + noise, device)
    finally:
        model.train(was_training)


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| over max |b|: 0 for equal arrays, about 1 or more for unrelated ones."""
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-30))


def input_dependence(logits: np.ndarray) -> float:
    """How much the logits change from image to image: their std over the batch over their rms (0: not at all)."""
    spread = np.sqrt((logits.std(axis=0) ** 2).mean())
    return float(spread / max(float(np.sqrt((logits ** 2).mean())), 1e-30))


def _tinyalex_side(model: nn.Module, x: np.ndarray, labels: np.ndarray) -> tuple[dict, dict]:
    device = backend.device_of(model.parameters()[0].data)
    inputs = Tensor(backend.to_device(x, device), requires_grad=True)
    model.zero_grad()
    with recording(model) as outputs:
        loss = softmax_cross_entropy(model(inputs), backend.to_device(labels, device))
    loss.backward()
    grads = {"input": backend.to_cpu(inputs.grad)}
    grads.update({name: backend.to_cpu(p.grad) for name, p in model.named_parameters()})
    model.zero_grad()
    return outputs, grads


def _torch_side(twin: Any, x: np.ndarray, labels: np.ndarray) -> tuple[dict, dict]:
    import torch

    device = next(twin.parameters()).device
    outputs: dict[str, np.ndarray] = {}

    def hook(name: str) -> Any:  # a copy: the in-place ReLU that follows would overwrite the output
        return lambda module, args, out: outputs.__setitem__(name, out.detach().cpu().numpy().copy())

    handles = [layer.register_forward_hook(hook(name)) for name, layer in twin.named_children()]
    inputs = torch.from_numpy(x).to(device).requires_grad_(True)
    twin.zero_grad(set_to_none=True)
    try:
        loss = torch.nn.functional.cross_entropy(twin(inputs), torch.from_numpy(labels).to(device))
    finally:
        for handle in handles:
            handle.remove()
    loss.backward()
    grads = {"input": inputs.grad.cpu().numpy()}
    grads.update({name: p.grad.cpu().numpy() for name, p in twin.named_parameters()})
    twin.zero_grad(set_to_none=True)
    return outputs, grads


def _structure(model: nn.Module, twin: Any) -> list[str]:
    """Differences visible without running: layer and parameter names, and dropout rates (eval mode hides them)."""
    ours = [name for name, _ in model.named_children()]
    theirs = [name for name, _ in twin.named_children() if name != "input_scale"]
    if ours != theirs:
        return [f"layers differ: tinyalex {ours}, PyTorch {theirs}"]
    ours, theirs = [name for name, _ in model.named_parameters()], [name for name, _ in twin.named_parameters()]
    if ours != theirs:
        return [f"parameters differ: tinyalex {ours}, PyTorch {theirs}"]
    return [f"{name}: dropout {layer.p} against {getattr(twin, name).p}" for name, layer in model.named_children()
            if isinstance(layer, nn.Dropout) and layer.p != getattr(twin, name).p]


def same_network(model: nn.Module, twin: Any, x: np.ndarray, labels: np.ndarray, rtol: float = RTOL,
                 strict: bool = True) -> dict:
    """Per-layer max relative differences of the outputs and gradients of `model` and its PyTorch `twin`.

    Returns {"passed", "rtol", "input_dependence", "forward": {layer: difference},
    "gradients": {"input" or parameter: difference}, "problems": [...]}; raises NetworkMismatch
    when something differs by more than `rtol` (or the logits barely depend on the input), unless
    `strict` is False. Both networks run in eval mode and are left in the mode they were in.
    """
    problems = _structure(model, twin)
    report: dict[str, Any] = {"passed": False, "rtol": rtol, "input_dependence": 0.0, "forward": {},
                              "gradients": {}, "problems": problems}
    if not problems:
        modes = model.training, twin.training
        model.eval()
        twin.eval()
        try:
            ours, our_grads = _tinyalex_side(model, x, labels)
            theirs, their_grads = _torch_side(twin, x, labels)
        finally:
            model.train(modes[0])
            twin.train(modes[1])
        report["forward"] = {name: relative_difference(ours[name], theirs[name]) for name in ours}
        report["gradients"] = {name: relative_difference(our_grads[name], their_grads[name]) for name in our_grads}
        report["input_dependence"] = input_dependence(ours[list(ours)[-1]])
        for kind in ("forward", "gradients"):
            problems += [f"{name}: {kind} differs by {d:.1e}" for name, d in report[kind].items() if not d <= rtol]
        if report["input_dependence"] < MIN_INPUT_DEPENDENCE:
            problems.append(f"the logits barely depend on the input (dependence {report['input_dependence']:.1e} "
                            f"< {MIN_INPUT_DEPENDENCE}): re-draw the weights with check_init first")
    report["passed"] = not problems
    if strict and problems:
        raise NetworkMismatch(report)
    return report
