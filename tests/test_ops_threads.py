"""threads: the op pool runs parts in order, holds OpenBLAS to one thread inside, and changes no result."""
import threading

import numpy as np
import pytest

from tinyalex.engine.tensor import Tensor
from tinyalex.models import alexnet_small
from tinyalex.ops import conv2d as conv_module
from tinyalex.ops import local_response_norm as lrn_module
from tinyalex.ops import max_pool2d as pool_module
from tinyalex.ops import relu as relu_module
from tinyalex.ops import threads
from tinyalex.ops.conv2d import conv2d
from tinyalex.ops.linear import linear
from tinyalex.ops.local_response_norm import local_response_norm
from tinyalex.ops.max_pool2d import max_pool2d
from tinyalex.ops.relu import relu
from tinyalex.ops.softmax_cross_entropy import softmax_cross_entropy
from tinyalex.optim import MomentumSGD


def test_results_come_back_in_the_parts_order_from_more_than_one_thread(monkeypatch):
    monkeypatch.setenv("TINYALEX_THREADS", "2")
    names = set()
    barrier = threading.Barrier(2, timeout=10)

    def work(i):
        barrier.wait()  # both parts must be running at once, or this times out
        names.add(threading.current_thread().name)
        return i * i

    assert threads.run_parts(work, [3, 1]) == [9, 1]
    assert len(names) == 2 and all(name.startswith("tinyalex") for name in names)


def test_one_thread_one_part_or_a_pool_thread_runs_in_the_caller(monkeypatch):
    caller = threading.current_thread().name
    seen = []

    def work(i):
        seen.append(threading.current_thread().name)
        return i

    monkeypatch.setenv("TINYALEX_THREADS", "1")
    assert threads.run_parts(work, [1, 2, 3]) == [1, 2, 3]
    monkeypatch.setenv("TINYALEX_THREADS", "2")
    assert threads.run_parts(work, [4]) == [4]
    assert threads.run_parts(work, [5, 6], nbytes=100) == [5, 6]  # too little work for the pool
    assert seen == [caller] * 6
    # an op called from inside the pool runs its parts there instead of waiting for the busy pool
    nested = threads.run_parts(lambda i: threads.run_parts(lambda j: (i, j, threading.current_thread().name), [0, 1]),
                               [0, 1])
    for i, inner in enumerate(nested):
        assert [(a, b) for a, b, _ in inner] == [(i, 0), (i, 1)] and inner[0][2] == inner[1][2]


def test_a_bad_thread_count_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("TINYALEX_THREADS", "two")
    with pytest.raises(ValueError, match="TINYALEX_THREADS must be a positive integer, got 'two'"):
        threads.count()


def test_openblas_runs_one_thread_inside_the_pool_and_gets_its_count_back(monkeypatch):
    blas = threads._openblas()
    if blas is None:
        pytest.skip("NumPy is not linked to OpenBLAS here")
    get, set_ = blas
    monkeypatch.setenv("TINYALEX_THREADS", "2")
    before = get()
    set_(2)
    try:
        inside = threads.run_parts(lambda _: get(), [0, 1])
        assert inside == [1, 1] and get() == 2
        # work run in the caller (one part, too little work) and products outside the pool are held too
        assert threads.run_parts(lambda _: get(), [0]) == [1] and get() == 2
        assert threads.run_parts(lambda _: get(), [0, 1], nbytes=10) == [1, 1] and get() == 2
        with threads.one_blas_thread():
            assert get() == 1
        assert get() == 2
    finally:
        set_(before)


def test_limit_holds_the_pool_and_openblas_to_the_given_count(monkeypatch):
    monkeypatch.setenv("TINYALEX_THREADS", "2")  # restored afterwards, as limit() sets it
    blas = threads._openblas()
    before = blas[0]() if blas else None
    try:
        threads.limit(1)
        assert threads.count() == 1 and threads.run_parts(lambda _: threading.get_ident(), [0, 1]) == [
            threading.get_ident()] * 2
        if blas:
            assert threads.blas_threads() == 1
    finally:
        if blas:
            blas[1](before)
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        threads.limit(0)


def test_split_gives_nearly_equal_slices():
    assert threads.split(10, 3) == [slice(0, 3), slice(3, 6), slice(6, 10)]
    assert threads.split(10, 3, nbytes=1000) == [slice(0, 10)]  # too little work to hand to another thread
    assert threads.split(2, 5) == [slice(0, 1), slice(1, 2)]  # never an empty slice when n > 0
    assert threads.split(0, 4) == [slice(0, 0)]


def one_training_step(seed=0):
    model = alexnet_small(num_classes=7, seed=seed)
    rng = np.random.default_rng(seed)
    x, labels = rng.standard_normal((10, 3, 64, 64)).astype(np.float32), rng.integers(0, 7, 10)
    optimizer = MomentumSGD(model.parameters())
    for _ in range(2):
        optimizer.zero_grad()
        softmax_cross_entropy(model(Tensor(x)), labels).backward()
        optimizer.step()
    return {name: p.data.copy() for name, p in model.named_parameters()}


def test_a_training_step_is_the_same_in_one_thread_and_in_two(monkeypatch):
    monkeypatch.setenv("TINYALEX_THREADS", "1")
    one = one_training_step()
    monkeypatch.setenv("TINYALEX_THREADS", "2")
    two, again = one_training_step(), one_training_step()
    for name, expected in one.items():
        np.testing.assert_allclose(two[name], expected, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(again[name], two[name], err_msg=name)  # whichever thread finishes first


@pytest.mark.parametrize("op", ["conv2d", "lrn", "pool", "relu", "linear"])
def test_many_parts_in_one_thread_or_two_give_the_one_part_results(op, monkeypatch):
    """Every chunked path against the whole batch at once: a part written over another, or a weight or
    bias gradient taken from one part only, fails here."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 6, 11, 11))
    weights = {"conv2d": (rng.standard_normal((8, 3, 3, 3)), rng.standard_normal(8)),
               "linear": (rng.standard_normal((5, 6 * 11 * 11)), rng.standard_normal(5))}.get(op, (np.ones(1),))
    functions = {
        "conv2d": lambda t, w, b: conv2d(t, w, b, stride=1, padding=1, groups=2),
        "lrn": lambda t, p: local_response_norm(t, alpha=0.5) * p.sum(),
        "pool": lambda t, p: max_pool2d(t, 3, 2, padding=1) * p.sum(),
        "relu": lambda t, p: relu(t) * p.sum(),
        "linear": lambda t, w, b: linear(t.reshape(9, -1), w, b),
    }
    gy = None
    results = {}
    for count, chunk in (("1", 2**40), ("1", 2000), ("2", 2000)):  # one part; 9 parts; 9 parts on two threads
        monkeypatch.setenv("TINYALEX_THREADS", count)
        for module in (conv_module, lrn_module, pool_module, relu_module):
            monkeypatch.setattr(module, "CHUNK_BYTES", chunk)
        t, params = Tensor(x, requires_grad=True), [Tensor(w, requires_grad=True) for w in weights]
        y = functions[op](t, *params)
        gy = np.random.default_rng(2).standard_normal(y.shape) if gy is None else gy
        y.backward(gy)
        results[count, chunk] = [y.data, t.grad] + [p.grad for p in params]
    one_part = results["1", 2**40]
    for key in (("1", 2000), ("2", 2000)):
        for got, expected, what in zip(results[key], one_part, ("output", "input gradient", "weight gradient",
                                                                 "bias gradient")):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=f"{what}, {key}")
