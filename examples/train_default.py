"""`tinyalex train` with no arguments, written out with the Python API.

    python examples/train_default.py [--epochs 20] [--out runs/example]

Generates the embedded shapes set once (10 classes of drawn shapes and textures, 5000 training
and 1000 validation JPEGs under ~/.cache/tinyalex or $TINYALEX_DATA), decodes it once at 73x73,
trains the CPU-sized AlexNet on random 64x64 crops with the paper's optimiser and schedule, then
scores the best checkpoint with the centre crop and with the paper's ten crops and classifies
one validation image.
"""
from __future__ import annotations

import argparse

from tinyalex.cli.options import integer
from tinyalex.data import DataLoader, ensure_default_dataset
from tinyalex.models import SMALL_INPUT_SIZE, alexnet_small, summary
from tinyalex.optim import MomentumSGD, ReduceLROnPlateau
from tinyalex.training import evaluate_checkpoint, fit, open_datasets, predict_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=integer(1), default=20)
    parser.add_argument("--out", default="runs/example")
    args = parser.parse_args()

    crop = SMALL_INPUT_SIZE
    train_set, val_set, info = open_datasets(None, crop)
    model = alexnet_small(num_classes=len(info["wnids"]))
    print(summary(model))

    # The paper's update (Section 5): lr 0.01, momentum 0.9, weight decay 0.0005, lr / 10 on plateaus.
    optimizer = MomentumSGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0005)
    schedule = ReduceLROnPlateau(optimizer, factor=0.1, patience=3, max_reductions=3)
    # batch 64, tinyalex train's default for the small net
    train_loader = DataLoader(train_set, batch_size=64, train=True, crop=crop, seed=0)
    val_loader = DataLoader(val_set, batch_size=64, train=False, crop=crop)
    fit(model, train_loader, val_loader, optimizer, args.epochs, out_dir=args.out, schedule=schedule,
        data_info=info)

    results = evaluate_checkpoint(f"{args.out}/best.npz", progress=False)
    for name in ("center", "ten_crop"):
        r = results[name]
        print(f"{name:9s} top-1 error {r['top1_error']:.2%}  top-5 error {r['top5_error']:.2%}")
    image = sorted((ensure_default_dataset() / "val" / "star").glob("*.JPEG"))[0]
    [prediction] = predict_checkpoint(f"{args.out}/best.npz", [image])
    print(prediction.path, "->", ", ".join(f"{wnid} {p:.1%}" for wnid, _, p in prediction.top))


if __name__ == "__main__":
    main()
