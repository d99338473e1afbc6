"""`tinyalex predict CHECKPOINT IMAGE...`: the most likely classes of each image, with probabilities."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from tinyalex.backend import DeviceError
from tinyalex.cli.options import integer
from tinyalex.training import CheckpointError, predict_checkpoint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .npz written by `tinyalex train`")
    parser.add_argument("images", nargs="+", help="image files (any format Pillow reads)")
    parser.add_argument("--top", type=integer(1), default=5, help="classes to show per image (default: 5)")
    parser.add_argument("--ten-crop", action="store_true", help="average the softmax over the paper's ten crops")
    parser.add_argument("--device", default="auto", choices=("cpu", "gpu", "auto"), help="default: auto")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line per image")


def run(args: argparse.Namespace) -> int:
    try:
        predictions = predict_checkpoint(args.checkpoint, args.images, args.top, args.ten_crop, args.device)
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
            for rank, (wnid, name, prob) in enumerate(p.top, 1):
                label = wnid if name == wnid else f"{wnid} ({name})"
                print(f"  {rank}. {prob:6.1%}  {label}")
    return 1 if any(p.error is not None for p in predictions) else 0
