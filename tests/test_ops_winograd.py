"""Winograd's F(2x2, 3x3): its matrices, and conv2d's Winograd path against its im2col path and numeric gradients."""
import numpy as np
import pytest

from tinyalex import Tensor, backend, gradcheck
from tinyalex import functional as F
from tinyalex.backend import to_cpu
from tinyalex.ops import winograd
from tinyalex.ops.conv2d import Conv2d
from tinyalex.ops.winograd import A_T, B_T, G, filter_gradient, filter_transform, kron
from tests import reference

# x shape, out channels, padding, groups
CONFIGS = [
    ((2, 4, 6, 6), 6, 1, 1),  # even output: whole tiles
    ((1, 4, 5, 7), 4, 1, 2),  # odd and non-square: the last tiles stick out
    ((3, 6, 7, 5), 3, 0, 3),  # no padding, three towers
    ((2, 2, 4, 4), 2, 2, 1),  # padding 2: output larger than the input
    ((1, 3, 3, 3), 5, 0, 1),  # a single output pixel
    ((2, 12, 13, 13), 8, 1, 2),  # AlexNet's conv4 geometry, fewer channels
]
IDS = [f"x{c[0]}-o{c[1]}-p{c[2]}-g{c[3]}".replace(" ", "") for c in CONFIGS]


def draw(config, dtype=np.float64, seed=0):
    x_shape, out, _, groups = config
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((out, x_shape[1] // groups, 3, 3)).astype(dtype)
    return x, w, rng.standard_normal(out).astype(dtype)


def run(algorithm, x, w, b, padding, groups, gy, needs=(True, True, True)):
    """Forward and backward of one Conv2d op; returns y and the gradients backward gave."""
    op = Conv2d(1, padding, groups, algorithm)
    op.needs_input_grad = needs
    y = op.forward(x, w, b)
    return (y, *op.backward(gy)), op


def test_one_tile_is_a_3x3_correlation():
    """Y = A^T [(G g G^T) * (B^T d B)] A is the 2x2 valid correlation of the 4x4 tile d with g."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    y = A_T @ ((G @ g @ G.T) * (B_T @ d @ B_T.T)) @ A_T.T
    direct = np.array([[np.sum(d[i : i + 3, j : j + 3] * g) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(y, direct, rtol=1e-12)


def test_kron_applies_the_transform_to_a_flattened_tile():
    t = np.random.default_rng(1).standard_normal((4, 4))
    np.testing.assert_allclose(kron(B_T, t) @ t.ravel(), (B_T @ t @ B_T.T).ravel(), rtol=1e-12)
    np.testing.assert_allclose(kron(A_T, t) @ t.ravel(), (A_T @ t @ A_T.T).ravel(), rtol=1e-12)


def test_filter_gradient_is_the_adjoint_of_filter_transform():
    """<U(w), dU> = <w, U^T(dU)> for random w and dU: backward through the filter transform is exact."""
    rng = np.random.default_rng(2)
    w, gu = rng.standard_normal((6, 4, 3, 3)), rng.standard_normal((16, 2, 3, 4))
    assert filter_transform(w, 2).shape == gu.shape
    np.testing.assert_allclose(np.sum(filter_transform(w, 2) * gu), np.sum(w * filter_gradient(gu, w.shape)), rtol=1e-12)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_forward_matches_nested_loops(config):
    x, w, b = draw(config)
    _, _, padding, groups = config
    y = F.conv2d(x, w, b, padding=padding, groups=groups, algorithm="winograd")
    np.testing.assert_allclose(y.data, reference.conv2d(x, w, b, 1, padding, groups), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-11), (np.float32, 1e-5)])
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_gradients_match_the_im2col_path(config, dtype, rtol):
    x, w, b = draw(config, dtype)
    _, _, padding, groups = config
    gy = np.random.default_rng(3).standard_normal(reference.conv2d(x, w, b, 1, padding, groups).shape).astype(dtype)
    (winograd_results, op), (im2col_results, _) = (run(a, x, w, b, padding, groups, gy) for a in ("winograd", "im2col"))
    assert op.u is not None  # the Winograd path was taken
    for name, got, expected in zip(("y", "dx", "dw", "db"), winograd_results, im2col_results):
        assert got.dtype == dtype, name
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max(), err_msg=name)


@pytest.mark.parametrize("config", CONFIGS[:3], ids=IDS[:3])
def test_gradcheck(config):
    _, _, padding, groups = config
    inputs = draw(config, seed=4)
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=padding, groups=groups, algorithm="winograd"), inputs)


@pytest.mark.parametrize("needs", [(True, False, True), (False, True, False), (True, True)])
def test_only_the_wanted_gradients(needs):
    config = CONFIGS[1]
    x, w, b = draw(config)
    bias = b if len(needs) == 3 else None
    gy = np.random.default_rng(5).standard_normal((1, 4, 5, 7))
    (_, *got), op = run("winograd", x, w, bias, 1, 2, gy, needs)
    (_, *expected), _ = run("im2col", x, w, bias, 1, 2, gy, (True, True, True)[: len(needs)])
    assert (op.kept is None) == (not needs[1])  # V is kept for the filter gradient only
    for want, g, e in zip(needs, got, expected):
        assert (g is None) == (not want)
        if want:
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-12)


def test_chunks_of_the_batch_give_the_same_result(monkeypatch):
    """Many small chunks, spread over the op threads, give what one chunk gives (to rounding), every time."""
    x, w, b = draw(((8, 6, 9, 9), 4, 1, 2), np.float32)
    gy = np.random.default_rng(6).standard_normal((8, 4, 9, 9)).astype(np.float32)
    one = run("winograd", x, w, b, 1, 2, gy)[0]
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)  # one image per chunk
    many, again = run("winograd", x, w, b, 1, 2, gy)[0], run("winograd", x, w, b, 1, 2, gy)[0]
    for a, m, r in zip(one, many, again):
        np.testing.assert_allclose(m, a, rtol=1e-5, atol=1e-5 * np.abs(a).max())
        np.testing.assert_array_equal(m, r)


def test_backward_uses_the_parts_forward_kept_v_for(monkeypatch):
    """A chunk size changed between forward and backward does not pair one part's V with another's dY."""
    x, w, b = draw(((6, 4, 7, 7), 6, 1, 2), np.float32)
    gy = np.random.default_rng(7).standard_normal((6, 6, 7, 7)).astype(np.float32)
    expected = run("im2col", x, w, b, 1, 2, gy)[0]
    op = Conv2d(1, 1, 2, "winograd")
    op.needs_input_grad = (True, True, True)
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    op.forward(x, w, b)
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 2**30)
    for got, e in zip(op.backward(gy), expected[1:]):
        np.testing.assert_allclose(got, e, rtol=1e-5, atol=1e-5 * np.abs(e).max())


def test_a_retained_graph_gives_the_same_gradients_twice():
    x, w, b = draw(CONFIGS[1])
    inputs = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv2d(*inputs, padding=1, groups=2, algorithm="winograd")
    gy = np.random.default_rng(8).standard_normal(y.shape)
    y.backward(gy, retain_graph=True)
    first = [t.grad.copy() for t in inputs]
    y.backward(gy)
    for t, g in zip(inputs, first):
        np.testing.assert_allclose(t.grad, 2 * g, rtol=1e-12)


def test_an_empty_batch():
    x, w, b = draw(((0, 4, 6, 6), 6, 1, 2))
    y, gx, gw, gb = run("winograd", x, w, b, 1, 2, np.zeros((0, 6, 6, 6)))[0]
    assert y.shape == (0, 6, 6, 6) and gx.shape == x.shape
    np.testing.assert_array_equal(gw, 0)
    np.testing.assert_array_equal(gb, 0)


def test_auto_takes_winograd_for_wide_3x3_stride_1_kernels_on_the_cpu():
    def takes_winograd(w_shape, stride=1, groups=1):
        op = Conv2d(stride, 1, groups)
        op.needs_input_grad = (True, True)
        op.forward(np.ones((1, w_shape[1] * groups, 6, 6), np.float32), np.ones(w_shape, np.float32))
        return op.u is not None

    assert takes_winograd((128, 128, 3, 3))  # 128 x 128 channels per tower: WINOGRAD_MIN_PRODUCT
    assert not takes_winograd((127, 128, 3, 3))  # narrower
    assert not takes_winograd((128, 64, 3, 3), groups=2)  # two towers of 64 x 64
    assert not takes_winograd((128, 128, 3, 3), stride=2)
    assert not takes_winograd((128, 128, 5, 5))


def test_winograd_refuses_what_it_cannot_compute():
    x, w, b = draw(CONFIGS[0])
    with pytest.raises(ValueError, match=r"3x3 kernel at stride 1, got a 5x5 kernel at stride \(1, 1\)"):
        F.conv2d(x, np.ones((6, 4, 5, 5)), algorithm="winograd")
    with pytest.raises(ValueError, match=r"3x3 kernel at stride 1, got a 3x3 kernel at stride \(2, 2\)"):
        F.conv2d(x, w, stride=2, algorithm="winograd")
    with pytest.raises(ValueError, match="algorithm must be one of .*'fft'"):
        F.conv2d(x, w, algorithm="fft")


@pytest.mark.gpu
def test_winograd_on_the_gpu_matches_the_cpu():
    """The same code path runs on CuPy (conv2d's "auto" keeps im2col there) and gives the CPU's result."""
    cp = backend.require_gpu()
    x, w, b = draw(CONFIGS[5], np.float32)
    results = []
    for xp in (cp, np):
        inputs = [Tensor(xp.asarray(a), requires_grad=True) for a in (x, w, b)]
        F.conv2d(*inputs, padding=1, groups=2, algorithm="winograd").sum().backward()
        results.append([to_cpu(t.grad) for t in inputs])
    for gpu, cpu in zip(*results):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-4 * np.abs(cpu).max())
