"""Peak host memory of this process: the kernel's high-water mark of its resident size (VmHWM), and its reset.

A benchmark child reads `rss_mib()` right after its imports (the interpreter and libraries:
importing torch alone is a few hundred MiB), builds its network, calls `reset_peak()` and runs
its steps; `peak_mib()` is then everything the process held at its peak, and the peak minus the
imports is what the network and its steps cost. The reset (Linux's /proc/self/clear_refs) first
hands freed memory back to the system, so that the PyTorch child does not pay for the tinyalex
model its weights were copied from.

`python -m tinyalex.bench.peak FRAMEWORK BATCH IMAGE_SIZE DEVICE WIDTH` runs 3 training steps of
the paper's net in a child (tinyalex.bench.child) and prints one JSON line of its memory in MiB.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import sys


def _status_mib(field: str) -> float:
    """VmRSS or VmHWM of this process in MiB, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def rss_mib() -> float:
    """Resident memory now, in MiB."""
    return _status_mib("VmRSS")


def peak_mib() -> float:
    """The most resident memory since the process started or since the last reset_peak(), in MiB."""
    return _status_mib("VmHWM")


def reset_peak() -> None:
    """Free what is garbage, return the C library's free memory to the system, and restart the high-water mark."""
    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc is not None and hasattr(ctypes.CDLL(libc), "malloc_trim"):  # glibc
        ctypes.CDLL(libc).malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # the high-water mark becomes the current resident size


if __name__ == "__main__":
    from tinyalex.bench.child import run_child

    if len(sys.argv) != 6 or sys.argv[1] not in ("tinyalex", "torch"):
        sys.exit("usage: python -m tinyalex.bench.peak {tinyalex,torch} BATCH IMAGE_SIZE {cpu,gpu} WIDTH\n"
                 "e.g. python -m tinyalex.bench.peak tinyalex 128 224 cpu 1.0")
    name, batch_size, size, dev, scale = sys.argv[1:6]
    result = run_child(name, "alexnet", int(batch_size), dev, ["train"], steps=3, warmup=0,
                       image_size=int(size), width=float(scale))
    memory = {key: value for key, value in result["jobs"]["train"].items() if key.endswith("_mib")}
    print(json.dumps({"framework": name, "batch": int(batch_size), "imports_mib": result["imports_mib"], **memory}))
