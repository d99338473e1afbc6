"""Top-k error counts, the metrics file and the curves."""
import csv

import numpy as np

from tinyalex.training.metrics import COLUMNS, topk_wrong, write_metrics_csv
from tinyalex.training.plots import plot_history


def test_topk_wrong_by_hand(xp):
    scores = xp.asarray(np.array([
        [0.1, 0.5, 0.2, 0.0, 0.3, 0.4, 0.6],  # label 1: second highest -> top-1 wrong, top-5 right
        [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # label 0: highest
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # label 1: sixth highest -> wrong in both
    ], np.float32))
    labels = xp.asarray(np.array([1, 0, 1]))
    assert topk_wrong(scores, labels, 1) == 2
    assert topk_wrong(scores, labels, 5) == 1
    assert topk_wrong(scores, labels, 7) == 0
    assert topk_wrong(scores[:, :3], labels, 5) == 0  # fewer classes than k: never wrong


def test_ties_and_nan_count_against_the_label(xp):
    """With ties counted for the label, a net scoring every class alike had 0% error, and a diverged one too."""
    labels = xp.asarray(np.array([0, 3, 7, 9]))
    assert topk_wrong(xp.zeros((4, 10)), labels, 1) == 4
    assert topk_wrong(xp.zeros((4, 10)), labels, 5) == 4
    assert topk_wrong(xp.zeros((4, 10)), labels, 10) == 0  # every class is among the ten
    assert topk_wrong(xp.asarray([[1.0, 1.0, 1.0, 0.0]]), xp.asarray([2]), 1) == 1
    assert topk_wrong(xp.asarray([[1.0, 1.0, 1.0, 0.0]]), xp.asarray([2]), 3) == 0
    nan = xp.asarray([[np.nan, 0.0, 0.0], [0.0, np.nan, 1.0], [0.0, 1.0, 0.0]])
    assert topk_wrong(nan, xp.asarray([1, 2, 1]), 1) == 2  # NaN anywhere in a row: wrong
    assert topk_wrong(nan, xp.asarray([1, 2, 1]), 3) == 2


def history(epochs):
    return [{"epoch": e, "train_loss": 2.0 / e, "train_accuracy": 0.2 * e, "val_loss": 2.1 / e,
             "top1_error": 1 - 0.2 * e, "top5_error": 0.5 / e, "lr": 0.01, "seconds": 1.5, "images_per_s": 100.0}
            for e in range(1, epochs + 1)]


def test_metrics_csv_has_one_row_per_epoch_and_is_rewritten(tmp_path):
    path = tmp_path / "metrics.csv"
    write_metrics_csv(history(3), path)
    write_metrics_csv(history(2), path)  # a resumed run rewrites, never appends duplicates
    rows = list(csv.DictReader(path.open()))
    assert tuple(rows[0]) == COLUMNS and [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[1]["train_loss"]) == 1.0 and float(rows[0]["top1_error"]) == 0.8


def test_plot_writes_a_png(tmp_path):
    path = plot_history(history(3), tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]
