"""Forward + backward of 3x3 convolutions by im2col and by Winograd's F(2x2, 3x3), alternated, in one process.

    python examples/conv_algorithms.py [--batch-size 32] [--rounds 12]

The layers are the paper's conv3-conv5 (13x13, 256-384 channels, one or two towers) and
alexnet_small's (7x7, 48-96 channels per tower). Each round times both algorithms once per
layer, one after the other, so both see the same state of the machine; the speed-up is the
median over rounds of im2col's seconds / Winograd's, with its range. Both use the op thread
pool. conv2d's "auto" takes Winograd where it measured faster here (WINOGRAD_MIN_PRODUCT).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from tinyalex.cli.options import integer
from tinyalex.ops.conv2d import WINOGRAD_MIN_PRODUCT, Conv2d

# name: input channels, filters, towers, side, batch (None: --batch-size)
LAYERS = {
    "conv3": (256, 384, 1, 13, None), "conv4": (384, 384, 2, 13, None), "conv5": (384, 256, 2, 13, None),
    "small conv3": (64, 96, 1, 7, 64), "small conv4": (96, 96, 2, 7, 64), "small conv5": (96, 64, 2, 7, 64),
}


def step(algorithm: str, x: np.ndarray, w: np.ndarray, b: np.ndarray, gy: np.ndarray, groups: int) -> float:
    """Seconds for one forward and backward of the convolution, all three gradients wanted."""
    start = time.perf_counter()
    op = Conv2d(1, 1, groups, algorithm)
    op.needs_input_grad = (True, True, True)
    op.forward(x, w, b)
    op.backward(gy)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=integer(1), default=32, help="batch of the paper's layers (default 32)")
    parser.add_argument("--rounds", type=integer(1), default=12)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'layer':12s} {'channels/tower':>15s} {'batch':>5s} {'im2col ms':>9s} {'Winograd ms':>11s}  speed-up (range)  auto")
    for name, (c, o, groups, side, batch) in LAYERS.items():
        batch = batch or args.batch_size
        x = rng.standard_normal((batch, c, side, side), dtype=np.float32)
        w = rng.standard_normal((o, c // groups, 3, 3), dtype=np.float32) * 0.05
        b, gy = np.zeros(o, np.float32), rng.standard_normal((batch, o, side, side), dtype=np.float32)
        times: dict[str, list[float]] = {"im2col": [], "winograd": []}
        for algorithm in times:  # warm-up: buffers and threads
            step(algorithm, x, w, b, gy, groups)
        for _ in range(args.rounds):
            for algorithm, seconds in times.items():
                seconds.append(step(algorithm, x, w, b, gy, groups))
        im2col, winograd = np.array(times["im2col"]), np.array(times["winograd"])
        ratio = im2col / winograd
        auto = "Winograd" if (c // groups) * (o // groups) >= WINOGRAD_MIN_PRODUCT else "im2col"
        print(f"{name:12s} {f'{c // groups} x {o // groups}':>15s} {batch:5d} {np.median(im2col) * 1e3:9.1f} "
              f"{np.median(winograd) * 1e3:11.1f}  {np.median(ratio):.2f}x ({ratio.min():.2f}-{ratio.max():.2f})  {auto}")


if __name__ == "__main__":
    main()
