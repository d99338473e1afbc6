"""local_response_norm: the paper's formula channel by channel, gradients, and PyTorch with alpha * size."""
import numpy as np
import pytest

from tinyalex import Tensor, gradcheck
from tinyalex import functional as F
from tinyalex.backend import to_cpu
from tests import reference

# x shape, size, alpha, beta, k. A large alpha makes the window matter: under the paper's
# alpha = 1e-4 a window off by one channel changes the output by about 1e-5 relatively.
CONFIGS = [
    ((2, 7, 3, 2), 5, 0.5, 0.75, 2.0),  # the paper's size, beta and k; both edges clip the window
    ((1, 6, 2, 3), 4, 0.5, 0.75, 2.0),  # even size: 2 channels before, 1 after, as PyTorch
    ((2, 5, 2, 2), 2, 0.3, 0.6, 1.0),
    ((1, 3, 3, 3), 7, 0.4, 0.75, 2.0),  # the window is wider than the channels
    ((1, 1, 2, 2), 5, 0.5, 0.75, 2.0),  # a single channel
    ((1, 4, 2, 2), 1, 0.5, 0.75, 2.0),  # each channel alone
    ((2, 6, 3, 3), 5, 1e-4, 0.75, 2.0),  # the paper's constants
]
IDS = [f"x{c[0]}-n{c[1]}-a{c[2]}-b{c[3]}-k{c[4]}".replace(" ", "") for c in CONFIGS]


def draw(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape) * 2


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_forward_matches_the_formula(xp, config):
    shape, size, alpha, beta, k = config
    x = draw(shape)
    y = F.local_response_norm(xp.asarray(x), size=size, alpha=alpha, beta=beta, k=k)
    np.testing.assert_allclose(to_cpu(y.data), reference.local_response_norm(x, size, alpha, beta, k), rtol=1e-12)


def test_the_window_is_the_papers_not_shifted_by_one():
    # the test above can only catch an off-by-one window when alpha is large enough to see it
    x = draw((1, 7, 2, 2))
    y = F.local_response_norm(x, size=5, alpha=0.5).data
    for wrong_size in (4, 6):
        assert np.abs(y - reference.local_response_norm(x, wrong_size, 0.5)).max() > 1e-2


def test_defaults_are_the_papers_constants():
    x = draw((1, 8, 2, 2))
    expected = reference.local_response_norm(x, 5, 1e-4, 0.75, 2.0)
    np.testing.assert_allclose(F.local_response_norm(x).data, expected, rtol=1e-12)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_gradcheck(xp, config):
    shape, size, alpha, beta, k = config
    x = xp.asarray(draw(shape, 1))
    gradcheck(lambda x: F.local_response_norm(x, size, alpha, beta, k), [x])  # raises when backward is wrong


def test_float32_stays_float32(xp):
    x = draw((2, 6, 3, 3))
    y = F.local_response_norm(xp.asarray(x, np.float32), alpha=0.5)
    assert y.dtype == np.float32
    np.testing.assert_allclose(to_cpu(y.data), reference.local_response_norm(x, 5, 0.5), rtol=1e-5)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_matches_pytorch_with_alpha_times_size(config):
    torch = pytest.importorskip("torch")
    shape, size, alpha, beta, k = config
    x = draw(shape, 2).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.local_response_norm(xt, size, alpha=alpha * size, beta=beta, k=k)  # torch divides by size
    ours = Tensor(x, requires_grad=True)
    y = F.local_response_norm(ours, size, alpha, beta, k)
    gy = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_docstring_says_how_to_convert_to_pytorch():
    doc = F.local_response_norm.__doc__
    assert "PyTorch" in doc and "Caffe" in doc and "alpha * size" in doc


def test_wrong_rank_and_dtype_are_refused():
    with pytest.raises(ValueError, match=r"local_response_norm: expected input of shape \(N, C, H, W\), got \(3, 4\)"):
        F.local_response_norm(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        F.local_response_norm(np.zeros((1, 3, 4, 4), np.uint8))


@pytest.mark.parametrize("size", [0, -1])
def test_size_below_one_is_refused(size):
    with pytest.raises(ValueError, match=r"local_response_norm: .*size"):
        F.local_response_norm(np.ones((1, 3, 2, 2), np.float32), size=size)


def test_an_empty_batch_goes_forward_and_backward():
    x = Tensor(np.zeros((0, 8, 5, 5), np.float32), requires_grad=True)
    y = F.local_response_norm(x)
    y.backward(np.zeros(y.shape, np.float32))
    assert y.shape == (0, 8, 5, 5) and x.grad.shape == (0, 8, 5, 5)


def test_under_no_grad_nothing_for_backward_is_kept_and_the_output_is_the_same():
    from tinyalex.engine.tensor import no_grad
    from tinyalex.ops.local_response_norm import LocalResponseNorm

    x = np.random.default_rng(0).standard_normal((3, 7, 4, 4)).astype(np.float32)
    with_grad = F.local_response_norm(Tensor(x, requires_grad=True), alpha=0.5)
    assert isinstance(with_grad.creator, LocalResponseNorm) and with_grad.creator.q.shape == x.shape
    op = LocalResponseNorm(alpha=0.5)
    with no_grad():
        y = op(Tensor(x, requires_grad=True))
    assert not {"x", "r", "q"} & set(vars(op))  # no copy of the input, no factors: 3x the input's memory saved
    np.testing.assert_array_equal(y.data, with_grad.data)
