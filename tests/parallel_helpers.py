"""Helpers for the data-parallel tests: launching mpirun, and the worker programs it runs.

Run as a script under mpirun: `python tests/parallel_helpers.py collectives`,
`python tests/parallel_helpers.py train OUT.npz [DEVICE]` or `... fit OUT_DIR`; each worker exits
non-zero on failure.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # data_fixtures, when run as a script
HELPERS = Path(__file__).resolve()

# The data-parallel training run compared against one worker: a small AlexNet, a global batch of 8.
GLOBAL_BATCH, STEPS, SEED = 8, 3, 0

# Gradients are compared in float64. Where two inputs of a max-pooling window are equal to within
# float32 rounding, two computations that round differently (another batch split, another device,
# another matrix shape) can pick different winners and send that gradient to another pixel; in
# float64 such near-ties vanish, and the comparison can be tight. Forward results compare in float32.
FLOAT32_RTOL, FLOAT64_RTOL = 1e-5, 1e-9


def assert_close(actual, expected, rtol: float, name: str = "") -> None:
    """Equal to a relative `rtol` of the largest magnitude, whichever device each side lives on."""
    from tinyalex.backend import to_cpu

    actual, expected = np.asarray(to_cpu(actual)), np.asarray(to_cpu(expected))
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape}, expected {expected.shape}"
    atol = rtol * max(float(np.abs(expected).max()), 1e-30)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=name)


def in_float64(model):
    """The model with every parameter switched to float64 (on its device); returns it."""
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    return model


def mpirun_missing() -> str | None:
    """Why MPI tests cannot run here, or None when mpirun and mpi4py are both present."""
    if shutil.which("mpirun") is None:
        return "mpirun not found (install Open MPI: see .ci/install-mpi.sh)"
    try:
        import mpi4py  # noqa: F401  (imports the bindings only; MPI itself starts on `from mpi4py import MPI`)
    except ImportError:
        return "mpi4py not installed (see .ci/install-mpi.sh)"
    return None


def run_mpi(n: int, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """`mpirun -n n python ARGS...` with this Python, allowed to run as root and on few cores."""
    version = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
    flags = ["--oversubscribe"] if "Open MPI" in version else []
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    command = ["mpirun", "-n", str(n), *flags, sys.executable, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def global_batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED + 1)
    return rng.standard_normal((GLOBAL_BATCH, 3, 64, 64)).astype(np.float32), rng.integers(0, 10, GLOBAL_BATCH)


def train(communicator=None, device: str = "cpu") -> dict[str, np.ndarray]:
    """STEPS momentum-SGD steps of a dropout-free small AlexNet, in float64, on the global batch; returns its state.

    With a communicator, this worker takes the contiguous shard `rank` of the batch and averages
    gradients with the others before each step, as the trainer does. Dropout is off because each
    worker draws masks for its own shard from its own generator, while one worker draws one mask
    for the whole batch: the networks would differ by chance, not by a bug.
    """
    from tinyalex.functional import softmax_cross_entropy
    from tinyalex.models import alexnet_small
    from tinyalex.optim import MomentumSGD

    model = in_float64(alexnet_small(seed=SEED, dropout=0.0)).to(device)
    optimizer = MomentumSGD(model.parameters(), lr=0.05)
    x, y = global_batch()
    x = x.astype(np.float64)
    if communicator is not None:
        start, stop = (GLOBAL_BATCH * r // communicator.size for r in (communicator.rank, communicator.rank + 1))
        x, y = x[start:stop], y[start:stop]
        communicator.broadcast([p.data for p in model.parameters()], root=0)
    from tinyalex.backend import to_device

    x, y = to_device(x, device), to_device(y, device)
    for _ in range(STEPS):
        model.zero_grad()
        softmax_cross_entropy(model(x), y).backward()
        if communicator is not None:
            communicator.allreduce_mean([p.grad for p in model.parameters()])
        optimizer.step()
    return model.state_dict()


def fit_small(out_dir: str, communicator=None) -> None:
    """One epoch of the real trainer on 8 random images in batches of 4; float64, dropout off (see `train`)."""
    from data_fixtures import ArrayDataset
    from tinyalex.data import DataLoader
    from tinyalex.models import alexnet_small
    from tinyalex.optim import MomentumSGD
    from tinyalex.training import fit

    images = np.random.default_rng(SEED + 2).integers(0, 256, (8, 72, 72, 3), dtype=np.uint8)
    data = ArrayDataset(images, np.arange(8) % 10)
    model = in_float64(alexnet_small(seed=SEED, dropout=0.0))
    loader = DataLoader(data, batch_size=4, crop=64, seed=SEED, prefetch=0)
    val = DataLoader(data, batch_size=4, crop=64, train=False, prefetch=0)
    fit(model, loader, val, MomentumSGD(model.parameters(), lr=0.05), epochs=1, out_dir=out_dir,
        communicator=communicator, quiet=True)


def _collectives() -> None:
    """allreduce_mean and broadcast on arrays of several shapes and both float widths."""
    from tinyalex.parallel.distributed import MPICommunicator, from_environment

    comm = from_environment("cpu")
    assert isinstance(comm, MPICommunicator), comm
    rank, size = comm.rank, comm.size
    arrays = [np.full((3, 4), rank + 1.0, np.float32), np.arange(5, dtype=np.float32) * (rank + 1)]
    comm.allreduce_mean(arrays)
    mean_factor = (size + 1) / 2  # the mean of 1..size
    np.testing.assert_array_equal(arrays[0], np.full((3, 4), mean_factor, np.float32))
    np.testing.assert_allclose(arrays[1], np.arange(5) * mean_factor)
    wide = [np.array([rank, 10.0 * rank], np.float64)]
    comm.allreduce_mean(wide)
    np.testing.assert_allclose(wide[0], [(size - 1) / 2, 10 * (size - 1) / 2])
    root = size - 1
    sent = [np.full(7, float(rank), np.float32), np.full((2, 2), -float(rank), np.float32)]
    comm.broadcast(sent, root=root)
    np.testing.assert_array_equal(sent[0], np.full(7, root))
    np.testing.assert_array_equal(sent[1], np.full((2, 2), -root))
    print(f"rank {rank} of {size}: collectives ok")


def _train(out: str, device: str = "cpu") -> None:
    from tinyalex.parallel.distributed import from_environment

    comm = from_environment(device)
    state = train(comm, comm.device)
    if comm.rank == 0:
        np.savez(out, **state)
    print(f"rank {comm.rank} of {comm.size} on {comm.device}: trained")


def _fit(out_dir: str) -> None:
    from tinyalex.parallel.distributed import from_environment

    comm = from_environment("cpu")
    fit_small(out_dir, comm)
    print(f"rank {comm.rank} of {comm.size}: fitted")


if __name__ == "__main__":
    {"collectives": _collectives, "train": _train, "fit": _fit}[sys.argv[1]](*sys.argv[2:])
