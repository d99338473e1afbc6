"""The arrays the GPU path holds during a training step, measured on the CPU without a GPU.

Runs the benchmark's training step (tinyalex.bench.runs) of the paper's net on NumPy arrays the
way it runs on CuPy: every op on its kernel path (each kernel run by tests/cuda_emulator.py's
g++ build of its source), convolution's columns in the GPU's 256 MiB pieces, scratch arrays
fresh (CuPy's pool hands them out), no Winograd and one op thread. tracemalloc counts every
NumPy array, so the peak is what the GPU's memory pool must hold at least. CuPy's pool adds its
rounding and the blocks it cannot reuse, cuBLAS its workspace; `tinyalex bench --device gpu`
reports the pool itself. The kernels run one thread after another: a step at batch 128 takes a
few minutes.

    python scripts/gpu_memory_estimate.py [--batch-size 128] [--steps 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

os.environ["TINYALEX_THREADS"] = "1"  # as on the GPU: no op thread pool, no per-thread scratch
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.cuda_emulator import compiler_missing, emulate_gpu  # noqa: E402
from tinyalex.bench.networks import build_model  # noqa: E402
from tinyalex.bench.runs import TinyalexRuns  # noqa: E402
from tinyalex.cli.options import integer  # noqa: E402
from tinyalex.engine.tensor import Tensor  # noqa: E402
from tinyalex.ops import conv2d, workspace  # noqa: E402

MIB = 2**20


def on_the_gpu_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the ops treat NumPy arrays as the GPU's: kernels, GPU-sized chunks, fresh scratch, no Winograd."""
    emulate_gpu(monkeypatch)
    cpu_chunks = workspace.chunks
    monkeypatch.setattr(workspace, "chunks", lambda n, item_bytes, like, target, gpu_target=None: cpu_chunks(
        n, item_bytes, like, gpu_target or max(1, n * item_bytes)))
    monkeypatch.setattr(workspace, "take", lambda shape, dtype, like: np.empty(shape, dtype=dtype))
    monkeypatch.setattr(conv2d.Conv2d, "_winograd", lambda self, x, w: False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=integer(1), default=128)
    parser.add_argument("--steps", type=integer(1), default=2, help="steps to run; the first also creates the momenta")
    args = parser.parse_args()
    if compiler_missing():
        print(f"cannot emulate the kernels: {compiler_missing()}", file=sys.stderr)
        return 1
    with pytest.MonkeyPatch.context() as monkeypatch:
        on_the_gpu_path(monkeypatch)
        tracemalloc.start()
        runs = TinyalexRuns(build_model("alexnet"), args.batch_size, "cpu")
        print(f"the paper's net, batch {args.batch_size}, float32; weights and the batch: "
              f"{tracemalloc.get_traced_memory()[0] / MIB:,.0f} MiB")
        before = tracemalloc.get_traced_memory()[0]
        logits = runs.model(Tensor(runs.x))
        kept = tracemalloc.get_traced_memory()[0] - before
        print(f"kept by the graph after forward, for backward: {kept / MIB:,.0f} MiB")
        del logits
        for step in range(1, args.steps + 1):
            tracemalloc.reset_peak()
            start, began = tracemalloc.get_traced_memory()[0], time.perf_counter()
            runs.train_step()
            now, peak = tracemalloc.get_traced_memory()
            print(f"step {step}: held at its start {start / MIB:,.0f} MiB, peak {peak / MIB:,.0f} MiB, "
                  f"at its end {now / MIB:,.0f} MiB ({time.perf_counter() - began:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
