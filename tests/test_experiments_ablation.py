"""Ablations: subsets, the variants table, the runner end to end on a tiny shapes set, the table's arithmetic."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from experiments_helpers import shapes_folder, tiny_config
from tinyalex.cli.main import main
from tinyalex.experiments import (DEFAULT_VARIANTS, VARIANTS, balanced_indices, balanced_subset, build_model,
                                  epochs_to_error, run_ablation)
from tinyalex.experiments.ablation import comparison_rows, markdown_table, notes, pick_variants
from tinyalex.layers import Dropout, LocalResponseNorm, Tanh


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return shapes_folder(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="module")
def ablation(folder, tmp_path_factory):
    """baseline and tanh, one epoch of 20 images each."""
    out = tmp_path_factory.mktemp("ablate")
    results = run_ablation(out, ["tanh", "baseline"], tiny_config(folder), progress=False)
    return out, results


# --- subsets --------------------------------------------------------------------------------

def test_balanced_indices_spread_over_the_classes_and_are_sorted():
    labels = np.repeat([0, 1, 2], [10, 3, 7])
    chosen = balanced_indices(labels, 9, seed=4)
    assert np.all(np.diff(chosen) > 0)
    assert np.bincount(labels[chosen]).tolist() == [3, 3, 3]
    small = np.bincount(labels[balanced_indices(labels, 12, seed=4)]).tolist()
    assert small == [5, 3, 4] or small == [4, 3, 5]  # class 1 has only 3: the others share the rest
    assert np.array_equal(chosen, balanced_indices(labels, 9, seed=4))
    assert not np.array_equal(chosen, balanced_indices(labels, 9, seed=5))
    with pytest.raises(ValueError, match="between 1 and 20"):
        balanced_indices(labels, 0)


def test_a_subset_reads_the_chosen_images_and_keeps_the_full_statistics(folder):
    from tinyalex.data import FolderDataset

    full = FolderDataset(folder, "train", size=37)
    part = balanced_subset(full, 10, seed=0)
    assert len(part) == 10 and sorted(part.labels.tolist()) == list(range(10))
    images, labels = part.load_batch(np.array([3, 0]))
    expected, expected_labels = full.load_batch(part.indices[[3, 0]])
    assert np.array_equal(images, expected) and np.array_equal(labels, expected_labels)
    assert part.mean is full.mean and part.size == full.size and part.class_names == full.class_names
    assert balanced_subset(full, None) is full and balanced_subset(full, 10_000) is full


# --- variants -------------------------------------------------------------------------------

def test_the_default_variants_are_the_briefs_seven_with_the_baseline_first():
    assert DEFAULT_VARIANTS == ("baseline", "no_lrn", "no_overlap", "no_dropout", "one_tower", "no_pca", "tanh")
    assert [v.name for v in pick_variants(["tanh", "no_lrn", "baseline"])] == ["baseline", "no_lrn", "tanh"]
    with pytest.raises(ValueError, match="unknown variant.*'lrn'"):
        pick_variants(["lrn"])


def test_each_variant_builds_the_network_it_names(folder):
    config = tiny_config(folder)

    def layers(name):
        return [type(m) for m in build_model(config, 10, VARIANTS[name]).modules()]

    base = build_model(config, 10, VARIANTS["baseline"])
    assert LocalResponseNorm in layers("baseline") and LocalResponseNorm not in layers("no_lrn")
    assert Dropout in layers("baseline") and Dropout not in layers("no_dropout")
    assert Tanh in layers("tanh") and Tanh not in layers("baseline")
    assert (base.pool1.kernel_size, base.pool1.stride) == ((3, 3), (2, 2))
    pool = build_model(config, 10, VARIANTS["no_overlap"]).pool1
    assert (pool.kernel_size, pool.stride) == ((2, 2), (2, 2))
    assert base.conv2.groups == 2 and build_model(config, 10, VARIANTS["one_tower"]).conv2.groups == 1
    assert VARIANTS["no_pca"].loader == {"pca": False} and VARIANTS["no_pca"].model == {}
    reseeded = build_model(config, 10, VARIANTS["reseed"])
    assert not np.array_equal(reseeded.conv1.weight.data, base.conv1.weight.data)
    again = build_model(config, 10, VARIANTS["baseline"])
    assert np.array_equal(again.conv1.weight.data, base.conv1.weight.data)  # same seed, same start


# --- the runner -----------------------------------------------------------------------------

def test_the_ablation_runs_end_to_end_and_writes_its_table(ablation):
    out, results = ablation
    assert [r["variant"] for r in results] == ["baseline", "tanh"]
    for r in results:
        assert r["epochs"] == 1 and len(r["history"]) == 1 and r["diverged"] is None
        assert 0 <= r["top5_error"] <= r["top1_error"] <= 1
        assert (out / r["variant"] / "result.json").is_file() and (out / r["variant"] / "last.npz").is_file()
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["variant"] for row in rows] == ["baseline", "tanh"]
    assert float(rows[0]["delta_top1"]) == 0.0
    expected = 100 * (results[1]["top1_error"] - results[0]["top1_error"])
    assert float(rows[1]["delta_top1"]) == pytest.approx(expected)
    table = (out / "results.md").read_text()
    assert "| baseline |" in table and "| tanh |" in table and "six times faster" in table
    assert "20 training and 10 validation images" in table and "1 epochs" in table
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["crop"] == 32 and len(saved["results"]) == 2
    for name in ("curves.png", "figure1.png"):
        with Image.open(out / name) as img:
            assert img.format == "PNG" and img.width > 300


def test_a_rerun_reuses_finished_variants_and_refuses_other_settings(ablation, folder):
    out, results = ablation
    stamp = (out / "baseline" / "last.npz").stat().st_mtime_ns
    again = run_ablation(out, ["baseline"], tiny_config(folder), progress=False)
    assert again[0]["top1_error"] == results[0]["top1_error"]
    assert (out / "baseline" / "last.npz").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other settings.*'lr'"):
        run_ablation(out, ["baseline"], tiny_config(folder, lr=0.5), progress=False)


def test_the_command_adds_a_variant_to_the_same_run(ablation, folder, capsys):
    out, _ = ablation
    config = tiny_config(folder)
    args = ["ablate", "--data", str(folder), "--model", "small", "--out", str(out), "--quiet",
            "--variants", "baseline,no_pca", "--epochs", "1", "--width", str(config.width), "--crop", "32",
            "--batch-size", "10", "--train-images", "20", "--val-images", "10", "--workers", "1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| no_pca |" in printed and "fancy PCA lowers top-1 error by over 1" in printed
    assert (out / "no_pca" / "result.json").is_file()
    with pytest.raises(SystemExit):
        main(["ablate", "--variants", "nope", "--out", str(out)])
    assert "unknown variant" in capsys.readouterr().err


def test_a_variant_that_diverges_is_a_row_of_the_table_not_a_crash(folder, tmp_path):
    results = run_ablation(tmp_path, ["baseline"], tiny_config(folder, lr=1e8), progress=False)
    assert "the loss became" in results[0]["diverged"] and results[0]["top1_error"] is None
    assert "| baseline | diverged |" in (tmp_path / "results.md").read_text()


# --- the table's arithmetic -------------------------------------------------------------------

def history(train_errors, top1=0.5):
    return [{"epoch": e + 1, "train_accuracy": 1 - err, "top1_error": top1, "top5_error": top1 / 2, "seconds": 1.0}
            for e, err in enumerate(train_errors)]


def result(name, top1, top5, train_errors, diverged=None):
    v = VARIANTS[name]
    return {"variant": name, "change": v.change, "claim": v.claim, "short_claim": v.short_claim,
            "paper_top1": v.paper_top1,
            "paper_top5": v.paper_top5, "top1_error": top1, "top5_error": top5,
            "train_error": train_errors[-1] if train_errors else None,
            "epochs_to_threshold": epochs_to_error(history(train_errors)), "epochs": len(train_errors),
            "seconds": float(len(train_errors)), "parameters": 1234, "checkpoint": "x", "diverged": diverged,
            "history": history(train_errors)}


def test_epochs_to_error_is_the_first_epoch_at_or_under_the_threshold():
    assert epochs_to_error(history([0.9, 0.4, 0.25, 0.1])) == 3
    assert epochs_to_error(history([0.9, 0.3])) is None
    assert epochs_to_error(history([0.5, 0.45]), threshold=0.5) == 1


def test_rows_give_differences_from_the_baseline_and_the_papers_claims(folder):
    results = [result("baseline", 0.20, 0.05, [0.6, 0.2]), result("no_lrn", 0.25, 0.04, [0.7, 0.3]),
               result("tanh", None, None, [0.9], diverged="the loss became nan")]
    rows = comparison_rows(results)
    assert rows[1]["delta_top1"] == pytest.approx(5.0) and rows[1]["delta_top5"] == pytest.approx(-1.0)
    assert rows[1]["paper_top1"] == 1.4 and rows[1]["paper_top5"] == 1.2
    assert rows[2]["delta_top1"] is None
    table = markdown_table(rows)
    assert "| no_lrn | 25.0 | 4.0 | +5.0 | -1.0 | +1.4 / +1.2 | 30.0 | not reached |" in table
    assert "| baseline | 20.0 | 5.0 | +0.0 | +0.0 | - | 20.0 | 2 |" in table
    assert "| tanh | diverged | - | - | - | 6x slower to 25% train err | 90.0 | not reached |" in table
    text = notes(results, tiny_config(folder), "somewhere")
    assert "`tanh` diverged: the loss became nan" in text
    assert "ReLU 2, tanh not reached" in text
    fast = notes([result("baseline", 0.2, 0.1, [0.2]), result("tanh", 0.3, 0.1, [0.5, 0.4, 0.24])],
                 tiny_config(folder), "somewhere")
    assert "tanh took 3.0 times as many epochs" in fast
