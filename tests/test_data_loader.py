"""DataLoader: shapes, determinism per (seed, epoch), prefetching, test crops, both data sets, GPU."""
from __future__ import annotations

import numpy as np
import pytest

from data_fixtures import WNIDS, ArrayDataset, make_folder_layout, write_broken
from tinyalex.data import BadImageError, DataError, DataLoader, FolderDataset, PreparedDataset, prepare, ten_crop


def numbered_dataset(n=10, size=12, mean=None):
    images = (np.arange(n * size * size * 3) % 251).astype(np.uint8).reshape(n, size, size, 3)
    return ArrayDataset(images, np.arange(n, dtype=np.int64) % 3, mean)


def batches(loader, epochs=1):
    return [(x.copy(), y.copy()) for _ in range(epochs) for x, y in loader]


def test_batch_shapes_types_and_the_last_partial_batch():
    ds = numbered_dataset(10)
    kept = DataLoader(ds, batch_size=4, crop=8)
    assert len(kept) == 3
    out = batches(kept)
    assert [len(y) for _, y in out] == [4, 4, 2]
    x, y = out[0]
    assert x.shape == (4, 3, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
    assert sorted(np.concatenate([y for _, y in out]).tolist()) == sorted(ds.labels.tolist())
    dropped = DataLoader(ds, batch_size=4, crop=8, drop_last=True)
    assert len(dropped) == 2 and [len(y) for _, y in batches(dropped)] == [4, 4]


def test_same_seed_same_batches_and_epochs_differ():
    ds = numbered_dataset(12)
    a = batches(DataLoader(ds, batch_size=5, crop=8, seed=1), epochs=2)
    b = batches(DataLoader(ds, batch_size=5, crop=8, seed=1), epochs=2)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    first, second = np.concatenate([y for _, y in a[:3]]), np.concatenate([y for _, y in a[3:]])
    assert sorted(first.tolist()) == sorted(second.tolist())
    c = batches(DataLoader(ds, batch_size=5, crop=8, seed=2))
    assert not all(np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))


def test_resumed_epoch_sees_the_uninterrupted_batches():
    ds = numbered_dataset(12)
    run = DataLoader(ds, batch_size=5, crop=8, seed=4)
    batches(run)
    second_epoch = batches(run)
    resumed = DataLoader(ds, batch_size=5, crop=8, seed=4)
    resumed.set_epoch(1)
    for (x1, y1), (x2, y2) in zip(second_epoch, batches(resumed)):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_prefetching_threads_do_not_change_the_batches():
    ds = numbered_dataset(30)
    threaded = batches(DataLoader(ds, batch_size=4, crop=8, workers=3, prefetch=4))
    inline = batches(DataLoader(ds, batch_size=4, crop=8, prefetch=0))
    assert len(threaded) == len(inline) == 8
    for (x1, y1), (x2, y2) in zip(threaded, inline):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_training_batch_is_a_crop_of_its_image_with_the_mean_cut_the_same_way():
    size, crop = 12, 8
    plain = numbered_dataset(6, size)
    pattern = plain.images.astype(np.float64)[0]  # a mean image that is far from constant
    zeros = ArrayDataset(np.zeros_like(plain.images), plain.labels, mean=pattern)
    options = dict(batch_size=6, crop=crop, seed=3, pca=False, shuffle=False)
    (x_img, _), = batches(DataLoader(plain, **options))
    (x_mean, _), = batches(DataLoader(zeros, **options))
    # Same seed, same crops: image crop and mean crop line up pixel for pixel, flips included.
    images = x_img.transpose(0, 2, 3, 1)
    for img, crop_img, crop_mean in zip(plain.images, images, x_mean.transpose(0, 2, 3, 1)):
        where = [(y, x, f) for y in range(size - crop + 1) for x in range(size - crop + 1) for f in (False, True)
                 if np.array_equal((img[y:y + crop, x:x + crop, :][:, ::-1] if f else img[y:y + crop, x:x + crop]),
                                   crop_img)]
        assert where, "training input is not a crop of its image"
        y, x, f = where[0]
        window = pattern[y:y + crop, x:x + crop]
        np.testing.assert_allclose(crop_mean, -(window[:, ::-1] if f else window))


def test_fancy_pca_shifts_each_image_by_one_colour():
    ds = numbered_dataset(4)
    options = dict(batch_size=4, crop=8, seed=5, shuffle=False)
    (x_plain, _), = batches(DataLoader(ds, pca=False, **options))
    (x_pca, _), = batches(DataLoader(ds, pca=True, **options))
    shift = (x_pca - x_plain).transpose(0, 2, 3, 1).reshape(4, -1, 3)
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1], shift.shape), atol=1e-4)
    assert np.abs(shift[:, 0]).max() > 1e-3


def test_test_mode_centre_crop_in_order_and_ten_crop_layout():
    size, crop = 12, 8
    rng = np.random.default_rng(0)
    ds = numbered_dataset(5, size, mean=rng.uniform(0, 50, size=(size, size, 3)))
    out = batches(DataLoader(ds, batch_size=2, crop=crop, train=False))
    x = np.concatenate([b[0] for b in out])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in out]), ds.labels)
    expected = (ds.images[:, 2:10, 2:10].astype(np.float32) - ds.mean[2:10, 2:10].astype(np.float32))
    np.testing.assert_allclose(x.transpose(0, 2, 3, 1), expected, atol=1e-5)
    (x10, y10), = batches(DataLoader(ds, batch_size=5, crop=crop, train=False, ten_crop=True))
    assert x10.shape == (50, 3, crop, crop) and y10.tolist() == ds.labels.tolist()
    want = ten_crop(ds.images[3], crop).astype(np.float32) - ten_crop(ds.mean, crop).astype(np.float32)
    np.testing.assert_allclose(x10[30:40].transpose(0, 2, 3, 1), want, atol=1e-5)


def test_loader_options_are_checked():
    ds = numbered_dataset(4)
    with pytest.raises(ValueError, match="larger than"):
        DataLoader(ds, crop=13)
    with pytest.raises(ValueError, match="ten_crop"):
        DataLoader(ds, crop=8, ten_crop=True)


def test_prepared_and_folder_data_sets_agree(tmp_path):
    src = make_folder_layout(tmp_path / "src", train_per_class=3, val_per_class=2, all_modes=False)
    prepare(src, tmp_path / "out", size=16, progress=False)
    for split in ("train", "val"):
        prepared = PreparedDataset(tmp_path / "out", split)
        folder = FolderDataset(src, split, size=16, mean=prepared.mean)
        assert len(prepared) == len(folder) and prepared.wnids == folder.wnids == WNIDS
        assert prepared.class_names == folder.class_names
        np.testing.assert_array_equal(prepared.labels, folder.labels)
        for i in range(len(prepared)):
            np.testing.assert_array_equal(prepared[i][0], folder[i][0])
        kw = dict(batch_size=4, crop=12, train=False)
        for (xa, ya), (xb, yb) in zip(DataLoader(prepared, **kw), DataLoader(folder, **kw)):
            np.testing.assert_allclose(xa, xb, atol=1e-4)
            np.testing.assert_array_equal(ya, yb)


def test_folder_data_set_estimates_statistics_and_skips_bad_files(tmp_path):
    src = make_folder_layout(tmp_path / "src", train_per_class=3, val_per_class=1, all_modes=False)
    broken = write_broken(src / "train" / WNIDS[0])
    with pytest.warns(UserWarning, match="skipping"):  # once per file, here while estimating the mean
        ds = FolderDataset(src, "train", size=16, stats_images=100)
    assert ds.mean.shape == (16, 16, 3) and ds.eigvals.shape == (3,) and ds.eigvecs.shape == (3, 3)
    out = batches(DataLoader(ds, batch_size=4, crop=12, workers=2, prefetch=2))
    assert sum(len(y) for _, y in out) == len(ds) - len(broken)
    assert sorted(ds.skipped) == sorted(str(p) for p in broken)
    with pytest.raises(BadImageError, match="not_an_image"):
        ds[[str(p) for p in ds.paths].index(str(broken[0]))]


def test_a_class_whose_every_file_is_undecodable_is_warned_about_once(tmp_path):
    """Training straight from a folder trained a classifier for a class it never saw, without a word
    (prepare refuses such a class; a folder's files are only decoded as they are met)."""
    src = make_folder_layout(tmp_path / "src", train_per_class=3, val_per_class=1, all_modes=False)
    for good in (src / "train" / WNIDS[1]).iterdir():
        good.unlink()
    write_broken(src / "train" / WNIDS[1])
    write_broken(src / "train" / WNIDS[0])  # beside three good files: that class is not lost
    ds = FolderDataset(src, "train", size=16, stats_images=1)
    with pytest.warns(UserWarning) as caught:
        for epoch in range(2):  # the second epoch meets the same files: nothing more is said
            batches(DataLoader(ds, batch_size=4, crop=12, workers=2, prefetch=2, seed=epoch))
    lost = [str(w.message) for w in caught if "could be decoded" in str(w.message)]
    assert lost == [f"none of the 3 files of class {WNIDS[1]} in {src / 'train'} could be decoded, so the network "
                    "never sees that class; mend or remove them"]
    assert ds.lost_classes == {1}


def test_prepared_data_set_refuses_an_unfinished_folder(tmp_path):
    with pytest.raises(DataError, match="tinyalex prepare"):
        PreparedDataset(tmp_path, "train")


@pytest.mark.gpu  # conftest skips it without a GPU, and fails it under TINYALEX_DEVICE=gpu
def test_gpu_batches_are_cupy_copies_of_the_cpu_batches():
    import cupy  # only for the isinstance check: the library itself never imports it

    ds = numbered_dataset(10)
    cpu = batches(DataLoader(ds, batch_size=4, crop=8, seed=2))
    for (xc, yc), (xg, yg) in zip(cpu, DataLoader(ds, batch_size=4, crop=8, seed=2, device="gpu")):
        assert isinstance(xg, cupy.ndarray) and isinstance(yg, cupy.ndarray)
        np.testing.assert_array_equal(xc, cupy.asnumpy(xg))
        np.testing.assert_array_equal(yc, cupy.asnumpy(yg))
