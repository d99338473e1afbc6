"""The whole benchmark: training step and inference per batch size, each layer, peak memory."""
from __future__ import annotations

import datetime
import gc
import importlib
import os
import platform
from typing import Any, Callable

import numpy as np

from tinyalex import backend
from tinyalex.bench import peak as peak_memory
from tinyalex.bench import report
from tinyalex.bench.networks import build_alexnet, torch_twin
from tinyalex.bench.runs import TinyalexRuns, TorchRuns
from tinyalex.bench.timing import alternate
from tinyalex.ops import workspace


def import_torch() -> Any:
    """torch, or None when it is not installed (it is not a dependency of tinyalex)."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def environment(device: str, torch: Any) -> dict[str, str]:
    """Date, hardware and versions, for the results table."""
    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
        cpu = names[0] if names else cpu
    blas = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "numpy": f"{np.__version__} ({blas.get('name', '?')} {blas.get('version', '')})".strip(),
        "torch": torch.__version__ if torch is not None else "not installed",
    }
    if device == "gpu":
        xp = backend.require_gpu()
        env["cupy"] = xp.__version__
        env["gpu"] = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)["name"].decode()
        if torch is not None:
            env["cudnn"] = str(torch.backends.cudnn.version())
    return env


def run_benchmark(
    batch_sizes: list[int],
    device: str = "cpu",
    compare_torch: bool = False,
    layers: bool = False,
    peak: bool = False,
    repeats: int = 5,
    warmup: int = 2,
    image_size: int = 224,
    width: float = 1.0,
    log: Callable[[str], Any] = print,
) -> dict:
    """Time everything asked for; returns the results as a dict of plain values (see report.py)."""
    torch = import_torch() if compare_torch else None
    if compare_torch and torch is None:
        log("PyTorch is not installed: timing tinyalex alone")
    torch_device = "cuda" if device == "gpu" else "cpu"
    results: dict[str, Any] = {"environment": environment(device, torch), "device": device,
                               "image_size": image_size, "width": width, "configs": [], "layers": {}, "peaks": []}
    for batch in batch_sizes:
        log(f"batch {batch}: building the network{' in both frameworks' if torch else ''}")
        ours = TinyalexRuns(build_alexnet(image_size, width), batch, image_size, device)
        jobs = {f"tinyalex {name}": job for name, job in ours.jobs().items()}
        config: dict[str, Any] = {"batch": batch}
        theirs = None
        if torch is not None:
            theirs = TorchRuns(torch_twin(ours.model, torch, torch_device), torch, batch, image_size, device)
            a, b = ours.logits(), theirs.logits()
            config["logits_max_relative_difference"] = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
            jobs.update({f"torch {name}": job for name, job in theirs.jobs().items()})
        log(f"batch {batch}: timing the training step and inference ({warmup} warm-up + {repeats} runs each)")
        times = alternate(jobs, repeats, warmup)
        for framework in ("tinyalex", "torch"):
            if f"{framework} train" in times:
                config[framework] = {job: times[f"{framework} {job}"] for job in ("train", "inference")}
        results["configs"].append(config)
        if layers and batch == batch_sizes[0]:
            log(f"batch {batch}: timing each layer's forward and backward")
            pairs = {"tinyalex": ours.layer_jobs()}
            if theirs is not None:
                pairs["torch"] = theirs.layer_jobs()
            for name in pairs["tinyalex"]:
                layer_jobs = {f"{fw} {name} {d}": pairs[fw][name][i] for fw in pairs for i, d in enumerate(("fwd", "bwd"))}
                t = alternate(layer_jobs, repeats, warmup)
                results["layers"][name] = {fw: (t[f"{fw} {name} fwd"], t[f"{fw} {name} bwd"]) for fw in pairs}
        del ours, theirs, jobs
        workspace.clear()
        gc.collect()
    if peak:
        for batch in batch_sizes:
            for framework in ("tinyalex", "torch") if torch is not None else ("tinyalex",):
                log(f"batch {batch}: peak memory of {framework} (child process)")
                results["peaks"].append(peak_memory.measure(framework, batch, image_size, device, width))
    return results


def format_results(results: dict) -> str:
    """The tables, preceded by the environment."""
    env = results["environment"]
    lines = [f"tinyalex bench on {results['device']}, {results['image_size']}x{results['image_size']} float32, "
             f"width {results['width']}: " + "; ".join(f"{k} {v}" for k, v in env.items()), ""]
    lines += [report.steps_table(results), ""]
    agree = [c["logits_max_relative_difference"] for c in results["configs"] if "logits_max_relative_difference" in c]
    if agree:
        lines += [f"same network: inference outputs of tinyalex and PyTorch differ by at most {max(agree):.1e} (relative)", ""]
    if results["layers"]:
        lines += [report.layers_table(results["layers"], results["configs"][0]["batch"]), ""]
    if results["peaks"]:
        lines += ["peak memory of a training process (child process per framework; see tinyalex/bench/peak.py)",
                  report.peak_table(results["peaks"]), ""]
    return "\n".join(lines)

