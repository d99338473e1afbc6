"""Small models and in-memory data for the training tests (fast on a 2-core CPU)."""
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
