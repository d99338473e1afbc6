"""From the children's step times to the reported numbers: medians per framework, the ratio and its spread.

Each round has one child per framework; a child's number is the median of its timed steps. A
framework's time is the median over rounds of those; the ratio is taken per round (the two children
of a round ran next to each other, under the same load) and reported as the median of the rounds'
ratios, with their minimum and maximum as its spread.
"""
from __future__ import annotations

import statistics


def framework_summary(batch: int, rounds: list[list[float]]) -> dict:
    """Seconds per step and images/s of one framework, from each round's timed step times."""
    per_round = [statistics.median(seconds) for seconds in rounds]
    seconds = statistics.median(per_round)
    return {"seconds": seconds, "images_per_s": batch / seconds, "rounds": per_round}


def ratio_summary(ours: list[float], theirs: list[float]) -> dict:
    """tinyalex's speed over PyTorch's (above 1: tinyalex is faster) per round, their median, min and max."""
    if len(ours) != len(theirs) or not ours:
        raise ValueError(f"ratio_summary: {len(ours)} rounds of tinyalex against {len(theirs)} of PyTorch")
    ratios = [t / o for o, t in zip(ours, theirs)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "rounds": ratios}


def memory_summary(jobs: list[dict]) -> dict:
    """The memory fields (total peak, net of imports, GPU) of the round whose peak was highest."""
    worst = max(jobs, key=lambda job: job["peak_mib"])
    return {key: value for key, value in worst.items() if key.endswith("_mib")}
