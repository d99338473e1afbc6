"""One benchmark child: what it times (warm-up excluded), what it measures and records; peak memory's reset."""
import json
import subprocess
import sys
import types

import numpy as np
import pytest

from tinyalex.bench import environment, peak
from tinyalex.bench.child import run_child
from tinyalex.bench.children import run_child as start_child

TINY = ["--model", "alexnet", "--image-size", "64", "--width", "0.0625"]


def test_child_times_only_the_steps_after_warm_up():
    ticks = iter([0.0, 50.0, 50.0, 51.0, 51.0, 53.0])  # warm-up 50 s, then steps of 1 s and 2 s
    result = run_child("tinyalex", "alexnet", 2, "cpu", ["train"], steps=2, warmup=1, image_size=64, width=0.0625,
                       clock=lambda: next(ticks))
    assert result["jobs"]["train"]["seconds"] == [1.0, 2.0]
    assert (result["framework"], result["batch"], result["image_size"], result["steps"]) == ("tinyalex", 2, 64, 2)


def test_child_measures_memory_per_job_net_of_imports():
    result = run_child("tinyalex", "small", 2, "cpu", ["inference", "train"], steps=1, warmup=0, width=0.0625)
    assert list(result["jobs"]) == ["inference", "train"]
    for job in result["jobs"].values():
        assert job["peak_mib"] > 0 and job["net_mib"] == pytest.approx(job["peak_mib"] - result["imports_mib"])
    assert result["environment"]["numpy"].startswith(np.__version__)
    assert result["image_size"] == 64 and result["width"] == 0.0625


def test_child_times_layers_in_forward_order():
    result = run_child("tinyalex", "small", 2, "cpu", ["layers"], steps=1, warmup=0, width=0.0625)
    assert list(result["layers"])[:3] == ["conv1", "act1", "norm1"] and list(result["layers"])[-1] == "fc8"
    assert all(len(pair) == 2 and min(pair) >= 0 for pair in result["layers"].values())


def test_torch_child_builds_the_twin_and_records_its_threads():
    torch = pytest.importorskip("torch")
    result = run_child("torch", "small", 2, "cpu", ["train"], steps=1, warmup=0, width=0.0625)
    assert result["environment"]["torch"] == torch.__version__
    assert result["environment"]["torch_threads"] == torch.get_num_threads()
    assert len(result["jobs"]["train"]["seconds"]) == 1


def test_a_child_process_prints_one_json_line():
    result = start_child(["tinyalex", *TINY, "--batch", "2", "--jobs", "train", "--steps", "1", "--warmup", "0"])
    assert result["framework"] == "tinyalex" and len(result["jobs"]["train"]["seconds"]) == 1


def test_a_failing_child_says_why():
    with pytest.raises(RuntimeError, match="benchmark child"):
        start_child(["tinyalex", "--model", "alexnet", "--image-size", "8"])  # too small for AlexNet


def test_peak_command_of_gpu_check_still_works():
    done = subprocess.run([sys.executable, "-m", "tinyalex.bench.peak", "tinyalex", "2", "64", "cpu", "0.0625"],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["framework"] == "tinyalex" and result["batch"] == 2
    assert result["peak_mib"] >= result["imports_mib"] > 0 and "net_mib" in result


def test_reset_peak_forgets_memory_given_back():
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    high = peak.peak_mib()
    del block
    peak.reset_peak()
    assert peak.peak_mib() < high - 32
    assert peak.peak_mib() >= peak.rss_mib() - 1


def test_blas_threads_come_from_threadpoolctl_when_it_is_there(monkeypatch):
    info = [{"internal_api": "openblas", "version": "0.3.31", "num_threads": 2, "prefix": "libscipy_openblas"}]
    monkeypatch.setitem(sys.modules, "threadpoolctl", types.SimpleNamespace(threadpool_info=lambda: info))
    assert environment.blas_threads() == [{"library": "openblas", "version": "0.3.31", "threads": 2}]


def test_without_threadpoolctl_blas_threads_come_from_openblas_or_are_unknown(monkeypatch):
    from tinyalex.ops import threads

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import raises ImportError
    found = environment.blas_threads()
    if threads.blas_threads() is None:
        assert found.startswith("unknown")
    else:
        assert found == [{"library": "NumPy's OpenBLAS (threadpoolctl is not installed)",
                          "threads": threads.blas_threads()}]
    monkeypatch.setitem(threads._state, "blas", ())  # NumPy on another BLAS: no OpenBLAS found
    assert environment.blas_threads().startswith("unknown")


def test_host_records_date_cpu_and_versions(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    env = environment.host()
    assert set(env) == {"date", "cpu", "python", "numpy", "thread_variables"}
    assert "cores" in env["cpu"] and env["thread_variables"]["OMP_NUM_THREADS"] == "2"
