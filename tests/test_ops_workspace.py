"""workspace: scratch buffers are reused only after they are given back, and chunks cover the batch."""
import numpy as np

from tinyalex.ops import workspace


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
    assert [(p.start, p.stop) for p in workspace.chunks(10, 300, like, target=1000)] == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert [(p.start, p.stop) for p in workspace.chunks(10, 10, like, target=1000)] == [(0, 5), (5, 10)]  # one per thread
    monkeypatch.setenv("TINYALEX_THREADS", "3")
    assert [(p.start, p.stop) for p in workspace.chunks(10, 300, like, target=1000)] == [
        (0, 1), (1, 3), (3, 5), (5, 6), (6, 8), (8, 10)]
    assert workspace.chunks(0, 300, like, target=1000) == [slice(0, 0)]  # an empty batch is one empty chunk

