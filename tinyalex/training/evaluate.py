"""Top-1 and top-5 error of a model on a data set, with the centre crop or the paper's ten crops."""
from __future__ import annotations

import os
from typing import Any

import numpy as np
from tqdm import tqdm

from tinyalex.backend import get_array_module, resolve_device, to_device
from tinyalex.data.loader import DataLoader
from tinyalex.engine.tensor import no_grad
from tinyalex.functional import log_softmax
from tinyalex.layers import Module
from tinyalex.parallel.data_parallel import worker_batches
from tinyalex.training.checkpoint import data_of, load_model
from tinyalex.training.datasets import open_split
from tinyalex.training.metrics import topk_wrong


def evaluate(model: Module, loader: Any, device: str = "cpu", communicator: Any = None,
             progress: bool = False, desc: str = "evaluate") -> dict[str, float]:
    """{"loss", "top1_error", "top5_error", "images"} over one pass of ``loader``.

    A loader with ``ten_crop`` set yields 10 crops per image; their softmax outputs are averaged
    (Section 4.1: "averaging the predictions made by the network's softmax layer on the ten
    patches"). With a communicator, each worker scores its contiguous shard of every batch (the
    loader loads only that shard when it can) and the counts are summed over workers.
    """
    crops = 10 if getattr(loader, "ten_crop", False) else 1
    was_training = model.training
    model.eval()
    loss_sum, wrong1, wrong5, images = 0.0, 0, 0, 0
    try:
        with no_grad():
            batches = worker_batches(loader, communicator, crops)
            total = len(loader) if hasattr(loader, "__len__") else None
            for x, y in tqdm(batches, total=total, desc=desc, leave=False, disable=not progress):
                if len(y) == 0:  # this worker's share of the batch is empty
                    continue
                x, y = to_device(x, device), to_device(y, device)
                log_p = log_softmax(model(x)).data
                xp = get_array_module(log_p)
                if crops > 1:  # log of the mean of the crops' softmax outputs, computed stably
                    log_p = log_p.reshape(-1, crops, log_p.shape[1])
                    top = log_p.max(axis=1)
                    log_p = top + xp.log(xp.exp(log_p - top[:, None]).mean(axis=1))
                # L = -(1/N) sum_n log p[n, t_n], summed here and divided at the end
                loss_sum += float(-log_p[xp.arange(len(y)), y].sum())
                wrong1 += topk_wrong(log_p, y, 1)
                wrong5 += topk_wrong(log_p, y, 5)
                images += len(y)
    finally:
        model.train(was_training)
    if communicator is not None:
        loss_sum, wrong1, wrong5, images = sum_over_workers([loss_sum, wrong1, wrong5, images], communicator, device)
        wrong1, wrong5, images = round(wrong1), round(wrong5), round(images)
    if images == 0:
        raise ValueError("evaluate: the loader gave no images")
    return {"loss": loss_sum / images, "top1_error": wrong1 / images, "top5_error": wrong5 / images, "images": images}


def sum_over_workers(values: list[float], communicator: Any, device: str) -> list[float]:
    """Sum a few numbers over all workers."""
    array = to_device(np.array(values, dtype=np.float64), device)
    communicator.allreduce_sum([array])
    return [float(v) for v in array.tolist()]


def evaluate_checkpoint(path: str | os.PathLike, data: str | os.PathLike | None = None, split: str = "val",
                        batch_size: int = 64, device: str | None = "auto", ten_crop: bool = True,
                        progress: bool = True) -> dict[str, Any]:
    """Errors of a saved model on the data it was trained on (or ``data``) with the centre crop and,
    unless ``ten_crop`` is False, with ten-crop averaging. Top-level errors are ten-crop when computed.
    ``epoch`` epochs were trained, and ``next_epoch_batches`` batches of the next one.

    ``skipped`` counts the files of the split that were not scored (``skipped_files`` says which and
    why): unreadable images, and images of classes the network was not trained on; for a prepared
    set, the files ``prepare`` skipped.
    """
    device = resolve_device(device)
    model, checkpoint = load_model(path, device)
    info = data_of(path, checkpoint)
    dataset = open_split(info, checkpoint["mean"], split, data)
    partial = checkpoint["meta"].get("partial")  # a checkpoint saved by Ctrl-C in the middle of an epoch
    results: dict[str, Any] = {"checkpoint": str(path), "data": str(data or info["root"]), "split": split,
                               "classes": len(info["wnids"]), "epoch": checkpoint["meta"]["epoch"],
                               "next_epoch_batches": partial["batch"] if partial else 0}
    modes = {"center": False, "ten_crop": True} if ten_crop else {"center": False}
    for name, tens in modes.items():
        loader = DataLoader(dataset, batch_size=batch_size, train=False, crop=info["crop"], ten_crop=tens,
                            device=device)
        results[name] = evaluate(model, loader, device, progress=progress, desc=name.replace("_", "-"))
    best = results["ten_crop" if ten_crop else "center"]
    skipped = [{"path": p, "reason": r} for p, r in sorted(getattr(dataset, "skipped", {}).items())]
    results.update(top1_error=best["top1_error"], top5_error=best["top5_error"], images=best["images"],
                   skipped=len(skipped), skipped_files=skipped)
    return results
