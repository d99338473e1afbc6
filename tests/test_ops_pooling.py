"""max_pool2d: forward and its one-element-per-window gradient against loops, gradcheck, and PyTorch."""
import numpy as np
import pytest

from tinyalex import Tensor, gradcheck
from tinyalex import functional as F
from tinyalex.backend import to_cpu
from tinyalex.checks import distinct
from tinyalex.ops.max_pool2d import MaxPool2d
from tests import reference

# x shape, kernel, stride, padding
CONFIGS = [
    ((2, 3, 7, 7), 3, 2, 0),  # the paper's overlapping pooling
    ((1, 2, 6, 4), 2, None, 0),  # stride defaults to the kernel
    ((1, 2, 5, 8), (2, 3), (1, 2), 0),  # non-square kernel and stride
    ((2, 1, 6, 5), 3, 2, 1),  # padding, odd width
    ((1, 3, 4, 4), (3, 1), (3, 1), (1, 0)),
    ((1, 1, 3, 3), 3, 1, 0),  # one window
]
IDS = [f"x{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}".replace(" ", "") for c in CONFIGS]


def ties(shape, seed=0):
    """Small integers: most windows hold their maximum more than once."""
    return np.random.default_rng(seed).integers(-1, 2, shape).astype(np.float64)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_forward_matches_loops(xp, config):
    shape, kernel, stride, padding = config
    x = np.random.default_rng(0).standard_normal(shape) - 3  # all negative: zero padding would win
    y = F.max_pool2d(xp.asarray(x), kernel, stride, padding)
    np.testing.assert_array_equal(to_cpu(y.data), reference.max_pool2d(x, kernel, stride, padding))


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_gradient_goes_to_the_first_maximum_of_each_window_on_ties(xp, config):
    shape, kernel, stride, padding = config
    x = ties(shape)
    t = Tensor(xp.asarray(x), requires_grad=True)
    y = F.max_pool2d(t, kernel, stride, padding)
    np.testing.assert_array_equal(to_cpu(y.data), reference.max_pool2d(x, kernel, stride, padding))
    gy = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(xp.asarray(gy))
    np.testing.assert_allclose(to_cpu(t.grad), reference.max_pool2d_grad(x, gy, kernel, stride, padding), rtol=1e-12)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_the_cpu_scatter_and_the_gpu_strided_backward_agree(config):
    """Both backward paths on NumPy arrays, ties and overlapping windows included, against the loops."""
    shape, kernel, stride, padding = config
    x = ties((3, *shape[1:]), seed=3)
    op = MaxPool2d(kernel, stride, padding)
    op.needs_input_grad = (True,)
    gy = np.random.default_rng(4).standard_normal(op.forward(x).shape)
    expected = reference.max_pool2d_grad(x, gy, kernel, stride, padding)
    np.testing.assert_allclose(op._scatter_backward(gy), expected, rtol=1e-12)
    np.testing.assert_allclose(op._strided_backward(gy), expected, rtol=1e-12)


def test_each_window_sends_its_gradient_to_exactly_one_element():
    x = np.zeros((1, 1, 4, 4))  # every window is one big tie
    t = Tensor(x, requires_grad=True)
    F.max_pool2d(t, 2).backward(np.ones((1, 1, 2, 2)))
    assert t.grad.sum() == 4 and np.count_nonzero(t.grad) == 4
    assert t.grad[0, 0, ::2, ::2].tolist() == [[1, 1], [1, 1]]  # the top-left of each window


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_gradcheck_with_distinct_values(xp, config):
    shape, kernel, stride, padding = config
    x = xp.asarray(distinct(np.random.default_rng(2), *shape))
    gradcheck(lambda x: F.max_pool2d(x, kernel, stride, padding), [x])  # raises when backward is wrong


def test_output_size_is_floor_and_paper_pooling_gives_alexnet_sizes():
    assert F.max_pool2d(np.zeros((1, 1, 55, 55)), 3, 2).shape == (1, 1, 27, 27)
    assert F.max_pool2d(np.zeros((1, 1, 27, 27)), 3, 2).shape == (1, 1, 13, 13)
    assert F.max_pool2d(np.zeros((1, 1, 13, 13)), 3, 2).shape == (1, 1, 6, 6)
    assert F.max_pool2d(np.zeros((1, 1, 8, 8)), 3, 2).shape == (1, 1, 3, 3)  # floor: the last column is dropped


def test_float32_stays_float32(xp):
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 5)).astype(np.float32)
    y = F.max_pool2d(xp.asarray(x), 3, 2)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(to_cpu(y.data), reference.max_pool2d(x, 3, 2))


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("values", ["distinct", "ties"])
def test_matches_pytorch(config, values):
    torch = pytest.importorskip("torch")
    shape, kernel, stride, padding = config
    x = (distinct(np.random.default_rng(4), *shape) if values == "distinct" else ties(shape, 5)).astype(np.float32)
    ours = Tensor(x, requires_grad=True)
    y = F.max_pool2d(ours, kernel, stride, padding)
    gy = np.random.default_rng(6).standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, kernel, stride, padding)
    yt.backward(torch.tensor(gy))
    np.testing.assert_array_equal(y.data, yt.detach().numpy())
    np.testing.assert_allclose(ours.grad, xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def nan_case():
    """7x7 distinct values with NaNs at (2, 2) and (2, 4): windows (0, 1) and (1, 1) of 3/2 pooling hold both."""
    x = distinct(np.random.default_rng(7), 1, 1, 7, 7)
    x[0, 0, 2, 2] = x[0, 0, 2, 4] = np.nan
    return x, np.random.default_rng(8).standard_normal((1, 1, 3, 3))


def test_a_nan_is_its_windows_output_and_takes_its_gradient_the_last_one_first(xp):
    """The gradient of a window holding a NaN went to its largest value before the NaN on the CPU (and to its
    largest value anywhere on the GPU); PyTorch sends it to the window's last NaN."""
    x, gy = nan_case()
    t = Tensor(xp.asarray(x), requires_grad=True)
    y = F.max_pool2d(t, 3, 2)
    y.backward(xp.asarray(gy))
    assert np.isnan(to_cpu(y.data)[0, 0, :2]).sum() == 6 and not np.isnan(to_cpu(y.data)[0, 0, 2]).any()
    gx, g = to_cpu(t.grad)[0, 0], gy[0, 0]
    assert gx[2, 2] == g[0, 0] + g[1, 0]  # the windows that hold only the first NaN
    assert gx[2, 4] == pytest.approx(g[0, 1] + g[1, 1] + g[0, 2] + g[1, 2], rel=1e-12)


def test_nan_routing_matches_pytorch():
    torch = pytest.importorskip("torch")
    x, gy = nan_case()
    ours = Tensor(x, requires_grad=True)
    F.max_pool2d(ours, 3, 2).backward(gy)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 3, 2).backward(torch.tensor(gy))
    np.testing.assert_allclose(ours.grad, xt.grad.numpy(), rtol=1e-12, atol=0)


def test_wrong_input_is_refused():
    with pytest.raises(ValueError, match=r"max_pool2d: kernel 3x3 is larger than the padded input 2x2"):
        F.max_pool2d(np.zeros((1, 1, 2, 2), np.float32), 3, 2)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\), got \(1, 4, 4\)"):
        F.max_pool2d(np.zeros((1, 4, 4), np.float32), 2)
    with pytest.raises(ValueError, match="int32"):
        F.max_pool2d(np.zeros((1, 1, 4, 4), np.int32), 2)


def test_padding_over_half_the_kernel_is_refused():
    # a window made only of padding would output -inf (PyTorch refuses it the same way)
    with pytest.raises(ValueError, match=r"max_pool2d: .*padding"):
        F.max_pool2d(np.zeros((1, 1, 4, 4), np.float32), 2, 1, padding=2)
    F.max_pool2d(np.zeros((1, 1, 4, 4), np.float32), 3, 2, padding=1)  # half the kernel: fine


def test_an_empty_batch_goes_forward_and_backward():
    x = Tensor(np.zeros((0, 8, 5, 5), np.float32), requires_grad=True)
    y = F.max_pool2d(x, 3, 2, padding=1)
    y.backward(np.zeros(y.shape, np.float32))
    assert y.shape == (0, 8, 3, 3) and x.grad.shape == (0, 8, 5, 5)


def test_under_no_grad_no_argmax_is_kept_and_the_output_is_the_same():
    from tinyalex.engine.tensor import no_grad
    from tinyalex.ops.max_pool2d import MaxPool2d

    x = np.random.default_rng(0).standard_normal((3, 4, 9, 9)).astype(np.float32)
    with_grad = F.max_pool2d(Tensor(x, requires_grad=True), 3, 2)
    assert with_grad.creator.argmax.shape == with_grad.shape
    op = MaxPool2d(3, 2)
    with no_grad():
        y = op(Tensor(x, requires_grad=True))
    assert op.argmax is None
    np.testing.assert_array_equal(y.data, with_grad.data)
