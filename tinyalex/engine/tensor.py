"""Tensor and Function: the whole autograd engine.

A Tensor wraps a NumPy or CuPy array. Calling a Function on tensors runs its
`forward` on the raw arrays and, when gradients are wanted, records the Function
as the creator of its outputs. `Tensor.backward()` walks those records in reverse
topological order (by generation, as in DeZero) and calls each `backward` on raw
arrays. Gradients are raw arrays too, and only leaf tensors keep them.

The graph holds an op's output by its `Node` (its creator, shape and dtype), not by the
tensor and its data, so an activation that no backward needs is freed as soon as the user
lets go of it; each op keeps what its own backward needs (as Chainer's VariableNode and
PyTorch's saved tensors do).
"""
from __future__ import annotations

import contextlib
import heapq
import threading
import weakref
from typing import Any, Iterator

import numpy as np

from tinyalex import backend

_mode = threading.local()  # per thread, like PyTorch's: one thread's no_grad() leaves the others recording


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Build no graph inside the block: evaluation keeps no activations alive."""
    previous, _mode.grad_enabled = is_grad_enabled(), False
    try:
        yield
    finally:
        _mode.grad_enabled = previous


def is_grad_enabled() -> bool:
    return getattr(_mode, "grad_enabled", True)


GRAPH_FREED = ("backward() reached a tensor whose graph an earlier backward() freed; "
               "pass retain_graph=True to the earlier backward() to go through the graph twice")


def _as_array(value: Any) -> Any:
    """Arrays pass through; Python numbers and lists become NumPy (floats as float32)."""
    if isinstance(value, np.ndarray) or backend.is_cupy_array(value):
        return value
    if isinstance(value, np.generic):  # a NumPy scalar keeps its dtype
        return np.asarray(value)
    array = np.asarray(value)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


class Node:
    """What the graph keeps of an op's output: enough to route its gradient, not its data.

    Without it, the op that reads conv1's output would hold the whole array until backward
    (142 MiB at batch 128) although ReLU's backward needs only its own output.
    `creator` becomes None when backward() frees the op.
    """

    __slots__ = ("creator", "generation", "shape", "dtype", "__weakref__")
    requires_grad = True

    def __init__(self, creator: "Function", shape: tuple, dtype: Any):
        self.creator, self.generation, self.shape, self.dtype = creator, creator.generation + 1, shape, dtype


class Tensor:
    """An array with an optional gradient and, for an op's output, the graph's `Node` of it.

    The array is not copied: change it in place after an op has read it, and that op's backward
    reads the changed values (PyTorch would refuse; tinyalex keeps no version counters).
    """

    __array_priority__ = 200  # numpy_array * tensor calls Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None, device: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data) if device is None else backend.to_device(_as_array(data), device)
        self.requires_grad = requires_grad
        self.grad: Any = None
        self.node: Node | None = None  # set when an op that records the graph made this tensor
        self.name = name

    @property
    def creator(self) -> "Function | None":
        """The Function that made this tensor; None for a leaf, and once backward() has freed it."""
        return None if self.node is None else self.node.creator

    @property
    def generation(self) -> int:
        return 0 if self.node is None else self.node.generation

    # --- array-like properties -------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{grad})"

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied from the GPU if needed)."""
        return backend.to_cpu(self.data)

    def item(self) -> float:
        return self.data.item()

    def to(self, device: str) -> "Tensor":
        """This tensor on 'cpu', 'gpu' or 'gpu:<id>': itself when already there, else a copy that stays in
        the graph, so backward() brings the gradient back to this tensor (as PyTorch's `.to` does). For a
        new leaf on a device, pass `device` to the constructor instead."""
        from tinyalex.engine.to_device import to_device  # that module builds on this one

        return to_device(self, device)

    def detach(self) -> "Tensor":
        """The same data as a new leaf outside the graph: no gradient flows back through it."""
        return Tensor(self.data)

    # --- autograd ----------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        `grad` is the upstream gradient (ones for a scalar by default). The graph is
        freed as it is walked unless `retain_graph` is True.
        """
        with backend.device_scope(self.data):  # the seed and zero gradients live on self's GPU
            self._backward(grad, retain_graph)

    def _backward(self, grad: Any, retain_graph: bool) -> None:
        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward() on a tensor of shape {self.shape} needs an explicit grad")
            grad = xp.ones_like(self.data)
        grad = xp.asarray(grad.data if isinstance(grad, Tensor) else grad)
        if grad.shape != self.shape:
            raise ValueError(f"backward(): grad has shape {tuple(grad.shape)}, expected the tensor's {self.shape}")
        if grad.dtype != self.dtype:  # a float64 grad would make every backward compute in float64
            grad = grad.astype(self.dtype)
        if self.creator is None:
            if not self.requires_grad:
                raise RuntimeError("backward() on a tensor that needs no gradient: it was made under no_grad(), "
                                   "or from tensors none of which has requires_grad=True")
            self._accumulate(grad)
            return
        grads = {id(self.node): (self.node, grad)}  # the node rides along so it stays alive
        given = {id(grad)}  # arrays a leaf may not keep as its own: the caller's, and those already kept
        queue: list = []
        seen = set()

        def push(function: Function) -> None:
            if id(function) not in seen:
                seen.add(id(function))
                heapq.heappush(queue, (-function.generation, id(function), function))

        push(self.creator)
        while queue:
            _, _, function = heapq.heappop(queue)
            outputs = [ref() for ref in function.outputs]
            grad_outputs = [grads.pop(id(y), (None, None))[1] if y is not None else None for y in outputs]
            grad_outputs = [
                g if g is not None else xp.zeros(shape, dtype)
                for g, (shape, dtype) in zip(grad_outputs, function.output_meta)
            ]
            grad_inputs = function.backward(*grad_outputs)
            grad_inputs = tuple(grad_inputs) if isinstance(grad_inputs, (tuple, list)) else (grad_inputs,)
            if len(grad_inputs) != len(function.inputs):
                raise RuntimeError(
                    f"{type(function).__name__}.backward returned {len(grad_inputs)} gradients "
                    f"for {len(function.inputs)} inputs"
                )
            for x, gx in zip(function.inputs, grad_inputs):  # x: a leaf Tensor or an op output's Node
                if gx is None or not x.requires_grad:
                    continue
                if isinstance(gx, Tensor):
                    raise TypeError(f"{type(function).__name__}.backward returned a Tensor; backward works on "
                                    f"raw arrays: return its .data")
                if gx.shape != x.shape:
                    raise RuntimeError(
                        f"{type(function).__name__}.backward returned a gradient of shape {gx.shape} "
                        f"for an input of shape {x.shape}"
                    )
                if gx.dtype != x.dtype:  # an op fed mixed precisions: each gradient takes its input's dtype
                    gx = gx.astype(x.dtype)
                if isinstance(x, Tensor):
                    x._accumulate(gx, owned=id(gx) not in given and _owns_memory(gx))
                    given.add(id(gx))
                elif x.creator is None:  # not a leaf: the gradient would stop here instead of reaching the leaves
                    raise RuntimeError(GRAPH_FREED)
                else:
                    previous = grads.get(id(x))
                    grads[id(x)] = (x, gx if previous is None else previous[1] + gx)
                    push(x.creator)
            if not retain_graph:
                function.release()

    def _accumulate(self, grad: Any, owned: bool = False) -> None:
        """Add grad into .grad; a first gradient that nothing else holds (`owned`) is kept without a copy."""
        if self.node is not None:  # an op's output whose op backward() freed: not a leaf
            raise RuntimeError(GRAPH_FREED)
        if self.grad is None:
            self.grad = grad if owned else grad.copy()
        else:
            self.grad = self.grad + grad

    def zero_grad(self) -> None:
        """Forget the gradient: None, not zeros, so the next backward's first gradient is kept without a sum."""
        self.grad = None

    # --- operators (defined in arithmetic.py, attached there) ----------------------


class Function:
    """An op: `forward(*arrays)` and `backward(*grad_outputs)` on raw arrays.

    Subclasses keep only what their backward needs, as attributes set in forward.
    `self.needs_input_grad[i]` tells backward whether input i wants a gradient, so
    expensive gradients (the image's, in conv1) can be skipped; return None for those.
    An instance records one call: make a new one for each call, as the layers do.
    """

    generation = 0

    def __call__(self, *inputs: Any) -> Any:
        if any(ref() is not None for ref in self.__dict__.get("outputs", ())):
            raise RuntimeError(f"this {type(self).__name__} was already called, and the graph of that call is still "
                               f"alive: a Function records one call, so make a new one for each call "
                               f"(a second call would overwrite what the first one's backward needs)")
        tensors = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
        arrays = [t.data for t in tensors]
        backend.check_same_device(type(self).__name__, arrays)
        self.needs_input_grad = tuple(t.requires_grad for t in tensors)
        record = is_grad_enabled() and any(self.needs_input_grad)
        if not record:
            self.needs_input_grad = (False,) * len(tensors)
        outputs = self.forward(*arrays)
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        results = [Tensor(y, requires_grad=record) for y in outputs]
        if record:
            self.generation = max(t.generation for t in tensors)
            self.inputs = [t if t.node is None else t.node for t in tensors]  # leaves as they are, outputs by node
            for y in results:
                y.node = Node(self, y.shape, y.dtype)
            self.outputs = [weakref.ref(y.node) for y in results]
            self.output_meta = [(y.shape, y.dtype) for y in results]
        return results[0] if len(results) == 1 else tuple(results)

    def forward(self, *arrays: Any) -> Any:
        raise NotImplementedError

    def backward(self, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    def release(self) -> None:
        """Drop the inputs and everything forward saved, freeing the graph behind."""
        for ref in self.outputs:
            node = ref()
            if node is not None:
                node.creator = None
        self.__dict__.clear()


def _owns_memory(array: Any) -> bool:
    """True for an array that is no view of another (a fresh result of backward, such as fc6's 144 MiB dL/dW)."""
    return array.base is None


def as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)
