"""The ops' CUDA kernels against their NumPy paths: run on the CPU by g++ (tests/cuda_emulator.py), and on a GPU.

Each emulated test runs an op's whole GPU path (the launches, their arguments and the kernel
sources) on NumPy arrays and compares it with the NumPy path on random shapes: odd sizes,
padding, strides and towers. The same comparisons run on CuPy arrays where a GPU is present
(`gpu` tests skip without one), and every kernel source is compiled by nvcc where it is installed.
"""
import shutil
import subprocess

import numpy as np
import pytest

from tinyalex import Tensor
from tinyalex import functional as F
from tinyalex.backend import to_cpu
from tinyalex.ops import cuda
from tinyalex.ops import dropout as dropout_module
from tinyalex.ops import im2col as im2col_module
from tinyalex.ops import local_response_norm as lrn_module
from tinyalex.ops import max_pool2d as pool_module
from tinyalex.optim import momentum_sgd
from tests import cuda_emulator, reference

needs_compiler = pytest.mark.skipif(cuda_emulator.compiler_missing() is not None, reason="g++ not found")
KERNELS = [(pool_module.FORWARD_KERNEL, "max_pool_forward"), (pool_module.BACKWARD_KERNEL, "max_pool_backward"),
           (lrn_module.FORWARD_KERNEL, "lrn_forward"), (lrn_module.BACKWARD_KERNEL, "lrn_backward"),
           (im2col_module.IM2COL_KERNEL, "im2col"), (im2col_module.COL2IM_KERNEL, "col2im"),
           (dropout_module.MASK_KERNEL, "dropout_mask"), (momentum_sgd.UPDATE_KERNEL, "momentum_sgd")]


@pytest.fixture
def emulated(monkeypatch):
    """The ops take their kernel path on NumPy arrays, each kernel run on the CPU."""
    if cuda_emulator.compiler_missing():
        pytest.skip(cuda_emulator.compiler_missing())
    cuda_emulator.emulate_gpu(monkeypatch)


def forward_backward(fn, x, gy_seed=1, xp=np):
    """fn(x)'s output and dL/dx for a random upstream gradient, as NumPy arrays."""
    t = Tensor(xp.asarray(x), requires_grad=True)
    y = fn(t)
    gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(x.dtype)
    y.backward(xp.asarray(gy))
    return to_cpu(y.data), to_cpu(t.grad)


# the launcher's own checks

SCALE = r"""
extern "C" __global__ void scale(long long n, const T* x, T* y, T a, unsigned char* flags, int offset)
{
    for (long long i = FIRST_INDEX; i < n; i += INDEX_STRIDE) { y[i] = a * x[i] + offset; flags[i] = x[i] > 0; }
}
"""


def test_every_kernel_of_tinyalex_is_tested_here():
    assert sorted(KERNELS, key=lambda k: k[1]) == sorted(cuda_emulator.all_kernels(), key=lambda k: k[1])


def test_the_signature_is_read_from_the_source():
    assert cuda.signature(SCALE, "scale") == (("long long", False), ("T", True), ("T", True), ("T", False),
                                              ("unsigned char", True), ("int", False))
    with pytest.raises(ValueError, match="no kernel named 'shift'"):
        cuda.signature(SCALE, "shift")


def test_numbers_take_the_declared_types():
    x, y, flags = np.ones(4, np.float64), np.empty(4), np.empty(4, np.uint8)
    args = cuda.arguments(SCALE, "scale", np.float64, (4, x, y, 2, flags, 3))
    assert [type(a) for a in args] == [np.int64, np.ndarray, np.ndarray, np.float64, np.ndarray, np.int32]


@pytest.mark.parametrize("bad, message", [
    ((4, np.ones(4, np.float32), np.empty(4), 2.0, np.empty(4, np.uint8), 3),
     "argument 1 must be a C-contiguous float64 array, got a float32 array"),
    ((4, np.ones((2, 4))[:, ::2], np.empty(4), 2.0, np.empty(4, np.uint8), 3), "C-contiguous: False"),
    ((4, [1.0] * 4, np.empty(4), 2.0, np.empty(4, np.uint8), 3), r"got \[1.0, 1.0, 1.0, 1.0\]"),
    ((4, np.ones(4), np.empty(4), 2.0, np.empty(4, np.int8), 3), "argument 4 must be a C-contiguous uint8"),
    ((4, np.ones(4), np.empty(4), 2.0), "takes 6 arguments, got 4"),
])
def test_wrong_arguments_are_refused_with_what_was_expected(bad, message):
    with pytest.raises(TypeError, match=message):
        cuda.arguments(SCALE, "scale", np.float64, bad)


def test_kernels_run_in_float32_or_float64_only():
    with pytest.raises(TypeError, match="float32 or float64, got float16"):
        cuda.source_for(SCALE, np.float16)


@needs_compiler
def test_the_emulator_runs_every_thread_of_a_grid_stride_loop():
    n = 1000  # over ten times the emulator's 96 threads
    x = np.linspace(-1, 1, n)
    y, flags = np.empty(n), np.empty(n, np.uint8)
    cuda_emulator.launch(SCALE, "scale", np.float64, n, x, y, 2.0, flags, 3)
    np.testing.assert_array_equal(y, 2 * x + 3)
    np.testing.assert_array_equal(flags, x > 0)


# max pooling

POOLS = [((2, 3, 7, 7), 3, 2, 0), ((1, 2, 6, 4), 2, None, 0), ((1, 2, 5, 8), (2, 3), (1, 2), 0),
         ((3, 2, 6, 5), 3, 2, 1), ((1, 3, 4, 4), (3, 1), (3, 1), (1, 0)), ((2, 4, 13, 13), 3, 2, 0)]


@pytest.mark.parametrize("config", POOLS)
def test_max_pool_kernels_match_the_loops_ties_included(emulated, config):
    shape, kernel, stride, padding = config
    x = np.random.default_rng(0).integers(-1, 2, shape).astype(np.float64)  # ties in most windows
    y, gx = forward_backward(lambda t: F.max_pool2d(t, kernel, stride, padding), x)
    np.testing.assert_array_equal(y, reference.max_pool2d(x, kernel, stride, padding))
    gy = np.random.default_rng(1).standard_normal(y.shape)
    np.testing.assert_allclose(gx, reference.max_pool2d_grad(x, gy, kernel, stride, padding), rtol=1e-12)


def test_max_pool_kernels_sum_overlapping_windows_exactly_as_the_cpu_does(emulated, monkeypatch):
    x = np.random.default_rng(2).standard_normal((2, 5, 15, 15)).astype(np.float32)
    x[:, :, ::2, ::2] += 9  # pixels that win up to four overlapping windows
    kernel_y, kernel_gx = forward_backward(lambda t: F.max_pool2d(t, 3, 2), x)
    monkeypatch.setattr(cuda, "runs_kernels", lambda xp: False)
    numpy_y, numpy_gx = forward_backward(lambda t: F.max_pool2d(t, 3, 2), x)
    np.testing.assert_array_equal(kernel_y, numpy_y)
    np.testing.assert_array_equal(kernel_gx, numpy_gx)


def test_max_pool_kernel_lets_a_nan_through(emulated):
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 3] = np.nan
    y = F.max_pool2d(x, 3, 2).data
    assert np.isnan(y[0, 0, :, 1]).all() and not np.isnan(y[0, 0, :, 0]).any()


def test_max_pool_kernel_sends_a_nan_windows_gradient_to_its_last_nan_as_the_cpu_does(emulated, monkeypatch):
    """The kernel sent it to the window's largest value, the CPU to the largest before the NaN."""
    from tests.test_ops_pooling import nan_case

    x, _ = nan_case()
    kernel_y, kernel_gx = forward_backward(lambda t: F.max_pool2d(t, 3, 2), x)
    monkeypatch.setattr(cuda, "runs_kernels", lambda xp: False)
    numpy_y, numpy_gx = forward_backward(lambda t: F.max_pool2d(t, 3, 2), x)
    np.testing.assert_array_equal(kernel_y, numpy_y)
    np.testing.assert_array_equal(kernel_gx, numpy_gx)
    assert kernel_gx[0, 0, 2, 4] != 0 and not np.isnan(kernel_gx).any()


def test_max_pool_kernel_keeps_no_argmax_under_no_grad(emulated):
    from tinyalex import no_grad
    from tinyalex.ops.max_pool2d import MaxPool2d

    op = MaxPool2d(3, 2)
    op.needs_input_grad = (False,)
    op.forward(np.ones((1, 2, 7, 7)))
    assert op.argmax is None
    with no_grad():
        assert F.max_pool2d(np.ones((0, 2, 7, 7)), 3, 2).shape == (0, 2, 3, 3)


# local response normalization

LRNS = [((2, 7, 3, 5), 5, 1e-4, 0.75, 2.0), ((1, 96, 4, 4), 5, 1e-4, 0.75, 2.0), ((3, 4, 5, 1), 4, 0.3, 0.6, 1.0),
        ((1, 3, 2, 2), 7, 0.5, 0.75, 2.0), ((2, 9, 3, 3), 1, 0.2, 1.0, 0.5)]


@pytest.mark.parametrize("config", LRNS)
def test_lrn_kernels_match_the_numpy_path(emulated, monkeypatch, config):
    """A large alpha, so that a window off by one channel shows; an even size; windows wider than the channels."""
    shape, size, alpha, beta, k = config
    x = np.random.default_rng(3).standard_normal(shape) * 3
    lrn = lambda t: F.local_response_norm(t, size, alpha, beta, k)  # noqa: E731
    kernel_y, kernel_gx = forward_backward(lrn, x)
    monkeypatch.setattr(cuda, "runs_kernels", lambda xp: False)
    numpy_y, numpy_gx = forward_backward(lrn, x)
    np.testing.assert_allclose(kernel_y, numpy_y, rtol=1e-12)
    np.testing.assert_allclose(kernel_gx, numpy_gx, rtol=1e-10, atol=1e-12)


def test_lrn_kernel_keeps_only_x(emulated):
    from tinyalex.ops.local_response_norm import LocalResponseNorm

    op = LocalResponseNorm()
    op.needs_input_grad = (True,)
    x = np.ones((1, 6, 2, 2), np.float32)
    op.forward(x)
    assert op.x is x and not hasattr(op, "r") and not hasattr(op, "q")


def test_a_float64_upstream_gradient_reaches_the_float32_kernels_as_float32(emulated):
    """y.backward(rng.standard_normal(y.shape)) on a float32 net: the kernels are compiled for x's dtype."""
    x = np.random.default_rng(0).standard_normal((2, 6, 9, 9)).astype(np.float32)
    t = Tensor(x, requires_grad=True)
    y = F.local_response_norm(F.max_pool2d(t, 3, 2))
    y.backward(np.random.default_rng(1).standard_normal(y.shape))  # float64
    assert t.grad.dtype == np.float32
    _, expected = forward_backward(lambda v: F.local_response_norm(F.max_pool2d(v, 3, 2)), x)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-5, atol=1e-6)


# convolution: im2col and col2im

# x shape, weight shape, stride, padding, groups
CONVS = [((2, 3, 19, 19), (4, 3, 11, 11), 4, 2, 1),  # conv1's shape, smaller
         ((2, 4, 7, 7), (6, 2, 5, 5), 1, 2, 2),  # conv2: two towers
         ((1, 6, 5, 6), (4, 3, 3, 3), 1, 1, 2),  # conv4 and conv5
         ((3, 2, 6, 9), (3, 2, 2, 3), (2, 1), (0, 2), 1),  # non-square everything
         ((1, 3, 4, 4), (3, 1, 4, 4), 1, 0, 3)]  # three towers, one output pixel


def conv_gradients(x, w, b, stride, padding, groups, xp=np):
    """The convolution's output and its gradients with respect to x, w and b, as NumPy arrays."""
    tensors = [Tensor(xp.asarray(a), requires_grad=True) for a in (x, w, b)]
    y = F.conv2d(*tensors, stride=stride, padding=padding, groups=groups, algorithm="im2col")
    y.backward(xp.asarray(np.random.default_rng(7).standard_normal(y.shape).astype(x.dtype)))
    return [to_cpu(y.data)] + [to_cpu(t.grad) for t in tensors]


def conv_inputs(x_shape, w_shape, dtype=np.float64):
    rng = np.random.default_rng(8)
    return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
            rng.standard_normal(w_shape[0]).astype(dtype))


@pytest.mark.parametrize("config", CONVS)
def test_im2col_and_col2im_kernels_match_the_numpy_path(emulated, monkeypatch, config):
    x_shape, w_shape, stride, padding, groups = config
    x, w, b = conv_inputs(x_shape, w_shape)
    kernels = conv_gradients(x, w, b, stride, padding, groups)
    monkeypatch.setattr(cuda, "runs_kernels", lambda xp: False)
    numpy = conv_gradients(x, w, b, stride, padding, groups)
    for name, got, want in zip(("y", "dx", "dw", "db"), kernels, numpy):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(numpy[0], reference.conv2d(x, w, b, stride, padding, groups), rtol=1e-10)


@pytest.mark.parametrize("config", CONVS[:3])
def test_im2col_kernel_lays_out_the_columns_as_the_cpu_does(emulated, monkeypatch, config):
    x_shape, w_shape, stride, padding, groups = config
    x = np.random.default_rng(9).standard_normal(x_shape).astype(np.float32)
    args = (x, w_shape[2:], (stride, stride), (padding, padding), groups)
    kernel_col = im2col_module.im2col_nhwc(*args).copy()
    monkeypatch.setattr(cuda, "runs_kernels", lambda xp: False)
    np.testing.assert_array_equal(kernel_col, im2col_module.im2col_nhwc(*args))


# dropout and the optimiser's update

@pytest.mark.parametrize("shape, p, step, first_row", [((4, 37), 0.5, 0, 0), ((3, 5, 2, 2), 0.25, 7, 11),
                                                       ((2, 1000), 0.9, 2**32 + 3, 2**29)])
def test_dropout_mask_kernel_draws_the_cpu_mask_bit_for_bit(emulated, monkeypatch, shape, p, step, first_row):
    """The last case's global indices pass 2**32 and wrap, as the CPU's uint32 do."""
    x = np.random.default_rng(10).standard_normal(shape).astype(np.float32)
    run = lambda: F.dropout(x, p, seed=12345, step=step, first_row=first_row).data  # noqa: E731
    kernel_y = run()
    monkeypatch.setattr(cuda, "runs_kernels", lambda xp: False)
    np.testing.assert_array_equal(kernel_y, run())
    keep = dropout_module.keep_mask(shape, p, 12345, step, first_row)
    np.testing.assert_array_equal(kernel_y, np.where(keep, x * np.float32(1 / (1 - p)), 0))


def test_momentum_sgd_kernel_is_the_papers_rule(emulated, monkeypatch):
    from tinyalex.layers import Parameter
    from tinyalex.optim import MomentumSGD

    rng = np.random.default_rng(11)
    start, grads = rng.standard_normal((3, 5, 7)), rng.standard_normal((4, 3, 5, 7))

    def three_steps():
        w = Parameter(start.copy())
        opt = MomentumSGD([w], lr=0.1, momentum=0.9, weight_decay=0.01)
        for g in grads:
            w.grad = g.transpose(0, 2, 1).copy().transpose(0, 2, 1)  # a gradient that is not C-contiguous
            opt.step()
        return w.data, opt.velocities[id(w)]

    kernel_w, kernel_v = three_steps()
    monkeypatch.setattr(cuda, "runs_kernels", lambda xp: False)
    numpy_w, numpy_v = three_steps()
    np.testing.assert_array_equal(kernel_w, numpy_w)
    np.testing.assert_array_equal(kernel_v, numpy_v)
    w, v = start.copy(), np.zeros_like(start)
    for g in grads:  # v <- 0.9 v - 0.01 * 0.1 w - 0.1 g ; w <- w + v
        v = 0.9 * v - 0.01 * 0.1 * w - 0.1 * g
        w = w + v
    np.testing.assert_allclose(kernel_w, w, rtol=1e-12)


# every kernel in one training step

def two_training_steps(width=0.125):
    """alexnet_small's loss and weights after two momentum SGD steps on a fixed batch of two images."""
    from tinyalex.models import alexnet_small
    from tinyalex.optim import MomentumSGD

    model = alexnet_small(width=width, seed=0)
    opt = MomentumSGD(model.parameters())
    rng = np.random.default_rng(14)
    x, labels = rng.standard_normal((2, 3, 64, 64)).astype(np.float32) * 60, np.array([3, 7])
    losses = []
    for _ in range(2):
        opt.zero_grad()
        loss = F.softmax_cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    return losses, {name: p.data.copy() for name, p in model.named_parameters()}


def test_a_training_step_through_every_kernel_matches_numpy(emulated, monkeypatch):
    """The GPU path of the whole network on the CPU: convolutions, LRN, pooling, dropout and the update together."""
    kernel_losses, kernel_weights = two_training_steps()
    monkeypatch.setattr(cuda, "runs_kernels", lambda xp: False)
    numpy_losses, numpy_weights = two_training_steps()
    np.testing.assert_allclose(kernel_losses, numpy_losses, rtol=1e-5)
    assert kernel_losses[1] != kernel_losses[0]  # the first step changed the weights
    for name, want in numpy_weights.items():
        np.testing.assert_allclose(kernel_weights[name], want, rtol=1e-4, atol=1e-6, err_msg=name)


# every kernel compiles for the GPU

@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_kernel_compiles_with_nvcc(tmp_path, dtype):
    for source, name in KERNELS:
        path = tmp_path / f"{name}.cu"
        path.write_text(cuda.source_for(source, dtype))
        done = subprocess.run(["nvcc", "--ptx", "-arch=sm_80", "-o", str(tmp_path / f"{name}.ptx"), str(path)],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{name}: {done.stderr}"
        assert f".entry {name}" in (tmp_path / f"{name}.ptx").read_text()


# on a GPU

@pytest.mark.gpu
@pytest.mark.parametrize("config", POOLS)
def test_max_pool_kernels_on_the_gpu_match_numpy(config):
    import cupy

    shape, kernel, stride, padding = config
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    pool = lambda t: F.max_pool2d(t, kernel, stride, padding)  # noqa: E731
    gpu_y, gpu_gx = forward_backward(pool, x, xp=cupy)
    cpu_y, cpu_gx = forward_backward(pool, x)
    np.testing.assert_array_equal(gpu_y, cpu_y)
    np.testing.assert_array_equal(gpu_gx, cpu_gx)


@pytest.mark.gpu
@pytest.mark.parametrize("config", CONVS)
def test_convolution_kernels_on_the_gpu_match_numpy(config):
    import cupy

    x_shape, w_shape, stride, padding, groups = config
    x, w, b = conv_inputs(x_shape, w_shape, np.float32)
    gpu = conv_gradients(x, w, b, stride, padding, groups, xp=cupy)
    cpu = conv_gradients(x, w, b, stride, padding, groups)
    for name, got, want in zip(("y", "dx", "dw", "db"), gpu, cpu):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.gpu
def test_dropout_masks_and_the_update_on_the_gpu_match_numpy():
    import cupy

    x = np.random.default_rng(12).standard_normal((6, 4096)).astype(np.float32)
    gpu = to_cpu(F.dropout(cupy.asarray(x), 0.5, seed=3, step=5, first_row=64).data)
    np.testing.assert_array_equal(gpu, F.dropout(x, 0.5, seed=3, step=5, first_row=64).data)
    w, v, g = np.random.default_rng(13).standard_normal((3, 1000)).astype(np.float32)
    w_gpu, v_gpu = cupy.asarray(w), cupy.asarray(v)
    cuda.launch(momentum_sgd.UPDATE_KERNEL, "momentum_sgd", np.float32, 1000, w_gpu, v_gpu, cupy.asarray(g), 0.01,
                0.9, 0.01 * 0.0005)
    velocity = 0.9 * v - 0.01 * 0.0005 * w - 0.01 * g
    np.testing.assert_allclose(to_cpu(v_gpu), velocity, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(to_cpu(w_gpu), w + velocity, rtol=1e-5, atol=1e-7)


@pytest.mark.gpu
def test_convolution_in_gpu_chunks_matches_numpy(monkeypatch):
    import cupy

    from tinyalex.ops import conv2d as conv_module

    x, w, b = conv_inputs((5, 4, 7, 7), (6, 2, 5, 5), np.float32)
    monkeypatch.setattr(conv_module, "GPU_CHUNK_BYTES", 2 * 2 * 25 * 7 * 7 * 4)  # one image's columns: 5 chunks
    gpu = conv_gradients(x, w, b, 1, 2, 2, xp=cupy)
    cpu = conv_gradients(x, w, b, 1, 2, 2)
    for name, got, want in zip(("y", "dx", "dw", "db"), gpu, cpu):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.gpu
@pytest.mark.parametrize("config", LRNS)
def test_lrn_kernels_on_the_gpu_match_numpy(config):
    import cupy

    shape, size, alpha, beta, k = config
    x = np.random.default_rng(6).standard_normal(shape).astype(np.float32) * 3
    lrn = lambda t: F.local_response_norm(t, size, alpha, beta, k)  # noqa: E731
    gpu_y, gpu_gx = forward_backward(lrn, x, xp=cupy)
    cpu_y, cpu_gx = forward_backward(lrn, x)
    np.testing.assert_allclose(gpu_y, cpu_y, rtol=1e-5)
    np.testing.assert_allclose(gpu_gx, cpu_gx, rtol=1e-4, atol=1e-6)
