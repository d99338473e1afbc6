"""The GPU path: every op, the model, the optimiser, the loader and checkpoints on CuPy arrays.

GPU results must agree with NumPy's on the same float32 inputs to float32 rounding, gradients
must pass float64 checks on the GPU too, checkpoints must move freely between devices, and the
two-tower model must run with its towers on one GPU (0, 0) and across GPU and CPU (0, 'cpu'),
the latter crossing devices at every exchange. All tests here skip without CuPy and a device.
"""
import numpy as np
import pytest

from data_fixtures import ArrayDataset
from parallel_helpers import (
    FLOAT32_RTOL, FLOAT64_RTOL, HELPERS, assert_close, in_float64, mpirun_missing, run_mpi, train,
)
from tinyalex import Tensor, backend, gradcheck
from tinyalex import functional as F
from tinyalex.data import DataLoader
from tinyalex.models import alexnet_small
from tinyalex.optim import MomentumSGD
from tinyalex.parallel.model_parallel import TowerParallelAlexNet
from tinyalex.training.checkpoint import load_model, save_checkpoint

pytestmark = pytest.mark.gpu


def cupy():
    return backend.require_gpu()


LABELS = np.array([2, 0, 4])

# name -> (function of the array module and the input Tensors, input shapes)
OPS = {
    "conv2d two towers, stride 2, pad 1": (
        lambda xp, x, w, b: F.conv2d(x, w, b, 2, 1, 2), [(2, 4, 9, 9), (6, 2, 3, 3), (6,)]
    ),
    "conv2d 11x11 stride 4": (lambda xp, x, w, b: F.conv2d(x, w, b, 4, 2), [(2, 3, 23, 23), (4, 3, 11, 11), (4,)]),
    "linear": (lambda xp, x, w, b: F.linear(x, w, b), [(3, 7), (5, 7), (5,)]),
    "relu": (lambda xp, x: F.relu(x), [(2, 3, 4, 4)]),
    "tanh": (lambda xp, x: F.tanh(x), [(2, 3, 4, 4)]),
    "local_response_norm": (lambda xp, x: F.local_response_norm(x, 5, 0.1, 0.75, 2.0), [(2, 7, 3, 3)]),
    "max_pool2d 3/2": (lambda xp, x: F.max_pool2d(x, 3, 2), [(2, 3, 7, 7)]),
    "dropout": (lambda xp, x: F.dropout(x, 0.5, True, seed=5), [(4, 6)]),
    "softmax_cross_entropy": (lambda xp, z: F.softmax_cross_entropy(z, xp.asarray(LABELS)), [(3, 5)]),
    "softmax": (lambda xp, z: F.softmax(z), [(3, 5)]),
    "log_softmax": (lambda xp, z: F.log_softmax(z), [(3, 5)]),
    "arithmetic": (
        lambda xp, a, b: ((a * b - a / (b * b + 1.0)) ** 2 + (a @ b.T).mean() + (b * b + 1.0).log() - a.exp()),
        [(3, 4), (3, 4)],
    ),
    "reductions and reshaping": (
        lambda xp, a: (
            a.max(axis=1).sum() + a.reshape(4, 6).transpose(1, 0)[1:4].mean(axis=0).sum() + F.flatten(a)[0].sum()
        ),
        [(2, 3, 4)],
    ),
}


def forward_backward(xp, fn, arrays, gy_seed=9):
    """fn's output and its inputs' gradients under one random upstream gradient."""
    tensors = [Tensor(xp.asarray(a), requires_grad=True) for a in arrays]
    y = fn(xp, *tensors)
    gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(np.float32)
    y.backward(xp.asarray(gy))
    return y.data, [t.grad for t in tensors]


@pytest.mark.parametrize("name", OPS)
def test_every_op_agrees_with_numpy_in_float32(name):
    fn, shapes = OPS[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    y_cpu, grads_cpu = forward_backward(np, fn, arrays)
    y_gpu, grads_gpu = forward_backward(cupy(), fn, arrays)
    assert backend.device_of(y_gpu).startswith("gpu") and y_gpu.dtype == np.float32
    assert_close(y_gpu, y_cpu, FLOAT32_RTOL)
    for g_gpu, g_cpu in zip(grads_gpu, grads_cpu):
        assert backend.is_cupy_array(g_gpu) and g_gpu.dtype == np.float32
        assert_close(g_gpu, g_cpu, FLOAT32_RTOL)


def test_gradients_check_in_float64_on_the_gpu():
    cp = cupy()
    rng = np.random.default_rng(1)
    x = cp.asarray(rng.standard_normal((2, 4, 7, 7)))
    w, b = cp.asarray(rng.standard_normal((6, 2, 3, 3))), cp.asarray(rng.standard_normal(6))
    v = cp.asarray(rng.standard_normal((3, 6 * 3 * 3)))
    labels = cp.asarray([0, 2])

    def net(x, w, b, v):  # conv (two towers) - ReLU - LRN (large alpha) - pool - linear - loss
        h = F.max_pool2d(F.local_response_norm(F.relu(F.conv2d(x, w, b, 1, 1, 2)), 5, 0.5, 0.75, 2.0), 3, 2)
        return F.softmax_cross_entropy(F.linear(F.flatten(h), v), labels)

    assert gradcheck(net, [x, w, b, v]) < 1e-4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_model_and_a_momentum_step_agree_with_numpy(dtype):
    """float32: the logits and the fully connected layers' gradients; float64: every gradient and the
    parameters after two steps (gradients behind a max-pooling compare in float64: see parallel_helpers)."""
    x = np.random.default_rng(2).standard_normal((4, 3, 64, 64)).astype(dtype)
    y = np.array([1, 5, 9, 3])
    results = []
    for device in ("cpu", "gpu"):
        model = alexnet_small(seed=0)  # dropout on: counter-based masks, equal on both devices
        model = (in_float64(model) if dtype == np.float64 else model).to(device)
        optimizer = MomentumSGD(model.parameters(), lr=0.05)
        for _ in range(2):
            model.zero_grad()
            logits = model(backend.to_device(x, device))
            F.softmax_cross_entropy(logits, backend.to_device(y, device)).backward()
            optimizer.step()
        assert all(p.device.startswith(device) and p.dtype == dtype for p in model.parameters())
        results.append((logits.data, {n: p.grad for n, p in model.named_parameters()}, model.state_dict()))
    (logits_cpu, grads_cpu, state_cpu), (logits_gpu, grads_gpu, state_gpu) = results
    rtol = FLOAT32_RTOL if dtype == np.float32 else FLOAT64_RTOL
    assert_close(logits_gpu, logits_cpu, rtol)
    compared = [n for n in grads_cpu if n.startswith("fc")] if dtype == np.float32 else list(grads_cpu)
    for name in compared:
        assert_close(grads_gpu[name], grads_cpu[name], rtol, name)
    if dtype == np.float64:
        for name in state_cpu:
            assert_close(state_gpu[name], state_cpu[name], rtol, name)


def test_the_loader_feeds_the_gpu_and_checkpoints_move_between_devices(tmp_path):
    images = np.random.default_rng(3).integers(0, 256, (8, 72, 72, 3), dtype=np.uint8)
    data = ArrayDataset(images, np.arange(8) % 10)
    loader = DataLoader(data, batch_size=4, crop=64, seed=1, device="gpu", prefetch=0)
    model = alexnet_small(seed=0).to("gpu")
    optimizer = MomentumSGD(model.parameters())
    for x, y in loader:
        assert backend.is_cupy_array(x) and backend.is_cupy_array(y)
        model.zero_grad()
        F.softmax_cross_entropy(model(x), y).backward()
        optimizer.step()
    velocities = {i: backend.to_cpu(v) for i, v in enumerate(optimizer.velocities.values())}
    path = save_checkpoint(tmp_path / "gpu.npz", model.state_dict(), velocities, {"model": model.config})
    on_cpu, _ = load_model(path, "cpu")  # a GPU-trained checkpoint loads on the CPU...
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(on_cpu.state_dict()[name], backend.to_cpu(p.data))
    assert all(not backend.is_cupy_array(p.data) for p in on_cpu.parameters())
    path = save_checkpoint(tmp_path / "cpu.npz", on_cpu.state_dict(), {}, {"model": on_cpu.config})
    on_gpu, _ = load_model(path, "gpu")  # ...and the reverse
    assert all(backend.is_cupy_array(p.data) for p in on_gpu.parameters())
    x = backend.to_gpu(np.random.default_rng(4).standard_normal((2, 3, 64, 64)).astype(np.float32))
    assert_close(on_gpu(x).data, on_cpu(backend.to_cpu(x)).data, FLOAT32_RTOL)


@pytest.mark.parametrize("devices", [(0, 0), (0, "cpu"), (0, 1)],
                         ids=["both towers on GPU 0", "GPU 0 and the CPU", "GPU 0 and GPU 1"])
def test_two_towers_placed_on_devices_equal_the_grouped_model(devices):
    if devices == (0, 1) and cupy().cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    x = backend.to_gpu(np.random.default_rng(5).standard_normal((4, 3, 64, 64)))  # float64: see parallel_helpers
    y = backend.to_gpu(np.array([0, 3, 6, 9]))
    grouped = in_float64(alexnet_small(seed=0)).to("gpu")
    towers = TowerParallelAlexNet.from_alexnet(in_float64(alexnet_small(seed=0)), devices)
    expected_devices = ("gpu:0", {0: "gpu:0", 1: "gpu:1", "cpu": "cpu"}[devices[1]])
    assert towers.devices == expected_devices
    for tower, device in zip(towers.towers, expected_devices):
        assert all(p.device == device for p in tower.parameters())
    sgd_grouped, sgd_towers = MomentumSGD(grouped.parameters()), MomentumSGD(towers.parameters())
    for model, optimizer in ((grouped, sgd_grouped), (towers, sgd_towers)):
        model.zero_grad()
        logits = model(x)
        assert logits.device == "gpu:0"
        F.softmax_cross_entropy(logits, y).backward()
        optimizer.step()
    for p in towers.parameters():  # CuPy allocates on the current GPU: each velocity must be on its weight's
        assert backend.device_of(sgd_towers.velocities[id(p)]) == backend.device_of(p.data)
    assert_close(towers(x).data, grouped(x).data, FLOAT64_RTOL)
    expected = grouped.state_dict()
    for name, value in towers.state_dict().items():
        assert_close(value, expected[name], FLOAT64_RTOL, name)
    towers.to("gpu")  # as the trainer calls it: towers on a GPU stay, one on the CPU joins the current GPU
    assert towers.devices == ("gpu:0", "gpu:1" if devices == (0, 1) else "gpu:0")
    assert all(backend.is_cupy_array(p.data) for p in towers.parameters())


def test_nccl_trains_like_numpy_on_one_gpu(tmp_path):
    """One NCCL worker under mpirun: the unique id travels by MPI, the parameters are broadcast and the
    gradients all-reduced through NCCL."""
    missing = mpirun_missing()
    if missing:
        pytest.skip(missing)
    result = run_mpi(1, str(HELPERS), "train", str(tmp_path / "nccl.npz"), "gpu")
    assert result.returncode == 0, f"mpirun failed:\n{result.stdout}\n{result.stderr}"
    assert "rank 0 of 1 on gpu:0: trained" in result.stdout
    with np.load(tmp_path / "nccl.npz") as saved:
        trained = dict(saved)
    for name, expected in train().items():
        assert_close(trained[name], expected, FLOAT64_RTOL, name)


@pytest.mark.parametrize("workers, rows", [(2, 8), (3, 2)])
def test_nccl_ranks_sharing_one_gpu_train_like_one_worker(tmp_path, workers, rows):
    """Several NCCL ranks on the one GPU (TINYALEX_NCCL_SHARE_GPU=1: NCCL's socket transport), dropout on;
    on 2 rows one of 3 ranks holds no rows. They must end where one worker on the whole batch ends."""
    missing = mpirun_missing()
    if missing:
        pytest.skip(missing)
    result = run_mpi(workers, str(HELPERS), "train", str(tmp_path / "nccl.npz"), "gpu", str(rows),
                     env={"TINYALEX_NCCL_SHARE_GPU": "1"})
    assert result.returncode == 0, f"mpirun failed:\n{result.stdout}\n{result.stderr}"
    assert all(f"rank {r} of {workers} on gpu:0: trained" in result.stdout for r in range(workers))
    with np.load(tmp_path / "nccl.npz") as saved:
        trained = dict(saved)
    for name, expected in train(rows=rows).items():
        assert_close(trained[name], expected, FLOAT64_RTOL, name)