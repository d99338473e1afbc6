"""`tinyalex bench`: time AlexNet's training step and inference, each framework in its own process, against PyTorch."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinyalex.backend import DeviceError, resolve_device
from tinyalex.bench.configs import DEFAULT_PAIRS
from tinyalex.bench.networks import MODELS, build_model
from tinyalex.cli.options import add_device, file_problem, integer, number

DEFAULTS = ", ".join(f"{model} at {batch}" for model, batch in DEFAULT_PAIRS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", nargs="+", choices=sorted(MODELS), default=None,
                        help="nets to time: " + "; ".join(f"{k} = {v}" for k, v in MODELS.items())
                        + f" (default: {DEFAULTS})")
    parser.add_argument("--batch-size", type=integer(1), nargs="+", default=None, metavar="N",
                        help="batch sizes: alone, it keeps the default configurations with these sizes; "
                        "with --model, every named net at every size")
    parser.add_argument("--compare", choices=["torch"], default=None,
                        help="also time the same network in PyTorch (each framework in its own process) after "
                        "checking that it is the same network, and print the ratios")
    parser.add_argument("--rounds", type=integer(1), default=3,
                        help="rounds of one child process per framework, alternated (default 3)")
    parser.add_argument("--steps", "--repeats", type=integer(1), default=None, dest="steps",
                        help="timed steps per job in each child; the median is taken (default: 10 for small, "
                        "3 for alexnet, 2 at batch 128 and above)")
    parser.add_argument("--warmup", type=integer(0), default=None,
                        help="untimed steps first in each child (default 2; 1 for alexnet at batch 128 and above)")
    parser.add_argument("--layers", action="store_true",
                        help="also time each layer's forward and backward (first configuration, "
                        "one child per framework)")
    add_device(parser)
    parser.add_argument("--image-size", type=integer(1), default=None, help="input side in pixels (default: the net's own)")
    parser.add_argument("--width", type=number(0, low_inclusive=False), default=None,
                        help="scale of every layer's channels (default: the net's own)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")


def run(args: argparse.Namespace) -> int:
    """Print the tables; 2 on a bad device or argument, 1 when the PyTorch twin is not the same network."""
    from tinyalex.bench.configs import select
    from tinyalex.bench.report import format_results
    from tinyalex.bench.suite import run_benchmark
    from tinyalex.data.atomic import write_json

    if args.json is not None and (problem := file_problem(args.json)):  # before the minutes of timing, not after
        print(f"tinyalex bench: error: --json: {problem}", file=sys.stderr)
        return 2
    try:
        device = resolve_device(args.device)
    except DeviceError as error:
        print(f"tinyalex bench: error: {error}", file=sys.stderr)
        return 2
    try:
        configs = select(args.model, args.batch_size, args.steps, args.warmup)
        if args.image_size is not None or args.width is not None:  # a size a net cannot take: refused here,
            for name in dict.fromkeys(config.model for config in configs):  # not in a child's traceback
                try:
                    build_model(name, args.image_size, args.width)
                except MemoryError as error:
                    given = (f"--{option} {value}" for option, value in
                             (("image-size", args.image_size), ("width", args.width)) if value is not None)
                    raise ValueError(f"{name} with {' and '.join(given)} does not fit in memory ({error})") from None
        results = run_benchmark(configs, device, args.compare == "torch", args.rounds, args.layers, args.image_size,
                                args.width, log=lambda message: print(message, file=sys.stderr, flush=True))
    except (ValueError, RuntimeError) as error:  # nothing to time, a size a net cannot take, a child failed
        print(f"tinyalex bench: error: {error}", file=sys.stderr)
        return 2
    print(format_results(results))
    if args.json is not None:
        write_json(args.json, json.loads(json.dumps(results)))
    if not all(report["passed"] for report in results["same_network"].values()):
        print("tinyalex bench: the PyTorch twin is not the same network; nothing was timed", file=sys.stderr)
        return 1
    return 0
