"""The `tinyalex` command: one subcommand per job, each in its own module under tinyalex.cli."""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import warnings
from typing import Any

from tqdm import tqdm

from tinyalex import __version__
from tinyalex.backend import environment_problem

# Subcommand name -> module under tinyalex.cli defining add_arguments(parser) and run(args) -> int.
COMMANDS = {
    "gradcheck": "Check every op and layer against numeric derivatives.",
    "prepare": "Build a reduced ImageNet subset as memory-mapped arrays.",
    "train": "Train AlexNet (default: the small net on the embedded shapes set).",
    "evaluate": "Top-1 and top-5 error of a checkpoint, centre crop and ten crops.",
    "predict": "The top-5 classes of image files under a checkpoint.",
    "ablate": "Train the paper's net and its ablations on one budget: errors beside the paper's claims.",
    "figures": "The paper's Figures 3 and 4 and a confusion matrix for a checkpoint, as PNGs.",
    "bench": "Time the training step, inference and each layer, against PyTorch with --compare torch.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinyalex", description="AlexNet from scratch on NumPy/CuPy.")
    parser.add_argument("--version", action="version", version=f"tinyalex {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"tinyalex.cli.{name}")
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def show_warning(message: Any, category: type, *_: Any, **__: Any) -> None:
    """A warning as one line on stderr ("tinyalex: warning: ..."), not Python's two with a line of source."""
    tqdm.write(f"tinyalex: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help()
                return 2
            if problem := environment_problem():  # before any work: a misspelt variable is not silently ignored
                print(f"tinyalex {args.command}: error: {problem}", file=sys.stderr)
                return 2
            module = importlib.import_module(f"tinyalex.cli.{args.command}")
            return int(module.run(args) or 0)
    except KeyboardInterrupt:  # the commands that can resume say how themselves; the rest just stop
        print("\ntinyalex: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
