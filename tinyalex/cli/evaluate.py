"""`tinyalex evaluate CHECKPOINT`: top-1 and top-5 error with the centre crop and the paper's ten crops."""
from __future__ import annotations

import argparse
import json
import sys

from tinyalex.backend import DeviceError
from tinyalex.cli.options import add_device, integer
from tinyalex.data.errors import DataError
from tinyalex.training import CheckpointError, evaluate_checkpoint
from tinyalex.training.metrics import TOP5_NOTE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .npz written by `tinyalex train` (e.g. runs/shapes10/best.npz)")
    parser.add_argument("--data", help="evaluate on this prepared set or ImageNet-layout folder instead of the "
                        "training run's (same classes)")
    parser.add_argument("--split", default="val", help="which split to score (default: val)")
    parser.add_argument("--batch-size", type=integer(1), default=64, help="images per batch (default: 64)")
    add_device(parser)
    parser.add_argument("--center-only", action="store_true", help="skip the ten-crop pass (10x cheaper)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: top1_error, top5_error (fractions; ten-crop unless "
                        "--center-only), images, skipped (files of the split not scored) and skipped_files, "
                        "and each pass under 'center' and 'ten_crop'")


def run(args: argparse.Namespace) -> int:
    try:
        results = evaluate_checkpoint(args.checkpoint, args.data, args.split, args.batch_size, args.device,
                                      ten_crop=not args.center_only, progress=not args.json and sys.stderr.isatty())
    except (CheckpointError, DataError, DeviceError) as exc:
        print(f"tinyalex evaluate: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results))
        return 0
    epoch, batches = results["epoch"], results["next_epoch_batches"]  # a Ctrl-C saves in the middle of an epoch
    trained = f"epoch {epoch}"
    if batches:
        trained = f"{trained} and {batches} batches of epoch {epoch + 1}" if epoch else f"{batches} batches of epoch 1"
    print(f"{results['checkpoint']} ({trained}) on {results['images']} {results['split']} images of {results['data']}")
    if results["classes"] <= 5:
        print(TOP5_NOTE.format(classes=results["classes"]))
    for name, label in (("center", "centre crop"), ("ten_crop", "10 crops   ")):
        if name in results:
            r = results[name]
            print(f"  {label}: top-1 error {r['top1_error']:.2%}, top-5 error {r['top5_error']:.2%}, "
                  f"loss {r['loss']:.4f}")
    if results["skipped"]:
        print(f"  skipped {results['skipped']} file(s) of the split:")
        for entry in results["skipped_files"][:10]:
            print(f"    {entry['path']}: {entry['reason']}")
        if results["skipped"] > 10:
            print("    ... (all of them with --json)")
    return 0
