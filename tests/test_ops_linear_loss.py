"""linear, flatten, softmax cross-entropy, softmax and log_softmax: loops, gradcheck and PyTorch."""
import numpy as np
import pytest

from tinyalex import Tensor, gradcheck
from tinyalex import functional as F
from tinyalex.backend import to_cpu
from tests import reference


def draw(*shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


@pytest.mark.parametrize("n, fan_in, fan_out", [(3, 5, 4), (1, 7, 2)])
def test_linear_matches_loops_and_gradcheck(xp, n, fan_in, fan_out):
    x, w, b = draw(n, fan_in), draw(fan_out, fan_in, seed=1), draw(fan_out, seed=2)
    y = F.linear(xp.asarray(x), xp.asarray(w), xp.asarray(b))
    np.testing.assert_allclose(to_cpu(y.data), reference.linear(x, w, b), rtol=1e-12)
    np.testing.assert_allclose(to_cpu(F.linear(xp.asarray(x), xp.asarray(w)).data), reference.linear(x, w), rtol=1e-12)
    gradcheck(F.linear, [xp.asarray(a) for a in (x, w, b)])  # raises when backward is wrong
    gradcheck(F.linear, [xp.asarray(a) for a in (x, w)])


def test_linear_refuses_wrong_input():
    w = np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match=r"linear: expected input of shape \(N, 5\), got \(2, 4\)"):
        F.linear(np.zeros((2, 4), np.float32), w)
    with pytest.raises(ValueError, match=r"\(N, 5\), got \(2, 5, 1\)"):
        F.linear(np.zeros((2, 5, 1), np.float32), w)
    with pytest.raises(ValueError, match="int64"):
        F.linear(np.zeros((2, 5), np.int64), w)


def test_flatten_keeps_the_batch_axis(xp):
    x = Tensor(xp.asarray(draw(2, 3, 2, 2)), requires_grad=True)
    y = F.flatten(x)
    assert y.shape == (2, 12)
    np.testing.assert_array_equal(to_cpu(y.data), to_cpu(x.data).reshape(2, 12))
    gradcheck(F.flatten, [x.data])


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_cross_entropy_matches_loops_and_gradcheck(xp, scale):
    z, labels = draw(4, 6, scale=scale), np.array([5, 0, 2, 2])
    loss = F.softmax_cross_entropy(xp.asarray(z), labels)
    assert loss.shape == () and loss.dtype == np.float64
    assert float(loss.data) == pytest.approx(reference.softmax_cross_entropy(z, labels), rel=1e-12)
    gradcheck(lambda z: F.softmax_cross_entropy(z, xp.asarray(labels)), [xp.asarray(z)])


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    z = Tensor(draw(3, 4), requires_grad=True)
    labels = np.array([1, 3, 0])
    F.softmax_cross_entropy(z, labels).backward()
    p = np.exp(z.data) / np.exp(z.data).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad, (p - np.eye(4)[labels]) / 3, rtol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1e4, 0.0, -1e4], [5e3, 5e3, 0.0]], np.float32)
    t = Tensor(z, requires_grad=True)
    loss = F.softmax_cross_entropy(t, np.array([1, 0]))
    t_loss = float(loss.data)
    assert np.isfinite(t_loss) and t_loss == pytest.approx((1e4 + np.log(2)) / 2, rel=1e-6)
    loss.backward()
    assert np.all(np.isfinite(t.grad))


def test_cross_entropy_accepts_lists_and_tensors_of_labels():
    z = draw(2, 3)
    expected = reference.softmax_cross_entropy(z, [2, 1])
    assert float(F.softmax_cross_entropy(z, [2, 1]).data) == pytest.approx(expected)
    assert float(F.softmax_cross_entropy(z, Tensor(np.array([2, 1]))).data) == pytest.approx(expected)


@pytest.mark.parametrize(
    "labels, shape, message",
    [
        ([0, 3], (2, 3), r"labels must be integers in \[0, 3\)"),
        ([0, -1], (2, 3), r"labels must be integers in \[0, 3\)"),
        ([0.0, 1.0], (2, 3), r"labels must be integers"),
        ([0, 1, 2], (2, 3), r"expected logits \(N, K\) and labels \(N,\), got \(2, 3\) and \(3,\)"),
        ([0, 1], (2, 3, 1), r"expected logits \(N, K\)"),
    ],
)
def test_cross_entropy_refuses_bad_labels(labels, shape, message):
    with pytest.raises(ValueError, match=message):
        F.softmax_cross_entropy(np.zeros(shape, np.float32), np.array(labels))


def test_softmax_and_log_softmax(xp):
    z = draw(3, 5, scale=3)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(to_cpu(F.softmax(xp.asarray(z)).data), p, rtol=1e-12)
    np.testing.assert_allclose(to_cpu(F.log_softmax(xp.asarray(z)).data), np.log(p), rtol=1e-12)
    gradcheck(F.softmax, [xp.asarray(z)])  # raises when backward is wrong
    gradcheck(F.log_softmax, [xp.asarray(z)])
    huge = F.softmax(np.array([[1e4, 0.0], [-1e4, -1e4]], np.float32)).data
    np.testing.assert_allclose(huge, [[1.0, 0.0], [0.5, 0.5]])


def test_loss_and_softmax_match_pytorch():
    torch = pytest.importorskip("torch")
    z = draw(5, 7, scale=4).astype(np.float32)
    labels = np.array([0, 6, 3, 3, 1])
    ours = Tensor(z, requires_grad=True)
    loss = F.softmax_cross_entropy(ours, labels)
    loss.backward()
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(zt, torch.tensor(labels))
    lt.backward()
    assert float(loss.data) == pytest.approx(lt.item(), rel=1e-5)
    np.testing.assert_allclose(ours.grad, zt.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(F.log_softmax(z).data, torch.log_softmax(torch.tensor(z), 1).numpy(), rtol=1e-5, atol=1e-6)


def test_linear_matches_pytorch():
    torch = pytest.importorskip("torch")
    x, w, b = (a.astype(np.float32) for a in (draw(4, 6), draw(3, 6, seed=1), draw(3, seed=2)))
    ours = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.linear(*ours)
    gy = draw(4, 3, seed=3).astype(np.float32)
    y.backward(gy)
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    yt = torch.nn.functional.linear(*theirs)
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    for mine, their in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad, their.grad.numpy(), rtol=1e-5, atol=1e-6)
