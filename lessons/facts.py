"""The numbers a lesson's text quotes, recorded by the cell that computes them.

A lesson calls `record(name=value)` where it computes a number its text states, and `show()` in its
last cell, which displays them all as JSON. The Markdown of the source refers to them as
`{{name}}` or `{{name:.1f}}`, and lessons/build.py fills them in from the executed notebook, so
the text cannot say one thing while the output says another. `record(..., measured=True)` marks
numbers that depend on the machine (timings, training runs): tests/test_lessons.py compares the
others with a fresh execution.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
from typing import Any

import numpy as np

MIME = "application/vnd.tinyalex.facts+json"

_values: dict[str, Any] = {}
_measured: set[str] = set()


def plain(value: Any) -> Any:
    """A JSON-able copy of a number, string, or list of them (NumPy scalars become Python ones)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise TypeError(f"record: {type(value).__name__} is not a number, string or list of them")


def record(measured: bool = False, **values: Any) -> None:
    """Remember numbers the text quotes; measured=True for those that depend on the machine or the run."""
    for name, value in values.items():
        _values[name] = plain(value)
        (_measured.add if measured else _measured.discard)(name)


def machine() -> str:
    """The CPU this runs on, its cores and NumPy's version, for a timing's caption."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, NumPy {np.__version__}"


def today() -> str:
    return datetime.date.today().isoformat()


def show() -> None:
    """Display every recorded number (the notebook's record of what its text quotes)."""
    from IPython.display import display

    payload = {"values": dict(sorted(_values.items())), "measured": sorted(_measured)}
    display({MIME: payload, "text/plain": json.dumps(payload["values"], indent=1)}, raw=True)
