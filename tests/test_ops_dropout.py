"""dropout: inverted dropout whose test-time output is the expected training-time output."""
import numpy as np
import pytest

from tinyalex import Tensor, gradcheck
from tinyalex import functional as F
from tinyalex import nn
from tinyalex.backend import to_cpu, to_gpu


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_p_outside_zero_to_one_is_refused(p):
    with pytest.raises(ValueError, match=rf"dropout: p must be in \[0, 1\), got {p}"):
        F.dropout(np.ones(3, np.float32), p)
    with pytest.raises(ValueError, match=rf"dropout: p must be in \[0, 1\), got {p}"):
        nn.Dropout(p)  # when the layer is built, not at its first training step


def test_test_time_and_p_zero_are_the_identity(xp):
    x = xp.asarray(np.random.default_rng(0).standard_normal((3, 4)))
    for y in (F.dropout(x, 0.5, training=False), F.dropout(x, 0.0)):
        assert to_cpu(y.data).tolist() == to_cpu(x).tolist()


@pytest.mark.parametrize("p", [0.5, 0.2, 0.9])
def test_kept_units_are_scaled_by_one_over_keep_probability(xp, p):
    x = xp.asarray(np.random.default_rng(1).standard_normal((50, 40)) + 5)  # no zeros of its own
    y = to_cpu(F.dropout(x, p, rng=np.random.default_rng(2)).data)
    kept = y != 0
    np.testing.assert_allclose(y[kept], to_cpu(x)[kept] / (1 - p), rtol=1e-12)
    # the dropped fraction is binomial(2000, p): within 5 standard deviations of p
    assert abs((1 - kept.mean()) - p) < 5 * np.sqrt(p * (1 - p) / kept.size)


def test_expected_training_output_is_the_test_output():
    x = np.random.default_rng(3).standard_normal(20)
    rng = np.random.default_rng(4)
    trials = np.stack([F.dropout(x, 0.5, rng=rng).data for _ in range(20000)])
    # each unit's mean over 20000 draws of x_i * {0, 2} has standard deviation |x_i| / sqrt(20000)
    assert np.all(np.abs(trials.mean(axis=0) - x) < 5 * np.abs(x) / np.sqrt(len(trials)))
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).data, x)


def test_layer_expected_value_in_train_equals_eval():
    layer = nn.Dropout(0.5, rng=5)
    x = np.full((200, 500), 2.0, np.float32)
    train_mean = float(layer(x).data.mean())
    layer.eval()
    assert np.array_equal(layer(x).data, x)
    assert abs(train_mean - 2.0) < 5 * 2.0 / np.sqrt(x.size)  # mean of 1e5 draws of {0, 4}: sd 2 / sqrt(1e5)


def test_one_seed_gives_one_mask():
    x = np.ones((8, 8), np.float32)
    first = F.dropout(x, 0.5, rng=np.random.default_rng(7)).data
    second = F.dropout(x, 0.5, rng=np.random.default_rng(7)).data
    other = F.dropout(x, 0.5, rng=np.random.default_rng(8)).data
    assert np.array_equal(first, second) and not np.array_equal(first, other)
    a, b = nn.Dropout(0.5, rng=9), nn.Dropout(0.5, rng=9)
    assert np.array_equal(a(x).data, b(x).data)  # two layers seeded alike drop alike
    assert not np.array_equal(a(x).data, a(x).data)  # and each call draws a fresh mask


def test_backward_uses_the_forward_mask(xp):
    x = Tensor(xp.asarray(np.random.default_rng(10).standard_normal((6, 7)) + 5), requires_grad=True)
    y = F.dropout(x, 0.4, rng=np.random.default_rng(11))
    gy = np.random.default_rng(12).standard_normal((6, 7))
    y.backward(xp.asarray(gy))
    mask = to_cpu(y.data) / to_cpu(x.data)  # 0 or 1 / 0.6 per unit
    np.testing.assert_allclose(to_cpu(x.grad), gy * mask, rtol=1e-12)


def test_gradcheck_with_a_fixed_mask(xp):
    x = xp.asarray(np.random.default_rng(13).standard_normal((4, 5)))
    gradcheck(lambda x: F.dropout(x, 0.3, rng=np.random.default_rng(14)), [x])  # raises when backward is wrong


def test_dtype_is_kept(xp):
    x = xp.ones((4, 4), dtype=np.float32)
    assert F.dropout(x, 0.5, rng=np.random.default_rng(0)).dtype == np.float32


@pytest.mark.gpu
def test_masks_are_the_same_on_cpu_and_gpu():
    x = np.ones((16, 16), np.float32)
    on_cpu = F.dropout(x, 0.5, rng=np.random.default_rng(15)).data
    on_gpu = F.dropout(to_gpu(x), 0.5, rng=np.random.default_rng(15)).data
    np.testing.assert_array_equal(to_cpu(on_gpu), on_cpu)
