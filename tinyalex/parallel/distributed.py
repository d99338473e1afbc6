"""Synchronous data parallelism: communicators that average gradients across worker processes.

Every worker holds a full copy of the model, computes gradients on its own shard of each
global batch, and then sums them, weighted by its share of the rows, with `allreduce_sum`
(see `data_parallel.py`): afterwards every worker holds the gradient of the whole batch,
applies the same update, and the copies stay identical. Two existing engines move
the numbers, as in ChainerMN: MPI (mpi4py) between CPU processes, and NCCL (CuPy's bindings)
between GPUs, started by MPI broadcasting NCCL's unique id. Each call packs all its arrays
into one reused contiguous buffer, so a step sends one message, not one per parameter.

Run a job with `mpirun -n 4 tinyalex train --distributed ...`; `from_environment()` builds the
communicator that fits the device, or returns None in a plain single process.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from tinyalex import backend

# Set by the launchers in every process they start: Open MPI, MPICH / Intel MPI (PMI), PMIx (srun).
LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK")
# Lets several NCCL ranks share one GPU, for testing only (see NCCLCommunicator).
SHARE_GPU_VARIABLE = "TINYALEX_NCCL_SHARE_GPU"

MPI_HINT = "install Open MPI (e.g. `apt-get install openmpi-bin`) and mpi4py (`pip install mpi4py`)"


def _mpi() -> Any:
    """mpi4py's MPI module (importing it initialises MPI), or ImportError saying how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(f"distributed training needs MPI: {MPI_HINT} ({error})") from error
    return MPI


def launched_by_mpi() -> bool:
    """True in a process started by mpirun / mpiexec / srun."""
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


class Communicator:
    """A group of `size` workers; this one is number `rank`, computing on `device`.

    Subclasses provide a flat buffer on their side of the wire (`_empty`), the copy of an
    array into it (`_export`) and the two collectives on that buffer.
    """

    rank: int
    size: int
    device: str

    def __init__(self) -> None:
        self._buffers: dict[np.dtype, Any] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size}, device={self.device!r})"

    def abort(self, code: int) -> None:
        """Stop every worker: one that fails alone (a full disk on the writer) would leave the others
        waiting in their next collective for ever."""
        self.comm.Abort(code)

    def allreduce_sum(self, arrays: Sequence[Any]) -> None:
        """Replace every array, in place, by its sum over all workers."""
        flat = self._pack("allreduce_sum", arrays)
        self._allreduce_sum(flat)
        self._unpack(flat, arrays)

    def allreduce_mean(self, arrays: Sequence[Any]) -> None:
        """Replace every array, in place, by its average over all workers."""
        flat = self._pack("allreduce_mean", arrays)
        self._allreduce_sum(flat)
        flat /= self.size
        self._unpack(flat, arrays)

    def broadcast(self, arrays: Sequence[Any], root: int = 0) -> None:
        """Overwrite every array, in place, with worker `root`'s values."""
        if not 0 <= root < self.size:
            raise ValueError(f"broadcast: root must be a rank in [0, {self.size}), got {root}")
        flat = self._pack("broadcast", arrays)
        self._broadcast(flat, root)
        self._unpack(flat, arrays)

    def _pack(self, what: str, arrays: Sequence[Any]) -> Any:
        """The arrays copied one after another into this dtype's reused buffer (grown when too small)."""
        missing = [i for i, a in enumerate(arrays) if a is None]
        if not arrays or missing:
            raise ValueError(f"{what}: expected a non-empty list of arrays, got {len(arrays)} with None at {missing}")
        dtypes = {np.dtype(a.dtype) for a in arrays}
        if len(dtypes) > 1:
            raise ValueError(f"{what}: all arrays must share one dtype, got {sorted(map(str, dtypes))}")
        dtype, total = dtypes.pop(), sum(a.size for a in arrays)
        buffer = self._buffers.get(dtype)
        if buffer is None or buffer.size < total:
            buffer = self._buffers[dtype] = self._empty(total, dtype)
        flat, offset = buffer[:total], 0
        for a in arrays:
            flat[offset : offset + a.size] = self._export(a).ravel()
            offset += a.size
        return flat

    def _unpack(self, flat: Any, arrays: Sequence[Any]) -> None:
        offset = 0
        for a in arrays:
            chunk = flat[offset : offset + a.size].reshape(a.shape)
            a[...] = backend.get_array_module(a).asarray(chunk)
            offset += a.size

    def _empty(self, n: int, dtype: np.dtype) -> Any:
        raise NotImplementedError

    def _export(self, a: Any) -> Any:
        raise NotImplementedError

    def _allreduce_sum(self, flat: Any) -> None:
        raise NotImplementedError

    def _broadcast(self, flat: Any, root: int) -> None:
        raise NotImplementedError


class MPICommunicator(Communicator):
    """MPI collectives on host buffers (CuPy arrays are staged through the host)."""

    def __init__(self, comm: Any = None):
        super().__init__()
        self.mpi = _mpi()
        self.comm = comm if comm is not None else self.mpi.COMM_WORLD
        self.rank, self.size, self.device = self.comm.Get_rank(), self.comm.Get_size(), "cpu"

    def _empty(self, n: int, dtype: np.dtype) -> Any:
        return np.empty(n, dtype)

    def _export(self, a: Any) -> Any:
        return backend.to_cpu(a)

    def _allreduce_sum(self, flat: Any) -> None:
        self.comm.Allreduce(self.mpi.IN_PLACE, flat, op=self.mpi.SUM)

    def _broadcast(self, flat: Any, root: int) -> None:
        self.comm.Bcast(flat, root=root)


class NCCLCommunicator(Communicator):
    """NCCL collectives on GPU buffers, one GPU per process, bootstrapped by MPI.

    Rank 0 asks NCCL for a unique id and MPI broadcasts it; every rank then joins the NCCL
    communicator with it (ChainerMN's recipe). Each process takes the GPU numbered by its rank
    among the processes on its own machine and makes it the current device, so models moved
    with `.to("gpu")` afterwards land on it.

    NCCL refuses two ranks on one GPU ("Duplicate GPU detected"), so more processes than GPUs on
    a machine is an error. To test several ranks on a one-GPU machine anyway, set
    TINYALEX_NCCL_SHARE_GPU=1: each rank then tells NCCL it runs on a host of its own
    (NCCL_HOSTID), so the ranks talk through NCCL's socket transport over the loopback interface:
    slow, but the same collectives.
    """

    def __init__(self, comm: Any = None):
        super().__init__()
        MPI = _mpi()
        self.cupy, self.nccl = backend.require_gpu(), backend.require_nccl()
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        local_rank, local_size = local.Get_rank(), local.Get_size()
        local.Free()
        gpus = self.cupy.cuda.runtime.getDeviceCount()
        if local_size > gpus:
            self._share_gpus(local_size, gpus)
        device_id = local_rank % gpus
        self.cupy.cuda.Device(device_id).use()
        self.device = f"gpu:{device_id}"
        unique_id = self.nccl.get_unique_id() if self.rank == 0 else None
        self.nccl_comm = self.nccl.NcclCommunicator(self.size, self.comm.bcast(unique_id, root=0), self.rank)
        self.types = {
            np.dtype(np.float16): self.nccl.NCCL_FLOAT16,
            np.dtype(np.float32): self.nccl.NCCL_FLOAT32,
            np.dtype(np.float64): self.nccl.NCCL_FLOAT64,
        }

    def _share_gpus(self, processes: int, gpus: int) -> None:
        """Several ranks per GPU: allowed only when testing, each rank then posing as a host of its own."""
        if os.environ.get(SHARE_GPU_VARIABLE) != "1":
            raise backend.DeviceError(
                f"NCCLCommunicator: {processes} processes on this machine but {gpus} GPU(s); NCCL needs one GPU per "
                f"process: start at most {gpus} per machine (mpirun -n {gpus}), or use --device cpu (MPI). "
                f"To test several ranks on one GPU, set {SHARE_GPU_VARIABLE}=1"
            )
        os.environ["NCCL_HOSTID"] = f"tinyalex-rank-{self.rank}"  # read when NCCL starts, below
        os.environ.setdefault("NCCL_SOCKET_IFNAME", "lo")
        os.environ.setdefault("NCCL_IB_DISABLE", "1")

    def _empty(self, n: int, dtype: np.dtype) -> Any:
        if dtype not in self.types:
            supported = sorted(map(str, self.types))
            raise ValueError(f"NCCLCommunicator: dtype {dtype} is not supported; expected one of {supported}")
        return self.cupy.empty(n, dtype)

    def _export(self, a: Any) -> Any:
        if not backend.is_cupy_array(a):
            raise backend.DeviceError(
                f"NCCLCommunicator: expected CuPy arrays on {self.device}, got {type(a).__name__}"
            )
        return a

    def _stream(self) -> int:
        return self.cupy.cuda.get_current_stream().ptr

    def _allreduce_sum(self, flat: Any) -> None:
        ptr = flat.data.ptr
        self.nccl_comm.allReduce(ptr, ptr, flat.size, self.types[flat.dtype], self.nccl.NCCL_SUM, self._stream())

    def _broadcast(self, flat: Any, root: int) -> None:
        self.nccl_comm.bcast(flat.data.ptr, flat.size, self.types[flat.dtype], root, self._stream())


def from_environment(device: str | None = None) -> Communicator | None:
    """The communicator for this process: None when not started by an MPI launcher, else
    NCCL when `device` resolves to the GPU and MPI when it resolves to the CPU."""
    if not launched_by_mpi():
        return None
    if backend.resolve_device(device) == "gpu":
        return NCCLCommunicator()
    return MPICommunicator()
