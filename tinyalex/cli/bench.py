"""`tinyalex bench`: time AlexNet's training step, inference and layers, optionally against PyTorch."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinyalex.backend import DeviceError, resolve_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, nargs="+", default=[32, 128], metavar="N",
                        help="batch sizes to time (default: 32 128)")
    parser.add_argument("--compare", choices=["torch"], default=None,
                        help="also time the same network in PyTorch, in the same process, and print ratios")
    parser.add_argument("--layers", action="store_true", help="time each layer's forward and backward (first batch size)")
    parser.add_argument("--peak", action="store_true", help="peak memory of a training process per framework")
    parser.add_argument("--device", choices=["cpu", "gpu", "auto"], default=None,
                        help="default: TINYALEX_DEVICE, else auto")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement; the median is shown (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    parser.add_argument("--image-size", type=int, default=224, help="input side in pixels (default 224)")
    parser.add_argument("--width", type=float, default=1.0, help="scale of every layer's channels (default 1: the paper's)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")


def run(args: argparse.Namespace) -> int:
    """Print the tables; 2 on a bad device or argument."""
    from tinyalex.bench.suite import format_results, run_benchmark
    from tinyalex.data.atomic import write_json

    try:
        device = resolve_device(args.device)
    except DeviceError as error:
        print(f"tinyalex bench: {error}", file=sys.stderr)
        return 2
    if min(args.batch_size) < 1 or args.repeats < 1 or args.warmup < 0:
        print("tinyalex bench: batch sizes and --repeats must be at least 1, --warmup at least 0", file=sys.stderr)
        return 2
    try:
        results = run_benchmark(args.batch_size, device, args.compare == "torch", args.layers, args.peak,
                                args.repeats, args.warmup, args.image_size, args.width,
                                log=lambda message: print(message, file=sys.stderr, flush=True))
    except ValueError as error:  # e.g. an image size AlexNet cannot take
        print(f"tinyalex bench: {error}", file=sys.stderr)
        return 2
    print(format_results(results))
    if args.json is not None:
        write_json(args.json, json.loads(json.dumps(results)))
    return 0
