"""Helpers for the data-parallel tests: launching mpirun, and the worker programs it runs.

Run as a script under mpirun: `python tests/parallel_helpers.py collectives`,
`python tests/parallel_helpers.py train OUT.npz [DEVICE [ROWS]]` or `... fit OUT_DIR [IMAGES]` (with 17
images each worker writes the indices it loaded to OUT_DIR.loaded-RANK.json); each worker exits non-zero
on failure.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # data_fixtures, when run as a script
HELPERS = Path(__file__).resolve()

# The data-parallel training run compared against one worker: a small AlexNet with dropout, a global batch of 8.
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


def run_mpi(n: int, *args: str, timeout: float = 180, env: dict | None = None) -> subprocess.CompletedProcess:
    """`mpirun -n n python ARGS...` with this Python, allowed to run as root and on few cores."""
    version = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
    flags = ["--oversubscribe"] if "Open MPI" in version else []
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **(env or {}))
    command = ["mpirun", "-n", str(n), *flags, sys.executable, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def global_batch(rows: int = GLOBAL_BATCH) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED + 1)
    return rng.standard_normal((rows, 3, 64, 64)).astype(np.float32), rng.integers(0, 10, rows)


def train(communicator=None, device: str = "cpu", rows: int = GLOBAL_BATCH, dropout: float = 0.5) -> dict:
    """STEPS momentum-SGD steps of a small AlexNet (dropout on), in float64, on one global batch; returns its state.

    With a communicator, this worker takes its contiguous shard of the batch (maybe none) and takes
    part in each step as the trainer's `_worker_step` does: its dropout masks are those of its
    global rows, and the gradients are averaged over workers weighted by their rows.
    """
    from tinyalex.backend import to_device
    from tinyalex.functional import softmax_cross_entropy
    from tinyalex.models import alexnet_small
    from tinyalex.optim import MomentumSGD
    from tinyalex.parallel.data_parallel import (
        average_gradients, global_rows, set_first_row, shard_range, skip_dropout,
    )

    model = in_float64(alexnet_small(seed=SEED, dropout=dropout)).to(device)
    optimizer = MomentumSGD(model.parameters(), lr=0.05)
    x, y = global_batch(rows)
    x = x.astype(np.float64)
    if communicator is not None:
        start, stop = shard_range(rows, communicator.rank, communicator.size)
        x, y = x[start:stop], y[start:stop]
        communicator.broadcast([p.data for p in model.parameters()], root=0)
    x, y = to_device(x, device), to_device(y, device)
    for _ in range(STEPS):
        model.zero_grad()
        if communicator is None:
            softmax_cross_entropy(model(x), y).backward()
        else:
            first_row, total = global_rows(len(y), communicator, device)
            if len(y):
                set_first_row(model, first_row)
                softmax_cross_entropy(model(x), y).backward()
            else:
                skip_dropout(model)
            average_gradients(model.parameters(), len(y), total, communicator)
        optimizer.step()
    return model.state_dict()


class RecordingDataset:
    """An in-memory data set that records which indices it was asked to load."""

    def __init__(self, dataset) -> None:
        self.dataset, self.loaded = dataset, []

    def __getattr__(self, name):
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.dataset)

    def load_batch(self, indices):
        self.loaded.append(np.asarray(indices).tolist())
        return self.dataset.load_batch(indices)


def fit_small(out_dir: str, communicator=None, images: int = 8, batch: int = 4, dropout: float = 0.0):
    """One epoch of the real trainer on random images in float64; returns the training set (it records
    which images were loaded). 17 images in batches of 8 leave a last batch of 1: an empty shard."""
    from data_fixtures import ArrayDataset
    from tinyalex.data import DataLoader
    from tinyalex.models import alexnet_small
    from tinyalex.optim import MomentumSGD
    from tinyalex.training import fit

    pixels = np.random.default_rng(SEED + 2).integers(0, 256, (images, 72, 72, 3), dtype=np.uint8)
    labels = np.arange(images) % 10
    data, val_data = RecordingDataset(ArrayDataset(pixels, labels)), ArrayDataset(pixels, labels)
    model = in_float64(alexnet_small(seed=SEED, dropout=dropout))
    loader = DataLoader(data, batch_size=batch, crop=64, seed=SEED, prefetch=0)
    val = DataLoader(val_data, batch_size=batch, crop=64, train=False, prefetch=0)
    fit(model, loader, val, MomentumSGD(model.parameters(), lr=0.05), epochs=1, out_dir=out_dir,
        communicator=communicator, quiet=True)
    return data


def _collectives() -> None:
    """allreduce_sum, allreduce_mean and broadcast on arrays of several shapes and both float widths."""
    from tinyalex.parallel.distributed import MPICommunicator, from_environment

    comm = from_environment("cpu")
    assert isinstance(comm, MPICommunicator), comm
    rank, size = comm.rank, comm.size
    arrays = [np.full((3, 4), rank + 1.0, np.float32), np.arange(5, dtype=np.float32) * (rank + 1)]
    comm.allreduce_mean(arrays)
    mean_factor = (size + 1) / 2  # the mean of 1..size
    np.testing.assert_array_equal(arrays[0], np.full((3, 4), mean_factor, np.float32))
    np.testing.assert_allclose(arrays[1], np.arange(5) * mean_factor)
    summed = [np.full(3, rank + 1.0, np.float32)]
    comm.allreduce_sum(summed)
    np.testing.assert_array_equal(summed[0], np.full(3, size * (size + 1) / 2, np.float32))
    wide = [np.array([rank, 10.0 * rank], np.float64)]
    comm.allreduce_mean(wide)
    np.testing.assert_allclose(wide[0], [(size - 1) / 2, 10 * (size - 1) / 2])
    root = size - 1
    sent = [np.full(7, float(rank), np.float32), np.full((2, 2), -float(rank), np.float32)]
    comm.broadcast(sent, root=root)
    np.testing.assert_array_equal(sent[0], np.full(7, root))
    np.testing.assert_array_equal(sent[1], np.full((2, 2), -root))
    print(f"rank {rank} of {size}: collectives ok")


def _train(out: str, device: str = "cpu", rows: str = str(GLOBAL_BATCH)) -> None:
    from tinyalex.parallel.distributed import from_environment

    comm = from_environment(device)
    state = train(comm, comm.device, int(rows))
    if comm.rank == 0:
        np.savez(out, **state)
    print(f"rank {comm.rank} of {comm.size} on {comm.device}: trained")


def _fit(out_dir: str, images: str = "8") -> None:
    from tinyalex.parallel.distributed import from_environment

    comm = from_environment("cpu")
    if images == "8":
        fit_small(out_dir, comm)
    else:  # the uneven case: a last batch of 1, dropout on
        data = fit_small(out_dir, comm, images=int(images), batch=8, dropout=0.5)
        Path(f"{out_dir}.loaded-{comm.rank}.json").write_text(json.dumps([i for batch in data.loaded for i in batch]))
    print(f"rank {comm.rank} of {comm.size}: fitted")


if __name__ == "__main__":
    {"collectives": _collectives, "train": _train, "fit": _fit}[sys.argv[1]](*sys.argv[2:])
