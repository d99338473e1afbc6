"""Numeric command-line options, checked as they are parsed.

A value out of range stops the command before it does anything, with argparse's usual exit
code 2 and a message that names the option and the allowed range, e.g.
``tinyalex train: error: argument --momentum: must be a number with 0 <= value < 1, got 1.5``.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def integer(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {value}")
        return value

    return parse


def number(low: float, high: float | None = None, low_inclusive: bool = True,
           high_inclusive: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` for a finite real number in the range from ``low`` to ``high`` (None: no
    upper bound), each end included or not as the flags say."""
    left = f"{low:g} {'<=' if low_inclusive else '<'} value"
    allowed = left if high is None else f"{left} {'<=' if high_inclusive else '<'} {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number with {allowed}, got {text!r}") from None
        inside = math.isfinite(value) and (value >= low if low_inclusive else value > low)
        if high is not None:
            inside = inside and (value <= high if high_inclusive else value < high)
        if not inside:
            raise argparse.ArgumentTypeError(f"must be a number with {allowed}, got {text}")
        return value

    return parse
