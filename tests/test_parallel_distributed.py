"""Data parallelism over MPI: N workers train exactly like one worker on the whole batch, dropout included,
with uneven and empty shards (17 images in batches of 8), without aborting."""
import json
import os

import numpy as np
import pytest

from parallel_helpers import (
    FLOAT64_RTOL, GLOBAL_BATCH, HELPERS, SEED, assert_close, fit_small, mpirun_missing, run_mpi, train,
)
from tinyalex.models import alexnet_small
from tinyalex.training import load_checkpoint
from tinyalex.parallel.distributed import Communicator, from_environment, launched_by_mpi

needs_mpi = pytest.mark.skipif(mpirun_missing() is not None, reason=str(mpirun_missing()))


def check(result):
    assert result.returncode == 0, f"mpirun failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


@needs_mpi
def test_allreduce_sum_mean_and_broadcast_between_two_workers():
    out = check(run_mpi(2, str(HELPERS), "collectives"))
    assert "rank 0 of 2: collectives ok" in out and "rank 1 of 2: collectives ok" in out


@needs_mpi
@pytest.mark.parametrize("workers, rows", [(2, GLOBAL_BATCH), (3, GLOBAL_BATCH), (3, 2)])
def test_n_workers_end_with_the_parameters_of_one_worker_on_the_whole_batch(tmp_path, workers, rows):
    """Dropout on; 3 workers on 8 rows hold 2, 3 and 3; on 2 rows one of them holds none."""
    out = check(run_mpi(workers, str(HELPERS), "train", str(tmp_path / "many.npz"), "cpu", str(rows)))
    assert f"rank {workers - 1} of {workers} on cpu: trained" in out
    with np.load(tmp_path / "many.npz") as saved:
        many = dict(saved)
    one = train(rows=rows)
    assert sorted(many) == sorted(one)
    for name, expected in one.items():  # equal but for rounding: the shards' sums add up in another order
        assert_close(many[name], expected, FLOAT64_RTOL, name)
    start = alexnet_small(seed=SEED, dropout=0.0).state_dict()["fc8.weight"]
    assert np.abs(many["fc8.weight"] - start).max() > 1e-3 * np.abs(start).max()  # training moved it


@needs_mpi
def test_the_trainer_on_two_workers_ends_where_it_does_on_one(tmp_path):
    out = check(run_mpi(2, str(HELPERS), "fit", str(tmp_path / "two")))
    assert "rank 1 of 2: fitted" in out
    fit_small(str(tmp_path / "one"))
    two, one = load_checkpoint(tmp_path / "two" / "last.npz"), load_checkpoint(tmp_path / "one" / "last.npz")
    for name, expected in one["model"].items():
        assert_close(two["model"][name], expected, FLOAT64_RTOL, name)
    for key in ("train_loss", "top1_error", "val_loss"):  # the workers' numbers are summed into the whole batch's
        assert two["meta"]["history"][0][key] == pytest.approx(one["meta"]["history"][0][key], rel=FLOAT64_RTOL)


@needs_mpi
@pytest.mark.parametrize("workers", [2, 3])
def test_17_images_in_batches_of_8_do_not_abort_and_equal_one_worker(tmp_path, workers):
    """The last batch holds one image: every worker but one has an empty shard (it used to abort the job)."""
    check(run_mpi(workers, str(HELPERS), "fit", str(tmp_path / "many"), "17"))
    fit_small(str(tmp_path / "one"), images=17, batch=8, dropout=0.5)
    many, one = load_checkpoint(tmp_path / "many" / "last.npz"), load_checkpoint(tmp_path / "one" / "last.npz")
    for name, expected in one["model"].items():
        assert_close(many["model"][name], expected, FLOAT64_RTOL, name)
    assert many["meta"]["history"][0]["train_loss"] == pytest.approx(one["meta"]["history"][0]["train_loss"],
                                                                     rel=FLOAT64_RTOL)
    loaded = [json.loads((tmp_path / f"many.loaded-{rank}.json").read_text()) for rank in range(workers)]
    assert sorted(i for rows in loaded for i in rows) == list(range(17))  # each image by one worker only


@needs_mpi
def test_mpirun_tinyalex_train_distributed_end_to_end(tmp_path):
    from training_helpers import shapes_folder

    data = shapes_folder(tmp_path / "data")  # 30 training JPEGs of 10 classes, 20 for validation
    out = tmp_path / "run"
    result = run_mpi(2, "-m", "tinyalex", "train", "--distributed", "--data", str(data), "--out", str(out),
                     "--model", "small", "--epochs", "1", "--batch-size", "10", "--workers", "1")
    assert check(result).count("training small") == 1  # worker 0 alone reports and writes
    assert {p.name for p in out.iterdir()} == {"last.npz", "best.npz", "metrics.csv", "curves.png", "config.json",
                                               "train.log"}
    meta = load_checkpoint(out / "last.npz")["meta"]
    assert meta["epoch"] == 1 and meta["run"]["batch_size"] == 10
    assert len((out / "metrics.csv").read_text().splitlines()) == 2  # the header and one epoch


def test_a_plain_process_gets_no_communicator(monkeypatch):
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not launched_by_mpi()
    assert from_environment("cpu") is None


class LocalCommunicator(Communicator):
    """One worker whose collectives are the identity: exercises packing and its checks without MPI."""

    rank, size, device = 0, 1, "cpu"

    def _empty(self, n, dtype):
        return np.empty(n, dtype)

    def _export(self, a):
        return a

    def _allreduce_sum(self, flat):
        flat *= 1  # one worker: the sum is itself

    def _broadcast(self, flat, root):
        pass


def test_packing_reuses_one_buffer_per_dtype_and_refuses_bad_lists():
    comm = LocalCommunicator()
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.float32)
    comm.allreduce_mean([a, b])
    buffer = comm._buffers[np.dtype(np.float32)]
    comm.allreduce_mean([b])
    assert comm._buffers[np.dtype(np.float32)] is buffer  # a smaller call reuses the buffer
    np.testing.assert_array_equal(a, np.arange(6).reshape(2, 3))
    comm.allreduce_sum([a])
    np.testing.assert_array_equal(a, np.arange(6).reshape(2, 3))
    with pytest.raises(ValueError, match="one dtype"):
        comm.allreduce_mean([a, np.ones(2)])
    with pytest.raises(ValueError, match="None at \\[1\\]"):
        comm.allreduce_mean([a, None])
    with pytest.raises(ValueError, match="root must be a rank"):
        comm.broadcast([a], root=1)


def test_more_nccl_ranks_than_gpus_is_a_clear_error_unless_testing(monkeypatch):
    """NCCL refuses two ranks on one GPU with an obscure 'invalid usage'; say what to do instead."""
    from tinyalex.backend import DeviceError
    from tinyalex.parallel.distributed import NCCLCommunicator

    comm = NCCLCommunicator.__new__(NCCLCommunicator)  # the check alone, without a GPU or MPI
    comm.rank = 1
    environment = {}
    monkeypatch.setattr(os, "environ", environment)
    with pytest.raises(DeviceError, match=r"2 processes on this machine but 1 GPU\(s\).*mpirun -n 1.*--device cpu"):
        comm._share_gpus(2, 1)
    assert environment == {}
    environment["TINYALEX_NCCL_SHARE_GPU"] = "1"
    comm._share_gpus(2, 1)
    assert environment["NCCL_HOSTID"] == "tinyalex-rank-1" and environment["NCCL_SOCKET_IFNAME"] == "lo"


@needs_mpi
def test_a_failure_on_one_worker_stops_the_job_instead_of_hanging_it(tmp_path):
    """A full disk on worker 0 (the one that writes) returned there, and worker 1 waited in its next
    all-reduce for ever."""
    from training_helpers import shapes_folder

    data = shapes_folder(tmp_path / "data")
    code = ("import sys\n"
            "from mpi4py import MPI\n"
            "from tinyalex.training import trainer\n"
            "from tinyalex.training.checkpoint import CheckpointWriteError\n"
            "def full(self, path):\n"
            "    raise CheckpointWriteError(f'could not write {path}: No space left on device')\n"
            "if MPI.COMM_WORLD.Get_rank() == 0:\n"
            "    trainer.Trainer.save = full\n"
            "from tinyalex.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    result = run_mpi(2, "-c", code, "train", "--distributed", "--data", str(data), "--out", str(tmp_path / "run"),
                     "--model", "small", "--epochs", "2", "--batch-size", "10", "--workers", "0", timeout=120)
    assert result.returncode != 0 and "No space left on device" in result.stderr


@needs_mpi
def test_an_epoch_resumed_mid_way_on_two_workers_counts_every_image_once(tmp_path):
    """The checkpoint held worker 0's sums, and every worker started from them: 2 workers counted 384 of
    400 images, 3 workers resuming counted 432."""
    from training_helpers import shapes_folder

    data = shapes_folder(tmp_path / "data", train_per_class=4)  # 40 training images: 4 batches of 10
    interrupted = ("import sys\n"  # Ctrl-C reaches worker 0 during the second batch
                   "from mpi4py import MPI\n"
                   "from tinyalex.training import trainer\n"
                   "step = trainer.Trainer._step\n"
                   "def signalled(self, x, y, batch, interrupt):\n"
                   "    if batch == 1 and MPI.COMM_WORLD.Get_rank() == 0:\n"
                   "        interrupt.requested = True\n"
                   "    return step(self, x, y, batch, interrupt)\n"
                   "trainer.Trainer._step = signalled\n"
                   "from tinyalex.cli.main import main\n"
                   "sys.exit(main(sys.argv[1:]))\n")
    common = ["train", "--distributed", "--data", str(data), "--model", "small", "--epochs", "1",
              "--batch-size", "10", "--workers", "0", "--progress", "none"]
    whole = run_mpi(2, "-m", "tinyalex", *common, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    cut = run_mpi(2, "-c", interrupted, *common, "--out", str(tmp_path / "cut"))
    assert cut.returncode == 130 and "interrupted in epoch 1 after batch 2" in cut.stderr, cut.stderr
    resumed = run_mpi(2, "-m", "tinyalex", *common, "--out", str(tmp_path / "cut"), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    rows = [(tmp_path / run / "metrics.csv").read_text().splitlines()[1].split(",")[:3] for run in ("whole", "cut")]
    assert rows[0] == rows[1]  # epoch, train loss and train accuracy
