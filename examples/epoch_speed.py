"""Seconds per training epoch of alexnet_small, tinyalex against PyTorch, both fed by tinyalex's loader.

    python examples/epoch_speed.py PREPARED_DIR [--rounds 2] [--batch-size 64] [--max-batches N]

The main job as a user runs it: one epoch of `tinyalex train`'s default net over a folder written
by `tinyalex prepare` (random 64x64 crops, flips, fancy PCA, mean subtraction), SGD with the
paper's momentum and weight decay. Each framework runs in its own child process, alternated
round by round (A B A B), as `tinyalex bench` does; each child first trains a few untimed
batches, then times one whole epoch, loader included, and how long it waited for data. PyTorch
trains the twin that `tinyalex bench` checks is the same network, on the same batches.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

from tinyalex.cli.options import integer
from tinyalex.data import DataLoader, PreparedDataset
from tinyalex.models import SMALL_INPUT_SIZE, alexnet_small

LR, MOMENTUM, WEIGHT_DECAY, WARMUP_BATCHES = 0.01, 0.9, 5e-4, 3


def tinyalex_step(model: Any) -> Any:
    """A function training `model` on one batch (x, labels) with tinyalex."""
    from tinyalex import Tensor
    from tinyalex.ops.softmax_cross_entropy import softmax_cross_entropy
    from tinyalex.optim import MomentumSGD

    optimizer = MomentumSGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    def step(x: np.ndarray, labels: np.ndarray) -> None:
        optimizer.zero_grad()
        softmax_cross_entropy(model(Tensor(x)), labels).backward()
        optimizer.step()

    return step


def torch_step(model: Any) -> Any:
    """The same with PyTorch on the twin of `model` (torch.optim.SGD, the same hyperparameters)."""
    import torch

    from tinyalex.bench.networks import torch_twin

    twin = torch_twin(model).train()
    optimizer = torch.optim.SGD(twin.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    def step(x: np.ndarray, labels: np.ndarray) -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(labels)).backward()
        optimizer.step()

    return step


def child(framework: str, data: str, batch: int, max_batches: int | None) -> dict:
    """One framework's epoch: seconds in all, seconds waiting for the loader, images."""
    train = PreparedDataset(data, "train")
    model = alexnet_small(num_classes=len(train.class_names), seed=0)
    step = tinyalex_step(model) if framework == "tinyalex" else torch_step(model)
    loader = DataLoader(train, batch_size=batch, crop=SMALL_INPUT_SIZE, seed=0)
    for index, (x, labels) in enumerate(loader):  # warm-up: threads, caches, first-touch pages
        step(x, labels)
        if index + 1 == WARMUP_BATCHES:
            break
    waited, images, start = 0.0, 0, time.perf_counter()
    batches = iter(loader)
    while max_batches is None or images < max_batches * batch:
        ready = time.perf_counter()
        try:
            x, labels = next(batches)
        except StopIteration:
            break
        waited += time.perf_counter() - ready
        step(x, labels)
        images += len(labels)
    return {"framework": framework, "seconds": time.perf_counter() - start, "waited": waited, "images": images}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a folder written by `tinyalex prepare`")
    parser.add_argument("--rounds", type=integer(1), default=2)
    parser.add_argument("--batch-size", type=integer(1), default=64, help="tinyalex train's default for alexnet_small")
    parser.add_argument("--max-batches", type=integer(1), default=None, help="stop the epoch early (for a quick look)")
    parser.add_argument("--child", choices=["tinyalex", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.batch_size, args.max_batches)))
        return
    results: dict[str, list[dict]] = {"tinyalex": [], "torch": []}
    for round_ in range(args.rounds):
        for framework in results:
            command = [sys.executable, __file__, args.data, "--batch-size", str(args.batch_size), "--child", framework]
            if args.max_batches:
                command += ["--max-batches", str(args.max_batches)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results[framework].append(json.loads(done.stdout.strip().splitlines()[-1]))
            run = results[framework][-1]
            print(f"round {round_ + 1} {framework:8s}: {run['images']} images in {run['seconds']:.1f} s "
                  f"({run['images'] / run['seconds']:.0f} img/s), {run['waited']:.1f} s waiting for data", flush=True)
    ours, theirs = (statistics.median(r["seconds"] for r in results[f]) for f in ("tinyalex", "torch"))
    ratios = [t["seconds"] / o["seconds"] for o, t in zip(results["tinyalex"], results["torch"])]
    print(f"median epoch: tinyalex {ours:.1f} s, PyTorch {theirs:.1f} s; ratio (tinyalex speed / PyTorch's) "
          f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f} over {args.rounds} rounds)")


if __name__ == "__main__":
    main()
