"""`tinyalex ablate`: train the baseline and one variant per design choice with N seeds each on the same
data and budget, and write tables of their errors (mean ± sd over seeds) and differences from the
baseline beside the paper's claims (see tinyalex.experiments.ablation). `--lrn-range` only measures
and prints alpha * sum(a^2) in every LRN layer (tinyalex.experiments.lrn)."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from tinyalex.backend import DeviceError
from tinyalex.cli.options import add_device, folder_problem, integer, number
from tinyalex.data.errors import DataError
from tinyalex.experiments.ablation import MODELS, AblationConfig, measure_lrn_range, run_ablation
from tinyalex.experiments.report import lrn_table
from tinyalex.experiments.variants import DEFAULT_VARIANTS, GROUPS, VARIANTS, expand
from tinyalex.training import CheckpointError, NonFiniteLossError


def variant_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no variants in {text!r}; choose from {', '.join(VARIANTS)} or the groups "
                                         f"{', '.join(GROUPS)}")
    try:
        expand(names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = AblationConfig()
    parser.add_argument("--data", help="a prepared subset or an ImageNet-layout folder (default: the embedded "
                                       "shapes set)")
    parser.add_argument("--out", default="runs/ablate", help="output folder; rerun with it to continue an "
                                                             "interrupted ablation (default: runs/ablate)")
    parser.add_argument("--variants", type=variant_list, default=list(DEFAULT_VARIANTS),
                        help=f"comma-separated variants, from: {', '.join(VARIANTS)}; or groups: "
                             f"{', '.join(f'{g} ({len(v)})' for g, v in GROUPS.items())} (default: paper = "
                             f"{','.join(DEFAULT_VARIANTS)}); the baseline is always run, and the variants --out "
                             "already holds, finished with every seed, stay in the tables")
    parser.add_argument("--seeds", type=integer(1), default=defaults.seeds,
                        help="runs per variant, with seeds SEED .. SEED+N-1 shared by every variant; the tables "
                             f"give mean ± sd over them (default {defaults.seeds}; a finished ablation can be "
                             "rerun with more)")
    parser.add_argument("--seed", type=integer(0), default=defaults.seed,
                        help="the first seed; each sets the weights, dropout, data order and augmentation")
    parser.add_argument("--epochs", type=integer(1), default=defaults.epochs,
                        help=f"epochs per run: the budget (default {defaults.epochs})")
    parser.add_argument("--train-images", type=integer(1), help="train on a class-balanced subset of this many "
                                                                "images (default: all)")
    parser.add_argument("--val-images", type=integer(1), help="validate on a class-balanced subset (default: all)")
    parser.add_argument("--model", choices=sorted(MODELS),
                        help="small: alexnet_small on 64px crops; alexnet: the paper's net on 224px crops "
                             "(default: small on the embedded data, alexnet otherwise)")
    parser.add_argument("--width", type=number(0, low_inclusive=False), help="channel multiplier (default: the "
                                                                             "model's)")
    parser.add_argument("--init", choices=("paper", "he"),
                        help="initial weights: the paper's N(0, 0.01) with biases of 1, or He's "
                             "(default: the model's, as in tinyalex train)")
    parser.add_argument("--crop", type=integer(1), help="crop size (default: the model's input size)")
    parser.add_argument("--batch-size", type=integer(1), default=defaults.batch_size)
    parser.add_argument("--lr", type=number(0, low_inclusive=False), default=defaults.lr,
                        help="fixed learning rate (no schedule)")
    parser.add_argument("--momentum", type=number(0, 1), default=defaults.momentum)
    parser.add_argument("--weight-decay", type=number(0), default=defaults.weight_decay)
    parser.add_argument("--bias-decay", action=argparse.BooleanOptionalAction, default=defaults.bias_decay,
                        help="whether weight decay shrinks the biases too (default: yes); cuda-convnet decayed "
                             "only the weights: --no-bias-decay")
    add_device(parser)
    parser.add_argument("--jobs", type=integer(1), default=1,
                        help="runs trained at once, each in its own process on its share of the cores (default 1; "
                             "on 2 cores --jobs 2 ran the 36 runs of docs/RESULTS.md's ablation in 119 minutes, "
                             "about 1.2x sooner than one at a time)")
    parser.add_argument("--workers", type=integer(0), default=defaults.workers, help="threads preparing batches")
    parser.add_argument("--lrn-range", action="store_true",
                        help="only measure alpha * sum(a^2) and the gain of every LRN layer of the chosen variants "
                             "at initialisation on one training batch, print it and exit (trains nothing)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    config = AblationConfig(
        data=args.data, model=args.model, width=args.width, init=args.init, crop=args.crop,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, bias_decay=args.bias_decay, train_images=args.train_images,
        val_images=args.val_images, seed=args.seed, seeds=args.seeds, device=args.device, workers=args.workers,
    )
    out = Path(args.out)
    if problem := folder_problem(out):
        print(f"tinyalex ablate: error: --out: {problem}", file=sys.stderr)
        return 2
    try:
        if args.lrn_range:
            ranges = measure_lrn_range(out, args.variants, config, progress=not args.quiet)
            print("alpha * sum(a^2) over LRN's window against k, at initialisation on one training batch:\n")
            print(lrn_table(ranges))
            print(f"also in {out / 'lrn_range.json'}")
            return 0
        run_ablation(out, args.variants, config, progress=not args.quiet, jobs=args.jobs)
    except (ValueError, DataError, CheckpointError, DeviceError, NonFiniteLossError) as exc:
        print(f"tinyalex ablate: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"\ntinyalex ablate: interrupted; run the same command again to continue ({out})", file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)  # 130 for Ctrl-C, 143 for SIGTERM
    print((out / "results.md").read_text(encoding="utf-8"))
    written = [name for name in ("results.md", "results.csv", "results.json", "runs.csv", "lrn_range.json",
                                 "curves.png", "figure1.png") if (out / name).is_file()]  # figure1: with tanh only
    print(f"{', '.join(written)} in {out}")
    return 0
