"""Timing inside a child and the numbers made of it: warm-up excluded, medians, per-round ratios and their spread.

A fake clock stands in for time.perf_counter, so nothing here depends on how fast the machine is.
"""
import pytest

from tinyalex.bench.aggregate import framework_summary, memory_summary, ratio_summary
from tinyalex.bench.timing import Job, alternate, time_job


class FakeClock:
    """A clock that only moves when a fake step says how long it took."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def steps_taking(clock, durations):
    """A Job whose n-th run takes durations[n] seconds on `clock`; `calls` counts the runs."""
    state = {"calls": 0}

    def run():
        clock.now += durations[state["calls"]]
        state["calls"] += 1

    return Job(run), state


def test_slow_warm_up_steps_are_not_timed():
    clock = FakeClock()
    job, state = steps_taking(clock, [9.0, 5.0, 0.2, 0.1, 0.3])
    assert time_job(job, steps=3, warmup=2, clock=clock) == pytest.approx([0.2, 0.1, 0.3])
    assert state["calls"] == 5


def test_without_warm_up_the_slow_first_step_is_timed():
    clock = FakeClock()
    job, _ = steps_taking(clock, [9.0, 0.2, 0.1])
    assert time_job(job, steps=3, warmup=0, clock=clock) == pytest.approx([9.0, 0.2, 0.1])


def test_prepare_is_not_timed_and_sync_is():
    clock = FakeClock()
    events = []

    def prepare():
        clock.now += 100.0
        events.append("prepare")

    def sync():
        clock.now += 0.5
        events.append("sync")

    job = Job(lambda: events.append("run"), prepare=prepare, sync=sync)
    assert time_job(job, steps=1, warmup=0, clock=clock) == [pytest.approx(0.5)]  # the sync after the run
    assert events == ["prepare", "sync", "run", "sync"]


def test_alternate_runs_the_jobs_in_turn_and_drops_the_warm_up_rounds():
    clock = FakeClock()
    order = []

    def job(name, durations):
        calls = []

        def run():
            clock.now += durations[len(calls)]
            calls.append(1)
            order.append(name)

        return Job(run)

    times = alternate({"fwd": job("fwd", [7.0, 1.0, 2.0, 3.0]), "bwd": job("bwd", [8.0, 4.0, 6.0, 5.0])},
                      repeats=3, warmup=1, clock=clock)
    assert order == ["fwd", "bwd"] * 4
    assert times == pytest.approx({"fwd": 2.0, "bwd": 5.0})


def test_framework_summary_is_the_median_over_rounds_of_each_rounds_median():
    summary = framework_summary(64, [[0.30, 0.10, 0.20], [0.40, 0.50, 0.45], [0.25, 0.20, 9.00]])
    assert summary["rounds"] == pytest.approx([0.20, 0.45, 0.25])
    assert summary["seconds"] == pytest.approx(0.25)
    assert summary["images_per_s"] == pytest.approx(64 / 0.25)


def test_one_slow_step_does_not_move_the_median():
    steady = framework_summary(32, [[0.2, 0.2, 0.2]])
    hiccup = framework_summary(32, [[0.2, 5.0, 0.2]])
    assert hiccup["seconds"] == steady["seconds"] == pytest.approx(0.2)


def test_ratio_is_the_median_of_the_per_round_ratios_with_their_spread():
    ours = [2.0, 1.0, 4.0]  # seconds per step of tinyalex in rounds 1..3
    theirs = [1.0, 1.5, 2.0]  # and of PyTorch
    ratio = ratio_summary(ours, theirs)
    assert ratio["rounds"] == pytest.approx([0.5, 1.5, 0.5])  # PyTorch's time over ours: speed over speed
    assert ratio["median"] == pytest.approx(0.5)
    assert (ratio["min"], ratio["max"]) == pytest.approx((0.5, 1.5))
    # not the ratio of the medians (1.5 / 2.0 = 0.75): each round's pair ran under the same load
    assert ratio["median"] != pytest.approx(1.5 / 2.0)


def test_ratio_needs_the_same_rounds_on_both_sides():
    with pytest.raises(ValueError):
        ratio_summary([1.0, 2.0], [1.0])


def test_memory_summary_keeps_the_highest_rounds_memory():
    rounds = [{"seconds": [1.0], "peak_mib": 300.0, "net_mib": 100.0},
              {"seconds": [1.0], "peak_mib": 320.0, "net_mib": 110.0}]
    assert memory_summary(rounds) == {"peak_mib": 320.0, "net_mib": 110.0}
