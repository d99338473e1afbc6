"""Top-k error (the paper reports top-1 and top-5) and the per-epoch metrics file."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tinyalex.backend import get_array_module
from tinyalex.data import atomic

# Columns of metrics.csv, one row per epoch.
# seconds = data_seconds (training waited for batches) + compute_seconds (training steps) + val_seconds.
COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "top1_error", "top5_error", "lr", "seconds",
           "images_per_s", "data_seconds", "compute_seconds", "val_seconds")

# Said where top-5 error is shown for a set of 5 classes or fewer.
TOP5_NOTE = "note: with {classes} classes every label is among the top 5, so top-5 error is 0: read the top-1 error"


def topk_wrong(scores: Any, labels: Any, k: int) -> int:
    """How many rows of ``scores`` (N, K) do not have their label among the k highest scores.

    Ties count against the label, and a row holding NaN is wrong: a net that scores every class alike (or
    has diverged) is wrong on every image, not right on all of them."""
    xp = get_array_module(scores)
    k = min(k, scores.shape[1])
    # the label is in the top k when fewer than k other classes score at least as high as it
    label_scores = scores[xp.arange(len(labels)), labels][:, None]
    rivals = (scores >= label_scores).sum(axis=1) - 1
    return int(((rivals >= k) | xp.isnan(scores).any(axis=1)).sum())


def write_metrics_csv(history: list[dict[str, Any]], path: str | Path) -> None:
    """Write the whole history as CSV, atomically (rewritten each epoch, so a resume never duplicates rows)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({key: _format(record.get(key)) for key in COLUMNS})
    with atomic.writing(Path(path)) as tmp:
        tmp.write_text(out.getvalue(), encoding="utf-8")


def _format(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value
