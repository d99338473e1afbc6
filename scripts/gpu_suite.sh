#!/usr/bin/env bash
# The GPU test suite on a machine with a CUDA device, in one call. Logs go to $OUT (default runs/gpu):
#   gpu-env.txt     the card, driver, CuPy / NumPy / NCCL / MPI versions
#   gpu-suite.log   pytest's output: every gpu-marked test (tests/test_gpu.py: ops, model, optimiser,
#                   loader, checkpoints, the two towers on (0, 0) and (0, 'cpu'), NCCL under mpirun)
#                   and the CuPy runs of the tests parametrised over the array module (`xp`)
#   gpu-junit.xml   the same results, one line per test
# TINYALEX_DEVICE=gpu makes a missing or broken GPU fail the run instead of skipping it.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" TINYALEX_DEVICE=gpu

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python - <<'PY'
import numpy, cupy
print("numpy", numpy.__version__, "| cupy", cupy.__version__, "| CUDA runtime", cupy.cuda.runtime.runtimeGetVersion())
from cupy.cuda import nccl
print("nccl", nccl.get_version() if nccl.available else "not available")
PY
    if command -v mpirun >/dev/null; then mpirun --version | head -n 1; else echo "mpirun: not found"; fi
    python -c "import mpi4py; print('mpi4py', mpi4py.__version__)"
} > "$OUT/gpu-env.txt" 2>&1
cat "$OUT/gpu-env.txt"

timeout "${GPU_SUITE_TIMEOUT:-480}" python -m pytest -q -rfEs -p no:cacheprovider -k "cupy or gpu" \
    --durations=10 --junitxml="$OUT/gpu-junit.xml" 2>&1 | tee "$OUT/gpu-suite.log"
status=${PIPESTATUS[0]}
echo "gpu suite: exit status $status" | tee -a "$OUT/gpu-suite.log"
exit "$status"
