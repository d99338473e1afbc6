"""scripts/gpu_memory_estimate.py: the GPU path's arrays counted on the CPU."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cuda_emulator import compiler_missing

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_memory_estimate.py"


@pytest.mark.skipif(compiler_missing() is not None, reason=str(compiler_missing()))
def test_a_second_step_ends_holding_what_it_started_with_and_the_graph_keeps_less_than_a_step_needs():
    out = subprocess.run([sys.executable, str(SCRIPT), "--batch-size", "2", "--steps", "2"],
                         capture_output=True, text=True, check=True).stdout

    def mib(pattern: str) -> list[int]:
        return [int(v.replace(",", "")) for v in re.search(pattern, out).groups()]

    [weights] = mib(r"weights and the batch: ([\d,]+) MiB")
    [kept] = mib(r"after forward, for backward: ([\d,]+) MiB")
    start1, peak1, end1 = mib(r"step 1: held at its start ([\d,]+) MiB, peak ([\d,]+) MiB, at its end ([\d,]+) MiB")
    start2, peak2, end2 = mib(r"step 2: held at its start ([\d,]+) MiB, peak ([\d,]+) MiB, at its end ([\d,]+) MiB")
    assert weights == start1 >= 233  # the paper's 60,965,224 float32 weights alone are 233 MiB
    assert end1 == start2 == end2 and end1 - weights >= 2 * 232  # gradients and momenta stay, nothing else
    assert 0 < kept < peak2 - start2 and peak1 > start1


def test_a_batch_size_of_zero_is_refused_by_name():
    done = subprocess.run([sys.executable, str(SCRIPT), "--batch-size", "0"], capture_output=True, text=True)
    assert done.returncode == 2 and "--batch-size" in done.stderr and "whole number >= 1" in done.stderr
