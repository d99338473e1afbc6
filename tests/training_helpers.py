"""Small models, in-memory data and a threaded communicator for the training tests (fast on a 2-core CPU)."""
import threading

import numpy as np

from tinyalex.models import alexnet_small

CLASSES, SIDE = 4, 32


def tiny_alexnet(seed=0, **kwargs):
    """The small AlexNet (He init) at 32x32 input and 1/8 width: about 0.3 M parameters."""
    kwargs.setdefault("num_classes", CLASSES)
    return alexnet_small(input_size=SIDE, width=0.125, seed=seed, **kwargs)


def toy_images(n, seed=0):
    """Images whose class is the brightest quadrant: learnable by a tiny network in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(0, 20, (n, 3, SIDE, SIDE)).astype(np.float32)
    half = SIDE // 2
    for i, k in enumerate(y):
        r, c = divmod(int(k), 2)
        x[i, :, r * half:(r + 1) * half, c * half:(c + 1) * half] += 60
    return x, y.astype(np.int64)


class ArrayLoader:
    """Batches of in-memory arrays, reshuffled per epoch from (seed, epoch) like tinyalex's DataLoader."""

    def __init__(self, x, y, batch_size, shuffle=True, seed=0):
        self.x, self.y, self.batch_size, self.shuffle, self.seed = x, y, batch_size, shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return -(-len(self.y) // self.batch_size)

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.y)) if self.shuffle \
            else np.arange(len(self.y))
        self.epoch += 1
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.x[idx], self.y[idx]


def shapes_folder(root, train_per_class=3, val_per_class=2):
    """A tiny copy of the embedded shapes set (10 classes, real JPEGs in the ImageNet layout)."""
    from tinyalex.data.synthetic import ensure_default_dataset

    return ensure_default_dataset(root, train_per_class, val_per_class, progress=False)


class ThreadCommunicator:
    """`size` workers in threads of one process: the interface tinyalex.parallel.distributed provides."""

    def __init__(self, rank, shared):
        self.rank, self.shared = rank, shared
        self.size = shared["size"]

    def _exchange(self, arrays):
        slots = self.shared["slots"]
        slots[self.rank] = [a.copy() for a in arrays]
        self.shared["barrier"].wait()
        gathered = [slots[r] for r in range(self.size)]
        self.shared["barrier"].wait()
        return gathered

    def allreduce_sum(self, arrays):
        gathered = self._exchange(arrays)
        for i, a in enumerate(arrays):
            a[...] = sum(g[i] for g in gathered)  # in rank order: the same sum on every worker

    def allreduce_mean(self, arrays):
        self.allreduce_sum(arrays)
        for a in arrays:
            a /= self.size

    def broadcast(self, arrays, root=0):
        gathered = self._exchange(arrays)
        for a, b in zip(arrays, gathered[root]):
            a[...] = b


def run_workers(size, target, timeout=120):
    """Call target(communicator) in `size` threads, one worker each; returns {rank: result or exception}.

    A worker left waiting at a collective for `timeout` seconds (another one failed) fails too, instead
    of hanging the test.
    """
    shared = {"size": size, "slots": {}, "barrier": threading.Barrier(size, timeout=timeout)}
    results = {}

    def worker(rank):
        try:
            results[rank] = target(ThreadCommunicator(rank, shared))
        except Exception as exc:  # noqa: BLE001  (handed to the test to inspect)
            results[rank] = exc

    threads = [threading.Thread(target=worker, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
