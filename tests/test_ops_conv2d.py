"""conv2d: forward against direct nested-loop convolution, gradients by gradcheck and against PyTorch."""
import numpy as np
import pytest

from tinyalex import Tensor, gradcheck
from tinyalex import functional as F
from tinyalex.backend import to_cpu
from tests import reference

# x shape, weight shape, stride, padding, groups
CONFIGS = [
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 0, 1),
    ((1, 4, 7, 6), (6, 2, 3, 2), 2, 1, 2),  # batch 1, two towers, non-square input and kernel
    ((2, 2, 6, 5), (3, 2, 2, 3), (2, 1), (0, 2), 1),  # stride and padding as pairs
    ((1, 6, 9, 7), (4, 3, 5, 3), (3, 2), (2, 1), 2),  # odd sizes, stride 3 leaves pixels unused
    ((2, 3, 4, 4), (5, 3, 1, 1), 1, 0, 1),  # 1x1
    ((1, 2, 3, 3), (2, 1, 3, 3), 1, 0, 2),  # one output pixel per filter
    ((1, 1, 13, 13), (2, 1, 11, 11), 4, 2, 1),  # conv1's kernel and stride
    ((2, 12, 4, 5), (4, 6, 3, 3), 1, 1, 2),  # towers of 6 channels >= 5 output columns: channels-last col2im
]
IDS = [f"x{c[0]}-w{c[1]}-s{c[2]}-p{c[3]}-g{c[4]}".replace(" ", "") for c in CONFIGS]


def draw(config, seed=0):
    x_shape, w_shape = config[:2]
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_forward_matches_nested_loops(xp, config):
    x, w, b = draw(config)
    stride, padding, groups = config[2:]
    expected = reference.conv2d(x, w, b, stride, padding, groups)
    y = F.conv2d(xp.asarray(x), xp.asarray(w), xp.asarray(b), stride=stride, padding=padding, groups=groups)
    assert y.shape == expected.shape
    np.testing.assert_allclose(to_cpu(y.data), expected, rtol=1e-10, atol=1e-12)
    no_bias = F.conv2d(xp.asarray(x), xp.asarray(w), stride=stride, padding=padding, groups=groups)
    expected = reference.conv2d(x, w, None, stride, padding, groups)
    np.testing.assert_allclose(to_cpu(no_bias.data), expected, rtol=1e-10, atol=1e-12)


def test_float32_stays_float32_and_close_to_the_float64_reference(xp):
    x, w, b = draw(CONFIGS[1])
    y = F.conv2d(xp.asarray(x, np.float32), xp.asarray(w, np.float32), xp.asarray(b, np.float32), 2, 1, 2)
    assert y.dtype == np.float32
    np.testing.assert_allclose(to_cpu(y.data), reference.conv2d(x, w, b, 2, 1, 2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_gradcheck(xp, config):
    stride, padding, groups = config[2:]
    inputs = [xp.asarray(a) for a in draw(config, seed=1)]
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, groups), inputs)  # raises when backward is wrong


def test_weight_gradient_alone_when_the_input_needs_none(xp):
    x, w, b = (xp.asarray(a) for a in draw(CONFIGS[1]))
    gy = xp.asarray(np.random.default_rng(2).standard_normal((1, 6, 4, 4)))
    full = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    F.conv2d(*full, stride=2, padding=1, groups=2).backward(gy)
    image, weight = Tensor(x), Tensor(w, requires_grad=True)
    F.conv2d(image, weight, stride=2, padding=1, groups=2).backward(gy)
    assert image.grad is None
    np.testing.assert_allclose(to_cpu(weight.grad), to_cpu(full[1].grad), rtol=1e-12)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_forward_and_gradients_match_pytorch(config):
    torch = pytest.importorskip("torch")
    stride, padding, groups = config[2:]
    x, w, b = (a.astype(np.float32) for a in draw(config, seed=3))
    ours = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv2d(*ours, stride=stride, padding=padding, groups=groups)
    gy = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = torch.nn.functional.conv2d(*theirs, stride=stride, padding=padding, groups=groups)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    for mine, torch_tensor in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad, torch_tensor.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_wrong_channel_count_names_expected_and_given_shape():
    with pytest.raises(ValueError) as error:
        F.conv2d(np.zeros((2, 5, 8, 8), np.float32), np.zeros((4, 3, 3, 3), np.float32))
    assert "conv2d" in str(error.value) and "(N, 3, H, W)" in str(error.value) and "(2, 5, 8, 8)" in str(error.value)
    with pytest.raises(ValueError, match=r"\(N, 6, H, W\)"):  # weight (4, 3, ...) with groups=2 wants 6 channels
        F.conv2d(np.zeros((2, 3, 8, 8), np.float32), np.zeros((4, 3, 3, 3), np.float32), groups=2)


def test_wrong_rank_dtype_groups_and_kernel_size_are_refused():
    w = np.zeros((4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"\(3, 8, 8\)"):
        F.conv2d(np.zeros((3, 8, 8), np.float32), w)
    with pytest.raises(ValueError, match="int64"):
        F.conv2d(np.zeros((1, 3, 8, 8), np.int64), w)
    with pytest.raises(ValueError, match="groups"):
        F.conv2d(np.zeros((1, 6, 8, 8), np.float32), np.zeros((3, 3, 3, 3), np.float32), groups=2)
    with pytest.raises(ValueError, match=r"kernel 3x3 is larger than the padded input 2x4"):
        F.conv2d(np.zeros((1, 3, 2, 2), np.float32), w, padding=(0, 1))
    F.conv2d(np.zeros((1, 3, 1, 1), np.float32), w, padding=1)  # padding makes room: fine


def test_mixed_precisions_compute_in_the_wider_one():
    """float32 images into a float64 layer give the float64 result, as NumPy's promotion would."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3))
    y = F.conv2d(x, w)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.data, F.conv2d(x.astype(np.float64), w).data, rtol=1e-13)
