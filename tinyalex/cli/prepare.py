"""`tinyalex prepare SRC --out DIR`: build a reduced ImageNet subset as memory-mapped arrays."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from tinyalex.cli.options import integer
from tinyalex.data.errors import DataError
from tinyalex.data.prepare import prepare
from tinyalex.training.interrupt import raise_interrupted


def parse_classes(text: str) -> int | list[str]:
    """A count ("100") or a comma-separated list of wnids ("n01440764,n02102040")."""
    if text.strip().lstrip("+-").isdigit():
        return integer(1)(text.strip())
    wnids = [w.strip() for w in text.split(",") if w.strip()]
    if not wnids:
        raise argparse.ArgumentTypeError(f"expected a number of classes or wnids separated by commas, got {text!r}")
    return wnids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="folder with train/<wnid>/*.JPEG and optionally val/ "
                                    "(class folders, or flat with LOC_val_solution.csv or the devkit)")
    parser.add_argument("--out", required=True, help="output folder (created if its parent exists)")
    parser.add_argument("--classes", type=parse_classes, default=None,
                        help="how many classes to pick at random (with --seed), or wnids separated by commas")
    parser.add_argument("--seed", type=integer(0), default=0, help="seed for picking classes and images (default 0)")
    parser.add_argument("--train-per-class", type=integer(1), default=None, help="training images per class (default all)")
    parser.add_argument("--val-per-class", type=integer(1), default=None, help="validation images per class (default all)")
    parser.add_argument("--size", type=integer(1), default=256, help="side of the stored square images (default 256)")
    parser.add_argument("--workers", type=integer(1), default=None, help="decoding threads (default: one per core)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars (there are none when stderr is not a terminal)")


def run(args: argparse.Namespace) -> int:
    terminating = signal.getsignal(signal.SIGTERM)
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:  # SIGTERM (a scheduler's, or kill's) stops prepare the way Ctrl-C does: resumable
        signal.signal(signal.SIGTERM, raise_interrupted)
    try:
        report = prepare(args.src, args.out, classes=args.classes, seed=args.seed,
                         train_per_class=args.train_per_class, val_per_class=args.val_per_class,
                         size=args.size, workers=args.workers, progress=not args.quiet and sys.stderr.isatty())
    except DataError as exc:
        print(f"tinyalex prepare: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"tinyalex prepare: {str(exc) or 'interrupted'}; run the same command again to resume", file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, terminating)
    print(report.summary())
    return 0
