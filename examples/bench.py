"""Time AlexNet's training step and inference against PyTorch, each framework in its own process, and every layer.

    python examples/bench.py                       # alexnet_small at batch 64, the paper's net at 32 and 128
    python examples/bench.py --model small         # any option of `tinyalex bench`
    python examples/bench.py --device gpu

The same as `tinyalex bench --compare torch --layers`; see docs/BENCHMARKS.md for what is
measured and the results on this project's machines.
"""
from __future__ import annotations

import sys

from tinyalex.cli.main import main

DEFAULTS = ["--compare", "torch", "--layers"]

if __name__ == "__main__":
    sys.exit(main(["bench", *DEFAULTS, *sys.argv[1:]]))
