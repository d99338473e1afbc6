"""Medians of repeated runs after warm-up, with frameworks alternated so that a busy machine slows both alike."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable


def _nothing() -> None:
    return None


@dataclass
class Job:
    """What to time: `run`; `prepare` runs untimed before each run, `sync` (waiting for the GPU) inside the timing."""

    run: Callable[[], object]
    prepare: Callable[[], object] = _nothing
    sync: Callable[[], object] = _nothing


def alternate(jobs: dict[str, Job], repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds of each job: `warmup` untimed rounds, then `repeats` timed rounds.

    Each round runs every job once, in turn, so that all of them see the same machine load.
    """
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for round_ in range(warmup + repeats):
        for name, job in jobs.items():
            job.prepare()
            job.sync()
            start = time.perf_counter()
            job.run()
            job.sync()
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
