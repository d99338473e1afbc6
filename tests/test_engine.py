"""The autograd engine: Tensor arithmetic and its backward, graph order, freeing, no_grad."""
import gc
import weakref

import numpy as np
import pytest

import tinyalex
from tinyalex import Function, Tensor, gradcheck, no_grad
from tinyalex import functional as F
from tinyalex.backend import to_cpu
from tinyalex.engine import is_grad_enabled


def leaf(xp, values, dtype=np.float64):
    return Tensor(xp.asarray(values, dtype=dtype), requires_grad=True)


class Record(Function):
    """The identity, counting its backward calls and keeping the gradient it was given."""

    calls: list

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        Record.calls.append(to_cpu(gy).copy())
        return gy


# --- arithmetic: values and broadcasting gradients -------------------------------------------------------
@pytest.mark.parametrize(
    "fn, shapes",
    [
        (lambda a, b: a + b, [(2, 3, 4), (3, 1)]),
        (lambda a, b: a + b, [(4,), (2, 3, 4)]),
        (lambda a, b: a - b, [(1, 3), (2, 1)]),
        (lambda a, b: a * b, [(2, 3, 4), (1, 3, 1)]),
        (lambda a, b: a * b, [(2, 3), ()]),
        (lambda a, b: a / (b * b + 1), [(3, 1), (2, 3, 4)]),
        (lambda a, b: a @ b, [(3, 4), (4, 2)]),
        (lambda a, b: a @ b.T, [(1, 4), (5, 4)]),
    ],
)
def test_binary_ops_gradients_with_broadcasting(xp, fn, shapes):
    rng = np.random.default_rng(0)
    inputs = [xp.asarray(rng.standard_normal(s)) for s in shapes]
    gradcheck(fn, inputs)  # raises when backward is wrong


@pytest.mark.parametrize(
    "fn",
    [
        lambda a: -a,
        lambda a: a**3,
        lambda a: (a * a + 1) ** -0.5,
        lambda a: 2 * a - 1,
        lambda a: 1 - a / 4,
        lambda a: 3 / (a * a + 1),
        lambda a: a.exp(),
        lambda a: (a * a + 0.5).log(),
        lambda a: a.sum(),
        lambda a: a.sum(axis=1),
        lambda a: a.sum(axis=(0, 2), keepdims=True),
        lambda a: a.mean(),
        lambda a: a.mean(axis=-1),
        lambda a: a.max(axis=2),
        lambda a: a.max(),
        lambda a: a.reshape(6, 4),
        lambda a: a.reshape((4, -1)),
        lambda a: a.transpose(),
        lambda a: a.transpose(1, 2, 0),
        lambda a: a.T,
        lambda a: a[1],
        lambda a: a[:, 1:, ::2],
        lambda a: a[[1, 0, 1]],
        lambda a: a[:, [2, 2], 0],
        lambda a: F.flatten(a),
    ],
)
def test_unary_ops_gradients(xp, fn):
    rng = np.random.default_rng(1)
    a = xp.asarray(rng.permutation(24).reshape(2, 3, 4) * 0.1 - 1.15)  # distinct values: max has no ties
    gradcheck(fn, [a])  # raises when backward is wrong


def test_arithmetic_values(xp):
    a = leaf(xp, [[1.0, 2.0], [3.0, 4.0]])
    b = leaf(xp, [10.0, 20.0])
    assert to_cpu((a + b).data).tolist() == [[11, 22], [13, 24]]
    assert to_cpu((b - a).data).tolist() == [[9, 18], [7, 16]]
    assert to_cpu((a * b).data).tolist() == [[10, 40], [30, 80]]
    assert to_cpu((a / b).data).tolist() == [[0.1, 0.1], [0.3, 0.2]]
    assert to_cpu((a @ a).data).tolist() == [[7, 10], [15, 22]]
    assert to_cpu((a**2).data).tolist() == [[1, 4], [9, 16]]
    assert to_cpu(a.sum(axis=0).data).tolist() == [4, 6]
    assert to_cpu(a.mean(axis=1).data).tolist() == [1.5, 3.5]
    assert to_cpu(a.max(axis=1).data).tolist() == [2, 4]
    assert to_cpu(a.T.data).tolist() == [[1, 3], [2, 4]]
    assert to_cpu(a[1].data).tolist() == [3, 4]


def test_broadcast_gradient_sums_over_the_stretched_axes():
    a = leaf(np, np.ones((2, 3)))
    b = leaf(np, np.ones((3,)))
    c = leaf(np, 1.0)
    (a * b + c).sum().backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,) and c.grad.shape == ()
    assert b.grad.tolist() == [2.0, 2.0, 2.0]
    assert float(c.grad) == 6.0


def test_python_numbers_take_the_tensors_dtype():
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    for y in (a + 1.5, 2.0 * a, a / 3, 1 - a, a**2.0, a.mean()):
        assert y.dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32  # Python floats become float32, the training dtype
    assert Tensor(np.zeros(2)).dtype == np.float64  # an explicit float64 array is kept for checks


def test_numpy_array_on_the_left_gives_a_tensor():
    a = leaf(np, [1.0, 2.0])
    y = np.array([3.0, 4.0]) * a
    assert isinstance(y, Tensor)
    y.sum().backward()
    assert a.grad.tolist() == [3.0, 4.0]


def test_matmul_refuses_batched_operands():
    with pytest.raises(ValueError, match="2-D"):
        Tensor(np.ones((2, 2, 2))) @ Tensor(np.ones((2, 2)))


# --- the graph ---------------------------------------------------------------------------------------------
def test_tensor_used_twice_accumulates_its_gradient(xp):
    a = leaf(xp, 3.0)
    b = a * a  # a enters one op twice
    c = b + a  # and a second op too
    c.backward()
    assert float(a.grad) == 2 * 3.0 + 1  # d(a^2 + a)/da


def test_diamond_runs_each_backward_once_after_all_its_gradients_arrived():
    # x -> h -> (h * 2, h * 3, and exp(h * 3) one generation deeper) -> sum: h's backward must wait for every branch
    Record.calls = []
    x = leaf(np, [0.5, -1.0])
    h = Record()(x)
    left, right = h * 2, h * 3
    y = left + right + right.exp()
    y.backward(np.ones(2))
    assert len(Record.calls) == 1
    expected = 2 + 3 + 3 * np.exp(3 * np.array([0.5, -1.0]))
    np.testing.assert_allclose(Record.calls[0], expected)
    np.testing.assert_allclose(x.grad, expected)


def test_backward_order_on_a_deep_chain_with_a_skip_connection():
    x = leaf(np, 0.3)
    y = x
    for _ in range(20):
        y = y * 1.1
    z = (y + x).exp()  # the skip meets the chain only at the end
    z.backward()
    value = 0.3 * 1.1**20 + 0.3
    assert float(x.grad) == pytest.approx(np.exp(value) * (1.1**20 + 1))


def test_leaf_gradients_accumulate_across_backward_calls_until_zeroed():
    a = leaf(np, [1.0, 2.0])
    (a * 3).sum().backward()
    (a * a).sum().backward()
    assert a.grad.tolist() == [3 + 2, 3 + 4]
    a.zero_grad()
    assert a.grad is None


def test_a_fresh_leaf_gradient_is_kept_without_a_copy_and_shared_or_given_ones_are_copied():
    returned = []

    class Fresh(Function):  # returns a new array, which nothing else holds
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            returned.append(gy * 2)
            return returned[-1]

    a = leaf(np, [1.0, 2.0])
    Fresh()(a).backward(np.ones(2))
    assert a.grad is returned[0]  # no copy of fc6's 144 MiB dL/dW
    b, c = leaf(np, [1.0, 2.0]), leaf(np, [3.0, 4.0])
    given = np.ones(2)
    (b + c).backward(given)  # Add hands the same array to both leaves: that is the caller's array
    assert b.grad is not given and c.grad is not given and b.grad is not c.grad
    b.grad *= 10  # clipping one gradient in place must not change the other's
    assert c.grad.tolist() == [1.0, 1.0] and given.tolist() == [1.0, 1.0]
    d, e = leaf(np, [1.0, 2.0]), leaf(np, [3.0, 4.0])
    ((d + e) * 2).backward(np.ones(2))  # Mul's fresh gradient, passed by Add to both leaves
    assert d.grad is not e.grad
    d.grad *= 10
    assert e.grad.tolist() == [2.0, 2.0]


def test_the_graph_keeps_what_backward_needs_until_backward_and_nothing_else():
    x = leaf(np, np.ones(1000))
    h = x * 2  # no backward needs h's array: exp's backward uses exp's own output
    e = h.exp()  # the product's backward needs e's array
    y = (e * x).sum()
    unneeded, needed, node = weakref.ref(h.data), weakref.ref(e.data), weakref.ref(e.node)
    del h, e
    gc.collect()
    assert unneeded() is None  # freed with its tensor, in forward
    assert needed() is not None and node() is not None  # the graph keeps them until backward
    y.backward()
    gc.collect()
    assert needed() is None and node() is None
    assert y.creator is None
    assert np.allclose(x.grad, 3 * np.exp(2))  # d/dx e^(2x) x = (2x + 1) e^(2x) at x = 1


def test_retain_graph_keeps_it_for_a_second_backward():
    x = leaf(np, [1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]  # 2 * 2x


def test_no_grad_builds_no_graph():
    x = leaf(np, np.ones(1000))
    with no_grad():
        assert not is_grad_enabled()
        h = x * 2
        y = h.exp()
    assert is_grad_enabled()
    assert y.creator is None and h.creator is None and not y.requires_grad
    alive = weakref.ref(h)
    del h
    gc.collect()
    assert alive() is None  # nothing kept the intermediate alive
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()  # an inner block restores the outer state


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(RuntimeError):
        with no_grad():
            raise RuntimeError
    assert is_grad_enabled()
    assert tinyalex.no_grad is no_grad


def test_inputs_without_requires_grad_get_no_gradient():
    x = Tensor(np.ones(3))
    w = leaf(np, [1.0, 2.0, 3.0])
    (x * w).sum().backward()
    assert x.grad is None and w.grad.tolist() == [1.0, 1.0, 1.0]
    y = x * 2
    assert y.creator is None and not y.requires_grad  # nothing wants a gradient: no graph


def test_needs_input_grad_tells_backward_what_to_skip():
    seen = []

    class Scale(Function):
        def forward(self, x, s):
            self.x, self.s = x, s
            return x * s

        def backward(self, gy):
            seen.append(self.needs_input_grad)
            return (gy * self.s if self.needs_input_grad[0] else None,
                    (gy * self.x).sum() if self.needs_input_grad[1] else None)

    s = leaf(np, 2.0)
    Scale()(np.ones(3), s).sum().backward()
    assert seen == [(False, True)] and float(s.grad) == 3.0


def test_backward_of_a_non_scalar_needs_a_gradient():
    y = leaf(np, [1.0, 2.0]) * 2
    with pytest.raises(ValueError, match="explicit grad"):
        y.backward()


def test_backward_returning_wrong_count_or_shape_is_reported():
    class TooFew(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, gy):
            return gy

    class WrongShape(Function):
        def forward(self, a):
            return a * 2

        def backward(self, gy):
            return gy.sum()

    with pytest.raises(RuntimeError, match="TooFew.backward returned 1 gradients for 2 inputs"):
        TooFew()(leaf(np, [1.0]), leaf(np, [2.0])).sum().backward()
    with pytest.raises(RuntimeError, match=r"WrongShape.backward returned a gradient of shape \(\)"):
        WrongShape()(leaf(np, [1.0, 2.0])).sum().backward()


def test_tensor_conveniences():
    t = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2 and t.device == "cpu"
    assert isinstance(t.numpy(), np.ndarray) and t.sum().item() == 15.0
    moved = t.to("cpu")
    assert moved.requires_grad and moved.creator is None and np.array_equal(moved.data, t.data)
    d = (t * 2).detach()
    assert d.creator is None and not d.requires_grad


def test_the_gradient_flows_through_to(xp):
    """`.to` used to return a new leaf: backward stopped there and the original tensor got no gradient."""
    device = "cpu" if xp is np else "gpu:0"
    x = leaf(xp, [1.0, -2.0, 3.0])
    moved = x.to("cpu")
    assert (moved is x) == (xp is np)  # already there: the tensor itself, as in PyTorch
    (moved * Tensor(np.array([3.0, 4.0, 5.0]))).sum().backward()
    np.testing.assert_array_equal(to_cpu(x.grad), [3.0, 4.0, 5.0])
    assert x.device == device and tinyalex.backend.device_of(x.grad) == device  # the gradient came back


def test_a_tensor_can_be_made_on_a_device(xp):
    device = "cpu" if xp is np else "gpu"
    t = Tensor([1.0, 2.0], requires_grad=True, device=device)
    assert tinyalex.get_array_module(t.data) is xp and t.creator is None and t.requires_grad
    (t * t).sum().backward()
    np.testing.assert_array_equal(to_cpu(t.grad), [2.0, 4.0])


@pytest.mark.gpu
def test_to_gpu_and_back_is_differentiable_and_keeps_the_graph():
    x = leaf(np, [[1.0, 2.0], [3.0, 4.0]])
    on_gpu = x.to("gpu")
    assert on_gpu.device == "gpu:0" and on_gpu.creator is not None and x.to("gpu:0").creator is not None
    y = (on_gpu * on_gpu).to("cpu")
    assert y.device == "cpu"
    y.sum().backward()
    assert isinstance(x.grad, np.ndarray)
    np.testing.assert_array_equal(x.grad, 2 * x.data)
    gx = np.random.default_rng(0).standard_normal(4)
    gradcheck(lambda t: (t.to("gpu") ** 3).to("cpu"), [gx])
    with no_grad():
        assert x.to("gpu").creator is None  # no graph when none is wanted


def test_function_with_two_outputs_gets_zeros_for_the_unused_one():
    class Halves(Function):
        def forward(self, x):
            return x[:2].copy(), x[2:].copy()

        def backward(self, g_first, g_second):
            return np.concatenate([g_first, g_second])

    x = leaf(np, [1.0, 2.0, 3.0])
    first, _ = Halves()(x)
    (first * first).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 0.0]


def test_backward_through_a_freed_graph_raises_instead_of_stopping_short():
    x = leaf(np, [1.0, 2.0])
    h = x * 2
    first, second = h.sum(), (h * h).sum()
    first.backward()  # frees the graph from h back to x
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        second.backward()  # would otherwise stop at h and leave x.grad without 8x
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        first.backward()


def test_retain_graph_lets_two_losses_share_a_graph():
    x = leaf(np, [1.0, 2.0])
    h = x * 2
    h.sum().backward(retain_graph=True)
    (h * h).sum().backward()
    assert x.grad.tolist() == [2 + 8 * 1.0, 2 + 8 * 2.0]


def test_a_python_float_is_not_rounded_to_an_integer_tensors_dtype():
    counts = Tensor(np.array([1, 2, 3]))
    assert (counts * 0.5).data.tolist() == [0.5, 1.0, 1.5]
    assert (0.5 + counts).data.tolist() == [1.5, 2.5, 3.5]
    assert (counts + 1).dtype == counts.dtype


def test_max_shares_its_gradient_among_ties():
    x = leaf(np, [[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    x.max(axis=1).backward(np.array([1.0, 4.0]))
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [4.0, 0.0, 0.0]]
    a = leaf(np, 2.0)
    both = a * np.ones(2)  # max(a, a) = a: the gradient must be 1, not 2
    both.max().backward()
    assert float(a.grad) == 1.0


def test_backward_checks_the_shape_of_the_given_gradient():
    x = leaf(np, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected the tensor's \(2, 3\)"):
        (x + 1).backward(np.ones(3))
    y = (x * 2).sum()
    y.backward(3.0)  # a plain number for a scalar
    assert x.grad.tolist() == [[6.0] * 3] * 2


def test_gradients_take_the_dtype_of_their_input_when_precisions_mix():
    """A float64 weight fed float32 data gets a float64 gradient (and the data a float32 one)."""
    x = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    w = Tensor(np.ones((3, 4), np.float64), requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64


def test_no_grad_in_one_thread_leaves_other_threads_recording():
    """Grad mode is per thread: a worker evaluating under no_grad must not stop another one's graph."""
    import threading

    inside, done = threading.Event(), threading.Event()

    def evaluate():
        with no_grad():
            inside.set()
            done.wait(5)

    thread = threading.Thread(target=evaluate)
    thread.start()
    inside.wait(5)
    x = Tensor(np.ones(3), requires_grad=True)
    y = (x * 2).sum()
    done.set()
    thread.join()
    assert y.creator is not None
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_indexing_with_repeated_indices_adds_their_gradients_up(xp):
    x = Tensor(xp.arange(4.0), requires_grad=True)
    x[xp.asarray([0, 2, 0, 0])].sum().backward()
    assert to_cpu(x.grad).tolist() == [3.0, 0.0, 1.0, 0.0]
