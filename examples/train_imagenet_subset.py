"""Train AlexNet on a reduced ImageNet subset: prepare it once, then train and evaluate.

    python examples/train_imagenet_subset.py /data/imagenet --classes 100 --per-class 300 \
        --out runs/imagenet100 --epochs 30 [--model small] [--device gpu]

SRC is an ImageNet-layout folder (train/<wnid>/*.JPEG and val/...; the raw ILSVRC-2012 val
folder with its devkit or Kaggle label file works too). The subset is decoded once into
memory-mappable arrays under OUT/data at 256x256 (the paper's size; 73x73 for --model small),
so later epochs read no JPEGs. Run again, the same command finishes the preparation and continues
the training where it stopped (OUT/run/last.npz) instead of starting over. Everything here is also
one command: `tinyalex prepare` then `tinyalex train --data OUT/data`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tinyalex.cli.options import integer
from tinyalex.data import DataLoader, prepare
from tinyalex.models import PAPER_INPUT_SIZE, SMALL_INPUT_SIZE, AlexNet, alexnet_small
from tinyalex.optim import MomentumSGD, ReduceLROnPlateau
from tinyalex.training import evaluate_checkpoint, fit, open_datasets
from tinyalex.training.datasets import image_size_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="ImageNet-layout folder")
    parser.add_argument("--classes", type=integer(1), default=100, help="classes chosen at random (seeded)")
    parser.add_argument("--per-class", type=integer(1), default=300, help="training images per class")
    parser.add_argument("--out", default="runs/imagenet_subset")
    parser.add_argument("--model", choices=("alexnet", "small"), default="alexnet")
    parser.add_argument("--epochs", type=integer(1), default=30)
    parser.add_argument("--batch-size", type=integer(1), default=128)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--device", choices=("cpu", "gpu", "auto"), help="default: TINYALEX_DEVICE, else auto")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    crop = SMALL_INPUT_SIZE if args.model == "small" else PAPER_INPUT_SIZE
    report = prepare(args.src, out / "data", classes=args.classes, train_per_class=args.per_class,
                     size=image_size_for(crop))
    print(report.summary())

    train_set, val_set, info = open_datasets(out / "data", crop)
    classes = len(info["wnids"])
    model = alexnet_small(classes) if args.model == "small" else AlexNet(classes)
    optimizer = MomentumSGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=0.0005)
    schedule = ReduceLROnPlateau(optimizer, factor=0.1, patience=3, max_reductions=3)
    train_loader = DataLoader(train_set, args.batch_size, train=True, crop=crop, seed=0, device=args.device)
    val_loader = DataLoader(val_set, args.batch_size, train=False, crop=crop, device=args.device)
    resume = (out / "run" / "last.npz").is_file()
    if resume:
        print(f"continuing the run in {out / 'run'}")
    fit(model, train_loader, val_loader, optimizer, args.epochs, out_dir=out / "run", schedule=schedule,
        device=args.device, resume=resume, data_info=info)

    results = evaluate_checkpoint(out / "run" / "best.npz", device=args.device)
    for name in ("center", "ten_crop"):
        r = results[name]
        print(f"{name:9s} top-1 error {r['top1_error']:.2%}  top-5 error {r['top5_error']:.2%}")


if __name__ == "__main__":
    main()
