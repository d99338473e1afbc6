"""Ablations: subsets, the variants and their groups, the runner end to end over seeds on a tiny shapes set,
results.json's shape, the tables and the command."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from experiments_helpers import shapes_folder, tiny_config
from tinyalex.cli.main import main
from tinyalex.data.errors import DataError
from tinyalex.experiments import (DEFAULT_VARIANTS, VARIANTS, AblationConfig, balanced_indices, balanced_subset,
                                  build_model, epochs_to_error, run_ablation)
from tinyalex.experiments.ablation import check_settings
from tinyalex.experiments.report import METRICS
from tinyalex.experiments.variants import GROUPS, pick_variants
from tinyalex.layers import Dropout, LocalResponseNorm, Scale, Tanh


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return shapes_folder(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="module")
def ablation(folder, tmp_path_factory):
    """baseline and tanh, two seeds each of one epoch of 20 images."""
    out = tmp_path_factory.mktemp("ablate")
    results = run_ablation(out, ["tanh", "baseline"], tiny_config(folder, seeds=2), progress=False)
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

def test_the_default_variants_are_the_papers_choices_and_the_lrn_gain_control():
    assert DEFAULT_VARIANTS == ("baseline", "no_lrn", "lrn_gain", "no_overlap", "no_dropout", "one_tower", "no_pca",
                                "tanh")
    assert [v.name for v in pick_variants(["tanh", "no_lrn", "baseline"])] == ["baseline", "no_lrn", "tanh"]
    assert [v.name for v in pick_variants(["tanh"])] == ["baseline", "tanh"]  # a difference needs the baseline
    assert [v.name for v in pick_variants(["lrn_pixels_gain"])] == ["baseline", "lrn_pixels", "lrn_pixels_gain"]
    assert [v.name for v in pick_variants(["lrn"])] == list(GROUPS["lrn"])
    assert len(pick_variants(["all", "tanh"])) == len(VARIANTS)
    with pytest.raises(ValueError, match="unknown variant.*'lrn2'"):
        pick_variants(["lrn2"])
    with pytest.raises(ValueError, match="reseed variant is gone.*--seeds"):
        pick_variants(["baseline", "reseed"])


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
    convnet, caffe = (build_model(config, 10, VARIANTS[n]).norm1 for n in ("lrn_convnet", "lrn_caffe"))
    assert (convnet.alpha, convnet.k, caffe.alpha, caffe.k) == (pytest.approx(2e-5), 2.0, pytest.approx(2e-5), 1.0)
    pixels = build_model(config, 10, VARIANTS["lrn_pixels"])
    assert pixels.input_scale == base.input_scale == 1 / 64 and pixels.norm1.alpha == pytest.approx(1e-4 * 64 ** 2)
    paper = build_model(tiny_config(folder, init="paper"), 10, VARIANTS["lrn_pixels"])
    assert paper.input_scale == 1.0 and paper.norm1.alpha == 1e-4  # already the paper's scale: the baseline
    gain = build_model(config, 10, VARIANTS["lrn_gain"], gains=[0.5, 0.25])
    assert isinstance(gain.norm1, Scale) and (gain.norm1.factor, gain.norm2.factor) == (0.5, 0.25)
    other = build_model(config, 10, VARIANTS["baseline"], seed=1)
    assert not np.array_equal(other.conv1.weight.data, base.conv1.weight.data)  # the seed sets the weights
    again = build_model(config, 10, VARIANTS["baseline"])
    assert np.array_equal(again.conv1.weight.data, base.conv1.weight.data)


def test_bad_settings_are_refused_with_the_setting_named(folder, tmp_path):
    with pytest.raises(ValueError, match="seeds must be at least 1, got 0"):
        run_ablation(tmp_path, ["baseline"], tiny_config(folder, seeds=0), progress=False)
    assert AblationConfig(seed=3, seeds=3).seed_list() == [3, 4, 5]


# --- the runner -----------------------------------------------------------------------------

def test_every_variant_runs_with_every_seed_in_its_own_folder(ablation):
    out, _ = ablation
    for name in ("baseline", "tanh"):
        for seed in (0, 1):
            run = out / name / f"seed{seed}"
            result = json.loads((run / "result.json").read_text())
            assert result["seed"] == seed and result["epochs"] == 1 and result["diverged"] is None
            assert {"metrics.csv", "last.npz", "curves.png"} <= {p.name for p in run.iterdir()}
            assert 0 <= result["top5_error"] <= result["top1_error"] <= 1
            assert 0 <= result["top5_error_ten_crop"] <= result["top1_error_ten_crop"] <= 1
    first, second = (json.loads((out / "baseline" / f"seed{s}" / "result.json").read_text()) for s in (0, 1))
    assert first["history"][0]["train_loss"] != second["history"][0]["train_loss"]  # the seeds differ


def test_results_json_has_the_agreed_shape_and_the_statistics_of_the_runs(ablation):
    out, returned = ablation
    saved = json.loads((out / "results.json").read_text())
    assert list(saved) == ["variants"] and list(saved["variants"]) == ["baseline", "tanh"]
    assert saved == json.loads(json.dumps(returned))
    for name, entry in saved["variants"].items():
        for metric in METRICS:
            runs = [json.loads((out / name / f"seed{s}" / "result.json").read_text())[metric] for s in (0, 1)]
            assert entry[metric]["runs"] == runs
            assert entry[metric]["mean"] == pytest.approx(np.mean(runs), abs=1e-12)
            assert entry[metric]["sd"] == pytest.approx(np.std(runs, ddof=1), abs=1e-12)
            diff = entry["vs_baseline"][metric]
            base = saved["variants"]["baseline"][metric]["runs"]
            assert diff["runs"] == pytest.approx([r - b for r, b in zip(runs, base)])
        assert entry["seeds"] == [0, 1] and entry["epochs_to_threshold"]["threshold"] == 0.25


def test_the_tables_and_figures_are_written(ablation):
    out, results = ablation
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["variant"] for row in rows] == ["baseline", "tanh"] and rows[0]["seeds"] == "2"
    tanh = results["variants"]["tanh"]
    assert float(rows[1]["delta_top1_error_mean"]) == pytest.approx(tanh["vs_baseline"]["top1_error"]["mean"])
    with open(out / "runs.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
    table = (out / "results.md").read_text()
    assert "| baseline |" in table and "| tanh |" in table and "six times faster" in table
    assert "Mean ± sd over 2 seeds (sample sd, ddof = 1)" in table and "n.r. (not resolved)" in table
    assert "20 training and 10 validation images" in table and "1 epochs" in table
    assert "- seed 0: ReLU" in table and "- seed 1: ReLU" in table
    assert "| baseline | norm1 |" in table  # LRN's range at initialisation
    assert json.loads((out / "lrn_range.json").read_text())["baseline"]["norm1"]["k"] == 2.0
    for name in ("curves.png", "figure1.png"):
        with Image.open(out / name) as img:
            assert img.format == "PNG" and img.width > 300


def test_a_rerun_reuses_finished_runs_adds_seeds_and_refuses_other_settings(ablation, folder):
    out, results = ablation
    stamp = (out / "baseline" / "seed0" / "last.npz").stat().st_mtime_ns
    again = run_ablation(out, ["baseline"], tiny_config(folder, seeds=2), progress=False)
    assert again["variants"]["baseline"] == results["variants"]["baseline"]
    # tanh is not asked for, but finished: its rows stay in the tables (they were rewritten without it)
    assert again["variants"]["tanh"] == results["variants"]["tanh"] and "| tanh |" in (out / "results.md").read_text()
    assert (out / "baseline" / "seed0" / "last.npz").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other settings.*'lr'"):
        run_ablation(out, ["baseline"], tiny_config(folder, lr=0.5, seeds=2), progress=False)


def test_settings_no_run_used_are_replaced_and_a_training_run_is_refused(folder, tmp_path):
    """An ablation that failed before its first checkpoint left a config.json that refused every other setting."""
    check_settings(tmp_path, tiny_config(folder, crop=10))
    check_settings(tmp_path, tiny_config(folder))  # no run started: the new settings replace the failed ones
    assert json.loads((tmp_path / "config.json").read_text())["crop"] == tiny_config(folder).crop
    (tmp_path / "last.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="holds a training run .*not an ablation"):
        check_settings(tmp_path, tiny_config(folder))


def test_a_rerun_may_change_the_device_and_the_loader_threads(folder, tmp_path):
    """They change how fast a run trains, not what it computes: a run begun on the GPU continues on the CPU."""
    check_settings(tmp_path, tiny_config(folder, device="gpu", workers=4))
    (tmp_path / "baseline" / "seed0").mkdir(parents=True)
    (tmp_path / "baseline" / "seed0" / "last.npz").write_bytes(b"")
    check_settings(tmp_path, tiny_config(folder, device="cpu", workers=1))
    assert json.loads((tmp_path / "config.json").read_text())["device"] == "cpu"
    with pytest.raises(ValueError, match="other settings.*'batch_size'"):
        check_settings(tmp_path, tiny_config(folder, batch_size=5))


def test_the_device_defaults_to_tinyalex_device(monkeypatch):
    monkeypatch.setenv("TINYALEX_DEVICE", "cpu")
    assert AblationConfig().resolved().device == "cpu"
    monkeypatch.setenv("TINYALEX_DEVICE", "tpu")
    with pytest.raises(ValueError, match="unknown TINYALEX_DEVICE 'tpu'"):
        AblationConfig().resolved()


def test_jobs_train_the_same_runs_in_worker_processes(ablation, folder, tmp_path):
    out, results = ablation
    parallel = run_ablation(tmp_path, ["tanh", "baseline"], tiny_config(folder, seeds=2), progress=False, jobs=2)
    for name, entry in results["variants"].items():  # the same runs (small enough for one thread either way)
        for metric in METRICS:
            assert parallel["variants"][name][metric]["runs"] == entry[metric]["runs"]
    assert {p.name for p in (tmp_path / "tanh").iterdir()} == {"seed0", "seed1"}
    with pytest.raises(ValueError, match="jobs must be at least 1, got 0"):
        run_ablation(tmp_path, ["baseline"], tiny_config(folder, seeds=2), progress=False, jobs=0)


def test_data_that_cannot_be_opened_leaves_no_settings_behind(folder, tmp_path):
    with pytest.raises(DataError, match="missing"):
        run_ablation(tmp_path / "out", ["baseline"], tiny_config(tmp_path / "missing"), progress=False)
    assert not (tmp_path / "out").exists()  # a corrected rerun is not refused, and no empty folder is left


def test_the_command_runs_seeds_and_prints_the_table(ablation, folder, capsys):
    out, _ = ablation
    config = tiny_config(folder)
    args = ["ablate", "--data", str(folder), "--model", "small", "--out", str(out), "--quiet",
            "--variants", "no_pca", "--epochs", "1", "--width", str(config.width), "--crop", "32",
            "--batch-size", "10", "--train-images", "20", "--val-images", "10", "--workers", "1", "--seeds", "2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| no_pca |" in printed and "fancy PCA lowers top-1 error by over 1" in printed
    assert (out / "no_pca" / "seed1" / "result.json").is_file()
    for bad, message in ((["--variants", "nope"], "unknown variant"), (["--variants", "reseed"], "--seeds"),
                         (["--seeds", "0"], "--seeds: must be a whole number >= 1")):
        with pytest.raises(SystemExit):
            main(["ablate", "--out", str(out), *bad])
        assert message in capsys.readouterr().err


def test_the_closing_line_names_only_the_files_written(folder, tmp_path, capsys):
    """It named figure1.png, which only a run with tanh writes."""
    config = tiny_config(folder)
    args = ["ablate", "--data", str(folder), "--model", "small", "--out", str(tmp_path), "--quiet",
            "--variants", "no_pca", "--epochs", "1", "--width", str(config.width), "--crop", "32",
            "--batch-size", "10", "--train-images", "20", "--val-images", "10", "--workers", "1"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == ("results.md, results.csv, results.json, runs.csv, "
                                                        f"lrn_range.json, curves.png in {tmp_path}")


def test_the_command_prints_lrns_range_without_training(folder, tmp_path, capsys):
    config = tiny_config(folder)
    args = ["ablate", "--data", str(folder), "--model", "small", "--out", str(tmp_path), "--quiet", "--lrn-range",
            "--variants", "lrn", "--width", str(config.width), "--crop", "32", "--batch-size", "10"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| lrn_pixels | norm1 | 0.41 | 2 |" in printed and "| lrn_caffe | norm2 | 2e-05 | 1 |" in printed
    assert "lrn_gain" not in printed.split("|---")[1]  # the control has no LRN to measure
    assert not (tmp_path / "baseline").exists()


def test_a_variant_that_diverges_is_a_row_of_the_table_not_a_crash(folder, tmp_path):
    results = run_ablation(tmp_path, ["baseline"], tiny_config(folder, lr=1e8), progress=False)
    entry = results["variants"]["baseline"]
    assert "the loss became" in entry["diverged"]["0"] and entry["top1_error"]["runs"] == [None]
    assert entry["top1_error"]["mean"] is None
    assert "| baseline | - (1 diverged) |" in (tmp_path / "results.md").read_text()
    # as the message advises, a lower learning rate: the diverged run had trained nothing, and runs again
    again = run_ablation(tmp_path, ["baseline"], tiny_config(folder), progress=False)
    assert again["variants"]["baseline"]["diverged"] == {} and again["variants"]["baseline"]["top1_error"]["mean"] >= 0
    assert json.loads((tmp_path / "config.json").read_text())["lr"] == tiny_config(folder).lr


def test_runs_that_diverged_after_a_checkpoint_keep_their_settings(folder, tmp_path):
    check_settings(tmp_path, tiny_config(folder, lr=1.0))
    run = tmp_path / "baseline" / "seed0"
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({"diverged": "the loss became nan at epoch 3"}))
    (run / "last.npz").write_bytes(b"")  # two epochs were trained at lr 1: a result of those settings
    with pytest.raises(ValueError, match="other settings.*'lr'"):
        check_settings(tmp_path, tiny_config(folder))
    assert (run / "result.json").exists()


def test_sigterm_during_an_ablation_exits_143(folder, tmp_path, monkeypatch, capsys):
    import signal

    from tinyalex.cli import ablate
    from tinyalex.training.interrupt import Interrupted

    def terminated(*args, **kwargs):
        raise Interrupted("interrupted", signal.SIGTERM)

    monkeypatch.setattr(ablate, "run_ablation", terminated)
    assert main(["ablate", "--data", str(folder), "--out", str(tmp_path / "a"), "--quiet"]) == 128 + signal.SIGTERM
    assert "run the same command again to continue" in capsys.readouterr().err


def test_epochs_to_error_is_the_first_epoch_at_or_under_the_threshold():
    def history(errors):
        return [{"epoch": e + 1, "train_accuracy": 1 - err} for e, err in enumerate(errors)]

    assert epochs_to_error(history([0.9, 0.4, 0.25, 0.1])) == 3
    assert epochs_to_error(history([0.9, 0.3])) is None
    assert epochs_to_error(history([0.5, 0.45]), threshold=0.5) == 1
