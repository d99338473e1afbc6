"""`prepare` and `tinyalex prepare`: labels, geometry, statistics, selection, skips, resume, no-op."""
from __future__ import annotations

import importlib
import json
import os

import numpy as np
import pytest

from data_fixtures import GREYS, MODES, WNIDS, expected_level, make_flat_val, make_folder_layout, write_broken
from tinyalex.cli.main import main
from tinyalex.data import DataError, PreparedDataset, image_statistics, prepare, principal_components

prepare_module = importlib.import_module("tinyalex.data.prepare")

SIZE = 24


@pytest.fixture()
def src(tmp_path):
    root = make_folder_layout(tmp_path / "src", train_per_class=len(MODES), val_per_class=2)
    broken = write_broken(root / "train" / WNIDS[1])
    return root, broken


def check_labels(out, split):
    """Every stored image is the flat grey of its label's class, and its path's folder is its wnid."""
    images = np.load(out / f"{split}_images.npy", mmap_mode="r")
    labels = np.load(out / f"{split}_labels.npy")
    paths = json.loads((out / f"{split}_paths.json").read_text())
    wnids = json.loads((out / "meta.json").read_text())["wnids"]
    assert images.shape == (len(labels), SIZE, SIZE, 3) and images.dtype == np.uint8
    for image, label, path in zip(images, labels, paths):
        assert path.split("/")[-2] == wnids[label]
        mode = MODES[int(path.rsplit("_", 1)[1].split(".")[0]) % len(MODES)][1]  # make_folder_layout's naming
        level = expected_level(mode, GREYS[WNIDS.index(wnids[label])])
        assert np.abs(image.astype(int) - level).max() <= 2, path


def test_prepare_writes_images_labels_names_and_reports_skips(src, tmp_path):
    root, broken = src
    report = prepare(root, tmp_path / "out", size=SIZE, workers=2, progress=False)
    out = tmp_path / "out"
    assert report.counts == {"train": 3 * len(MODES), "val": 6} and not report.reused
    assert sorted(p for p, _ in report.skipped) == sorted(str(p) for p in broken)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["wnids"] == WNIDS and meta["size"] == SIZE
    assert meta["class_names"][0] == "tench, Tinca tinca"
    assert len(meta["skipped"]) == 3 and all(s["reason"] for s in meta["skipped"])
    check_labels(out, "train")
    check_labels(out, "val")
    assert "skipped 3 file(s)" in report.summary() and "truncated.JPEG" in report.summary()
    assert not list(out.glob("*.partial")) and not list(out.glob(".*.tmp"))


def test_mean_and_covariance_match_a_direct_computation(src, tmp_path):
    root, _ = src
    prepare(root, tmp_path / "out", size=SIZE, progress=False)
    ds = PreparedDataset(tmp_path / "out", "train")
    images = np.asarray(ds.images, dtype=np.float64)
    np.testing.assert_allclose(ds.mean, images.mean(axis=0), rtol=0, atol=1e-9)
    assert ds.mean.dtype == np.float64 and ds.mean.shape == (SIZE, SIZE, 3)
    np.testing.assert_allclose(ds.cov, np.cov(images.reshape(-1, 3), rowvar=False), rtol=1e-10)
    assert np.all(np.diff(ds.eigvals) <= 0)
    np.testing.assert_allclose(ds.cov @ ds.eigvecs, ds.eigvecs * ds.eigvals, atol=1e-8)


def test_chunked_statistics_keep_float64_precision():
    rng = np.random.default_rng(0)
    images = rng.integers(200, 256, size=(13, 5, 7, 3)).astype(np.uint8)  # large mean, small variance
    mean, cov = image_statistics(images, chunk=4)
    pixels = images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(mean, images.astype(np.float64).mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(cov, np.cov(pixels, rowvar=False), rtol=1e-12)
    eigvals, eigvecs = principal_components(cov)
    np.testing.assert_allclose(eigvecs @ np.diag(eigvals) @ eigvecs.T, cov, atol=1e-9)


def test_class_count_and_per_class_caps_are_seeded(src, tmp_path):
    root, _ = src
    a = prepare(root, tmp_path / "a", classes=2, seed=3, train_per_class=2, val_per_class=1, size=SIZE, progress=False)
    b = prepare(root, tmp_path / "b", classes=2, seed=3, train_per_class=2, val_per_class=1, size=SIZE, progress=False)
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert len(meta["wnids"]) == 2 and meta["wnids"] == sorted(meta["wnids"]) and set(meta["wnids"]) <= set(WNIDS)
    assert a.counts == b.counts and a.counts["val"] == 2 and a.counts["train"] <= 4
    for name in ("train_paths.json", "val_paths.json"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "train_images.npy"), np.load(tmp_path / "b" / "train_images.npy"))


def test_class_list_selects_and_reindexes(src, tmp_path):
    root, _ = src
    prepare(root, tmp_path / "out", classes=[WNIDS[2], WNIDS[0]], size=SIZE, progress=False)
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["wnids"] == [WNIDS[0], WNIDS[2]]
    check_labels(tmp_path / "out", "train")


@pytest.mark.parametrize("kwargs,message", [
    ({"classes": ["n01440764", "n07777777"]}, "unknown class.*n07777777"),
    ({"classes": 4}, "cannot choose 4 classes"),
    ({"train_per_class": 0}, "at least 1"),
])
def test_bad_selection_fails_before_any_work(src, tmp_path, kwargs, message):
    root, _ = src
    with pytest.raises(DataError, match=message):
        prepare(root, tmp_path / "out", size=SIZE, progress=False, **kwargs)
    assert list((tmp_path / "out").iterdir()) == []


def test_empty_class_folder_fails_before_any_work(src, tmp_path):
    root, _ = src
    (root / "train" / "n05555555").mkdir()
    with pytest.raises(DataError, match="n05555555"):
        prepare(root, tmp_path / "out", size=SIZE, progress=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_output_folder_errors(src, tmp_path):
    root, _ = src
    with pytest.raises(DataError, match="parent .* does not exist"):
        prepare(root, tmp_path / "no" / "such" / "out", size=SIZE, progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        prepare(root, tmp_path / "file", size=SIZE, progress=False)
    with pytest.raises(DataError, match="source folder"):
        prepare(tmp_path / "nothing", tmp_path / "out", size=SIZE, progress=False)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs file permissions that bind")
def test_unwritable_output_folder_is_an_error(src, tmp_path):
    root, _ = src
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(DataError, match="not writable"):
        prepare(root, locked, size=SIZE, progress=False)


def test_rerun_on_same_inputs_is_a_no_op(src, tmp_path):
    root, _ = src
    first = prepare(root, tmp_path / "out", size=SIZE, progress=False)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    again = prepare(root, tmp_path / "out", size=SIZE, progress=False)
    assert again.reused and again.counts == first.counts and again.skipped == first.skipped
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == stamps


def test_other_inputs_into_a_finished_folder_are_refused(src, tmp_path):
    root, _ = src
    prepare(root, tmp_path / "out", size=SIZE, progress=False)
    with pytest.raises(DataError, match="already holds a prepared set"):
        prepare(root, tmp_path / "out", size=SIZE + 8, progress=False)


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(src, tmp_path, monkeypatch):
    root, _ = src
    prepare(root, tmp_path / "whole", size=SIZE, workers=1, progress=False)
    monkeypatch.setattr(prepare_module, "CHUNK", 4)
    real = prepare_module.load_rgb_square
    calls = []

    def interrupted(path, size):
        calls.append(path)
        if len(calls) > 10:
            raise KeyboardInterrupt
        return real(path, size)

    monkeypatch.setattr(prepare_module, "load_rgb_square", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(root, tmp_path / "out", size=SIZE, workers=1, progress=False)
    assert not (tmp_path / "out" / "meta.json").exists()
    calls.clear()
    monkeypatch.setattr(prepare_module, "load_rgb_square", lambda path, size: (calls.append(path), real(path, size))[1])
    report = prepare(root, tmp_path / "out", size=SIZE, workers=1, progress=False)
    total = 3 * len(MODES) + 3 + 6
    assert len(calls) == total - 8  # two chunks of four were finished before the interruption
    assert len(report.skipped) == 3
    for name in ("train_images.npy", "train_labels.npy", "val_images.npy", "mean.npy", "pca.npz",
                 "train_paths.json"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_flat_validation_layout_is_prepared_with_its_labels(tmp_path):
    root = make_folder_layout(tmp_path / "src", train_per_class=2, val_per_class=1, all_modes=False)
    for folder in (root / "val").iterdir():
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    make_flat_val(root, ["n02119789", "n01440764", "n02100735"], "devkit")
    report = prepare(root, tmp_path / "out", size=SIZE, progress=False)
    assert report.counts == {"train": 6, "val": 3}
    labels = np.load(tmp_path / "out" / "val_labels.npy")
    images = np.load(tmp_path / "out" / "val_images.npy")
    assert labels.tolist() == [0, 1, 2]
    assert [int(round(img.mean())) for img in images] == GREYS


def test_cli_prepares_and_reports(src, tmp_path, capsys):
    root, _ = src
    code = main(["prepare", str(root), "--out", str(tmp_path / "out"), "--size", str(SIZE),
                 "--classes", f"{WNIDS[0]},{WNIDS[1]}", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0 and "prepared" in captured.out and "skipped 3 file(s)" in captured.out
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["wnids"] == WNIDS[:2]


def test_cli_user_error_is_one_line_on_stderr(src, tmp_path, capsys):
    root, _ = src
    code = main(["prepare", str(root), "--out", str(tmp_path / "out"), "--classes", "n00000001", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("tinyalex prepare: error: unknown class(es) n00000001")
    assert "Traceback" not in captured.err
