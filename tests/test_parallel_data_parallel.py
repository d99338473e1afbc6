"""Exact data parallelism in threads: N workers equal one worker on the whole batch, dropout included,
with uneven and empty shards, and each worker loads only its own images."""
import functools

import numpy as np
import pytest
from parallel_helpers import FLOAT64_RTOL, GLOBAL_BATCH, assert_close, fit_small, train
from training_helpers import run_workers

from tinyalex.parallel.data_parallel import average_gradients, global_rows, shard_range, worker_batches
from tinyalex.training import load_checkpoint


def results_of(outcome: dict) -> list:
    failures = {rank: value for rank, value in outcome.items() if isinstance(value, BaseException)}
    if failures:
        raise next(iter(failures.values()))
    return [outcome[rank] for rank in sorted(outcome)]


def test_shards_are_contiguous_cover_the_batch_and_differ_by_at_most_one():
    for n in range(0, 12):
        for size in range(1, 5):
            bounds = [shard_range(n, rank, size) for rank in range(size)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [stop - start for start, stop in bounds]
            assert max(sizes) - min(sizes) <= 1
    assert [shard_range(1, rank, 3) for rank in range(3)] == [(0, 0), (0, 0), (0, 1)]  # two workers get nothing


def test_workers_learn_where_their_rows_start():
    rows = [2, 0, 3]
    found = results_of(run_workers(3, lambda comm: global_rows(rows[comm.rank], comm, "cpu")))
    assert found == [(0, 5), (2, 5), (2, 5)]


def test_gradients_are_weighted_by_rows():
    """Worker gradients are means over 1 and 3 rows: the whole batch's mean weighs the second three times."""
    from tinyalex.layers import Parameter

    def worker(comm):
        p = Parameter(np.zeros(2))
        p.grad = np.array([4.0, 8.0]) if comm.rank == 0 else np.array([0.0, 4.0])
        stats = average_gradients([p], [1, 3][comm.rank], 4, comm, [10.0 * (comm.rank + 1)])
        return p.grad, stats

    for grad, stats in results_of(run_workers(2, worker)):
        np.testing.assert_allclose(grad, [1.0, 5.0])  # 1/4 [4, 8] + 3/4 [0, 4]; the plain mean would be [2, 6]
        assert stats == [30.0]


@functools.lru_cache(maxsize=None)
def one_worker(rows: int, dropout: float = 0.5) -> dict:
    return train(rows=rows, dropout=dropout)


@pytest.mark.parametrize("workers, rows", [(1, GLOBAL_BATCH), (2, GLOBAL_BATCH), (3, GLOBAL_BATCH), (3, 2)])
def test_n_workers_train_like_one_worker_on_the_whole_batch_dropout_included(workers, rows):
    """3 workers on 8 rows hold 2, 3 and 3 (unequal shards); on 2 rows one holds none (an empty shard)."""
    states = results_of(run_workers(workers, lambda comm: train(comm, rows=rows)))
    for state in states:
        for name, expected in one_worker(rows).items():
            assert_close(state[name], expected, FLOAT64_RTOL, name)


def test_dropout_changes_that_training_run():
    """So that the comparisons above would see masks that differ between workers."""
    with_dropout, without = one_worker(GLOBAL_BATCH), one_worker(GLOBAL_BATCH, 0.0)
    assert np.abs(with_dropout["fc7.weight"] - without["fc7.weight"]).max() > 1e-3 * np.abs(without["fc7.weight"]).max()


@pytest.mark.parametrize("workers", [2, 3])
def test_the_trainer_on_17_images_in_batches_of_8_equals_one_worker(tmp_path, workers):
    """The last batch holds one image, so all workers but one get an empty shard. Dropout is on."""
    one_data = fit_small(str(tmp_path / "one"), images=17, batch=8, dropout=0.5)
    datasets = results_of(run_workers(workers, lambda comm: fit_small(str(tmp_path / "dp"), comm, images=17,
                                                                      batch=8, dropout=0.5)))
    one, many = load_checkpoint(tmp_path / "one" / "last.npz"), load_checkpoint(tmp_path / "dp" / "last.npz")
    for name, expected in one["model"].items():
        assert_close(many["model"][name], expected, FLOAT64_RTOL, name)
    for key in ("train_loss", "train_accuracy", "top1_error", "val_loss"):
        assert many["meta"]["history"][0][key] == pytest.approx(one["meta"]["history"][0][key], rel=FLOAT64_RTOL)
    assert many["meta"]["dropout_rng"] == one["meta"]["dropout_rng"]  # every worker advanced its masks 3 times
    # each worker loaded only its own rows of each batch, and together they loaded every image once
    loaded = [sorted(i for batch in data.loaded for i in batch) for data in datasets]
    assert sorted(i for rows in loaded for i in rows) == list(range(17))
    assert all(len(rows) <= 17 // workers + 2 for rows in loaded)
    assert [len(batch) for batch in one_data.loaded] == [8, 8, 1]


def test_a_plain_iterable_is_cut_after_loading():
    batches = [(np.arange(5), np.arange(5)), (np.arange(1), np.arange(1))]

    class Comm:
        rank, size = 1, 2

    cut = [(x.tolist(), y.tolist()) for x, y in worker_batches(batches, Comm())]
    assert cut == [([2, 3, 4], [2, 3, 4]), ([0], [0])]
    ten = [(np.arange(20), np.arange(2))]  # two images of ten crops: crops stay with their image
    assert [x.tolist() for x, _ in worker_batches(ten, Comm(), rows_per_item=10)] == [list(range(10, 20))]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_sharded_loader_yields_each_workers_rows_of_the_whole_batch(prefetch):
    """Crops, flips and colour shifts are drawn for the whole batch and sliced: any split gives the same pixels."""
    from data_fixtures import ArrayDataset
    from tinyalex.data import DataLoader

    pixels = np.random.default_rng(3).integers(0, 256, (17, 40, 40, 3), dtype=np.uint8)
    data = ArrayDataset(pixels, np.arange(17) % 5)
    options = dict(batch_size=8, crop=32, seed=4, prefetch=prefetch)
    for train_mode in (True, False):
        whole = list(DataLoader(data, train=train_mode, **options))
        for size in (2, 3):
            shards = []
            for rank in range(size):
                loader = DataLoader(data, train=train_mode, **options)
                loader.set_shard(rank, size)
                shards.append(list(loader))
            assert all(len(batches) == len(whole) == 3 for batches in shards)  # empty shares are yielded too
            for b, (x, y) in enumerate(whole):
                np.testing.assert_array_equal(np.concatenate([s[b][0] for s in shards]), x)
                np.testing.assert_array_equal(np.concatenate([s[b][1] for s in shards]), y)
            assert [len(s[2][1]) for s in shards] == [0] * (size - 1) + [1]
    with pytest.raises(ValueError, match=r"set_shard: rank must be in \[0, 2\), got 2"):
        DataLoader(data, crop=32).set_shard(2, 2)


def test_a_folder_with_an_undecodable_image_gives_every_split_the_same_pixels(tmp_path):
    """A bad image is left out of its batch; the images after it keep their own crops in every split."""
    import warnings

    from PIL import Image

    from data_fixtures import WNIDS, write_broken
    from tinyalex.data import DataLoader, FolderDataset
    from tinyalex.data.dataset import load_rows
    from tinyalex.experiments.subset import Subset

    rng = np.random.default_rng(5)
    for k, wnid in enumerate(WNIDS[:2]):
        for i in range(6):
            noise = rng.integers(0, 256, (48, 44, 3), dtype=np.uint8)  # noise: every crop of it differs
            path = tmp_path / "train" / wnid / f"{wnid}_{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(noise).save(path)
    write_broken(tmp_path / "train" / WNIDS[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = FolderDataset(tmp_path, "train", size=40)
        options = dict(batch_size=5, crop=32, seed=2, prefetch=0)
        reordered = Subset(folder, np.arange(15)[::-1])  # a subset passes on what its data set skipped
        for got, expected in zip(load_rows(reordered, np.arange(15)), load_rows(folder, np.arange(15)[::-1])):
            np.testing.assert_array_equal(got, expected)
        for data in (folder, reordered):
            whole = list(DataLoader(data, **options))
            assert sum(len(y) for _, y in whole) == len(data) - 3  # the three bad files are left out
            for size in (2, 3):
                shards = []
                for rank in range(size):
                    loader = DataLoader(data, **options)
                    loader.set_shard(rank, size)
                    shards.append(list(loader))
                for b, (x, y) in enumerate(whole):
                    np.testing.assert_array_equal(np.concatenate([s[b][0] for s in shards]), x)
                    np.testing.assert_array_equal(np.concatenate([s[b][1] for s in shards]), y)
