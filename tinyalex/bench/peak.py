"""Peak memory of a training process, measured in a child process per framework.

On the CPU this is the kernel's high-water mark of the child's resident memory (VmHWM)
while it runs a few training steps: everything the process holds, interpreter,
libraries (importing torch alone is a few hundred MiB) and model included. The mark is
reset after the network is built (Linux's /proc/self/clear_refs), so that the PyTorch
run does not pay for the tinyalex model its weights were copied from; `imports_mib`
says how much of the peak the imported libraries hold. On the GPU, `gpu_peak_mib` is
the device memory the framework's allocator held at its peak (PyTorch:
max_memory_reserved; CuPy: its pool's total, which keeps every block it ever needed).

Run as `python -m tinyalex.bench.peak FRAMEWORK BATCH IMAGE_SIZE DEVICE WIDTH`; prints one JSON line.
"""
from __future__ import annotations

import gc
import importlib
import json
import subprocess
import sys


def _status_mib(field: str) -> float:
    """VmRSS or VmHWM of this process in MiB, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(framework: str, batch: int, image_size: int, device: str, width: float = 1.0) -> dict:
    """Run a few training steps of `framework` ('tinyalex' or 'torch') in a child process; its memory in MiB."""
    command = [sys.executable, "-m", "tinyalex.bench.peak", framework, str(batch), str(image_size), device, str(width)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"peak memory run of {framework} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(framework: str, batch: int, image_size: int, device: str, width: float, steps: int = 3) -> dict:
    from tinyalex.bench.networks import build_alexnet, torch_twin
    from tinyalex.bench.runs import TinyalexRuns, TorchRuns

    torch = importlib.import_module("torch") if framework == "torch" else None
    imports = _status_mib("VmRSS")
    model = build_alexnet(image_size, width)
    if torch is not None:
        runs = TorchRuns(torch_twin(model, torch, "cuda" if device == "gpu" else "cpu"), torch, batch, image_size, device)
        del model
    else:
        runs = TinyalexRuns(model, batch, image_size, device)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset the high-water mark to the current resident size
    for _ in range(steps):
        runs.train_step()
    result = {"framework": framework, "batch": batch, "imports_mib": imports, "peak_mib": _status_mib("VmHWM")}
    if device == "gpu" and torch is not None:
        result["gpu_peak_mib"] = torch.cuda.max_memory_reserved() / 2**20
    elif device == "gpu":
        result["gpu_peak_mib"] = runs.xp.get_default_memory_pool().total_bytes() / 2**20
    return result


if __name__ == "__main__":
    name, batch_size, size, dev, scale = sys.argv[1:6]
    print(json.dumps(_child(name, int(batch_size), int(size), dev, float(scale))))
