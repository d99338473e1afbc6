"""`tinyalex figures CHECKPOINT`: the paper's Figure 3 (first-layer kernels) with its numbers per tower
(printed and in kernels.json), Figure 4 (nearest neighbours in the last hidden layer) and the confusion
matrix of a trained model, as PNGs. (Figure 1, ReLU against tanh, comes from `tinyalex ablate`.)"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tinyalex.backend import DeviceError
from tinyalex.cli.options import add_device, folder_problem, integer
from tinyalex.data.errors import DataError
from tinyalex.experiments.figures import write_model_figures
from tinyalex.experiments.kernels import INIT_CORRELATION, PLANE_CORRELATION, summary_text
from tinyalex.training import CheckpointError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint written by `tinyalex train` or `tinyalex ablate`")
    parser.add_argument("--out", help="folder for the PNGs (default: figures/ beside the checkpoint)")
    parser.add_argument("--data", help="the data to use instead of the one the checkpoint was trained on "
                                       "(same classes, same image size)")
    parser.add_argument("--split", default="val", help="the test images: confusion matrix and queries "
                                                       "(default: val)")
    parser.add_argument("--queries", type=integer(1, 50), default=5,
                        help="test images in the neighbours figure, one row each (default 5, at most 50)")
    parser.add_argument("--neighbours", type=integer(1, 50), default=6,
                        help="neighbours shown per test image (default 6, at most 50)")
    parser.add_argument("--gallery", type=integer(1), help="search only this many training images, drawn at random "
                                                           "(default: all)")
    parser.add_argument("--seed", type=integer(0), default=0, help="picks the test images and the gallery")
    parser.add_argument("--batch-size", type=integer(1), default=64)
    add_device(parser)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(args.checkpoint).parent / "figures"
    if problem := folder_problem(out):
        print(f"tinyalex figures: error: --out: {problem}", file=sys.stderr)
        return 2
    try:
        result = write_model_figures(args.checkpoint, out, args.data, args.split, args.queries, args.neighbours,
                                     args.gallery, args.seed, args.batch_size, args.device)
    except (DataError, CheckpointError, DeviceError, ValueError) as exc:
        print(f"tinyalex figures: error: {exc}", file=sys.stderr)
        return 1
    print(f"top-1 error on {args.split} (centre crop): {result.top1_error:.1%}")
    print("most confused (true -> predicted: images):")
    for true, predicted, count in result.confused:
        print(f"  {true} -> {predicted}: {count}")
    print("Figure 3, conv1's kernels per tower (mean ± sd over the tower's kernels):")
    for colour, start in zip(result.kernels["plane_correlation"], result.kernels["init_correlation"]):
        first, last = colour["kernels"]
        print(f"  tower {colour['tower']} (kernels {first}-{last}): colour-plane correlation {summary_text(colour)}, "
              f"correlation with the initial weights {summary_text(start)}")
    print(f"  {PLANE_CORRELATION}\n  {INIT_CORRELATION}")
    for name, path in result.paths.items():
        print(f"{name}: {path}")
    return 0
