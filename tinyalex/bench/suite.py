"""The whole benchmark: the same-network check, then every configuration's children in rounds, and the layers.

The parent process only starts children and adds up what they print: it builds no network and
imports no PyTorch, so nothing of it runs while a child is being timed.
"""
from __future__ import annotations

import importlib.util
from typing import Any, Callable

from tinyalex.bench import aggregate, environment
from tinyalex.bench.children import Run, alternate_rounds, run_child
from tinyalex.bench.configs import Config

JOBS = ("train", "inference")
CHILD_JOBS = ("inference", "train")  # inference first, so its peak memory is not the training's leftovers
METHOD = ("each framework in its own process, alternated round by round (tinyalex, PyTorch, tinyalex, ...); "
          "steps timed inside each process after warm-up; ratio = median over rounds of tinyalex speed / PyTorch speed")


def torch_installed() -> bool:
    """Whether PyTorch can be imported, without importing it here."""
    return importlib.util.find_spec("torch") is not None


def _net_arguments(model: str, device: str, image_size: int | None, width: float | None) -> list[str]:
    arguments = ["--model", model, "--device", device]
    if image_size is not None:
        arguments += ["--image-size", str(image_size)]
    if width is not None:
        arguments += ["--width", str(width)]
    return arguments


def _config_results(config: Config, frameworks: list[str], rounds: list[dict]) -> dict:
    """One configuration's numbers per job: each framework's summary and memory, and the ratio."""
    first = rounds[0][frameworks[0]]
    out: dict[str, Any] = {"model": config.model, "batch": config.batch, "image_size": first["image_size"],
                           "width": first["width"], "steps": config.steps, "warmup": config.warmup}
    for job in JOBS:
        entry: dict[str, Any] = {}
        for framework in frameworks:
            runs = [r[framework]["jobs"][job] for r in rounds]
            entry[framework] = {**aggregate.framework_summary(config.batch, [run["seconds"] for run in runs]),
                                **aggregate.memory_summary(runs)}
        if "torch" in entry:
            entry["ratio"] = aggregate.ratio_summary(entry["tinyalex"]["rounds"], entry["torch"]["rounds"])
        out[job] = entry
    return out


def _time_config(config: Config, frameworks: list[str], rounds: int, net: list[str], log: Callable[[str], Any],
                 run: Run) -> list[dict]:
    """The children of one configuration, framework after framework in every round."""
    def one(framework: str, round_: int) -> dict:
        log(f"{config.model} batch {config.batch}, round {round_ + 1}/{rounds}: {framework} "
            f"({config.warmup} warm-up + {config.steps} timed steps per job)")
        return run([framework, *net, "--batch", str(config.batch), "--jobs", *CHILD_JOBS,
                    "--steps", str(config.steps), "--warmup", str(config.warmup)])

    return alternate_rounds(frameworks, rounds, one)


def run_benchmark(
    configs: list[Config],
    device: str = "cpu",
    compare_torch: bool = False,
    rounds: int = 3,
    layers: bool = False,
    image_size: int | None = None,
    width: float | None = None,
    log: Callable[[str], Any] = print,
    run: Run = run_child,
) -> dict:
    """Check, time and measure everything asked for; the results as plain values (see report.py for the tables).

    With `compare_torch`, the same-network check of every net runs first; when one fails, nothing
    is timed (results["configs"] stays empty). `run` starts one child (tests pass a fake one).
    """
    if compare_torch and not torch_installed():  # asked for a ratio: tinyalex's time alone would not give one
        raise RuntimeError("--compare torch needs PyTorch, which is not installed here (pip install torch)")
    frameworks = ["tinyalex", "torch"] if compare_torch else ["tinyalex"]
    results: dict[str, Any] = {"environment": environment.host(), "device": device, "rounds": rounds,
                               "method": METHOD, "frameworks": {}, "same_network": {}, "configs": []}
    if "torch" in frameworks:
        for model in dict.fromkeys(config.model for config in configs):
            log(f"{model}: checking that the PyTorch twin is the same network")
            results["same_network"][model] = run(["same-network", *_net_arguments(model, device, image_size, width)])
        if not all(report["passed"] for report in results["same_network"].values()):
            return results
    for config in configs:
        done = _time_config(config, frameworks, rounds, _net_arguments(config.model, device, image_size, width),
                            log, run)
        for framework in frameworks:
            results["frameworks"].setdefault(framework, done[0][framework]["environment"])
        results["configs"].append(_config_results(config, frameworks, done))
    if layers:
        config = configs[0]
        results["layers"] = {"model": config.model, "batch": config.batch}
        for framework in frameworks:
            log(f"{config.model} batch {config.batch}: each layer's forward and backward in {framework}")
            child = run([framework, *_net_arguments(config.model, device, image_size, width), "--batch",
                         str(config.batch), "--jobs", "layers", "--steps", str(config.steps),
                         "--warmup", str(config.warmup)])
            results["layers"][framework] = child["layers"]
    return results
