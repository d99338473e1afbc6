"""The paper's figures: Figure 1's curves, Figure 3's kernel grid, Figure 4's neighbours, the confusion matrix."""
import csv
import json
import math

import numpy as np
import pytest
from PIL import Image

from experiments_helpers import CROP, shapes_folder, train_tiny_model
from tinyalex.cli.main import main
from tinyalex.data.loader import DataLoader
from tinyalex.experiments import plot_relu_tanh, save_png
from tinyalex.experiments.output import new_figure
from tinyalex.experiments.confusion import confusion_matrix, most_confused, plot_confusion, predict_labels
from tinyalex.experiments.kernels import (init_correlation, kernel_statistics, kernel_tiles, model_kernel_statistics,
                                         mosaic, plane_correlation, plot_kernels, plot_model_kernels, tower_summary)
from tinyalex.models import AlexNet, alexnet_small
from tinyalex.experiments.neighbours import dataset_features, hidden_features, nearest_neighbours
from tinyalex.training import evaluate


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model, train set, val set, checkpoint) of the tiny net after two epochs on 40 shapes images."""
    folder = shapes_folder(tmp_path_factory.mktemp("shapes"))
    return train_tiny_model(folder, tmp_path_factory.mktemp("run"))


def png_size(path):
    with Image.open(path) as img:
        assert img.format == "PNG"
        return img.size


def expected_size(fig, dpi=100):
    w, h = fig.get_size_inches()
    return round(w * dpi), round(h * dpi)


# --- Figure 1 -------------------------------------------------------------------------------

def test_figure1_draws_relu_solid_and_tanh_dashed_with_epochs_to_25_percent(tmp_path):
    relu = [{"epoch": e, "train_accuracy": a} for e, a in ((1, 0.5), (2, 0.8), (3, 0.9))]
    tanh = [{"epoch": e, "train_accuracy": a} for e, a in ((1, 0.3), (2, 0.5), (3, 0.6))]
    fig = plot_relu_tanh([relu], [tanh])
    ax = fig.axes[0]
    solid, dashed = ax.lines[:2]
    assert solid.get_linestyle() == "-" and dashed.get_linestyle() == "--"
    assert np.allclose(solid.get_ydata(), [0.5, 0.2, 0.1]) and np.allclose(dashed.get_ydata(), [0.7, 0.5, 0.4])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["ReLU (reaches 25% at epoch 2)", "tanh (does not reach 25%)"]
    path = save_png(fig, tmp_path / "figure1.png")
    assert png_size(path) == expected_size(fig)


def test_figure1_draws_one_line_per_seed_and_names_each_seeds_epochs():
    relu = [[{"epoch": e, "train_accuracy": a} for e, a in ((1, 0.5), (2, 0.8))],
            [{"epoch": e, "train_accuracy": a} for e, a in ((1, 0.8), (2, 0.9))]]
    tanh = [[{"epoch": e, "train_accuracy": a} for e, a in ((1, 0.3), (2, 0.5))]] * 2
    ax = plot_relu_tanh(relu, tanh).axes[0]
    assert [line.get_linestyle() for line in ax.lines[:4]] == ["-", "-", "--", "--"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["ReLU, 2 seeds (epochs to 25%: 2, 1)",
                      "tanh, 2 seeds (epochs to 25%: not reached, not reached)"]


def test_save_png_can_reduce_a_figure_to_a_palette(tmp_path):
    fig = plot_relu_tanh([[{"epoch": 1, "train_accuracy": 0.5}]], [[{"epoch": 1, "train_accuracy": 0.4}]])
    path = save_png(fig, tmp_path / "small.png", colors=16)
    with Image.open(path) as img:
        assert img.mode == "P" and img.size == expected_size(fig)
        assert len(img.getcolors()) <= 16


# --- Figure 3 -------------------------------------------------------------------------------

def test_kernel_tiles_scale_each_kernel_and_split_by_output_channel():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(8, 3, 5, 5))
    tiles = kernel_tiles(weight, towers=2)
    assert tiles.shape == (2, 4, 5, 5, 3)
    for c in range(8):
        w = weight[c].transpose(1, 2, 0)
        assert np.allclose(tiles[c // 4, c % 4], (w - w.min()) / (w.max() - w.min()))
    assert tiles.min() == 0 and tiles.max() == 1
    with pytest.raises(ValueError, match="7 kernels cannot be split into 2 towers"):
        kernel_tiles(weight[:7], towers=2)
    with pytest.raises(ValueError, match=r"\(C, 3, kh, kw\)"):
        kernel_tiles(weight[:, :2], towers=2)


def test_mosaic_places_tile_i_at_row_i_div_columns():
    tiles = np.arange(5 * 2 * 3 * 3, dtype=float).reshape(5, 2, 3, 3)
    grid = mosaic(tiles, columns=2, pad=1, fill=-1)
    assert grid.shape == (1 + 3 * 3, 1 + 2 * 4, 3)
    for i in range(5):
        y, x = 1 + (i // 2) * 3, 1 + (i % 2) * 4
        assert np.array_equal(grid[y:y + 2, x:x + 3], tiles[i])
    assert np.all(grid[0] == -1) and np.all(grid[:, 0] == -1)
    assert np.all(grid[7:9, 5:8] == -1)  # the sixth cell is empty


def test_figure3_of_a_trained_model_has_one_tile_per_kernel_in_two_towers(trained, tmp_path):
    model = trained[0]
    weight = model.conv1.weight.data
    assert weight.shape[0] == 6
    fig = plot_model_kernels(model)
    assert len(fig.axes) == 2
    tiles = kernel_tiles(weight, 2)
    for t, ax in enumerate(fig.axes):
        shown = ax.get_images()[0].get_array()
        assert np.allclose(shown, mosaic(tiles[t], columns=3))
        assert shown.shape == (1 + 1 * 6, 1 + 3 * 6, 3)  # 3 tiles of 5x5 in one row
        colour = tower_summary(plane_correlation(weight), 2)[t]
        assert ax.get_title() == (f"tower {t + 1}: kernels {3 * t}-{3 * t + 2}, colour-plane correlation "
                                  f"{colour['mean']:.3f} ± {colour['sd']:.3f}")
    path = save_png(fig, tmp_path / "kernels.png")
    assert png_size(path) == expected_size(fig)
    assert len(plot_kernels(weight, towers=1).axes) == 1


# --- Figure 3 in numbers --------------------------------------------------------------------

def grey_kernels(rng, n, size=5):
    """n kernels with the same pattern in R, G and B: colour-agnostic."""
    return np.repeat(rng.normal(size=(n, 1, size, size)), 3, axis=1)


def test_plane_correlation_on_kernels_whose_value_is_known():
    rng = np.random.default_rng(0)
    assert np.allclose(plane_correlation(grey_kernels(rng, 4)), 1)
    scaled = grey_kernels(rng, 2) * np.array([1.0, 2.0, 0.5])[None, :, None, None]
    assert np.allclose(plane_correlation(scaled), 1)  # a cosine: one pattern at three positive gains is grey
    independent = rng.normal(size=(300, 3, 11, 11))  # per pair: cosine 0 with sd 1/11
    values = plane_correlation(independent)
    assert abs(values.mean()) < 0.02 and 0.03 < values.std() < 0.08  # 0 +- 1/sqrt(3 * 121) per kernel
    r = rng.normal(size=(5, 5))
    opponent = np.stack([r, -r, r])[None]  # red and blue against green: cos(R,G) = cos(G,B) = -1, cos(R,B) = 1
    assert plane_correlation(opponent) == pytest.approx([-1 / 3])
    by_hand = np.array([[[[1.0, 0]], [[1, 1]], [[0, 1]]]])  # (1, 3, 1, 2): cosines 1/sqrt(2), 0, 1/sqrt(2)
    assert plane_correlation(by_hand) == pytest.approx([math.sqrt(2) / 3])
    offset = np.stack([r, r + 1, r])[None]  # a flat green component is colour: not counted as grey
    assert plane_correlation(offset)[0] < 0.9
    with pytest.raises(ValueError, match=r"\(C, 3, kh, kw\)"):
        plane_correlation(independent[:, :2])


def test_tower_statistics_tell_a_grey_tower_from_a_colour_tower():
    rng = np.random.default_rng(1)
    weight = np.concatenate([grey_kernels(rng, 48, 11), rng.normal(size=(48, 3, 11, 11))])
    grey, colour = kernel_statistics(weight, towers=2)["plane_correlation"]
    assert grey["tower"] == 1 and grey["kernels"] == [0, 47] and grey["n"] == 48
    assert grey["mean"] == pytest.approx(1) and grey["sd"] == pytest.approx(0, abs=1e-12)
    assert colour["tower"] == 2 and colour["kernels"] == [48, 95] and abs(colour["mean"]) < 0.05
    values = plane_correlation(weight)
    assert colour["mean"] == pytest.approx(values[48:].mean())
    assert colour["sd"] == pytest.approx(values[48:].std(ddof=1))
    (both,) = kernel_statistics(weight, towers=1)["plane_correlation"]
    assert both["kernels"] == [0, 95] and both["mean"] == pytest.approx(values.mean())
    with pytest.raises(ValueError, match="96 kernels cannot be split into 5 towers"):
        kernel_statistics(weight, towers=5)


def test_a_kernel_with_an_all_zero_plane_has_no_value_and_is_left_out():
    rng = np.random.default_rng(2)
    weight = grey_kernels(rng, 4)
    weight[1, 2] = 0
    values = plane_correlation(weight)
    assert np.isnan(values[1]) and np.allclose(values[[0, 2, 3]], 1)
    stats = kernel_statistics(weight, towers=2)
    assert [t["n"] for t in stats["plane_correlation"]] == [1, 2]
    assert stats["plane_correlation"][0]["sd"] is None and stats["plane_correlation"][0]["mean"] == pytest.approx(1)
    assert stats["per_kernel"]["plane_correlation"][1] is None  # JSON has no NaN
    json.dumps(stats, allow_nan=False)


def test_init_correlation_is_the_cosine_of_each_kernel_with_its_start():
    rng = np.random.default_rng(3)
    start = rng.normal(size=(4, 3, 5, 5))
    moved = start.copy()
    moved[1] *= -2
    moved[2] = rng.normal(size=(3, 5, 5))
    moved[3] = start[3] + rng.normal(size=(3, 5, 5))  # cos = |w0|^2 / (|w0| |w0 + e|), about 1/sqrt(2)
    values = init_correlation(moved, start)
    assert values[0] == pytest.approx(1) and values[1] == pytest.approx(-1)
    flat0, flat3 = start[3].ravel(), moved[3].ravel()
    assert values[3] == pytest.approx(flat0 @ flat3 / np.linalg.norm(flat0) / np.linalg.norm(flat3))
    assert abs(values[2]) < 0.4
    with pytest.raises(ValueError, match="initial weights"):
        init_correlation(moved, start[:2])


def test_model_kernel_statistics_compare_conv1_with_the_start_its_config_draws(trained):
    untrained = alexnet_small(10, input_size=32, width=0.0625, seed=5)
    stats = model_kernel_statistics(untrained)
    assert [t["mean"] for t in stats["init_correlation"]] == pytest.approx([1, 1])
    assert all(abs(t["mean"]) < 0.3 for t in stats["plane_correlation"])  # He's start: unrelated colours
    model = trained[0]
    stats = model_kernel_statistics(model)
    start = AlexNet(**model.config).conv1.weight.data
    assert not np.array_equal(start, model.conv1.weight.data)  # it trained
    expected = tower_summary(init_correlation(model.conv1.weight.data, start), 2)
    assert stats["init_correlation"] == expected and all(t["mean"] < 1 for t in expected)
    assert stats["plane_correlation"] == tower_summary(plane_correlation(model.conv1.weight.data), 2)


# --- Figure 4 -------------------------------------------------------------------------------

def test_nearest_neighbours_on_a_constructed_case():
    gallery = np.array([[0.0, 0], [10, 0], [0, 3], [4, 4], [0, -3]])
    queries = np.array([[9.0, 1], [0, 0.5]])
    index, distance = nearest_neighbours(queries, gallery, 3)
    assert index.tolist() == [[1, 3, 0], [0, 2, 4]]  # sqrt(82) < sqrt(85): (0, 0) before (0, 3)
    brute = np.linalg.norm(queries[:, None] - gallery[None], axis=2)
    assert np.allclose(distance, np.take_along_axis(brute, index, axis=1))
    ties, _ = nearest_neighbours(np.array([[0.0, 0]]), np.array([[1.0, 0], [0, 1], [-1, 0]]), 3)
    assert ties.tolist() == [[0, 1, 2]]  # equal distances: the lower index first
    with pytest.raises(ValueError, match="k must be between 1 and"):
        nearest_neighbours(queries, gallery, 6)
    with pytest.raises(ValueError, match="expected"):
        nearest_neighbours(queries, gallery[:, :1], 1)


def test_hidden_features_are_the_last_hidden_layer_that_fc8_reads(trained):
    model, train, _, _ = trained
    x, _ = next(iter(DataLoader(train, 6, train=False, crop=CROP, workers=0)))
    model.train()
    features = hidden_features(model, x)
    assert model.training  # the mode is restored
    assert features.shape == (6, model.fc7.weight.shape[0]) and features.min() >= 0  # after the ReLU
    model.eval()
    assert np.allclose(model.fc8(features).data, model(x).data, atol=1e-5)
    model.train()
    assert np.array_equal(hidden_features(model, x), features)  # dropout is off: no randomness
    with pytest.raises(ValueError, match="no layer 'fc9'"):
        hidden_features(model, x, "fc9")


def test_dataset_features_follow_the_requested_indices(trained):
    model, train, _, _ = trained
    every, labels, ids = dataset_features(model, train, CROP, batch_size=7)
    some, some_labels, some_ids = dataset_features(model, train, CROP, indices=[5, 2, 30], batch_size=2)
    assert every.shape[0] == len(train) and np.array_equal(labels, train.labels)
    assert np.array_equal(ids, np.arange(len(train))) and np.array_equal(some_ids, [5, 2, 30])
    assert np.allclose(some, every[[5, 2, 30]], atol=1e-5) and np.array_equal(some_labels, train.labels[[5, 2, 30]])


# --- confusion ------------------------------------------------------------------------------

def test_confusion_matrix_counts_equal_a_direct_count():
    rng = np.random.default_rng(3)
    labels, predicted = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    direct = np.zeros((4, 4), dtype=int)
    for t, p in zip(labels, predicted):
        direct[t, p] += 1
    assert np.array_equal(confusion_matrix(labels, predicted, 4), direct)
    with pytest.raises(ValueError, match="predictions must lie in 0..2"):
        confusion_matrix([0, 1], [0, 3], 3)


def test_most_confused_lists_the_largest_off_diagonal_counts():
    matrix = np.array([[9, 4, 0], [1, 8, 0], [5, 0, 7]])
    assert most_confused(matrix, ["a", "b", "c"], top=5) == [("c", "a", 5), ("a", "b", 4), ("b", "a", 1)]
    assert most_confused(matrix, ["a", "b", "c"], top=1) == [("c", "a", 5)]


def test_the_confusion_matrix_of_a_model_agrees_with_evaluate(trained, tmp_path):
    model, _, val, _ = trained
    loader = DataLoader(val, 8, train=False, crop=CROP, workers=0)
    labels, predicted = predict_labels(model, loader)
    matrix = confusion_matrix(labels, predicted, 10)
    assert matrix.sum() == len(val) and np.array_equal(matrix.sum(axis=1), np.bincount(val.labels, minlength=10))
    assert 1 - np.trace(matrix) / matrix.sum() == pytest.approx(evaluate(model, loader)["top1_error"])
    fig = plot_confusion(matrix, val.class_names)
    assert png_size(save_png(fig, tmp_path / "c.png")) == expected_size(fig)


# --- the command ----------------------------------------------------------------------------

def test_the_figures_command_writes_every_png_from_a_checkpoint(trained, tmp_path, capsys):
    _, _, val, checkpoint = trained
    out = tmp_path / "figs"
    code = main(["figures", str(checkpoint), "--out", str(out), "--queries", "3", "--neighbours", "4",
                 "--gallery", "25", "--batch-size", "16"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "most confused" in printed
    saved = json.loads((out / "kernels.json").read_text())
    assert saved["checkpoint"] == str(checkpoint) and len(saved["per_kernel"]["plane_correlation"]) == 6
    for colour, start in zip(saved["plane_correlation"], saved["init_correlation"]):
        first, last = colour["kernels"]
        assert (f"tower {colour['tower']} (kernels {first}-{last}): colour-plane correlation "
                f"{colour['mean']:.3f} ± {colour['sd']:.3f}, correlation with the initial weights "
                f"{start['mean']:.3f} ± {start['sd']:.3f}") in printed
    sizes = {name: png_size(out / f"{name}.png") for name in ("kernels", "neighbours", "confusion")}
    assert sizes["neighbours"] == (round(100 * (1.2 * 5 + 0.3)), round(100 * (1.35 * 3 + 0.5)))
    for name in sizes:
        assert (out / f"{name}.png").stat().st_size < 200_000
    with open(out / "confusion.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][2:] == list(val.wnids) and sum(int(v) for row in rows[1:] for v in row[2:]) == len(val)
    assert [row[:2] for row in rows[1:]] == [list(pair) for pair in zip(val.wnids, val.class_names)]
    assert main(["figures", str(tmp_path / "missing.npz"), "--out", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_the_figures_of_an_image_folder_leave_out_its_undecodable_files(trained, tmp_path, capsys):
    """One bad file in the folder stopped the neighbours figure: its indices no longer matched the images."""
    import shutil
    import warnings

    from data_fixtures import write_broken

    _, train, val, checkpoint = trained
    folder = shutil.copytree(train.root, tmp_path / "photos")
    for split in ("train", "val"):
        write_broken(folder / split / train.wnids[0])
    out = tmp_path / "figs"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["figures", str(checkpoint), "--data", str(folder), "--out", str(out), "--queries", "50",
                     "--neighbours", "4", "--batch-size", "16"])
    assert code == 0, capsys.readouterr().err
    assert all((out / f"{name}.png").exists() for name in ("kernels", "neighbours", "confusion"))
    with open(out / "confusion.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert sum(int(v) for row in rows[1:] for v in row[2:]) == len(val)  # the three bad files are not counted


def test_an_interrupted_figure_leaves_the_old_png_and_no_temporary_file(tmp_path):
    """save_png left a 0-byte .NAME.PID.tmp behind when Ctrl-C came during savefig."""
    fig = new_figure(2, 2)
    path = save_png(fig, tmp_path / "c.png")
    before = path.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    fig.savefig = interrupted
    with pytest.raises(KeyboardInterrupt):
        save_png(fig, path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"] and path.read_bytes() == before
