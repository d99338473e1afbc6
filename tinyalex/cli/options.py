"""Numeric command-line options, checked as they are parsed; output paths, checked before the work.

A value out of range stops the command before it does anything, with argparse's usual exit
code 2 and a message that names the option and the allowed range, e.g.
``tinyalex train: error: argument --momentum: must be a number with 0 <= value < 1, got 1.5``.
"""
from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number of at least ``minimum`` (and at most ``maximum``)."""
    allowed = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number {allowed}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be a whole number {allowed}, got {value}")
        return value

    return parse


def add_device(parser: argparse.ArgumentParser) -> None:
    """``--device``, the same in every command: unset, TINYALEX_DEVICE decides, else auto."""
    parser.add_argument("--device", choices=("cpu", "gpu", "auto"), default=None,
                        help="default: the TINYALEX_DEVICE environment variable, else auto (the GPU when "
                             "CuPy finds one)")


def folder_problem(path: Path) -> str | None:
    """Why ``path`` cannot be (or become) an output folder: it, or the nearest part of it that exists, is
    not a folder, or one this user may not write into; None when it can."""
    for part in (path, *path.parents):
        if part.exists():
            cannot = "" if part == path else f": {path} cannot be created"
            if not part.is_dir():
                return f"{part} is a file, not a folder{cannot}"
            return None if os.access(part, os.W_OK | os.X_OK) else f"{part} is not writable by this user{cannot}"
    return None


def file_problem(path: Path) -> str | None:
    """Why a file cannot be written at ``path`` (checked before a long job, not after it); None when it can."""
    if not path.name:
        return f"{str(path)!r} names no file"
    if path.is_dir():
        return f"{path} is a folder, not a file"
    if not path.parent.is_dir():
        return f"{path.parent} is not a folder: {path} cannot be written"
    if not os.access(path.parent, os.W_OK | os.X_OK):  # the file is written beside itself, then renamed
        return f"{path.parent} is not writable by this user: {path} cannot be written"
    return None


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
