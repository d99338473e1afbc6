"""relu and tanh: values, gradients, and the gradient at ReLU's kink."""
import numpy as np
import pytest

from tinyalex import Tensor, gradcheck
from tinyalex import functional as F
from tinyalex.backend import to_cpu
from tinyalex.checks import distinct


def test_relu_values_and_gradient(xp):
    x = Tensor(xp.asarray([[-2.0, -0.5, 0.0, 0.5, 3.0]]), requires_grad=True)
    y = F.relu(x)
    assert to_cpu(y.data).tolist() == [[0.0, 0.0, 0.0, 0.5, 3.0]]
    y.backward(xp.asarray([[1.0, 2.0, 3.0, 4.0, 5.0]]))
    assert to_cpu(x.grad).tolist() == [[0.0, 0.0, 0.0, 4.0, 5.0]]  # 0 at the kink, as PyTorch


def test_tanh_values(xp):
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(to_cpu(F.tanh(xp.asarray(x)).data), np.tanh(x), rtol=1e-12)


@pytest.mark.parametrize("fn", [F.relu, F.tanh])
def test_gradcheck(xp, fn):
    x = xp.asarray(distinct(np.random.default_rng(0), 2, 3, 4, 5))  # no value near ReLU's kink
    gradcheck(fn, [x])  # raises when backward is wrong


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(xp, dtype):
    x = xp.asarray([-1.0, 1.0], dtype=dtype)
    assert F.relu(x).dtype == dtype and F.tanh(x).dtype == dtype
