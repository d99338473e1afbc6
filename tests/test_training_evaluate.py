"""Evaluation (centre crop and ten-crop averaging) and prediction."""
import numpy as np
import pytest
from training_helpers import ArrayLoader, shapes_folder

from tinyalex.data.dataset import FolderDataset
from tinyalex.data.loader import DataLoader
from tinyalex.engine.tensor import no_grad
from tinyalex.functional import softmax
from tinyalex.layers import Module
from tinyalex.optim import MomentumSGD
from tinyalex.training import Trainer, evaluate, predict, predict_images
from tinyalex.training.datasets import open_datasets


class Scores(Module):
    """A stand-in model whose inputs are already the class scores."""

    def forward(self, x):
        return x


class TenCropBatches(list):
    """Batches of 10 rows per image, as DataLoader(ten_crop=True) gives them."""

    ten_crop = True


def test_evaluate_centre_crop_by_hand():
    scores = np.log(np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]], np.float32))
    result = evaluate(Scores(), ArrayLoader(scores, np.array([0, 2]), 2, shuffle=False))
    assert result["images"] == 2 and result["top1_error"] == 0.5 and result["top5_error"] == 0.0
    assert result["loss"] == pytest.approx(-(np.log(0.7) + np.log(0.2)) / 2, rel=1e-6)


def test_a_net_that_scores_every_class_alike_is_wrong_on_every_image():
    """It was right on all of them (0% error), so a collapsed net could become best.npz."""
    result = evaluate(Scores(), ArrayLoader(np.zeros((6, 10), np.float32), np.arange(6), 3, shuffle=False))
    assert result["top1_error"] == 1.0 and result["top5_error"] == 1.0
    assert result["loss"] == pytest.approx(np.log(10), rel=1e-6)


def test_ten_crop_averages_the_softmax_of_each_images_crops():
    # Image 0 (label 1): one crop sure of class 1, nine mildly for class 0: the averaged softmax picks 1.
    crops = np.zeros((20, 2), np.float32)
    crops[0] = [0.0, 10.0]
    crops[1:10] = [0.2, 0.0]
    crops[10:20] = [3.0, 0.0]  # image 1 (label 1): every crop says class 0
    result = evaluate(Scores(), TenCropBatches([(crops, np.array([1, 1]))]))
    p = np.exp(crops) / np.exp(crops).sum(axis=1, keepdims=True)
    mean = p.reshape(2, 10, 2).mean(axis=1)
    assert mean[0, 1] > 0.5 and result["images"] == 2 and result["top1_error"] == 0.5
    assert result["loss"] == pytest.approx(-np.log(mean[:, 1]).mean(), rel=1e-5)


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    data = shapes_folder(root / "data")
    from tinyalex.models import alexnet_small

    train, val, info = open_datasets(data, 64, progress=False)
    model = alexnet_small(10)
    loaders = [DataLoader(s, 10, train=t, crop=64, prefetch=0) for s, t in ((train, True), (val, False))]
    Trainer(model, MomentumSGD(model.parameters()), quiet=True).fit(*loaders, epochs=1)
    return model, val, info


def test_predict_preprocesses_files_like_the_validation_loader(shapes_run, tmp_path, monkeypatch):
    model, val, info = shapes_run
    monkeypatch.setattr(predict, "BATCH", 2)  # three images: two forward passes
    x, _ = next(iter(DataLoader(val, 3, train=False, crop=64, prefetch=0)))
    model.eval()
    with no_grad():
        expected = softmax(model(x)).data
    bad = tmp_path / "bad.png"
    bad.write_text("no image here")
    results = predict_images(model, [val.paths[0], bad, val.paths[1], val.paths[2]], info, val.mean)
    good = [r for r in results if r.error is None]
    assert [r.path for r in good] == [str(p) for p in val.paths[:3]]
    assert results[1].top == [] and "not a readable image" in results[1].error
    for r, p in zip(good, expected):
        assert len(r.top) == 5
        probs = [prob for _, _, prob in r.top]
        assert probs == sorted(probs, reverse=True)
        best = int(np.argmax(p))
        assert r.top[0][0] == info["wnids"][best] and r.top[0][2] == pytest.approx(float(p[best]), rel=1e-5)


def test_predict_ten_crop_gives_a_distribution(shapes_run):
    model, val, info = shapes_run
    [result] = predict_images(model, [val.paths[0]], info, val.mean, top=10, ten_crops=True)
    assert sum(prob for _, _, prob in result.top) == pytest.approx(1.0, rel=1e-5)
    assert {wnid for wnid, _, _ in result.top} == set(info["wnids"])


def test_folder_validation_set_uses_the_training_statistics(shapes_run):
    _, val, info = shapes_run
    assert isinstance(val, FolderDataset) and info["source"] == "folder"
    train = FolderDataset(info["root"], "train", size=73)
    np.testing.assert_array_equal(val.mean, train.mean)
