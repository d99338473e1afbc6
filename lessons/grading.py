"""Checks for the lessons' graded exercises: your function against tinyalex (or a slow reference).

A check cell calls

    check(your_function, reference, cases)

where `cases(rng)` draws one random case as a dict of keyword arguments (fresh random numbers each
time the cell runs), and `reference(**case)` computes what `your_function(**case)` must return.
It runs a few cases and prints one line:

    PASS  im2col: 3 random cases, largest relative error 0.0e+00
    FAIL  im2col: relative error 8.2e-01 in the output at [0, 1, 2, 0, 3, 1]: yours 0.31, expected -1.2 (...)
    not done yet: im2col still raises NotImplementedError

The relative error of an array is the largest |yours - expected| divided by the largest |expected|,
and the worst element is where that difference is largest. Integer results must match exactly.
Instead of a reference, `verify(result, **case)` may return what is wrong (or None when right), for
answers that can be right in more than one way. A generator that takes two arguments, `cases(rng, trial)`,
is also told which case it draws (0, 1, 2): so that every check covers a case no random draw may skip
(no padding in the first, say).
"""
from __future__ import annotations

import copy
import inspect
import math
import traceback
from typing import Any, Callable

import numpy as np

import tinyalex
from tinyalex import backend

__all__ = ["check", "order_problem", "random_graph"]
TRIALS = 3


def check(function: Callable, reference: Callable | None = None, cases: Callable | None = None, *,
          trials: int = TRIALS, rtol: float = 1e-6, verify: Callable | None = None, device: str = "cpu",
          strict: bool = False, seed: int | None = None) -> None:
    """Run `function` on `trials` random cases and print PASS, FAIL (with the worst element) or not done yet.

    strict=True also requires the reference's dtype and C-contiguous memory layout. device="gpu" hands `function` CuPy arrays and says so instead when this machine has no GPU.
    `seed` repeats the cases of an earlier run (a FAIL prints its seed).
    """
    name = getattr(function, "__name__", "your function")
    if (reference is None) == (verify is None):
        raise ValueError("check: give either a reference or a verify function")
    if device == "gpu" and not tinyalex.gpu_available():
        why = "CuPy finds no CUDA device" if backend.cupy_available() else "CuPy is not installed"
        print(f"SKIP  {name}: no GPU here ({why}), so the kernel was not run; the NumPy version above is what ran")
        return
    seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else seed
    rng = np.random.default_rng(seed)
    worst = 0.0
    told = cases is not None and len(inspect.signature(cases).parameters) == 2
    for trial in range(1, trials + 1):
        case = {} if cases is None else cases(rng, trial - 1) if told else cases(rng)
        where = f"case {trial}: {describe(case)}; check(..., seed={seed}) repeats it"
        given = copy.deepcopy(case)
        if device == "gpu":
            given = {key: backend.to_gpu(v) if isinstance(v, np.ndarray) else v for key, v in given.items()}
        try:
            result = function(**given)
        except NotImplementedError:
            print(f"not done yet: {name} still raises NotImplementedError (write its body, then run this cell again)")
            return
        except Exception as error:  # the student's bug, reported rather than raised
            print(f"FAIL  {name}: raised {type(error).__name__}: {error} ({where_in(function, error)}; {where})")
            return
        changed = [key for key in case if not same(case[key], backend.to_cpu(given[key]))]
        if changed:
            print(f"FAIL  {name}: it changed its argument {changed[0]!r} in place"
                  f"{by_rounding(case[changed[0]], backend.to_cpu(given[changed[0]]))} ({where})")
            return
        if verify is not None:
            problem = verify(result, **given)  # the very objects the function saw (a graph's nodes, say)
            error_size = 0.0
        else:
            expected = reference(**copy.deepcopy(case))
            problem, error_size = compare(result, expected, rtol)
            if strict and not problem:
                problem = layout_difference(result, expected)
        if problem:
            print(f"FAIL  {name}: {problem} ({where})")
            return
        worst = max(worst, error_size)
    print(f"PASS  {name}: {trials} random cases" + ("" if verify else f", largest relative error {worst:.1e}"))


def by_rounding(before: Any, after: Any) -> str:
    """A hint when an array changed only by rounding: adding h and taking it away again need not give back x."""
    if not (isinstance(before, np.ndarray) and isinstance(after, np.ndarray) and before.shape == after.shape
            and before.dtype.kind == "f"):
        return ""
    change, size = float(np.abs(after - before).max()), float(np.abs(before).max())
    if not 0 < change <= 1e-10 * max(size, 1e-300):
        return ""
    return (f", by {change:.1e} at most: rounding (x + h - h need not be x in floating point; keep the old value "
            "and put it back)")


def where_in(function: Callable, error: Exception) -> str:
    """'line N: code' of the deepest line of the student's own cell in the error's traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    home = getattr(getattr(function, "__code__", None), "co_filename", None)
    mine = [f for f in frames if f.filename == home] or frames
    frame = mine[-1]
    return f"line {frame.lineno}" + (f": {frame.line.strip()}" if frame.line else "")


def as_array(value: Any) -> np.ndarray:
    """A NumPy array of a NumPy/CuPy array, a Tensor or a number."""
    if isinstance(value, tinyalex.Tensor):
        value = value.data
    return np.asarray(backend.to_cpu(value))


def same(a: Any, b: Any) -> bool:
    """Whether an argument is unchanged (arrays element by element, anything else by ==)."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float, str, np.generic)):
        return bool(a == b)
    return True  # other objects (graphs, generators) are not compared


def several(value: Any) -> bool:
    """Whether a result is several outputs (a tuple or list holding arrays), not one vector of numbers."""
    return isinstance(value, (tuple, list)) and any(not np.isscalar(v) for v in value)


def parts(value: Any, label: str) -> list[tuple[str, Any]]:
    """(label, leaf) for a result that is one value or a tuple/list of outputs."""
    if several(value):
        return [(f"{label} {i + 1}", v) for i, v in enumerate(value)]
    return [(label, value)]


def compare(result: Any, expected: Any, rtol: float) -> tuple[str | None, float]:
    """(what is wrong or None, the relative error) of a result against the expected value."""
    got, want = parts(result, "output"), parts(expected, "output")
    if several(expected) and (not isinstance(result, (tuple, list)) or len(result) != len(want)):
        count = len(result) if isinstance(result, (tuple, list)) else 1
        return f"returned {count} value(s), expected {len(want)}", np.inf
    if len(want) == 1:
        got, want = [("the output", result)], [("the output", expected)]
    worst = 0.0
    for (label, g), (_, e) in zip(got, want):
        if g is None:
            return f"{label} is None", np.inf
        g, e = as_array(g), as_array(e)
        if g.shape != e.shape:
            return f"{label} has shape {g.shape}, expected {e.shape}", np.inf
        if g.size == 0:
            continue
        if e.dtype.kind in "biu":
            wrong = np.argwhere(g != e)
            if len(wrong):
                at = tuple(int(i) for i in wrong[0])
                where = f" at {list(at)}" if g.ndim else ""
                return f"{label} differs{where}: yours {g[at].item()!r}, expected {e[at].item()!r}", np.inf
            continue
        if g.dtype.kind not in "biuf":
            return f"{label} holds {g.dtype} values, expected numbers", np.inf
        g = g.astype(np.float64)
        difference = np.abs(g - e)
        if not np.isfinite(g).all():
            at = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
            return f"{label} holds {g[at]} at {list(at)}, expected {e[at]:.6g}", np.inf
        scale = float(np.abs(e).max())
        error = float(difference.max()) / scale if scale > 0 else float(difference.max())
        worst = max(worst, error)
        if error > rtol:
            at = np.unravel_index(int(difference.argmax()), difference.shape)
            where = f" at {[int(i) for i in at]}" if g.ndim else ""
            digits = max(6, 2 - math.floor(math.log10(rtol)))  # enough to show a difference of rtol
            return (f"relative error {error:.1e} in {label}{where}: yours {float(g[at]):.{digits}g}, "
                    f"expected {float(e[at]):.{digits}g}"), error
    return None, worst


def layout_difference(result: Any, expected: Any) -> str | None:
    """What differs in dtype or C-contiguity between a result and the expected array (None if nothing)."""
    pairs = zip(parts(result, "output"), parts(expected, "output")) if several(expected) else \
        [(("the output", result), ("the output", expected))]
    for (label, g), (_, e) in pairs:
        g, e = backend.to_cpu(g.data if isinstance(g, tinyalex.Tensor) else g), np.asarray(e)
        if not hasattr(g, "dtype"):
            return f"{label} is a {type(g).__name__}, expected a NumPy array of {e.dtype}"
        if g.dtype != e.dtype:
            return f"{label} has dtype {g.dtype}, expected {e.dtype}"
        if e.flags["C_CONTIGUOUS"] and not g.flags["C_CONTIGUOUS"]:
            return f"{label} is not C-contiguous (np.ascontiguousarray makes the copy)"
    return None


def describe(case: dict) -> str:
    """A short description of a case: shapes for arrays, values for numbers."""
    items = []
    for key, value in case.items():
        if isinstance(value, np.ndarray):
            items.append(f"{key} {value.dtype} {value.shape}" if value.size > 4 else f"{key}={value.tolist()}")
        elif isinstance(value, (int, float, str, bool, np.integer, np.floating, tuple)) and len(repr(value)) < 40:
            items.append(f"{key}={value!r}")
        else:
            items.append(f"{key}: {type(value).__name__}")
    return ", ".join(items) or "no arguments"


# Cases and verifiers too long for a check cell.

class Node:
    """A stand-in for a variable (`creator`) or a function (`inputs`) in a random graph."""

    def __init__(self, name: str, creator: Any = None, inputs: tuple = ()):
        self.name, self.creator, self.inputs = name, creator, inputs

    def __repr__(self) -> str:
        return self.name


def random_graph(rng: np.random.Generator, functions: int = 12) -> Node:
    """The output variable of a random graph of `functions` functions over 3 inputs, with variables reused
    (a function may take the same variable twice, as in a * a); every function is behind the output."""
    variables = [Node(f"x{i}") for i in range(3)]
    unused = set()
    for k in range(functions):
        count = int(rng.integers(1, 4))
        recent = variables[-6:]
        inputs = tuple(recent[int(i)] for i in rng.integers(0, len(recent), size=count))
        f = Node(f"f{k}", inputs=inputs)
        unused -= {id(x) for x in inputs}
        variables.append(Node(f"v{k}", creator=f))
        unused.add(id(variables[-1]))
    last = Node("f_out", inputs=tuple(v for v in variables if id(v) in unused))
    return Node("y", creator=last)


def order_problem(order: Any, y: Node) -> str | None:
    """What is wrong with a topological order of the functions behind y (None if nothing)."""
    behind, todo = {}, [y.creator]
    while todo:
        f = todo.pop()
        if f is not None and id(f) not in behind:
            behind[id(f)] = f
            todo.extend(x.creator for x in f.inputs)
    if not isinstance(order, (list, tuple)):
        return f"returned a {type(order).__name__}, expected a list of functions"
    listed = [id(f) for f in order]
    stranger = next((f for f in order if id(f) not in behind), None)
    if stranger is not None:  # a function has inputs; a variable (its output) has none
        what = ("a variable, not a function (list each variable's .creator)" if not getattr(stranger, "inputs", None)
                else "not one of the functions behind y")
        return f"{stranger!r} is listed: it is {what}"
    if len(set(listed)) != len(listed):
        twice = next(f for f in order if listed.count(id(f)) > 1)
        return f"{twice} is listed {listed.count(id(twice))} times"
    if set(listed) != set(behind):
        missing = [behind[i] for i in behind if i not in set(listed)]
        return f"{len(order)} functions listed, {len(behind)} are behind y" + (f" ({missing[0]} is missing)" if missing else "")
    position = {id(f): i for i, f in enumerate(order)}
    for f in order:
        for x in f.inputs:
            if x.creator is not None and position[id(x.creator)] < position[id(f)]:
                return f"{x.creator} comes before {f}, which uses its output {x}"
    return None
