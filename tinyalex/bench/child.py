"""One benchmark child process: one framework's jobs on one network, or the same-network check; one JSON line out.

    python -m tinyalex.bench.child tinyalex --model small --batch 64 --jobs inference train --steps 10 --warmup 2
    python -m tinyalex.bench.child torch --model alexnet --batch 32 --jobs layers
    python -m tinyalex.bench.child same-network --model small

Only one framework's libraries are loaded and only its threads run, so neither framework can take
the cores from the other (OpenBLAS's workers keep spinning after each product). Imports, building
the network and the warm-up steps are not timed; each job's steps are timed one by one
(timing.time_job). Both frameworks build the tinyalex net from the same seed; the torch child copies
its weights into the twin and lets it go before measuring memory. For each job the high-water mark
of resident memory is reset first (peak.py), so each job's peak is its own.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from typing import Any

from tinyalex import backend
from tinyalex.bench import environment, peak
from tinyalex.bench.networks import MODELS, build_model, torch_twin
from tinyalex.bench.runs import TinyalexRuns, TorchRuns
from tinyalex.bench.same_network import check_batch, check_init, same_network
from tinyalex.bench.timing import Clock, alternate, time_job

FRAMEWORKS = ("tinyalex", "torch")
JOBS = ("train", "inference", "layers")


def run_child(framework: str, model_name: str, batch: int, device: str, jobs: list[str], steps: int, warmup: int,
              image_size: int | None = None, width: float | None = None, clock: Clock = time.perf_counter) -> dict:
    """Time `jobs` of `framework` on the net `model_name` at `batch`; seconds of each timed step and memory in MiB.

    'layers' gives each layer's median forward and backward seconds instead of step times.
    """
    if framework == "torch":
        importlib.import_module("torch")  # before the imports mark: its libraries count as imports
    elif device == "gpu":
        backend.require_gpu()
    imports = peak.rss_mib()
    model = build_model(model_name, image_size, width)
    config = model.config
    if framework == "torch":
        runs: Any = TorchRuns(torch_twin(model, device), batch, config["input_size"], config["num_classes"], device)
        del model
    else:
        runs = TinyalexRuns(model, batch, device)
    result: dict[str, Any] = {
        "framework": framework, "model": model_name, "batch": batch, "image_size": config["input_size"],
        "width": config["width"], "device": device, "steps": steps, "warmup": warmup, "imports_mib": imports,
        "environment": environment.process(framework, device), "jobs": {},
    }
    timed = runs.jobs()
    for job in jobs:
        peak.reset_peak()
        if job == "layers":
            times = {name: alternate({"fwd": fwd, "bwd": bwd}, steps, warmup, clock)
                     for name, (fwd, bwd) in runs.layer_jobs().items()}
            result["layers"] = {name: [t["fwd"], t["bwd"]] for name, t in times.items()}
            continue
        seconds = time_job(timed[job], steps, warmup, clock)
        memory = {"peak_mib": peak.peak_mib()}
        memory["net_mib"] = memory["peak_mib"] - imports
        if device == "gpu":
            memory["gpu_peak_mib"] = runs.gpu_peak_mib()
        result["jobs"][job] = {"seconds": seconds, **memory}
    return result


def check_child(model_name: str, device: str, image_size: int | None = None, width: float | None = None) -> dict:
    """The same-network check of the net `model_name` and its PyTorch twin, on weights re-drawn by check_init."""
    model = build_model(model_name, image_size, width).to(device)
    x, labels = check_batch(model)
    check_init(model, x)
    report = same_network(model, torch_twin(model, device), x, labels, strict=False)
    return {"model": model_name, "image_size": model.config["input_size"], "width": model.config["width"],
            "batch": len(x), **report}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinyalex.bench.child", description=__doc__.split("\n")[0])
    parser.add_argument("framework", choices=[*FRAMEWORKS, "same-network"])
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--jobs", nargs="+", choices=JOBS, default=["train"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--width", type=float, default=None)
    args = parser.parse_args(argv)
    if args.framework == "same-network":
        result = check_child(args.model, args.device, args.image_size, args.width)
    else:
        result = run_child(args.framework, args.model, args.batch, args.device, args.jobs, args.steps, args.warmup,
                           args.image_size, args.width)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
