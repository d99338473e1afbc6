"""`tinyalex predict CHECKPOINT IMAGE_OR_FOLDER...`: the most likely classes of each image, with probabilities."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from tinyalex.backend import DeviceError
from tinyalex.cli.options import add_device, integer
from tinyalex.training import CheckpointError, predict_checkpoint
from tinyalex.training.predict import find_images


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .npz written by `tinyalex train`")
    parser.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER",
                        help="image files (any format Pillow reads), or folders: every image file under them, "
                        "recursively")
    parser.add_argument("--top", type=integer(1), default=5, help="classes to show per image (default: 5)")
    parser.add_argument("--ten-crop", action="store_true", help="average the softmax over the paper's ten crops")
    add_device(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object per line per image")


def run(args: argparse.Namespace) -> int:
    files, empty = find_images(args.images)
    for folder in empty:
        print(f"tinyalex predict: error: {folder}: no image files in this folder or below it", file=sys.stderr)
    try:
        predictions = predict_checkpoint(args.checkpoint, files, args.top, args.ten_crop, args.device)
    except (CheckpointError, DeviceError) as exc:
        print(f"tinyalex predict: error: {exc}", file=sys.stderr)
        return 1
    for p in predictions:
        if p.error is not None:
            print(f"tinyalex predict: error: {p.path}: {p.error}", file=sys.stderr)
        if args.json:
            print(json.dumps(asdict(p)))
        elif p.error is None:
            print(p.path)
            width = len(str(len(p.top)))  # ranks right-aligned: " 9." above "10."
            for rank, (wnid, name, prob) in enumerate(p.top, 1):
                label = wnid if name == wnid else f"{name} ({wnid})"
                print(f"  {rank:>{width}}. {prob:6.1%}  {label}")
    return 1 if empty or any(p.error is not None for p in predictions) else 0
