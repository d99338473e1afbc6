"""Statistics over seeds: a variant's mean and spread, and whether its difference from the baseline is resolved.

Every variant runs with the same seeds, so seed i of a variant and seed i of the baseline share their
data order and augmentation (and their initial weights, where the shapes agree): their difference d_i
is paired. With n seeds:

* a metric's **sd** is the sample standard deviation over the seeds (ddof = 1, n - 1 in the
  denominator); it is None with fewer than two runs;
* a difference is reported as the mean of d_i and the sd of d_i (the paired per-seed differences);
  its standard error is se = sd(d) / sqrt(n);
* **not resolved** (the rule): a difference is not resolved when n < 2 or
  |mean(d)| <= max(sd_baseline, sd_variant, 2 * se). That is, it must exceed the seed spread of both
  runs (a difference smaller than the noise between seeds means nothing) and twice its own standard
  error (differences that flip sign from seed to seed mean nothing either).

A run that diverged or never reached a threshold counts as None: it is listed in ``runs`` but left out of
the mean and sd (and its seed out of the paired differences); ``n`` says how many runs were counted.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

RULE = ("n.r. (not resolved): |mean difference| <= max(sd of the baseline, sd of the variant, 2 x the standard error "
        "of the paired per-seed differences), or fewer than two seeds; sd is the sample standard deviation over seeds "
        "(ddof = 1)")


def summarize(runs: Sequence[float | None]) -> dict:
    """{"mean", "sd", "runs", "n"} of the per-seed values ``runs`` (None: no value for that seed)."""
    values = [float(v) for v in runs if v is not None]
    n = len(values)
    mean = sum(values) / n if n else None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n >= 2 else None
    return {"mean": mean, "sd": sd, "runs": [None if v is None else float(v) for v in runs], "n": n}


def paired_difference(variant: Sequence[float | None], baseline: Sequence[float | None]) -> dict:
    """The per-seed differences variant - baseline, summarised (see ``summarize``), with "se", the
    "threshold" of the rule and "resolved"; both lists are indexed by seed."""
    if len(variant) != len(baseline):
        raise ValueError(f"paired_difference: {len(variant)} variant runs against {len(baseline)} baseline runs; "
                         "both need one value per seed")
    runs = [None if None in (v, b) else float(v) - float(b) for v, b in zip(variant, baseline)]
    diff = summarize(runs)
    spreads = [s for s in (summarize(variant)["sd"], summarize(baseline)["sd"]) if s is not None]
    if diff["sd"] is None or not spreads:
        return {**diff, "se": None, "threshold": None, "resolved": False}
    se = diff["sd"] / math.sqrt(diff["n"])
    threshold = max(*spreads, 2 * se)
    return {**diff, "se": se, "threshold": threshold, "resolved": abs(diff["mean"]) > threshold}
