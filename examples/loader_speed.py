"""How many images per second the DataLoader alone delivers (no model), with the paper's settings.

    python examples/loader_speed.py [PREPARED_DIR] [--batch-size 128] [--crop 224] [--workers 2]

Without PREPARED_DIR it draws a small shapes set and prepares it at --size (256) in a
temporary folder first. Training batches get the full augmentation (random crop, flip,
fancy PCA, mean subtraction); test batches the centre crop.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tinyalex.cli.options import integer
from tinyalex.data import DataLoader, PreparedDataset, ensure_default_dataset, prepare
from tinyalex.data.errors import DataError


def images_per_second(loader: DataLoader, epochs: int) -> float:
    next(iter(loader))  # warm the page cache and the thread pool
    count, start = 0, time.perf_counter()
    for _ in range(epochs):
        for _, y in loader:
            count += len(y)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", nargs="?", help="a folder written by `tinyalex prepare`")
    parser.add_argument("--size", type=integer(1), default=256, help="image side when preparing the sample set")
    parser.add_argument("--crop", type=integer(1), default=224)
    parser.add_argument("--batch-size", type=integer(1), default=128)
    parser.add_argument("--workers", type=integer(0), default=2)
    parser.add_argument("--prefetch", type=integer(0), default=2)
    parser.add_argument("--epochs", type=integer(1), default=2)
    parser.add_argument("--device", default="cpu", help="cpu or gpu (batches copied to the GPU)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.prepared) if args.prepared else Path(tmp) / "prepared"
        if not args.prepared:
            shapes = ensure_default_dataset(Path(tmp) / "shapes", train_per_class=100, val_per_class=20)
            prepare(shapes, root, size=args.size)
        try:
            ds = PreparedDataset(root, "train")
        except DataError as error:
            raise SystemExit(f"loader_speed: {error}") from None
        for train in (True, False):
            loader = DataLoader(ds, batch_size=args.batch_size, train=train, crop=args.crop, seed=0,
                                workers=args.workers, prefetch=args.prefetch, device=args.device)
            rate = images_per_second(loader, args.epochs)
            print(f"{'train' if train else 'test '} batches of {args.batch_size} x 3 x {args.crop} x {args.crop} "
                  f"from {ds.size}x{ds.size} ({len(ds)} images, {args.workers} workers, {args.device}): "
                  f"{rate:,.0f} images/s")


if __name__ == "__main__":
    main()
