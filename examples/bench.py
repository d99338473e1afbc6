"""Time AlexNet's training step, inference and every layer, in tinyalex and (if installed) PyTorch.

    python examples/bench.py                       # batch 32 and 128, against PyTorch, per layer, peak memory
    python examples/bench.py --batch-size 32       # any option of `tinyalex bench`
    python examples/bench.py --device gpu

The same as `tinyalex bench --compare torch --layers --peak`; see docs/BENCHMARKS.md for
what is measured and the results on this project's machines.
"""
from __future__ import annotations

import sys

from tinyalex.cli.main import main

DEFAULTS = ["--compare", "torch", "--layers", "--peak"]

if __name__ == "__main__":
    sys.exit(main(["bench", *DEFAULTS, *sys.argv[1:]]))
