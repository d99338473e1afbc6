"""`tinyalex ablate`: train the baseline and one variant per design choice with the same seed, data and
budget, and write a table of their errors beside the paper's claims (see tinyalex.experiments.ablation)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tinyalex.backend import DeviceError
from tinyalex.data.errors import DataError
from tinyalex.experiments.ablation import DEFAULT_VARIANTS, MODELS, VARIANTS, AblationConfig, run_ablation
from tinyalex.training import CheckpointError, NonFiniteLossError


def variant_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {unknown or text!r}; choose from {', '.join(VARIANTS)}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = AblationConfig()
    parser.add_argument("--data", help="a prepared subset or an ImageNet-layout folder (default: the embedded "
                                       "shapes set)")
    parser.add_argument("--out", default="runs/ablate", help="output folder; rerun with it to continue an "
                                                             "interrupted ablation (default: runs/ablate)")
    parser.add_argument("--variants", type=variant_list, default=list(DEFAULT_VARIANTS),
                        help=f"comma-separated, from: {', '.join(VARIANTS)} (default: {','.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--epochs", type=int, default=defaults.epochs,
                        help=f"epochs per variant: the budget (default {defaults.epochs})")
    parser.add_argument("--train-images", type=int, help="train on a class-balanced subset of this many images "
                                                         "(default: all)")
    parser.add_argument("--val-images", type=int, help="validate on a class-balanced subset (default: all)")
    parser.add_argument("--model", choices=sorted(MODELS),
                        help="small: alexnet_small on 64px crops; alexnet: the paper's net on 224px crops "
                             "(default: small on the embedded data, alexnet otherwise)")
    parser.add_argument("--width", type=float, help="channel multiplier (default: the model's)")
    parser.add_argument("--init", choices=("paper", "he"),
                        help="initial weights: the paper's N(0, 0.01) with biases of 1, or He's "
                             "(default: the model's, as in tinyalex train)")
    parser.add_argument("--crop", type=int, help="crop size (default: the model's input size)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr, help="fixed learning rate (no schedule)")
    parser.add_argument("--momentum", type=float, default=defaults.momentum)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the same seed for every variant")
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"))
    parser.add_argument("--workers", type=int, default=defaults.workers, help="threads preparing batches")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    config = AblationConfig(
        data=args.data, model=args.model, width=args.width, init=args.init, crop=args.crop,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, train_images=args.train_images, val_images=args.val_images,
        seed=args.seed, device=args.device, workers=args.workers,
    )
    out = Path(args.out)
    try:
        run_ablation(out, args.variants, config, progress=not args.quiet)
    except (ValueError, DataError, CheckpointError, DeviceError, NonFiniteLossError) as exc:
        print(f"tinyalex ablate: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ntinyalex ablate: interrupted; run the same command again to continue ({out})", file=sys.stderr)
        return 130
    print((out / "results.md").read_text(encoding="utf-8"))
    print(f"table, curves.png and figure1.png in {out}")
    return 0
