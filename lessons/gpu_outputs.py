"""Measure on a GPU what lessons 1, 4 and 6 show beside the CPU's numbers, and save it as JSON.

The notebooks never recompute GPU numbers on a CPU: they read lessons/saved/gpu.json when it is
there and say "no GPU measurement saved yet" when it is not. On a machine with CuPy and a CUDA GPU
(it takes well under a minute, CuPy's first kernel compilations included):

    python lessons/gpu_outputs.py lessons/saved/gpu.json
    python lessons/build.py 01 04 06        # then rebuild the lessons that show it

It measures lesson 1's matrix-product rate (GFLOP/s against n), lesson 4's convolution timings,
and runs lesson 6's check of the ElementwiseKernel exercise with the solution from lessons/src/.
`--device cpu` runs the same code with NumPy at small sizes: that is how tests/test_lessons.py
checks this script on a machine without a GPU (its output is not meant for the notebooks).
It needs nothing but NumPy, CuPy and tinyalex.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

LESSONS = Path(__file__).resolve().parent
DEFAULT = LESSONS / "saved" / "gpu.json"
ENVIRONMENT = "TINYALEX_GPU_OUTPUTS"  # another file for the notebooks to read (the tests use it)
sys.path.insert(0, str(LESSONS))
# What lesson 6's exercise and check cells use from its first cell (which also imports matplotlib: not needed here).
CHECK_PRELUDE = """
import numpy as np
import tinyalex
from grading import check
from tinyalex.ops.local_response_norm import window_sum as library_window_sum
"""


def load(path: str | os.PathLike | None = None) -> dict | None:
    """The saved GPU measurements (from $TINYALEX_GPU_OUTPUTS or lessons/saved/gpu.json), or None."""
    path = Path(path or os.environ.get(ENVIRONMENT) or DEFAULT)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def best_seconds(fn: Callable[[], Any], sync: Callable[[], Any], repeats: int = 5) -> float:
    """Best wall time of `repeats` calls after one warm-up, waiting for the device after each."""
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rates(xp: Any, sizes: list[int], sync: Callable[[], Any]) -> list[float]:
    """GFLOP/s of an n x n float32 matrix product (2 n^3 operations) for each n: lesson 1's curve."""
    rates = []
    for n in sizes:
        a = xp.asarray(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
        rates.append(2 * n**3 / best_seconds(lambda: a @ a, sync) / 1e9)
    return rates


def conv_timings(xp: Any, sync: Callable[[], Any], conv1_batch: int) -> dict[str, float]:
    """Seconds of lesson 4's small layer three ways, and of the paper's conv1 (tinyalex) at a batch."""
    from tinyalex import functional as F
    from tinyalex.ops.im2col import im2col

    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((8, 3, 32, 32), dtype=np.float32))
    w = xp.asarray(rng.standard_normal((16, 3, 5, 5), dtype=np.float32))

    def pixel_loop():  # one small product per output pixel, as lesson 4's second version
        padded = xp.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
        y = xp.empty((8, 16, 32, 32), dtype=x.dtype)
        for i in range(32):
            for j in range(32):
                y[:, :, i, j] = xp.tensordot(padded[:, :, i:i + 5, j:j + 5], w, axes=([1, 2, 3], [1, 2, 3]))
        return y

    def one_product():  # im2col and one matrix product, as lesson 4's third version
        col = im2col(x, (5, 5), (1, 1), (2, 2))
        return w.reshape(16, -1) @ col.transpose(1, 2, 3, 0, 4, 5).reshape(75, -1)

    images = xp.asarray(rng.standard_normal((conv1_batch, 3, 224, 224), dtype=np.float32))
    filters = xp.asarray(0.01 * rng.standard_normal((96, 3, 11, 11), dtype=np.float32))
    return {
        "loop over pixels": best_seconds(pixel_loop, sync, repeats=3),
        "im2col + one product": best_seconds(one_product, sync),
        "tinyalex conv2d": best_seconds(lambda: F.conv2d(x, w, padding=2), sync),
        f"conv1, batch {conv1_batch}": best_seconds(lambda: F.conv2d(images, filters, stride=4, padding=2), sync),
    }


def kernel_check(xp: Any, sync: Callable[[], Any], shape: tuple) -> dict[str, Any]:
    """Lesson 6's check of the window-sum kernel, run on the solution, and its time against tinyalex's."""
    import sources
    from tinyalex.ops.local_response_norm import window_sum

    cells = sources.read(LESSONS / "src" / "06_local_response_normalization.py")
    exercise = next(c for c in cells if c.is_exercise and "def window_sum_gpu" in c.text)
    check_cell = cells[cells.index(exercise) + 1]
    namespace: dict[str, Any] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(CHECK_PRELUDE, namespace)
        exec(sources.solution_code(exercise.text), namespace)
        exec(check_cell.text, namespace)
    yours = namespace["window_sum_gpu" if xp is not np else "window_sum_cpu"]
    a = xp.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
    out = xp.empty_like(a)
    return {
        "check": printed.getvalue().strip(),
        "shape": list(shape),
        "kernel_ms": 1e3 * best_seconds(lambda: yours(a, 2, 2), sync),
        "tinyalex_ms": 1e3 * best_seconds(lambda: window_sum(a * a, 2, 2, out), sync),
    }


def measure(device: str) -> dict[str, Any]:
    """Everything the lessons show, on 'gpu' (CuPy) or, for testing this script, 'cpu' (small sizes)."""
    if device == "gpu":
        import cupy as xp

        sync = xp.cuda.Device().synchronize
        name = xp.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else name
        sizes, conv1_batch, library = [64, 128, 256, 512, 1024, 2048, 4096, 8192], 128, f"CuPy {xp.__version__}"
        lrn_shape = (128, 96, 55, 55)  # conv1's output at the paper's batch
    else:
        xp, sync, name = np, (lambda: None), "CPU (a test run of this script, not a GPU measurement)"
        sizes, conv1_batch, library = [32, 64], 2, f"NumPy {np.__version__}"
        lrn_shape = (2, 8, 5, 5)
    return {
        "device": name,
        "library": library,
        "date": datetime.date.today().isoformat(),
        "lesson1": {"sizes": sizes, "gflops": matmul_rates(xp, sizes, sync)},
        "lesson4": {"seconds": conv_timings(xp, sync, conv1_batch), "conv1_batch": conv1_batch},
        "lesson6": kernel_check(xp, sync, lrn_shape),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(DEFAULT), help=f"JSON file to write (default {DEFAULT})")
    parser.add_argument("--device", choices=("gpu", "cpu"), default="gpu",
                        help="gpu (default), or cpu to test this script without a GPU")
    args = parser.parse_args(argv)
    if args.device == "gpu":
        import tinyalex

        if not tinyalex.gpu_available():
            print("no GPU: this script needs CuPy and a CUDA device (`--device cpu` only tests it)", file=sys.stderr)
            return 2
    start = time.perf_counter()
    result = measure(args.device)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    print(f"wrote {out} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
