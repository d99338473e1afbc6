"""Compile every CUDA kernel of tinyalex with NVRTC, the compiler CuPy's RawKernel uses, without a GPU.

Needs CuPy and its NVRTC library (`pip install cupy-cuda13x "nvidia-cuda-nvrtc>=13,<14"` where the
CUDA toolkit has none); no device and no driver. Each kernel is compiled for float32 and float64
for one architecture; prints one line per kernel with the size of its PTX and NVRTC's log, and
exits 1 if any failed.

    python scripts/nvrtc_check.py [--arch compute_80]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cuda_emulator import all_kernels  # noqa: E402
from tinyalex.ops import cuda  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="compute_80", help="the virtual architecture (default compute_80)")
    arch = parser.parse_args().arch
    from cupy_backends.cuda.libs import nvrtc

    failed = 0
    for source, name in all_kernels():
        for dtype in (np.float32, np.float64):
            program = nvrtc.createProgram(cuda.source_for(source, dtype), f"{name}.cu", [], [])
            try:
                nvrtc.compileProgram(program, [f"-arch={arch}"])
                result = f"ok, {len(nvrtc.getPTX(program)):,} bytes of PTX"
            except nvrtc.NVRTCError:
                result, failed = "FAILED", failed + 1
            log = nvrtc.getProgramLog(program).strip()
            print(f"{name:18} {np.dtype(dtype).name:8} {result}{'; log: ' + log if log else ''}")
            nvrtc.destroyProgram(program)
    print(f"NVRTC {'.'.join(map(str, nvrtc.getVersion()))}, {arch}: {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
