"""The figures of a trained model, from its checkpoint: Figure 3 (first-layer kernels) with its numbers
(per tower, the kernels' colour-plane correlation and their correlation with the initial weights: see
``kernels``), Figure 4 (nearest neighbours in the last hidden layer) and the confusion matrix with the
most confused pairs.

Figure 1 (ReLU against tanh) needs two training runs: ``tinyalex ablate`` draws it (see ``curves``).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from tinyalex.backend import resolve_device
from tinyalex.data import atomic
from tinyalex.data.loader import DataLoader
from tinyalex.experiments.confusion import confusion_matrix, most_confused, plot_confusion, predict_labels
from tinyalex.experiments.kernels import model_kernel_statistics, plot_model_kernels
from tinyalex.experiments.neighbours import neighbours_figure
from tinyalex.experiments.output import save_png, write_text
from tinyalex.training.checkpoint import load_model
from tinyalex.training.datasets import open_split


@dataclass
class ModelFigures:
    """What ``write_model_figures`` wrote: the PNG paths by name, the matrix's CSV and kernels.json, the
    most confused pairs, and Figure 3's numbers (``kernels.model_kernel_statistics``)."""

    paths: dict[str, Path] = field(default_factory=dict)
    kernels: dict = field(default_factory=dict)
    confused: list[tuple[str, str, int]] = field(default_factory=list)
    top1_error: float = 0.0


def write_model_figures(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, data: str | None = None,
                        split: str = "val", queries: int = 5, neighbours: int = 6, gallery: int | None = None,
                        seed: int = 0, batch_size: int = 64, device: str | None = None,
                        top_pairs: int = 5) -> ModelFigures:
    """Write kernels.png, kernels.json (Figure 3's numbers), neighbours.png, confusion.png and
    confusion.csv for the model in ``checkpoint``, tested on ``split`` of the data it was trained on (or
    of ``data``), neighbours searched among ``gallery`` of its training images (None: all)."""
    device = resolve_device(device)
    model, saved = load_model(checkpoint, device)
    info, mean = saved["meta"]["data"], saved["mean"]
    if info is None or mean is None:
        raise ValueError(f"{checkpoint} records no data set: it was not written by tinyalex training")
    train, test = open_split(info, mean, "train", data), open_split(info, mean, split, data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = ModelFigures()
    result.paths["kernels"] = save_png(plot_model_kernels(model), out / "kernels.png")
    result.kernels = {"checkpoint": str(checkpoint), **model_kernel_statistics(model)}
    atomic.write_json(out / "kernels.json", result.kernels)
    result.paths["kernels_json"] = out / "kernels.json"
    fig = neighbours_figure(model, train, test, info["crop"], queries, neighbours, gallery, seed, batch_size, device)
    result.paths["neighbours"] = save_png(fig, out / "neighbours.png", colors=256)  # photos: keep the file small
    loader = DataLoader(test, batch_size, train=False, crop=info["crop"], device=device)
    matrix = confusion_matrix(*predict_labels(model, loader), len(test.class_names))
    result.paths["confusion"] = save_png(plot_confusion(matrix, test.class_names), out / "confusion.png")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # columns keyed by WordNet id, which is unique (ImageNet has two "crane" and two "maillot"), a name beside each row
    writer.writerow(["true \\ predicted", "class name", *test.wnids])
    writer.writerows([wnid, name, *row] for wnid, name, row in zip(test.wnids, test.class_names, matrix.tolist()))
    write_text(out / "confusion.csv", buffer.getvalue())
    result.paths["confusion_csv"] = out / "confusion.csv"
    result.confused = most_confused(matrix, test.class_names, top_pairs)
    result.top1_error = float(1 - matrix.trace() / matrix.sum())
    return result
