"""Timing inside one process: each run of a job timed alone, after untimed warm-up runs.

`time_job` times one job (the training step or inference of one framework, in its own child
process); `alternate` times several jobs of the same framework in turn (the per-layer table),
so that they all see the same load. The clock can be replaced, so tests need no real timing.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

Clock = Callable[[], float]


def _nothing() -> None:
    return None


@dataclass
class Job:
    """What to time: `run`; `prepare` runs untimed before each run, `sync` (waiting for the GPU) inside the timing."""

    run: Callable[[], object]
    prepare: Callable[[], object] = _nothing
    sync: Callable[[], object] = _nothing


def timed_run(job: Job, clock: Clock = time.perf_counter) -> float:
    """Seconds of one run of `job`, from a synchronised start to a synchronised end."""
    job.prepare()
    job.sync()
    start = clock()
    job.run()
    job.sync()
    return clock() - start


def time_job(job: Job, steps: int, warmup: int, clock: Clock = time.perf_counter) -> list[float]:
    """Seconds of each of `steps` timed runs, after `warmup` runs whose times are thrown away.

    The warm-up runs pay for first-touch page faults, cached workspaces and (on the GPU) cuDNN's
    algorithm search; none of that belongs to the steady step that a training run repeats.
    """
    for _ in range(warmup):
        timed_run(job, clock)
    return [timed_run(job, clock) for _ in range(steps)]


def alternate(jobs: dict[str, Job], repeats: int, warmup: int, clock: Clock = time.perf_counter) -> dict[str, float]:
    """Median seconds of each job: `warmup` untimed rounds, then `repeats` timed rounds, every job once a round."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for round_ in range(warmup + repeats):
        for name, job in jobs.items():
            seconds = timed_run(job, clock)
            if round_ >= warmup:
                times[name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}
