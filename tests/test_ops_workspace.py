"""workspace: scratch buffers are reused only after they are given back, and chunks cover the batch."""
import numpy as np
import pytest

from tinyalex.ops import threads, workspace


def test_a_given_back_buffer_is_lent_again_and_one_in_use_never_is():
    workspace.clear()
    like = np.zeros(1, np.float32)
    a = workspace.take((3, 1000), np.float32, like)
    b = workspace.take((3, 1000), np.float32, like)
    assert not np.shares_memory(a, b)  # a is still in use
    workspace.give_back(a.T)  # a view gives back its buffer
    c = workspace.take((2, 1500), np.float32, like)  # same size class, another shape
    assert np.shares_memory(a, c) and c.shape == (2, 1500) and c.dtype == np.float32
    workspace.give_back(c, c)  # twice: the second is ignored
    assert workspace.pooled_bytes() == 16384  # one buffer of 12000 bytes' size class
    workspace.clear()


def test_arrays_not_from_the_pool_are_ignored():
    workspace.clear()
    mine = np.zeros(4096, np.float32)
    workspace.give_back(mine, mine[:10], None)
    assert workspace.pooled_bytes() == 0


def test_chunks_cover_the_batch_in_order_in_equal_pieces_a_multiple_of_the_threads(monkeypatch):
    like = np.zeros(1)
    monkeypatch.setenv("TINYALEX_THREADS", "1")
    parts = workspace.chunks(10, 300, like, target=1000)  # at most 3 items of 300 bytes per chunk: 4 chunks
    assert [(p.start, p.stop) for p in parts] == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert workspace.chunks(5, 10**9, like, target=1000) == [slice(i, i + 1) for i in range(5)]  # at least one item
    monkeypatch.setenv("TINYALEX_THREADS", "2")
    assert workspace.chunks(10, 10, like, target=1000) == [slice(0, 10)]  # 100 bytes: not worth a second thread
    monkeypatch.setattr(threads, "MIN_SPLIT_BYTES", 0)
    assert [(p.start, p.stop) for p in workspace.chunks(10, 300, like, target=1000)] == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert [(p.start, p.stop) for p in workspace.chunks(10, 10, like, target=1000)] == [(0, 5), (5, 10)]  # one per thread
    monkeypatch.setenv("TINYALEX_THREADS", "3")
    assert [(p.start, p.stop) for p in workspace.chunks(10, 300, like, target=1000)] == [
        (0, 1), (1, 3), (3, 5), (5, 6), (6, 8), (8, 10)]
    assert workspace.chunks(0, 300, like, target=1000) == [slice(0, 0)]  # an empty batch is one empty chunk



def test_glibc_is_asked_to_keep_freed_memory_unless_told_otherwise(monkeypatch):
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's mallopt is Linux only")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("TINYALEX_KEEP_FREED_MEMORY", raising=False)
    assert workspace.keep_freed_memory()
    monkeypatch.setenv("TINYALEX_KEEP_FREED_MEMORY", "0")
    assert not workspace.keep_freed_memory()
    monkeypatch.delenv("TINYALEX_KEEP_FREED_MEMORY")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")  # the user's own glibc settings win
    assert not workspace.keep_freed_memory()


def test_a_training_step_takes_no_fresh_pages_once_warm():
    import resource

    from tinyalex.engine.tensor import Tensor
    from tinyalex.models import alexnet_small
    from tinyalex.ops.softmax_cross_entropy import softmax_cross_entropy
    from tinyalex.optim import MomentumSGD

    model = alexnet_small(num_classes=10)
    x = np.random.default_rng(0).standard_normal((32, 3, 64, 64)).astype(np.float32)
    optimizer = MomentumSGD(model.parameters())
    faults = []
    for _ in range(4):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        optimizer.zero_grad()
        softmax_cross_entropy(model(Tensor(x)), np.arange(32) % 10).backward()
        optimizer.step()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    assert max(faults[2:]) < 500, faults  # 4 KiB pages; a step that maps its activations afresh takes thousands


def test_on_the_gpu_the_batch_is_one_piece_unless_a_gpu_target_is_given(monkeypatch):
    monkeypatch.setattr(workspace, "get_array_module", lambda like: object())  # any module but NumPy
    assert workspace.chunks(10, 100, None, 1000) == [slice(0, 10)]
    pieces = workspace.chunks(10, 100, None, 1000, gpu_target=300)
    assert [p.stop - p.start for p in pieces] == [2, 3, 2, 3] and pieces[0].start == 0 and pieces[-1].stop == 10
