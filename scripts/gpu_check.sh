#!/usr/bin/env bash
# The GPU check in one call (under 9 minutes on one H100): the GPU test suite, then
# `tinyalex bench` at batch 128 against PyTorch with cuDNN (float32, TF32 off on both sides) with
# the per-layer table, then each framework's peak GPU memory. Full logs go to $OUT (default runs/gpu-check):
#   env.txt          card, driver, CuPy / NumPy / PyTorch / cuDNN versions
#   gpu-tests.log    pytest on every gpu-marked test and the CuPy runs of the `xp` tests
#   bench-gpu.txt    the benchmark's tables; bench-gpu.json the same numbers; bench-gpu.err its progress
#   peak-gpu.jsonl   one line per framework: peak host RSS and GPU memory of 3 training steps at batch 128
#   bench-gpu-tf32.* with GPU_CHECK_TF32=1: the training step again with TF32 on both sides (about 2 more minutes)
# The last lines printed are a short summary: test counts and the training-step table.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python -c "import numpy, cupy, torch; print('numpy', numpy.__version__, '| cupy', cupy.__version__, '| torch', torch.__version__, '| cuDNN', torch.backends.cudnn.version())"
} > "$OUT/env.txt" 2>&1

TINYALEX_DEVICE=gpu timeout "${GPU_TESTS_TIMEOUT:-150}" python -m pytest -q -rfE -p no:cacheprovider -k "cupy or gpu" \
    --durations=10 > "$OUT/gpu-tests.log" 2>&1
tests=$?

# each framework in its own child process, 2 rounds (each child starts CUDA: allow for 8 of them)
timeout "${GPU_BENCH_TIMEOUT:-300}" python -m tinyalex bench --device gpu --model alexnet --batch-size 128 --compare torch \
    --layers --rounds 2 --steps 10 --warmup 3 --json "$OUT/bench-gpu.json" > "$OUT/bench-gpu.txt" 2> "$OUT/bench-gpu.err"
bench=$?

# with GPU_CHECK_TF32=1, the same training step with TF32 on both sides (TINYALEX_TF32=1), 1 round
tf32=0
if [ "${GPU_CHECK_TF32:-0}" = 1 ]; then
    TINYALEX_TF32=1 timeout "${GPU_TF32_TIMEOUT:-150}" python -m tinyalex bench --device gpu --model alexnet \
        --batch-size 128 --compare torch --rounds 1 --steps 10 --warmup 3 --json "$OUT/bench-gpu-tf32.json" \
        > "$OUT/bench-gpu-tf32.txt" 2>> "$OUT/bench-gpu.err"
    tf32=$?
fi

: > "$OUT/peak-gpu.jsonl"
for framework in tinyalex torch; do
    timeout 30 python -m tinyalex.bench.peak "$framework" 128 224 gpu 1.0 >> "$OUT/peak-gpu.jsonl" 2>> "$OUT/bench-gpu.err"
done

echo "== env"; cat "$OUT/env.txt"
echo "== bench (exit $bench; 124 = timed out)"
if [ "$bench" -eq 0 ]; then cat "$OUT/bench-gpu.txt"; else tail -n 25 "$OUT/bench-gpu.err"; fi
echo "== peak memory, batch 128 (MiB)"; cat "$OUT/peak-gpu.jsonl"
echo "== GPU tests (exit $tests; 124 = timed out)"
grep -E "^(FAILED|ERROR)" "$OUT/gpu-tests.log" | head -n 15
tail -n 1 "$OUT/gpu-tests.log"
if [ "${GPU_CHECK_TF32:-0}" = 1 ]; then
    echo "== TF32 on both sides (exit $tf32)"; sed -n '/^configuration/,/^$/p' "$OUT/bench-gpu-tf32.txt"
fi
echo "== summary: training step and inference, tinyalex (CuPy) vs PyTorch (cuDNN)"
if [ "$bench" -eq 0 ]; then sed -n '/^configuration/,/^$/p' "$OUT/bench-gpu.txt"; else echo "no benchmark table (see $OUT/bench-gpu.err)"; fi
exit $(( tests != 0 || bench != 0 ))
